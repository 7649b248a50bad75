"""Adversarial review 4 of issue 11's contracts and DQ gate: one regression test per class of defect found (and a
few edges that held, pinned)."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.api import compare_frames
from parity.cli.main import main
from parity.errors import SpecError
from parity.testing.sas7bdat_writer import Column, write_sas7bdat
from tests.helpers import make_job
from tests.spark_support import spark_fixture  # noqa: F401  (the session fixture)

SAS = [Column("id", "numeric", [1, 2, 3]), Column("code", "string", ["007", "010", "123"]),
       Column("prov", "numeric", [7, 10, 123]), Column("amt", "numeric", [1.0, 2.0, 3.0])]
PY = pl.DataFrame({"id": [1, 2, 3], "code": ["007", "010 ", "123"], "prov": [7, 10, 123], "amt": [1.0, 2.0, 3.0]})


def _job(tmp_path: Path, quality: str, files: dict[str, str] | None = None,
         py: pl.DataFrame = PY) -> Path:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", """
        [datasets.claims]
        sas = "d.sas7bdat"
        python = "py.parquet"
        keys = ["id"]
    """ + textwrap.dedent(quality), files=files)
    write_sas7bdat(folder / "d.sas7bdat", SAS)
    py.write_parquet(folder / "py.parquet")
    return jobs


def _run(jobs: Path, out: Path) -> tuple[int, dict[str, Any] | None]:
    code = main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(out)])
    path = out / "j" / "parity.json"
    return code, json.loads(path.read_text()) if path.is_file() else None


def _rule(data: dict[str, Any], name: str) -> dict[str, Any]:
    check = next(c for c in data["datasets"][0]["checks"] if c["name"] == "quality")
    return next(r for r in check["details"]["rules"] if r["name"] == name)


# ---- a rule or contract mistake is exit 2 naming the file, the dataset and the rule, before any comparison


@pytest.mark.parametrize(("body", "key"), [
    ('rule = "nope > 0"', "rule"),                                         # a column in neither output
    ('rule = "amt >>= 0"', "rule"),                                        # does not parse
    ('rule = "code > 0"', "rule"),                                         # cannot run on the types
    ('rule = "amt + 1"', "rule"),                                          # not true/false
    ('rule = "amt >= 0, code = \'x\'"', "rule"),                           # not one condition
    ('lookup = { column = "nope", file = "ref.csv", key = "code" }', "lookup.column"),
    ('lookup = { column = "code", file = "ref.csv", key = "nope" }', "lookup.key"),
    ('lookup = { column = "code", file = "gone.csv" }', "lookup.file"),
    ('distinct = { column = "nope", max = 2 }', "distinct.column"),
    ('distinct = { column = "code", min = 3, max = 2 }', "distinct"),
    ('rule = "amt > 0"\nseverity = "high"', "severity"),
])
def test_rule_error_names_file_dataset_and_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
                                                key: str) -> None:
    jobs = _job(tmp_path, f"""
        [[datasets.claims.quality]]
        name = "fine"
        rule = "amt > 0"
        [[datasets.claims.quality]]
        name = "paid_rule"
        {body}
    """, {"ref.csv": "code\n007\n"})
    code, data = _run(jobs, tmp_path / "out")
    assert code == 2
    err = capsys.readouterr().err
    for text in (str(jobs / "j" / "parity.toml"), f"[datasets.claims.quality[1].{key}]"
                 if key != "distinct" else "[datasets.claims.quality[1].distinct]", "quality rule 'paid_rule'"):
        assert text in err
    if data is not None:  # no comparison ran
        assert data["verdict"] == "error" and data["datasets"] == []


def test_rule_error_names_the_rule_in_the_api_too() -> None:
    sas = pl.DataFrame({"id": [1.0], "amt": [1.0]})
    with pytest.raises(SpecError, match=r"quality\[0\]\.rule\] quality rule 'neg': names column 'paid'"):
        compare_frames(sas, pl.DataFrame({"id": [1], "amt": [1.0]}), keys=["id"],
                       quality=[{"name": "neg", "rule": "paid >= 0"}])


# ---- SAS date/time constants in a SQL rule: an error that gives the SQL spelling (SQL reads '...'d as an alias)


@pytest.mark.parametrize(("rule", "advice"), [
    ("dt >= '01JAN2024'd", "DATE '2024-01-01'"),
    ("dt between '1jan2024'D and '31dec2024'd", "DATE '2024-01-01'"),
    ("ts < '15MAR2024:10:30'dt", "TIMESTAMP '2024-03-15 10:30:00'"),
    ("ts < '15MAR2024:10:30:05'DT", "TIMESTAMP '2024-03-15 10:30:05'"),
    ("dt >= '01JAN24'd", "four-digit year"),
    ("tm < '10:30't", "DATE 'yyyy-mm-dd'"),
])
def test_sas_date_literal_is_a_spec_error_with_its_sql_spelling(rule: str, advice: str) -> None:
    sas = pl.DataFrame({"id": [1.0], "dt": [23000.0]})
    with pytest.raises(SpecError) as err:
        compare_frames(sas, pl.DataFrame({"id": [1], "dt": [23000.0]}), keys=["id"],
                       quality=[{"name": "recent", "rule": rule}])
    text = str(err.value)
    assert "SAS date/time literal" in text and advice in text and "quality rule 'recent'" in text


def test_sql_date_literal_still_judged() -> None:
    import datetime as dt

    sas = pl.DataFrame({"id": [1.0, 2.0], "d": [0.0, 1.0]})
    py = pl.DataFrame({"id": [1, 2], "d": [dt.date(1960, 1, 1), dt.date(1960, 1, 2)]})
    got = compare_frames(sas, py, keys=["id"], formats={"d": "DATE9."},
                         quality=[{"name": "r", "rule": "d >= DATE '1960-01-02'"}])
    rule = got.check("quality").details.to_dict()["rules"][0]
    assert (rule["status"], rule["failing_rows"]) == ("fail", 1)


# ---- lookups of integer keys are exact (a double matched 9007199254740993 with ...992: a false PASS)


BIG = 9007199254740993  # 2**53 + 1: the same double as 2**53


@pytest.mark.parametrize("ref_kind", ["csv", "parquet"])
def test_lookup_of_big_integer_keys_is_exact(tmp_path: Path, ref_kind: str) -> None:
    py = PY.with_columns(pl.Series("prov", [BIG, 10, 123]))
    ref = pl.DataFrame({"prov": [BIG - 1, 10, 123]})
    files = {"ref.csv": "prov\n9007199254740992\n10\n 123 \n"} if ref_kind == "csv" else None
    jobs = _job(tmp_path, f"""
        [[datasets.claims.quality]]
        name = "provider_exists"
        lookup = {{ column = "prov", file = "ref.{ref_kind}" }}
    """, files, py)
    if ref_kind == "parquet":
        ref.write_parquet(jobs / "j" / "ref.parquet")
    code, data = _run(jobs, tmp_path / "out")
    assert data is not None and code == 1
    rule = _rule(data, "provider_exists")
    assert (rule["status"], rule["failing_rows"]) == ("fail", 1)
    assert rule["sample"][0]["prov"] == BIG


@pytest.mark.parametrize(("ref", "failing"), [
    ("prov\n7.0\n10\n123.00\n", 0),   # integers written as decimals still match
    ("prov\n7.5\n10\n123\n", 1),      # 7.5 is not 7
    ("prov\n007\n010\n123\n", 0),     # leading zeros of a number
    ("prov\n\n7\n10\n123\n", 0),      # a blank reference value
])
def test_lookup_of_integer_keys_against_csv_numbers(tmp_path: Path, ref: str, failing: int) -> None:
    jobs = _job(tmp_path, """
        [[datasets.claims.quality]]
        name = "provider_exists"
        lookup = { column = "prov", file = "ref.csv" }
    """, {"ref.csv": ref})
    code, data = _run(jobs, tmp_path / "out")
    assert data is not None
    rule = _rule(data, "provider_exists")
    assert rule["failing_rows"] == failing and rule["sas"]["failing_rows"] == failing
    assert code == (1 if failing else 0)


# ---- edges that held (pinned)


@pytest.mark.parametrize(("values", "ctype", "failing"), [
    ([-1.23, -0.1, -999.99], "decimal(5,2)", 0),
    ([-1000.0, -0.1, -999.995], "decimal(5,2)", 2),
    ([1e15, 1e14, 99999999999999.99], "decimal(19,4)", 1),
    ([0.1 + 0.2, 999.999999, 0.123456], "decimal(9,6)", 0),
    ([1000.0, 1.5, 0.1234567], "decimal(9,6)", 2),
    (pl.Series([1, -2, -100], dtype=pl.Int64), "decimal(3,1)", 1),
    (pl.Series([1, 2, 300], dtype=pl.UInt64), "decimal(3,1)", 1),
    (pl.Series([Decimal("-0.50"), Decimal("123.45"), Decimal("-999.99")], dtype=pl.Decimal(10, 2)),
     "decimal(5,2)", 0),
    (pl.Series([Decimal("-1000.00"), Decimal("0.001"), Decimal("1")], dtype=pl.Decimal(10, 3)), "decimal(5,2)", 2),
])
def test_decimal_edges(values: Any, ctype: str, failing: int) -> None:
    py = pl.DataFrame({"id": [1, 2, 3], "a": values})
    sas = pl.DataFrame({"id": [1.0, 2.0, 3.0], "a": py["a"].cast(pl.Float64)})
    got = compare_frames(sas, py, keys=["id"], contract={"columns": {"a": ctype}, "extra_columns": "allow"})
    rule = next(r for r in got.check("contract").details.to_dict()["rules"] if r["name"] == "a.decimal")
    assert rule["failing_rows"] == failing


# ---- the same on the Spark engine (./dev test-spark)


@pytest.mark.spark
@pytest.mark.parametrize(("ref", "failing"), [
    ("prov\n9007199254740992\n10\n 123 \n", 1),   # 2**53 + 1 is not 2**53
    ("prov\n9007199254740993\n10\n123\n", 0),
    ("prov\n7.5\n10\n123\n9007199254740993\n", 0),  # decimals: compared as doubles (as before)
    ("prov\n7.0\n10\n123\n", 1),
])
def test_spark_lookup_of_big_integer_keys_is_exact(tmp_path: Path, spark: Any, ref: str, failing: int) -> None:
    from tests.test_spark_engine import assert_same_on_both_engines

    py = PY.with_columns(pl.Series("prov", [BIG, 10, 123]))
    jobs = _job(tmp_path, """
        [[datasets.claims.quality]]
        name = "provider_exists"
        lookup = { column = "prov", file = "ref.csv" }
    """, {"ref.csv": ref}, py)
    result = assert_same_on_both_engines(jobs / "j")
    check = next(c for c in result.datasets[0].checks if c.name == "quality")
    rule = check.details.to_dict()["rules"][0]
    assert rule["failing_rows"] == failing
