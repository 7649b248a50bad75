"""Diagnoses (parity/checks/explain.py): every code fires on its signature with the right row count (positive) and stays
silent on a near-miss neighbour (negative).  A wrong cause is worse than none."""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.api import compare_frames
from parity.checks.explain import CODES, MAX_PAIRS, Pair, explain
from parity.formats import EPOCH_SHIFT_SECONDS
from tests.helpers import Column, write_sas7bdat

DAY = 86400.0
T0 = 2_000_000_000.0  # a SAS datetime (2023)


def diagnose(pairs: list[Pair], kind: str = "numeric", length: int | None = None, **kw: Any) -> dict[str, int]:
    """code -> rows explained."""
    out = explain(pairs, kind, length, **kw)
    codes = [str(e["code"]) for e in out]
    assert len(codes) == len(set(codes)), out
    return {str(e["code"]): int(e["rows"]) for e in out}  # type: ignore[call-overload]


def messages(pairs: list[Pair], kind: str = "numeric", length: int | None = None, **kw: Any) -> dict[str, str]:
    return {str(e["code"]): f"{e['message']} | {e['hint']}" for e in explain(pairs, kind, length, **kw)}


def nums(sas: list[float], py: list[float]) -> list[Pair]:
    return [Pair(s, p) for s, p in zip(sas, py, strict=True)]


def sas_round(x: float, unit: str = "0.01") -> float:
    """SAS ROUND: the decimal value, halves away from zero."""
    return float(Decimal(repr(x)).quantize(Decimal(unit), ROUND_HALF_UP))


def mismatches(sas: list[float], py: list[float]) -> list[Pair]:
    return [Pair(s, p) for s, p in zip(sas, py, strict=True) if s != p]


RNG = random.Random(7)
THREE_DECIMALS = [RNG.randint(0, 10**6) / 1000 for _ in range(20_000)]


# ---- rounding_half_even (item 17)


def test_rounding_half_even_numpy_style_scaled_rounding() -> None:
    pairs = mismatches([sas_round(x) for x in THREE_DECIMALS], [round(x * 100) / 100 for x in THREE_DECIMALS])
    assert len(pairs) > 500
    assert diagnose(pairs) == {"rounding_half_even": len(pairs)}


def test_rounding_half_even_builtin_round_binary_ties() -> None:
    raw = [0.125, 0.375, 1.005, 2.675, 0.5, 1.5, 2.5, 3.333, 1.015, 4.435]
    pairs = mismatches([sas_round(x, "0.01") for x in raw], [round(x, 2) for x in raw])
    assert [p.python for p in pairs] == [0.12, 1.0, 2.67, 1.01, 4.43]  # odd digits too: 2.675 is 2.67499999...
    assert diagnose(pairs) == {"rounding_half_even": 5}


def test_rounding_half_even_builtin_round_on_many_values() -> None:
    pairs = mismatches([sas_round(x) for x in THREE_DECIMALS], [round(x, 2) for x in THREE_DECIMALS])
    assert diagnose(pairs) == {"rounding_half_even": len(pairs)}


def test_rounding_half_even_single_three_vs_two_and_negative_values() -> None:
    assert diagnose(nums([3.0], [2.0])) == {"rounding_half_even": 1}
    assert diagnose(nums([-0.13, -2.0, -1.0], [-0.12, -1.0 + -1.0, 0.0])) == {"rounding_half_even": 2}
    assert diagnose(nums([30.0], [20.0])) == {"rounding_half_even": 1}  # ROUND(25, 10)


def test_rounding_half_even_not_for_truncation() -> None:
    pairs = mismatches([sas_round(x) for x in THREE_DECIMALS], [math.floor(x * 100 + 1e-9) / 100 for x in THREE_DECIMALS])
    assert "rounding_half_even" not in diagnose(pairs)
    assert "rounding_half_even" not in diagnose(nums([1.24], [1.23]))
    assert "rounding_half_even" not in diagnose(nums([1.24, 2.38, 0.56, 7.72, 3.06], [1.23, 2.37, 0.55, 7.71, 3.05]))


