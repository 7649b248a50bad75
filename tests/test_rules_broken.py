"""Rules a table breaks whatever its rows: a column of another type, columns the contract does not declare, a
distinct count out of range.  They fail (or warn) on an empty table and on a column of nulls too: counting failing
rows alone would pass them there (a false PASS)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.helpers import Column
from tests.test_contract import facts, parquet_job, rules, run, status
from tests.test_quality import qfacts

SAS = [Column("id", "numeric", [1.0]), Column("paid", "numeric", [1.0]), Column("member_id", "string", ["M1"])]
PAID_DECIMAL = """
    [datasets.d.contract.columns]
    id = { type = "integer" }
    paid = { type = "decimal(19,4)" }
"""


@pytest.mark.parametrize("frame", [
    pl.DataFrame({"id": pl.Series([], dtype=pl.Int64), "paid": pl.Series([], dtype=pl.String)}),
    pl.DataFrame({"id": [1, 2], "paid": pl.Series([None, None], dtype=pl.String)}),
], ids=["empty", "all-null"])
def test_a_column_of_another_type_breaks_the_contract_with_no_value_in_it(frame: pl.DataFrame) -> None:
    f = facts(frame, "[columns]\nid = { type = 'integer' }\npaid = { type = 'decimal(19,4)' }\n")
    assert f["paid.type"].broken and f["paid.type"].failing_rows == 0
    assert not f["id.type"].broken


def test_type_breaks_only_when_the_dtype_is_wrong() -> None:
    f = facts(pl.DataFrame({"paid": [1.5, None]}), "[columns]\npaid = { type = 'decimal(19,4)' }\n")
    assert not f["paid.type"].broken and f["paid.type"].failing_rows == 0


def test_empty_output_of_another_type_fails_the_run(tmp_path: Path) -> None:
    py = pl.DataFrame({"id": pl.Series([], dtype=pl.Int64), "paid": pl.Series([], dtype=pl.String),
                       "member_id": pl.Series([], dtype=pl.String)})
    jobs = parquet_job(tmp_path, py, SAS, PAID_DECIMAL)
    code, data = run(jobs, tmp_path / "out")
    assert code == 1 and status(data, "contract") == "fail"
    rule = rules(data, "contract")["paid.type"]
    assert rule["status"] == "fail" and rule["failing_rows"] == 0
    contract = next(c for c in data["datasets"][0]["checks"] if c["name"] == "contract")
    assert "the column is String, not decimal(19,4)" in contract["summary"], contract["summary"]


@pytest.mark.parametrize(("setting", "expected"), [("fail", "fail"), ("warn", "warn"), ("allow", "pass")])
def test_extra_columns_on_an_empty_table(tmp_path: Path, setting: str, expected: str) -> None:
    empty = pl.DataFrame({"id": pl.Series([], dtype=pl.Int64), "paid": pl.Series([], dtype=pl.Float64),
                          "member_id": pl.Series([], dtype=pl.String)})
    f = facts(empty, f"extra_columns = '{setting}'\n[columns]\nid = {{ type = 'integer' }}\n")
    if setting != "allow":
        assert f["extra_columns"].broken and f["extra_columns"].failing_rows == 0
    jobs = parquet_job(tmp_path, empty, SAS, f"""
        [datasets.d.contract]
        extra_columns = "{setting}"
        [datasets.d.contract.columns]
        id = {{ type = "integer" }}
    """)
    code, data = run(jobs, tmp_path / "out")
    assert status(data, "contract") == expected
    assert data["datasets"][0]["verdict"] in {"fail", "warn"}  # and the empty output fails the row count
    assert code == 1


def test_extra_columns_declared_pass_on_an_empty_table() -> None:
    empty = pl.DataFrame({"id": pl.Series([], dtype=pl.Int64)})
    f = facts(empty, "extra_columns = 'fail'\n[columns]\nid = { type = 'integer' }\n")
    assert not f["extra_columns"].broken


@pytest.mark.parametrize(("values", "bounds", "broken"), [
    ([], "min = 1", True),                       # an empty table has 0 distinct values: below min
    ([None, None], "min = 1", True),             # nulls are not counted
    (["M1", "M2"], "min = 1, max = 1", True),
    (["M1", "M1"], "min = 1, max = 1", False),
    ([], "max = 5", False),
])
def test_distinct_out_of_range_is_broken_whatever_the_rows(values: list[str | None], bounds: str,
                                                             broken: bool) -> None:
    frame = pl.DataFrame({"member_id": pl.Series(values, dtype=pl.String)})
    rule = qfacts(frame, f'[[quality]]\nname = "m"\ndistinct = {{ column = "member_id", {bounds} }}\n')["m"]
    assert rule.broken is broken


def test_distinct_below_min_on_an_empty_output_fails_the_quality_check(tmp_path: Path) -> None:
    empty = pl.DataFrame({"id": pl.Series([], dtype=pl.Int64), "paid": pl.Series([], dtype=pl.Float64),
                          "member_id": pl.Series([], dtype=pl.String)})
    jobs = parquet_job(tmp_path, empty, SAS, """
        [[datasets.d.quality]]
        name = "members"
        distinct = { column = "member_id", min = 1 }
        [[datasets.d.quality]]
        name = "members_warn"
        distinct = { column = "member_id", min = 1 }
        severity = "warn"
    """)
    code, data = run(jobs, tmp_path / "out")
    got = rules(data, "quality")
    assert got["members"]["status"] == "fail" and got["members_warn"]["status"] == "warn"
    assert status(data, "quality") == "fail" and code == 1


@pytest.mark.spark
def test_spark_engine_breaks_the_same_rules(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    empty = pl.DataFrame({"id": pl.Series([], dtype=pl.Int64), "paid": pl.Series([], dtype=pl.String),
                          "member_id": pl.Series([], dtype=pl.String)})
    jobs = parquet_job(tmp_path, empty, SAS, PAID_DECIMAL + """
        [[datasets.d.quality]]
        name = "members"
        distinct = { column = "member_id", min = 1 }
    """)
    _, polars_report = run(jobs, tmp_path / "polars")
    _, spark_report = run(jobs, tmp_path / "spark", "--engine", "spark")
    for check in ("contract", "quality"):
        assert rules(spark_report, check) == rules(polars_report, check)
        assert status(spark_report, check) == status(polars_report, check) == "fail"
