"""The parity checks, registered in one place, and the building of a frozen DatasetResult from a Comparison.

Each check is a function ``(Result builder) -> CheckResult`` registered with :func:`check` under its stable name;
the order of registration is the order of the report.  A dataset passes when no check fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parity.model import CheckResult, ColumnResult, DatasetResult, Status, Verdict

if TYPE_CHECKING:
    import polars as pl

    from parity.engine import ColumnPlan, Comparison
    from parity.spec import Waiver

CheckFn = Callable[["Facts"], CheckResult]
CHECKS: dict[str, CheckFn] = {}
#: the stable check names, in report order (kept literal so that spec validation needs no heavy import)
CHECK_NAMES: tuple[str, ...] = (
    "schema", "row_count", "key_uniqueness", "key_match", "numeric_tolerance", "date_equivalence",
    "string_equality", "sort_order", "top_n_diffs", "waivers",
)
SAMPLE = 10


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    assert name in CHECK_NAMES, name

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = fn
        return fn

    return register


@dataclass
class Facts:
    """A Comparison plus what is derived from it once (column results, samples) for the checks to read."""

    comp: Comparison
    columns: list[ColumnResult] = field(default_factory=list)
    top_diffs: dict[str, Any] = field(default_factory=dict)
    only_sas_sample: list[dict[str, Any]] = field(default_factory=list)
    only_py_sample: list[dict[str, Any]] = field(default_factory=list)
    only_sas_keys: dict[str, Any] | None = None  # the sets of unmatched keys (parity.delta.key_set)
    only_py_keys: dict[str, Any] | None = None
    #: per waiver (in spec order): how many mismatches (or failing checks) it matched
    waiver_matches: list[int] = field(default_factory=list)
    today: dt.date = field(default_factory=dt.date.today)

    def active(self, waiver: Waiver) -> bool:
        return waiver.expires >= self.today


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


# --------------------------------------------------------------------------------------------------------------
# the checks


@check("schema")
def check_schema(f: Facts) -> CheckResult:
    comp = f.comp
    ignored = {c.casefold() for c in comp.spec.ignore}
    sas_only = [p.name for p in comp.plans if p.role == "sas_only" and p.name.casefold() not in ignored]
    py_only = [p.name for p in comp.plans if p.role == "python_only" and p.name.casefold() not in ignored]
    conflicts = [
        {"column": p.name, "conflict": p.conversion.conflict}
        for p in comp.plans if p.role == "type_conflict" and p.conversion
    ]
    notes: list[dict[str, Any]] = [
        {"column": p.name, "note": p.conversion.note, "changes": [c.to_dict() for c in p.conversion.changes]}
        for p in comp.plans if p.conversion and p.conversion.note and p.role in ("compare", "key")
    ]
    changed = [n for n in notes if n["changes"]]
    details: dict[str, Any] = {
        "sas_only": sas_only, "python_only": py_only, "type_conflicts": conflicts, "conversions": notes,
        "python_longer_than_sas_length": comp.python_long_strings,
        "sas_values_filling_length": comp.sas_full_strings,
        "ignored": sorted(p.name for p in comp.plans if p.role == "ignored"
                          or (p.role in ("sas_only", "python_only") and p.name.casefold() in ignored)),
    }
    problems = []
    if sas_only:
        problems.append(f"{_plural(len(sas_only), 'column')} only in SAS ({', '.join(sas_only[:5])})")
    if py_only:
        problems.append(f"{_plural(len(py_only), 'column')} only in Python ({', '.join(py_only[:5])})")
    if conflicts:
        problems.append(f"{_plural(len(conflicts), 'type conflict')} ({conflicts[0]['column']}: "
                        f"{conflicts[0]['conflict']})")
    if problems:
        return CheckResult("schema", "fail", "; ".join(problems), details)
    if comp.python_long_strings:
        col, info = sorted(comp.python_long_strings.items())[0]
        return CheckResult("schema", "warn", f"Python strings longer than the SAS length in "
                           f"{_plural(len(comp.python_long_strings), 'column')} (e.g. {col}: {info['count']} values "
                           f"over {info['sas_length']} bytes): SAS would truncate them", details)
    n = len([p for p in comp.plans if p.sas and p.py])
    summary = f"{_plural(n, 'column')} on both sides with compatible types"
    if changed:
        first = changed[0]["changes"][0]
        summary += (f"; Python values changed by conversion in {_plural(len(changed), 'column')} (e.g. "
                    f"{changed[0]['column']}: {_plural(first['values'], 'value')} {first['conversion']})")
    return CheckResult("schema", "pass", summary, details)


@check("row_count")
def check_row_count(f: Facts) -> CheckResult:
    s, p = f.comp.rows_sas, f.comp.rows_py
    details = {"sas": s, "python": p, "difference": p - s}
    if s == p:
        return CheckResult("row_count", "pass", f"{s:,} rows on both sides", details)
    return CheckResult("row_count", "fail", f"SAS has {s:,} rows, Python {p:,} ({p - s:+,})", details)


@check("key_uniqueness")
def check_key_uniqueness(f: Facts) -> CheckResult:
    comp = f.comp
    if not comp.keys:
        return CheckResult("key_uniqueness", "skipped", "no keys declared: rows are paired by position", {})
    ds, dp = comp.dup_sas, comp.dup_py
    details = {
        "keys": [k.name for k in comp.keys],
        "sas": {"rows": ds.rows, "keys": ds.keys, "sample": ds.sample, "key_set": ds.key_set},
        "python": {"rows": dp.rows, "keys": dp.keys, "sample": dp.sample, "key_set": dp.key_set},
    }
    key_text = ", ".join(k.name for k in comp.keys)
    if not ds.keys and not dp.keys:
        return CheckResult("key_uniqueness", "pass", f"({key_text}) is unique on both sides", details)
    text = (f"duplicate ({key_text}): SAS {_plural(ds.keys, 'key')} on {_plural(ds.rows, 'row')}, "
            f"Python {_plural(dp.keys, 'key')} on {_plural(dp.rows, 'row')}")
    if (ds.rows, ds.keys, ds.sample) == (dp.rows, dp.keys, dp.sample):
        return CheckResult("key_uniqueness", "warn", text + "; the same on both sides, so rows pair by their "
                           "order within each key (as PROC COMPARE does)", details)
    return CheckResult("key_uniqueness", "fail", text, details)


@check("key_match")
def check_key_match(f: Facts) -> CheckResult:
    comp = f.comp
    details = {
        "matched": comp.matched, "only_in_sas": comp.only_sas, "only_in_python": comp.only_py,
        "sample_only_in_sas": f.only_sas_sample, "sample_only_in_python": f.only_py_sample,
        "only_in_sas_keys": f.only_sas_keys, "only_in_python_keys": f.only_py_keys,
        "paired_by": "key" if comp.keys else "position",
    }
    how = "by key" if comp.keys else "by position"
    if not comp.only_sas and not comp.only_py:
        return CheckResult("key_match", "pass", f"all {comp.matched:,} rows matched {how}", details)
    return CheckResult(
        "key_match", "fail",
        f"{comp.matched:,} rows matched {how}; {comp.only_sas:,} only in SAS, {comp.only_py:,} only in Python",
        details,
    )


def _value_check(f: Facts, name: str, kinds: tuple[str, ...], noun: str) -> CheckResult:
    cols = [c for c in f.columns if c.kind in kinds and c.status == "compared"]
    if not cols:
        return CheckResult(name, "skipped", f"no {noun} columns compared", {"columns": []})
    details = {"columns": [
        {"column": c.name, "method": c.method, "criterion": c.criterion, "compared": c.compared,
         "mismatches": c.mismatches, "waived": c.waived, "max_abs_diff": c.max_abs_diff,
         "max_rel_diff": c.max_rel_diff, "explanations": list(c.explanations)}
        for c in cols
    ]}
    bad = [c for c in cols if c.mismatches]
    if bad and all(c.mismatches == c.waived for c in bad):
        total = sum(c.mismatches for c in bad)
        return CheckResult(name, "waived", f"{_plural(total, 'mismatch', 'mismatches')} in "
                           f"{_plural(len(bad), 'column')}, all accepted by waivers "
                           f"({', '.join(c.name for c in bad)})", details)
    if not bad:
        return CheckResult(name, "pass", f"{_plural(len(cols), noun + ' column')} equal on every matched row",
                           details)
    worst = max(bad, key=lambda c: (c.mismatches - c.waived, c.mismatches, c.name))
    total = sum(c.mismatches for c in bad)
    waived = sum(c.waived for c in bad)
    summary = (f"{_plural(total, 'mismatch', 'mismatches')} in {_plural(len(bad), 'column')} of {len(cols)}"
               f"{f' ({waived:,} waived)' if waived else ''}; "
               f"worst {worst.name}: {worst.mismatches:,} of {worst.compared:,}")
    if worst.max_abs_diff is not None and name != "string_equality":
        unit = {"date": " days", "datetime": " s", "time": " s"}.get(worst.kind, "")
        label = "largest shift" if name == "date_equivalence" else "max abs diff"
        summary += f", {label} {worst.max_abs_diff:g}{unit}"
    if worst.explanations:
        summary += f" ({worst.explanations[0]['code']})"
    return CheckResult(name, "fail", summary, details)


@check("numeric_tolerance")
def check_numeric(f: Facts) -> CheckResult:
    return _value_check(f, "numeric_tolerance", ("numeric",), "numeric")


@check("date_equivalence")
def check_dates(f: Facts) -> CheckResult:
    return _value_check(f, "date_equivalence", ("date", "datetime", "time"), "date/time")


@check("string_equality")
def check_strings(f: Facts) -> CheckResult:
    return _value_check(f, "string_equality", ("string",), "character")


@check("sort_order")
def check_sort_order(f: Facts) -> CheckResult:
    comp = f.comp
    spec = comp.spec
    if spec.sort_by:
        by = " ".join(k.describe() for k in spec.sort_by)
        v = comp.sort_violations or {}
        sv = comp.sas_sort_violations or {}
        details: dict[str, Any] = {"sort_by": [k.describe() for k in spec.sort_by], "python": v, "sas": sv,
                   "rules": "SAS BY order: missing lowest (._ < . < .A-.Z < numbers); character values by their "
                            "bytes in the SAS file's encoding, blank-padded ('a\\t' < 'a' < 'a b')"}
        note = "" if not sv.get("violations") else f" (note: the SAS output itself breaks it {sv['violations']:,} times)"
        if comp.collation and comp.collation.get("note"):
            note += f" (note: {comp.collation['note']})"
        if not v.get("violations"):
            return CheckResult("sort_order", "pass", f"Python output is in BY {by} order{note}", details)
        return CheckResult(
            "sort_order", "fail",
            f"Python output is not in BY {by} order: {_plural(v['violations'], 'out-of-order row')}, "
            f"first at Python row {v['first_row']:,}{note}", details,
        )
    if not comp.keys:
        return CheckResult("sort_order", "skipped", "no sort_by and no keys: rows are paired by position, so order "
                           "differences show as value mismatches", {})
    details = {"inversions": comp.order_inversions, "first": comp.order_first}
    if not comp.order_inversions:
        return CheckResult("sort_order", "pass", "matched rows are in the SAS output's own order", details)
    s_row, p_row = comp.order_first or (None, 0)
    at = f"SAS row {s_row:,} / Python row {p_row:,}" if s_row is not None else f"Python row {p_row:,}"
    return CheckResult(
        "sort_order", "warn",
        f"matched rows are not in the SAS output's order ({_plural(comp.order_inversions or 0, 'out-of-order row')}, "
        f"first at {at}); declare sort_by to make order part of the contract", details,
    )


@check("top_n_diffs")
def check_top_n(f: Facts) -> CheckResult:
    n = f.comp.spec.top_n
    listed = len(f.top_diffs.get("first_by_key", []))
    if not listed:
        return CheckResult("top_n_diffs", "pass", "no value differences to list", {"top_n": n})
    return CheckResult("top_n_diffs", "pass", f"{listed} value difference(s) listed (top {n} by abs and rel diff, "
                       "first by key); informational", {"top_n": n})


@check("waivers")
def check_waivers(f: Facts) -> CheckResult:
    waivers = f.comp.spec.waivers
    if not waivers:
        return CheckResult("waivers", "skipped", "no known differences registered", {"waivers": []})
    rows: list[dict[str, Any]] = []
    for waiver, matched in zip(waivers, f.waiver_matches, strict=True):
        state = "expired" if not f.active(waiver) else ("stale" if not matched else "active")
        rows.append({"column": waiver.column, "check": waiver.check, "keys": [dict(k) for k in waiver.keys],
                     "max_abs_diff": waiver.max_abs_diff, "reason": waiver.reason, "approver": waiver.approver,
                     "expires": waiver.expires.isoformat(), "matched": matched, "state": state})
    details = {"waivers": rows, "today": f.today.isoformat()}
    expired = [r for r in rows if r["state"] == "expired"]
    stale = [r for r in rows if r["state"] == "stale"]
    if expired:
        first = expired[0]
        return CheckResult("waivers", "fail", f"{_plural(len(expired), 'waiver')} expired (e.g. "
                           f"{first['column'] or first['check']}, expired {first['expires']}): renew it with a new "
                           "approval or fix the difference", details)
    if stale:
        first = stale[0]
        return CheckResult("waivers", "warn", f"{_plural(len(stale), 'waiver')} no longer match anything (e.g. "
                           f"{first['column'] or first['check']}): remove them from parity.toml", details)
    total = sum(r["matched"] for r in rows)
    return CheckResult("waivers", "pass", f"{_plural(len(rows), 'waiver')} active, accepting "
                       f"{_plural(total, 'difference')}", details)


# --------------------------------------------------------------------------------------------------------------
# building the result


def _apply_check_waivers(f: Facts, result: CheckResult) -> CheckResult:
    for i, waiver in enumerate(f.comp.spec.waivers):
        if waiver.check == result.name and f.active(waiver) and result.status == "fail":
            f.waiver_matches[i] += 1
            return CheckResult(result.name, "waived", f"(waived: {waiver.reason}; approved by {waiver.approver} "
                               f"until {waiver.expires.isoformat()}) {result.summary}", result.details)
    return result


def _apply_severity(result: CheckResult, severity: str | None) -> CheckResult:
    if severity == "off":
        return CheckResult(result.name, "skipped", f"(turned off in parity.toml) {result.summary}", result.details)
    if severity == "warn" and result.status == "fail":
        return CheckResult(result.name, "warn", f"(fail downgraded to warn in parity.toml) {result.summary}",
                           result.details)
    return result


def verdict_of(statuses: list[Status]) -> Verdict:
    if "error" in statuses:
        return "error"
    return "fail" if "fail" in statuses else "pass"


def build_result(comp: Comparison, duration_s: float | None = None) -> DatasetResult:
    facts = Facts(comp)
    facts.waiver_matches = [0] * len(comp.spec.waivers)
    facts.columns = _column_results(comp, facts)
    _samples(facts)
    checks = tuple(
        _apply_severity(_apply_check_waivers(facts, CHECKS[name](facts)), comp.spec.severity.get(name))
        for name in CHECK_NAMES if name != "waivers"
    )
    checks += (_apply_severity(check_waivers(facts), comp.spec.severity.get("waivers")),)
    return DatasetResult(
        name=comp.spec.name,
        verdict=verdict_of([c.status for c in checks]),
        sas=comp.sas.meta.to_dict() | {"columns_meta": [c.to_dict() for c in comp.sas.columns]},
        python=comp.py.meta.to_dict() | {"columns_meta": [c.to_dict() for c in comp.py.columns]},
        rows={"sas": comp.rows_sas, "python": comp.rows_py, "matched": comp.matched,
              "only_in_sas": comp.only_sas, "only_in_python": comp.only_py},
        duplicates={"sas": {"rows": comp.dup_sas.rows, "keys": comp.dup_sas.keys},
                    "python": {"rows": comp.dup_py.rows, "keys": comp.dup_py.keys}},
        checks=checks,
        columns=tuple(facts.columns),
        top_diffs=facts.top_diffs,
        keys=tuple(k.name for k in comp.keys),
        duration_s=duration_s,
    )


def _waived_count(f: Facts, plan: ColumnPlan, rows: pl.DataFrame) -> int:
    """Mismatching rows of one column accepted by its active waivers; counts each waiver's matches."""
    import polars as pl

    from parity.values import waiver_key_match

    comp = f.comp
    every = pl.col(plan.neq)  # all rows here mismatch: a per-row True (a bare literal would not broadcast in sum)
    union = ~every
    for i, waiver in enumerate(comp.spec.waivers):
        if waiver.column is None or waiver.column.casefold() != plan.name.casefold() or not f.active(waiver):
            continue
        cond = every
        if waiver.keys:
            by_key = {k.name.casefold(): k for k in comp.keys}
            any_key = pl.lit(False)
            for key in waiver.keys:
                one = pl.lit(True)
                for name, value in key.items():
                    kp = by_key[name]
                    one = one & waiver_key_match(kp, value, comp.spec)
                any_key = any_key | one
            cond = cond & any_key
        if waiver.max_abs_diff is not None and plan.kind != "string":
            cond = cond & ((pl.col(plan.p) - pl.col(plan.s)).abs() <= waiver.max_abs_diff).fill_null(False)
        f.waiver_matches[i] += int(rows.select(cond.sum()).item() or 0) if rows.height else 0
        union = union | cond
    return int(rows.select(union.sum()).item() or 0) if rows.height else 0


