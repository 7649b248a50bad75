"""The out-of-core polars engine (issue 9 item 3): lazy sources, hash buckets written as parquet, exact counts.

The same inputs as in-memory tables (one bucket) and as parquet-backed lazy sources split into K buckets must
give the same report, fact for fact: duplicates (the same and different on both sides), special missing keys
under ``special_missing = "strict"``, rows only in one side, sort violations, SAS rows out of key order, string
values fetched back by row number, and positional pairing without keys.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.api import make_spec
from parity.checks.core import build_result
from parity.engine.base import EngineResult
from parity.engine.polars_engine import PolarsEngine
from parity.sources.base import ColumnInfo, LazySource, Source, SourceMeta, Table
from parity.sources.frames import table_from_frame
from parity.spec import DatasetSpec


def _lazy(table: Table, path: Path) -> LazySource:
    """``table`` as a lazy Source: the rows stay in a parquet file until scanned."""
    table.scan().collect().write_parquet(path)
    return LazySource(table.columns, table.meta, lambda: pl.scan_parquet(path), where=path)


def _sas(frame: pl.DataFrame, tags: dict[str, list[str | None]], kinds: dict[str, str]) -> Table:
    columns = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            columns.append(ColumnInfo(name, "character", "string", length=12))
        else:
            kind = kinds.get(name, "numeric")
            columns.append(ColumnInfo(name, "numeric", kind, length=8,  # type: ignore[arg-type]
                                      format={"date": "DATE9."}.get(kind)))
    meta = SourceMeta("bench.sas7bdat", None, frame.height, frame.width, "sas7bdat", encoding="latin1")
    return Table(frame, columns, meta, {k: pl.Series(k, v, dtype=pl.String) for k, v in tags.items()})


def _data(n: int, shuffle_sas: bool, seed: int = 7) -> tuple[Table, Table]:
    """SAS rows with IDs 0..n-1 (10-19 twice; 15-19 three times in Python), keys .A (twice), ._ and . on the SAS
    side, IDs only in SAS (every 97th) and only in Python (n..n+9); X, S and D differ on some rows."""
    rng = random.Random(seed)
    ids: list[float | None] = [*(float(i) for i in range(n)), *(float(i) for i in range(10, 20))]
    id_tags: list[str | None] = [None] * len(ids)
    ids += [None, None, None, None]
    id_tags += ["A", "A", "_", None]
    rows = list(range(len(ids)))
    if shuffle_sas:
        rng.shuffle(rows)
    ids, id_tags = [ids[r] for r in rows], [id_tags[r] for r in rows]
    x = [None if i is None else i * 1.5 for i in ids]
    s = [None if i is None else (f"é{int(i)}" if int(i) % 7 == 0 else f"v{int(i)}") for i in ids]
    d = [None if i is None else float(int(i) % 900) for i in ids]
    sas = _sas(pl.DataFrame({"ID": ids, "X": x, "S": s, "D": d}), {"ID": id_tags}, {"D": "date"})
    py_ids = [i for i in ids if i is None or int(i) % 97 != 3] + [float(i) for i in range(15, 20)]
    py_ids += [float(i) for i in range(n, n + 10)]
    rng.shuffle(py_ids)
    py_x = [None if i is None else i * 1.5 + (0.25 if int(i) % 13 == 0 else 0.0) for i in py_ids]
    py_s = [None if i is None else (f"V{int(i)}" if int(i) % 11 == 0 else (f"é{int(i)}" if int(i) % 7 == 0
                                                                          else f"v{int(i)}") + "  ")
            for i in py_ids]
    py_d = [None if i is None else dt.date(1960, 1, 1) + dt.timedelta(days=int(i) % 900 + (int(i) % 17 == 0))
            for i in py_ids]
    py = pl.DataFrame({"ID": py_ids, "X": py_x, "S": py_s, "D": py_d})
    return sas, table_from_frame(py, "python.parquet", None, "parquet")


def _report(result: EngineResult) -> dict[str, Any]:
    out = build_result(result).to_dict()
    out.pop("duration_s", None)
    return out


def _both(spec: DatasetSpec, sas: Table, py: Table, tmp_path: Path, buckets: int) -> tuple[Any, Any, EngineResult]:
    memory = PolarsEngine().compare(spec, sas, py)
    lazy_sas: Source = _lazy(sas, tmp_path / "sas.parquet")
    lazy_py: Source = _lazy(py, tmp_path / "py.parquet")
    ooc = PolarsEngine(buckets=buckets, workdir=tmp_path).compare(spec, lazy_sas, lazy_py)
    assert memory.run_info["buckets"] == 1 and ooc.run_info["buckets"] == buckets
    assert not list(tmp_path.glob("parity-buckets-*"))  # the buckets are removed afterwards
    return _report(memory), _report(ooc), ooc


@pytest.mark.parametrize("buckets", [1, 4, 7])
@pytest.mark.parametrize("shuffle_sas", [True, False], ids=["sas-unordered", "sas-in-key-order"])
def test_bucketed_lazy_sources_give_the_in_memory_report(tmp_path: Path, buckets: int, shuffle_sas: bool) -> None:
    n = 3000
    spec = make_spec("d", keys=["ID"], numbers={"special_missing": "strict"})
    sas, py = _data(n, shuffle_sas)
    if not shuffle_sas:  # SAS in key order, no duplicates: the order check needs no join
        sas = Table(sas.frame.filter(pl.col("ID").is_not_null()).unique("ID", keep="first").sort("ID"),
                    sas.columns, sas.meta, {})
        py = table_from_frame(py.frame.filter(pl.col("ID").is_not_null()).unique("ID", keep="first",
                                                                                  maintain_order=True),
                              "python.parquet", None, "parquet")
    memory, ooc, result = _both(spec, sas, py, tmp_path, buckets)
    assert ooc == memory
    checks = {c["name"]: c for c in ooc["checks"]}
    only_sas = len([i for i in range(n) if i % 97 == 3])
    if shuffle_sas:
        # exact counts: SAS dupes 10-19 (x2) and .A (x2); Python dupes 10-14 (x2), 15-19 (x3, the third only in
        # Python) and '.' (x4: a Python frame has no special missing values)
        assert result.dup_sas.keys == 11 and result.dup_sas.rows == 22
        assert result.dup_py.keys == 11 and result.dup_py.rows == 29
        assert checks["key_uniqueness"]["status"] == "fail"
        # .A, .A and ._ are only in SAS; three of Python's four '.' keys only in Python
        assert result.only_sas == only_sas + 3 and result.only_py == 10 + 5 + 3
        assert checks["sort_order"]["status"] == "pass" and result.order_inversions  # information, not a warning
    else:
        assert result.only_sas == only_sas and result.only_py == 10
        assert checks["key_uniqueness"]["status"] == "pass"
        assert result.order_inversions and result.order_first is not None and result.order_first[0] is None
    x_unequal = len([i for i in range(n) if i % 13 == 0 and i % 97 != 3]) + shuffle_sas  # ID 13 twice
    assert result.stats["X"].mismatches == x_unequal
    assert result.stats["X"].max_abs_diff == 0.25
    assert result.stats["S"].mismatches > 0 and result.stats["D"].mismatches > 0


@pytest.mark.parametrize("buckets", [1, 3])
def test_sort_by_violations_and_collation_are_exact_when_bucketed(tmp_path: Path, buckets: int) -> None:
    sas, py = _data(2000, shuffle_sas=True, seed=11)
    spec = make_spec("d", keys=["ID"], sort_by=["S", "ID"])
    memory, ooc, result = _both(spec, sas, py, tmp_path, buckets)
    assert ooc == memory
    assert result.sort_violations is not None and result.sort_violations.violations > 0
    assert result.sas_sort_violations is not None and result.sas_sort_violations.violations > 0
    assert result.collation is not None and result.collation["encoding"] == "latin1"


@pytest.mark.parametrize("buckets", [1, 5])
def test_positional_pairing_without_keys_is_exact_when_bucketed(tmp_path: Path, buckets: int) -> None:
    sas, py = _data(1500, shuffle_sas=False, seed=3)
    spec = make_spec("d")
    memory, ooc, result = _both(spec, sas, py, tmp_path, buckets)
    assert ooc == memory
    assert result.rows_sas == sas.frame.height and result.rows_py == py.frame.height
    assert result.matched == min(result.rows_sas, result.rows_py)
    extra = result.rows_sas - result.rows_py
    assert (result.only_sas, result.only_py) == (max(extra, 0), max(-extra, 0)) and extra


def test_bucket_count_follows_the_inputs_size_and_the_memory_budget(tmp_path: Path) -> None:
    sas, py = _data(200, shuffle_sas=False)
    spec = make_spec("d", keys=["ID"])
    lazy_sas, lazy_py = _lazy(sas, tmp_path / "s.parquet"), _lazy(py, tmp_path / "p.parquet")
    from parity.engine.plan import plan_columns

    plans = plan_columns(spec, None, lazy_sas, lazy_py)
    assert PolarsEngine().bucket_count(sas, py, plans) == 1  # tables in memory: never bucketed
    assert PolarsEngine().bucket_count(lazy_sas, lazy_py, plans) == 1  # small
    assert PolarsEngine(memory_budget=4_000).bucket_count(lazy_sas, lazy_py, plans) > 4
    result = PolarsEngine(memory_budget=4_000, workdir=tmp_path).compare(spec, lazy_sas, lazy_py)
    assert result.run_info["buckets"] > 4
    assert _report(result) == _report(PolarsEngine().compare(spec, sas, py))


def test_a_source_damaged_after_it_was_opened_is_an_input_error_naming_it(tmp_path: Path) -> None:
    from parity.errors import InputError

    sas, py = _data(2000, shuffle_sas=False)
    spec = make_spec("d", keys=["ID"])
    py_path = tmp_path / "py.parquet"
    lazy_sas, lazy_py = _lazy(sas, tmp_path / "sas.parquet"), _lazy(py, py_path)
    data = bytearray(py_path.read_bytes())
    data[100:len(data) - 2000] = b"\x00" * (len(data) - 2100)  # the pages, not the footer: the schema still reads
    py_path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"dataset 'd': reading bench.sas7bdat or python.parquet failed"):
        PolarsEngine(buckets=2, workdir=tmp_path).compare(spec, lazy_sas, lazy_py)
    assert not list(tmp_path.glob("parity-buckets-*"))


@pytest.mark.parametrize("buckets", [1, 3])
def test_the_row_fingerprint_misses_no_difference(tmp_path: Path, buckets: int) -> None:
    """Rows cross the join as a fingerprint of their raw values: a difference only in a special missing tag, an
    infinity, a NaN, a last bit or a trailing blank must still reach the full comparison (and -0.0 = 0.0)."""
    n = 40
    ids = [float(i) for i in range(n)]
    x: list[float | None] = [i * 0.1 for i in range(n)]
    py_x: list[float | None] = list(x)
    x[1], py_x[1] = None, None  # .A against . : unequal under strict
    py_x[2] = float("inf")
    x[3] = float("nan")
    py_x[4] = x[4] + 2 ** -50  # type: ignore[operator]  # the last bits
    x[5], py_x[5] = 0.0, -0.0  # equal
    s = [f"v{i}" for i in range(n)]
    py_s = list(s)
    py_s[6] = "v6 "  # equal under the default rules (trailing blanks)
    py_s[7] = "V7"
    tags: list[str | None] = [None] * n
    tags[1] = "A"
    sas = _sas(pl.DataFrame({"ID": ids, "X": x, "S": s}), {"X": tags}, {})
    py = table_from_frame(pl.DataFrame({"ID": ids, "X": py_x, "S": py_s}), "python.parquet", None, "parquet")
    spec = make_spec("d", keys=["ID"], numbers={"special_missing": "strict"})
    memory, ooc, result = _both(spec, sas, py, tmp_path, buckets)
    assert ooc == memory
    x_rows = sorted(int(v) for v in result.diffs.filter(pl.col(result.plans[1].neq)).get_column("s0").to_list())
    assert x_rows == [1, 2, 3, 4] and result.stats["X"].mismatches == 4
    assert result.stats["S"].mismatches == 1
