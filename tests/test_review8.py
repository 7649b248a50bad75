"""Review 8: attacks on this session's speed changes.

1. The row fingerprint (each compared value hashed once, two sums of the hashes): values that differ but hash
   alike must still be compared.  The oracle is the same engine with every matched pair compared value by value
   (the rows' "compare whatever the fingerprint" flag forced on), on every path (in memory, parquet, buckets).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import struct
import threading
import time
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
from parity.sources.sas_fast import fast_reader_available
from parity.spec import DatasetSpec
from parity.testing.sas7bdat_writer import Column, SpecialMissing, write_sas7bdat
from tests.test_engine_fast import _facts, _frame_source, _parquet, _py, _sas
from tests.test_sas_raw import _big_endian_copy

pytest_plugins = ["pytester"]

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


# ---------------------------------------------------------------------------------------------------------------
# 2. the ASCII check of the character values on the data pages (sas_raw._high_text_bytes)

needs_fast = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")


def _texts_file(path: Path, rows: int) -> Path:
    """Numbers whose bytes are above 127 around character columns of odd LENGTHs (a row of 28 bytes: no column
    on an 8-byte boundary), ASCII text, rows on the mix page, full data pages and a last page partly filled."""
    write_sas7bdat(path, [Column("x", "numeric", [-(i + 0.5) * 1e300 for i in range(rows)]),
                          Column("y", "numeric", [-1e300] * rows, length=4),
                          Column("s", "string", [f"r{i}" for i in range(rows)], length=7),
                          Column("t", "string", ["z"] * rows, length=1),
                          Column("u", "string", [f"{i % 10}" * (i % 9) for i in range(rows)], length=8)],
                   timestamp=dt.datetime(2024, 3, 1))
    return path


def _fast_strings_ascii(path: Path) -> bool:
    from polars_readstat import scan_readstat

    frame = scan_readstat(str(path)).select(["s", "t", "u"]).collect()
    return not any(frame.get_column(c).str.contains(r"[^\x00-\x7F]").any() for c in frame.columns)


@needs_fast
@pytest.mark.parametrize("chunk_pages", [0, 1, 3])
def test_a_byte_above_127_anywhere_on_the_pages_is_ascii_only_outside_the_character_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_pages: int) -> None:
    """'é' (2 bytes) patched at places all over the rows of every page with rows, and after the last row of a page:
    the data pages say ASCII exactly when polars-readstat's strings are ASCII (never when they are not), read in
    one piece or in pieces of 1 and 3 pages; a big-endian copy of the file says the same."""
    from parity.sources import sas_raw

    if chunk_pages:
        monkeypatch.setattr(sas_raw, "CHUNK_BYTES", chunk_pages * sas_raw.read_layout(
            _texts_file(tmp_path / "probe.sas7bdat", 10)).page_size)
    rows = 2000
    path = _texts_file(tmp_path / "t.sas7bdat", rows)
    original = path.read_bytes()
    layout = sas_raw.read_layout(path)
    from polars_readstat import ScanReadstat

    places = {c["name"]: (int(c["offset"]), int(c["length"])) for c in ScanReadstat(str(path)).metadata["columns"]}
    texts = [(n, *places[n]) for n in ("s", "t", "u")]
    assert sas_raw.read_columns(path, [], texts, rows).ascii_text
    rng = random.Random(8)
    at: list[int] = []
    row_bytes = sas_raw.read_columns(path, [], [], rows)
    for p in range(layout.page_count):
        if row_bytes.page_rows[p] == 0:
            continue
        base = layout.header_length + p * layout.page_size
        count = int(row_bytes.page_rows[p])
        first = base + (_mix_first(original, base, layout) if row_bytes.page_types[p] == 0x0200 else
                        layout.page_header)
        end = first + count * layout.row_length
        at += [first, first + 1, end - 1, end - 2, end, end + 5, *(rng.randrange(first, end) for _ in range(14))]
        at += [first + r * layout.row_length + k for r in (0, count - 1) for k in range(layout.row_length)]
    assert 0x0200 in row_bytes.page_types.tolist() and rows % int(row_bytes.page_rows.max())  # a mix page, a last
    seen = {True: 0, False: 0}  # page partly filled
    for place in sorted(set(at)):
        if place + 2 > len(original):
            continue
        data = bytearray(original)
        data[place:place + 2] = "é".encode()
        path.write_bytes(bytes(data))
        truth = _fast_strings_ascii(path)
        got = sas_raw.read_columns(path, [], texts, rows).ascii_text
        assert got == truth, place
        seen[truth] += 1
        if not truth and seen[False] % 7 == 1:  # the same verdict in the other byte order
            swapped = tmp_path / "be.sas7bdat"
            swapped.write_bytes(_big_endian_copy(path))
            assert sas_raw.read_columns(swapped, [], texts, rows).ascii_text is False
    assert seen[True] > 20 and seen[False] > 20, seen


def _mix_first(data: bytes, base: int, layout: Any) -> int:
    """Where a mix page's rows start: after its subheader pointers, 8-byte aligned."""
    (count,) = struct.unpack_from("<H", data, base + layout.page_header - 4)
    start = layout.page_header + count * layout.pointer_length
    return start + 4 if start % 8 == 4 else start