def _column_results(comp: Comparison, f: Facts) -> list[ColumnResult]:
    from parity.delta import key_set, row_key_columns
    from parity.explain import MAX_PAIRS, Pair, explain

    out = []
    for plan in comp.plans:
        stats = comp.stats.get(plan.name)
        tol = plan.tolerance if plan.role == "compare" and plan.kind != "string" else None
        explanations: tuple[dict[str, Any], ...] = ()
        waived = 0
        mismatch_keys = None
        if stats and stats.mismatches:
            unequal = comp.diffs.filter(comp.diffs[plan.neq])
            waived = _waived_count(f, plan, unequal)
            mismatch_keys = key_set(unequal, row_key_columns(comp))
            rows = unequal.head(MAX_PAIRS)
            sas_vals = rows[plan.s].to_list()
            py_vals = rows[plan.p].to_list()
            tags = rows[plan.st].to_list() if plan.st in rows.columns else [None] * len(sas_vals)
            pairs = [Pair(s, p, t) for s, p, t in zip(sas_vals, py_vals, tags, strict=True)]
            explanations = tuple(explain(pairs, plan.kind, plan.sas.length if plan.sas else None,
                                         column=plan.name, sas_format=plan.sas.format if plan.sas else None))
        status = plan.role if plan.role != "compare" else "compared"
        out.append(ColumnResult(
            name=plan.name,
            sas_name=plan.sas.name if plan.sas else None,
            python_name=plan.py.name if plan.py else None,
            kind=plan.kind,
            method=(tol.method if tol else ("sas_string_rules" if plan.kind == "string" and stats else None)),
            criterion=(tol.gamma if tol else None),
            compared=stats.compared if stats else 0,
            mismatches=stats.mismatches if stats else 0,
            max_abs_diff=stats.max_abs_diff if stats else None,
            max_rel_diff=stats.max_rel_diff if stats else None,
            status=status,
            sas_type=({"type": plan.sas.type, "length": plan.sas.length, "format": plan.sas.format,
                       "label": plan.sas.label} if plan.sas else None),
            python_type=str(comp.py.frame.schema[plan.py.name]) if plan.py else None,
            explanations=explanations,
            note=(plan.conversion.conflict or plan.conversion.note) if plan.conversion else None,
            waived=waived, mismatch_keys=mismatch_keys,
        ))
    return out


