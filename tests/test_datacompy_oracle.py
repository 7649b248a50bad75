"""Differential test: parity and datacompy agree where their semantics coincide (exact and absolute tolerance)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from parity.api import compare_frames

datacompy = pytest.importorskip("datacompy")


def _data(seed: int, n: int = 5_000) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    base = pl.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "a": rng.normal(size=n).round(3),
        "b": rng.uniform(0, 1000, n).round(2),
        "c": rng.integers(-50, 50, n).astype(np.float64),
        "s": rng.choice(["alpha", "beta", "gamma", "delta"], n),
    })
    other = base.clone()
    # inject differences: small (within 0.01), large, string changes; drop and add rows
    small = rng.choice(n, n // 20, replace=False)
    large = rng.choice(n, n // 50, replace=False)
    strs = rng.choice(n, n // 40, replace=False)
    a = other["a"].to_numpy().copy()
    a[small] += 0.004
    b = other["b"].to_numpy().copy()
    b[large] += rng.uniform(1, 10, len(large))
    c = other["c"].to_numpy().copy()
    c[small[: len(small) // 2]] += 1
    s = other["s"].to_numpy().astype(object).copy()
    s[strs] = "omega"
    other = other.with_columns(pl.Series("a", a), pl.Series("b", b), pl.Series("c", c), pl.Series("s", s))
    other = other.filter(pl.col("id") % 97 != 0)
    extra = base.filter(pl.col("id") < 25).with_columns(pl.col("id") + n)
    other = pl.concat([other, extra]).sample(fraction=1.0, shuffle=True, seed=seed)
    return base, other


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("abs_tol", [0.0, 0.005])
def test_per_column_mismatch_counts_equal_datacompy(seed: int, abs_tol: float) -> None:
    sas, py = _data(seed)
    tolerance = {"default": {"method": "absolute", "criterion": abs_tol}} if abs_tol else {}
    ours = compare_frames(sas.with_columns(pl.col("id").cast(pl.Float64)), py, keys=["id"], tolerance=tolerance)
    theirs = datacompy.PolarsCompare(sas, py, join_columns=["id"], abs_tol=abs_tol, rel_tol=0)
    stats = {s["column"]: s["unequal_cnt"] for s in theirs.column_stats}
    ours_counts = {c.name: c.mismatches for c in ours.columns if c.status == "compared"}
    assert ours_counts == {k: v for k, v in stats.items() if k != "id"}
    assert ours.rows["only_in_sas"] == theirs.df1_unq_rows.height
    assert ours.rows["only_in_python"] == theirs.df2_unq_rows.height
    assert ours.rows["matched"] == theirs.intersect_rows.height
    assert any(ours_counts.values())  # the test data does contain differences
