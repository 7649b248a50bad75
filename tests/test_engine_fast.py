"""The polars engine's one-bucket fast path (issue 9): the narrow rows computed in the same pass as the first-pass
aggregates (no row index in the query, rows numbered once collected), row counts from the narrow frames, key
uniqueness counted in memory, and the kept rows of a side in memory gathered rather than filtered out of a pass.

Every case is run four ways and must give the same facts, value for value: both sides in memory (Tables), the SAS
side in memory and the Python side a parquet scan (the first-run shape of a big .sas7bdat against a parquet
output), both sides parquet scans in one bucket, and both sides in forced buckets (the out-of-core path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.api import make_spec
from parity.checks.core import build_result
from parity.engine.base import EngineResult
from parity.engine.polars_engine import PolarsEngine, _frame_of
from parity.sources.base import ColumnInfo, LazySource, Source, SourceMeta, Table
from parity.sources.frames import table_from_frame
from parity.spec import DatasetSpec


def _sas(frame: pl.DataFrame, tags: dict[str, list[str | None]] | None = None) -> Table:
    columns = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            columns.append(ColumnInfo(name, "character", "string", length=12))
        else:
            columns.append(ColumnInfo(name, "numeric", "numeric", length=8))
    meta = SourceMeta("fast.sas7bdat", None, frame.height, frame.width, "sas7bdat", encoding="latin1")
    return Table(frame, columns, meta, {k: pl.Series(k, v, dtype=pl.String) for k, v in (tags or {}).items()})


def _py(frame: pl.DataFrame) -> Table:
    return table_from_frame(frame, "python.parquet", None, "parquet")


def _parquet(table: Table, path: Path) -> LazySource:
    table.scan().collect().write_parquet(path)
    return LazySource(table.columns, table.meta, lambda: pl.scan_parquet(path), where=path)


def _frame_source(table: Table) -> LazySource:
    """A Source whose scan is a DataFrame in memory (as the SAS fast path's frame), not a Table."""
    frame = table.scan().collect()
    return LazySource(table.columns, table.meta, frame.lazy)


def _facts(result: EngineResult) -> dict[str, Any]:
    out = build_result(result).to_dict()
    out.pop("duration_s", None)
    out["#counts"] = (result.rows_sas, result.rows_py, result.matched, result.only_sas, result.only_py)
    out["#stats"] = {k: (v.compared, v.mismatches, v.max_abs_diff, v.max_rel_diff) for k, v in result.stats.items()}
    out["#dups"] = (result.dup_sas.keys, result.dup_sas.rows, result.dup_py.keys, result.dup_py.rows)
    out["#order"] = (result.order_inversions, result.order_first, result.sort_violations,
                     result.sas_sort_violations)
    out["#lengths"] = (result.sas_full_strings, result.python_long_strings)
    return out


def _four_ways(spec: DatasetSpec, sas: Table, py: Table, tmp_path: Path) -> EngineResult:
    """The report and the kept rows of the four ways, which must agree; returns the in-memory result."""
    memory = PolarsEngine().compare(spec, sas, py)
    mixed = PolarsEngine().compare(spec, _frame_source(sas), _parquet(py, tmp_path / "py0.parquet"))
    lazy_sas: Source = _parquet(sas, tmp_path / "sas.parquet")
    lazy_py: Source = _parquet(py, tmp_path / "py.parquet")
    one = PolarsEngine().compare(spec, lazy_sas, lazy_py)
    buckets = PolarsEngine(buckets=3, workdir=tmp_path).compare(spec, lazy_sas, lazy_py)
    assert [r.run_info["buckets"] for r in (memory, mixed, one, buckets)] == [1, 1, 1, 3]
    expected = _facts(memory)
    for other in (mixed, one, buckets):
        assert _facts(other) == expected
        assert other.diffs.equals(memory.diffs)
    return memory


def _ids(n: int) -> list[float]:
    return [float(i) for i in range(n)]


def test_differences_of_every_kind_are_found_on_every_path(tmp_path: Path) -> None:
    n = 60
    x: list[float | None] = [i * 0.5 for i in range(n)]
    py_x: list[float | None] = list(x)
    x[1], py_x[1] = None, None  # .A against . under strict
    py_x[2] = float("inf")
    x[3] = float("nan")
    py_x[4] = x[4] + 2 ** -48  # type: ignore[operator]
    x[5], py_x[5] = 0.0, -0.0  # equal
    x[6], py_x[6] = None, float("nan")  # a Python NaN is the SAS missing value
    s = [f"v{i}" for i in range(n)]
    py_s: list[str | None] = list(s)
    py_s[7] = "v7  "  # trailing blanks: equal under the default rules
    py_s[8] = "v8\x00"  # a NUL is not a blank
    py_s[9] = None
    py_s[10] = "V10"
    tags: list[str | None] = [None] * n
    tags[1] = "A"
    sas = _sas(pl.DataFrame({"ID": _ids(n), "X": x, "S": s}), {"X": tags})
    py = _py(pl.DataFrame({"ID": _ids(n), "X": py_x, "S": py_s}))
    spec = make_spec("d", keys=["ID"], numbers={"special_missing": "strict"})
    result = _four_ways(spec, sas, py, tmp_path)
    x_rows = sorted(int(v) for v in result.diffs.filter(pl.col(result.plans[1].neq)).get_column("s0").to_list())
    assert x_rows == [1, 2, 3, 4]
    s_rows = sorted(int(v) for v in result.diffs.filter(pl.col(result.plans[2].neq)).get_column("s0").to_list())
    assert s_rows == [8, 9, 10]
    assert result.matched == n and result.only_sas == result.only_py == 0


@pytest.mark.parametrize("side", ["sas", "py"])
def test_duplicates_on_one_side_are_paired_in_order_on_every_path(tmp_path: Path, side: str) -> None:
    n = 40
    ids = _ids(n)
    dup_ids = [*ids, 3.0, 3.0, 17.0]
    frame = pl.DataFrame({"ID": ids, "X": [i * 2.0 for i in range(n)], "S": [f"s{i}" for i in range(n)]})
    dups = pl.DataFrame({"ID": dup_ids, "X": [*(i * 2.0 for i in range(n)), 6.0, 7.0, 1.0],
                         "S": [*(f"s{i}" for i in range(n)), "s3", "x", "s17"]})
    sas, py = (_sas(dups), _py(frame)) if side == "sas" else (_sas(frame), _py(dups))
    result = _four_ways(make_spec("d", keys=["ID"]), sas, py, tmp_path)
    dup = result.dup_sas if side == "sas" else result.dup_py
    assert (dup.keys, dup.rows) == (2, 5)
    assert (result.only_sas, result.only_py) == ((3, 0) if side == "sas" else (0, 3))


def test_rows_only_in_one_side_and_shuffled_rows(tmp_path: Path) -> None:
    n = 200
    sas = _sas(pl.DataFrame({"ID": _ids(n), "X": [i / 7 for i in range(n)], "S": [f"a{i % 9}" for i in range(n)]}))
    py_frame = pl.DataFrame({"ID": [*_ids(n), 500.0, 501.0], "X": [*(i / 7 for i in range(n)), 1.0, 2.0],
                             "S": [*(f"a{i % 9}" for i in range(n)), "z", "z"]})
    py_frame = py_frame.filter(pl.col("ID") % 13 != 5).sample(fraction=1.0, shuffle=True, seed=5)
    result = _four_ways(make_spec("d", keys=["ID"]), sas, _py(py_frame), tmp_path)
    assert result.only_py == 2 and result.only_sas == len([i for i in range(n) if i % 13 == 5])
    assert result.order_inversions  # Python rows out of the SAS order


def test_positional_pairing_without_keys(tmp_path: Path) -> None:
    sas = _sas(pl.DataFrame({"X": [1.0, 2.0, 3.0, None], "S": ["a", "b", "c", "d"]}))
    py = _py(pl.DataFrame({"X": [1.0, 2.5, 3.0], "S": ["a", "b", "C"]}))
    result = _four_ways(make_spec("d"), sas, py, tmp_path)
    assert (result.matched, result.only_sas, result.only_py) == (3, 1, 0)
    assert result.stats["X"].mismatches == 1 and result.stats["S"].mismatches == 1


def test_keys_only_and_no_keys_nor_compared_columns(tmp_path: Path) -> None:
    """Nothing to fingerprint: the narrow rows hold only the keys, or nothing but the row number."""
    sas = _sas(pl.DataFrame({"ID": [1.0, 2.0, 3.0]}))
    py = _py(pl.DataFrame({"ID": [2.0, 3.0, 4.0, 5.0]}))
    result = _four_ways(make_spec("d", keys=["ID"]), sas, py, tmp_path)
    assert (result.rows_sas, result.rows_py, result.matched, result.only_sas, result.only_py) == (3, 4, 2, 1, 2)
    sas = _sas(pl.DataFrame({"A": [1.0, 2.0, 3.0]}))
    py = _py(pl.DataFrame({"B": [1.0, 2.0]}))
    result = _four_ways(make_spec("d"), sas, py, tmp_path)
    assert (result.rows_sas, result.rows_py, result.matched, result.only_sas) == (3, 2, 2, 1)


@pytest.mark.parametrize("rows", [(0, 0), (0, 3), (3, 0)])
def test_empty_tables(tmp_path: Path, rows: tuple[int, int]) -> None:
    n_sas, n_py = rows
    sas = _sas(pl.DataFrame({"ID": _ids(n_sas), "X": [1.0] * n_sas, "S": ["a"] * n_sas},
                            schema={"ID": pl.Float64, "X": pl.Float64, "S": pl.String}))
    py = _py(pl.DataFrame({"ID": _ids(n_py), "X": [1.0] * n_py, "S": ["a"] * n_py},
                          schema={"ID": pl.Float64, "X": pl.Float64, "S": pl.String}))
    result = _four_ways(make_spec("d", keys=["ID"]), sas, py, tmp_path)
    assert (result.rows_sas, result.rows_py, result.matched, result.only_sas, result.only_py) == (
        n_sas, n_py, 0, n_sas, n_py)


def test_special_missing_keys_string_keys_and_sort_by(tmp_path: Path) -> None:
    ids: list[float | None] = [1.0, 2.0, None, None, 5.0, 6.0]
    sas = _sas(pl.DataFrame({"ID": ids, "K": ["a", "b", "c", "d", "e ", "f"], "X": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}),
               {"ID": [None, None, "A", None, None, None]})
    py = _py(pl.DataFrame({"ID": [1.0, 2.0, None, None, 5.0, 6.0], "K": ["a", "b", "c", "d", "e", "F"],
                           "X": [1.0, 2.0, 3.5, 4.0, 5.0, 6.0]}))
    spec = make_spec("d", keys=["ID", "K"], sort_by=["K"], numbers={"special_missing": "strict"})
    result = _four_ways(spec, sas, py, tmp_path)
    assert result.only_sas == 2 and result.only_py == 2  # .A/c against ./c; f against F
    assert result.sort_violations is not None


def test_strings_longer_than_the_sas_length_and_value_facts(tmp_path: Path) -> None:
    """The first pass's aggregates (string lengths, the Python values a conversion changes) computed alongside the
    narrow rows: the same facts as in their own passes."""
    n = 30
    sas = _sas(pl.DataFrame({"ID": _ids(n), "N": [float(i) for i in range(n)], "S": ["x" * 12] * n}))
    py = _py(pl.DataFrame({"ID": list(range(n)), "N": [float("nan") if i % 4 == 0 else float(i) for i in range(n)],
                           "S": ["x" * (12 + i % 3) for i in range(n)]}))
    result = _four_ways(make_spec("d", keys=["ID"]), sas, py, tmp_path)
    assert result.python_long_strings and result.python_long_strings["S"]["count"] == 20
    assert result.sas_full_strings == {"S": n}
    assert any(c.code == "nan_as_missing" and c.values == 8
               for p in result.plans if p.conversion for c in p.conversion.changes)


def test_a_side_in_memory_is_recognised_only_when_its_scan_is_a_bare_frame(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2, 3]})
    found = _frame_of(frame.lazy())
    assert found is not None and found.equals(frame)
    assert _frame_of(frame.lazy().with_columns(pl.col("a") * 2)) is None  # a query: its rows are not stored
    frame.write_parquet(tmp_path / "a.parquet")
    assert _frame_of(pl.scan_parquet(tmp_path / "a.parquet")) is None


