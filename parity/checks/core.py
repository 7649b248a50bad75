"""The parity checks, registered in one place, and the building of a frozen DatasetResult from an engine result.

Each check is a function ``(Result builder) -> CheckResult`` registered with :func:`check` under its stable name;
the order of registration is the order of the report.  A dataset passes when no check fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, Any

from parity.checks.details import (
    AttributesDetails,
    ColumnFigures,
    DuplicateSide,
    KeyMatchDetails,
    KeyUniquenessDetails,
    RowCountDetails,
    RowOrderDetails,
    SchemaDetails,
    SortByDetails,
    TopNDetails,
    ValueDetails,
    WaiversDetails,
    WaiverState,
)
from parity.model import (
    CHECK_KINDS,
    CHECK_NAMES,
    MEASURED_KINDS,
    CheckResult,
    ColumnResult,
    DatasetResult,
    Status,
    verdict_of,
)

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from parity.engine.base import DupGroups, EngineResult
    from parity.engine.plan import ColumnPlan
    from parity.engine.quality import RuleFacts
    from parity.spec import Waiver

CheckFn = Callable[["Facts"], CheckResult]
#: the check functions by name; every name in parity.model.CHECK_NAMES (the report order) registers one
CHECKS: dict[str, CheckFn] = {}
SAMPLE = 10


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    assert name in CHECK_NAMES, name

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = fn
        return fn

    return register


@dataclass
class Facts:
    """An engine's result plus what is derived from it once (column results, samples) for the checks to read."""

    comp: EngineResult
    columns: list[ColumnResult] = field(default_factory=list)
    top_diffs: dict[str, Any] = field(default_factory=dict)
    only_sas_sample: list[dict[str, Any]] = field(default_factory=list)
    only_py_sample: list[dict[str, Any]] = field(default_factory=list)
    only_sas_keys: dict[str, Any] | None = None  # the sets of unmatched keys (parity.checks.keysets.key_set)
    only_py_keys: dict[str, Any] | None = None
    #: per waiver (in spec order): how many mismatches (or failing checks) it matched
    waiver_matches: list[int] = field(default_factory=list)
    #: per unequal column: the rows picked for its listing and top_diffs, and the pairs its explanations read
    chosen: dict[str, Chosen] = field(default_factory=dict)
    #: per unequal numeric/temporal column: mismatches where a side is missing or infinite (no difference to measure)
    valueless: dict[str, int] = field(default_factory=dict)
    today: dt.date = field(default_factory=dt.date.today)
    rules: RuleFacts | None = None  # the contract's and DQ rules' facts (parity.engine.quality)

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
    details = SchemaDetails(
        sas_only=tuple(sas_only), python_only=tuple(py_only), type_conflicts=tuple(conflicts),
        conversions=tuple(notes), python_longer_than_sas_length=comp.python_long_strings,
        sas_values_filling_length=comp.sas_full_strings,
        ignored=tuple(sorted(p.name for p in comp.plans if p.role == "ignored"
                             or (p.role in ("sas_only", "python_only") and p.name.casefold() in ignored))),
    )
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
        return CheckResult("schema", "warn", _long_strings_summary(comp), details)
    n = len([p for p in comp.plans if p.sas and p.py])
    summary = f"{_plural(n, 'column')} on both sides with compatible types"
    if changed:
        first = changed[0]["changes"][0]
        summary += (f"; Python values changed by conversion in {_plural(len(changed), 'column')} (e.g. "
                    f"{changed[0]['column']}: {_plural(first['values'], 'value')} {first['conversion']})")
    return CheckResult("schema", "pass", summary, details)


def _long_strings_summary(comp: EngineResult) -> str:
    """The schema warning for Python strings SAS could not hold: longer than the SAS LENGTH in bytes of the SAS
    file's encoding, or with characters that encoding lacks."""
    encoding = comp.spec.encoding or comp.sas.meta.encoding or "UTF-8"
    parts = []
    long = sorted((c, i) for c, i in comp.python_long_strings.items() if i["count"])
    if long:
        col, info = long[0]
        parts.append(f"Python strings longer than the SAS length in {_plural(len(long), 'column')} (e.g. {col}: "
                     f"{info['count']} values over {info['sas_length']} bytes in {encoding}): SAS would truncate them")
    bad = sorted((c, i) for c, i in comp.python_long_strings.items() if i.get("unencodable"))
    if bad:
        col, info = bad[0]
        parts.append(f"Python strings with characters {encoding} cannot encode in {_plural(len(bad), 'column')} "
                     f"(e.g. {col}: {info['unencodable']} values): SAS would lose them")
    return "; ".join(parts)


#: the variable attributes PROC COMPARE lists for common variables, in its order
ATTRIBUTES = ("type", "length", "format", "informat", "label")


