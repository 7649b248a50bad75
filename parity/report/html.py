"""The HTML report: one self-contained page per job (``<report_dir>/<job>/parity.html``) for the people who sign a
migration off, and an index of a report folder (``<report_dir>/index.html``).

Rendered from the frozen result model (:class:`~parity.model.JobResult`) only, never from data.  Jinja2 runs with
autoescape on, so every value that comes from data, specs or file metadata is escaped; no value is ever put into
a script.  The page has inline CSS and a little inline JS (sorting and filtering tables, opening collapsed
details for printing); it loads nothing from the network.

The layout follows PROC COMPARE's listing (Data Set Summary, Variables Summary, Observation Summary, Values
Comparison Summary, Variables with Unequal Values, Value Comparison Results), led by a verdict banner and the
checks.  Statuses and verdicts the renderer does not know (a newer parity) are shown with a neutral style.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import jinja2.bccache

from parity import __version__
from parity.checks.details import AttributesDetails, KeyMatchDetails, WaiversDetails, WaiverState
from parity.model import (
    CHANGE_ORDER,
    FAILING,
    MEASURED_KINDS,
    STATUS_ORDER,
    VERDICTS,
    ColumnResult,
    DatasetResult,
    JobResult,
    change_order,
    item_path,
    status_order,
)
from parity.report.markdown import (
    ReportEntry,
    capture_warnings,
    job_verdict_label,
    overall_label,
    status_counts,
    top_explanation,
    unwaived,
    verdict_label,
)
from parity.values import DIFF_UNITS, max_diff_text, short_number

HTML_FILE = "parity.html"
INDEX_FILE = "index.html"
#: columns of the data set summary taken from each side's metadata, in PROC CONTENTS order
SIDE_FIELDS = ("format", "table_name", "label", "created", "modified", "encoding", "sas_release", "host",
               "compression")
SAS_TYPE_SHORT = {"numeric": "Num", "character": "Char"}
HIST_BINS = 15
HIST_W, HIST_H = 360, 96
BAR_W = 64
NOISE = 1e-9  # a relative spread of signed differences below this is drawn as one value
DIFF_LISTS = ("first_by_key", "by_abs", "by_rel")
VERDICT_TEXT = {
    "pass": "The Python outputs match the SAS outputs under the declared rules.",
    "warn": "The Python outputs match the SAS outputs under the declared rules, with warnings: see the findings.",
    "fail": "The Python outputs differ from the SAS outputs: see the failing checks and their explanations.",
    "error": "parity could not compare everything: see the errors below.",
}


# ---------------------------------------------------------------------------------------------------------------
# formatting helpers (also registered as Jinja filters)


def sas_format(fmt: object) -> str | None:
    """A format as SAS writes it: ``DATE9.``, ``COMMA12.2``, ``$CHAR20.``."""
    if fmt is None or fmt == "":
        return None
    text = str(fmt)
    return text if "." in text else text + "."


def status_class(status: object) -> str:
    """The CSS class of a check status or verdict; unknown values get the neutral class."""
    s = str(status)
    s = "waived" if s == "pass (waived)" else s  # a pass that needed waivers (markdown.verdict_label)
    return f"st-{s}" if s in STATUS_ORDER or s in VERDICTS else "st-other"


def change_class(kind: object) -> str:
    k = str(kind)
    return f"ch-{k}" if k in CHANGE_ORDER else "ch-other"


def num(value: object, digits: int = 6) -> str:
    """A number as a short text: counts with thousands separators, floats with ``digits`` significant digits."""
    return short_number(value, digits)


def sort_key(value: object) -> str:
    """The ``data-sort`` value of a table cell: numbers as their repr so the page's JS sorts them numerically."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return repr(float(value)) if math.isfinite(value) else ("1e999" if value > 0 else "-1e999")
    return str(value)


def pct(part: float | int | None, whole: float | int | None) -> str:
    if part is None or not whole:
        return ""
    share = part / whole
    if 0 < share < 0.001:
        return "<0.1%"
    return f"{share:.1%}"


def pretty_json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)


