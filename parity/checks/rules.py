"""What the ``contract`` and ``quality`` checks share: typed details (one row per rule), statuses and summaries.

The facts (failing rows, samples) come from the engine (:mod:`parity.engine.quality`); the checks turn them into
statuses.  The SAS output's facts are shown next to each rule for information and never change a status.  This
module imports no other check module (the checks import it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parity.checks.details import details_of
from parity.model import Details, Status

if TYPE_CHECKING:
    from parity.engine.quality import RuleFact

#: the constraints a contract rule can name (``<column>.<constraint>``, or ``unique`` / ``extra_columns``)
CONSTRAINTS = ("present", "type", "decimal", "max_length", "nullable", "unique", "extra_columns")
RULE_STATUSES = ("pass", "warn", "fail")
#: the summary of a contract or DQ rules that reached the checks without their facts (a caller that skipped
#: parity.engine.quality.evaluate_spec): an error, so that a declared rule never passes unjudged
NOT_EVALUATED = ("declared in the spec but not evaluated: the caller compared the dataset without "
                 "parity.engine.quality.evaluate_spec; this is a bug in the caller, please report it")


@dataclass(frozen=True)
class RuleRow:
    """One rule in a ``contract`` or ``quality`` check's details."""

    name: str
    kind: str  # the constraint (contract) or rule kind (quality: rule, lookup, distinct)
    status: str  # pass | warn | fail
    failing_rows: int
    judged_rows: int
    sample: tuple[dict[str, Any], ...]
    column: str | None = None
    severity: str | None = None  # quality rules: critical | warn
    definition: str | None = None  # quality rules: the rule as written
    detail: dict[str, Any] = field(default_factory=dict)
    sas: dict[str, Any] | None = None  # the SAS output's facts, for information

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "column": self.column, "status": self.status,
                               "failing_rows": self.failing_rows, "judged_rows": self.judged_rows,
                               "sample": list(self.sample)}
        if self.severity is not None:
            out["severity"] = self.severity
        if self.definition is not None:
            out["definition"] = self.definition
        out.update(self.detail)
        out["sas"] = self.sas
        return out

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> RuleRow:
        """A rule read back from a report: the keys of :meth:`to_dict`, the others are its ``detail``."""
        known = {"name", "kind", "column", "status", "failing_rows", "judged_rows", "sample", "severity",
                 "definition", "sas"}
        return RuleRow(data["name"], data["kind"], data["status"], data["failing_rows"], data["judged_rows"],
                       tuple(data["sample"]), data.get("column"), data.get("severity"), data.get("definition"),
                       {k: v for k, v in data.items() if k not in known}, data["sas"])


@details_of("contract", "quality")
@dataclass(frozen=True, eq=False)
class RulesDetails(Details):
    """A ``contract`` or ``quality`` check's details: every rule with its status."""

    rules: tuple[RuleRow, ...]
    python_types: str | None = None  # contract: "dtype" or "values" (how the Python output's types are judged)
    sas_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rules": [r.to_dict() for r in self.rules],
                               "failing": sum(r.status == "fail" for r in self.rules),
                               "warnings": sum(r.status == "warn" for r in self.rules)}
        if self.python_types is not None:
            out["python_types"] = self.python_types
        if self.sas_note:
            out["sas_note"] = self.sas_note
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RulesDetails:
        unknown = set(data) - {"rules", "failing", "warnings", "python_types", "sas_note"}
        if unknown:
            raise TypeError(f"RulesDetails: unknown {sorted(unknown)}")
        out = cls(tuple(RuleRow.from_dict(r) for r in data["rules"]), data.get("python_types"), data.get("sas_note"))
        if out.to_dict() != dict(data):  # counts that contradict the rules: keep the details as they are
            raise ValueError("RulesDetails: the counts do not match the rules")
        return out


def _side(fact: RuleFact | None, status: str) -> dict[str, Any] | None:
    if fact is None:
        return None
    out: dict[str, Any] = {"status": status, "failing_rows": fact.failing_rows}
    if fact.missing:
        out["missing"] = fact.missing
    return out


def _violated(fact: RuleFact) -> bool:
    return fact.failing_rows > 0 or fact.broken or fact.missing is not None


def _contract_status(fact: RuleFact) -> str:
    if not _violated(fact):
        return "pass"
    if fact.constraint == "extra_columns":
        return "warn" if fact.detail.get("setting") == "warn" else "fail"
    return "fail"


def _rows(n: int) -> str:
    return f"{n:,} row{'' if n == 1 else 's'}"


def _fact_text(row: RuleRow) -> str:
    if row.detail.get("missing"):
        return f"{row.name}: {row.detail['missing']}"
    if row.kind == "extra_columns":
        cols = row.detail.get("columns") or []
        return f"extra_columns: {', '.join(map(str, cols[:5]))}"
    if row.kind == "distinct":
        return f"{row.name}: {row.detail.get('distinct')} distinct values"
    if row.kind == "type" and not row.failing_rows:  # a column of another type with no value in it
        return f"{row.name}: the column is {row.detail.get('dtype')}, not {row.detail.get('expected')}"
    return f"{row.name}: {_rows(row.failing_rows)}"


def _status_of(rows: Sequence[RuleRow]) -> Status:
    if any(r.status == "fail" for r in rows):
        return "fail"
    return "warn" if any(r.status == "warn" for r in rows) else "pass"


def _summary(noun: str, rows: Sequence[RuleRow], status: Status, sas_rows: Sequence[dict[str, Any] | None]) -> str:
    bad = [r for r in rows if r.status != "pass"]
    if not bad:
        text = f"the Python output meets all {len(rows)} {noun}{'' if len(rows) == 1 else 's'}"
    else:
        worst = sorted(bad, key=lambda r: r.status != "fail")
        shown = "; ".join(_fact_text(r) for r in worst[:3])
        more = f"; {len(bad) - 3} more" if len(bad) > 3 else ""
        fails = sum(r.status == "fail" for r in rows)
        warns = len(bad) - fails
        counts = ", ".join(p for p in (f"{fails} failing" if fails else "", f"{warns} warning" if warns else "") if p)
        text = f"{counts} of {len(rows)} {noun}{'' if len(rows) == 1 else 's'} ({shown}{more})"
    sas_bad = sum(1 for s in sas_rows if s is not None and s["status"] != "pass")
    if sas_rows:
        text += (f"; the SAS output breaks {sas_bad} of them (for information)" if sas_bad
                 else "; the SAS output meets them too")
    return text


def _with_missing(fact: RuleFact) -> dict[str, Any]:
    return {**dict(fact.detail), **({"missing": fact.missing} if fact.missing else {})}


