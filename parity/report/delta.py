"""Parity deltas: what got worse, better, is new or relaxed between a baseline report and a new one.

CI gates on these: a pull request fails when parity gets worse than the accepted baseline, not merely because a
known difference is still there, and when the spec relaxed its rules (``relaxed``: needs an explicit approval,
``--accept-relaxed``).  Works on the frozen result model only: per dataset, check and column it compares statuses,
counts, largest differences and the sets of mismatching keys (parity.checks.keysets), and the spec's normalised
rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.errors import ReportError
from parity.model import (
    CHANGE_ORDER,
    CHECK_KINDS,
    DIGEST_HEX,
    GATING_CHANGES,
    NEEDS_APPROVAL,
    STATUS_RANK,
    ChangeKind,
    CheckResult,
    ColumnResult,
    DatasetResult,
    JobResult,
    change_order,
    item_path,
)
from parity.report.markdown import capture_warnings, unwaived

if TYPE_CHECKING:

    pass

RELAXED = "relaxed (needs approval)"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    job: str
    dataset: str | None
    check: str | None
    column: str | None
    what: str
    base: Any = None
    head: Any = None

    @property
    def where(self) -> str:
        return item_path(self.job, self.dataset, self.check, self.column)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "job": self.job, "dataset": self.dataset, "check": self.check,
                "column": self.column, "what": self.what, "base": self.base, "head": self.head}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Change:
        return Change(data["kind"], data["job"], data.get("dataset"), data.get("check"), data.get("column"),
                      data["what"], data.get("base"), data.get("head"))


def load_reports(path: Path) -> dict[str, JobResult]:
    """A parity.json file, a job's report folder, or a report folder holding <job>/parity.json files.

    Every report is validated (a bad one is a ReportError naming its file); two reports of the same job in one
    folder are an error too, never one silently hiding the other."""
    from parity.report.json import REPORT_FILE, load_report
    from parity.report.markdown import report_files

    if path.is_file():
        result = load_report(path)
        return {result.job: result}
    if (path / REPORT_FILE).is_file():
        result = load_report(path / REPORT_FILE)
        return {result.job: result}
    if not path.is_dir():
        raise ReportError(f"{path}: no such report file or folder")
    found = report_files(path)
    if not found:
        raise ReportError(f"{path}: no <job>/{REPORT_FILE} reports in this folder")
    results: dict[str, JobResult] = {}
    files: dict[str, Path] = {}
    for p in found:
        result = load_report(p)
        if result.job in results:
            raise ReportError(f"{p}: a second report of job {result.job!r} (the first is {files[result.job]}); "
                              "keep one report per job in the folder")
        results[result.job], files[result.job] = result, p
    return results


# --------------------------------------------------------------------------------------------------------------
# key sets (parity.checks.keysets): a deterministic fingerprint of a set of row keys


def _digests(ks: Mapping[str, Any]) -> set[str] | None:
    text = ks.get("digests")
    if not isinstance(text, str):
        return None
    return {text[i:i + DIGEST_HEX] for i in range(0, len(text), DIGEST_HEX)}


def new_keys(base: Any, head: Any, base_count: int = 0, head_count: int = 0) -> int | None:
    """How many keys of the head set are not in the base set: 0, a number, or None when the sets differ but are
    too large to tell (the caller treats that as worse)."""
    h_n = _int(head.get("count")) if isinstance(head, Mapping) else head_count
    b_n = _int(base.get("count")) if isinstance(base, Mapping) else base_count
    if h_n == 0:
        return 0
    if b_n == 0:
        return h_n
    if not isinstance(head, Mapping) or not isinstance(base, Mapping):
        return None if h_n <= b_n else h_n - b_n
    if head.get("sha256") == base.get("sha256"):
        return 0
    hd, bd = _digests(head), _digests(base)
    if hd is None or bd is None:
        return None
    return len(hd - bd)


def _set_change(what: str, b_n: int, h_n: int, b_set: Any, h_set: Any) -> tuple[ChangeKind, str] | None:
    """Compare two key sets of one finding (mismatches of a column, rows only in SAS, ...)."""
    fresh = new_keys(b_set, h_set, b_n, h_n)
    if h_n > b_n:
        return "worse", f"{what}: {b_n:,} -> {h_n:,}"
    if fresh is None:
        return "worse", (f"{what}: {b_n:,} -> {h_n:,}, and the keys changed (too many to tell whether new ones "
                         f"appeared: counted as worse)")
    if fresh:
        return "worse", f"{what}: {b_n:,} -> {h_n:,}, {fresh:,} of them at keys that were not in the baseline"
    if h_n < b_n:
        return "better", f"{what}: {b_n:,} -> {h_n:,}"
    return None


# --------------------------------------------------------------------------------------------------------------
# comparing two reports


#: the rank of a status or verdict this parity does not know (a newer report): as bad as a failure
UNKNOWN_RANK = STATUS_RANK["fail"]


def _worse_if_failing(kind: ChangeKind, status: str) -> ChangeKind:
    """A new job, dataset or check is worse when it fails (as it would fail a run without a baseline); one that
    only warns is new, as a warning never fails a run."""
    return "worse" if STATUS_RANK.get(status, UNKNOWN_RANK) >= STATUS_RANK["fail"] else kind


def _rank(check: CheckResult) -> int:
    if check.name == "waivers" and check.status == "skipped":  # no waivers registered: as good as it gets
        return 0
    return STATUS_RANK.get(check.status, UNKNOWN_RANK)


def _severity(rules: Mapping[str, Any] | None, check: str) -> str:
    sev = ((rules or {}).get("severity") or {}).get(check, "fail")
    return str(sev)


SEVERITY_RANK = {"off": 0, "warn": 1, "fail": 2}


def _check_status_change(job: str, ds: str, bc: CheckResult, hc: CheckResult, b_rules: Mapping[str, Any] | None,
                         h_rules: Mapping[str, Any] | None) -> Change | None:
    rb, rh = _rank(bc), _rank(hc)
    if bc.status == hc.status or (rb == rh and hc.status != "waived"):
        return None
    what = f"{bc.status} -> {hc.status}: {hc.summary}"
    lowered = SEVERITY_RANK.get(_severity(h_rules, hc.name), 2) < SEVERITY_RANK.get(_severity(b_rules, hc.name), 2)
    if hc.status == "waived" and bc.status != "waived" and rh <= rb:
        return Change("relaxed", job, ds, hc.name, None, f"{RELAXED}: failure now accepted by a waiver: {what}",
                      bc.status, hc.status)
    if rh < rb and lowered:
        return Change("relaxed", job, ds, hc.name, None, f"{RELAXED}: severity lowered in parity.toml: {what}",
                      bc.status, hc.status)
    if hc.status == "skipped" and bc.status != "skipped" and hc.name != "waivers":
        return Change("worse", job, ds, hc.name, None, f"{NO_LONGER_RUNS}: {what}", bc.status, hc.status)
    return Change("worse" if rh > rb else "better", job, ds, hc.name, None, what, bc.status, hc.status)


def _int(value: Any) -> int:
    """A count from a check's details (free-form in the schema): anything but a whole number counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _names(details: Mapping[str, Any], field: str) -> set[str]:
    items = details.get(field) or []
    if isinstance(items, Mapping):
        return {str(k) for k in items}
    if not isinstance(items, list):
        return set()
    return {str(i.get("column")) if isinstance(i, Mapping) else str(i) for i in items}