def _attribute_value(name: str, value: Any) -> Any:
    if name in ("format", "informat"):  # DATE9 = DATE9. = date9.; no format = ""
        return (value or "").upper().rstrip(".") or None
    return value or None


#: source formats that state SAS attributes (a CDISC Dataset-JSON file states only some: see _attribute_row)
SAS_ATTRIBUTE_FORMATS = ("sas7bdat", "xport", "datasetjson")


def _attribute_row(p: ColumnPlan, both_sas: bool, unstated: tuple[bool, bool] = (False, False)
                   ) -> dict[str, Any] | None:
    """One common variable's differing attributes (PROC COMPARE's listing), or None when they agree.  ``unstated``
    says, per side (SAS, Python), that an attribute the side leaves empty is not stated rather than empty (a
    Dataset-JSON file has no informats, no numeric lengths, and display formats only where its writer chose)."""
    from parity.engine.normalize import toml_key

    assert p.sas is not None and p.py is not None
    sas = {a: getattr(p.sas, a) for a in ATTRIBUTES}
    hint = p.conversion.format_hint if p.conversion else None
    if both_sas:
        py: dict[str, Any] = {a: getattr(p.py, a) for a in ATTRIBUTES}
        differs = [a for a in ATTRIBUTES if _attribute_value(a, sas[a]) != _attribute_value(a, py[a])
                   and not (unstated[0] and sas[a] is None) and not (unstated[1] and py[a] is None)]
    else:  # a Python dtype: its type and kind against the SAS type and format
        py = {"type": p.py.type, "kind": p.py.kind}
        differs = []
        if p.role == "type_conflict":
            differs.append("type")
        elif p.sas.type == "numeric" and p.py.kind not in ("string", p.sas.kind) \
                and (p.sas.kind, p.py.kind) != ("date", "datetime"):  # pandas keeps dates as datetimes
            differs.append("format")  # a date format against Python numbers, or no date format against dates
    if not differs:
        return None
    return {"column": p.name, "differs": differs, "sas": sas, "python": py, "sas_kind": p.sas.kind,
            "python_kind": p.py.kind,
            **({"format_hint": hint, "hint": f"formats = {{ {toml_key(p.name)} = \"{hint}\" }}"} if hint else {})}


def attribute_text(row: Mapping[str, Any]) -> str:
    """One row of the attributes listing as text: ``x: format DATE9. vs DATETIME20.; label 'A' vs 'B'``, or
    ``d: SAS no format (numeric) vs Python Datetime(...)`` against a Python dtype."""
    sas, py = row["sas"], row["python"]
    if "kind" in py:  # against a Python dtype
        what = sas["type"] if row["differs"] == ["type"] else f"{sas.get('format') or 'no format'} ({row['sas_kind']})"
        return f"{row['column']}: SAS {what} vs Python {py['type']}"
    parts = [f"{a} {sas.get(a) if sas.get(a) not in (None, '') else '-'} vs "
             f"{py.get(a) if py.get(a) not in (None, '') else '-'}" for a in row["differs"]]
    return f"{row['column']}: {'; '.join(parts)}"


@check("attributes")
def check_attributes(f: Facts) -> CheckResult:
    """PROC COMPARE's listing of common variables with differing attributes (type, length, format, informat,
    label): all five when both sides are SAS files, the SAS type and format against the Python dtype otherwise.
    Differences warn; ``severity.attributes = "fail"`` makes them fail."""
    comp = f.comp
    both_sas = comp.py.meta.format in SAS_ATTRIBUTE_FORMATS
    unstated = (comp.sas.meta.format == "datasetjson", comp.py.meta.format == "datasetjson")
    common = [p for p in comp.plans if p.sas and p.py and p.role != "ignored"]
    rows = [row for p in common if (row := _attribute_row(p, both_sas, unstated)) is not None]
    details = AttributesDetails(compared=len(common), attributes=ATTRIBUTES if both_sas else ("type", "format"),
                                variables=tuple(rows))
    if not rows:
        what = ("the same type, length, format, informat and label" if both_sas
                else "SAS types and formats that fit the Python dtypes")
        return CheckResult("attributes", "pass", f"{_plural(len(common), 'common variable')} with {what}", details)
    status: Status = "fail" if comp.spec.severity.get("attributes") == "fail" else "warn"
    summary = (f"{_plural(len(rows), 'common variable')} with differing attributes ("
               f"{attribute_text(rows[0])}{f'; {len(rows) - 1} more' if len(rows) > 1 else ''})")
    hinted = next((r for r in rows if r.get("hint")), None)
    if hinted:
        summary += f"; {hinted['column']} has no date/time format: if it holds SAS dates/times, set {hinted['hint']}"
    return CheckResult("attributes", status, summary, details)