def _row_key(comp: Comparison, row: dict[str, Any]) -> dict[str, Any]:
    from parity.engine import ROW_P, ROW_S
    from parity.values import key_dict

    if comp.keys:
        return key_dict(comp.keys, row, [k.s for k in comp.keys])
    obs = row.get(ROW_S)
    if obs is None:
        return {"python_obs": int(row[ROW_P]) + 1}
    return {"obs": int(obs) + 1}


def _cell(comp: Comparison, plan: ColumnPlan, row: dict[str, Any]) -> dict[str, Any]:
    from parity.values import display, json_number

    s, p = row[plan.s], row[plan.p]
    tag = row.get(plan.st)
    out: dict[str, Any] = {"key": _row_key(comp, row), "column": plan.name, "kind": plan.kind}
    if plan.kind == "string":
        out.update(sas=s, python=p, sas_text=display("string", s), python_text=display("string", p),
                   abs_diff=None, rel_diff=None)
        return out
    diff = None if s is None or p is None else p - s
    rel = None if diff is None or s == 0 else abs(diff) / abs(s)
    out.update(sas=json_number(s), python=json_number(p), sas_text=display(plan.kind, s, tag),
               python_text=display(plan.kind, p, row.get(plan.pt)),
               abs_diff=json_number(None if diff is None else abs(diff)), diff=json_number(diff),
               rel_diff=json_number(rel))
    return out