def test_rounding_half_even_not_for_ceil_vs_floor_or_swapped_values() -> None:
    raw = [RNG.uniform(0, 1000) for _ in range(200)]
    assert "rounding_half_even" not in diagnose(mismatches([float(math.ceil(x)) for x in raw],
                                                           [float(math.floor(x)) for x in raw]))
    assert "rounding_half_even" not in diagnose(nums([3.0, 4.0, 8.0, 2.0], [2.0, 3.0, 7.0, 1.0]))
    assert diagnose(nums([2.0, 3.0], [3.0, 2.0])) == {}  # swapped: half the pairs have SAS nearer to zero


def test_rounding_half_even_not_named_for_a_minority() -> None:
    pairs = nums([3.0, 0.13], [2.0, 0.12]) + nums([10.0, 20.0, 30.0], [11.5, 27.0, 41.0])
    assert "rounding_half_even" not in diagnose(pairs)


def test_majority_counts_every_difference_a_missing_cause_does_not_explain() -> None:
    rounding = nums([3.0, 0.13], [2.0, 0.12])
    unexplained = [Pair(5.0, None), Pair(6.0, None), Pair(None, 7.0)]
    assert diagnose(rounding + unexplained) == {"missing_in_python": 2, "missing_in_sas": 1}  # 2 of 5: no cause
    explained = [Pair(None, 0.0), Pair(None, 0.0), Pair(None, math.inf)]
    assert diagnose(rounding + explained) == {"rounding_half_even": 2, "sum_of_missing": 2, "division_by_zero": 1}
    strings = [Pair("SMITH", "Smith"), Pair("JONES", "Jones"), Pair("x", None), Pair(None, "nan")]
    assert diagnose(strings, "string") == {"case": 2, "missing_as_text": 1, "missing_in_python": 1}  # 2 of 3


def test_rounding_not_for_dates() -> None:
    assert diagnose(nums([3.0], [2.0]), "date") == {}


# ---- significant_digits and float_noise (item 21)


def test_significant_digits_12_of_a_text_export() -> None:
    values = [RNG.uniform(-1e6, 1e6) for _ in range(3000)]
    pairs = mismatches(values, [float(f"{x:.11e}") for x in values])
    out = messages(pairs)
    assert diagnose(pairs) == {"significant_digits": len(pairs)}
    assert "12 significant digits (Python side)" in out["significant_digits"]
    assert "criterion = 1e-11" in out["significant_digits"]


def test_significant_digits_15_on_the_sas_side_replaces_float_noise() -> None:
    values = [RNG.uniform(0, 1) / 3 for _ in range(500)]
    pairs = mismatches([float(f"{x:.14e}") for x in values], values)
    assert diagnose(pairs) == {"significant_digits": len(pairs)}  # every diff is also < 1e-12: not listed twice
    assert "15 significant digits (SAS side)" in messages(pairs)["significant_digits"]


def test_decimal_places_one_side_rounded_and_the_other_not() -> None:
    for lo, hi in ((100, 999), (1, 100_000)):
        values = [RNG.uniform(lo, hi) for _ in range(300)]
        pairs = mismatches([sas_round(x) for x in values], values)
        out = messages(pairs)
        assert diagnose(pairs) == {"decimal_places": len(pairs)}  # not "5 significant digits"
        assert "the SAS values are rounded" in out["decimal_places"] and "2 decimal" in out["decimal_places"]
    py_side = mismatches([x / 7 for x in range(1, 40)], [round(x / 7, 3) for x in range(1, 40)])
    assert diagnose(py_side) == {"decimal_places": len(py_side)}
    assert "the Python values are rounded" in messages(py_side)["decimal_places"]


def test_decimal_places_negatives() -> None:
    assert diagnose(nums([1.0, 7.0, 10.0], [1.5, 7.5, 10.5])) == {"constant_offset": 3}  # halves: a shift
    assert "decimal_places" not in diagnose(nums([1.25, 2.5, 3.75], [1.2, 2.0, 3.1]))  # not the nearest
    assert "decimal_places" not in diagnose(nums([0.13, 0.38], [0.12, 0.37]))  # both rounded: one unit apart


