"""Compact plain-text renderings of results: the failure message of one check or one dataset.

These are what a failing pytest item, :func:`parity.assert_parity` and (later) the CLI print: the check's summary,
a small table of the worst differences (key, SAS value, Python value, diff) and hints on what to try.  Pure
functions over the frozen result model: no pytest, no polars, no rich.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from parity.checks.core import attribute_text
from parity.checks.details import (
    AttributesDetails,
    ColumnFigures,
    KeyMatchDetails,
    KeyUniquenessDetails,
    RowCountDetails,
    RowOrderDetails,
    SchemaDetails,
    SortByDetails,
    ValueDetails,
    WaiversDetails,
)
from parity.model import CHECK_KINDS, FAILING, INFORMATIONAL_CHECKS, CheckResult, DatasetResult, item_path
from parity.values import short_number

#: where a hint points the user: the dataset's table in parity.toml, or keyword arguments of assert_parity
Style = Literal["toml", "api"]

#: rows of the worst-differences table (of one column, when only one column differs)
TABLE_ROWS = 5
#: rows per column when several columns differ, and how many columns a message lists
ROWS_PER_COLUMN = 3
MAX_COLUMNS = 8
#: widest a table cell may be before it is cut
CELL_WIDTH = 32


# --------------------------------------------------------------------------------------------------------------
# small formatting helpers


def _cut(text: str, width: int = CELL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_number(value: Any) -> str:
    """A number short and exact enough for a table: 6 significant digits, no float noise; ``-`` for None."""
    return short_number(value, missing="-")


def _more_columns(n: int) -> str:
    return f"{n:,} more column{'s' if n != 1 else ''}"


def _key_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return format_number(value)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "    ") -> list[str]:
    """A left-aligned plain-text table (numbers are pre-formatted by the caller)."""
    cells = [[_cut(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return lines


def _names(items: Iterable[str], limit: int = 5) -> str:
    listed = list(items)
    more = f" (+{len(listed) - limit} more)" if len(listed) > limit else ""
    return ", ".join(listed[:limit]) + more


# --------------------------------------------------------------------------------------------------------------
# the worst differences of one check


def _cells(ds: DatasetResult, check: str) -> list[dict[str, Any]]:
    """The difference cells of ``ds.top_diffs`` that belong to ``check``, worst first (top_n_diffs' table)."""
    kinds = CHECK_KINDS.get(check)
    top = ds.top_diffs or {}
    if kinds is None:  # top_n_diffs (or any other check): every listed difference
        return list(top.get("by_abs") or top.get("first_by_key") or [])
    ranked = [] if kinds == ("string",) else [c for c in top.get("by_abs") or [] if c.get("kind") in kinds]
    return ranked or [c for c in top.get("first_by_key") or [] if c.get("kind") in kinds]


def _unequal_columns(check: CheckResult) -> list[ColumnFigures]:
    """The check's columns with mismatches, the one its summary names first, then in column order."""
    return check.details.unequal() if isinstance(check.details, ValueDetails) else []


def column_cells(ds: DatasetResult, column: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` listed values of one column: the largest differences first (numbers, dates, times), or
    the first by key (strings); from the dataset's top_diffs for reports without per-column listings."""
    col = next((c for c in ds.columns if c.name == column), None)
    listing = col.listing if col is not None and isinstance(col.listing, Mapping) else {}
    cells = [*(listing.get("first_by_key") or []), *(listing.get("largest") or [])]
    if not listing:
        top = ds.top_diffs or {}
        seen: set[str] = set()
        for cell in [*(top.get("by_abs") or []), *(top.get("first_by_key") or [])]:
            ident = json.dumps(cell.get("key"), sort_keys=True, default=str)
            if cell.get("column") == column and ident not in seen:
                seen.add(ident)
                cells.append(cell)
    if any(c.get("abs_diff") is not None for c in cells):
        cells.sort(key=lambda c: -float(c["abs_diff"]) if isinstance(c.get("abs_diff"), int | float) else 0.0)
    return cells[:limit]


def diff_table(cells: Sequence[Mapping[str, Any]], limit: int = TABLE_ROWS) -> list[str]:
    """Key columns, then column, SAS value, Python value and diff, one line per difference."""
    cells = list(cells)[:limit]
    if not cells:
        return []
    key_names: list[str] = []
    for cell in cells:
        for name in cell.get("key") or {}:
            if name not in key_names:
                key_names.append(name)
    header = [*key_names, "column", "SAS", "Python", "diff"]
    rows = []
    for cell in cells:
        key = cell.get("key") or {}
        diff = cell.get("diff")
        diff_text = cell.get("diff_text") or ("-" if diff is None else (
            f"+{format_number(diff)}" if isinstance(diff, int | float) and diff > 0 else format_number(diff)))
        rows.append([*(_key_text(key.get(k)) for k in key_names), str(cell.get("column", "")),
                     str(cell.get("sas_text", format_number(cell.get("sas")))),
                     str(cell.get("python_text", format_number(cell.get("python")))), diff_text])
    return table(header, rows)


def _key_list(keys: Sequence[Mapping[str, Any]], limit: int = TABLE_ROWS) -> str:
    parts = [", ".join(f"{k}={_key_text(v)}" for k, v in key.items()) for key in keys[:limit]]
    more = " ..." if len(keys) > limit else ""
    return "; ".join(f"({p})" for p in parts) + more


# --------------------------------------------------------------------------------------------------------------
# hints


def _where(ds: DatasetResult, style: Style) -> str:
    return f"[datasets.{ds.name}] in parity.toml" if style == "toml" else "assert_parity(...)"


def _setting(style: Style, toml: str, api: str) -> str:
    return toml if style == "toml" else api


def hints(ds: DatasetResult, check: CheckResult, style: Style = "toml") -> list[str]:
    """What to try next for a failing (or warning) check, most specific first."""
    d = check.details
    where = _where(ds, style)
    out: list[str] = []
    if isinstance(d, SchemaDetails):
        sas_only, py_only = list(d.sas_only), list(d.python_only)
        if sas_only and py_only:
            pair = f"{sas_only[0]} = {json.dumps(py_only[0])}"
            out.append("if a column was renamed in the port, map it: " + _setting(
                style, f"rename = {{ {pair} }} in {where}", f"rename={{{sas_only[0]!r}: {py_only[0]!r}}}"))
        if sas_only or py_only:
            cols = [*sas_only, *py_only][:3]
            out.append("if a column is not part of the contract, leave it out: " + _setting(
                style, f"ignore = {json.dumps(cols)} in {where}", f"ignore={cols!r}"))
        if d.type_conflicts:
            out.append("cast the column in the port to the SAS type (SAS numeric = float, SAS character = str)")
        if any(i.get("count") for i in d.python_longer_than_sas_length.values()):
            out.append("truncate the Python strings to the SAS LENGTH (bytes of the SAS file's encoding), or widen "
                       "LENGTH in the SAS program")
        if any(i.get("unencodable") for i in d.python_longer_than_sas_length.values()):
            out.append("replace the characters the SAS file's encoding lacks in the port, or run SAS with "
                       "ENCODING=UTF8")
    elif check.name == "attributes":
        hinted = [r for r in d.variables if r.get("hint")] if isinstance(d, AttributesDetails) else []
        if hinted:
            out.append("a SAS column without a date/time format against Python dates: if it holds SAS dates/times, "
                       + _setting(style, f"set {hinted[0]['hint']} in {where}",
                                  f"formats={{{hinted[0]['column']!r}: {hinted[0]['format_hint']!r}}}"))
        out.append("align the SAS program's and the port's LENGTH/FORMAT/INFORMAT/LABEL statements, or accept the "
                   "listed differences")
    elif check.name == "row_count":
        out.append("compare filters, joins and de-duplication in the two programs; key_match lists the rows "
                   "found on one side only")
    elif check.name == "key_uniqueness":
        keys = ", ".join(ds.keys)
        out.append(f"the keys ({keys}) do not identify a row: add the missing key columns to " + _setting(
            style, f"keys in {where}", "keys=[...]") + ", or fix the duplicates in the port")
    elif check.name == "key_match":
        out.append("check that keys name the same columns with the same values on both sides (types, case, "
                   "leading zeros, trailing blanks), and the filters of the port")
        if isinstance(d, KeyMatchDetails) and d.paired_by == "position":
            out.append("rows are paired by position: declare " + _setting(style, f"keys in {where}", "keys=[...]")
                       + " to pair them by key")
    elif check.name in CHECK_KINDS:
        worst = d.worst_column() if isinstance(d, ValueDetails) else None
        for exp in worst.explanations if worst else ():
            if exp.get("hint"):
                out.append(f"{exp['hint']} ({exp.get('code')})")
                break
        if check.name == "numeric_tolerance" and worst and worst.max_abs_diff:  # 0: missing values differ
            col, diff = worst.column, float(worst.max_abs_diff)
            out.append("only if a difference this size is acceptable, widen the tolerance: " + _setting(
                style,
                f"{col} = {{ method = \"absolute\", criterion = {_criterion(diff)} }} in "
                f"[datasets.{ds.name}.tolerance]",
                f"tolerance={{{col!r}: {{'method': 'absolute', 'criterion': {_criterion(diff)}}}}}"))
        elif check.name == "date_equivalence":
            out.append("look for epoch, time-zone or unit conversions of the column in the port")
        elif check.name == "string_equality":
            out.append("compare case, blanks, encoding and number-to-text conversions of the column; "
                       + _setting(style, f"[datasets.{ds.name}.strings]", "strings={...}")
                       + " sets the SAS string rules")
    elif check.name == "sort_order":
        by = " ".join(d.sort_by if isinstance(d, SortByDetails) else ()) or ", ".join(ds.keys)
        out.append(f"sort the Python output by {by} (SAS BY order: missing first), or correct " + _setting(
            style, f"sort_by in {where}", "sort_by=[...]"))
    elif check.name in ("contract", "quality"):
        out.append(f"fix the port's output, or, if the rule itself is wrong, correct it in [datasets.{ds.name}."
                   f"{check.name}] (docs/checks.md); the SAS column next to each rule in the report says whether "
                   "the SAS output meets it")
    elif check.name == "waivers":
        out.append("renew an expired waiver with a new approval and expiry date, or fix the difference and "
                   "remove the waiver")
    return out


def _criterion(diff: float) -> str:
    """A round criterion just above ``diff`` (one significant digit up): 0.0100000002 -> 0.02."""
    if diff <= 0 or not math.isfinite(diff):
        return format_number(diff)
    exp = math.floor(math.log10(diff))
    step = 10.0**exp
    value = (math.floor(diff / step + 1e-9) + 1) * step
    return f"{value:.{max(0, -exp)}f}" if exp < 0 else f"{value:g}"


# --------------------------------------------------------------------------------------------------------------
# the messages


def _check_details(ds: DatasetResult, check: CheckResult) -> list[str]:
    """The lines under a check's summary: the worst differences, or the rows on one side only."""
    d = check.details
    lines: list[str] = []
    if check.name in CHECK_KINDS:
        cols = _unequal_columns(check)
        shown = cols[:MAX_COLUMNS]
        per_column = TABLE_ROWS if len(shown) == 1 else ROWS_PER_COLUMN
        cells = [cell for c in shown for cell in column_cells(ds, c.column, per_column)]
        rows = diff_table(cells, limit=len(cells))
        if rows:
            total = sum(c.mismatches for c in cols)
            order = "first by key" if check.name == "string_equality" else "largest first"
            per = f", up to {per_column} per column" if len(shown) > 1 else ""
            lines.append(f"  worst differences ({len(cells)} of {total:,}{per}, {order}):")
            lines += rows
        if len(cols) > len(shown):
            lines.append(f"  ... and {_more_columns(len(cols) - len(shown))} with differences: "
                         f"{_names((c.column for c in cols[len(shown):]), 8)} (see the full report)")
        for col in shown:
            for exp in col.explanations:
                lines.append(f"  why ({col.column}): {exp['message']}")
                break
    elif check.name in INFORMATIONAL_CHECKS:
        cells = _cells(ds, check.name)
        rows = diff_table(cells)
        if rows:
            total = sum(c.mismatches for c in ds.columns) or len(cells)
            lines.append(f"  worst differences ({min(len(cells), TABLE_ROWS)} of {total:,}, largest first):")
            lines += rows
    elif isinstance(d, KeyMatchDetails):
        for keys, label in ((d.sample_only_in_sas, "only in SAS"), (d.sample_only_in_python, "only in Python")):
            if keys:
                lines.append(f"  {label}: {_key_list(keys)}")
    elif isinstance(d, KeyUniquenessDetails):
        for side, label in ((d.sas, "SAS"), (d.python, "Python")):
            if side.sample:
                lines.append(f"  duplicate keys in {label}: " + _key_list(
                    [{**s["key"], "rows": s["count"]} for s in side.sample]))
    elif isinstance(d, SchemaDetails):
        for conflict in d.type_conflicts[:TABLE_ROWS]:
            lines.append(f"  type conflict {conflict['column']}: {conflict['conflict']}")
    elif isinstance(d, AttributesDetails):
        lines += [f"  {attribute_text(r)}" for r in d.variables[:TABLE_ROWS]]
        if len(d.variables) > TABLE_ROWS:
            lines.append(f"  ... and {len(d.variables) - TABLE_ROWS} more (see the report)")
    elif check.name in ("contract", "quality"):
        from parity.report.rules import rule_lines

        lines += rule_lines(d.to_dict(), TABLE_ROWS)
    elif isinstance(d, WaiversDetails):
        for w in d.waivers[:TABLE_ROWS]:
            if w.state != "active":
                lines.append(f"  {w.state}: {w.column or w.check} (expires {w.expires}, approved by {w.approver}): "
                             f"{w.reason}")
    return lines


def check_text(ds: DatasetResult, check: CheckResult, *, job: str | None = None, style: Style = "toml",
               report: Path | str | None = None, title: bool = True) -> str:
    """The compact message of one failing (or warning) check: headline, worst differences, hints, report.

    ``title=False`` leaves out the ``job/dataset check: FAIL`` line (a pytest item's header already says it);
    the first line is then the check's summary.
    """
    where = item_path(job, ds.name)
    lines = [f"{where} {check.name}: {check.status.upper()}", f"  {check.summary}"] if title else [check.summary]
    details = _check_details(ds, check)
    if details:
        lines.append("")
        lines += details
    tips = hints(ds, check, style)
    if tips or report:
        lines.append("")
    lines += [f"  try: {tip}" for tip in tips]
    if report:
        lines.append(f"  full report: {report}")
    return "\n".join(lines)


def error_text(ds: DatasetResult, *, job: str | None = None, report: Path | str | None = None) -> str:
    """The message of a dataset that could not be compared (unreadable file, failing job, ...)."""
    where = item_path(job, ds.name)
    lines = [f"{where} could not be compared: {ds.error or 'unknown error'}"]
    if report:
        lines += ["", f"  full report: {report}"]
    return "\n".join(lines)


def failing_checks(ds: DatasetResult) -> list[CheckResult]:
    """The checks that fail the dataset (never the informational ones)."""
    return [c for c in ds.checks if c.status in FAILING and c.name not in INFORMATIONAL_CHECKS]


def dataset_text(ds: DatasetResult, *, job: str | None = None, style: Style = "toml",
                 report: Path | str | None = None) -> str:
    """The message of a failing dataset: one block per failing check (what assert_parity raises)."""
    if ds.error is not None or ds.verdict == "error":
        return error_text(ds, job=job, report=report)
    failing = failing_checks(ds)
    where = item_path(job, ds.name)
    rows = ds.rows
    head = (f"parity {where}: {ds.verdict.upper()} ({_names(c.name for c in failing) or 'no failing check'}; "
            f"rows SAS {format_number(rows.get('sas'))}, Python {format_number(rows.get('python'))}, matched "
            f"{format_number(rows.get('matched'))})")
    blocks = [check_text(ds, c, job=job, style=style) for c in failing]
    tail = [f"full report: {report}"] if report else []
    return "\n\n".join([head, *blocks, *tail])


# --------------------------------------------------------------------------------------------------------------
# key figures (JUnit properties and the like)


def key_figures(ds: DatasetResult, check: str) -> list[tuple[str, object]]:
    """The few numbers that tell a check's story: rows, mismatches, max diff (for CI systems to show)."""
    res = ds.check(check)
    out: list[tuple[str, object]] = [("status", res.status if res else ("error" if ds.error else "missing"))]
    rows = ds.rows or {}
    for side in ("sas", "python", "matched"):
        if rows.get(side) is not None:
            out.append((f"rows_{side}", rows[side]))
    if res is None:
        return out
    d = res.details
    if check in CHECK_KINDS:
        cols = d.columns if isinstance(d, ValueDetails) else ()
        out.append(("columns_compared", len(cols)))
        out.append(("mismatches", sum(c.mismatches for c in cols)))
        waived = sum(c.waived for c in cols)
        if waived:
            out.append(("waived", waived))
        measured = [c for c in cols if c.max_abs_diff is not None and check != "string_equality"]
        units = sorted({c.unit or "" for c in measured})
        for unit in units:  # days and seconds are not one scale: one figure per unit
            name = f"max_abs_diff_{unit}" if unit and check == "date_equivalence" else "max_abs_diff"
            out.append((name, max(float(c.max_abs_diff or 0) for c in measured if (c.unit or "") == unit)))
    elif isinstance(d, KeyMatchDetails):
        out += [("only_in_sas", d.only_in_sas), ("only_in_python", d.only_in_python)]
    elif isinstance(d, RowCountDetails):
        out.append(("row_difference", d.difference))
    elif isinstance(d, KeyUniquenessDetails):
        out += [("duplicate_keys_sas", d.sas.keys), ("duplicate_keys_python", d.python.keys)]
    elif isinstance(d, SortByDetails) and d.python.get("violations") is not None:
        out.append(("out_of_order_rows", d.python.get("violations")))
    elif isinstance(d, RowOrderDetails) and d.inversions is not None:
        out.append(("inversions", d.inversions))
    return out


__all__ = [
    "check_text", "dataset_text", "diff_table", "error_text",
    "failing_checks", "format_number", "hints", "key_figures", "table",
]