@check("row_count")
def check_row_count(f: Facts) -> CheckResult:
    s, p = f.comp.rows_sas, f.comp.rows_py
    details = RowCountDetails(sas=s, python=p, difference=p - s)
    if s == p:
        return CheckResult("row_count", "pass", f"{s:,} rows on both sides", details)
    return CheckResult("row_count", "fail", f"SAS has {s:,} rows, Python {p:,} ({p - s:+,})", details)


@check("key_uniqueness")
def check_key_uniqueness(f: Facts) -> CheckResult:
    comp = f.comp
    if not comp.keys:
        return CheckResult("key_uniqueness", "skipped", "no keys declared: rows are paired by position")
    ds, dp = _duplicates(comp, comp.dup_sas), _duplicates(comp, comp.dup_py)
    details = KeyUniquenessDetails(
        key_columns=tuple(k.name for k in comp.keys),
        sas=DuplicateSide(ds.rows, ds.keys, tuple(ds.sample), ds.key_set),
        python=DuplicateSide(dp.rows, dp.keys, tuple(dp.sample), dp.key_set),
    )
    key_text = ", ".join(k.name for k in comp.keys)
    if not ds.keys and not dp.keys:
        return CheckResult("key_uniqueness", "pass", f"({key_text}) is unique on both sides", details)
    text = (f"duplicate ({key_text}): SAS {_plural(ds.keys, 'key')} on {_plural(ds.rows, 'row')}, "
            f"Python {_plural(dp.keys, 'key')} on {_plural(dp.rows, 'row')}")
    # the same duplicated keys with the same row counts on both sides (the whole set, not only the sample)
    if (ds.rows, ds.keys, ds.groups_sha256) == (dp.rows, dp.keys, dp.groups_sha256):
        return CheckResult("key_uniqueness", "warn", text + "; the same on both sides, so rows pair by their "
                           "order within each key (as PROC COMPARE does)", details)
    return CheckResult("key_uniqueness", "fail", text, details)


@dataclass(frozen=True)
class Duplicates:
    """One side's duplicate keys as the report shows them (from the engine's raw groups)."""

    rows: int
    keys: int
    sample: list[dict[str, Any]]
    key_set: dict[str, Any] | None  # the duplicated keys (parity.checks.keysets.key_set)
    groups_sha256: str | None  # the duplicated keys with their row counts: equal on both sides = same dupes


def _duplicates(comp: EngineResult, groups: DupGroups) -> Duplicates:
    from parity.checks.keysets import key_set
    from parity.engine.base import GROUP_ROWS
    from parity.values import key_dict

    if not groups.keys:
        return Duplicates(0, 0, [], None, None)
    cols = list(groups.columns)
    sample = [{"key": key_dict(comp.keys, row, cols), "count": int(row[GROUP_ROWS])}
              for row in groups.frame.head(SAMPLE).iter_rows(named=True)]
    with_counts = key_set(groups.frame, [*cols, GROUP_ROWS])
    return Duplicates(groups.rows, groups.keys, sample, key_set(groups.frame, cols),
                      with_counts["sha256"] if with_counts else None)


@check("key_match")
def check_key_match(f: Facts) -> CheckResult:
    comp = f.comp
    details = KeyMatchDetails(
        matched=comp.matched, only_in_sas=comp.only_sas, only_in_python=comp.only_py,
        sample_only_in_sas=tuple(f.only_sas_sample), sample_only_in_python=tuple(f.only_py_sample),
        only_in_sas_keys=f.only_sas_keys, only_in_python_keys=f.only_py_keys,
        paired_by="key" if comp.keys else "position",
    )
    how = "by key" if comp.keys else "by position"
    if not comp.only_sas and not comp.only_py:
        return CheckResult("key_match", "pass", f"all {comp.matched:,} rows matched {how}", details)
    return CheckResult(
        "key_match", "fail",
        f"{comp.matched:,} rows matched {how}; {comp.only_sas:,} only in SAS, {comp.only_py:,} only in Python",
        details,
    )


#: a difference of each temporal kind in seconds, so that date and datetime columns compare on one scale
SECONDS_PER_UNIT = {"date": 86400.0, "datetime": 1.0, "time": 1.0}


def _worst(name: str, bad: list[ColumnResult]) -> ColumnResult:
    """The column a value check's summary names: the most mismatches not accepted by waivers; for dates and times
    the largest shift (in seconds, so a 365-day shift outranks a 1-second one on many rows)."""
    if name == "date_equivalence":
        return max(bad, key=lambda c: (c.mismatches > c.waived,
                                       (c.max_abs_diff or 0.0) * SECONDS_PER_UNIT.get(c.kind, 1.0),
                                       c.mismatches - c.waived, c.mismatches))
    return max(bad, key=lambda c: (c.mismatches - c.waived, c.mismatches))