def _float(value: object) -> float | None:
    """A finite float from a model number (floats, ints, or the strings JSON uses for non-finite numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def key_text(key: object) -> str:
    if isinstance(key, Mapping):
        return ", ".join(f"{k}={v}" for k, v in key.items())
    return str(key)


# ---------------------------------------------------------------------------------------------------------------
# pictures (inline SVG geometry; the template draws it)


def histogram(diffs: Sequence[float], bins: int = HIST_BINS) -> dict[str, Any] | None:
    """Bars of a histogram of signed differences, with the zero line when the range spans zero."""
    values = [d for d in diffs if math.isfinite(d)]
    if not values:
        return None
    lo, hi = min(values), max(values)
    if hi - lo <= NOISE * max(abs(lo), abs(hi)):  # 0.01 and 0.009999999999990905 are one value to the eye
        lo = hi = values[0]
        values = [lo] * len(values)
    pad_l, pad_r, pad_t, pad_b = 8, 8, 14, 18
    plot_w, plot_h = HIST_W - pad_l - pad_r, HIST_H - pad_t - pad_b
    if hi == lo:
        edges = [(lo, hi)]
        counts = [len(values)]
    else:
        width = (hi - lo) / bins
        counts = [0] * bins
        for v in values:
            counts[min(int((v - lo) / width), bins - 1)] += 1
        edges = [(lo + i * width, lo + (i + 1) * width) for i in range(bins)]
    top = max(counts)
    slot = plot_w / len(counts)
    bars = []
    for i, ((a, b), n) in enumerate(zip(edges, counts, strict=True)):
        h = plot_h * n / top if n else 0.0
        x = pad_l + i * slot + (slot * 0.35 if len(counts) == 1 else 0.5)
        w = slot * 0.3 if len(counts) == 1 else max(slot - 1.0, 1.0)
        bars.append({"x": round(x, 2), "y": round(pad_t + plot_h - h, 2), "w": round(w, 2), "h": round(h, 2),
                     "n": n, "lo": num(a), "hi": num(b)})
    zero_x = None
    if lo < 0 < hi:
        zero_x = round(pad_l + plot_w * (0 - lo) / (hi - lo), 2)
    return {"w": HIST_W, "h": HIST_H, "bars": bars, "lo": num(lo), "hi": num(hi), "n": len(values),
            "max_count": top, "zero_x": zero_x, "base_y": pad_t + plot_h, "label_y": HIST_H - 4,
            "left": pad_l, "right": HIST_W - pad_r, "single": len(counts) == 1}


def share_bar(col: ColumnResult) -> dict[str, Any] | None:
    """Widths of the mismatches/compared bar (waived mismatches drawn apart); None for columns not compared."""
    if col.status != "compared" or not col.compared:
        return None
    bad = unwaived(col)
    waived = min(col.waived or 0, col.mismatches)

    def width(n: int) -> float:
        return 0.0 if n <= 0 else max(round(BAR_W * n / col.compared, 2), 2.0)

    return {"w": BAR_W, "bad": width(bad), "waived": width(waived), "title": f"{col.mismatches:,} of "
            f"{col.compared:,} unequal ({pct(col.mismatches, col.compared)})"
            + (f", {waived:,} waived" if waived else "")}


# ---------------------------------------------------------------------------------------------------------------
# views: plain dicts the templates read


def _diffs_by_column(ds: DatasetResult) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for listing in DIFF_LISTS:
        rows = ds.top_diffs.get(listing) if isinstance(ds.top_diffs, Mapping) else None
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, Mapping):
                out.setdefault(str(row.get("column", "")).casefold(), {}).setdefault(listing, []).append(dict(row))
    return out


def _diff_row(row: Mapping[str, Any], key_names: Sequence[str]) -> dict[str, Any]:
    key = row.get("key") if isinstance(row.get("key"), Mapping) else {}
    diff = row.get("diff")
    sas = row.get("sas")
    pct_diff = None
    fd, fs = _float(diff), _float(sas)
    if fd is not None and fs and row.get("kind", "numeric") == "numeric":  # a % of days since 1960 means nothing
        pct_diff = fd / fs * 100
    return {"keys": [key.get(k, "") if isinstance(key, Mapping) else "" for k in key_names],
            "sas": row.get("sas_text", "" if sas is None else str(sas)),
            "python": row.get("python_text", "" if row.get("python") is None else str(row.get("python"))),
            "diff": row.get("diff_text") or num(diff), "diff_sort": sort_key(diff), "pct": num(pct_diff, 4),
            "pct_sort": sort_key(pct_diff), "rel": num(row.get("rel_diff"), 4)}


def _identity(row: Mapping[str, Any]) -> str:
    return json.dumps([row.get("key"), row.get("column")], sort_keys=True, default=str)


def _explanation(exp: Mapping[str, Any]) -> dict[str, Any]:
    e = dict(exp)
    share = e.get("share")
    e["share_text"] = f"{share:.0%}" if isinstance(share, int | float) and not isinstance(share, bool) else ""
    return e


def _listing(col: ColumnResult, diffs: Mapping[str, list[dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """A column's listed values: its own listing (first by key, then the largest others); for reports written
    before columns had listings, its cells among the dataset's top_diffs."""
    own = col.listing if isinstance(col.listing, Mapping) else {}
    if own:
        return ([r for r in own.get("first_by_key") or [] if isinstance(r, Mapping)],
                [r for r in own.get("largest") or [] if isinstance(r, Mapping)])
    first = diffs.get("first_by_key", [])
    first_ids = {_identity(r) for r in first}
    seen: set[str] = set()
    largest = []
    for row in diffs.get("by_abs", []):
        ident = _identity(row)
        if ident not in first_ids and ident not in seen:
            seen.add(ident)
            largest.append(row)
    return first, largest