def test_float_noise_from_summation_order() -> None:
    sas, py = [], []
    for _ in range(300):
        xs = [RNG.uniform(0, 1) for _ in range(50)]
        sas.append(sum(xs))
        py.append(math.fsum(xs))
    pairs = mismatches(sas, py)
    assert pairs and diagnose(pairs) == {"float_noise": len(pairs)}
    assert diagnose(nums([0.3, 0.8], [0.1 + 0.2, 0.1 + 0.7])) == {"float_noise": 2}


def test_float_noise_not_for_larger_differences_or_dates() -> None:
    assert "float_noise" not in diagnose(nums([1.0, 2.0], [1.0 + 1e-9, 2.0 + 3e-9]))
    # a datetime 0.4 ms shift is below 1e-12 relative, but it is a real shift, not noise
    shift = nums([T0 + k + 0.123456 for k in range(5)], [T0 + k + 0.123856 for k in range(5)])
    assert diagnose(shift, "datetime") == {"subsecond_precision": 5}
    assert "under 1 ms (at most 0.4 ms)" in messages(shift, "datetime")["subsecond_precision"]
    whole = nums([T0 + k for k in range(5)], [T0 + k + 0.0004 for k in range(5)])
    assert diagnose(whole, "datetime") == {"subsecond_precision": 5}
    assert "rounded or truncated" not in messages(whole, "datetime")["subsecond_precision"]  # a constant: no
    kept_to_us = nums([T0 + k * 7919.0 for k in range(5)], [round(T0 + k * 7919.0 + 0.0004, 6) for k in range(5)])
    assert diagnose(kept_to_us, "datetime") == {"subsecond_precision": 5}
    assert diagnose(kept_to_us, "time") == {"subsecond_precision": 5}


def test_float_noise_not_for_a_constant_shift_of_plain_numbers() -> None:
    big = [2e9 + k for k in range(4)]
    assert diagnose(nums(big, [b + 0.0004 for b in big])) == {"constant_offset": 4}
    assert diagnose(nums([0.3, 0.3], [0.1 + 0.2, 0.1 + 0.2])) == {"float_noise": 2}  # the same 1-ulp noise twice


def test_float_noise_not_named_for_a_minority() -> None:
    assert "float_noise" not in diagnose(nums([0.3, 5.0, 6.0], [0.1 + 0.2, 7.0, 9.5]))


# ---- storage_truncation


def _truncate(x: float, length: int) -> float:
    import struct

    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    bits &= ((1 << 64) - 1) ^ ((1 << (64 - 8 * length)) - 1)
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


def test_storage_truncation_positive_and_negative() -> None:
    py = [1 / 3, 2 / 3, 0.1, 123.456]
    pairs = nums([_truncate(x, 4) for x in py], py)
    assert diagnose(pairs, length=4) == {"storage_truncation": 4}
    assert "storage_truncation" not in diagnose(pairs, length=8)
    assert "storage_truncation" not in diagnose(pairs, length=3)  # truncated to 4 bytes, not 3
    # SAS rounded (not truncated) to the same precision: one step above the truncation
    up = nums([_truncate(x, 4) + (_truncate(x, 4) - _truncate(_truncate(x, 4) * (1 - 1e-6), 4)) for x in py], py)
    assert "storage_truncation" not in diagnose(up, length=4)


# ---- missing patterns (item 22)


def test_each_missing_pattern_with_its_count() -> None:
    pairs = [Pair(None, 0.0), Pair(None, 0.0), Pair(None, math.inf), Pair(1.0, 2.0)]
    assert diagnose(pairs) == {"sum_of_missing": 2, "division_by_zero": 1}
    assert diagnose([Pair(None, -math.inf)]) == {"division_by_zero": 1}


def test_division_by_zero_only_where_sas_is_missing() -> None:
    assert diagnose([Pair(5.0, math.inf)]) == {}


def test_sum_of_missing_negatives() -> None:
    assert diagnose([Pair(None, 0.0, "A")]) == {"missing_in_sas": 1}  # special missing .A, not SUM()
    assert diagnose([Pair(None, 0.5)]) == {"missing_in_sas": 1}
    # a stray 0 among numbers the port has where SAS has none
    pairs = [Pair(None, 0.0), Pair(None, 5.0), Pair(None, 7.0), Pair(None, 9.0)]
    assert diagnose(pairs) == {"missing_in_sas": 4}


