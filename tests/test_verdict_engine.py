"""Verdict defects of the engine (issue 7): no false pass, no false fail.

Special missing keys, overflow-safe tolerances, temporal defaults, NOMISSING, SAS collation (encoding bytes,
blank padding), nanosecond datetimes and datetime_precision, and sort_by on any column.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.api import compare_frames, make_spec
from parity.checks.core import build_result
from parity.engine.core import compare_tables, values_equal
from parity.errors import SpecError
from parity.model import ColumnResult, DatasetResult
from parity.sources.base import Table
from parity.sources.frames import table_from_frame
from parity.sources.sas import read_sas
from parity.spec import Tolerance, load_job
from tests.helpers import Column, SpecialMissing, make_job, write_sas7bdat

EPOCH = dt.datetime(1960, 1, 1)


def column(result: DatasetResult, name: str) -> ColumnResult:
    return next(c for c in result.columns if c.name.casefold() == name.casefold())


def status(result: DatasetResult, check: str) -> str:
    found = result.check(check)
    assert found is not None
    return found.status


def details(result: DatasetResult, check: str) -> dict[str, Any]:
    found = result.check(check)
    assert found is not None
    return found.details.to_dict()


def sas_seconds(value: dt.datetime) -> float:
    return (value - EPOCH).total_seconds()


def equal(x: float, y: float, tol: Tolerance) -> bool:
    out = pl.select(values_equal(pl.lit(x, dtype=pl.Float64), pl.lit(y, dtype=pl.Float64), tol)).item()
    assert isinstance(out, bool)
    return out


# --------------------------------------------------------------------------------------------------------------
# 1. special missing values as keys


def _sas_ids(tmp_path: Path, ids: list[Any], name: str = "k.sas7bdat") -> Path:
    path = tmp_path / name
    write_sas7bdat(path, [Column("ID", "numeric", ids), Column("V", "numeric", list(range(len(ids))))])
    return path


def test_special_missing_key_does_not_pair_with_null_under_strict(tmp_path: Path) -> None:
    sas = _sas_ids(tmp_path, [1, SpecialMissing("A")])
    py = pl.DataFrame({"id": [1.0, None], "v": [0, 1]})
    strict = compare_frames(sas, py, keys=["id"])
    assert strict.rows["matched"] == 1 and strict.rows["only_in_sas"] == 1 and strict.rows["only_in_python"] == 1
    assert status(strict, "key_match") == "fail"
    assert details(strict, "key_match")["sample_only_in_sas"] == [{"ID": ".A"}]
    relaxed = compare_frames(sas, py, keys=["id"], numbers={"special_missing": "as_missing"})
    assert relaxed.rows["matched"] == 2 and status(relaxed, "key_match") == "pass"


@pytest.mark.parametrize("tag", ["_", "A", "Z"])
def test_every_missing_kind_is_its_own_key_value(tmp_path: Path, tag: str) -> None:
    # SAS has ., .<tag> and 1; Python has null and 1: null pairs with '.', the special missing is unmatched
    sas = _sas_ids(tmp_path, [None, SpecialMissing(tag), 1])
    py = pl.DataFrame({"id": [None, 1.0], "v": [0, 2]})
    result = compare_frames(sas, py, keys=["id"])
    assert result.rows["matched"] == 2 and result.rows["only_in_sas"] == 1
    assert status(result, "key_uniqueness") == "pass"  # ., .<tag> are distinct keys, not duplicates
    assert details(result, "key_match")["sample_only_in_sas"] == [{"ID": "." + tag}]
    assert column(result, "V").mismatches == 0


def test_special_missing_keys_pair_by_kind_between_two_sas_files(tmp_path: Path) -> None:
    sas = _sas_ids(tmp_path, [SpecialMissing("A"), SpecialMissing("B"), None], "a.sas7bdat")
    py = tmp_path / "b.sas7bdat"
    write_sas7bdat(py, [Column("ID", "numeric", [None, SpecialMissing("B"), SpecialMissing("A")]),
                        Column("V", "numeric", [2, 1, 0])])
    result = compare_frames(sas, py, keys=["id"])
    assert result.rows["matched"] == 3
    assert column(result, "V").mismatches == 0  # .A paired with .A, .B with .B, . with .
    swapped = tmp_path / "c.sas7bdat"
    write_sas7bdat(swapped, [Column("ID", "numeric", [SpecialMissing("B"), SpecialMissing("C"), None]),
                             Column("V", "numeric", [1, 0, 2])])
    other = compare_frames(sas, swapped, keys=["id"])
    assert other.rows["matched"] == 2 and other.rows["only_in_sas"] == 1 and other.rows["only_in_python"] == 1


def test_special_missing_keys_as_missing_are_duplicates(tmp_path: Path) -> None:
    sas = _sas_ids(tmp_path, [SpecialMissing("A"), None])
    py = pl.DataFrame({"id": [None, None], "v": [0, 1]})
    relaxed = compare_frames(sas, py, keys=["id"], numbers={"special_missing": "as_missing"})
    assert relaxed.rows["matched"] == 2 and status(relaxed, "key_uniqueness") == "warn"
    strict = compare_frames(sas, py, keys=["id"])
    assert status(strict, "key_uniqueness") == "fail"  # SAS unique (.A, .), Python null twice


def test_special_missing_in_a_composite_key_and_in_sort_order(tmp_path: Path) -> None:
    path = tmp_path / "c.sas7bdat"
    write_sas7bdat(path, [Column("G", "string", ["a", "a", "a", "b"]),
                          Column("ID", "numeric", [SpecialMissing("_"), None, SpecialMissing("A"), 1]),
                          Column("V", "numeric", [1, 2, 3, 4])])
    py = pl.DataFrame({"g": ["a", "a", "b"], "id": [None, None, 1.0], "v": [1, 2, 4]})
    result = compare_frames(path, py, keys=["g", "id"], sort_by=["g", "id"])
    assert result.rows["matched"] == 2  # (a, .) and (b, 1); (a, ._) and (a, .A) only in SAS
    assert result.rows["only_in_sas"] == 2 and result.rows["only_in_python"] == 1
    assert details(result, "sort_order")["sas"]["violations"] == 0  # ._ < . < .A is SAS order


# --------------------------------------------------------------------------------------------------------------
# 3. no overflow in the tolerance formulas or the reported differences


@pytest.mark.parametrize(("x", "y", "tol", "expected"), [
    (1e308, 1.5e308, Tolerance("relative", 1e-5), False),
    (1.5e308, 1e308, Tolerance("relative", 1e-5), False),
    (1e308, 1e308 * (1 + 1e-6), Tolerance("relative", 1e-5), True),
    (1e308, -1e308, Tolerance("relative", 1.9), False),  # relative difference 2
    (1e308, -1e308, Tolerance("relative", 2.0), True),
    (1.7e308, 1.79e308, Tolerance("relative", 1e-5, delta=1.0), False),
    (1.5e308, 1e308, Tolerance("percent", 10.0), False),  # 33%
    (1.5e308, 1e308, Tolerance("percent", 34.0), True),
    (1e308, -1e308, Tolerance("percent", 150.0), False),  # 200%
    (1e308, -1e308, Tolerance("absolute", 1e308), False),  # |diff| = 2e308
    (1e308, -1e308, Tolerance("absolute", 1.7e308), False),
    (1.7e308, -1.7e308, Tolerance("absolute", 1.7e308), False),
    (1.7e308, 1.7e308 * (1 - 1e-9), Tolerance("absolute", 1e300), True),
    (5e-324, 1e-323, Tolerance("relative", 1e-5), False),  # subnormals keep their precision
])
def test_tolerances_do_not_overflow(x: float, y: float, tol: Tolerance, expected: bool) -> None:
    assert equal(x, y, tol) is expected


def test_reported_differences_stay_finite_and_honest() -> None:
    sas = pl.DataFrame({"id": [1, 2], "x": [1.5e308, 1e308], "y": [1e308, 1.0]})
    py = pl.DataFrame({"id": [1, 2], "x": [1e308, -1e308], "y": [1e308 * (1 + 1e-6), 1.0]})
    result = compare_frames(sas, py, keys=["id"], tolerance={"default": {"method": "relative", "criterion": 1e-5}})
    x = column(result, "x")
    assert x.mismatches == 2 and status(result, "numeric_tolerance") == "fail"
    assert x.max_rel_diff == pytest.approx(2.0)  # (1e308 - -1e308) / 1e308, not inf
    assert x.max_abs_diff == 1.7976931348623157e308  # 2e308 is past the largest double: reported as it
    assert column(result, "y").mismatches == 0
    json.dumps(result.to_dict(), allow_nan=False)  # the report has no inf/nan numbers


# --------------------------------------------------------------------------------------------------------------
# 4. tolerance.default is for numbers; dates, datetimes and times have their own defaults


def _temporal_frames(shift_hours: float, shift_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    ts = [dt.datetime(2024, 3, 1, 8, 0), dt.datetime(2024, 3, 2, 9, 30)]
    days = [dt.date(2024, 3, 1), dt.date(2024, 3, 2)]
    times = [dt.time(8, 0), dt.time(9, 30)]
    sas = pl.DataFrame({"id": [1, 2], "ts": ts, "d": days, "t": times, "x": [100.0, 200.0]})
    py = pl.DataFrame({
        "id": [1, 2], "ts": [v + dt.timedelta(hours=shift_hours) for v in ts],
        "d": [v + dt.timedelta(days=shift_days) for v in days],
        "t": [(dt.datetime.combine(dt.date(2024, 1, 1), v) + dt.timedelta(hours=shift_hours)).time() for v in times],
        "x": [100.0005, 200.001],
    })
    return sas, py


def test_default_tolerance_does_not_reach_dates_times_and_datetimes() -> None:
    sas, py = _temporal_frames(shift_hours=5, shift_days=1)
    result = compare_frames(sas, py, keys=["id"], tolerance={"default": {"method": "relative", "criterion": 1e-4}})
    assert column(result, "x").mismatches == 0  # numbers use the default
    for name in ("ts", "d", "t"):
        assert column(result, name).mismatches == 2, name
        assert column(result, name).method == "exact"
    assert status(result, "date_equivalence") == "fail"


def test_temporal_defaults_are_absolute_in_days_and_seconds() -> None:
    sas, py = _temporal_frames(shift_hours=5, shift_days=1)
    tolerance = {"default_date": {"method": "absolute", "criterion": 1},
                 "default_datetime": {"method": "absolute", "criterion": 5 * 3600},
                 "default_time": {"method": "absolute", "criterion": 5 * 3600}}
    result = compare_frames(sas, py, keys=["id"], tolerance=tolerance)
    assert status(result, "date_equivalence") == "pass"
    assert column(result, "x").mismatches == 2  # the numeric default is still exact
    tighter = compare_frames(sas, py, keys=["id"], tolerance={**tolerance, "ts": {"method": "absolute",
                                                                                     "criterion": 3600}})
    assert column(tighter, "ts").mismatches == 2 and column(tighter, "t").mismatches == 0


@pytest.mark.parametrize("key", ["default_date", "default_datetime", "default_time"])
@pytest.mark.parametrize("method", ["relative", "percent"])
def test_relative_or_percent_temporal_default_is_a_spec_error(key: str, method: str) -> None:
    sas, py = _temporal_frames(0, 0)
    with pytest.raises(SpecError) as info:
        compare_frames(sas, py, keys=["id"], tolerance={key: {"method": method, "criterion": 1e-5}})
    assert f"tolerance.{key}" in str(info.value) and "absolute" in str(info.value)


@pytest.mark.parametrize("name", ["ts", "d", "t"])
def test_relative_tolerance_named_on_a_temporal_column_is_a_spec_error(name: str) -> None:
    sas, py = _temporal_frames(0, 0)
    with pytest.raises(SpecError) as info:
        compare_frames(sas, py, keys=["id"], tolerance={name: {"method": "relative", "criterion": 1e-5}})
    assert f"tolerance.{name}" in str(info.value)


def test_temporal_default_error_names_the_file_and_key(tmp_path: Path) -> None:
    folder = make_job(tmp_path, "job", """
        [job]
        python = "port:run"
        [datasets.a]
        sas = "a.sas7bdat"
        tolerance.default_time = { method = "percent", criterion = 1 }
    """)
    write_sas7bdat(folder / "a.sas7bdat", [Column("ID", "numeric", [1])])
    with pytest.raises(SpecError) as info:
        load_job(folder)
    text = str(info.value)
    assert "parity.toml" in text and "datasets.a.tolerance.default_time" in text


def test_python_date_against_sas_number_without_format_is_temporal(tmp_path: Path) -> None:
    path = tmp_path / "n.sas7bdat"
    day = (dt.date(2024, 3, 1) - EPOCH.date()).days
    write_sas7bdat(path, [Column("ID", "numeric", [1, 2]), Column("D", "numeric", [day, day + 1])])
    py = pl.DataFrame({"id": [1, 2], "d": [dt.date(2024, 3, 2), dt.date(2024, 3, 3)]})
    result = compare_frames(path, py, keys=["id"], tolerance={"default": {"method": "relative", "criterion": 1e-4}})
    assert column(result, "D").kind == "date" and column(result, "D").mismatches == 2
    dated = compare_frames(path, py, keys=["id"], tolerance={"default_date": {"method": "absolute", "criterion": 1}})
    assert column(dated, "D").mismatches == 0


# --------------------------------------------------------------------------------------------------------------
# 5 and 12. NOMISSING: a missing value equals anything but an infinity; character missing values too


def test_nomissing_never_equals_an_infinity(tmp_path: Path) -> None:
    path = tmp_path / "m.sas7bdat"
    write_sas7bdat(path, [Column("ID", "numeric", [1, 2, 3, 4]),
                          Column("X", "numeric", [None, SpecialMissing("A"), None, 5])])
    py = pl.DataFrame({"id": [1, 2, 3, 4], "x": [float("inf"), float("-inf"), 7.0, None]})
    result = compare_frames(path, py, keys=["id"], numbers={"nomissing": True})
    assert column(result, "X").mismatches == 2  # . vs +inf, .A vs -inf; . vs 7 and 5 vs null are equal
    assert compare_frames(path, py, keys=["id"], nomissing=True).columns == result.columns


@pytest.mark.parametrize("option", [{"numbers": {"nomissing": True}}, {"nomissing": True}])
def test_nomissing_covers_character_missing_values(option: dict[str, Any]) -> None:
    sas = pl.DataFrame({"id": [1, 2, 3, 4], "s": ["", "X", None, "a"]})
    py = pl.DataFrame({"id": [1, 2, 3, 4], "s": ["X", "  ", "Y", "b"]})
    assert column(compare_frames(sas, py, keys=["id"]), "s").mismatches == 4
    result = compare_frames(sas, py, keys=["id"], **option)
    assert column(result, "s").mismatches == 1  # only 'a' vs 'b'


def test_nomissing_written_twice_must_agree() -> None:
    sas = pl.DataFrame({"id": [1]})
    with pytest.raises(SpecError, match="nomissing"):
        compare_frames(sas, sas, nomissing=True, numbers={"nomissing": False})
    assert compare_frames(sas, sas, nomissing=True, numbers={"nomissing": True}).verdict == "pass"


# --------------------------------------------------------------------------------------------------------------
# 6 and 10. SAS collation: bytes of the file's encoding, blank-padded, never case-folded or stripped

WLATIN1_ORDER = ["A", "a", "€", "‹", "é"]  # 0x41 < 0x61 < 0x80 < 0x8B < 0xE9
CODE_POINT_ORDER = ["A", "a", "é", "‹", "€"]  # U+00E9 < U+2039 < U+20AC


def _sorted_frames(values: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = pl.DataFrame({"id": list(range(len(values))), "s": values, "n": [1.0] * len(values)})
    return frame, frame


@pytest.mark.parametrize("encoding", ["cp1252", "wlatin1-like windows-1252"])
def test_sort_order_collates_by_the_encoding_bytes(encoding: str) -> None:
    codec = encoding.split()[-1]
    sas, py = _sorted_frames(WLATIN1_ORDER)
    result = compare_frames(sas, py, keys=["id"], sort_by=["s"], encoding=codec)
    assert status(result, "sort_order") == "pass"
    assert details(result, "sort_order")["python"]["collation"]["encoding"] == codec
    sas, py = _sorted_frames(CODE_POINT_ORDER)
    wrong = compare_frames(sas, py, keys=["id"], sort_by=["s"], encoding=codec)
    assert status(wrong, "sort_order") == "fail"
    assert details(wrong, "sort_order")["python"]["first_row"] == 4


def test_sort_order_uses_the_sas_files_encoding(tmp_path: Path) -> None:
    path = tmp_path / "s.sas7bdat"
    write_sas7bdat(path, [Column("S", "string", WLATIN1_ORDER)])
    table = read_sas(path)
    assert table.meta.encoding == "UTF-8"
    spec = make_spec(sort_by=["s"])

    def sort_status(sas: Table, values: list[str]) -> str:
        py = table_from_frame(pl.DataFrame({"s": values}), "<test>", None, "dataframe")
        return status(build_result(compare_tables(spec, sas, py)), "sort_order")

    # UTF-8 bytes: é (C3 A9) < ‹ (E2 80 B9) < € (E2 82 AC), the code point order
    assert sort_status(table, WLATIN1_ORDER) == "fail"
    assert sort_status(table, CODE_POINT_ORDER) == "pass"
    wlatin1 = dataclasses.replace(table, meta=dataclasses.replace(table.meta, encoding="WINDOWS-1252"))
    assert sort_status(wlatin1, WLATIN1_ORDER) == "pass"
    assert sort_status(wlatin1, CODE_POINT_ORDER) == "fail"


def test_characters_the_encoding_lacks_sort_last_and_are_reported() -> None:
    sas, py = _sorted_frames(["a", "é", "日本", "日本語"])
    result = compare_frames(sas, py, keys=["id"], sort_by=["s"], encoding="latin-1")
    assert status(result, "sort_order") == "pass"
    collation = details(result, "sort_order")["python"]["collation"]
    assert collation["unencodable_values"] == {"sas": 2, "py": 2}
    assert "cannot encode" in collation["note"]


def test_key_order_uses_sas_collation_too() -> None:
    sas, py = _sorted_frames(WLATIN1_ORDER)
    sas = sas.with_columns(pl.col("s").alias("k"))
    py = py.with_columns(pl.col("s").alias("k")).reverse()
    result = compare_frames(sas, py, keys=["k"], encoding="cp1252")
    order = result.check("sort_order")
    # the SAS output is in key order; Python is reversed: noted (information without sort_by), not a warning
    assert order is not None and order.status == "pass" and order.details["inversions"]
    same = compare_frames(sas, py.reverse(), keys=["k"], encoding="cp1252")
    same_order = same.check("sort_order")
    assert same_order is not None and same_order.status == "pass" and not same_order.details["inversions"]


@pytest.mark.parametrize(("values", "ok"), [
    (["a\t", "a", "a b", "ab", "b"], True),  # SAS pads with blanks: tab < blank, so 'a\t' < 'a'
    (["a", "a\t", "a b", "ab", "b"], False),  # code point order
    (["", "\t", "a"], False),  # a tab sorts below the blank (missing) value
    (["\t", "", "a"], True),
    (["a   ", "a", "b"], True),  # trailing blanks never count
    (["  z", " y", "a"], True),  # leading blanks count
    (["B", "a", "b"], True),  # bytes: uppercase before lowercase
])
def test_padded_collation(values: list[str], ok: bool) -> None:
    sas, py = _sorted_frames(values)
    result = compare_frames(sas, py, keys=["id"], sort_by=["s"])
    assert (status(result, "sort_order") == "pass") is ok
    assert details(result, "sort_order")["sas"]["violations"] == (0 if ok else 1)


@pytest.mark.parametrize("strings", [{"ignore_case": True}, {"strip": "both"}, {"strip": "none"}])
def test_string_rules_do_not_change_the_collation(strings: dict[str, Any]) -> None:
    sas, py = _sorted_frames(["  z", "B", "a", "b "])
    assert status(compare_frames(sas, py, keys=["id"], sort_by=["s"], strings=strings), "sort_order") == "pass"
    sas, py = _sorted_frames(["a", "B"])  # in order only ignoring case
    assert status(compare_frames(sas, py, keys=["id"], sort_by=["s"], strings=strings), "sort_order") == "fail"
    keyed = compare_frames(sas.with_columns(k=pl.col("s")), py.with_columns(k=pl.col("s")), keys=["k"],
                           strings=strings)
    assert keyed.rows["matched"] == 2


# --------------------------------------------------------------------------------------------------------------
# 8. nanosecond datetimes and datetime_precision


def test_nanosecond_datetimes_round_like_sas() -> None:
    base = dt.datetime(2024, 5, 17, 13, 45, 12)
    micros = [123456, 654321, 999999, 500000]
    sas_values = [sas_seconds(base) + m / 1e6 for m in micros]
    # pandas float-second arithmetic: the nanoseconds fall just below (or above) the microsecond
    ns = [int((base - dt.datetime(1970, 1, 1)).total_seconds()) * 10**9 + m * 1000 + off
          for m, off in zip(micros, [-1, 999 - 1000, 1, -3], strict=True)]
    py = pl.DataFrame({"id": [1, 2, 3, 4], "ts": pl.Series(ns, dtype=pl.Int64).cast(pl.Datetime("ns"))})
    sas = pl.DataFrame({"id": [1, 2, 3, 4], "ts": sas_values})
    result = compare_frames(sas, py, keys=["id"])
    assert column(result, "ts").kind == "datetime"  # a Python datetime against a SAS number: a datetime
    assert column(result, "ts").mismatches == 0
    off = py.with_columns(pl.Series("ts", [v + 1000 for v in ns], dtype=pl.Int64).cast(pl.Datetime("ns")))
    assert column(compare_frames(sas, off, keys=["id"]), "ts").mismatches == 4  # a real 1 us shift fails


@pytest.mark.parametrize(("precision", "sas_s", "py_s", "equal_"), [
    ("s", 0.4999, 0.5001, True),
    ("s", 0.5001, 1.4999, False),
    ("s", 10.0, 10.5, True),  # half a unit is equal (PROC COMPARE ABSOLUTE: unequal only when greater)
    ("s", 10.0, 10.51, False),
    ("ms", 0.0004999, 0.0005001, True),
    ("ms", 0.0005001, 0.0014999, False),
    ("us", 0.0000004, 0.0000006, True),
    ("us", 0.0000005, 0.0000015, False),
])
def test_datetime_precision_is_half_a_unit(precision: str, sas_s: float, py_s: float, equal_: bool) -> None:
    start = sas_seconds(dt.datetime(2024, 1, 1))
    sas = pl.DataFrame({"id": [1], "ts": [start + sas_s], "t": [3600 + sas_s]})
    ns = round(py_s * 1e9)
    unix_ns = int((dt.datetime(2024, 1, 1) - dt.datetime(1970, 1, 1)).total_seconds()) * 10**9 + ns
    py = pl.DataFrame({"id": [1], "ts": pl.Series([unix_ns]).cast(pl.Datetime("ns")),
                       "t": pl.Series([3600 * 10**9 + ns]).cast(pl.Time)})
    result = compare_frames(sas, py, keys=["id"], dates={"datetime_precision": precision})
    assert column(result, "ts").kind == "datetime" and column(result, "t").kind == "time"
    assert (column(result, "ts").mismatches == 0) is equal_
    assert (column(result, "t").mismatches == 0) is equal_


@pytest.mark.parametrize("unit", ["ns", "us"])
@pytest.mark.parametrize("when", [
    dt.datetime(1677, 9, 21, 0, 12, 44, 1), dt.datetime(1677, 12, 31, 23, 59, 59, 999999),
    dt.datetime(2262, 4, 11, 23, 47, 16, 854775), dt.datetime(2262, 1, 1, 0, 0, 0, 500001),
])
def test_extreme_datetimes_compare_equal(unit: str, when: dt.datetime) -> None:
    sas = pl.DataFrame({"k": [sas_seconds(when)], "ts": [sas_seconds(when)]})
    py = pl.DataFrame({"k": [when], "ts": [when]}).with_columns(pl.all().cast(pl.Datetime(unit)))
    result = compare_frames(sas, py, keys=["k"])
    assert result.rows["matched"] == 1, "datetime key"
    assert column(result, "ts").mismatches == 0
    # the same instant computed another way in SAS (one ulp apart) is still equal
    nudged = sas.with_columns(pl.lit(math.nextafter(sas_seconds(when), math.inf)).alias("ts"))
    assert column(compare_frames(nudged, py, keys=["k"]), "ts").mismatches == 0
    moved = py.with_columns(pl.col("ts") + pl.duration(microseconds=10))
    assert column(compare_frames(sas, moved, keys=["k"]), "ts").mismatches == 1


# --------------------------------------------------------------------------------------------------------------
# 9. any spec-valid combination of keys / sort_by / ignore / rename / string and temporal columns runs


def _combo_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    sas = pl.DataFrame({
        "id": [1.0, 2.0, 3.0, 4.0],
        "name": ["ann", "bob", "cy", "dee"],
        "code": ["B", "a", "a", "c"],
        "amt": [1.5, None, 3.0, 4.0],
        "d": [dt.date(2024, 1, i) for i in (1, 2, 3, 4)],
        "ts": [dt.datetime(2024, 1, 1, i) for i in (1, 2, 3, 4)],
        "Old Name": ["x", "y", "z", "w"],
    })
    py = sas.rename({"Old Name": "new_name"}).with_columns(pl.col("id").cast(pl.Int64))
    return sas, py


@pytest.mark.parametrize(("keys", "sort_by", "ignore", "rename"), [
    (keys, sort_by, ignore, rename)
    for keys, sort_by, ignore, rename in itertools.product(
        [[], ["id"], ["name"], ["ts"], ["code", "d"]],
        [[], ["name"], ["code", "-id"], ["DESCENDING ts", "d"], ["amt"], ["Old Name"]],
        [[], ["name"], ["amt", "ts"]],
        [False, True],
    )
    if not set(keys) & set(ignore)
])
def test_no_combination_crashes(keys: list[str], sort_by: list[str], ignore: list[str], rename: bool) -> None:
    sas, py = _combo_frames()
    if not rename:
        py = py.rename({"new_name": "Old Name"})
    options: dict[str, Any] = {"keys": keys, "sort_by": sort_by, "ignore": ignore}
    if rename:
        options["rename"] = {"Old Name": "new_name"}
    result = compare_frames(sas, py, **options)
    assert result.verdict in ("pass", "fail")
    expected = "pass" if sort_by else ("pass" if keys else "skipped")
    if sort_by:  # both sides have the same order: each side is judged alike
        sas_v = details(result, "sort_order")["sas"]["violations"]
        assert details(result, "sort_order")["python"]["violations"] == sas_v
        expected = "pass" if sas_v == 0 else "fail"
    assert status(result, "sort_order") == expected
    assert status(result, "string_equality") in ("pass", "skipped")
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize("column_name", ["name", "code"])
def test_sort_by_a_compared_or_ignored_string_column(column_name: str) -> None:
    sas, py = _combo_frames()
    for ignore in ([], [column_name]):
        good = compare_frames(sas.sort(column_name), py.sort(column_name), keys=["id"], sort_by=[column_name],
                              ignore=ignore, rename={"Old Name": "new_name"})
        assert status(good, "sort_order") == "pass"
        bad = compare_frames(sas.sort(column_name), py.sort(column_name, descending=True), keys=["id"],
                             sort_by=[column_name], ignore=ignore, rename={"Old Name": "new_name"})
        assert status(bad, "sort_order") == "fail"
