"""The ``contract`` and ``quality`` checks: a dataset's data contract and DQ rules, judged on the Python output.

The facts (failing rows, samples) come from the engine (:mod:`parity.engine.quality`); here they become statuses:
a contract rule fails when a row violates it (``extra_columns`` warns or fails as the contract says), a DQ rule
fails when it is critical and warns when it is ``warn``.  The SAS output's facts are shown next to each rule for
information and never change a status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parity.checks.core import Facts, _plural, check
from parity.model import CheckResult, Status

if TYPE_CHECKING:
    from parity.engine.quality import RuleFact

#: the constraints a contract rule can name (``<column>.<constraint>``, or ``unique`` / ``extra_columns``)
CONSTRAINTS = ("present", "type", "decimal", "max_length", "nullable", "unique", "extra_columns")
RULE_STATUSES = ("pass", "warn", "fail")


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


@dataclass(frozen=True)
class RulesDetails:
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


def _side(fact: RuleFact | None, status: str) -> dict[str, Any] | None:
    if fact is None:
        return None
    out: dict[str, Any] = {"status": status, "failing_rows": fact.failing_rows}
    if fact.missing:
        out["missing"] = fact.missing
    return out


def _violated(fact: RuleFact) -> bool:
    return fact.failing_rows > 0 or fact.missing is not None


def _contract_status(fact: RuleFact) -> str:
    if not _violated(fact):
        return "pass"
    if fact.constraint == "extra_columns":
        return "warn" if fact.detail.get("setting") == "warn" else "fail"
    return "fail"


def _fact_text(row: RuleRow) -> str:
    if row.detail.get("missing"):
        return f"{row.name}: {row.detail['missing']}"
    if row.kind == "extra_columns":
        cols = row.detail.get("columns") or []
        return f"extra_columns: {', '.join(map(str, cols[:5]))}"
    if row.kind == "distinct":
        return f"{row.name}: {row.detail.get('distinct')} distinct values"
    return f"{row.name}: {_plural(row.failing_rows, 'row')}"


def _status_of(rows: Sequence[RuleRow]) -> Status:
    if any(r.status == "fail" for r in rows):
        return "fail"
    return "warn" if any(r.status == "warn" for r in rows) else "pass"


def _summary(noun: str, rows: Sequence[RuleRow], status: Status, sas_rows: Sequence[dict[str, Any] | None]) -> str:
    bad = [r for r in rows if r.status != "pass"]
    if not bad:
        text = f"the Python output meets all {_plural(len(rows), noun)}"
    else:
        worst = sorted(bad, key=lambda r: r.status != "fail")
        shown = "; ".join(_fact_text(r) for r in worst[:3])
        more = f"; {len(bad) - 3} more" if len(bad) > 3 else ""
        fails = sum(r.status == "fail" for r in rows)
        warns = len(bad) - fails
        counts = ", ".join(p for p in (f"{fails} failing" if fails else "", f"{warns} warning" if warns else "") if p)
        text = f"{counts} of {_plural(len(rows), noun)} ({shown}{more})"
    sas_bad = sum(1 for s in sas_rows if s is not None and s["status"] != "pass")
    if sas_rows:
        text += (f"; the SAS output breaks {sas_bad} of them (for information)" if sas_bad
                 else "; the SAS output meets them too")
    return text


def _with_missing(fact: RuleFact) -> dict[str, Any]:
    return {**dict(fact.detail), **({"missing": fact.missing} if fact.missing else {})}


@check("contract")
def check_contract(f: Facts) -> CheckResult:
    contract = f.comp.spec.contract
    facts = f.rules
    if contract is None or facts is None:
        return CheckResult("contract", "skipped", "no contract declared ([datasets.<name>.contract])", {})
    sas_by_name = {s.name: s for s in facts.contract_sas}
    rows = []
    for fact in facts.contract:
        sas = sas_by_name.get(fact.name)
        rows.append(RuleRow(fact.name, fact.constraint, _contract_status(fact), fact.failing_rows,
                            fact.judged_rows, fact.sample, fact.column, detail=_with_missing(fact),
                            sas=_side(sas, _contract_status(sas)) if sas is not None else None))
    status = _status_of(rows)
    details = RulesDetails(tuple(rows), facts.python_types)
    return CheckResult("contract", status, _summary("contract rule", rows, status, [r.sas for r in rows]),
                       details.to_dict())


# --------------------------------------------------------------------------------------------------------------
# text for renderers (terminal/pytest messages and the HTML rules table)


def sample_text(row: dict[str, Any]) -> str:
    """One sample row as ``row 4: claim_id='CLM1', paid=1.005`` (a unique sample: ``claim_id='A' (3 rows)``)."""
    import json

    cells = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in row.items() if k not in ("row", "rows"))
    if "row" in row:
        return f"row {row['row']}: {cells}"
    return f"{cells} ({row.get('rows')} rows)" if "rows" in row else cells


def rule_lines(details: dict[str, Any], limit: int = 10) -> list[str]:
    """The rules that warn or fail, one line each with their first sample rows."""
    rules = [r for r in details.get("rules") or [] if isinstance(r, dict) and r.get("status") != "pass"]
    out = []
    for r in rules[:limit]:
        what = r.get("missing") or (f"{r.get('failing_rows', 0):,} of {r.get('judged_rows', 0):,} rows"
                                   if r.get("kind") not in ("extra_columns", "distinct") else
                                   ", ".join(map(str, r.get("columns") or [])) if r.get("kind") == "extra_columns"
                                   else f"{r.get('distinct')} distinct values (min {r.get('min')}, max {r.get('max')})")
        sample = "; ".join(sample_text(s) for s in (r.get("sample") or [])[:3])
        out.append(f"  {str(r.get('status')).upper()} {r.get('name')}: {what}" + (f" (e.g. {sample})" if sample else ""))
    if len(rules) > limit:
        out.append(f"  ... and {len(rules) - limit} more (see the report)")
    return out


def rule_definition(rule: dict[str, Any]) -> str:
    """What a rule requires, as the approver reads it in the HTML rules table."""
    kind = rule.get("kind")
    if rule.get("definition"):
        return f"{rule['definition']} ({rule.get('severity', 'critical')})"
    if kind == "type":
        return f"type {rule.get('expected')}"
    if kind == "decimal":
        return f"fits decimal({rule.get('precision')},{rule.get('scale')})"
    if kind == "max_length":
        return f"at most {rule.get('max_length')} characters"
    if kind == "nullable":
        return f"no missing value ({rule.get('counts_as_missing', 'null')})"
    if kind == "unique":
        return f"unique ({', '.join(map(str, rule.get('columns') or []))})"
    if kind == "extra_columns":
        return f"no column beyond the contract ({rule.get('setting')} otherwise)"
    if kind == "present":
        return "the column is present"
    return str(kind)


def rule_note(rule: dict[str, Any]) -> str | None:
    """The one note an approver needs next to a rule: why it could not be judged, or what to do."""
    if rule.get("missing"):
        return str(rule["missing"])
    if rule.get("status") == "pass":
        return None
    for key in ("hint", "truncates", "nulls"):
        if rule.get(key):
            text = str(rule[key])
            if key == "truncates" and rule.get("over_in_utf8_bytes"):
                text += f"; {rule['over_in_utf8_bytes']:,} are longer than {rule.get('max_length')} bytes in UTF-8"
            return text
    if rule.get("kind") == "distinct":
        return f"{rule.get('distinct')} distinct values"
    if rule.get("kind") == "extra_columns":
        return ", ".join(map(str, rule.get("columns") or []))
    return None