# ---------------------------------------------------------------------------------------------------------------
# 4. the split read's page reading thread (sas_fast._behind), in-place widths, tiny files


def test_the_page_reading_thread_never_runs_above_its_callers_priority() -> None:
    """Under ``nice -n 19`` (even as root, who may raise a priority) the thread stays at 19; else 5 steps lower."""
    from parity.sources.base import lower_priority
    from parity.sources.sas_fast import _behind

    seen: list[tuple[int, int]] = []

    def caller() -> None:
        lower_priority()
        me = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen.append((me, _behind(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))))

    thread = threading.Thread(target=caller)
    thread.start()
    thread.join()
    assert seen == [(19, 19)]
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert _behind(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())) == min(19, before + 5)


def test_an_interrupt_while_the_pages_are_read_leaves_no_thread_reading() -> None:
    """Ctrl-C (a SIGINT to the waiting thread) while the pages are read: the interrupt goes on once the thread's
    pass is done, so nothing still reads the file once the run unwinds."""
    import signal

    from parity.sources.sas_fast import _behind

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's KeyboardInterrupt here")
    started, done = threading.Event(), threading.Event()

    def work() -> int:
        started.set()
        time.sleep(0.5)
        done.set()
        return 1

    def interrupt() -> None:
        started.wait(5)
        time.sleep(0.1)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    timer = threading.Thread(target=interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        _behind(work)
    timer.join()
    assert done.is_set()  # not still reading


@needs_fast
@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError, OSError, "refused"])
def test_an_error_in_the_page_reading_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            error: Any) -> None:
    """A refusal of the raw read falls back to polars-readstat's whole read; any other error refuses the fast path
    (pyreadstat then reads the file); an interrupt goes through; never a thread or a file left behind."""
    from parity.sources import sas_fast, sas_raw
    from parity.sources.sas import read_sas
    from tests.test_sas_fast import _assert_same, _reference

    path = _texts_file(tmp_path / "e.sas7bdat", 3000)

    def broken(*args: Any) -> Any:
        raise sas_raw.RawRefused("planted") if error == "refused" else error("planted")

    monkeypatch.setattr(sas_raw, "read_columns", broken)
    monkeypatch.delenv(sas_fast.READER_ENV, raising=False)
    if error is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            sas_fast.scan_sas_fast(path, sink=tmp_path / "sink.parquet")
    else:
        table = read_sas(path)
        reader = table.meta.extra
        if error == "refused":  # polars-readstat reads every column
            assert reader["reader"] == "polars-readstat" and "data pages" not in str(reader.get("reader_note"))
        else:
            assert reader["reader"] == "pyreadstat" and "planted" in reader["reader_note"], reader
        _assert_same(table, _reference(path, monkeypatch))
    time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("parity-") and t.is_alive()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.sas7bdat"]


@pytest.mark.parametrize("little", [True, False])
@pytest.mark.parametrize("width", range(3, 9))
def test_numbers_shorter_than_8_bytes_in_either_byte_order(width: int, little: bool) -> None:
    """The in-place shifts: the stored bytes (the double's most significant ones, in the file's order, after 8 -
    LENGTH bytes of a neighbour) are the value, its other bytes zero."""
    import numpy as np

    from parity.sources.sas_raw import _doubles

    rng = random.Random(width * 2 + little)
    values = [rng.uniform(-1e6, 1e6) for _ in range(200)] + [0.0, -0.0, 1e-300, -1e300, math.pi, float("inf")]
    cells = bytearray()
    for v in values:
        big = struct.pack(">d", v)[:width]
        cells += bytes(rng.randrange(256) for _ in range(8 - width)) + (big[::-1] if little else big)
    words = np.frombuffer(bytes(cells), dtype="<u8" if little else ">u8").astype(np.uint64)
    got = _doubles(words, width, little)
    expected = [struct.unpack(">d", struct.pack(">d", v)[:width] + b"\0" * (8 - width))[0] for v in values]
    assert [struct.pack("<d", g) for g in got.tolist()] == [struct.pack("<d", e) for e in expected]
    assert np.shares_memory(got, words)  # in place


