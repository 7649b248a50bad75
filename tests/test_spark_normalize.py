"""Each Spark normalisation and PROC COMPARE expression (parity.spark.normalize) against its polars original on the
same values, bit for bit: SAS units and epoch, LENGTH 3-7 truncation, key rounding, character rules, METHOD= and
CRITERION=, datetime precision, special missing kinds."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tests.spark_support import (
    bits,
    collect,
    spark_fixture,  # noqa: F401  (the session fixture)
    to_spark,
)

pytestmark = pytest.mark.spark

from parity.engine import core  # noqa: E402
from parity.engine import normalize as pn  # noqa: E402
from parity.spec import DatasetSpec, DateRules, NumberRules, StringRules, Tolerance  # noqa: E402


def _doubles(seed: int = 7, n: int = 400) -> list[float | None]:
    """Edge doubles (zeros, powers of two and their neighbours, subnormals, the largest, infinities, NaN) and
    random ones across the whole exponent range."""
    rng = np.random.default_rng(seed)
    edge: list[float | None] = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 0.005, 1e-9, 5e-324, 2.0 ** -1022, 2.0 ** -1074 * 3,
                                1.7976931348623157e308, -1e308, 1e308, 2.0 ** 1022, 1.5 * 2.0 ** 1023,
                                math.inf, -math.inf, math.nan, None, 123456.789, -987654.321, 2.0 ** 53 + 2]
    for k in (-1060, -1030, -60, -20, -1, 0, 1, 7, 29, 31, 52, 53, 100, 1000):
        edge += [2.0 ** k, math.nextafter(2.0 ** k, 0), math.nextafter(2.0 ** k, math.inf), -(2.0 ** k)]
    mant = rng.uniform(1, 2, n) * rng.choice([-1, 1], n)
    exps = rng.integers(-1070, 1023, n)
    edge += [float(m * 2.0 ** int(e)) for m, e in zip(mant, exps, strict=True)]
    edge += [float(v) for v in rng.normal(0, 1e6, n)]
    return edge


def _same(polars_values: list[Any], spark_values: list[Any], what: str) -> None:
    mismatch = [(i, p, s) for i, (p, s) in enumerate(zip(polars_values, spark_values, strict=True))
                if bits(p) != bits(s)]
    assert not mismatch, f"{what}: {len(mismatch)} values differ, first {mismatch[:5]}"


def test_truncation_to_sas_length_matches_the_bit_mask(spark: Any) -> None:
    from parity.spark.normalize import col, truncate_to_width

    values = _doubles()
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    df = to_spark(spark, frame)
    widths = (3, 4, 5, 6, 7, 8)
    got = collect(df, *[truncate_to_width(col("x"), width) for width in widths])
    for width, values in zip(widths, got, strict=True):
        _same(pn.truncate_to_width(frame.get_column("x"), width).to_list(), values, f"LENGTH {width}")


def test_sas_units_and_epoch_match(spark: Any) -> None:
    from parity.spark.normalize import col, sas_units

    rng = np.random.default_rng(3)
    micros = [int(v) for v in rng.integers(-8_000_000_000_000_000, 8_000_000_000_000_000, 300)]
    micros += [0, -1, 1, 86_399_999_999, -86_400_000_000, 253_402_300_799_999_999, -12_219_292_800_000_000]
    days = [int(v) for v in rng.integers(-700_000, 2_900_000, len(micros))]
    frame = pl.DataFrame({
        "ts": pl.Series(micros, dtype=pl.Int64).cast(pl.Datetime("us")),
        "tz": pl.Series(micros, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
        "d": pl.Series(days, dtype=pl.Int32).cast(pl.Date),
        "dur": pl.Series([m // 7 for m in micros], dtype=pl.Int64).cast(pl.Duration("us")),
        "i": pl.Series(micros, dtype=pl.Int64),
        "f": pl.Series([float(m) / 1e3 if m % 5 else math.nan for m in micros], dtype=pl.Float64),
        "b": pl.Series([m % 2 == 0 for m in micros], dtype=pl.Boolean),
        "dec": pl.Series([Decimal(m) / 1000 for m in micros], dtype=pl.Decimal(38, 3)),
    })
    df = to_spark(spark, frame)
    schema = dict(zip(df.columns, [f.dataType for f in df.schema.fields], strict=True))
    cases = [(name, kind) for name in ("ts", "tz", "d", "dur", "i", "f", "b", "dec")
             for kind in ("numeric", "date", "datetime", "time") if name != "dur" or kind == "time"]
    got = collect(df, *[sas_units(col(name), schema[name], kind) for name, kind in cases])  # type: ignore[arg-type]
    for (name, kind), values in zip(cases, got, strict=True):
        expected = frame.select(pn.sas_units(pl.col(name), frame.schema[name], kind)).to_series().to_list()  # type: ignore[arg-type]
        _same(expected, values, f"{name} ({frame.schema[name]}) as {kind}")


def test_key_rounding_matches(spark: Any) -> None:
    from parity.spark.normalize import col, round_temporal

    rng = np.random.default_rng(5)
    values = [*_doubles(), 0.0000005, 0.0000015, 2.5e-6, 1.2345675, -0.0000005, 0.5, 1.5, -2.5, 2e9 + 0.4999995]
    values += [float(v) for v in rng.uniform(-4e9, 4e9, 300)] + [float(v) for v in rng.uniform(0, 86400, 300)]
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64}).with_columns(pl.col("x").fill_nan(None))
    df = to_spark(spark, frame)
    cases = [(DateRules(datetime_precision=p), kind) for p in ("us", "ms", "s")  # type: ignore[arg-type]
             for kind in ("datetime", "time", "date")]
    got = collect(df, *[round_temporal(col("x"), kind, rules) for rules, kind in cases])  # type: ignore[arg-type]
    for (rules, kind), values in zip(cases, got, strict=True):
        expected = frame.select(pn.round_temporal(pl.col("x"), kind, rules)).to_series().to_list()  # type: ignore[arg-type]
        _same(expected, values, f"{kind} keys rounded to {rules.datetime_precision}")


STRINGS = ["a  ", "  a", "", "   ", "\t", "a\t ", "A b ", "ÉCOLE ", "straße", "İstanbul", "ΣΑΣ ", "\u00a0", "x\n ",
           None, "MIXED case", "  both  ", "trail\u3000"]


def test_character_rules_match(spark: Any) -> None:
    """Only the blank (0x20) is stripped: tab, newline, NBSP and the ideographic space stay; case folding."""
    from parity.spark.normalize import col, normalize_string

    rules = [StringRules(strip=strip, blank_is_missing=blank, ignore_case=fold)  # type: ignore[arg-type]
             for strip in ("trailing", "both", "none") for blank in (True, False) for fold in (True, False)]
    frame = pl.DataFrame({"s": STRINGS}, schema={"s": pl.String})
    got = collect(to_spark(spark, frame), *[normalize_string(col("s"), r) for r in rules])
    for rule, values in zip(rules, got, strict=True):
        assert values == frame.select(pn.normalize_string(pl.col("s"), rule)).to_series().to_list(), rule


def _pairs() -> pl.DataFrame:
    """(s, p) pairs: equal, a few ulps apart, near every tolerance, far apart, missing, infinite, huge."""
    rng = np.random.default_rng(11)
    base = [v for v in _doubles(13, 150) if v is None or not math.isnan(v)]
    s: list[float | None] = []
    p: list[float | None] = []
    for v in base:
        for other in (v, None if v is None else v * (1 + 1e-10), None if v is None else v + 0.005,
                      None if v is None else v + 0.0050000001, None if v is None else v * 1.001, None, math.inf,
                      None if v is None else -v, 0.0, None if v is None else math.nextafter(v, math.inf)):
            s.append(v)
            p.append(other)
    s += [float(x) for x in rng.normal(0, 100, 300)]
    p += [x + float(d) for x, d in zip(s[-300:], rng.normal(0, 0.01, 300), strict=True)]  # type: ignore[operator]
    return pl.DataFrame({"s": s, "p": p}, schema={"s": pl.Float64, "p": pl.Float64})


TOLERANCES = [Tolerance(), Tolerance("absolute", 0.005), Tolerance("absolute", 1e-9), Tolerance("relative", 1e-9),
              Tolerance("relative", 0.001, 0.5), Tolerance("percent", 0.1), Tolerance("percent", 0.0),
              Tolerance("absolute", -10.0), Tolerance("relative", -1000.0)]


def test_proc_compare_methods_and_differences_match(spark: Any) -> None:
    from parity.spark.normalize import abs_rel_diff, col, values_equal

    frame = _pairs()
    df = to_spark(spark, frame)
    s, p = col("s"), col("p")
    *got, g_abs, g_rel = collect(df, *[values_equal(s, p, tol) for tol in TOLERANCES], *abs_rel_diff(s, p))
    for tol, values in zip(TOLERANCES, got, strict=True):
        expected = frame.select(core.values_equal(pl.col("s"), pl.col("p"), tol)).to_series().to_list()
        _same(expected, values, f"values_equal {tol.describe()}")
    e_abs, e_rel = core.abs_rel_diff(pl.col("s"), pl.col("p"))
    expected_abs, expected_rel = (frame.select(e_abs.alias("a"), e_rel.alias("r")).get_column(c).to_list()
                                  for c in ("a", "r"))
    _same(expected_abs, g_abs, "abs diff")
    _same(expected_rel, g_rel, "rel diff")


@pytest.mark.parametrize("kind", ["numeric", "datetime", "time", "string"])
def test_column_equality_matches(spark: Any, kind: str) -> None:
    """column_equal with missing values, special missing kinds (.A vs .B vs .), NOMISSING and datetime precision."""
    from parity.engine.plan import ColumnPlan
    from parity.spark.normalize import col, column_equal

    if kind == "string":
        strings = ["a", "b", None, "a", None]
        frame = pl.DataFrame({"s0": strings * 2, "p0": ["a", None, "x", "b", None] * 2,
                              "st0": [None] * 10, "pt0": [None] * 10},
                             schema={"s0": pl.String, "p0": pl.String, "st0": pl.String, "pt0": pl.String})
    else:
        pairs = _pairs()
        n = pairs.height
        tags = ["A", "B", None, "_", None]
        scale = 2e9 if kind == "datetime" else (1.0 if kind == "numeric" else 40000.0)
        frame = pairs.select((pl.col("s") * scale).alias("s0"), (pl.col("p") * scale).alias("p0")).with_columns(
            pl.Series("st0", [tags[i % 5] for i in range(n)], dtype=pl.String),
            pl.Series("pt0", [tags[(i // 5) % 5] for i in range(n)], dtype=pl.String))
        frame = frame.with_columns(pl.when(pl.col("st0").is_not_null()).then(None).otherwise(pl.col("s0"))
                                   .alias("s0"))
        frame = frame.with_columns(pl.when(pl.col("pt0").is_not_null()).then(None).otherwise(pl.col("p0"))
                                   .alias("p0"))
    df = to_spark(spark, frame)
    cases = []
    for rule in ("plain", "nomissing", "strict_tags"):
        numbers = NumberRules(nomissing=rule == "nomissing",
                              special_missing="strict" if rule == "strict_tags" else "as_missing")
        for precision in ("us", "ms", "s"):
            spec = DatasetSpec("t", Path("t.sas7bdat"), numbers=numbers,
                               dates=DateRules(datetime_precision=precision))  # type: ignore[arg-type]
            for tol in (TOLERANCES[:3] if kind != "string" else [None]):
                plan = ColumnPlan("x", 0, None, None, "compare", kind, tol, None,  # type: ignore[arg-type]
                                  has_tags=rule == "strict_tags" and kind != "string")
                cases.append((f"{kind} {rule} {precision} {tol}", plan, spec))
    got = collect(df, *[column_equal(kind, col("s0"), col("p0"), plan.tolerance,  # type: ignore[arg-type]
                                     spec.numbers.nomissing, (col("st0"), col("pt0")) if plan.has_tags else None,
                                     spec.dates.datetime_precision) for _, plan, spec in cases])
    for (what, plan, spec), values in zip(cases, got, strict=True):
        _same(frame.select(core.column_equal(plan, spec)).to_series().to_list(), values, what)


def test_dates_before_1582_and_after_9999_keep_their_sas_values(spark: Any) -> None:
    """The proleptic calendar both engines use: 1500-03-01 and 1960-01-01 are -167,100 and 0 in SAS days."""
    from parity.spark.normalize import col, sas_units

    frame = pl.DataFrame({"d": [dt.date(1500, 3, 1), dt.date(1960, 1, 1), dt.date(9999, 12, 31)]})
    df = to_spark(spark, frame)
    got = collect(df, sas_units(col("d"), df.schema["d"].dataType, "date"))[0]
    assert got == frame.select(pn.sas_units(pl.col("d"), pl.Date, "date")).to_series().to_list()
    assert got[1] == 0.0
