"""The ``contract`` check: a dataset's data contract (``[datasets.<ds>.contract]``) judged on the Python output.

A contract rule fails when a row violates it (``extra_columns`` warns or fails as the contract says); the facts
come from :mod:`parity.engine.quality`, the SAS output's for information only.
"""

from __future__ import annotations

from parity.checks.core import Facts, check
from parity.checks.rules import (
    NOT_EVALUATED,
    RuleRow,
    RulesDetails,
    _contract_status,
    _side,
    _status_of,
    _summary,
    _with_missing,
)
from parity.model import CheckResult


@check("contract")
def check_contract(f: Facts) -> CheckResult:
    contract = f.comp.spec.contract
    facts = f.rules
    if contract is None:
        return CheckResult("contract", "skipped", "no contract declared ([datasets.<name>.contract])")
    if facts is None:  # declared but never evaluated: an error, never a silent pass
        return CheckResult("contract", "error", NOT_EVALUATED)
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
                       details)