def _with_unit(value: object, kind: str, criterion: float | None = None, method: str | None = None) -> str:
    text = num(value)
    if isinstance(value, float) and math.isfinite(value) and criterion is not None and method == "absolute" \
            and float(text.replace(",", "") or "nan") <= criterion < value:  # not "0.005" against criterion 0.005
        text = max_diff_text(value, criterion, method)
    unit = DIFF_UNITS.get(kind, "")
    return f"{text} {unit}" if text and unit else text


def _column_view(col: ColumnResult, diffs: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    sas_type = col.sas_type or {}
    first_rows, largest_rows = _listing(col, diffs)
    sample = first_rows + largest_rows
    key_names: list[str] = []
    for row in sample:
        key = row.get("key")
        for k in key if isinstance(key, Mapping) else ():
            if str(k) not in key_names:
                key_names.append(str(k))
    first = [_diff_row(r, key_names) for r in first_rows]
    largest = [_diff_row(r, key_names) for r in largest_rows]
    signed = [d for r in sample if (d := _float(r.get("diff"))) is not None]
    explanations = [_explanation(e) for e in col.explanations]
    return {
        "name": col.name, "sas_name": col.sas_name, "python_name": col.python_name, "kind": col.kind,
        "status": col.status, "method": col.method, "criterion": num(col.criterion),
        "criterion_sort": sort_key(col.criterion),
        "sas_type": sas_type.get("type"), "sas_type_short": SAS_TYPE_SHORT.get(str(sas_type.get("type")),
                                                                               sas_type.get("type")),
        "length": sas_type.get("length"), "format": sas_format(sas_type.get("format")),
        "label": sas_type.get("label"), "python_type": col.python_type, "compared": col.compared,
        "mismatches": col.mismatches, "waived": col.waived or 0, "unwaived": unwaived(col),
        "share": pct(col.mismatches, col.compared), "max_abs": _with_unit(col.max_abs_diff, col.kind, col.criterion, col.method),
        "max_abs_sort": sort_key(col.max_abs_diff),
        "max_rel": num(col.max_rel_diff) if col.kind == "numeric" else "",  # relative to days since 1960: noise
        "max_rel_sort": sort_key(col.max_rel_diff), "note": col.note, "explanations": explanations,
        "bar": share_bar(col), "hist": histogram(signed) if len(signed) >= 1 else None, "hist_n": len(signed),
        "value_cls": "txt" if col.kind == "string" else "n",
        "key_names": key_names, "first": first, "largest": largest, "anchor": anchor("col", col.name),
    }


def anchor(*parts: str) -> str:
    """An HTML id made of safe characters only."""
    text = "-".join(parts)
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else f"_{ord(ch):x}" for ch in text)


def _max_differences(compared: Sequence[ColumnResult]) -> str | None:
    """PROC COMPARE's "maximum difference", per kind (numbers, days and seconds are not one scale), saying so when
    only character values differ (a bare 0 would read as "no difference")."""
    parts = []
    for kind in MEASURED_KINDS:
        values = [f for c in compared if c.kind == kind and (f := _float(c.max_abs_diff)) is not None]
        if values:
            # unequal values with no difference between present values: missing (or infinite) on one side
            only_missing = not max(values) and any(c.mismatches for c in compared if c.kind == kind)
            parts.append(f"{_with_unit(max(values), kind)} ({kind}"
                         f"{'; every unequal value is missing or infinite' if only_missing else ''})")
    strings_differ = any(c.mismatches for c in compared if c.kind == "string")
    if strings_differ and not any(c.mismatches for c in compared if c.kind != "string"):
        parts.append("only character values differ")
    return "; ".join(parts) or None