def _value_check(f: Facts, name: str, noun: str) -> CheckResult:
    from parity.values import DIFF_UNITS, max_diff_text

    cols = [c for c in f.columns if c.kind in CHECK_KINDS[name] and c.status == "compared"]
    if not cols:
        return CheckResult(name, "skipped", f"no {noun} columns compared", ValueDetails(columns=()))
    figures = tuple(
        ColumnFigures(column=c.name, kind=c.kind, unit=DIFF_UNITS.get(c.kind) or None, method=c.method,
                      criterion=c.criterion, compared=c.compared, mismatches=c.mismatches, waived=c.waived,
                      max_abs_diff=c.max_abs_diff, max_rel_diff=c.max_rel_diff, explanations=c.explanations)
        for c in cols
    )
    bad = [c for c in cols if c.mismatches]
    details = ValueDetails(columns=figures, worst=_worst(name, bad).name if bad else None)
    if bad and all(c.mismatches == c.waived for c in bad):
        total = sum(c.mismatches for c in bad)
        return CheckResult(name, "waived", f"{_plural(total, 'mismatch', 'mismatches')} in "
                           f"{_plural(len(bad), 'column')}, all accepted by waivers "
                           f"({', '.join(c.name for c in bad)})", details)
    if not bad:
        return CheckResult(name, "pass", f"{_plural(len(cols), noun + ' column')} equal on every matched row",
                           details)
    worst = _worst(name, bad)
    total = sum(c.mismatches for c in bad)
    waived = sum(c.waived for c in bad)
    summary = (f"{_plural(total, 'mismatch', 'mismatches')} in {_plural(len(bad), 'column')} of {len(cols)}"
               f"{f' ({waived:,} waived)' if waived else ''}; "
               f"worst {worst.name}: {worst.mismatches:,} of {worst.compared:,}")
    if worst.max_abs_diff == 0 and name != "string_equality":  # not "max abs diff 0": that reads as no difference
        summary += ", every unequal value is missing or infinite (no difference between two numbers)"
    elif worst.max_abs_diff is not None and name != "string_equality":
        unit = DIFF_UNITS.get(worst.kind, "")
        label = "largest shift" if name == "date_equivalence" else "max abs diff"
        summary += (f", {label} {max_diff_text(worst.max_abs_diff, worst.criterion, worst.method)}"
                    f"{' ' + unit if unit else ''}")
        valueless = f.valueless.get(worst.name, 0)
        if valueless:
            summary += (f" among pairs of two values ({valueless:,} of its mismatches are a missing or infinite "
                        "value against another)")
    if worst.explanations:
        summary += f" ({worst.explanations[0]['code']})"
    return CheckResult(name, "fail", summary, details)


@check("numeric_tolerance")
def check_numeric(f: Facts) -> CheckResult:
    return _value_check(f, "numeric_tolerance", "numeric")


@check("date_equivalence")
def check_dates(f: Facts) -> CheckResult:
    return _value_check(f, "date_equivalence", "date/time")


@check("string_equality")
def check_strings(f: Facts) -> CheckResult:
    return _value_check(f, "string_equality", "character")


@check("sort_order")
def check_sort_order(f: Facts) -> CheckResult:
    comp = f.comp
    spec = comp.spec
    if spec.sort_by:
        by = " ".join(k.describe() for k in spec.sort_by)
        v: dict[str, Any] = comp.sort_violations.to_dict() if comp.sort_violations else {}
        if v and comp.collation:
            v["collation"] = dict(comp.collation)
        sv: dict[str, Any] = comp.sas_sort_violations.to_dict() if comp.sas_sort_violations else {}
        by_details = SortByDetails(
            sort_by=tuple(k.describe() for k in spec.sort_by), python=v, sas=sv,
            rules="SAS BY order: missing lowest (._ < . < .A-.Z < numbers); character values by their bytes in "
                  "the SAS file's encoding, blank-padded ('a\\t' < 'a' < 'a b')")
        note = "" if not sv.get("violations") else f" (note: the SAS output itself breaks it {sv['violations']:,} times)"
        if comp.collation and comp.collation.get("note"):
            note += f" (note: {comp.collation['note']})"
        if not v.get("violations"):
            return CheckResult("sort_order", "pass", f"Python output is in BY {by} order{note}", by_details)
        return CheckResult(
            "sort_order", "fail",
            f"Python output is not in BY {by} order: {_plural(v['violations'], 'out-of-order row')}, "
            f"first at Python row {v['first_row']:,}{note}", by_details,
        )
    if not comp.keys:
        return CheckResult("sort_order", "skipped", "no sort_by and no keys: rows are paired by position, so order "
                           "differences show as value mismatches")
    details = RowOrderDetails(inversions=comp.order_inversions, first=comp.order_first)
    if not comp.order_inversions:
        return CheckResult("sort_order", "pass", "matched rows are in the SAS output's own order", details)
    s_row, p_row = comp.order_first or (None, 0)
    at = f"SAS row {s_row:,} / Python row {p_row:,}" if s_row is not None else f"Python row {p_row:,}"
    # information, not a warning: without sort_by order is not part of the contract (a group-by in polars or Spark
    # returns rows in no set order), so it never makes the verdict warn (docs/checks.md)
    return CheckResult(
        "sort_order", "pass",
        f"matched rows are not in the SAS output's order ({_plural(comp.order_inversions or 0, 'out-of-order row')}, "
        f"first at {at}); for information: declare sort_by to make order part of the contract", details,
    )


