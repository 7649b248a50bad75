"""Parity deltas: what got worse, better or is new between a baseline report and a new one.

CI gates on these: a pull request fails when parity gets worse than the accepted baseline, not merely because a
known difference is still there.  Works on the frozen result model only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from parity.errors import ReportError
from parity.model import JobResult

ChangeKind = Literal["worse", "better", "new", "removed"]
#: how bad a check status is; a rise is a regression
RANK = {"pass": 0, "skipped": 0, "waived": 1, "warn": 1, "fail": 2, "error": 3}
ROW_FIELDS = ("only_in_sas", "only_in_python")


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
        return "/".join(p for p in (self.job, self.dataset, self.check, self.column) if p)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "job": self.job, "dataset": self.dataset, "check": self.check,
                "column": self.column, "what": self.what, "base": self.base, "head": self.head}


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


def _worse_if_failing(kind: ChangeKind, status: str) -> ChangeKind:
    return "worse" if RANK.get(status, 2) >= RANK["fail"] else kind


def diff_job(base: JobResult | None, head: JobResult | None) -> list[Change]:
    if head is None and base is not None:
        return [Change("removed", base.job, None, None, None, "job no longer reported", base.verdict, None)]
    assert head is not None
    if base is None:
        return [Change(_worse_if_failing("new", head.verdict), head.job, None, None, None,
                       f"new job ({head.verdict})", None, head.verdict)]
    changes: list[Change] = []
    job = head.job
    base_ds = {d.name: d for d in base.datasets}
    head_ds = {d.name: d for d in head.datasets}
    for name in sorted(base_ds.keys() - head_ds.keys()):
        changes.append(Change("worse", job, name, None, None, "dataset no longer compared",
                              base_ds[name].verdict, None))
    for name, hd in head_ds.items():
        bd = base_ds.get(name)
        if bd is None:
            changes.append(Change(_worse_if_failing("new", hd.verdict), job, name, None, None,
                                  f"new dataset ({hd.verdict})", None, hd.verdict))
            continue
        b_checks = {c.name: c for c in bd.checks}
        for hc in hd.checks:
            bc = b_checks.get(hc.name)
            if bc is None:
                changes.append(Change(_worse_if_failing("new", hc.status), job, name, hc.name, None,
                                      f"new check ({hc.status}): {hc.summary}", None, hc.status))
                continue
            rb, rh = RANK.get(bc.status, 2), RANK.get(hc.status, 2)
            if rh != rb:
                changes.append(Change("worse" if rh > rb else "better", job, name, hc.name, None,
                                      f"{bc.status} -> {hc.status}: {hc.summary}", bc.status, hc.status))
        for field in ROW_FIELDS:
            b, h = bd.rows.get(field) or 0, hd.rows.get(field) or 0
            if b != h:
                changes.append(Change("worse" if h > b else "better", job, name, "key_match", None,
                                      f"rows {field.replace('_', ' ')}: {b:,} -> {h:,}", b, h))
        for side in ("sas", "python"):
            b, h = bd.duplicates[side].get("rows") or 0, hd.duplicates[side].get("rows") or 0
            if b != h:
                changes.append(Change("worse" if h > b else "better", job, name, "key_uniqueness", None,
                                      f"{side} rows with duplicate keys: {b:,} -> {h:,}", b, h))
        b_cols = {c.name.casefold(): c for c in bd.columns}
        for hcol in hd.columns:
            bcol = b_cols.get(hcol.name.casefold())
            if hcol.status != "compared":
                continue
            if bcol is None or bcol.status != "compared":
                if hcol.mismatches:
                    changes.append(Change("worse", job, name, None, hcol.name,
                                          f"newly compared column with {hcol.mismatches:,} mismatches", None,
                                          hcol.mismatches))
                continue
            b_un, h_un = _unwaived(bcol), _unwaived(hcol)
            if b_un != h_un:
                changes.append(Change("worse" if h_un > b_un else "better", job, name, None, hcol.name,
                                      f"mismatches {b_un:,} -> {h_un:,}", b_un, h_un))
    return changes


def _unwaived(col: Any) -> int:
    return int(col.mismatches) - int(getattr(col, "waived", 0) or 0)


def diff_reports(base: Mapping[str, JobResult], head: Mapping[str, JobResult],
                 only_head_jobs: bool = False) -> list[Change]:
    """All changes, job by job; with ``only_head_jobs`` jobs absent from ``head`` are not 'removed'."""
    names = sorted(set(head) | (set() if only_head_jobs else set(base)))
    changes: list[Change] = []
    for name in names:
        changes.extend(diff_job(base.get(name), head.get(name)))
    return changes


def counts(changes: Iterable[Change]) -> dict[str, int]:
    out = {"worse": 0, "better": 0, "new": 0, "removed": 0}
    for c in changes:
        out[c.kind] += 1
    return out


def delta_dict(changes: list[Change], baseline: str) -> dict[str, Any]:
    return {"baseline": baseline, **counts(changes), "changes": [c.to_dict() for c in changes]}


def markdown(changes: list[Change], base_label: str = "baseline", head_label: str = "this run") -> str:
    n = counts(changes)
    verdict = "**parity got worse**" if n["worse"] else "no parity regressions"
    lines = [f"### parity delta: {verdict}", "",
             f"{base_label} -> {head_label}: {n['worse']} worse, {n['better']} better, {n['new']} new, "
             f"{n['removed']} removed", ""]
    if changes:
        lines += ["| change | where | what |", "| --- | --- | --- |"]
        order = {"worse": 0, "removed": 1, "new": 2, "better": 3}
        for c in sorted(changes, key=lambda c: (order[c.kind], c.where)):
            what = c.what.replace("|", "\\|")
            lines.append(f"| {c.kind} | `{c.where}` | {what} |")
    return "\n".join(lines) + "\n"
