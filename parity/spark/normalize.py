"""The normalisation and the PROC COMPARE rules as Spark Column expressions: one function here for each polars
expression of :mod:`parity.engine.normalize` and :mod:`parity.engine.core`, computed with the same double
operations in the same order, so that both engines give the same bits (tests/test_spark_normalize.py runs each
pair on the same values).

Spark and polars agree on IEEE doubles and on NaN (NaN = NaN, NaN above every number); the Python side's NaN is
made null first, as on polars.  Where Spark lacks a step polars has, the step is built from native ones: the
LENGTH 3-7 truncation of a double (polars masks its bits) is a floor at the last kept mantissa bit, exact because
scaling by a power of two is exact; dates and timestamps become integer ticks (days, microseconds) before any
double is made, as on polars.

polars evaluates ``column / 86400.0`` as a multiplication by ``1 / 86400.0`` (not a division: they differ in the
last bit for about a third of values), except on a column of one row, where it divides.  :func:`over` mirrors the
multiplication, so a one-row comparison of dates computed from datetimes may differ by one ulp between engines;
within any tolerance, and exactly equal values stay equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parity.engine.core import _HALVE_FROM, DBL_MAX
from parity.engine.normalize import PRECISION_SECONDS
from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS, Kind
from parity.spec import DateRules, StringRules, Tolerance

if TYPE_CHECKING:
    from pyspark.sql import Column
    from pyspark.sql.types import DataType

_PRECISION = {"us": 6, "ms": 3, "s": 0}
_MICROS = 1_000_000
_DAY_MICROS = 86_400 * _MICROS


def col(name: str) -> Column:
    """A column by its exact name (dots, spaces and backticks are part of the name, never a path)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def lit(value: object) -> Column:
    from pyspark.sql import functions as F

    return F.lit(value)


def nan_to_null(c: Column) -> Column:
    """pandas NaN is the missing value (polars ``fill_nan(None)``)."""
    from pyspark.sql import functions as F

    return F.when(F.isnan(c), F.lit(None).cast("double")).otherwise(c)


def _seconds(ticks: Column, per_second: int, shift: int = 0) -> Column:
    """:func:`parity.engine.normalize._seconds`: integer ticks as double seconds plus ``shift``; the whole seconds
    and the fraction converted apart (``pmod`` is the non-negative remainder, as polars' floor division)."""
    from pyspark.sql import functions as F

    fraction = F.pmod(ticks, F.lit(per_second))
    # an exact integer division (Spark's / on longs is a double division, inexact beyond 2^53)
    whole = ((ticks - fraction).cast("decimal(38,0)") / F.lit(per_second).cast("decimal(38,0)")).cast("long")
    return (whole + F.lit(shift)).cast("double") + over(fraction, float(per_second))


def over(c: Column, divisor: float) -> Column:
    """polars' ``expr / <float literal>`` on a column of two or more rows: a multiplication by the reciprocal (it
    can differ from a division in the last bit; polars divides only a one-row column, see the module docstring)."""
    from pyspark.sql import functions as F

    return c.cast("double") * F.lit(1.0 / divisor)


def wall_clock_micros(c: Column) -> Column:
    """Microseconds since 1970-01-01T00:00 of a timestamp's wall-clock time: a TIMESTAMP (an instant) in the
    session time zone, as polars reads a zoned datetime as its wall-clock time; a TIMESTAMP_NTZ as it is."""
    from pyspark.sql import functions as F

    epoch = F.lit("1970-01-01 00:00:00").cast("timestamp_ntz")
    return F.timestamp_diff("MICROSECOND", epoch, c.cast("timestamp_ntz"))