@check("top_n_diffs")
def check_top_n(f: Facts) -> CheckResult:
    n, m = f.comp.spec.top_n, f.comp.spec.max_print
    details = TopNDetails(top_n=n, max_print=m)
    listed = len(f.top_diffs.get("first_by_key", []))
    columns = sum(1 for c in f.columns if c.listing.get("first_by_key"))
    if not listed and not columns:
        return CheckResult("top_n_diffs", "pass", "no value differences to list", details)
    return CheckResult("top_n_diffs", "pass", f"{listed} value difference(s) listed (the first {n} by key, and the "
                       f"top {n} by abs and rel diff within each kind); up to {m} per column for "
                       f"{_plural(columns, 'column')}; informational", details)


@check("waivers")
def check_waivers(f: Facts) -> CheckResult:
    waivers = f.comp.spec.waivers
    if not waivers:
        return CheckResult("waivers", "skipped", "no known differences registered", WaiversDetails(waivers=()))
    rows = tuple(
        WaiverState(column=waiver.column, check=waiver.check, keys=tuple(dict(k) for k in waiver.keys),
                    max_abs_diff=waiver.max_abs_diff, reason=waiver.reason, approver=waiver.approver,
                    expires=waiver.expires.isoformat(), matched=matched,
                    state="expired" if not f.active(waiver) else ("stale" if not matched else "active"))
        for waiver, matched in zip(waivers, f.waiver_matches, strict=True)
    )
    details = WaiversDetails(waivers=rows, today=f.today.isoformat())
    expired = [r for r in rows if r.state == "expired"]
    stale = [r for r in rows if r.state == "stale"]
    if expired:
        first = expired[0]
        return CheckResult("waivers", "fail", f"{_plural(len(expired), 'waiver')} expired (e.g. "
                           f"{first.column or first.check}, expired {first.expires}): renew it with a new "
                           "approval or fix the difference", details)
    if stale:
        first = stale[0]
        return CheckResult("waivers", "warn", f"{_plural(len(stale), 'waiver')} no longer match anything (e.g. "
                           f"{first.column or first.check}): remove them from parity.toml", details)
    total = sum(r.matched for r in rows)
    return CheckResult("waivers", "pass", f"{_plural(len(rows), 'waiver')} active, accepting "
                       f"{_plural(total, 'difference')}", details)


# --------------------------------------------------------------------------------------------------------------
# building the result


def _apply_check_waivers(f: Facts, result: CheckResult) -> CheckResult:
    """A check waiver accepts the check's failure, or its warning (both then pass with the waiver: ``waived``)."""
    for i, waiver in enumerate(f.comp.spec.waivers):
        if waiver.check == result.name and f.active(waiver) and result.status in ("fail", "warn"):
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


def build_result(comp: EngineResult, duration_s: float | None = None, rules: RuleFacts | None = None) -> DatasetResult:
    facts = Facts(comp, rules=rules)
    facts.waiver_matches = [0] * len(comp.spec.waivers)
    facts.columns = _column_results(comp, facts)
    facts.valueless = _valueless_mismatches(comp)
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


def _valueless_mismatches(comp: EngineResult) -> dict[str, int]:
    """Per unequal non-character column, its mismatches that have no numeric difference (a side missing or
    infinite), in one query over the kept rows: a maximum difference read alone would hide them."""
    import polars as pl

    plans = [p for p in comp.compared_plans if p.kind != "string" and comp.stats[p.name].mismatches]
    if not plans or comp.diffs.height == 0:
        return {}
    exprs = [
        (pl.col(p.neq) & (pl.col(p.s).is_null() | pl.col(p.p).is_null() | ~pl.col(p.s).is_finite()
                          | ~pl.col(p.p).is_finite())).fill_null(False).sum().alias(p.name)
        for p in plans
    ]
    return {k: int(v) for k, v in comp.diffs.select(exprs).row(0, named=True).items() if v}