@needs_fast
@pytest.mark.parametrize("rows", [0, 1, 2])
def test_tiny_files_take_the_split_read_as_pyreadstat_reads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 rows: int) -> None:
    from parity.sources import sas_fast
    from parity.sources.sas import read_sas
    from tests.test_sas_fast import _assert_same, _reference

    path = tmp_path / "tiny.sas7bdat"
    write_sas7bdat(path, [Column("x", "numeric", [1.5, SpecialMissing("A")][:rows]),
                          Column("n", "numeric", [-2.0, 3.0][:rows], length=4),
                          Column("s", "string", ["a", "é"][:rows], length=3)],
                   timestamp=dt.datetime(2024, 3, 1))
    monkeypatch.delenv(sas_fast.READER_ENV, raising=False)
    table = read_sas(path)
    _assert_same(table, _reference(path, monkeypatch))
    if rows:
        assert "data pages" in str(table.meta.extra.get("reader_note")), table.meta.extra


# ---------------------------------------------------------------------------------------------------------------
# 3. the inputs' sha256, hashed while the rows are compared and asked for when the report is written


def _swap_in(path: Path, content: Path | None, how: str) -> None:
    """Change ``path`` the way a job still writing it would: replaced by a rename (a new inode), truncated,
    rewritten in place with other bytes of the same size, or only touched."""
    import shutil

    if how == "rename":
        assert content is not None
        shutil.copy2(content, path.with_name("next.tmp"))
        os.replace(path.with_name("next.tmp"), path)
    elif how == "truncate":
        with path.open("r+b") as fh:
            fh.truncate(path.stat().st_size // 2)
    elif how == "rewrite":
        data = bytearray(path.read_bytes())
        data[-100:] = bytes(100)
        stat = path.stat()
        path.write_bytes(bytes(data))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even the modification time put back
    else:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))


@pytest.fixture
def sas_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from parity.sources import cache
    from parity.sources.sas_fast import READER_ENV

    folder = tmp_path / "cache"
    monkeypatch.setenv("PARITY_CACHE_DIR", str(folder))
    monkeypatch.delenv("PARITY_NO_CACHE", raising=False)
    monkeypatch.delenv(READER_ENV, raising=False)
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    return folder


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entries(folder: Path) -> set[str]:
    return {p.parent.name for p in folder.rglob("manifest.json")}


