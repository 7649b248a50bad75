"""Review 6: attacks on the polars engine's one-bucket fast path (narrow rows sharing the first pass, rows numbered
after collecting, key uniqueness counted in memory, the merge join of one sorted key, kept rows gathered from a
side in memory).

Every attack runs the default engine (one bucket) on the sides in memory, on the SAS side in memory against a
parquet Python side (the first run of a big .sas7bdat), on a SAS side read from parquet (the cache) against the
Python side in memory, and in forced buckets (the out-of-core reference): the facts must agree value for value,
and the counts must be those of a pairing built here in plain Python (by normalised key, duplicates in order).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import parity.engine.polars_engine as pe
from parity.api import make_spec
from parity.engine.base import EngineResult
from parity.engine.polars_engine import PolarsEngine
from parity.sources.base import ColumnInfo, SourceMeta, Table
from parity.spec import DatasetSpec
from tests.test_engine_fast import _facts, _frame_source, _parquet, _py, _sas

SAS_EPOCH = dt.datetime(1960, 1, 1)


@pytest.fixture
def merges(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether each call of the merge preparation sorted the sides for a merge join (True) or kept the hash join."""
    seen: list[bool] = []
    real = pe._merge_ready

    def spy(s: pl.LazyFrame, p: pl.LazyFrame, s_key: str, p_key: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        out = real(s, p, s_key, p_key)
        seen.append(out[0] is not s)
        return out

    monkeypatch.setattr(pe, "_merge_ready", spy)
    yield seen


def _dump(result: EngineResult) -> str:
    return json.dumps(_facts(result), sort_keys=True, default=str)  # NaN-safe equality


def _all_ways(spec: DatasetSpec, sas: Table, py: Table, tmp_path: Path) -> EngineResult:
    memory = PolarsEngine().compare(spec, sas, py)
    others = {
        "mixed": PolarsEngine().compare(spec, _frame_source(sas), _parquet(py, tmp_path / "py0.parquet")),
        "sas cache": PolarsEngine().compare(spec, _parquet(sas, tmp_path / "sas0.parquet"), py),
        "buckets": PolarsEngine(buckets=3, workdir=tmp_path).compare(
            spec, _parquet(sas, tmp_path / "sas1.parquet"), _parquet(py, tmp_path / "py1.parquet")),
    }
    assert memory.run_info["buckets"] == 1 and others["buckets"].run_info["buckets"] == 3
    expected = _dump(memory)
    for name, other in others.items():
        assert _dump(other) == expected, name
        assert other.diffs.equals(memory.diffs), name
    return memory


def _truth(sas_keys: list[Any], sas_x: list[float], py_keys: list[Any], py_x: list[float],
           norm: Callable[[Any, str], Any]) -> tuple[int, int, int, int]:
    """(matched, only in SAS, only in Python, X mismatches): rows paired by normalised key, in order within it."""
    s: dict[Any, list[float]] = defaultdict(list)
    p: dict[Any, list[float]] = defaultdict(list)
    for k, x in zip(sas_keys, sas_x, strict=True):
        s[norm(k, "sas")].append(x)
    for k, x in zip(py_keys, py_x, strict=True):
        p[norm(k, "py")].append(x)
    matched = sum(min(len(v), len(p[k])) for k, v in s.items() if k in p)
    mismatches = sum(a != b for k, v in s.items() if k in p for a, b in zip(v, p[k], strict=False))
    return matched, len(sas_keys) - matched, len(py_keys) - matched, mismatches


def _counts(result: EngineResult) -> tuple[int, int, int, int]:
    return result.matched, result.only_sas, result.only_py, result.stats["X"].mismatches


def _order(keys: list[Any], how: str, rng: random.Random) -> list[Any]:
    out = sorted(keys)
    if how == "desc":
        out.reverse()
    elif how == "shuffled":
        rng.shuffle(out)
    elif how == "one-out":  # sorted but for one row
        out.insert(len(out) // 2, out.pop(0))
    return out


def _number_key(value: Any, side: str) -> float:
    if isinstance(value, dt.datetime):
        return (value - SAS_EPOCH) / dt.timedelta(seconds=1)
    if isinstance(value, dt.date):
        return float((value - SAS_EPOCH.date()).days)
    return float(value)


NUMBER_KEYS: dict[str, tuple[pl.DataType, Callable[[int], Any]]] = {
    "Float64": (pl.Float64(), lambda i: i * 1.5 - 40.25),
    "Int64": (pl.Int64(), lambda i: i * 7 - 100),
    "Int32": (pl.Int32(), lambda i: i - 45),
    "UInt64": (pl.UInt64(), lambda i: 2 ** 63 + i * 4096),
    "Decimal": (pl.Decimal(20, 2), lambda i: Decimal(i * 3 - 61) / 4),
    "Date": (pl.Date(), lambda i: dt.date(1959, 12, 1) + dt.timedelta(days=i * 3)),
    "Datetime": (pl.Datetime("us"), lambda i: dt.datetime(1960, 1, 1) + dt.timedelta(seconds=i * 61 - 900)),
    "big": (pl.Int64(), lambda i: 2 ** 53 + i),  # 2**53 + odd is no double: its neighbours collide
}


@pytest.mark.parametrize("dtype", list(NUMBER_KEYS))
@pytest.mark.parametrize("orders", [("asc", "shuffled"), ("shuffled", "asc"), ("asc", "asc"), ("desc", "asc"),
                                    ("one-out", "asc"), ("asc", "desc")])
def test_numeric_key_dtypes_in_every_order(tmp_path: Path, merges: list[bool], dtype: str,
                                           orders: tuple[str, str]) -> None:
    pl_type, make = NUMBER_KEYS[dtype]
    rng = random.Random(f"{dtype}{orders}")
    values = [make(i) for i in range(1, 90) if i != 45]  # a gap: no zero key anywhere (zero keeps the hash join)
    sas_keys = _order([v for i, v in enumerate(values) if i % 11 != 3], orders[0], rng)  # some only in Python
    py_keys = _order([v for i, v in enumerate(values) if i % 13 != 5] + [make(200), make(-300)], orders[1], rng)
    sas_x = [float(_number_key(k, "sas") % 7) for k in sas_keys]
    py_x = [float(_number_key(k, "py") % 7) + (1.0 if i % 17 == 2 else 0.0) for i, k in enumerate(py_keys)]
    sas = _sas(pl.DataFrame({"ID": [_number_key(k, "sas") for k in sas_keys], "X": sas_x}))
    if dtype == "Date":
        sas.columns[0] = ColumnInfo("ID", "numeric", "date", length=8, format="DATE9.")
    elif dtype == "Datetime":
        sas.columns[0] = ColumnInfo("ID", "numeric", "datetime", length=8, format="DATETIME20.")
    py = _py(pl.DataFrame({"ID": pl.Series(py_keys, dtype=pl_type), "X": py_x}))
    result = _all_ways(make_spec("d", keys=["ID"]), sas, py, tmp_path)
    assert _counts(result) == _truth(sas_keys, sas_x, py_keys, py_x, _number_key)
    if dtype != "big" and "asc" in orders:  # unique keys, one side in order: the merge join was taken
        assert any(merges)


STRING_TRAPS = ["a", "B", "b", "Z", "é", "ä", "É", "a\x00", "a\x01", "\x7f", "a b", "ab", "A", "zz", "€", "ÿ", "1",
                "10", "9", "a\u0301", "ß", "SS", " lead"]


@pytest.mark.parametrize("rules", [{}, {"ignore_case": True}, {"strip": "both"}, {"strip": "none"},
                                   {"blank_is_missing": False}])
@pytest.mark.parametrize("orders", [("asc", "shuffled"), ("shuffled", "asc"), ("asc", "asc"), ("desc", "asc")])
def test_string_keys_whose_orders_differ_between_byte_order_and_collation(
        tmp_path: Path, merges: list[bool], rules: dict[str, Any], orders: tuple[str, str]) -> None:
    """Keys sorted by bytes, by code point after SAS normalisation, or not at all; keys equal only once trailing
    (or leading) blanks are dropped or case is ignored, so that the two sides' raw orders differ."""
    rng = random.Random(f"{rules}{orders}")
    sas_keys = _order([k for k in STRING_TRAPS if k not in ("b", "SS")], orders[0], rng)
    py_raw = [k + "  " if i % 3 == 0 else k for i, k in enumerate(STRING_TRAPS) if k not in ("ab",)] + ["new"]
    if rules.get("blank_is_missing") is False:
        sas_keys = [*sas_keys, ""]
        py_raw = [*py_raw, "   "]
    py_keys = _order(py_raw, orders[1], rng)
    sas_x = [float(len(k)) for k in sas_keys]
    py_x = [float(len(k.rstrip(" "))) for k in py_keys]

    def norm(key: str, side: str) -> str | None:
        strip = rules.get("strip", "trailing")
        key = key.rstrip(" ") if strip == "trailing" else key.strip(" ") if strip == "both" else key
        if rules.get("blank_is_missing", True) and not key.strip(" "):
            return None
        return key.lower() if rules.get("ignore_case") else key

    sas = _sas(pl.DataFrame({"ID": sas_keys, "X": sas_x}))
    py = _py(pl.DataFrame({"ID": py_keys, "X": py_x}))
    result = _all_ways(make_spec("d", keys=["ID"], strings=rules), sas, py, tmp_path)
    if rules.get("ignore_case"):  # a and A, b and B... are one key: duplicates, counted as such
        assert result.dup_sas.keys or result.dup_py.keys
    assert _counts(result) == _truth(sas_keys, sas_x, py_keys, py_x, norm)
    if rules == {"strip": "none"} and "asc" in orders:  # raw order is the normalised order: merged
        assert any(merges)


@pytest.mark.parametrize("special", ["strict", "as_missing"])
@pytest.mark.parametrize("nulls", ["first", "last"])
def test_missing_and_special_missing_keys_on_sorted_sides(tmp_path: Path, special: str, nulls: str) -> None:
    """.A, ._ and . keys sorted first or last on sides otherwise in key order: distinct keys under strict rules,
    one missing key (duplicated) as plain missing values."""
    ids: list[float | None] = [1.0, 2.0, 3.0, 4.0, 5.0]
    sas_ids = [None, None, None, *ids] if nulls == "first" else [*ids, None, None, None]
    tags: list[str | None] = [None] * len(sas_ids)
    missing = [i for i, v in enumerate(sas_ids) if v is None]
    tags[missing[0]], tags[missing[1]] = "A", "_"
    sas = _sas(pl.DataFrame({"ID": sas_ids, "X": [float(i) for i in range(len(sas_ids))]},
                            schema={"ID": pl.Float64, "X": pl.Float64}), {"ID": tags})
    py_ids = [None, *ids, 6.0] if nulls == "first" else [*ids, 6.0, None]
    py_x = [99.0 if v == 6.0 else float(sas_ids.index(v)) if v is not None else float(missing[2]) for v in py_ids]
    py = _py(pl.DataFrame({"ID": py_ids, "X": py_x}, schema={"ID": pl.Float64, "X": pl.Float64}))
    result = _all_ways(make_spec("d", keys=["ID"], numbers={"special_missing": special}), sas, py, tmp_path)
    if special == "strict":  # .A and ._ only in SAS; . against .
        assert (result.matched, result.only_sas, result.only_py) == (6, 2, 1)
        assert not result.dup_sas.keys
    else:  # three missing keys in SAS, paired in order with Python's one
        assert (result.matched, result.only_sas, result.only_py) == (6, 2, 1)
        assert (result.dup_sas.keys, result.dup_sas.rows) == (1, 3)


@pytest.mark.parametrize("where", ["both", "sas", "py", "unmatched"])
def test_duplicated_keys_on_sorted_sides_are_paired_in_order(tmp_path: Path, merges: list[bool], where: str) -> None:
    """Duplicates on one or both sides of sides in key order (sorted before the duplicate check), or a key
    duplicated only among rows the other side lacks."""
    base = [float(i) for i in range(1, 60)]
    sas_keys, py_keys = list(base), [k for k in base if k != 30.0]
    if where in ("both", "sas"):
        sas_keys += [7.0, 7.0, 50.0]
    if where in ("both", "py"):
        py_keys += [7.0, 59.0]
    if where == "unmatched":
        sas_keys += [30.0, 30.0]
    sas_keys.sort()
    py_keys.sort(reverse=True)
    sas_x = [float(i % 5) for i in range(len(sas_keys))]
    py_x = [float(i % 4) for i in range(len(py_keys))]
    sas = _sas(pl.DataFrame({"ID": sas_keys, "X": sas_x}))
    py = _py(pl.DataFrame({"ID": py_keys, "X": py_x}))
    result = _all_ways(make_spec("d", keys=["ID"]), sas, py, tmp_path)
    assert _counts(result) == _truth(sas_keys, sas_x, py_keys, py_x, _number_key)
    assert result.dup_sas.keys or result.dup_py.keys
    assert any(merges)


@pytest.mark.parametrize("shape", ["one-row", "only-first", "only-last", "disjoint", "sas-empty", "py-empty",
                                   "inf"])
def test_rows_only_on_one_side_at_the_ends_of_the_order(tmp_path: Path, shape: str) -> None:
    keys = [float(i) for i in range(1, 40)]
    sas_keys, py_keys = {
        "one-row": ([5.0], [5.0]),
        "only-first": ([-1e300, *keys], keys),
        "only-last": (keys, [*keys, 1e300]),
        "disjoint": (keys[:20], keys[20:]),
        "sas-empty": ([], keys),
        "py-empty": (keys, []),
        "inf": ([float("-inf"), *keys], [*keys, float("inf")]),
    }[shape]
    sas_x = [k % 3 if math.isfinite(k) else 1.0 for k in sas_keys]
    py_x = [(k % 3 if math.isfinite(k) else 1.0) + (k == 20.0) for k in py_keys]
    sas = _sas(pl.DataFrame({"ID": sas_keys, "X": sas_x}, schema={"ID": pl.Float64, "X": pl.Float64}))
    py = _py(pl.DataFrame({"ID": py_keys[::-1], "X": py_x[::-1]}, schema={"ID": pl.Float64, "X": pl.Float64}))
    result = _all_ways(make_spec("d", keys=["ID"]), sas, py, tmp_path)
    assert _counts(result) == _truth(sas_keys, sas_x, py_keys, py_x, _number_key)


def test_time_of_day_keys_from_python_datetimes_sorted_by_instant(tmp_path: Path) -> None:
    """A Python datetime column in instant order whose time of day is the key: in no order once converted."""
    stamps = [dt.datetime(2024, 1, 1 + i // 5, (i * 7) % 24, i % 60, 1) for i in range(30)]
    stamps.sort()
    seconds = [s.hour * 3600.0 + s.minute * 60 + s.second for s in stamps]
    sas = Table(pl.DataFrame({"T": sorted(seconds), "X": [1.0] * 30}),
                [ColumnInfo("T", "numeric", "time", length=8, format="TIME8."),
                 ColumnInfo("X", "numeric", "numeric", length=8)],
                SourceMeta("t.sas7bdat", None, 30, 2, "sas7bdat", encoding="latin1"))
    py = _py(pl.DataFrame({"T": stamps, "X": [1.0] * 29 + [2.0]}))
    result = _all_ways(make_spec("d", keys=["T"]), sas, py, tmp_path)
    assert (result.matched, result.only_sas, result.only_py) == (30, 0, 0)
    assert result.stats["X"].mismatches == 1


@pytest.mark.parametrize("seed", range(4))
def test_random_tables_in_several_chunks(tmp_path: Path, seed: int) -> None:
    """Thousands of rows in several chunks, numbers or strings, in key order or not, duplicates sprinkled: the
    merge join and the gathered values against the buckets and the plain pairing."""
    rng = random.Random(seed)
    n = 6000
    strings = seed % 2 == 1
    pool = sorted({rng.randint(-10 ** 9, 10 ** 9) for _ in range(n)} - {0})
    keys: list[Any] = [f"k{v}" for v in pool] if strings else [v / 8 for v in pool]
    sas_keys = [k for k in keys if rng.random() < 0.9]
    py_keys = [k for k in keys if rng.random() < 0.9]
    if seed >= 2:
        sas_keys += rng.sample(sas_keys, 40)
        py_keys += rng.sample(py_keys, 40)
    sas_keys.sort()
    if seed % 2:
        rng.shuffle(py_keys)
    else:
        py_keys.sort()
        rng.shuffle(sas_keys)
    sas_x = [float(rng.randint(0, 3)) for _ in sas_keys]
    val = dict(zip(sas_keys, sas_x, strict=True))
    py_x = [val.get(k, 0.0) + (rng.random() < 0.02) for k in py_keys]
    frame_s = pl.DataFrame({"ID": sas_keys, "X": sas_x})
    frame_p = pl.DataFrame({"ID": py_keys, "X": py_x})
    frame_s = pl.concat([frame_s.slice(0, n // 3), frame_s.slice(n // 3)], rechunk=False)
    frame_p = pl.concat([frame_p.slice(0, n // 2), frame_p.slice(n // 2)], rechunk=False)
    result = _all_ways(make_spec("d", keys=["ID"]), _sas(frame_s), _py(frame_p), tmp_path)
    assert _counts(result) == _truth(sas_keys, sas_x, py_keys, py_x, lambda k, side: k)


@pytest.mark.parametrize("special", ["strict", "as_missing"])
def test_a_real_sas_file_read_into_memory_from_the_cache_and_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   special: str) -> None:
    """A .sas7bdat in key order with special missing keys and values, read by the SAS fast path into memory, into
    the cache (first run) and from the cache (later runs), against a shuffled Python side: the same facts as in
    forced buckets."""
    from parity.sources.base import Source
    from parity.sources.registry import OpenOptions
    from parity.sources.sas_fast import READER_ENV
    from parity.sources.sas_stream import open_streamed
    from tests.helpers import Column, SpecialMissing, write_sas7bdat

    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PARITY_NO_CACHE", raising=False)
    monkeypatch.delenv(READER_ENV, raising=False)
    n = 300
    ids: list[Any] = [float(i) for i in range(1, n + 1)]
    ids[:3] = [SpecialMissing("A"), SpecialMissing("_"), None]  # .A, ._ and . sort first in SAS
    xs: list[Any] = [SpecialMissing("B") if i % 37 == 5 else None if i % 41 == 7 else i * 0.5 for i in range(n)]
    names = [f"n{i:04d}" + (" x" if i % 9 == 0 else "") for i in range(n)]
    names[:3], xs[:3] = ["miss"] * 3, [1.0] * 3  # the rows of missing keys alike: their pairing is by order
    path = tmp_path / "d.sas7bdat"
    write_sas7bdat(path, [Column("ID", "numeric", ids), Column("X", "numeric", xs),
                          Column("S", "string", names, length=8)])
    py_ids = [None, None, None, *range(4, n + 1), n + 5]
    py_x = [None if isinstance(v, SpecialMissing) else v for v in xs] + [1.0]
    py_x[100] = 1e9
    py_s = [s + "  " if i % 5 == 0 else s for i, s in enumerate(names)] + ["new"]
    py_s[200] = "n0200y"
    py_frame = pl.DataFrame({"ID": py_ids, "X": py_x, "S": py_s}, schema={"ID": pl.Float64, "X": pl.Float64,
                                                                         "S": pl.String})
    py = _py(py_frame.sample(fraction=1.0, shuffle=True, seed=6))
    spec = make_spec("d", keys=["ID"], numbers={"special_missing": special})
    sides: dict[str, Source] = {"memory": open_streamed(path, OpenOptions(cache=False)),
                                "first run": open_streamed(path, OpenOptions(cache=True)),
                                "cached": open_streamed(path, OpenOptions(cache=True))}
    expected = PolarsEngine(buckets=3, workdir=tmp_path).compare(spec, sides["cached"], py)
    for name, sas in sides.items():
        result = PolarsEngine().compare(spec, sas, py)
        assert result.run_info["buckets"] == 1
        assert _dump(result) == _dump(expected), name
        assert result.diffs.equals(expected.diffs), name
    # strict: .A and ._ keys only in SAS, two Python missing keys paired with none; as missing: three SAS and
    # three Python missing keys paired in order
    assert (expected.only_sas, expected.only_py) == ((2, 3) if special == "strict" else (0, 1))
    mismatches = {c: s.mismatches for c, s in expected.stats.items()}
    x_special = len([i for i in range(3, n) if i % 37 == 5])
    assert mismatches["S"] == 1
    assert mismatches["X"] == 1 + (x_special if special == "strict" else 0)