def _waived_count(f: Facts, plan: ColumnPlan, rows: pl.DataFrame) -> int:
    """Mismatching rows of one column accepted by its active waivers; counts each waiver's matches."""
    import polars as pl

    from parity.checks.waivers import waiver_key_match

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


def _column_results(comp: EngineResult, f: Facts) -> list[ColumnResult]:
    import polars as pl

    from parity.checks.explain import explain

    f.chosen = _choose_all(comp)
    listings = _listings(f)
    out = []
    for plan in comp.plans:
        stats = comp.stats.get(plan.name)
        tol = plan.tolerance if plan.role == "compare" and plan.kind != "string" else None
        explanations: tuple[dict[str, Any], ...] = ()
        waived = 0
        chosen = f.chosen.get(plan.name)
        if stats and stats.mismatches and chosen is not None:
            if any(w.column is not None and w.column.casefold() == plan.name.casefold() and f.active(w)
                   for w in comp.spec.waivers):
                narrow = comp.diffs.select([*_key_columns(comp), plan.s, plan.p, plan.neq])
                waived = _waived_count(f, plan, narrow.filter(pl.col(plan.neq)))
            explanations = tuple(explain(chosen.pairs, plan.kind, plan.sas.length if plan.sas else None,
                                         column=plan.name, sas_format=plan.sas.format if plan.sas else None,
                                         encoding=comp.spec.encoding or comp.sas.meta.encoding))
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
            python_type=comp.python_types[plan.py.name] if plan.py else None,
            explanations=explanations,
            note=(plan.conversion.conflict or plan.conversion.note) if plan.conversion else None,
            waived=waived, mismatch_keys=chosen.keys if chosen is not None else None,
            listing=listings.get(plan.name, {}),
        ))
    return out


def _key_columns(comp: EngineResult) -> list[str]:
    """The columns of ``comp.diffs`` that :func:`_row_key` reads: keys (with their special missing tags) and row
    numbers."""
    from parity.engine.base import ROW_P, ROW_S

    names = set(comp.diffs.columns)
    wanted = [*(k.s for k in comp.keys), *(k.st for k in comp.keys if k.has_tags), ROW_S, ROW_P]
    return [c for c in wanted if c in names]


def _row_key(comp: EngineResult, row: dict[str, Any]) -> dict[str, Any]:
    from parity.engine.base import ROW_P, ROW_S
    from parity.values import key_dict

    if comp.keys:
        return key_dict(comp.keys, row, [k.s for k in comp.keys])
    obs = row.get(ROW_S)
    if obs is None:
        return {"python_obs": int(row[ROW_P]) + 1}
    return {"obs": int(obs) + 1}


