"""Review 8: attacks on this session's speed changes.

1. The row fingerprint (each compared value hashed once, two sums of the hashes): values that differ but hash
   alike must still be compared.  The oracle is the same engine with every matched pair compared value by value
   (the rows' "compare whatever the fingerprint" flag forced on), on every path (in memory, parquet, buckets).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import parity.engine.polars_engine as pe
from parity.api import make_spec
from parity.engine.base import EngineResult
from parity.engine.polars_engine import PolarsEngine
from parity.sources.base import ColumnInfo, Table
from parity.spec import DatasetSpec
from tests.test_engine_fast import _facts, _frame_source, _parquet, _py, _sas

# ---------------------------------------------------------------------------------------------------------------
# 1. the row fingerprint


def _as_missing(seed: int) -> float:
    """The double polars hashes (seed ``seed``) as it hashes a missing value: its null hash is
    ``hash(hash(3188347919))`` and a double is hashed by its bits."""
    first = pl.Series([3188347919], dtype=pl.UInt64).hash(seed=seed).item()
    value: float = struct.unpack("<d", struct.pack("<Q", first))[0]
    assert pl.Series([None, value], dtype=pl.Float64).hash(seed=seed).n_unique() == 1  # the trap is real
    return value


def _ways(spec: DatasetSpec, sas: Table, py: Table, tmp_path: Path) -> list[EngineResult]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return [PolarsEngine().compare(spec, sas, py),
            PolarsEngine().compare(spec, _frame_source(sas), _parquet(py, tmp_path / "py0.parquet")),
            PolarsEngine().compare(spec, _parquet(sas, tmp_path / "s1.parquet"), _parquet(py, tmp_path / "p1.parquet")),
            PolarsEngine(buckets=3, workdir=tmp_path).compare(spec, _parquet(sas, tmp_path / "s2.parquet"),
                                                              _parquet(py, tmp_path / "p2.parquet"))]


def _every_pair_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine with the fingerprint's shortcut off: every matched pair gets the full comparison."""
    real = pe._narrow

    def narrow(*args: Any, **kwargs: Any) -> pl.LazyFrame:
        out = real(*args, **kwargs)
        force = pe.FINGERPRINT[args[3]][2]
        return out.with_columns(pl.lit(True).alias(force)) if force in out.collect_schema() else out

    monkeypatch.setattr(pe, "_narrow", narrow)


def _dump(result: EngineResult) -> str:
    facts = _facts(result)
    facts.pop("run_info", None)
    return json.dumps(facts, sort_keys=True, default=str)


@pytest.mark.parametrize("special", ["strict", "as_missing"])
def test_a_missing_value_against_the_double_polars_hashes_as_missing_is_a_difference(
        tmp_path: Path, special: str) -> None:
    """Missing SAS values against, in Python, the doubles whose hashes are a missing value's (and the reverse),
    in every compared column of a row at once (each column is hashed with its own seed, its place among the
    hashed columns, a tag column taking a place): every pair is a mismatch."""
    places = [(0, 1, 2, 3), (0, 1, 3, 4), (0, 2, 3, 4), (1, 2, 3, 4), (0, 1, 2, 4)]
    rows = [[_as_missing(seed) for seed in place] for place in places]
    n = 2 * len(rows) + 1
    sas_cols = {f"X{c}": [*([None] * len(rows)), *(r[c] for r in rows), 1.0] for c in range(4)}
    py_cols = {f"X{c}": [*(r[c] for r in rows), *([None] * len(rows)), 1.0] for c in range(4)}
    ids = [float(i) for i in range(n)]
    schema = {"ID": pl.Float64, **{c: pl.Float64 for c in sas_cols}, "S": pl.String}
    tags = {"X1": [None] * (n - 1) + ["B"]} if special == "strict" else None  # a tag column: the seeds shift
    sas = _sas(pl.DataFrame({"ID": ids, **sas_cols, "S": ["a"] * n}, schema=schema), tags)
    py = _py(pl.DataFrame({"ID": ids, **py_cols, "S": ["a"] * n}, schema=schema))
    spec = make_spec("d", keys=["ID"], numbers={"special_missing": special})
    for result in _ways(spec, sas, py, tmp_path):
        assert result.matched == n
        for c in range(4):
            assert result.stats[f"X{c}"].mismatches == 2 * len(rows), (c, result.run_info["buckets"])