def _side_view(label: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    return {"side": label, "source": meta.get("source"), "rows": meta.get("rows"), "columns": meta.get("columns"),
            "sha256": meta.get("sha256"), **{f: meta.get(f) for f in SIDE_FIELDS}}


def _waivers(ds: DatasetResult) -> list[WaiverState]:
    check = ds.check("waivers")
    return list(check.details.waivers) if check is not None and isinstance(check.details, WaiversDetails) else []


def _attributes(ds: DatasetResult) -> list[dict[str, Any]]:
    """PROC COMPARE's listing of common variables with differing attributes: two rows per variable (SAS, then
    Python), the differing attributes marked."""
    check = ds.check("attributes")
    out = []
    for row in check.details.variables if check is not None and isinstance(check.details, AttributesDetails) else ():
        if not isinstance(row, Mapping):
            continue
        sas, py = row.get("sas") or {}, row.get("python") or {}
        differs = set(row.get("differs") or [])
        out.append({"column": row.get("column"), "differs": differs, "hint": row.get("hint"),
                    "sides": [("SAS (base)", sas), ("Python (compare)", py)],
                    "dtype": "kind" in py})
    return out


def _rule_tables(ds: DatasetResult) -> list[dict[str, Any]]:
    """The contract's and the DQ rules' tables: one row per rule, the SAS output's facts for information."""
    from parity.report.rules import rule_definition, rule_note, sample_text

    out = []
    for name, title in (("contract", "Data contract"), ("quality", "Data quality rules")):
        check = ds.check(name)
        rules = check.details.get("rules") if check is not None and isinstance(check.details, Mapping) else None
        if check is None or not isinstance(rules, list) or not rules:
            continue
        rows = []
        for r in (dict(r) for r in rules if isinstance(r, Mapping)):
            sas = r.get("sas") if isinstance(r.get("sas"), Mapping) else None
            rows.append({"name": r.get("name"), "status": r.get("status"), "cls": status_class(str(r.get("status"))),
                         "requires": rule_definition(r), "failing": r.get("failing_rows"),
                         "judged": r.get("judged_rows"), "note": rule_note(r),
                         "sas": None if sas is None else f"{sas.get('status')}: {sas.get('failing_rows', 0):,} rows",
                         "samples": [sample_text(dict(x)) for x in r.get("sample") or [] if isinstance(x, Mapping)]})
        out.append({"name": name, "title": title, "status": check.status, "rows": rows,
                    "anchor": anchor(f"ds-{name}", ds.name)})
    return out


def _dataset_view(ds: DatasetResult) -> dict[str, Any]:
    diffs = _diffs_by_column(ds)
    cols = [_column_view(c, diffs.get(c.name.casefold(), {})) for c in ds.columns]
    compared = [c for c in ds.columns if c.status == "compared"]
    unequal = [c for c in cols if c["mismatches"]]
    checks = [{"name": c.name, "status": c.status, "summary": c.summary, "details": c.details,
               "details_json": pretty_json(c.details.to_dict()) if c.details.to_dict() else "",
               "cls": status_class(c.status)}
              for c in ds.checks]
    by_status = status_counts([c.status for c in ds.checks])
    first_unequal = None
    first_rows = ds.top_diffs.get("first_by_key") if isinstance(ds.top_diffs, Mapping) else None
    if isinstance(first_rows, list) and first_rows and isinstance(first_rows[0], Mapping):
        first_unequal = {"key": key_text(first_rows[0].get("key")), "column": first_rows[0].get("column")}
    top = top_explanation(ds)
    statuses = status_counts([c.status for c in ds.columns])
    key_match = ds.check("key_match")
    return {
        "name": ds.name, "verdict": verdict_label(ds.verdict, [c.status for c in ds.checks]),
        "cls": status_class(ds.verdict), "error": ds.error, "keys": list(ds.keys), "anchor": anchor("ds", ds.name),
        "checks": checks,
        "check_counts": sorted(by_status.items(), key=lambda kv: status_order(kv[0])),
        "sides": [_side_view("SAS (base)", ds.sas), _side_view("Python (compare)", ds.python)],
        "attributes": _attributes(ds),
        "columns": cols, "unequal": unequal, "rows": ds.rows, "duplicates": ds.duplicates,
        "paired_by": key_match.details.paired_by if key_match and isinstance(key_match.details, KeyMatchDetails)
        else None,
        "vars": {
            "total": len(ds.columns),
            "common": sum(1 for c in ds.columns if c.sas_name and c.python_name),
            "sas_only": [c.name for c in ds.columns if c.status == "sas_only"],
            "python_only": [c.python_name or c.name for c in ds.columns if c.status == "python_only"],
            "type_conflict": [c.name for c in ds.columns if c.status == "type_conflict"],
            "ignored": [c.name for c in ds.columns if c.status == "ignored"],
            "key": [c.name for c in ds.columns if c.status == "key"],
            "other": sorted(s for s in statuses if s not in
                            ("compared", "key", "ignored", "sas_only", "python_only", "type_conflict")),
        },
        "values": {
            "compared": len(compared), "all_equal": sum(1 for c in compared if not c.mismatches),
            "some_unequal": sum(1 for c in compared if c.mismatches),
            "unequal_values": sum(c.mismatches for c in compared),
            "waived_values": sum(c.waived or 0 for c in compared),
            "max_diff": _max_differences(compared),
        },
        "first_unequal": first_unequal,
        "top": {"column": top[0].name, **_explanation(top[1])} if top else None,
        "waivers": _waivers(ds), "duration_s": ds.duration_s, "rule_tables": _rule_tables(ds),
    }


def _provenance(result: JobResult) -> dict[str, Any]:
    run = result.run if isinstance(result.run, Mapping) else {}
    known = {"started_at", "finished_at", "duration_s", "environment", "sources", "git", "ci", "capture"}
    sources = [dict(s) for s in run.get("sources", []) if isinstance(s, Mapping)] \
        if isinstance(run.get("sources"), list) else []
    if not sources:  # an older report: the sources are still in each dataset's sides
        sources = [{"role": side, "dataset": ds.name, "path": meta.get("source"), "sha256": meta.get("sha256")}
                   for ds in result.datasets for side, meta in (("sas", ds.sas), ("python", ds.python))
                   if meta.get("source")]
    env_raw = run.get("environment")
    env: Mapping[str, Any] = env_raw if isinstance(env_raw, Mapping) else {}
    return {
        "spec": result.spec, "tool": result.tool, "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"), "duration_s": run.get("duration_s"),
        "environment": sorted(env.items(), key=lambda kv: (kv[0] not in ("parity", "python"), kv[0])),
        "sources": sources,
        "git": run.get("git") if isinstance(run.get("git"), Mapping) else None,
        "ci": sorted(run["ci"].items()) if isinstance(run.get("ci"), Mapping) else [],
        "capture": run.get("capture") if isinstance(run.get("capture"), Mapping) else None,
        "other": [(k, pretty_json(v)) for k, v in run.items() if k not in known],
        "datasets": [{"name": ds.name, "duration_s": ds.duration_s, "sas": ds.sas} for ds in result.datasets],
    }


