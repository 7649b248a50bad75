"""Adversarial review of issue 11 (contracts, the DQ gate, capture, Dataset-JSON, parity init): one regression
test per class of defect found."""

from __future__ import annotations

import polars as pl
import pytest

from parity.api import compare_frames
from parity.errors import SpecError

SAS = pl.DataFrame({"id": [1.0, 2.0, 3.0], "paid": [1.0, -2.0, 3.0], "status": ["PAID", "X", "PAID"]})
PY = pl.DataFrame({"id": [1, 2, 3], "paid": [1.0, -2.0, 3.0], "status": ["PAID", "X", "PAID"]})


@pytest.mark.parametrize("rule", [
    "paid >= 0, status = 'PAID'",      # a list: polars judged only the first condition (a false PASS)
    "paid >= 0; status = 'PAID'",      # a second statement
    "status = 'PAID' AS ok",           # an alias
    "status = 'PAID' garbage",         # trailing words (taken as an alias)
    "status = 'PAID' paid >= 0",       # a forgotten AND
])
def test_sql_rule_that_is_not_one_condition_is_a_spec_error(rule: str) -> None:
    with pytest.raises(SpecError) as err:
        compare_frames(SAS, PY, keys=["id"], quality=[{"name": "r", "rule": rule}])
    # older polars judged only the first part of these; newer ones refuse some at parse: a spec error either way
    assert "quality[0].rule" in str(err.value)
    assert "not one condition" in str(err.value) or "does not parse" in str(err.value)


@pytest.mark.parametrize("rule", [
    "paid >= 0 OR status = 'X'", "status IN ('PAID', 'X')", "paid BETWEEN -5 AND 5 -- any comment",
    "CASE WHEN paid > 0 THEN status = 'PAID' ELSE true END", "status = 'a;b' OR status IS NOT NULL",
])
def test_one_condition_still_judged(rule: str) -> None:
    got = compare_frames(SAS, PY, keys=["id"], quality=[{"name": "r", "rule": rule}])
    assert got.check("quality").status == "pass"


def _decimal_failing(values: list[float], ctype: str) -> int:
    sas = pl.DataFrame({"id": [float(i) for i in range(len(values))], "amt": values})
    py = pl.DataFrame({"id": list(range(len(values))), "amt": values})
    got = compare_frames(sas, py, keys=["id"], contract={"columns": {"amt": ctype}})
    rule = next(r for r in got.check("contract").details["rules"] if r["name"] == "amt.decimal")
    assert rule["sas"]["failing_rows"] == rule["failing_rows"]  # both sides judged alike
    return int(rule["failing_rows"])


def _naive_net(lines: list[float]) -> float:
    """Every line and its reversal but the last, summed in the order given (a claims net after adjustments)."""
    total = 0.0
    for x in lines + [-x for x in lines[:-1]]:
        total += x
    return total


def test_decimal_cancellation_noise_of_a_net_is_not_a_decimal() -> None:
    import random

    rng = random.Random(3)
    nets: list[float] = []
    for _ in range(400):
        lines = [rng.randint(1, 10**7) / 100 for _ in range(rng.randint(50, 200))]
        rng.shuffle(lines)
        nets.append(_naive_net(lines))
    assert any(abs(v * 100 - round(v * 100)) > 1e-9 for v in nets)  # the noise is really there
    assert _decimal_failing(nets, "decimal(19,2)") == 0
    assert _decimal_failing([843.320000000238, 0.21189999999751308 * 100, 1e5], "decimal(19,2)") == 0


@pytest.mark.parametrize(("values", "failing"), [
    ([1e6, 33.53065], 1),              # a real fifth decimal beside large values still fails
    ([99999.0, 1.23451, 2.5], 1),
    ([1e6, 0.0001, 0.00015], 1),
    ([float("inf"), 1.25], 1),         # an infinity is never noise
    ([1.0, 2.12345, 3.0], 1),
])
def test_decimal_real_extra_decimals_still_fail(values: list[float], failing: int) -> None:
    assert _decimal_failing(values, "decimal(19,4)") == failing
