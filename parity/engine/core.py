"""PROC COMPARE's rules as polars expressions (shared by the polars engine and its tests), and
:func:`compare_tables`, the entry point that runs a dataset's comparison on an engine.

The engine interface is :mod:`parity.engine.base`; column planning :mod:`parity.engine.plan`; the polars engine
:mod:`parity.engine.polars_engine`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import polars as pl

from parity.engine.base import DUP, ROW_P, ROW_S, EngineResult
from parity.engine.normalize import PRECISION_SECONDS

if TYPE_CHECKING:
    from parity.engine.plan import ColumnPlan
    from parity.sources.base import Source
    from parity.spec import DatasetSpec, JobSpec, Tolerance

__all__ = ["DUP", "ENGINE", "ROW_P", "ROW_S", "Comparison", "abs_rel_diff", "column_equal", "compare_tables",
           "values_equal"]

#: polars engine for the join pass and the single-side scans (their output is small)
ENGINE: Literal["auto", "in-memory", "streaming"] = "streaming"
#: the largest double: differences beyond it (1e308 - -1e308) are reported as this, never as inf
DBL_MAX = 1.7976931348623157e308
#: from this magnitude on, differences and sums of two doubles can overflow, so they are computed halved
_HALVE_FROM = 2.0 ** 1022
#: the result of a comparison (the name the checks used before the engine interface)
Comparison = EngineResult


def compare_tables(spec: DatasetSpec, sas: Source, py: Source, job: JobSpec | None = None,
                   engine: str | None = None) -> EngineResult:
    """Compare one dataset on an engine (by name; default polars).  Raises SpecError for spec/column mismatches
    found before comparing."""
    from parity.engine.base import get_engine

    return get_engine(engine).compare(spec, sas, py, job)


# --------------------------------------------------------------------------------------------------------------
# comparison expressions (PROC COMPARE)


def _scaled(s: pl.Expr, p: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """(k, k·x, k·y, |k·y − k·x|) with k = 1/2 where a value is 2^1022 or more, else 1: halving is exact there,
    and then neither y − x nor |x| + |y| can overflow to inf (1.5e308 vs 1e308, 1e308 vs -1e308)."""
    k = pl.when((s.abs() >= _HALVE_FROM) | (p.abs() >= _HALVE_FROM)).then(0.5).otherwise(1.0)
    xs, ys = s * k, p * k
    return k, xs, ys, (ys - xs).abs()


def values_equal(s: pl.Expr, p: pl.Expr, tol: Tolerance) -> pl.Expr:
    """PROC COMPARE METHOD=/CRITERION= equality of two non-missing values (x = SAS/base, y = Python/compare).

    Computed without overflow: every formula is a ratio (or a bound scaled alike), evaluated on halved values
    near the top of the double range."""
    gamma = tol.gamma
    k, xs, ys, diff = _scaled(s, p)
    if tol.method == "exact":
        eq = p == s
    elif tol.method == "absolute":
        eq = diff <= gamma * k
    elif tol.method == "relative":
        denom = (xs.abs() + ys.abs()) / 2 + tol.delta * k
        eq = (diff == 0) | (diff / denom <= gamma)
    else:  # percent
        eq = pl.when(s == 0).then(p == 0).otherwise(100 * (diff / xs.abs()) <= gamma)
    return eq & p.is_finite()


def abs_rel_diff(s: pl.Expr, p: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """|y − x| and |y − x| / |x| without overflow; a difference beyond the largest double is the largest double."""
    k, xs, _, diff = _scaled(s, p)
    return (diff / k).clip(upper_bound=DBL_MAX), (diff / xs.abs()).clip(upper_bound=DBL_MAX)


def _within_precision(s: pl.Expr, p: pl.Expr, unit: float) -> pl.Expr:
    """Datetimes and times are equal when they differ by at most half a ``datetime_precision`` unit, or by one
    ulp of the larger double (all a SAS double resolves: 1.9 us in 1677 and 2262, so equal instants whose
    doubles were computed apart still compare equal)."""
    ulp = pl.lit(2.0).pow(pl.max_horizontal(s.abs(), p.abs()).log(2).floor() - 52)
    return (p - s).abs() <= pl.max_horizontal(pl.lit(unit / 2), ulp)


def column_equal(plan: ColumnPlan, spec: DatasetSpec) -> pl.Expr:
    s, p = pl.col(plan.s), pl.col(plan.p)
    if plan.kind == "string":  # NOMISSING: a blank (missing) character value equals anything
        missing = (s.is_null() | p.is_null()) if spec.numbers.nomissing else (s.is_null() & p.is_null())
        return missing | (s == p).fill_null(False)
    assert plan.tolerance is not None
    if spec.numbers.nomissing:  # a missing value equals anything but an infinity, which is never missing
        missing_eq = ~(s.is_infinite() | p.is_infinite()).fill_null(False)
    elif plan.has_tags and spec.numbers.special_missing == "strict":
        missing_eq = s.is_null() & p.is_null() & (
            pl.col(plan.st).fill_null(".") == pl.col(plan.pt).fill_null(".")
        )
    else:
        missing_eq = s.is_null() & p.is_null()
    equal = values_equal(s, p, plan.tolerance)
    if plan.kind in ("datetime", "time"):
        unit = PRECISION_SECONDS[spec.dates.datetime_precision]
        equal = equal | (_within_precision(s, p, unit) & p.is_finite())
    return pl.when(s.is_null() | p.is_null()).then(missing_eq).otherwise(equal)