@needs_fast
@pytest.mark.parametrize("how", ["rename", "truncate", "rewrite", "touch"])
@pytest.mark.parametrize("when", ["first run, fast", "first run, pyreadstat", "second run, fast"])
def test_a_sas_file_changed_while_it_is_read_is_an_error_and_the_cache_learns_nothing(
        tmp_path: Path, sas_cache: Path, monkeypatch: pytest.MonkeyPatch, how: str, when: str) -> None:
    """The file changes after the hasher read it, before the reader does: the run (a first reading whose digest
    is asked for at the end, a pyreadstat reading that caches its parts, or the second run of a known file, which
    writes the cache entry) is an InputError naming the file; the cache index maps the file to no digest of other
    bytes and no entry is written."""
    from parity.errors import InputError
    from parity.sources import cache, sas_stream
    from parity.sources.registry import OpenOptions
    from parity.sources.sas_fast import READER_ENV
    from tests.test_sas_first_run import _file

    path = _file(tmp_path / "s.sas7bdat", rows=400)
    other = _file(tmp_path / "other.sas7bdat", rows=300)
    if when == "second run, fast":
        sas_stream.open_streamed(path, OpenOptions()).meta.to_dict()
        assert cache.known_sha256(path) == _sha(path)
    if "pyreadstat" in when:
        monkeypatch.setenv(READER_ENV, "pyreadstat")
    real = sas_stream.choose_reader

    def changed_before_read(p: Path, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + 10
        while not all(t.name != f"parity-sha256-{path.name}" or not t.is_alive() for t in threading.enumerate()):
            assert time.monotonic() < deadline
            time.sleep(0.01)  # the hasher has read the file as it was
        _swap_in(path, other, how)
        return real(p, *args, **kwargs)

    monkeypatch.setattr(sas_stream, "choose_reader", changed_before_read)
    before = _entries(sas_cache)
    with pytest.raises(InputError, match=rf"{path.name}.*(changed while parity read|damaged|cannot|not a)"):
        sas_stream.open_streamed(path, OpenOptions()).meta.to_dict()
    assert cache.known_sha256(path) in (None, _sha(path))
    assert _entries(sas_cache) == before


@needs_fast
def test_a_file_replaced_between_the_hashers_open_and_the_readers_is_an_error(
        tmp_path: Path, sas_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file's identity is taken before the hasher opens it: replaced right after the hasher read it (before
    anything else looked at it), the digest asked for at the end is an error, not the old file's digest beside
    the new file's rows."""
    from parity.errors import InputError
    from parity.sources import cache, sas_stream
    from parity.sources.registry import OpenOptions
    from tests.test_sas_first_run import _file

    path = _file(tmp_path / "s.sas7bdat", rows=400)
    other = _file(tmp_path / "other.sas7bdat", rows=300)

    class Hasher(sas_stream._Hasher):
        def __init__(self, p: Path) -> None:
            super().__init__(p)
            self.join()  # it read the file as it was
            _swap_in(path, other, "rename")

    monkeypatch.setattr(sas_stream, "_Hasher", Hasher)
    table = sas_stream.open_streamed(path, OpenOptions())
    assert table.meta.rows == 300  # the new file's rows
    with pytest.raises(InputError, match=r"s\.sas7bdat: the file changed while parity read"):
        table.meta.to_dict()
    assert cache.known_sha256(path) is None


@pytest.mark.parametrize("kind", ["folder", "glob"])
@pytest.mark.parametrize("how", ["rename", "rewrite", "touch"])
def test_a_python_side_of_several_files_is_hashed_for_the_report_unless_one_changed(
        tmp_path: Path, kind: str, how: str) -> None:
    from parity.errors import InputError
    from parity.sources.base import sha256_files
    from parity.sources.registry import OpenOptions, open_source

    folder = tmp_path / "out"
    folder.mkdir()
    for i in range(3):
        pl.DataFrame({"id": [i * 10 + k for k in range(10)], "x": [f"v{k}" for k in range(10)]}).write_parquet(
            folder / f"part{i}.parquet")
    pl.DataFrame({"id": [99], "x": ["z"]}).write_parquet(tmp_path / "other.parquet")
    where = str(folder) if kind == "folder" else str(folder / "*.parquet")
    files = sorted(folder.glob("*.parquet"))
    source = open_source(Path(where), OpenOptions())
    assert source.meta.to_dict()["sha256"] == sha256_files(files, folder)
    changed = open_source(Path(where), OpenOptions())
    _swap_in(folder / "part1.parquet", tmp_path / "other.parquet", how)
    with pytest.raises(InputError, match=r"part1\.parquet: the file changed while parity read and compared it"):
        changed.meta.to_dict()


def _job(root: Path) -> Path:
    """A job whose two datasets read one SAS file, against two parquet outputs."""
    from parity.sources.sas import read_sas
    from tests.test_sas_first_run import _file

    job = root / "jobs" / "j"
    job.mkdir(parents=True)
    sas = _file(job / "s.sas7bdat", rows=500)
    frame = read_sas(sas).frame
    frame.with_columns(pl.col("x").fill_null(0.0)).write_parquet(job / "p.parquet")
    frame.write_parquet(job / "same.parquet")
    (job / "parity.toml").write_text('[datasets.d1]\nsas = "s.sas7bdat"\npython = "p.parquet"\nkeys = ["id"]\n\n'
                                     '[datasets.d2]\nsas = "s.sas7bdat"\npython = "same.parquet"\nkeys = ["id"]\n')
    return job


@needs_fast
def test_three_runs_of_a_job_sharing_one_sas_file_report_the_same_json(
        tmp_path: Path, sas_cache: Path, pytester: pytest.Pytester) -> None:
    """A first reading (digest asked for at the end), a second (the cache entry written), a third (rows from the
    cache), and a run of the pytest plugin: the same report but for run-time fields, the digests those of the
    files."""
    from parity.cli.main import main
    from parity.report.json import strip_runtime

    job = _job(tmp_path)
    reports = []
    for run in range(3):
        code = main(["run", "j", "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / f"r{run}")])
        reports.append(json.loads((tmp_path / f"r{run}" / "j" / "parity.json").read_text()))
        assert code == 1, reports[-1]["verdict"]  # d1's x differs: its missing values are 0 in Python
        # (the second dataset of the first run reads a file the index knows by then: its entry is written)
        assert len(_entries(sas_cache)) == 1
    text = json.dumps(reports[0])
    assert _sha(job / "s.sas7bdat") in text and _sha(job / "p.parquet") in text
    assert [d["verdict"] for d in reports[0]["datasets"]] == ["fail", "fail"]  # compared, not errors
    plugin = pytester.runpytest("--parity", "j", f"--parity-jobs-dir={tmp_path / 'jobs'}",
                                f"--parity-report-dir={tmp_path / 'r3'}", "-p", "no:cacheprovider")
    assert plugin.ret == 1
    reports.append(json.loads((tmp_path / "r3" / "j" / "parity.json").read_text()))
    first = json.dumps(strip_runtime(reports[0]), sort_keys=True)
    for other in reports[1:]:
        assert json.dumps(strip_runtime(other), sort_keys=True) == first


@needs_fast
def test_a_split_read_whose_numbers_are_memory_mapped_is_pyreadstat_bit_for_bit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enough rows (2**16 and more) for the numeric columns' arrays to be anonymous memory maps, shifted in place
    for every LENGTH 3-8, special missing values among them."""
    import numpy as np

    from parity.sources import sas_fast, sas_raw
    from parity.sources.sas import read_sas
    from tests.test_sas_fast import _assert_same, _reference

    rows = (1 << 16) + 123
    tags = [SpecialMissing(t) for t in "AZ_"]
    path = tmp_path / "big.sas7bdat"
    write_sas7bdat(path, [Column("id", "numeric", [float(i) for i in range(rows)]),
                          *(Column(f"n{w}", "numeric", [tags[i % 3] if i % 1001 == 7 else (i * 0.37 - 999.5)
                                                        for i in range(rows)], length=w) for w in range(3, 9)),
                          Column("s", "string", [f"s{i % 97}" for i in range(rows)], length=5)],
                   timestamp=dt.datetime(2024, 3, 1))
    mapped = sas_raw._populated(rows)
    assert mapped.base is not None and not mapped.flags.owndata  # a memory map, not numpy's own
    monkeypatch.delenv(sas_fast.READER_ENV, raising=False)
    table = read_sas(path)
    assert "data pages" in str(table.meta.extra.get("reader_note")), table.meta.extra
    _assert_same(table, _reference(path, monkeypatch))
    assert np.isfinite(table.frame.get_column("n3").drop_nulls().to_numpy()).all()


@needs_fast
def test_the_pytest_plugin_reports_a_python_file_changed_after_it_was_read_as_an_error_naming_it(
        tmp_path: Path, sas_cache: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rewritten with other columns once opened: whatever error the comparison then meets (here a column the plan
    expects is gone), the dataset is an error naming the changed file, not an internal error of parity."""
    import parity.sources.frames as frames

    job = _job(tmp_path)
    real = frames.SourceMeta

    def rewritten_after_open(*args: Any, **kwargs: Any) -> Any:
        meta = real(*args, **kwargs)
        if str(meta.source).endswith("p.parquet"):
            pl.DataFrame({"id": [7.0]}).write_parquet(job / "p.parquet")
        return meta

    monkeypatch.setattr(frames, "SourceMeta", rewritten_after_open)
    result = pytester.runpytest("--parity", "j", f"--parity-jobs-dir={tmp_path / 'jobs'}",
                                f"--parity-report-dir={tmp_path / 'r'}", "-p", "no:cacheprovider")
    assert result.ret == 2  # an error dataset
    report = json.loads((tmp_path / "r" / "j" / "parity.json").read_text())
    d1, d2 = report["datasets"]
    assert d1["verdict"] == "error" and "p.parquet: the file changed while parity read" in json.dumps(d1)
    assert d2["verdict"] != "error"
    assert "p.parquet: the file changed while parity read" in result.stdout.str()


def test_a_file_deleted_before_its_digest_is_asked_for_is_an_input_error_naming_it(tmp_path: Path) -> None:
    from parity.errors import InputError
    from parity.sources.base import deferred_sha256

    path = tmp_path / "gone.parquet"
    path.write_bytes(b"abc")
    digest = deferred_sha256(path)  # hashed when asked for, by sha256_file
    path.unlink()
    with pytest.raises(InputError, match=r"gone\.parquet: the file changed while parity read"):
        digest()