def test_special_missing_positive_and_negative() -> None:
    assert diagnose([Pair(None, None, "A"), Pair(None, None, "_"), Pair(None, 1.0)]) == \
        {"special_missing": 2, "missing_in_sas": 1}
    assert diagnose([Pair(None, 3.0, "Z")]) == {"missing_in_sas": 1}
    assert "special_missing" not in diagnose([Pair(None, None), Pair(2.0, None)])


def test_missing_in_python_numeric_and_character() -> None:
    assert diagnose([Pair(1.5, None), Pair(2.5, None), Pair(None, 0.0)]) == \
        {"sum_of_missing": 1, "missing_in_python": 2}
    assert diagnose([Pair("abc", None), Pair(None, "x"), Pair(None, "y")], "string") == \
        {"missing_in_sas": 2, "missing_in_python": 1}
    assert "blank in Python" in messages([Pair("abc", None)], "string")["missing_in_python"]
    assert diagnose([Pair(1.0, 2.0)]) == {}


def test_blank_vs_null() -> None:
    assert diagnose([Pair("", None), Pair(None, "  "), Pair("x", None)], "string") == \
        {"blank_vs_null": 2, "missing_in_python": 1}
    assert "blank_vs_null" not in diagnose([Pair("x", None), Pair(None, "y")], "string")
    assert diagnose([Pair("", "x")], "string") == {"missing_in_sas": 1}  # a blank is SAS's missing value


def test_missing_as_text() -> None:
    assert diagnose([Pair(None, "nan"), Pair(None, "None"), Pair(".", None)], "string") == {"missing_as_text": 3}
    assert diagnose([Pair(None, "NA")], "string") == {"missing_in_sas": 1}  # 'NA' may be a real value
    assert "missing_as_text" not in diagnose([Pair(None, "nan")], "numeric")
    assert diagnose([Pair(None, 1.0)]) == {"missing_in_sas": 1}


def test_shapes_come_after_causes() -> None:
    out = explain([Pair(None, 5.0), Pair(None, 6.0), Pair(None, 7.0), Pair(None, math.inf)], "numeric", None)
    assert [e["code"] for e in out] == ["division_by_zero", "missing_in_sas"]


# ---- floor_vs_trunc


def test_floor_vs_trunc_both_directions() -> None:
    raw = [-2.5, -0.3, -7.9, -10.1]
    assert diagnose(nums([float(math.trunc(x)) for x in raw], [float(math.floor(x)) for x in raw])) == \
        {"floor_vs_trunc": 4}
    out = messages(nums([float(math.floor(x)) for x in raw], [float(math.trunc(x)) for x in raw]))
    assert set(out) == {"floor_vs_trunc"} and "FLOOR" in out["floor_vs_trunc"]


def test_floor_vs_trunc_not_for_positive_off_by_one() -> None:
    assert "floor_vs_trunc" not in diagnose(nums([3.0, 5.0, 9.0], [2.0, 4.0, 8.0]))
    assert "floor_vs_trunc" not in diagnose(nums([-2.0, -3.0, 4.0, 7.0, 1.0], [-3.0, -4.0, 9.0, 1.0, 5.0]))


# ---- dates and times (item 20)


def test_epoch_shift_dates_and_datetimes() -> None:
    days = [23000.0, 23400.0, 100.0, -5.0]
    assert diagnose(nums(days, [d + 3653 for d in days]), "date") == {"epoch_shift": 4}
    assert diagnose(nums(days, [d - 3653 for d in days]), "date") == {"epoch_shift": 4}
    secs = [T0, T0 + 0.25, 1e9]
    assert diagnose(nums(secs, [s - EPOCH_SHIFT_SECONDS for s in secs]), "datetime") == {"epoch_shift": 3}