def _samples(f: Facts) -> None:
    import polars as pl

    from parity.delta import key_set, row_key_columns
    from parity.engine import ROW_P, ROW_S

    comp = f.comp
    diffs = comp.diffs
    n = comp.spec.top_n
    f.only_sas_sample = [_row_key(comp, r) for r in diffs.filter(pl.col(ROW_P).is_null()).head(SAMPLE)
                         .iter_rows(named=True)]
    f.only_py_sample = [_row_key(comp, r) for r in diffs.filter(pl.col(ROW_S).is_null()).head(SAMPLE)
                        .iter_rows(named=True)]
    f.only_sas_keys = key_set(diffs.filter(pl.col(ROW_P).is_null()), row_key_columns(comp))
    f.only_py_keys = key_set(diffs.filter(pl.col(ROW_S).is_null()), row_key_columns(comp))
    bad = [p for p in comp.compared_plans if comp.stats[p.name].mismatches]
    if not bad or n == 0:
        f.top_diffs = {"by_abs": [], "by_rel": [], "first_by_key": []}
        return
    indexed = diffs.with_row_index("#ord")
    by_abs: list[tuple[Any, ...]] = []
    by_rel: list[tuple[Any, ...]] = []
    first: list[tuple[int, int, dict[str, Any]]] = []
    for pos, plan in enumerate(bad):
        rows = indexed.filter(pl.col(plan.neq))
        for r in rows.head(n).iter_rows(named=True):
            first.append((int(r["#ord"]), pos, _cell(comp, plan, r)))
        if plan.kind == "string":
            continue
        scored = rows.with_columns(
            (pl.col(plan.p) - pl.col(plan.s)).abs().fill_nan(None).alias("#abs"),
            ((pl.col(plan.p) - pl.col(plan.s)).abs() / pl.col(plan.s).abs()).fill_nan(None).alias("#rel"),
        )
        for col, bucket in (("#abs", by_abs), ("#rel", by_rel)):
            top = scored.filter(pl.col(col).is_not_null() & pl.col(col).is_finite())
            top = top.sort([col, "#ord"], descending=[True, False]).head(n)
            bucket.extend((-float(r[col]), int(r["#ord"]), pos, _cell(comp, plan, r))
                          for r in top.iter_rows(named=True))
    first.sort(key=lambda t: (t[0], t[1]))
    by_abs.sort(key=lambda t: t[:3])
    by_rel.sort(key=lambda t: t[:3])
    f.top_diffs = {
        "by_abs": [t[3] for t in by_abs[:n]],
        "by_rel": [t[3] for t in by_rel[:n]],
        "first_by_key": [t[2] for t in first[:n]],
    }


def error_result(name: str, error: str, sas: dict[str, Any] | None = None,
                 python: dict[str, Any] | None = None) -> DatasetResult:
    """A dataset that could not be compared (unreadable file, failing job, ...)."""
    return DatasetResult(
        name=name, verdict="error", sas=sas or {}, python=python or {},
        rows={"sas": (sas or {}).get("rows"), "python": (python or {}).get("rows"), "matched": None,
              "only_in_sas": None, "only_in_python": None},
        duplicates={"sas": {"rows": None, "keys": None}, "python": {"rows": None, "keys": None}},
        checks=(CheckResult("load", "error", error, {}),), columns=(), top_diffs={}, error=error,
    )
