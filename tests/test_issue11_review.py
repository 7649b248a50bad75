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
    assert "not one condition" in str(err.value) and "quality[0].rule" in str(err.value)


@pytest.mark.parametrize("rule", [
    "paid >= 0 OR status = 'X'", "status IN ('PAID', 'X')", "paid BETWEEN -5 AND 5 -- any comment",
    "CASE WHEN paid > 0 THEN status = 'PAID' ELSE true END", "status = 'a;b' OR status IS NOT NULL",
])
def test_one_condition_still_judged(rule: str) -> None:
    got = compare_frames(SAS, PY, keys=["id"], quality=[{"name": "r", "rule": rule}])
    assert got.check("quality").status == "pass"