def test_epoch_shift_is_one_constant_not_plus_ten_years() -> None:
    pairs = nums([23000.0, 23400.0, 23800.0], [23000.0 + 3653, 23400.0 + 3653, 23800.0 + 3652])
    assert diagnose(pairs, "date") == {"calendar_shift": 3}  # 2022-12-21 -> 2032-12-21, 2025-03-01 -> 2035-03-01
    secs = [T0, T0 + 1e7, T0 + 2e7]
    out = diagnose(nums(secs, [secs[0] + 3653 * DAY, secs[1] + 3652 * DAY, secs[2] + 3653 * DAY]), "datetime")
    assert "epoch_shift" not in out and "constant_offset" not in out
    assert "epoch_shift" not in diagnose(nums([1.0, 2.0], [3654.0, 3655.0]), "numeric")


def _days(d: dt.date) -> float:
    return float((d - dt.date(1960, 1, 1)).days)


def test_calendar_shift_plus_ten_years_is_a_shape() -> None:
    dates = [dt.date(2001, 3, 5), dt.date(2003, 7, 1), dt.date(2005, 1, 31), dt.date(2008, 2, 29)]
    moved = [dt.date(2011, 3, 5), dt.date(2013, 7, 1), dt.date(2015, 1, 31), dt.date(2018, 2, 28)]
    pairs = nums([_days(d) for d in dates], [_days(d) for d in moved])
    assert sorted({p.python - p.sas for p in pairs}) == [3652.0, 3653.0]  # type: ignore[operator]
    out = explain(pairs, "date", None)
    assert [(e["code"], e["rows"]) for e in out] == [("calendar_shift", 4)]
    assert "+120 month(s) (+10 years)" in str(out[0]["message"])
    secs = nums([_days(d) * DAY + 3723.5 for d in dates], [_days(d) * DAY + 3723.5 for d in moved])
    assert diagnose(secs, "datetime") == {"calendar_shift": 4}


def test_calendar_shift_negatives() -> None:
    dates = [dt.date(2001, 3, 5), dt.date(2003, 7, 1), dt.date(2005, 1, 31)]
    epoch = nums([_days(d) for d in dates], [_days(d) + 3653 for d in dates])
    assert diagnose(epoch, "date") == {"epoch_shift": 3}  # the cause, not also a calendar shape
    assert "calendar_shift" not in diagnose(nums([_days(d) for d in dates], [_days(d) + 40 for d in dates]), "date")
    assert "calendar_shift" not in diagnose(nums([_days(d) for d in dates], [_days(d) + 3653 for d in dates]))
    later = nums([_days(d) * DAY for d in dates], [(_days(d) + 3653) * DAY + 60 for d in dates])
    assert "calendar_shift" not in diagnose(later, "datetime")  # another time of day


def test_excel_serial_positive_and_negative() -> None:
    days = [23000.0, 23001.0, 5.0]
    assert diagnose(nums(days, [d + 21916 for d in days]), "date") == {"excel_serial": 3}
    assert "excel_serial" not in diagnose(nums(days, [days[0] + 21916, days[1] + 21916, days[2] + 21915]), "date")
    assert "excel_serial" not in diagnose(nums(days, [d + 21916 for d in days]), "numeric")


def test_timezone_constant_and_daylight_saving() -> None:
    secs = [T0 + k * 1000.5 for k in range(6)]
    assert diagnose(nums(secs, [s - 5 * 3600 for s in secs]), "datetime") == {"timezone": 6}
    dst = nums(secs, [s + (3600 if k % 2 else 7200) for k, s in enumerate(secs)])
    out = messages(dst, "datetime")
    assert diagnose(dst, "datetime") == {"timezone": 6} and "daylight saving" in out["timezone"]


def test_timezone_negatives() -> None:
    secs = [T0 + k * 1000.5 for k in range(4)]
    scattered = nums(secs, [secs[0] + 3600, secs[1] + 36000, secs[2] - 7200, secs[3] + 3600])
    assert "timezone" not in diagnose(scattered, "datetime")
    minority = nums(secs, [secs[0] + 3600, secs[1] + 17.0, secs[2] + 1234.5, secs[3] + 999.0])
    assert "timezone" not in diagnose(minority, "datetime")
    assert "timezone" not in diagnose(nums(secs[:2], [s + 3600 for s in secs[:2]]), "numeric")