SCHEMA_FINDINGS = {"sas_only": "column only in SAS", "python_only": "column only in Python",
                   "type_conflicts": "type conflict", "python_longer_than_sas_length":
                   "Python strings SAS could not hold (longer than the SAS length, or characters its encoding lacks)"}


def _check_findings(job: str, ds: str, bc: CheckResult, hc: CheckResult) -> list[Change]:
    """Compare what a check found, beyond its status: new findings in an already failing check are worse."""
    out: list[Change] = []
    # the JSON of both reports' details, not their types: a baseline may be an older report of another shape
    b, h = bc.details.to_dict(), hc.details.to_dict()

    def add(change: tuple[ChangeKind, str] | None, base: Any = None, head: Any = None) -> None:
        if change is not None:
            out.append(Change(change[0], job, ds, hc.name, None, change[1], base, head))

    if hc.name == "schema":
        for field, label in SCHEMA_FINDINGS.items():
            bs, hs = _names(b, field), _names(h, field)
            for name in sorted(hs - bs, key=str.casefold):
                add(("worse", f"new finding: {label}: {name}"), None, name)
            for name in sorted(bs - hs, key=str.casefold):
                add(("better", f"resolved: {label}: {name}"), name, None)
    elif hc.name in ("contract", "quality"):
        out.extend(_rule_changes(job, ds, hc.name, b, h))
    elif hc.name == "row_count":
        bd, hd = b.get("difference"), h.get("difference")
        if isinstance(bd, int) and isinstance(hd, int) and bd != hd:
            add(("worse" if abs(hd) >= abs(bd) else "better", f"row count difference {bd:+,} -> {hd:+,}"), bd, hd)
    elif hc.name == "key_match":
        for field, label in (("only_in_sas", "rows only in SAS"), ("only_in_python", "rows only in Python")):
            b_n, h_n = _int(b.get(field)), _int(h.get(field))
            add(_set_change(label, b_n, h_n, b.get(f"{field}_keys"), h.get(f"{field}_keys")), b_n, h_n)
    elif hc.name == "key_uniqueness":
        for side in ("sas", "python"):
            b_side, h_side = _mapping(b.get(side)), _mapping(h.get(side))
            b_n, h_n = _int(b_side.get("rows")), _int(h_side.get("rows"))
            add(_set_change(f"{'SAS' if side == 'sas' else 'Python'} rows with duplicate keys", b_n, h_n,
                            b_side.get("key_set"), h_side.get("key_set")), b_n, h_n)
    elif hc.name == "sort_order":  # the sort_by violations; rows in another order without sort_by are information
        b_o, h_o = b.get("python"), h.get("python")
        count, first = "violations", "first_row"
        if isinstance(b_o, Mapping) and isinstance(h_o, Mapping) and count in h_o:
            b_n, h_n = _int(b_o.get(count)), _int(h_o.get(count))
            bf, hf = b_o.get(first), h_o.get(first)
            earlier = isinstance(hf, int) and isinstance(bf, int) and hf < bf  # a new first out-of-order row
            if h_n > b_n or (h_n and b_n and hf != bf and (h_n == b_n or earlier)):
                add(("worse", f"out-of-order rows {b_n:,} -> {h_n:,} (first at {bf} -> {hf})"), b_n, h_n)
            elif h_n < b_n:
                add(("better", f"out-of-order rows {b_n:,} -> {h_n:,}"), b_n, h_n)
    return out