def test_the_memory_budget_still_buckets_big_inputs(tmp_path: Path) -> None:
    """A one-bucket shortcut must not swallow the budget logic: 30M rows a side with one key are bucketed under
    the default budget, 5M rows are not."""
    from parity.engine.plan import plan_columns

    sas = _sas(pl.DataFrame({"ID": [1.0], "X": [1.0]}))
    py = _py(pl.DataFrame({"ID": [1.0], "X": [1.0]}))
    lazy_sas, lazy_py = _parquet(sas, tmp_path / "s.parquet"), _parquet(py, tmp_path / "p.parquet")
    plans = plan_columns(make_spec("d", keys=["ID"]), None, lazy_sas, lazy_py)

    def sized(source: LazySource, rows: int) -> LazySource:
        meta = SourceMeta(source.meta.source, None, rows, source.meta.columns, source.meta.format)
        return LazySource(source.columns, meta, source.scanner, where=source.where)

    engine = PolarsEngine()
    assert engine.bucket_count(sized(lazy_sas, 5_000_000), sized(lazy_py, 5_000_000), plans) == 1
    assert engine.bucket_count(sized(lazy_sas, 30_000_000), sized(lazy_py, 30_000_000), plans) > 1


@pytest.mark.parametrize("key", ["number", "string"])
@pytest.mark.parametrize("order", ["sas-sorted", "both-sorted", "python-sorted"])
def test_sides_in_key_order_are_joined_by_merging_with_the_same_facts(tmp_path: Path, key: str, order: str) -> None:
    """One side in key order: both sides are sorted and joined by merging (one bucket, one unique key), with the
    facts of the hash join."""
    from parity.engine.polars_engine import _merge_ready

    n = 500
    ids: list[Any] = [float(i + 1) for i in range(n)] if key == "number" else [f"k{i:04d}" for i in range(n)]
    sas_frame = pl.DataFrame({"ID": ids, "X": [i * 0.25 for i in range(n)], "S": [f"s{i % 17}" for i in range(n)]})
    py_frame = (sas_frame.with_columns(pl.when(pl.int_range(pl.len()) % 19 == 4).then(pl.col("X") + 1)
                                       .otherwise(pl.col("X")).alias("X"))
                .filter(pl.int_range(pl.len()) % 23 != 7))
    py_frame = pl.concat([py_frame, py_frame.head(2).with_columns(
        (pl.col("ID") * 1000) if key == "number" else (pl.col("ID") + "z"))])
    if order == "python-sorted":
        sas_frame = sas_frame.sample(fraction=1.0, shuffle=True, seed=3)
        py_frame = py_frame.sort("ID")
    elif order == "sas-sorted":
        py_frame = py_frame.sample(fraction=1.0, shuffle=True, seed=3)
    else:
        py_frame = py_frame.sort("ID")
    sas, py = _sas(sas_frame), _py(py_frame)
    result = _four_ways(make_spec("d", keys=["ID"]), sas, py, tmp_path)
    assert result.only_sas == len([i for i in range(n) if i % 23 == 7]) and result.only_py == 2
    assert result.stats["X"].mismatches == len([i for i in range(n) if i % 19 == 4 and i % 23 != 7])
    s_narrow = pl.DataFrame({"#row_sas": pl.Series(range(n), dtype=pl.UInt32), "s0": sas_frame["ID"]})
    p_narrow = pl.DataFrame({"#row_py": pl.Series(range(py_frame.height), dtype=pl.UInt32), "p0": py_frame["ID"]})
    s_m, p_m = (lf.collect() for lf in _merge_ready(s_narrow.with_row_index("#r").drop("#r").lazy(),
                                                      p_narrow.lazy(), "s0", "p0"))
    assert s_m.get_column("s0").flags["SORTED_ASC"] and p_m.get_column("p0").flags["SORTED_ASC"]
    assert not any(s_m.get_column("#row_sas").flags.values())  # another sorted column slows the merge 5x