def test_time_wrap_positive_and_negative() -> None:
    assert diagnose(nums([90000.0, 86400.0, -60.0], [3600.0, 0.0, 86340.0]), "time") == {"time_wrap": 3}
    assert "time_wrap" not in diagnose(nums([90000.0, 100000.0], [3601.0, 13000.0]), "time")
    assert "time_wrap" not in diagnose(nums([3600.0, 7200.0], [3600.0 + DAY, 7200.0 + DAY]), "time")


def test_subsecond_precision_truncated_or_rounded() -> None:
    secs = [T0 + k + f for k, f in enumerate((0.123456, 0.987654, 0.5005, 0.000321))]
    out = messages(nums(secs, [math.floor(s * 1000) / 1000 for s in secs]), "datetime")
    assert diagnose(nums(secs, [math.floor(s * 1000) / 1000 for s in secs]), "datetime") == {"subsecond_precision": 4}
    assert 'default_datetime = { method = "absolute", criterion = 0.001 }' in out["subsecond_precision"]
    assert "Python values" in out["subsecond_precision"]
    whole = nums([float(round(s)) for s in secs], secs)
    assert diagnose(whole, "datetime") == {"subsecond_precision": 4}
    assert "SAS values" in messages(whole, "datetime")["subsecond_precision"]
    assert "criterion = 1 }" in messages(whole, "datetime")["subsecond_precision"]
    times = [3600.25, 7200.5, 100.75]
    assert diagnose(nums(times, [float(int(t)) for t in times]), "time") == {"subsecond_precision": 3}


def test_subsecond_precision_not_for_a_constant_shift_of_more_than_a_millisecond() -> None:
    secs = [T0 + k for k in range(4)]
    assert diagnose(nums(secs, [s + 0.3 for s in secs]), "datetime") == {"constant_offset": 4}
    assert "subsecond_precision" not in diagnose(nums(secs, [s + 0.0004 for s in secs]), "numeric")
    minority = nums(secs, [secs[0] + 0.0004, secs[1] + 5, secs[2] + 61, secs[3] + 7.5])
    assert "subsecond_precision" not in diagnose(minority, "datetime")


# ---- date_without_format (item 14) and unit_ratio


def test_date_without_format_sas_day_counts_vs_python_datetimes() -> None:
    days = [23000.0, 23400.0, -100.0, 40000.0]
    pairs = nums(days, [d * DAY for d in days])
    assert diagnose(pairs, "datetime", column="VISITDT") == {"date_without_format": 4}  # no unit_ratio shape
    assert 'formats = { VISITDT = "DATE9." }' in messages(pairs, "datetime", column="VISITDT")["date_without_format"]
    with_time = nums(days, [d * DAY + 3600 * 13.5 for d in days])
    assert diagnose(with_time, "datetime", column="X") == {"date_without_format": 4}
    out = messages(pairs, "datetime", column="VISITDT", sas_format="DATETIME20")
    assert "datetime format DATETIME20" in out["date_without_format"]


def test_datetime_without_format_sas_seconds_vs_python_dates() -> None:
    days = [23000.0, 23400.0, 40000.0]
    pairs = nums([d * DAY + 600 for d in days], days)
    assert diagnose(pairs, "date", column="TS") == {"date_without_format": 3}
    assert 'formats = { TS = "DATETIME20." }' in messages(pairs, "date", column="TS")["date_without_format"]


def test_date_without_format_not_outside_the_day_range() -> None:
    big = [1e6, 2e6, 3e6]  # not dates 1900-2100: a plain unit mix-up
    assert diagnose(nums(big, [b * DAY for b in big]), "datetime") == {"unit_ratio": 3}
    assert "date_without_format" not in diagnose(nums([23000.0], [23000.0 * DAY + DAY]), "datetime")


def test_unit_ratio_positive_and_negative() -> None:
    assert diagnose(nums([1.5, 2.5, 4.0], [1500.0, 2500.0, 4000.0])) == {"unit_ratio": 3}
    assert diagnose(nums([0.5, 0.25], [50.0, 25.0])) == {"unit_ratio": 2}
    assert "unit_ratio" not in diagnose(nums([1.5, 2.5, 4.0], [1500.0, 7.0, 9.0]))


