"""Each parity check on small, hand-built data, with the outcome asserted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

from parity.api import compare_frames
from parity.model import DatasetResult
from parity.testing.sas7bdat_writer import sas_date, sas_datetime
from tests.helpers import Column, SpecialMissing, write_sas7bdat


def status(result: DatasetResult, name: str) -> str:
    check = result.check(name)
    assert check is not None
    return check.status


def column(result: DatasetResult, name: str) -> Any:
    return next(c for c in result.columns if c.name == name)


SAS = pl.DataFrame({"id": [1.0, 2.0, 3.0, 4.0], "amt": [10.0, 20.0, 30.0, 40.0], "name": ["a", "b", "c", "d"]})


def test_identical_frames_pass_every_check() -> None:
    py = pl.DataFrame({"ID": [1, 2, 3, 4], "AMT": [10.0, 20.0, 30.0, 40.0], "NAME": ["a", "b", "c", "d"]})
    result = compare_frames(SAS, py, keys=["id"], sort_by=["id"])
    assert result.verdict == "pass"
    assert {c.name: c.status for c in result.checks} == {
        "schema": "pass", "attributes": "pass", "row_count": "pass", "key_uniqueness": "pass", "key_match": "pass",
        "numeric_tolerance": "pass", "date_equivalence": "skipped", "string_equality": "pass",
        "sort_order": "pass", "contract": "skipped", "quality": "skipped", "top_n_diffs": "pass", "waivers": "skipped",
    }
    assert result.rows == {"sas": 4, "python": 4, "matched": 4, "only_in_sas": 0, "only_in_python": 0}


def test_schema_columns_on_one_side_and_type_conflicts() -> None:
    py = pl.DataFrame({"id": [1, 2, 3, 4], "amt": ["10", "20", "30", "40"], "extra": [1, 2, 3, 4]})
    result = compare_frames(SAS, py, keys=["id"])
    schema = result.check("schema")
    assert schema is not None and schema.status == "fail"
    assert schema.details["sas_only"] == ["name"]
    assert schema.details["python_only"] == ["extra"]
    assert schema.details["type_conflicts"][0]["column"] == "amt"
    assert column(result, "amt").status == "type_conflict"
    assert result.verdict == "fail"
    # ignoring the columns makes the schema pass; the type conflict still fails
    ignored = compare_frames(SAS, py, keys=["id"], ignore=["name", "extra"])
    assert ignored.check("schema").details["sas_only"] == []  # type: ignore[union-attr]
    assert status(ignored, "schema") == "fail"


def test_row_count_and_key_match_samples() -> None:
    py = pl.DataFrame({"id": [1, 2, 3, 5, 6], "amt": [10.0, 20.0, 30.0, 50.0, 60.0],
                       "name": ["a", "b", "c", "e", "f"]})
    result = compare_frames(SAS, py, keys=["id"])
    assert status(result, "row_count") == "fail"
    km = result.check("key_match")
    assert km is not None and km.status == "fail"
    assert km.details["sample_only_in_sas"] == [{"id": 4}]
    assert km.details["sample_only_in_python"] == [{"id": 5}, {"id": 6}]
    assert result.rows["only_in_sas"] == 1 and result.rows["only_in_python"] == 2


def test_key_uniqueness_counts_rows_and_keys() -> None:
    sas = pl.DataFrame({"id": [1.0, 1.0, 2.0, 3.0], "v": [1.0, 2.0, 3.0, 4.0]})
    py = pl.DataFrame({"id": [1, 1, 2, 2, 2, 3], "v": [1.0, 2.0, 3.0, 3.0, 3.0, 4.0]})
    result = compare_frames(sas, py, keys=["id"])
    ku = result.check("key_uniqueness")
    assert ku is not None and ku.status == "fail"
    assert result.duplicates == {"sas": {"rows": 2, "keys": 1}, "python": {"rows": 5, "keys": 2}}
    assert ku.details["python"]["sample"] == [{"key": {"id": 1}, "count": 2}, {"key": {"id": 2}, "count": 3}]
    # duplicates pair by order within the key: no cartesian product
    assert result.rows["matched"] == 4 and result.rows["only_in_python"] == 2
    assert status(result, "numeric_tolerance") == "pass"


def test_same_duplicates_on_both_sides_warn() -> None:
    sas = pl.DataFrame({"id": [1.0, 1.0, 2.0], "v": [1.0, 2.0, 3.0]})
    result = compare_frames(sas, sas.with_columns(pl.col("id").cast(pl.Int64)), keys=["id"])
    assert status(result, "key_uniqueness") == "warn"
    assert result.verdict == "warn"


def test_numeric_tolerance_per_column_and_default() -> None:
    py = SAS.with_columns(pl.Series("amt", [10.004, 20.006, 30.0, 40.0]))
    exact = compare_frames(SAS, py, keys=["id"])
    assert column(exact, "amt").mismatches == 2
    assert column(exact, "amt").max_abs_diff == pytest.approx(0.006)
    loose = compare_frames(SAS, py, keys=["id"], tolerance={"amt": {"method": "absolute", "criterion": 0.005}})
    assert column(loose, "amt").mismatches == 1
    assert column(loose, "amt").method == "absolute" and column(loose, "amt").criterion == 0.005
    default = compare_frames(SAS, py, keys=["id"], tolerance={"default": {"method": "relative", "criterion": 1e-3}})
    assert column(default, "amt").mismatches == 0
    assert status(default, "numeric_tolerance") == "pass"


def test_pandas_nan_is_missing_and_int_keys_match_float_keys() -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0], "x": [None, 2.0]})
    py = pd.DataFrame({"ID": [1, 2], "X": [float("nan"), 2.0]})
    result = compare_frames(sas, py, keys=["id"])
    assert result.verdict == "pass"


def test_missing_vs_value_is_a_mismatch_and_inf_is_explained() -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0, 3.0], "x": [None, 2.0, None]})
    py = pl.DataFrame({"id": [1, 2, 3], "x": [float("inf"), 2.0, float("inf")]})
    result = compare_frames(sas, py, keys=["id"])
    col = column(result, "x")
    assert col.mismatches == 2
    assert col.explanations[0]["code"] == "division_by_zero"


def test_string_rules_trailing_blanks_blank_is_missing_leading_blanks_count() -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0, 3.0, 4.0], "s": ["fox  ", "", " fox", "Fox"]})
    py = pl.DataFrame({"id": [1, 2, 3, 4], "s": ["fox", None, "fox", "Fox"]})
    result = compare_frames(sas, py, keys=["id"])
    col = column(result, "s")
    assert col.mismatches == 1  # only the leading blank
    assert result.top_diffs["first_by_key"][0]["key"] == {"id": 3}
    assert col.explanations[0]["code"] == "leading_blanks"
    case = compare_frames(sas, py.with_columns(pl.col("s").str.to_uppercase()), keys=["id"],
                          strings={"ignore_case": True, "strip": "both"})
    assert column(case, "s").mismatches == 0


def test_sort_order_with_sort_by_uses_sas_missing_lowest() -> None:
    sas = pl.DataFrame({"k": [None, 1.0, 2.0], "v": [1.0, 2.0, 3.0]})
    # polars' default nulls-first ascending equals SAS order; nulls last does not
    good = pl.DataFrame({"k": [None, 1, 2], "v": [1.0, 2.0, 3.0]})
    bad = pl.DataFrame({"k": [1, 2, None], "v": [2.0, 3.0, 1.0]})
    assert status(compare_frames(sas, good, keys=["k"], sort_by=["k"]), "sort_order") == "pass"
    result = compare_frames(sas, bad, keys=["k"], sort_by=["k"])
    so = result.check("sort_order")
    assert so is not None and so.status == "fail"
    assert so.details["python"] == {"violations": 1, "first_row": 3}
    # missing keys match each other (SAS MERGE semantics), so only order differs
    assert status(result, "key_match") == "pass"
    desc = compare_frames(sas, good.reverse(), keys=["k"], sort_by=["DESCENDING k"])
    assert status(desc, "sort_order") == "pass"  # descending: missing comes last


def test_sort_order_without_sort_by_notes_a_different_order() -> None:
    py = SAS.reverse().with_columns(pl.col("id").cast(pl.Int64))
    result = compare_frames(SAS, py, keys=["id"])
    # information, not a warning: without sort_by order is not part of the contract (docs/checks.md#verdicts)
    so = result.check("sort_order")
    assert so is not None and so.status == "pass" and so.details["inversions"] == 3
    assert "not in the SAS output's order" in so.summary and "for information" in so.summary
    assert result.verdict == "pass"
    strict = compare_frames(SAS, py, keys=["id"], severity={"sort_order": "fail"})
    # severity can only downgrade or switch off: information never becomes a failure
    assert status(strict, "sort_order") == "pass"
    off = compare_frames(SAS, py, keys=["id"], severity={"sort_order": "off"})
    assert status(off, "sort_order") == "skipped"


def test_severity_downgrades_a_failing_check() -> None:
    py = SAS.with_columns(pl.Series("amt", [10.0, 20.0, 30.0, 41.0]))
    result = compare_frames(SAS, py, keys=["id"], severity={"numeric_tolerance": "warn"})
    assert status(result, "numeric_tolerance") == "warn"
    assert result.verdict == "warn"


def test_without_keys_rows_pair_by_position() -> None:
    py = SAS.with_columns(pl.Series("amt", [10.0, 20.0, 31.0, 40.0])).head(3)
    result = compare_frames(SAS, py)
    assert status(result, "key_uniqueness") == "skipped"
    assert result.rows["only_in_sas"] == 1
    assert result.check("key_match").details["sample_only_in_sas"] == [{"obs": 4}]  # type: ignore[union-attr]
    assert result.top_diffs["first_by_key"][0]["key"] == {"obs": 3}


def test_top_n_diffs_orders_by_abs_rel_and_key() -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0, 3.0], "a": [1.0, 100.0, 10.0]})
    py = pl.DataFrame({"id": [1, 2, 3], "a": [2.0, 103.0, 10.5]})
    result = compare_frames(sas, py, keys=["id"], top_n=2)
    top = result.top_diffs
    assert [d["key"]["id"] for d in top["by_abs"]] == [2, 1]
    assert [d["key"]["id"] for d in top["by_rel"]] == [1, 3]
    assert [d["key"]["id"] for d in top["first_by_key"]] == [1, 2]
    assert top["by_abs"][0]["sas"] == 100 and top["by_abs"][0]["python"] == 103
    assert top["by_abs"][0]["diff"] == 3


def test_rounding_half_even_is_explained() -> None:
    raw = [0.125, 0.375, 1.005, 2.675, 0.5, 1.5, 2.5, 3.333]
    sas_vals = [0.13, 0.38, 1.01, 2.68, 1.0, 2.0, 3.0, 3.33]  # SAS ROUND(x, 0.01) / (x, 1): half away from zero
    py_vals = [round(x, 2) if x % 1 else x for x in raw]
    py_vals = [0.12, 0.38, 1.0, 2.67, 0.0, 2.0, 2.0, 3.33]  # Python half-to-even (binary ties as Python sees them)
    sas = pl.DataFrame({"id": [float(i) for i in range(len(raw))], "p": sas_vals})
    py = pl.DataFrame({"id": list(range(len(raw))), "p": py_vals})
    result = compare_frames(sas, py, keys=["id"])
    col = column(result, "p")
    assert col.mismatches == 5
    assert col.explanations[0]["code"] == "rounding_half_even"
    assert col.explanations[0]["rows"] == 5
    assert "rounding_half_even" in result.check("numeric_tolerance").summary  # type: ignore[union-attr]


# ---- SAS files: special missing values, dates, storage lengths


def _sas_file(tmp_path: Path) -> Path:
    path = tmp_path / "d.sas7bdat"
    write_sas7bdat(path, [
        Column("ID", "numeric", [1, 2, 3, 4]),
        Column("X", "numeric", [1.0, None, SpecialMissing("A"), SpecialMissing("_")]),
        Column("D", "numeric", [sas_date(dt.date(2024, 1, 31)), 0.0, None, sas_date(dt.date(1959, 12, 31))],
               format="DATE9."),
        Column("TS", "numeric", [sas_datetime(dt.datetime(2024, 1, 31, 12, 30, 15, 250000)), None, 0.0, 1.0],
               format="DATETIME20."),
        Column("R", "numeric", [1 / 3, 2 / 3, 1.0, 8193.0], length=3),
        Column("S", "string", ["abc", "", "x", "y"], length=5),
    ], table_name="D", file_label="test data")
    return path


def _py() -> pl.DataFrame:
    return pl.DataFrame({
        "id": [1, 2, 3, 4], "x": [1.0, None, None, None],
        "d": [dt.date(2024, 1, 31), dt.date(1960, 1, 1), None, dt.date(1959, 12, 31)],
        "ts": [dt.datetime(2024, 1, 31, 12, 30, 15, 250000), None, dt.datetime(1960, 1, 1), dt.datetime(1960, 1, 1, 0, 0, 1)],
        "r": [1 / 3, 2 / 3, 1.0, 8193.0], "s": ["abc", None, "x", "y"],
    })


def test_sas_file_special_missing_dates_and_storage_width(tmp_path: Path) -> None:
    result = compare_frames(_sas_file(tmp_path), _py(), keys=["id"])
    x = column(result, "X")
    assert x.mismatches == 2  # .A and ._ are not plain missing (PROC COMPARE)
    assert x.explanations[0]["code"] == "special_missing"
    assert [d["sas_text"] for d in result.top_diffs["first_by_key"]] == [".A", "._"]
    assert column(result, "D").kind == "date" and column(result, "D").mismatches == 0
    assert column(result, "TS").kind == "datetime" and column(result, "TS").mismatches == 0
    # LENGTH 3 numerics: the Python value is truncated to 3 bytes before comparing (8193 -> 8192)
    assert column(result, "R").mismatches == 0
    assert status(result, "date_equivalence") == "pass"
    assert result.sas["label"] == "test data"
    assert {c["name"]: c["format"] for c in result.sas["columns_meta"]}["D"] == "DATE9"
    relaxed = compare_frames(_sas_file(tmp_path), _py(), keys=["id"], numbers={"special_missing": "as_missing"})
    assert column(relaxed, "X").mismatches == 0
    exact = compare_frames(_sas_file(tmp_path), _py(), keys=["id"], numbers={"storage": "exact"})
    assert column(exact, "R").mismatches == 3  # 1.0 fits in 3 bytes exactly
    assert column(exact, "R").explanations[0]["code"] == "storage_truncation"


def test_epoch_shift_is_explained(tmp_path: Path) -> None:
    py = _py().with_columns(pl.col("d") + pl.duration(days=3653))
    result = compare_frames(_sas_file(tmp_path), py, keys=["id"])
    d = column(result, "D")
    assert d.mismatches == 3
    assert d.explanations[0]["code"] == "epoch_shift"
    assert status(result, "date_equivalence") == "fail"
    assert "largest shift 3653 days" in result.check("date_equivalence").summary  # type: ignore[union-attr]


def test_python_string_longer_than_sas_length_warns_and_explains_truncation(tmp_path: Path) -> None:
    py = _py().with_columns(pl.Series("s", ["abcdefg", None, "x", "y"]))
    write_sas7bdat(tmp_path / "t.sas7bdat", [Column("ID", "numeric", [1, 2, 3, 4]),
                                             Column("S", "string", ["abcde", "", "x", "y"], length=5)])
    result = compare_frames(tmp_path / "t.sas7bdat", py.select("id", "s"), keys=["id"])
    assert result.check("schema").details["python_longer_than_sas_length"]["S"]["count"] == 1  # type: ignore[union-attr]
    assert result.check("schema").details["sas_values_filling_length"] == {"S": 1}  # type: ignore[union-attr]
    assert column(result, "S").explanations[0]["code"] == "length_truncation"