def _cell(plan: ColumnPlan, key: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """One listed unequal value: its key, both values (JSON values and the texts that tell them apart), the
    difference.  Long strings are cut (values.string_pair)."""
    from parity.values import diff_text, json_number, pair_texts, string_pair

    s, p = row[plan.s], row[plan.p]
    out: dict[str, Any] = {"key": key, "column": plan.name, "kind": plan.kind}
    if plan.kind == "string":
        out.update(string_pair(s, p), abs_diff=None, rel_diff=None)
        return out
    diff = None if s is None or p is None else p - s
    rel = None if diff is None or s == 0 else abs(diff) / abs(s)
    s_text, p_text = pair_texts(plan.kind, s, p, row.get(plan.st), row.get(plan.pt))
    out.update(sas=json_number(s), python=json_number(p), sas_text=s_text, python_text=p_text,
               abs_diff=json_number(None if diff is None else abs(diff)), diff=json_number(diff),
               rel_diff=json_number(rel), diff_text=diff_text(plan.kind, s_text, p_text, diff))
    return out


@dataclass
class Chosen:
    """One column's unequal rows picked for listing (positions in ``comp.diffs``, which is in key order) and the
    value pairs its explanations analyse."""

    first: list[int]
    by_abs: list[tuple[float, int]]  # (absolute difference, position), largest first, ties in key order
    by_rel: list[tuple[float, int]]
    pairs: list[Any]  # explain.Pair of the first MAX_PAIRS unequal rows by key
    keys: dict[str, Any] | None = None  # the set of the unequal rows' keys (parity.checks.keysets.key_set)
    cells: dict[int, dict[str, Any]] = field(default_factory=dict)  # position -> listed cell


def _top(values: np.ndarray, positions: np.ndarray, k: int) -> list[tuple[float, int]]:
    """The k largest finite values with their positions, largest first, ties by position: O(n), no full sort."""
    import numpy as np

    finite = np.isfinite(values)
    values, positions = values[finite], positions[finite]
    if k <= 0 or not values.size:
        return []
    if values.size > k:
        threshold = np.partition(values, values.size - k)[values.size - k]  # the k-th largest
        above = values > threshold
        tied = np.flatnonzero(values == threshold)[: k - int(above.sum())]  # positions ascend: first by key
        keep = np.sort(np.concatenate([np.flatnonzero(above), tied]))
        values, positions = values[keep], positions[keep]
    return sorted(zip(values.tolist(), positions.tolist(), strict=True), key=lambda t: (-t[0], t[1]))


def _choose_all(comp: EngineResult) -> dict[str, Chosen]:
    """Per unequal column: the first rows by key, the largest absolute and relative differences and the pairs to
    explain.  One pass over each column's arrays (numpy), never a query over the whole diffs frame per column,
    so the cost is O(columns + unequal values), not O(columns x rows)."""
    import numpy as np

    from parity.checks.explain import MAX_PAIRS, Pair

    diffs = comp.diffs
    names = set(diffs.columns)
    k = max(comp.spec.max_print, comp.spec.top_n)
    unequal = sum(1 for p in comp.compared_plans if comp.stats[p.name].mismatches)
    analysed = max(MIN_PAIRS, min(MAX_PAIRS, PAIR_BUDGET // max(unequal, 1)))
    out: dict[str, Chosen] = {}
    keyed: tuple[pl.Series, np.ndarray] | None = None
    key_sets: dict[bytes, dict[str, Any] | None] = {}  # columns unequal on the same rows share their key set
    for plan in comp.compared_plans:
        if not comp.stats[plan.name].mismatches:
            continue
        if keyed is None:  # every row's key text, sorted once; a column's key set is a subset of it
            keyed = _sorted_keys(comp)
        positions = np.flatnonzero(diffs.get_column(plan.neq).to_numpy())
        by_abs: list[tuple[float, int]] = []
        by_rel: list[tuple[float, int]] = []
        if plan.kind != "string":
            sas = diffs.get_column(plan.s).to_numpy()[positions].astype(np.float64)  # nulls are NaN here
            py = diffs.get_column(plan.p).to_numpy()[positions].astype(np.float64)
            with np.errstate(all="ignore"):
                absolute = np.abs(py - sas)
                by_abs = _top(absolute, positions, k)
                by_rel = _top(absolute / np.abs(sas), positions, k)
        head = positions[:analysed].tolist()
        tags = _values(diffs, plan.st, head) if plan.st in names else repeat(None)
        pairs = list(map(Pair, _values(diffs, plan.s, head), _values(diffs, plan.p, head), tags))
        same = hashlib.blake2b(positions.tobytes(), digest_size=16).digest()
        if same not in key_sets:
            key_sets[same] = _key_subset(keyed[0], np.sort(keyed[1][positions]))
        out[plan.name] = Chosen(positions[:k].tolist(), by_abs, by_rel, pairs, key_sets[same])
    return out


def _sorted_keys(comp: EngineResult) -> tuple[pl.Series, np.ndarray]:
    """Every diffs row's key text (parity.checks.keysets.key_texts), sorted, and each row's rank in that order."""
    import numpy as np

    from parity.checks.keysets import key_texts, row_key_columns

    texts = key_texts(comp.diffs, row_key_columns(comp))
    order = texts.arg_sort().to_numpy()
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size, dtype=order.dtype)
    return texts.gather(order), rank


def _key_subset(sorted_keys: pl.Series, ranks: np.ndarray) -> dict[str, Any] | None:
    """:func:`parity.checks.keysets.key_set` of the rows at ``ranks`` (ascending) of the sorted key texts."""
    import polars as pl

    from parity.checks.keysets import key_set_of

    at = ranks.tolist()
    texts = sorted_keys.gather(at) if len(at) > GATHER_FROM else pl.Series([sorted_keys[i] for i in at],
                                                                          dtype=pl.String)
    return key_set_of(texts)


def _listings(f: Facts) -> dict[str, dict[str, Any]]:
    """Build the cells of every chosen row (one gather per column) and each column's own listing."""

    comp = f.comp
    diffs = comp.diffs
    names = set(diffs.columns)
    plans = {p.name: p for p in comp.compared_plans}
    wanted = {name: sorted({*c.first, *(t[1] for t in c.by_abs), *(t[1] for t in c.by_rel)})
              for name, c in f.chosen.items()}
    every = sorted({pos for rows in wanted.values() for pos in rows})
    key_rows = _gather(diffs, _key_columns(comp), every)
    keys = {pos: _row_key(comp, row) for pos, row in zip(every, key_rows, strict=True)}
    m = comp.spec.max_print
    out: dict[str, dict[str, Any]] = {}
    for name, chosen in f.chosen.items():
        plan = plans[name]
        cols = [c for c in (plan.s, plan.p, plan.st, plan.pt) if c in names]
        rows = _gather(diffs, cols, wanted[name])
        chosen.cells = {pos: _cell(plan, keys[pos], row) for pos, row in zip(wanted[name], rows, strict=True)}
        listing: dict[str, Any] = {"first_by_key": [chosen.cells[pos] for pos in chosen.first[:m]]}
        if plan.kind != "string":  # the largest differences not listed already: a value is never listed twice
            listed = set(chosen.first[:m])
            listing["largest"] = [chosen.cells[pos] for _, pos in chosen.by_abs if pos not in listed][:m]
        out[name] = listing
    return out


def _values(frame: pl.DataFrame, col: str, positions: list[int]) -> list[Any]:
    """One column's values at ``positions``: a gather for many rows, indexing for a few (a gather query has a
    fixed cost that, paid per column, made wide reports slow)."""
    series = frame.get_column(col)
    if len(positions) > GATHER_FROM:
        return series.gather(positions).to_list()
    return [series[i] for i in positions]


def _gather(frame: pl.DataFrame, cols: list[str], positions: list[int]) -> list[dict[str, Any]]:
    """The rows at ``positions`` as dicts of ``cols``."""
    values = [_values(frame, c, positions) for c in cols]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)] if cols else \
        [{} for _ in positions]