def test_constant_offset_positive_and_negative() -> None:
    assert diagnose(nums([1.0, 7.0, 10.0], [1.5, 7.5, 10.5])) == {"constant_offset": 3}
    assert diagnose(nums([1.0, 7.0, 10.0], [1.5, 7.5, 10.6])) == {}
    assert diagnose(nums([1.0], [1.5])) == {}  # one difference is not a pattern


# ---- strings (items 18, 19)


def test_length_truncation_bytes() -> None:
    assert diagnose([Pair("Mrs", "Mrs Smith"), Pair("abc", "abcdef")], "string", 3) == {"length_truncation": 2}
    # UTF-8: the cut falls inside 'ü' (2 bytes), which SAS drops
    assert diagnose([Pair("Z", "Zürich")], "string", 2) == {"length_truncation": 1}
    assert diagnose([Pair("北", "北京")], "string", 4) == {"length_truncation": 1}
    # single-byte session encoding: 'ü' is one byte
    assert diagnose([Pair("Zü", "Zürich")], "string", 2) == {"length_truncation": 1}
    assert diagnose([Pair("ab", "ab  cd")], "string", 4) == {"length_truncation": 1}  # 'ab  ' padded


def test_length_truncation_negatives() -> None:
    assert diagnose([Pair("Mr", "Mrs")], "string", 4) == {}  # 'Mrs' fits in 4 bytes: not truncated
    assert diagnose([Pair("Mr", "Mrs")], "string", None) == {}
    assert diagnose([Pair("Mr", "Mrs x")], "string", 3) == {}


def test_case_positive_and_negative() -> None:
    assert diagnose([Pair("SMITH", "Smith"), Pair("straße", "STRASSE")], "string") == {"case": 2}
    assert diagnose([Pair("Smith", "Smyth")], "string") == {}
    assert "case" not in diagnose([Pair("SMITH", "Smith")], "numeric")


def test_leading_blanks_positive_and_negative() -> None:
    assert diagnose([Pair(" fox", "fox"), Pair("dog", "  dog")], "string") == {"leading_blanks": 2}
    assert diagnose([Pair("\tfox", "fox")], "string") == {}
    assert "leading_blanks" not in diagnose([Pair(" fox", "fox "), Pair("a", "b"), Pair("c", "d")], "string")


def test_encoding_mojibake_by_round_trip() -> None:
    words = ["北京市", "Привет", "café", "naïve – “quoted”", "Ελληνικά"]
    latin1 = [Pair(w, w.encode("utf-8").decode("latin-1")) for w in words]
    assert diagnose(latin1, "string") == {"encoding": 5}
    sas_side = [Pair(w.encode("utf-8").decode("cp1252", "replace"), w) for w in ["café", "€100", "don’t"]]
    assert diagnose(sas_side, "string") == {"encoding": 3}
    assert diagnose([Pair("€", "\x80"), Pair("’", "\x92")], "string") == {"encoding": 2}  # cp1252 vs latin-1
    lossy = [Pair("S?O PAULO", "SÃO PAULO"), Pair("M\ufffdnchen", "München")]
    assert diagnose(lossy, "string") == {"encoding": 2}


def test_encoding_not_for_legitimate_accents() -> None:
    assert diagnose([Pair("SÃO PAULO", "SAO PAULO")], "string") == {}
    assert diagnose([Pair("café", "cafe"), Pair("Ärger", "Aerger")], "string") == {}
    assert diagnose([Pair("What?", "Whatá")], "string") == {"encoding": 1}  # the '?' stands for a non-ASCII char
    assert diagnose([Pair("What?", "What!")], "string") == {}


def test_number_format_positive_and_negative() -> None:
    pairs = [Pair("          12", "12"), Pair("1.5E3", "1500"), Pair("0.1234567890", "0.12345678901234")]
    assert diagnose(pairs, "string") == {"number_format": 3}
    assert diagnose([Pair("12", "12.4")], "string") == {}
    assert "number_format" not in diagnose([Pair("1,234", "1234")], "string")
    assert diagnose([Pair("1E3", "1e3")], "string") == {"number_format": 1}  # not also 'case'