#: rules of a whole table (every row breaks them together): compared by what they measure, not by rows
TABLE_LEVEL_RULES = ("present", "extra_columns", "distinct")


def _table_level_measure(rule: Mapping[str, Any]) -> tuple[int, str]:
    """How badly a table-level rule is broken, and that as text: extra columns by count, a distinct count by its
    distance outside the bounds."""
    if rule.get("kind") == "extra_columns":
        cols = [str(c) for c in rule.get("columns") or []]
        return len(cols), f"extra columns {', '.join(cols) or 'none'}"
    if rule.get("kind") == "distinct":
        n, lo, hi = _int(rule.get("distinct")), rule.get("min"), rule.get("max")
        off = max(_int(lo) - n if isinstance(lo, int) else 0, n - _int(hi) if isinstance(hi, int) else 0, 0)
        return off, f"{n:,} distinct values ({off:,} outside the bounds)"
    return 0, str(rule.get("missing") or rule.get("status"))


def _rule_changes(job: str, ds: str, check: str, b: Mapping[str, Any], h: Mapping[str, Any]) -> list[Change]:
    """Rule by rule (contract and quality checks): a rule that newly fails or warns, or has more failing rows, is
    worse; one that no longer fails, or has fewer failing rows, is better."""
    def rules(d: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        items = d.get("rules")
        return {str(r.get("name")): r for r in items if isinstance(r, Mapping)} if isinstance(items, list) else {}

    b_rules, h_rules = rules(b), rules(h)
    out: list[Change] = []
    for name, hr in h_rules.items():
        br = b_rules.get(name)
        hs, hn = str(hr.get("status")), _int(hr.get("failing_rows"))
        if br is None:
            if hs != "pass":
                out.append(Change("worse", job, ds, check, None, f"rule {name} {hs}s ({hn:,} failing rows), new "
                                  "since the baseline", None, hn))
            continue
        bs, bn = str(br.get("status")), _int(br.get("failing_rows"))
        rb, rh = STATUS_RANK.get(bs, 0), STATUS_RANK.get(hs, 0)
        if rb == rh and (hr.get("kind") in TABLE_LEVEL_RULES or hr.get("missing") or br.get("missing")):
            # a table-level rule breaks on every row: more rows is a larger table, not a worse rule
            bm, hm = _table_level_measure(br), _table_level_measure(hr)
            b_cols, h_cols = set(br.get("columns") or []), set(hr.get("columns") or [])
            if hr.get("kind") == "extra_columns" and b_cols != h_cols and rh > 0:  # a new extra column is worse
                bm, hm = (0, bm[1]), (1 if h_cols - b_cols else -1, hm[1])
            if bm != hm and rh > 0:
                kind: ChangeKind = "worse" if hm[0] > bm[0] else "better"
                out.append(Change(kind, job, ds, check, None, f"rule {name} ({hs}): {bm[1]} -> {hm[1]}", bm[0],
                                  hm[0]))
            continue
        what = f"rule {name}: {bs} -> {hs}, failing rows {bn:,} -> {hn:,}"
        if rh > rb or (rh == rb and rh > 0 and hn > bn):
            out.append(Change("worse", job, ds, check, None, what, bn, hn))
        elif rh < rb or (rh == rb and hn < bn):
            out.append(Change("better", job, ds, check, None, what, bn, hn))
    for name, br in b_rules.items():
        if name not in h_rules and br.get("status") != "pass":
            out.append(Change("better", job, ds, check, None, f"rule {name} ({br.get('status')} in the baseline) "
                              "no longer reported", _int(br.get("failing_rows")), None))
    return out


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None if value is None else float("inf") if str(value) in ("inf", "nan") else None
    return float(value)


def _counts_text(col: ColumnResult) -> str:
    return f"{col.mismatches:,} ({col.waived or 0:,} waived, {unwaived(col):,} not)"


def _column_changes(job: str, ds: str, bcol: ColumnResult | None, hcol: ColumnResult | None) -> list[Change]:
    if hcol is None:
        assert bcol is not None
        name = bcol.name
        if bcol.status == "compared":
            return [Change("worse", job, ds, None, name, "compared column no longer in the report", "compared", None)]
        return []
    name = hcol.name
    if hcol.status != "compared":
        if bcol is None or bcol.status != "compared":
            return []
        if hcol.status in ("ignored", "key"):
            return [Change("relaxed", job, ds, None, name, f"{RELAXED}: column no longer compared (now "
                           f"{hcol.status}; was compared with {bcol.mismatches:,} mismatches)", "compared",
                           hcol.status)]
        return [Change("worse", job, ds, None, name, f"column no longer compared: compared -> {hcol.status} (was "
                       f"compared with {bcol.mismatches:,} mismatches)", "compared", hcol.status)]
    if bcol is None or bcol.status != "compared":
        if hcol.mismatches:
            return [Change("worse", job, ds, None, name, f"newly compared column with {_counts_text(hcol)} "
                           "mismatches", None, hcol.mismatches)]
        return [Change("better", job, ds, None, name, f"now compared ({bcol.status if bcol else 'absent'} -> "
                       "compared), no mismatches", bcol.status if bcol else None, "compared")]
    out: list[Change] = []
    if (bcol.python_name or "").casefold() != (hcol.python_name or "").casefold():
        out.append(Change("relaxed", job, ds, None, name, f"{RELAXED}: now compared with Python column "
                          f"{hcol.python_name!r} (was {bcol.python_name!r})", bcol.python_name, hcol.python_name))
    b_un, h_un = unwaived(bcol), unwaived(hcol)
    counts = f"mismatches {_counts_text(bcol)} -> {_counts_text(hcol)}"
    if hcol.mismatches > bcol.mismatches or h_un > b_un:
        out.append(Change("worse", job, ds, None, name, counts, bcol.mismatches, hcol.mismatches))
    elif hcol.mismatches < bcol.mismatches:
        out.append(Change("better", job, ds, None, name, counts, bcol.mismatches, hcol.mismatches))
    elif h_un < b_un:
        out.append(Change("relaxed", job, ds, None, name, f"{RELAXED}: more mismatches waived: {counts}",
                          bcol.mismatches, hcol.mismatches))
    if hcol.mismatches and not hcol.mismatches > bcol.mismatches:
        fresh = new_keys(bcol.mismatch_keys, hcol.mismatch_keys, bcol.mismatches, hcol.mismatches)
        if fresh is None or fresh:
            what = (f"{fresh:,} mismatching key(s) that did not mismatch in the baseline" if fresh else
                    "the mismatching keys changed (too many to tell whether new ones appeared: counted as worse)")
            out.append(Change("worse", job, ds, None, name, f"{what} ({counts})", bcol.mismatches, hcol.mismatches))
    if hcol.mismatches:
        for field, label in (("max_abs_diff", "max abs diff"), ("max_rel_diff", "max rel diff")):
            bv, hv = _num(getattr(bcol, field)), _num(getattr(hcol, field))
            if hv is not None and (bv is None or hv > bv):
                out.append(Change("worse", job, ds, None, name, f"{label} {'-' if bv is None else f'{bv:g}'} -> {hv:g} "
                                  f"({counts})", bv, hv))
    return out


def _dataset_changes(job: str, bd: DatasetResult, hd: DatasetResult, b_rules: Mapping[str, Any] | None,
                     h_rules: Mapping[str, Any] | None) -> list[Change]:
    name = hd.name
    changes: list[Change] = []
    b_sha, h_sha = bd.sas.get("sha256"), hd.sas.get("sha256")
    if b_sha and h_sha and b_sha != h_sha:
        changes.append(Change("relaxed", job, name, None, None, f"{RELAXED}: the SAS reference file changed "
                              f"(sha256 {str(b_sha)[:12]}... -> {str(h_sha)[:12]}...)", b_sha, h_sha))
    b_checks = {c.name: c for c in bd.checks}
    h_names = {c.name for c in hd.checks}
    for hc in hd.checks:
        bc = b_checks.get(hc.name)
        if bc is None:
            changes.append(Change(_worse_if_failing("new", hc.status), job, name, hc.name, None,
                                  f"new check ({hc.status}): {hc.summary}", None, hc.status))
            continue
        change = _check_status_change(job, name, bc, hc, b_rules, h_rules)
        if change is not None:
            changes.append(change)
        changes.extend(_check_findings(job, name, bc, hc))
    for bc in bd.checks:
        if bc.name not in h_names:
            kind: ChangeKind = "better" if bc.status == "error" else "worse"
            changes.append(Change(kind, job, name, bc.name, None, f"check no longer reported (was {bc.status})",
                                  bc.status, None))
    b_cols = {c.name.casefold(): c for c in bd.columns}
    h_cols = {c.name.casefold(): c for c in hd.columns}
    for fold in [*h_cols, *(k for k in b_cols if k not in h_cols)]:
        if hd.error is None:
            changes.extend(_column_changes(job, name, b_cols.get(fold), h_cols.get(fold)))
    return changes


def diff_job(base: JobResult | None, head: JobResult | None) -> list[Change]:
    if head is None and base is not None:
        return [Change("removed", base.job, None, None, None, f"{RELAXED}: job no longer reported", base.verdict,
                       None)]
    assert head is not None
    if base is None:
        return [Change(_worse_if_failing("new", head.verdict), head.job, None, None, None,
                       f"new job ({head.verdict})", None, head.verdict)]
    job = head.job
    b_rules_all = _rules(base)
    h_rules_all = _rules(head)
    changes = spec_relaxations(job, b_rules_all, h_rules_all, head)
    changes += _capture_change(job, base, head)
    base_ds = {d.name: d for d in base.datasets}
    head_ds = {d.name: d for d in head.datasets}
    for name in sorted(base_ds.keys() - head_ds.keys()):
        if name in b_rules_all and h_rules_all and name not in h_rules_all:
            continue  # removed from the spec: a relaxation (above), approved with --accept-relaxed
        changes.append(Change("worse", job, name, None, None, "dataset no longer compared",
                              base_ds[name].verdict, None))
    for name, hd in head_ds.items():
        bd = base_ds.get(name)
        if bd is None:
            changes.append(Change(_worse_if_failing("new", hd.verdict), job, name, None, None,
                                  f"new dataset ({hd.verdict})", None, hd.verdict))
            continue
        changes.extend(_under_relaxed_rules(changes, _dataset_changes(job, bd, hd, b_rules_all.get(name),
                                                                      h_rules_all.get(name))))
    return changes


NO_LONGER_RUNS = "check no longer runs"


def _capture_change(job: str, base: JobResult, head: JobResult) -> list[Change]:
    """A SAS capture that became stale warns the job (parity.model.job_verdict_of): worse, as any new warning of
    something the baseline had; one no longer stale is better."""
    b, h = capture_warnings(base.run), capture_warnings(head.run)
    if h and not b:
        return [Change("worse", job, None, None, None, f"stale capture, not in the baseline: {h[0]}", None, len(h))]
    if b and not h:
        return [Change("better", job, None, None, None, "the SAS capture is no longer stale", len(b), None)]
    return []


def _under_relaxed_rules(spec_changes: list[Change], changes: list[Change]) -> list[Change]:
    """In a dataset whose spec was relaxed, what got better (or stopped running) may be the relaxation's doing:
    it is relaxed too, so that it needs the same approval and is never reported as an improvement."""
    if not changes or not any(c.kind == "relaxed" and c.dataset == changes[0].dataset for c in spec_changes):
        return changes
    out = []
    for c in changes:
        if c.kind == "better" or (c.kind == "worse" and c.what.startswith(NO_LONGER_RUNS)):
            c = Change("relaxed", c.job, c.dataset, c.check, c.column, f"{RELAXED}: under the relaxed rules: {c.what}",
                       c.base, c.head)
        out.append(c)
    return out


def _rules(result: JobResult) -> dict[str, Mapping[str, Any]]:
    rules = result.spec.get("rules") if isinstance(result.spec, Mapping) else None
    datasets = rules.get("datasets") if isinstance(rules, Mapping) else None
    return {str(k): v for k, v in datasets.items() if isinstance(v, Mapping)} if isinstance(datasets, Mapping) else {}


# --------------------------------------------------------------------------------------------------------------
# relaxed specs: rules that make a comparison pass more easily need an explicit approval


def _looser_tolerance(b: Mapping[str, Any], h: Mapping[str, Any]) -> bool:
    bm, hm = b.get("method", "exact"), h.get("method", "exact")
    if hm == "exact":
        return False
    if bm != hm:
        return True  # exact -> a tolerance, or one method for another: not comparable, so it needs approval
    return float(h.get("criterion") or 0) > float(b.get("criterion") or 0) or \
        float(h.get("delta") or 0) > float(b.get("delta") or 0)


def _tol_text(t: Mapping[str, Any]) -> str:
    if t.get("method") == "exact":
        return "exact"
    text = f"{t.get('method')} {float(t.get('criterion') or 0):g}"
    return text + (f", delta {float(t['delta']):g}" if t.get("delta") else "")


#: rule -> (check it relaxes, order from strict to loose)
LOOSENING: dict[tuple[str, str], tuple[str, tuple[Any, ...]]] = {
    ("strings", "strip"): ("string_equality", ("none", "trailing", "both")),
    ("strings", "ignore_case"): ("string_equality", (False, True)),
    ("strings", "blank_is_missing"): ("string_equality", (False, True)),
    ("numbers", "special_missing"): ("numeric_tolerance", ("strict", "as_missing")),
    ("numbers", "storage"): ("numeric_tolerance", ("exact", "truncate")),
    ("numbers", "nomissing"): ("numeric_tolerance", (False, True)),
    ("dates", "datetime_precision"): ("date_equivalence", ("us", "ms", "s")),
}


def _waiver_covers(b: Mapping[str, Any], h: Mapping[str, Any]) -> bool:
    """Does base waiver ``b`` accept at least everything head waiver ``h`` accepts?"""
    if (b.get("column"), b.get("check")) != (h.get("column"), h.get("check")):
        return False
    if str(h.get("expires")) > str(b.get("expires")):
        return False
    b_keys, h_keys = b.get("keys") or [], h.get("keys") or []
    if b_keys and (not h_keys or any(k not in b_keys for k in h_keys)):
        return False
    b_max, h_max = _num(b.get("max_abs_diff")), _num(h.get("max_abs_diff"))
    return b_max is None or (h_max is not None and h_max <= b_max)


#: the spec's default tolerances and the check of the columns they apply to
DEFAULT_TOLERANCES = {"default": "numeric_tolerance", "default_date": "date_equivalence",
                      "default_datetime": "date_equivalence", "default_time": "date_equivalence"}
KIND_DEFAULT = {"date": "default_date", "datetime": "default_datetime", "time": "default_time"}


def dataset_relaxations(job: str, name: str, b: Mapping[str, Any], h: Mapping[str, Any],
                        column_name: Mapping[str, str] | None = None,
                        kinds: Mapping[str, str] | None = None) -> list[Change]:
    """The rules of dataset ``name`` that ``h`` relaxes against ``b`` (both normalised: parity.spec.dataset_rules)."""
    out: list[Change] = []
    names = column_name or {}

    def add(check: str | None, column: str | None, what: str, base: Any, head: Any) -> None:
        col = names.get(column, column) if column else None
        out.append(Change("relaxed", job, name, check, col, f"{RELAXED}: {what}", base, head))

    if b.get("sas") != h.get("sas"):
        add(None, None, f"the SAS reference is another file: {b.get('sas')} -> {h.get('sas')}", b.get("sas"),
            h.get("sas"))
    # how the SAS reference is read: another encoding or format override can make differing values equal
    if b.get("encoding") != h.get("encoding"):
        add(None, None, f"the SAS file is read with another encoding: {b.get('encoding') or 'its own'} -> "
            f"{h.get('encoding') or 'its own'}", b.get("encoding"), h.get("encoding"))
    b_fmt, h_fmt = dict(b.get("formats") or {}), dict(h.get("formats") or {})
    for col in sorted(set(b_fmt) | set(h_fmt)):
        if b_fmt.get(col) != h_fmt.get(col):
            add(None, col, f"format override of {names.get(col, col)} changed: {b_fmt.get(col) or 'none'} -> "
                f"{h_fmt.get(col) or 'none'}", b_fmt.get(col), h_fmt.get(col))
    if list(b.get("keys") or []) != list(h.get("keys") or []):
        add("key_match", None, f"keys changed: {b.get('keys')} -> {h.get('keys')}", b.get("keys"), h.get("keys"))
    b_sort, h_sort = list(b.get("sort_by") or []), list(h.get("sort_by") or [])
    if h_sort[:len(b_sort)] != b_sort:
        add("sort_order", None, f"sort_by loosened: {b_sort} -> {h_sort}", b_sort, h_sort)
    for col in sorted(set(h.get("ignore") or []) - set(b.get("ignore") or [])):
        add(None, col, f"column {names.get(col, col)} now ignored", None, "ignored")
    b_tol, h_tol = dict(b.get("tolerance") or {}), dict(h.get("tolerance") or {})
    exact: dict[str, Any] = {"method": "exact"}
    for col in sorted(set(b_tol) | set(h_tol)):
        # a column without its own tolerance has its kind's default (default: numbers; default_date, ...)
        default = col if col in DEFAULT_TOLERANCES else KIND_DEFAULT.get((kinds or {}).get(col, ""), "default")
        bt: Mapping[str, Any] = b_tol.get(col, b_tol.get(default, exact))
        ht: Mapping[str, Any] = h_tol.get(col, h_tol.get(default, exact))
        if _looser_tolerance(bt, ht):
            is_default = col in DEFAULT_TOLERANCES
            label = f"{col} tolerance" if is_default else f"tolerance for {names.get(col, col)}"
            add(DEFAULT_TOLERANCES[col] if is_default else None, None if is_default else col,
                f"{label} widened: {_tol_text(bt)} -> {_tol_text(ht)}", bt, ht)
    b_sev, h_sev = dict(b.get("severity") or {}), dict(h.get("severity") or {})
    for check in sorted(set(b_sev) | set(h_sev)):
        bs, hs = str(b_sev.get(check, "fail")), str(h_sev.get(check, "fail"))
        if SEVERITY_RANK.get(hs, 2) < SEVERITY_RANK.get(bs, 2):
            add(check, None, f"severity of {check} lowered: {bs} -> {hs}", bs, hs)
    for (table, key), (check, order) in LOOSENING.items():
        bv, hv = (b.get(table) or {}).get(key), (h.get(table) or {}).get(key)
        if bv in order and hv in order and order.index(hv) > order.index(bv):
            add(check, None, f"{table}.{key} loosened: {bv} -> {hv}", bv, hv)
    for check, what, base, head in rule_relaxations(b, h):
        add(check, None, what, base, head)
    b_w = [w for w in b.get("waivers") or [] if isinstance(w, Mapping)]
    for w in (w for w in h.get("waivers") or [] if isinstance(w, Mapping)):
        if any(_waiver_covers(bw, w) for bw in b_w):
            continue
        same = any((bw.get("column"), bw.get("check")) == (w.get("column"), w.get("check")) for bw in b_w)
        target = f"column {names.get(w['column'], w['column'])}" if w.get("column") else f"check {w.get('check')}"
        add(w.get("check"), w.get("column"), f"waiver {'extended' if same else 'added'} for {target} (approved by "
            f"{w.get('approver')}, expires {w.get('expires')}): {w.get('reason')}", None, dict(w))
    return out


#: extra_columns from strict to loose
EXTRA_COLUMNS = ("fail", "warn", "allow")


def rule_relaxations(b: Mapping[str, Any], h: Mapping[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """(check, what, base, head) for every contract or DQ rule the head spec drops or loosens.  A changed SQL rule,
    lookup or distinct bound cannot be ranked, so any change of one needs approval too."""
    out: list[tuple[str, str, Any, Any]] = []
    bc, hc = b.get("contract"), h.get("contract")
    if isinstance(bc, Mapping):
        if not isinstance(hc, Mapping):
            out.append(("contract", "the data contract was removed", dict(bc), None))
        else:
            b_cols, h_cols = _mapping(bc.get("columns")), _mapping(hc.get("columns"))
            for col, bcol in b_cols.items():
                bm, hm = _mapping(bcol), _mapping(h_cols.get(col))
                if not hm:
                    out.append(("contract", f"contract column {col} removed", dict(bm), None))
                    continue
                if bm.get("type") is not None and hm.get("type") != bm.get("type"):
                    out.append(("contract", f"contract type of {col} changed: {bm.get('type')} -> {hm.get('type')}",
                                bm.get("type"), hm.get("type")))
                bl, hl = bm.get("max_length"), hm.get("max_length")
                if isinstance(bl, int) and (not isinstance(hl, int) or hl > bl):
                    out.append(("contract", f"max_length of {col} loosened: {bl} -> {hl}", bl, hl))
                if bm.get("nullable") is False and hm.get("nullable") is not False:
                    out.append(("contract", f"{col} may now be missing (nullable false -> true)", False, True))
            bu, hu = list(bc.get("unique") or []), list(hc.get("unique") or [])
            if bu and bu != hu:
                out.append(("contract", f"contract unique changed: {bu} -> {hu}", bu, hu))
            be, he = bc.get("extra_columns"), hc.get("extra_columns")
            if be in EXTRA_COLUMNS and he in EXTRA_COLUMNS and EXTRA_COLUMNS.index(he) > EXTRA_COLUMNS.index(be):
                out.append(("contract", f"contract extra_columns loosened: {be} -> {he}", be, he))
    h_quality = {str(q.get("name")): q for q in h.get("quality") or [] if isinstance(q, Mapping)}
    for bq in (q for q in b.get("quality") or [] if isinstance(q, Mapping)):
        name = str(bq.get("name"))
        hq = h_quality.get(name)
        if hq is None:
            out.append(("quality", f"DQ rule {name} removed", dict(bq), None))
        elif bq.get("severity") == "critical" and hq.get("severity") != "critical":
            out.append(("quality", f"DQ rule {name} lowered from critical to {hq.get('severity')}", "critical",
                        hq.get("severity")))
        elif {k: v for k, v in bq.items() if k != "severity"} != {k: v for k, v in hq.items() if k != "severity"}:
            out.append(("quality", f"DQ rule {name} changed", dict(bq), dict(hq)))
    return out


def spec_relaxations(job: str, base: Mapping[str, Mapping[str, Any]], head: Mapping[str, Mapping[str, Any]],
                     head_result: JobResult | None = None) -> list[Change]:
    """Everything the head spec relaxes against the base spec (both ``spec.rules.datasets`` of a report)."""
    out: list[Change] = []
    if not base or not head:
        return out
    for name in sorted(base.keys() - head.keys()):
        out.append(Change("relaxed", job, name, None, None, f"{RELAXED}: dataset removed from the spec", name, None))
    for name in sorted(base.keys() & head.keys()):
        ds = next((d for d in head_result.datasets if d.name == name), None) if head_result else None
        names = {c.name.casefold(): c.name for c in ds.columns} if ds else {}
        kinds = {c.name.casefold(): c.kind for c in ds.columns} if ds else {}
        out.extend(dataset_relaxations(job, name, base[name], head[name], names, kinds))
    return out


def diff_reports(base: Mapping[str, JobResult], head: Mapping[str, JobResult],
                 only_head_jobs: bool = False) -> list[Change]:
    """All changes, job by job; with ``only_head_jobs`` jobs absent from ``head`` are not 'removed'."""
    names = sorted(set(head) | (set() if only_head_jobs else set(base)))
    changes: list[Change] = []
    for name in names:
        changes.extend(diff_job(base.get(name), head.get(name)))
    return changes


def counts(changes: Iterable[Change]) -> dict[str, int]:
    out = {"worse": 0, "better": 0, "new": 0, "removed": 0, "relaxed": 0}
    for c in changes:
        out[c.kind] = out.get(c.kind, 0) + 1
    return out


def gate_fails(changes: Iterable[Change], accept_relaxed: bool = False) -> bool:
    """Does the CI gate fail? On anything worse, and on relaxed rules or removed jobs unless accepted."""
    n = counts(changes)
    return bool(n["worse"] or (not accept_relaxed and (n["relaxed"] or n["removed"])))


def delta_dict(changes: list[Change], baseline: str, accept_relaxed: bool = False) -> dict[str, Any]:
    ordered = sort_changes(changes)
    return {"baseline": baseline, **counts(ordered), "accept_relaxed": accept_relaxed,
            "gate": "fail" if gate_fails(ordered, accept_relaxed) else "pass",
            "changes": [c.to_dict() for c in ordered]}


def delta_changes(delta: Mapping[str, Any] | None) -> list[Change]:
    if not isinstance(delta, Mapping):
        return []
    return [Change.from_dict(c) for c in delta.get("changes") or [] if isinstance(c, Mapping)]


def delta_fails(delta: Mapping[str, Any] | None) -> bool:
    """Does a report's stored delta fail the gate (as decided when it was made)?"""
    if not isinstance(delta, Mapping):
        return False
    if "gate" in delta:
        return bool(delta["gate"] == "fail")
    return gate_fails(delta_changes(delta), bool(delta.get("accept_relaxed")))


def gating_changes(delta: Mapping[str, Any] | None, result: JobResult, ds: DatasetResult, check: str,
                   failing: bool) -> list[Change]:
    """The changes of a stored delta that fail one dataset's check (a pytest item): worse ones, and relaxed or
    removed ones unless accepted.  A column's change belongs to its kind's check, a change of a dataset that is
    gone (or of a column that is gone) to the schema check, a dataset-wide change to the schema check (and to a
    failing check)."""
    accept = bool((delta or {}).get("accept_relaxed"))
    datasets = {d.name for d in result.datasets}
    kinds = {c.name: c.kind for c in ds.columns}
    out = []
    for c in delta_changes(delta):
        # better and new never fail; a kind this parity does not know (a newer report) does
        if (c.kind in CHANGE_ORDER and c.kind not in GATING_CHANGES) or (accept and c.kind in NEEDS_APPROVAL):
            continue
        if c.dataset is not None and c.dataset != ds.name:
            if c.dataset not in datasets and check == "schema":
                out.append(c)
            continue
        if c.check is not None:
            hit = c.check == check
        elif c.column is not None:
            kind = kinds.get(c.column)
            hit = kind in CHECK_KINDS.get(check, ()) if kind is not None else check == "schema"
        else:
            hit = check == "schema" or failing
        if hit:
            out.append(c)
    return out


def sort_changes(changes: Iterable[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: (change_order(c.kind), c.where, c.what))


def tally(n: Mapping[str, Any]) -> str:
    """``2 worse, 1 relaxed (needs approval), 0 better, 0 new, 0 removed``: the one wording of the counts."""
    relaxed = f"{n.get('relaxed', 0)} relaxed" + (" (accepted)" if n.get("accept_relaxed") else
                                                   " (needs approval)" if n.get("relaxed") else "")
    return f"{n.get('worse', 0)} worse, {relaxed}, {n.get('better', 0)} better, {n.get('new', 0)} new, " \
           f"{n.get('removed', 0)} removed"


def markdown(changes: list[Change], base_label: str = "baseline", head_label: str = "this run",
             accept_relaxed: bool = False) -> str:
    from parity.report.markdown import md_code, md_text

    n: dict[str, Any] = {**counts(changes), "accept_relaxed": accept_relaxed}
    if n["worse"]:
        verdict = "**parity got worse**"
    elif gate_fails(changes, accept_relaxed):
        verdict = "**the spec was relaxed: needs approval** (`--accept-relaxed`)"
    else:
        verdict = "no parity regressions"
    lines = [f"### parity delta: {verdict}", "",
             f"{md_code(base_label)} -> {md_code(head_label)}: {md_text(tally(n))}", ""]
    if changes:
        lines += ["| change | where | what |", "| --- | --- | --- |"]
        for c in sort_changes(changes):
            lines.append(f"| {md_text(c.kind)} | {md_code(c.where)} | {md_text(c.what)} |")
    return "\n".join(lines) + "\n"