def sas_units(c: Column, dtype: DataType, kind: Kind) -> Column:
    """:func:`parity.engine.normalize.sas_units` for a Spark column: a double in the SAS units of ``kind``."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(dtype, T.DateType):
        days = F.datediff(c, F.lit("1970-01-01").cast("date")).cast("double") + F.lit(float(EPOCH_SHIFT_DAYS))
        return days * F.lit(86400.0) if kind == "datetime" else days
    if isinstance(dtype, T.TimestampType | T.TimestampNTZType):
        micros = wall_clock_micros(c)
        if kind == "time":  # the time of day, in nanoseconds then seconds (polars: Time -> Int64 ns / 1e9)
            return over(F.pmod(micros, F.lit(_DAY_MICROS)) * F.lit(1000), 1e9)
        seconds = _seconds(micros, _MICROS, EPOCH_SHIFT_SECONDS)
        return over(seconds, 86400.0) if kind == "date" else seconds
    if isinstance(dtype, T.DayTimeIntervalType):  # a duration: seconds
        return _seconds(_interval_micros(c), _MICROS)
    if isinstance(dtype, T.NullType):
        return c.cast("double")
    out = c.cast("double")
    if isinstance(dtype, T.FloatType | T.DoubleType | T.DecimalType):
        return nan_to_null(out)
    return out


def _interval_micros(c: Column) -> Column:
    """A day-time interval as a whole number of microseconds."""
    from pyspark.sql import functions as F

    # extract(...) of an interval gives days, hours, minutes and seconds (with their fraction); rebuild exactly
    days = F.extract(F.lit("DAY"), c).cast("long")
    hours = F.extract(F.lit("HOUR"), c).cast("long")
    minutes = F.extract(F.lit("MINUTE"), c).cast("long")
    seconds = (F.extract(F.lit("SECOND"), c) * F.lit(_MICROS)).cast("long")
    return ((days * 24 + hours) * 60 + minutes) * F.lit(60 * _MICROS) + seconds


def truncate_to_width(c: Column, width: int) -> Column:
    """:func:`parity.engine.normalize.truncate_to_width`: SAS storing a double in ``width`` (3-7) bytes keeps its
    sign, exponent and first ``8 * width - 12`` mantissa bits.  polars zeroes the other bits; here the value is
    floored (towards zero) to a multiple of its last kept bit, 2^(e - kept) with e its binary exponent (subnormals
    use -1022), which is the same double: scaling by a power of two and flooring are exact."""
    from pyspark.sql import functions as F

    if width >= 8 or width < 2:
        return c
    kept = 8 * width - 12
    x = nan_to_null(c.cast("double"))
    a = F.abs(x)
    guess = F.floor(F.log2(a))  # may be one off near powers of two: corrected below
    e = (F.when(F.pow(F.lit(2.0), guess) > a, guess - 1)
         .when(F.pow(F.lit(2.0), guess + 1) <= a, guess + 1).otherwise(guess))
    e = F.greatest(e, F.lit(-1022))
    scale = F.pow(F.lit(2.0), e - F.lit(kept))
    truncated = F.floor(a / scale).cast("double") * scale
    finite = (a > 0) & (a < F.lit(float("inf")))
    return F.when(finite, F.when(x < 0, -truncated).otherwise(truncated)).otherwise(x)


def round_temporal(c: Column, kind: Kind, rules: DateRules) -> Column:
    """:func:`parity.engine.normalize.round_temporal`: datetime and time keys rounded to ``datetime_precision``
    (polars rounds x * 10^d to the nearest integer, ties to even, then divides)."""
    from pyspark.sql import functions as F

    if kind not in ("datetime", "time"):
        return c
    digits = _PRECISION[rules.datetime_precision]
    if digits == 0:
        return _round_half_even(c)
    factor = float(10 ** digits)
    rounded = _round_half_even(c * F.lit(factor)) / F.lit(factor)
    return F.when(is_finite(rounded), rounded).otherwise(c)  # polars keeps a value whose scaling overflows


def _round_half_even(c: Column) -> Column:
    """numpy's ``round``: to the nearest integer, ties to even; infinities, NaN and values of 2^52 or more (all
    whole already) unchanged; the sign of zero kept (-0.3 gives -0.0)."""
    from pyspark.sql import functions as F

    a = F.abs(c)
    whole = F.floor(a).cast("double")
    frac = a - whole  # exact below 2^52
    odd = F.pmod(whole, F.lit(2.0)) == F.lit(1.0)
    up = (frac > F.lit(0.5)) | ((frac == F.lit(0.5)) & odd)
    rounded = F.when(up, whole + F.lit(1.0)).otherwise(whole)
    big = ~(a < F.lit(2.0 ** 52))  # also inf and NaN
    return F.when(big | c.isNull(), c).otherwise(rounded * F.signum(c))  # signum(-0.0) is -0.0


def normalize_string(c: Column, rules: StringRules) -> Column:
    """:func:`parity.engine.normalize.normalize_string`: only the blank (0x20) is stripped, as on polars."""
    from pyspark.sql import functions as F

    if rules.strip == "trailing":
        c = F.rtrim(c)
    elif rules.strip == "both":
        c = F.trim(c)
    if rules.ignore_case:
        c = F.lower(c)
    if rules.blank_is_missing:
        c = F.when(F.trim(c) == F.lit(""), F.lit(None).cast("string")).otherwise(c)
    return c


# --------------------------------------------------------------------------------------------------------------
# PROC COMPARE (parity.engine.core)


def _scaled(s: Column, p: Column) -> tuple[Column, Column, Column, Column]:
    from pyspark.sql import functions as F

    k = F.when((F.abs(s) >= F.lit(_HALVE_FROM)) | (F.abs(p) >= F.lit(_HALVE_FROM)), F.lit(0.5)).otherwise(F.lit(1.0))
    xs, ys = s * k, p * k
    return k, xs, ys, F.abs(ys - xs)


def divide(a: Column, b: Column) -> Column:
    """``a / b`` as IEEE doubles divide (Spark gives null, or an error under ANSI mode, for a zero divisor): for
    the non-negative operands used here, x / 0 is inf and 0 / 0 (or NaN / 0) is NaN."""
    from pyspark.sql import functions as F

    zero = F.when((a == F.lit(0)) | F.isnan(a), F.lit(float("nan"))).otherwise(F.lit(float("inf")))
    return F.when(a.isNull() | b.isNull(), F.lit(None).cast("double")).when(b == F.lit(0), zero).otherwise(a / b)


def is_finite(c: Column) -> Column:
    """polars ``is_finite``: not infinite and not NaN (null stays null)."""
    from pyspark.sql import functions as F

    return ~F.isnan(c) & (F.abs(c) != F.lit(float("inf")))


def is_infinite(c: Column) -> Column:
    from pyspark.sql import functions as F

    return F.abs(c) == F.lit(float("inf"))


def values_equal(s: Column, p: Column, tol: Tolerance) -> Column:
    """:func:`parity.engine.core.values_equal`."""
    from pyspark.sql import functions as F

    gamma = tol.gamma
    k, xs, ys, diff = _scaled(s, p)
    if tol.method == "exact":
        eq = p == s
    elif tol.method == "absolute":
        eq = diff <= F.lit(gamma) * k
    elif tol.method == "relative":
        denom = (F.abs(xs) + F.abs(ys)) / F.lit(2) + F.lit(tol.delta) * k
        eq = (diff == F.lit(0)) | (divide(diff, denom) <= F.lit(gamma))
    else:  # percent
        eq = F.when(s == F.lit(0), p == F.lit(0)).otherwise(F.lit(100) * divide(diff, F.abs(xs)) <= F.lit(gamma))
    return eq & is_finite(p)


def abs_rel_diff(s: Column, p: Column) -> tuple[Column, Column]:
    """:func:`parity.engine.core.abs_rel_diff`: |y - x| and |y - x| / |x|, never beyond the largest double."""
    from pyspark.sql import functions as F

    k, xs, _, diff = _scaled(s, p)
    return _clip(diff / k), _clip(divide(diff, F.abs(xs)))


def _clip(c: Column) -> Column:
    """polars ``clip(upper_bound=DBL_MAX)``: NaN stays NaN (Spark's least would give NaN the bound)."""
    from pyspark.sql import functions as F

    return F.when(c.isNull() | F.isnan(c), c).otherwise(F.least(c, F.lit(DBL_MAX)))


def within_precision(s: Column, p: Column, unit: float) -> Column:
    """:func:`parity.engine.core._within_precision`: at most half a unit apart, or one ulp of the larger."""
    from pyspark.sql import functions as F

    larger = F.greatest(F.abs(s), F.abs(p))
    exponent = F.when(larger == F.lit(float("inf")), larger).otherwise(  # floor() of inf would overflow a long
        F.floor(F.log(2.0, larger)).cast("double"))
    ulp = F.pow(F.lit(2.0), exponent - F.lit(52))
    return F.abs(p - s) <= F.greatest(F.lit(unit / 2), ulp)


def column_equal(kind: Kind, s: Column, p: Column, tolerance: Tolerance | None, nomissing: bool,
                 tags: tuple[Column, Column] | None, precision: str) -> Column:
    """:func:`parity.engine.core.column_equal` for one compared column (``tags``: the SAS and Python special
    missing tag columns when they are compared strictly)."""
    from pyspark.sql import functions as F

    if kind == "string":  # NOMISSING: a blank (missing) character value equals anything
        missing = (s.isNull() | p.isNull()) if nomissing else (s.isNull() & p.isNull())
        return missing | F.coalesce(s == p, F.lit(False))
    assert tolerance is not None
    if nomissing:
        missing_eq = ~F.coalesce(is_infinite(s) | is_infinite(p), F.lit(False))
    elif tags is not None:
        st, pt = tags
        missing_eq = s.isNull() & p.isNull() & (F.coalesce(st, F.lit(".")) == F.coalesce(pt, F.lit(".")))
    else:
        missing_eq = s.isNull() & p.isNull()
    equal = values_equal(s, p, tolerance)
    if kind in ("datetime", "time"):
        equal = equal | (within_precision(s, p, PRECISION_SECONDS[precision]) & is_finite(p))
    return F.when(s.isNull() | p.isNull(), missing_eq).otherwise(equal)