def _delta_view(delta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    from parity.report.delta import delta_fails

    if not isinstance(delta, Mapping):
        return None
    changes = [dict(c) for c in delta.get("changes", []) if isinstance(c, Mapping)] \
        if isinstance(delta.get("changes"), list) else []
    for c in changes:
        c["where"] = item_path(*(str(c[k]) for k in ("job", "dataset", "check", "column") if c.get(k)))
        c["cls"] = change_class(c.get("kind"))
    changes.sort(key=lambda c: (change_order(str(c.get("kind"))), c["where"]))
    counts = [(k, delta.get(k)) for k in CHANGE_ORDER if k in delta]
    extra = {k: v for k, v in delta.items() if k not in {"baseline", "changes", "gate", *CHANGE_ORDER}}
    return {"baseline": delta.get("baseline"), "counts": counts, "changes": changes,
            "worse": delta_fails(delta), "extra": pretty_json(extra) if extra else ""}


def job_view(result: JobResult) -> dict[str, Any]:
    """Everything the job page shows, derived from the result model."""
    datasets = [_dataset_view(ds) for ds in result.datasets]
    all_checks = [c for ds in result.datasets for c in ds.checks]
    problems = [{"dataset": ds.name, "anchor": anchor("ds", ds.name), **c}
                for ds, view in zip(result.datasets, datasets, strict=True) for c in view["checks"]
                if c["status"] not in ("pass", "skipped")]
    problems.sort(key=lambda p: status_order(str(p["status"])))
    tops = [{"dataset": v["name"], **v["top"]} for v in datasets if v["top"] and v["verdict"] != "pass"]
    return {
        "job": result.job, "description": result.description, "verdict": job_verdict_label(result),
        "cls": status_class(result.verdict), "verdict_text": VERDICT_TEXT.get(result.verdict, "") + (
            " Some differences are accepted by waivers (see the waivers check)."
            if job_verdict_label(result) != result.verdict else ""),
        "error": result.error, "datasets": datasets, "problems": problems, "tops": tops,
        "check_counts": sorted(status_counts([c.status for c in all_checks]).items(),
                               key=lambda kv: status_order(kv[0])),
        "unequal_values": sum(v["values"]["unequal_values"] for v in datasets),
        "unequal_columns": sum(v["values"]["some_unequal"] for v in datasets),
        "provenance": _provenance(result), "delta": _delta_view(result.delta),
        "schema_version": result.schema_version,
    }


# ---------------------------------------------------------------------------------------------------------------
# rendering


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """The templates compiled once per machine (about 0.3 s a run otherwise), in parity's cache folder; a folder
    that cannot be read or written only means compiling them again."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache() -> jinja2.BytecodeCache | None:
    from parity.sources import cache as parity_cache

    if not parity_cache.enabled(None):
        return None
    try:
        folder = parity_cache.root() / "templates"
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _TemplateCache(str(folder))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("parity.report", "templates"),
        bytecode_cache=_template_cache(),
        autoescape=True,  # every value from data is escaped, whatever the template's extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=num, pct=pct, status_class=status_class, sort_key=sort_key, key_text=key_text,
                       anchor=anchor, change_class=change_class)
    env.globals["parity_version"] = __version__
    return env


def render_job(result: JobResult) -> str:
    """The job's HTML report as one self-contained page."""
    return environment().get_template("job.html.j2").render(v=job_view(result))


def _href(*parts: str) -> str:
    """A relative link made of path segments, percent-encoded so no segment can become a scheme or markup."""
    return "./" + "/".join(quote(p, safe="") for p in parts)


def _index_row(e: ReportEntry) -> dict[str, Any]:
    folder = e.folder.name
    r = e.result
    if r is None:
        return {"job": folder, "verdict": "error", "cls": status_class("error"), "error": e.error,
                "datasets": [], "failing": [], "top": None, "started_at": None,
                "html": None, "json": _href(folder, e.path.name)}
    failing = [f"{ds.name}: {c.name}" for ds in r.datasets for c in ds.checks if c.status in FAILING]
    failing += [f"{ds.name}: {c.name} (warn)" for ds in r.datasets for c in ds.checks if c.status == "warn"]
    failing += ["capture: stale (warn)"] if capture_warnings(r.run) else []
    top = next(((ds.name, t) for ds in r.datasets if ds.verdict != "pass"
                and (t := top_explanation(ds)) is not None), None)
    has_html = (e.folder / HTML_FILE).is_file() if e.has_html is None else e.has_html
    return {
        "job": r.job, "description": r.description, "verdict": job_verdict_label(r), "cls": status_class(r.verdict),
        "error": r.error, "datasets": [{"name": ds.name, "verdict": verdict_label(ds.verdict, [c.status for c in
                                        ds.checks]), "cls": status_class(ds.verdict)} for ds in r.datasets],
        "failing": failing,
        "top": {"dataset": top[0], "column": top[1][0].name, **top[1][1]} if top else None,
        "started_at": r.run.get("started_at") if isinstance(r.run, Mapping) else None,
        "html": _href(folder, HTML_FILE) if has_html else None, "json": _href(folder, e.path.name),
    }


def index_view(entries: Iterable[ReportEntry], title: str, run_error: str | None = None) -> dict[str, Any]:
    """This run's reports (the verdict), then the reports earlier runs left in the folder (listed apart);
    ``run_error``: why the run stopped before any job ran."""
    listed = list(entries)
    rows = [_index_row(e) for e in listed if e.current]
    older = [_index_row(e) for e in listed if not e.current]
    verdicts = [row["verdict"] for row in rows] + (["error"] if run_error is not None else [])
    overall = overall_label(verdicts)
    return {"title": title, "rows": rows, "older": older, "run_error": run_error, "verdict": overall,
            "cls": status_class(overall),
            "counts": sorted(status_counts([str(v) for v in verdicts]).items(),
                             key=lambda kv: status_order(kv[0]))}


def render_index(entries: Iterable[ReportEntry], title: str = "parity reports", run_error: str | None = None) -> str:
    return environment().get_template("index.html.j2").render(v=index_view(entries, title, run_error))


def write_html(result: JobResult, path: Path) -> Path:
    from parity.report.json import write_output

    write_output(path, render_job(result))
    return path
