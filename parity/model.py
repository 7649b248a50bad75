"""The frozen result model.  JSON, HTML and terminal output all render from these objects and nothing else.

``to_dict`` gives the JSON shape documented in ``docs/report-schema.json``; ``from_dict`` reads it back (for
``parity render`` and baselines).  Everything here is plain data: no polars, no pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 2  # 2: spec.rules, columns' mismatch_keys, key sets in key_match/key_uniqueness

Status = Literal["pass", "fail", "warn", "waived", "error", "skipped"]
Verdict = Literal["pass", "fail", "error"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "warn", "waived", "error", "skipped")


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "summary": self.summary, "details": self.details}


@dataclass(frozen=True)
class ColumnResult:
    name: str  # the SAS name as the file spells it (the canonical name)
    sas_name: str | None
    python_name: str | None
    kind: str
    method: str | None
    criterion: float | None
    compared: int
    mismatches: int
    max_abs_diff: float | None
    max_rel_diff: float | None
    status: str  # compared | ignored | key | sas_only | python_only | type_conflict
    sas_type: dict[str, Any] | None = None
    python_type: str | None = None
    explanations: tuple[dict[str, Any], ...] = ()
    note: str | None = None
    waived: int = 0  # mismatches accepted by a waiver (still counted in mismatches, never hidden)
    mismatch_keys: dict[str, Any] | None = None  # the set of mismatching keys: parity.report.delta.key_set
    #: this column's unequal values: "first_by_key" (the first max_print by key) and, for numbers, dates and times,
    #: "largest" (up to max_print of the largest absolute differences not in first_by_key); cells as in top_diffs
    listing: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "sas_name": self.sas_name, "python_name": self.python_name, "kind": self.kind,
            "method": self.method, "criterion": self.criterion, "compared": self.compared,
            "mismatches": self.mismatches, "max_abs_diff": self.max_abs_diff, "max_rel_diff": self.max_rel_diff,
            "status": self.status, "sas_type": self.sas_type, "python_type": self.python_type,
            "explanations": list(self.explanations), "note": self.note, "waived": self.waived,
            "mismatch_keys": self.mismatch_keys,
            "listing": self.listing,
        }


@dataclass(frozen=True)
class DatasetResult:
    name: str
    verdict: Verdict
    sas: dict[str, Any]
    python: dict[str, Any]
    rows: dict[str, int | None]
    duplicates: dict[str, dict[str, int | None]]
    checks: tuple[CheckResult, ...]
    columns: tuple[ColumnResult, ...]
    top_diffs: dict[str, Any]
    keys: tuple[str, ...] = ()
    error: str | None = None
    duration_s: float | None = None

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "verdict": self.verdict, "error": self.error, "keys": list(self.keys),
            "sas": self.sas, "python": self.python, "rows": self.rows, "duplicates": self.duplicates,
            "checks": [c.to_dict() for c in self.checks], "columns": [c.to_dict() for c in self.columns],
            "top_diffs": self.top_diffs, "duration_s": self.duration_s,
        }


@dataclass(frozen=True)
class JobResult:
    job: str
    verdict: Verdict
    description: str
    spec: dict[str, Any]
    datasets: tuple[DatasetResult, ...]
    tool: dict[str, str]
    run: dict[str, Any]  # run-time fields: started_at, duration_s (excluded from determinism)
    error: str | None = None
    schema_version: int = SCHEMA_VERSION
    delta: dict[str, Any] | None = None  # changes against a baseline report, when one was given

    def to_dict(self) -> dict[str, Any]:
        out = {
            "schema_version": self.schema_version, "tool": self.tool, "job": self.job,
            "description": self.description, "verdict": self.verdict, "error": self.error, "spec": self.spec,
            "datasets": [d.to_dict() for d in self.datasets], "run": self.run,
        }
        if self.delta is not None:
            out["delta"] = self.delta
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> JobResult:
        datasets = tuple(
            DatasetResult(
                name=d["name"], verdict=d["verdict"], sas=d["sas"], python=d["python"], rows=d["rows"],
                duplicates=d["duplicates"], checks=tuple(CheckResult(**c) for c in d["checks"]),
                columns=tuple(
                    ColumnResult(**{**c, "explanations": tuple(c.get("explanations") or ())}) for c in d["columns"]
                ),
                top_diffs=d["top_diffs"], keys=tuple(d.get("keys") or ()), error=d.get("error"),
                duration_s=d.get("duration_s"),
            )
            for d in data["datasets"]
        )
        return JobResult(
            job=data["job"], verdict=data["verdict"], description=data.get("description", ""),
            spec=data.get("spec", {}), datasets=datasets, tool=data["tool"], run=data.get("run", {}),
            error=data.get("error"), schema_version=data["schema_version"], delta=data.get("delta"),
        )


def combine_verdicts(verdicts: list[Verdict]) -> Verdict:
    if "error" in verdicts:
        return "error"
    if "fail" in verdicts:
        return "fail"
    return "pass"
