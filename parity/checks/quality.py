"""The ``quality`` check: a dataset's DQ rules (``[[datasets.<ds>.quality]]``) judged on the Python output.

A rule fails when it is ``critical`` (the default) and a row breaks it, warns when it is ``warn``; the facts come
from :mod:`parity.engine.quality`, the SAS output's for information only.  Details as the ``contract`` check's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parity.checks.core import Facts, check
from parity.checks.rules import (
    NOT_EVALUATED,
    RuleRow,
    RulesDetails,
    _side,
    _status_of,
    _summary,
    _violated,
    _with_missing,
)
from parity.model import CheckResult

if TYPE_CHECKING:
    from parity.engine.quality import RuleFact
    from parity.spec.contract import QualityRule


def _quality_status(fact: RuleFact, rule: QualityRule) -> str:
    if not _violated(fact):
        return "pass"
    return "fail" if rule.severity == "critical" else "warn"


@check("quality")
def check_quality(f: Facts) -> CheckResult:
    rules = f.comp.spec.quality
    facts = f.rules
    if not rules:
        return CheckResult("quality", "skipped", "no DQ rules declared ([[datasets.<name>.quality]])")
    if facts is None:  # declared but never evaluated: an error, never a silent pass
        return CheckResult("quality", "error", NOT_EVALUATED)
    sas_by_name = {s.name: s for s in facts.quality_sas}
    rows = []
    for rule, fact in zip(rules, facts.quality, strict=True):
        sas = sas_by_name.get(fact.name)
        rows.append(RuleRow(fact.name, rule.kind, _quality_status(fact, rule), fact.failing_rows, fact.judged_rows,
                            fact.sample, fact.column, rule.severity, rule.definition(),
                            {**_with_missing(fact), **({"description": rule.description} if rule.description else {})},
                            _side(sas, _quality_status(sas, rule)) if sas is not None else None))
    status = _status_of(rows)
    details = RulesDetails(tuple(rows), sas_note=facts.sas_error)
    return CheckResult("quality", status, _summary("DQ rule", rows, status, [r.sas for r in rows]),
                       details)
