"""PROC COMPARE METHOD=/CRITERION= formulas at their edges (../shared/docs/sas-semantics.md section 6)."""

from __future__ import annotations

import polars as pl
import pytest

from parity.engine.core import values_equal
from parity.spec import MACHINE_EPSILON, Tolerance


def equal(x: float, y: float, tol: Tolerance) -> bool:
    out = pl.select(values_equal(pl.lit(x, dtype=pl.Float64), pl.lit(y, dtype=pl.Float64), tol)).item()
    assert isinstance(out, bool)
    return out


def test_exact() -> None:
    tol = Tolerance("exact")
    assert equal(1.0, 1.0, tol)
    assert not equal(1.0, 1.0 + 2**-52, tol)
    assert equal(0.0, -0.0, tol)


@pytest.mark.parametrize(("x", "y", "expected"), [
    (1.0, 1.005, True),     # |y-x| = 0.005 <= 0.005 is equal (unequal only when greater)
    (1.0, 1.0051, False),
    (-1.0, -1.005, True),
    (100.0, 100.0, True),
])
def test_absolute(x: float, y: float, expected: bool) -> None:
    assert equal(x, y, Tolerance("absolute", 0.005)) is expected


def test_relative_formula_uses_mean_of_magnitudes() -> None:
    tol = Tolerance("relative", 0.1)
    # |y-x| / ((|x|+|y|)/2) = 1 / 10.5 = 0.0952 <= 0.1
    assert equal(10.0, 11.0, tol)
    # 2 / 11 = 0.18 > 0.1
    assert not equal(10.0, 12.0, tol)
    # x = y = 0 are equal (0/0 is not computed)
    assert equal(0.0, 0.0, tol)
    # x = -y: denominator is |x|, diff 2|x|: relative 2 > 0.1
    assert not equal(1.0, -1.0, tol)


def test_relative_delta_widens_the_denominator() -> None:
    assert not equal(0.0, 0.001, Tolerance("relative", 0.1))  # 0.001 / 0.0005 = 2
    assert equal(0.0, 0.001, Tolerance("relative", 0.1, delta=0.01))  # 0.001 / 0.0105 = 0.095


def test_percent() -> None:
    tol = Tolerance("percent", 1.0)
    assert equal(100.0, 101.0, tol)  # 1% <= 1
    assert not equal(100.0, 101.01, tol)
    # x = 0: unequal iff y != 0
    assert equal(0.0, 0.0, tol)
    assert not equal(0.0, 1e-300, tol)


def test_negative_criterion_is_multiple_of_machine_epsilon() -> None:
    tol = Tolerance("relative", -1000)
    assert tol.gamma == pytest.approx(1000 * MACHINE_EPSILON)
    assert equal(1.0, 1.0 + 100 * MACHINE_EPSILON, tol)
    assert not equal(1.0, 1.0 + 1e-12, tol)
    assert "2.22e-13" in tol.describe()


def test_python_infinity_never_equals() -> None:
    assert not equal(1e308, float("inf"), Tolerance("absolute", 1e308))
    assert not equal(1.0, float("inf"), Tolerance("relative", 1.0))