@pytest.mark.parametrize("keys", [[0.0, 1.0, 2.0], [None, 1.0, 2.0], [float("nan"), 1.0, 2.0], [2.0, 1.0, 3.0]])
def test_keys_a_merge_could_get_wrong_keep_the_hash_join(keys: list[float | None]) -> None:
    """Zero (-0.0 = 0.0 in the hash join), missing and NaN keys, or neither side in key order: no merge."""
    from parity.engine.polars_engine import _merge_ready

    s = pl.DataFrame({"s0": keys}, schema={"s0": pl.Float64}).lazy()
    p = pl.DataFrame({"p0": [3.0, 2.0, 1.0]}).lazy()
    s_m, p_m = _merge_ready(s, p, "s0", "p0")
    assert s_m is s and p_m is p


def test_zero_and_minus_zero_keys_match_on_every_path(tmp_path: Path) -> None:
    sas = _sas(pl.DataFrame({"ID": [-0.0, 1.0, 2.0], "X": [1.0, 2.0, 3.0]}))
    py = _py(pl.DataFrame({"ID": [2.0, 0.0, 1.0], "X": [3.0, 1.0, 2.0]}))
    result = _four_ways(make_spec("d", keys=["ID"]), sas, py, tmp_path)
    assert (result.matched, result.only_sas, result.only_py) == (3, 0, 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_row_that_differs_in_one_number_never_shares_its_fingerprint(seed: int) -> None:
    """Changing one number of a row, to its nearest neighbours, to -0.0, a missing value or an extreme, changes
    both sums of the fingerprint (each value's 64-bit hash, summed with two sets of odd multipliers), so the row
    is compared under the rules and never skipped as equal."""
    import math
    import random

    from parity.engine.plan import plan_columns_deferred
    from parity.engine.polars_engine import FINGERPRINT, _narrow

    rng = random.Random(seed)
    n = 400
    base = {"id": _ids(n), **{f"x{j}": [rng.uniform(-1e6, 1e6) for _ in range(n)] for j in range(5)},
            "s": [f"v{i}" for i in range(n)]}
    changed = {k: list(v) for k, v in base.items()}
    for i in range(1, n):
        column = f"x{rng.randrange(5)}"
        value = changed[column][i]
        changed[column][i] = rng.choice([math.nextafter(value, math.inf), math.nextafter(value, -math.inf), -0.0,
                                         None, 1e308, -value, value * 2])
    sas = _sas(pl.DataFrame(base))
    py = _py(pl.DataFrame(changed))
    spec = make_spec(keys=["id"])
    plans, _ = plan_columns_deferred(spec, None, sas, py)
    h0, h1, _ = FINGERPRINT["sas"]
    p0, p1, _ = FINGERPRINT["py"]
    left = _narrow(sas.scan(), sas.scan().collect_schema(), plans, "sas", spec, False).collect()
    right = _narrow(py.scan(), py.scan().collect_schema(), plans, "py", spec, False).collect()
    same0 = left.get_column(h0) == right.get_column(p0)
    same1 = left.get_column(h1) == right.get_column(p1)
    assert bool(same0[0]) and bool(same1[0])  # the unchanged row matches
    assert not (same0 & same1)[1:].any()
    assert not same1[1:].any()  # h1 alone tells every changed row apart