def _fuzz_tables(seed: int) -> tuple[Table, Table, DatasetSpec]:
    """Two sides equal but for planted differences of every kind a fingerprint could miss."""
    rng = random.Random(seed)
    n = 240
    nan_payload = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001 + rng.randrange(1 << 20)))[0]
    pool = [0.0, -0.0, 1.0, -1.0, 2.0 ** 53, 2.0 ** 53 + 2, 1e308, 5e-324, -5e-324, 0.1, 0.30000000000000004,
            _as_missing(rng.randrange(12)), None]
    x = [rng.choice(pool) for _ in range(n)]
    y = [rng.choice(pool) for _ in range(n)]
    py_x, py_y = list(x), list(y)
    big = [2 ** 53 + rng.randrange(1, 1000) for _ in range(n)]  # Int64 in Python, doubles in SAS
    sas_big: list[float | None] = [float(b) for b in big]
    small = [rng.randrange(-5, 5) for _ in range(n)]  # Int32 in Python
    py_small: list[int | None] = list(small)
    cents = [rng.randrange(-400, 400) for _ in range(n)]  # Decimal in Python
    py_cents = [Decimal(c) / 100 for c in cents]
    texts = ["a", "a ", "a\x00", "", " ", "é", "e\u0301", "\u00a0", "€", "A", None]
    s = [rng.choice(texts) for _ in range(n)]
    t = [rng.choice(texts) for _ in range(n)]
    py_s, py_t = list(s), list(t)
    day = [rng.randrange(-30000, 30000) for _ in range(n)]
    sas_day: list[float | None] = [float(d) for d in day]
    py_day: list[dt.date | None] = [dt.date(1960, 1, 1) + dt.timedelta(days=d) for d in day]
    sec = [rng.randrange(-10 ** 9, 10 ** 9) + rng.choice([0.0, 0.5, 0.000001]) for _ in range(n)]
    py_sec: list[dt.datetime | None] = [dt.datetime(1960, 1, 1) + dt.timedelta(seconds=v) for v in sec]
    tags: list[str | None] = [rng.choice(["A", "Z", "_", None]) if v is None else None for v in x]
    for i in range(n):
        kind = rng.randrange(16)
        if kind == 0:  # swapped between two columns
            py_x[i], py_y[i] = y[i], x[i]
        elif kind == 1:  # the same value in two columns
            py_y[i] = x[i]
        elif kind == 2:
            py_x[i] = None if x[i] is not None else 0.0
        elif kind == 3:
            py_s[i], py_t[i] = t[i], s[i]
        elif kind == 4:
            py_s[i] = rng.choice(texts)
        elif kind == 5:
            big[i] += 1  # 2**53 + odd: the same double as its neighbour, or not
        elif kind == 6:
            sas_day[i] = None
        elif kind == 7:
            py_day[i] = None
        elif kind == 8 and x[i] is None:
            tags[i] = rng.choice([None, "B"])
        elif kind == 9:
            x[i] = nan_payload  # a NaN in the SAS rows: compared whatever
        elif kind == 10:
            py_small[i] = None if rng.random() < 0.5 else small[i] + 1
        elif kind == 11:
            py_cents[i] += Decimal("0.01")
        elif kind == 12:
            py_sec[i] = dt.datetime(1960, 1, 1) + dt.timedelta(seconds=sec[i], microseconds=1)
    sas_frame = pl.DataFrame(
        {"ID": [float(i) for i in range(n)], "X": x, "Y": y, "B": sas_big, "I": [float(v) for v in small],
         "M": [c / 100 for c in cents], "S": s, "T": t, "D": sas_day,
         "W": sec, "E": [None] * n},
        schema={"ID": pl.Float64, "X": pl.Float64, "Y": pl.Float64, "B": pl.Float64, "I": pl.Float64,
                "M": pl.Float64, "S": pl.String, "T": pl.String, "D": pl.Float64, "W": pl.Float64, "E": pl.Float64})
    sas = _sas(sas_frame, {"X": tags})
    sas.columns[8] = ColumnInfo("D", "numeric", "date", length=8, format="DATE9.")
    sas.columns[9] = ColumnInfo("W", "numeric", "datetime", length=8, format="DATETIME26.6")
    py_frame = pl.DataFrame({
        "ID": pl.Series([float(i) for i in range(n)]), "X": pl.Series(py_x, dtype=pl.Float64),
        "Y": pl.Series(py_y, dtype=pl.Float64), "B": pl.Series(big, dtype=pl.Int64),
        "I": pl.Series(py_small, dtype=pl.Int32), "M": pl.Series(py_cents, dtype=pl.Decimal(20, 2)),
        "S": py_s, "T": pl.Series(py_t, dtype=pl.String).cast(pl.Categorical), "D": pl.Series(py_day, dtype=pl.Date),
        "W": pl.Series(py_sec, dtype=pl.Datetime("us")), "E": pl.Series([None] * n, dtype=pl.Null)})
    py = _py(py_frame.sample(fraction=1.0, shuffle=True, seed=seed))
    spec = make_spec("d", keys=["ID"], numbers={"special_missing": "strict" if seed % 2 else "as_missing"},
                     strings={"ignore_case": seed % 3 == 0})
    return sas, py, spec


@pytest.mark.parametrize("seed", range(6))
def test_fuzzed_tables_give_the_verdict_of_a_comparison_of_every_pair(tmp_path: Path, seed: int,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Swapped values, the same value in two columns, -0.0, NaN payloads, the double hashed as missing, Int64 above
    2**53, Int32, Decimal, Categorical, dates, datetimes, special missing tags, an all-null column: the verdict
    and every count with the fingerprint's shortcut are those with every pair compared, on every path."""
    sas, py, spec = _fuzz_tables(seed)
    fast = [_dump(r) for r in _ways(spec, sas, py, tmp_path / "fast")]
    assert len(set(fast)) == 1
    stats = json.loads(fast[0])["#stats"]
    assert all(stats[c][1] for c in ("X", "Y", "S", "T", "D", "I", "M", "W")), stats  # differences were planted
    _every_pair_compared(monkeypatch)
    slow = [_dump(r) for r in _ways(spec, sas, py, tmp_path / "slow")]
    assert slow == fast
