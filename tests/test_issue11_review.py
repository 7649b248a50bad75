"""Adversarial review of issue 11 (contracts, the DQ gate, capture, Dataset-JSON, parity init): one regression
test per class of defect found."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import polars as pl
import pytest

from parity.api import compare_frames
from parity.cli.main import main
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


def _datasetjson(path: Path, rows: list[list[object]]) -> None:
    cols = [{"itemOID": "IT.ID", "name": "ID", "label": "id", "dataType": "string", "length": 4, "keySequence": 1},
            {"itemOID": "IT.AGE", "name": "AGE", "label": "age", "dataType": "integer"},
            {"itemOID": "IT.DOSE", "name": "DOSE", "label": "dose", "dataType": "float"},
            {"itemOID": "IT.STDT", "name": "STDT", "label": "start", "dataType": "date", "targetDataType": "integer",
             "displayFormat": "DATE9."}]
    path.write_text(json.dumps({"datasetJSONVersion": "1.1.0", "itemGroupOID": "IG.DM", "name": "DM", "label": "dm",
                                "records": len(rows), "columns": cols, "rows": rows}))


@pytest.mark.parametrize("json_side", ["python", "sas"])
@pytest.mark.parametrize(("dose", "verdict"), [(2.5, "fail"), (2.0, "pass")])
def test_datasetjson_output_is_judged_by_its_sas_values(tmp_path: Path, json_side: str, dose: float,
                                                        verdict: str) -> None:
    """A Dataset-JSON side holds SAS values (numbers; dates as days since 1960 by its dataType): an integer column
    read as doubles is an integer, a date a date, as for a SAS file; not a spurious type failure."""
    rows = [["A1", 30, 1.0, "2014-01-02"], ["A2", 41, dose, "2014-02-03"]]
    _datasetjson(tmp_path / "dm.json", rows)
    _datasetjson(tmp_path / "dm2.json", rows)
    sas, py = ("dm2.json", "dm.json") if json_side == "python" else ("dm.json", "dm2.json")
    (tmp_path / "parity.toml").write_text(textwrap.dedent(f"""
        [datasets.dm]
        sas = "{sas}"
        python = "{py}"
        keys = ["ID"]
        [datasets.dm.contract.columns]
        AGE = {{ type = "integer", nullable = false }}
        DOSE = "integer"
        STDT = "date"
        [[datasets.dm.quality]]
        name = "started"
        rule = "STDT >= DATE '2014-01-01' AND AGE BETWEEN 18 AND 100"
        """))
    code = main(["run", str(tmp_path), "--jobs-dir", str(tmp_path), "--report-dir", str(tmp_path / "out")])
    report = json.loads(next((tmp_path / "out").rglob("parity.json")).read_text())
    checks = {c["name"]: c for c in report["datasets"][0]["checks"]}
    rules = {r["name"]: r for r in checks["contract"]["details"]["rules"]}
    assert rules["AGE.type"]["status"] == "pass" and rules["STDT.type"]["status"] == "pass"
    assert rules["DOSE.type"]["status"] == verdict  # 2.5 is not an integer
    assert rules["DOSE.type"]["sas"]["status"] == verdict
    assert checks["quality"]["status"] == "pass"
    # the contract leaves out ID: an extra column under the default extra_columns = "warn" warns the verdict
    assert rules["extra_columns"]["status"] == "warn"
    assert report["verdict"] == ("warn" if verdict == "pass" else verdict) and code == (1 if verdict == "fail" else 0)


def test_lookup_error_names_the_reference_column_not_an_internal_name(tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text("code,name\n1,a\nx,b\n")
    sas = pl.DataFrame({"id": [1.0, 2.0], "code": [1.0, 2.0]})
    py = pl.DataFrame({"id": [1, 2], "code": [1, 2]})
    with pytest.raises(SpecError) as err:
        compare_frames(sas, py, keys=["id"], quality=[
            {"name": "l", "lookup": {"column": "code", "file": str(tmp_path / "ref.csv")}}])
    text = str(err.value)
    assert "#key" not in text and "'code'" in text and "quality[0].lookup.key" in text and "'x'" in text