def test_string_cause_needs_most_of_the_column() -> None:
    pairs = [Pair("SMITH", "Smith"), Pair("a", "b"), Pair("c", "d"), Pair("e", "f")]
    assert diagnose(pairs, "string") == {}


# ---- general


def test_same_input_same_output_and_sample_cap() -> None:
    pairs = [Pair(None, 0.0)] * 3 + [Pair(None, math.inf)] * 2 + nums([3.0, 0.13], [2.0, 0.12])
    first = explain(pairs, "numeric", None)
    assert first == explain(list(pairs), "numeric", None)
    assert [e["code"] for e in first] == ["sum_of_missing", "division_by_zero", "rounding_half_even"]
    many = [Pair(None, math.inf)] * (MAX_PAIRS + 5)
    assert explain(many, "numeric", None)[0]["analysed"] == MAX_PAIRS


def test_date_without_format_through_compare_frames(tmp_path: Path) -> None:
    days = [23000.0, 23400.0, 23800.0]
    write_sas7bdat(tmp_path / "d.sas7bdat", [Column("ID", "numeric", [1, 2, 3]), Column("VISIT", "numeric", days)])
    py = pl.DataFrame({"id": [1, 2, 3], "visit": [dt.datetime(1960, 1, 1) + dt.timedelta(days=d) for d in days]})
    result = compare_frames(tmp_path / "d.sas7bdat", py, keys=["id"])
    col = next(c for c in result.columns if c.name.casefold() == "visit")
    assert col.explanations[0]["code"] == "date_without_format"
    assert col.explanations[0]["rows"] == 3
    assert 'formats = { VISIT = "DATE9." }' in col.explanations[0]["hint"]


@pytest.mark.parametrize("kind", ["numeric", "date", "datetime", "time", "string"])
def test_no_pairs_no_diagnosis(kind: str) -> None:
    assert explain([], kind, 8) == []


def test_every_code_is_documented_and_tested() -> None:
    root = Path(__file__).resolve().parent.parent
    docs = (root / "docs" / "checks.md").read_text(encoding="utf-8")
    source = (root / "parity" / "checks" / "explain.py").read_text(encoding="utf-8")
    tests = Path(__file__).read_text(encoding="utf-8")
    for code in CODES:
        assert f"`{code}`" in docs, code
        assert source.count(f'"{code}"') >= 2, code  # listed in CODES and emitted by a rule
        assert tests.count(f'"{code}"') >= 2, code  # a positive and a negative test


_NUMBER = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6).map(float),
                    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e308, 3653.0, 86400.0, 23000.0, 0.125]))
_TEXT = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["", " ", "nan", "Ã©", "é", "中文", "?", "12"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["numeric", "date", "datetime", "time"]),
       values=st.lists(st.tuples(_NUMBER, _NUMBER, st.sampled_from([None, "A", "_"])), max_size=12),
       length=st.sampled_from([None, 1, 3, 4, 8]))
def test_any_numbers_give_a_consistent_answer(kind: str, values: list[tuple[Any, Any, Any]], length: Any) -> None:
    pairs = [Pair(s, p, t if s is None else None) for s, p, t in values]
    out = explain(pairs, kind, length, column="X")
    assert out == explain(pairs, kind, length, column="X")
    for e in out:
        assert e["code"] in CODES and 0 < int(e["rows"]) <= len(pairs)  # type: ignore[call-overload]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.tuples(_TEXT, _TEXT), max_size=12), length=st.sampled_from([None, 1, 2, 4, 200]))
def test_any_strings_give_a_consistent_answer(values: list[tuple[Any, Any]], length: Any) -> None:
    pairs = [Pair(s, p) for s, p in values]
    out = explain(pairs, "string", length)
    assert out == explain(pairs, "string", length)
    for e in out:
        assert e["code"] in CODES and 0 < int(e["rows"]) <= len(pairs)  # type: ignore[call-overload]