#: unequal pairs the explanations of one dataset analyse in all: explain.MAX_PAIRS per column while that fits, so
#: that explaining many unequal columns stays bounded (never fewer than MIN_PAIRS per column)
PAIR_BUDGET = 400_000
MIN_PAIRS = 1_000
#: from how many rows on one gather query per column costs less than indexing row by row
GATHER_FROM = 200


def _samples(f: Facts) -> None:
    import polars as pl

    from parity.engine.base import ROW_P, ROW_S

    comp = f.comp
    diffs = comp.diffs
    n = comp.spec.top_n
    key_cols = _key_columns(comp)
    for attr, missing in (("only_sas_sample", ROW_P), ("only_py_sample", ROW_S)):
        at = diffs.get_column(missing).is_null().arg_true().head(SAMPLE).to_list() \
            if missing in diffs.columns else []
        setattr(f, attr, [_row_key(comp, r) for r in _gather(diffs, key_cols, at)])
    if ROW_P in diffs.columns:  # the sets of unmatched keys, from the key columns only
        from parity.checks.keysets import key_set, row_key_columns

        narrow = diffs.select([*row_key_columns(comp), ROW_S, ROW_P]) if comp.keys else diffs.select(ROW_S, ROW_P)
        f.only_sas_keys = key_set(narrow.filter(pl.col(ROW_P).is_null()), row_key_columns(comp))
        f.only_py_keys = key_set(narrow.filter(pl.col(ROW_S).is_null()), row_key_columns(comp))
    order = {p.name: i for i, p in enumerate(comp.compared_plans)}
    kinds = {p.name: p.kind for p in comp.compared_plans}
    first = sorted((pos, order[name], c.cells[pos]) for name, c in f.chosen.items() for pos in c.first[:n])
    ranked: dict[str, list[dict[str, Any]]] = {"by_abs": [], "by_rel": []}
    for kind in MEASURED_KINDS:  # each ranked on its own scale
        for listing in ranked:
            cands = sorted((-v, pos, order[name], c.cells[pos]) for name, c in f.chosen.items()
                           if kinds[name] == kind for v, pos in getattr(c, listing)[:n])
            ranked[listing] += [t[3] for t in cands[:n]]
    f.top_diffs = {"by_abs": ranked["by_abs"], "by_rel": ranked["by_rel"],
                   "first_by_key": [t[2] for t in first[:n]]}


def error_result(name: str, error: str, sas: dict[str, Any] | None = None,
                 python: dict[str, Any] | None = None) -> DatasetResult:
    """A dataset that could not be compared (unreadable file, failing job, ...)."""
    return DatasetResult(
        name=name, verdict="error", sas=sas or {}, python=python or {},
        rows={"sas": (sas or {}).get("rows"), "python": (python or {}).get("rows"), "matched": None,
              "only_in_sas": None, "only_in_python": None},
        duplicates={"sas": {"rows": None, "keys": None}, "python": {"rows": None, "keys": None}},
        checks=(CheckResult("load", "error", error),), columns=(), top_diffs={}, error=error,
    )


# the contract and quality checks live in their own modules; importing them registers them
from parity.checks import contract, quality  # noqa: E402, F401
