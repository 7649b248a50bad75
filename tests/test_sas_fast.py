"""The fast SAS path (parity/sources/sas_fast.py): polars-readstat where it provably reads what pyreadstat reads,
pyreadstat everywhere else.  Files are built with parity.testing.sas7bdat_writer (real sas7bdat bytes)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import struct
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.errors import InputError
from parity.sources.base import Table
from parity.sources.sas import read_sas
from parity.sources.sas_fast import (
    EDGE_ROWS,
    FAST_READER,
    READER_ENV,
    fast_reader_available,
    sample_blocks,
    scan_sas_fast,
)
from parity.testing.sas7bdat_writer import Column, SpecialMissing, sas_datetime, write_sas7bdat

needs_fast = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")
STAMP = dt.datetime(2024, 3, 1, 9, 30)
TAGS = [*"ABCDEFGHIJKLMNOPQRSTUVWXYZ_"]


def _write(path: Path, columns: list[Column], **options: Any) -> Path:
    write_sas7bdat(path, columns, timestamp=STAMP, **options)
    return path


def _reference(path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Table:
    with monkeypatch.context() as m:
        m.setenv(READER_ENV, "pyreadstat")
        return read_sas(path, **options)


def _bits(values: list[Any]) -> list[Any]:
    return [struct.pack("<d", v) if isinstance(v, float) and not math.isnan(v) else v for v in values]


def _assert_same(fast: Table, ref: Table) -> None:
    assert [c.to_dict() for c in fast.columns] == [c.to_dict() for c in ref.columns]
    assert fast.meta.rows == ref.meta.rows == fast.frame.height
    for name in ref.frame.columns:
        assert _bits(fast.frame[name].to_list()) == _bits(ref.frame[name].to_list()), name
    assert {k: v.to_list() for k, v in fast.tags.items()} == {k: v.to_list() for k, v in ref.tags.items()}


def _unsampled_row(rows: int) -> int:
    """A row no sampled block holds, as far from them as can be (the middle of the widest gap): pyreadstat reads
    the whole pages of the sampled rows, so in a file of enough rows no page it reads holds this one."""
    blocks = sample_blocks(rows)
    gaps = [(start + length, end) for (start, length), (end, _) in itertools.pairwise(blocks)]
    low, high = max(gaps, key=lambda gap: gap[1] - gap[0])
    assert high > low, "every row is sampled"
    return (low + high) // 2


def _patch(path: Path, old: bytes, new: bytes, *, head_only: bool = False) -> None:
    data = path.read_bytes()
    where = data[:1024] if head_only else data
    assert old in where, old
    path.write_bytes(data.replace(old, new, 1) if head_only else data.replace(old, new))


@needs_fast
@pytest.mark.parametrize("compression", ["none", "rows"])
def test_special_missing_and_short_numerics_take_the_fast_path_with_their_tags(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str) -> None:
    values: list[Any] = [SpecialMissing(t) for t in TAGS] + [None, 1.1, -2.5, 1e-300, 123456789.123, 0.0]
    columns = [Column(f"n{length}", "numeric", values, length=length) for length in range(3, 9)]
    columns.append(Column("c", "string", [f"  v{i} " if i % 4 else "" for i in range(len(values))]))
    path = _write(tmp_path / "tags.sas7bdat", columns, compression=compression)
    monkeypatch.delenv(READER_ENV, raising=False)
    fast = read_sas(path)
    assert fast.meta.extra["reader"] == FAST_READER, fast.meta.extra
    ref = _reference(path, monkeypatch)
    _assert_same(fast, ref)
    for length in range(3, 9):  # every tag survives in every storage length: .A is never a plain null
        assert fast.tags[f"n{length}"].to_list()[:27] == TAGS
        assert fast.columns[length - 3].special_missing == tuple(sorted(TAGS))


@needs_fast
def test_dates_times_and_datetimes_are_raw_sas_numbers_read_by_pyreadstat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """polars-readstat rounds fractional dates, nulls times < 0 or >= 24 h and truncates datetimes to the
    microsecond: those columns come from pyreadstat, bit for bit, while the rest stays on the fast path."""
    dates = [0.0, 1.5, -3.25, 2936547.0, None, SpecialMissing("D"), 21915.999]
    times = [0.0, -5.0, 90000.0, 86400.0, 3599.999, None, -0.5]
    stamp = sas_datetime(dt.datetime(2024, 5, 6, 7, 8, 9)) + 0.1234567
    datetimes = [0.0, stamp, 1.000001, -86400.5, 1e10, SpecialMissing("_"), None]
    columns = [Column("d", "numeric", dates, format="DATE9"), Column("t", "numeric", times, format="TIME8"),
               Column("dt", "numeric", datetimes, format="DATETIME20"),
               Column("x", "numeric", [1.0, 2.0, None, 4.0, 5.0, 6.0, SpecialMissing("Q")])]
    path = _write(tmp_path / "when.sas7bdat", columns)
    monkeypatch.delenv(READER_ENV, raising=False)
    fast = read_sas(path)
    assert fast.meta.extra["reader"] == FAST_READER
    # an uncompressed file: every numeric's raw values come from its data pages (tests/test_sas_raw.py), checked
    # against polars-readstat's x in every row and pyreadstat's on the sampled rows; bit for bit pyreadstat's
    assert fast.meta.extra["reader_note"] == ("numeric columns read from the data pages (every row checked "
                                              "against polars-readstat, the pages of the sampled rows against pyreadstat)")
    assert [c.kind for c in fast.columns] == ["date", "time", "datetime", "numeric"]
    assert _bits(fast.frame["d"].to_list()) == _bits([0.0, 1.5, -3.25, 2936547.0, None, None, 21915.999])
    assert _bits(fast.frame["t"].to_list()) == _bits(times)
    assert _bits(fast.frame["dt"].to_list()) == _bits([0.0, stamp, 1.000001, -86400.5, 1e10, None, None])
    assert fast.tags["d"].to_list() == [None] * 5 + ["D", None]
    assert fast.tags["dt"].to_list() == [None] * 5 + ["_", None]
    _assert_same(fast, _reference(path, monkeypatch))


@needs_fast
def test_an_encoding_override_forces_pyreadstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "enc.sas7bdat", [Column("c", "string", ["caf\u00e9", "na\u00efve"])])
    monkeypatch.delenv(READER_ENV, raising=False)
    scan = scan_sas_fast(path, encoding="latin1")
    assert scan.frame is None and scan.reason is not None and "encoding = 'latin1'" in scan.reason
    table = read_sas(path, encoding="latin1")
    assert table.meta.extra["reader"] == "pyreadstat"
    assert "fast path refused: encoding = 'latin1'" in table.meta.extra["reader_note"]
    assert table.frame["c"].to_list() == ["caf\u00c3\u00a9", "na\u00c3\u00afve"]  # UTF-8 bytes read as Latin-1


@needs_fast
def test_latin1_files_decode_alike_and_unverified_encodings_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header's encoding byte (offset 70) decides how both readers decode: Latin-1 (29) is verified to
    decode alike; Windows-1251 (61) is not, so pyreadstat reads it."""
    monkeypatch.delenv(READER_ENV, raising=False)
    for code, fast_expected in ((29, True), (62, True), (61, False)):
        path = _write(tmp_path / f"enc{code}.sas7bdat", [Column("c", "string", ["caf\u00e9", "\u0436 x", "plain"])])
        data = bytearray(path.read_bytes())
        data[70] = code
        path.write_bytes(bytes(data))
        table = read_sas(path)
        assert (table.meta.extra["reader"] == FAST_READER) is fast_expected, (code, table.meta.extra)
        if not fast_expected:
            assert "encoding WINDOWS-1251" in table.meta.extra["reader_note"]
        _assert_same(table, _reference(path, monkeypatch))


@needs_fast
def test_bytes_the_encoding_cannot_decode_refuse_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """polars-readstat turns invalid UTF-8 into U+FFFD where pyreadstat refuses the file: the fast path must not
    hide that, even when the bad bytes are in no sampled row (nor on the pages pyreadstat reads)."""
    rows = 6000
    values = ["ok"] * rows
    values[_unsampled_row(rows)] = "caf\u00e9"
    path = _write(tmp_path / "bad.sas7bdat", [Column("c", "string", values), Column("x", "numeric", list(range(rows)))])
    _patch(path, "caf\u00e9".encode(), b"caf\xff\xfe")
    monkeypatch.delenv(READER_ENV, raising=False)
    scan = scan_sas_fast(path)
    assert scan.frame is None and scan.reason == "column 'c' holds bytes that UTF-8 does not decode"
    with pytest.raises(InputError, match=r"bad\.sas7bdat"):
        read_sas(path)


@needs_fast
def test_files_written_before_sas_9_are_refused_up_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "v8.sas7bdat", [Column("x", "numeric", [1.0, 2.0])])
    _patch(path, b"9.0401M5", b"8.0202M0", head_only=True)
    monkeypatch.delenv(READER_ENV, raising=False)
    scan = scan_sas_fast(path)
    assert scan.reason is not None and scan.reason.startswith("written by SAS release 8.0202M0")
    table = read_sas(path)
    assert table.meta.extra["reader"] == "pyreadstat" and table.frame["x"].to_list() == [1.0, 2.0]


def _liar(monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    """Make polars-readstat return ``change(frame)`` instead of what it read."""
    import polars_readstat

    real = polars_readstat.scan_readstat

    def scan(path: str, **options: Any) -> pl.LazyFrame:
        return change(real(path, **options).collect()).lazy()

    monkeypatch.setattr(polars_readstat, "scan_readstat", scan)


@needs_fast
@pytest.mark.parametrize("where", ["first", "last", "random"])
def test_a_value_the_fast_reader_gets_wrong_in_a_sampled_row_refuses_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """A compressed file: polars-readstat reads every column, checked on the sampled rows."""
    rows = 2000
    path = _write(tmp_path / "big.sas7bdat", [Column("x", "numeric", [float(i) for i in range(rows)]),
                                              Column("c", "string", [f"r{i}" for i in range(rows)])],
                  compression="rows")
    blocks = sample_blocks(rows)
    row = {"first": 0, "last": rows - 1, "random": blocks[2][0] + 3}[where]
    monkeypatch.delenv(READER_ENV, raising=False)
    _liar(monkeypatch, lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == row).then(pl.lit(-1.0))
                                                .otherwise(pl.col("x")).alias("x")))
    scan = scan_sas_fast(path)
    assert scan.reason == f"row {row + 1} of column 'x' differs: polars-readstat -1.0, pyreadstat {float(row)!r}"
    table = read_sas(path)
    assert table.meta.extra["reader"] == "pyreadstat" and table.frame["x"][row] == float(row)


@needs_fast
@pytest.mark.parametrize("where", ["first", "last", "random", "unsampled"])
@pytest.mark.parametrize("column", ["x", "c"])
def test_an_uncompressed_file_reads_numerics_from_its_pages_and_checks_the_fast_reader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, column: str) -> None:
    """An uncompressed file: the numerics come from its data pages and polars-readstat reads the character columns
    and one numeric, which must equal the pages' value in EVERY row (the readers' rows line up); a wrong character
    value in a sampled row is caught by pyreadstat's reading of it."""
    rows = 2000
    path = _write(tmp_path / "big.sas7bdat", [Column("x", "numeric", [float(i) for i in range(rows)]),
                                              Column("c", "string", [f"r{i}" for i in range(rows)])])
    blocks = sample_blocks(rows)
    row = {"first": 0, "last": rows - 1, "random": blocks[2][0] + 3, "unsampled": _unsampled_row(rows)}[where]
    monkeypatch.delenv(READER_ENV, raising=False)
    assert scan_sas_fast(path).provenance()["reader_note"].startswith("numeric columns read from the data pages")
    wrong = pl.lit(-1.0) if column == "x" else pl.lit("wrong")
    _liar(monkeypatch, lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == row).then(wrong)
                                                .otherwise(pl.col(column)).alias(column)))
    scan = scan_sas_fast(path)
    if column == "x":
        assert scan.reason == (f"row {row + 1}: polars-readstat's values do not match the values read from the data "
                               "pages (the readers' rows do not line up)")
    elif where == "unsampled":  # a character value only polars-readstat reads, outside the samples: not seen
        assert scan.taken and scan.frame is not None and scan.frame["c"][row] == "wrong"
    else:
        assert scan.reason == f"row {row + 1} of column 'c' differs: polars-readstat 'wrong', pyreadstat 'r{row}'"


@needs_fast
def test_a_special_missing_read_as_a_plain_null_refuses_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "t.sas7bdat", [Column("x", "numeric", [1.0, SpecialMissing("A"), None])],
                  compression="rows")
    monkeypatch.delenv(READER_ENV, raising=False)
    _liar(monkeypatch, lambda f: f.with_columns(pl.lit(None, dtype=pl.String).alias(f.columns[1])))
    scan = scan_sas_fast(path)
    assert scan.reason == "row 2 of column 'x' differs: polars-readstat None, pyreadstat .A"


@needs_fast
def test_a_row_count_that_differs_refuses_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "t.sas7bdat", [Column("x", "numeric", [1.0, 2.0, 3.0])])
    monkeypatch.delenv(READER_ENV, raising=False)
    _liar(monkeypatch, lambda f: f.head(2))
    assert scan_sas_fast(path).reason == "polars-readstat read 2 rows, the data pages hold 3"


def test_without_polars_readstat_parity_reads_with_pyreadstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "t.sas7bdat", [Column("x", "numeric", [1.0, SpecialMissing("Z")])])
    monkeypatch.delenv(READER_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "polars_readstat", None)  # import fails as if not installed
    assert not fast_reader_available()
    table = read_sas(path)
    assert table.meta.extra["reader"] == "pyreadstat"
    assert table.meta.extra["reader_note"] == "fast path refused: polars-readstat is not installed"
    assert table.tags["x"].to_list() == [None, "Z"]


def test_the_environment_can_force_pyreadstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "t.sas7bdat", [Column("x", "numeric", [1.0])])
    monkeypatch.setenv(READER_ENV, "pyreadstat")
    assert scan_sas_fast(path).reason == f"{READER_ENV}=pyreadstat"


def test_sample_blocks_cover_both_ends_and_are_deterministic() -> None:
    assert sample_blocks(0) == []
    assert sample_blocks(10) == [(0, 10)]
    blocks = sample_blocks(1_000_000, seed=1)
    assert blocks == sample_blocks(1_000_000, seed=1)
    assert blocks[0] == (0, EDGE_ROWS) and blocks[-1] == (1_000_000 - EDGE_ROWS, EDGE_ROWS)
    assert all(offset >= EDGE_ROWS and offset + length <= 1_000_000 - EDGE_ROWS for offset, length in blocks[1:-1])


@needs_fast
def test_bytes_windows_1252_leaves_undefined_refuse_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """polars-readstat decodes Windows-1252's undefined bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) to C1 controls where
    iconv (pyreadstat) does not: such a file is read by pyreadstat."""
    values = ["plain"] * (2 * EDGE_ROWS + 200)
    values[_unsampled_row(len(values))] = "abcd"
    path = _write(tmp_path / "cp.sas7bdat", [Column("c", "string", values)])
    data = bytearray(path.read_bytes())
    data[70] = 62
    path.write_bytes(bytes(data))
    _patch(path, b"abcd", b"ab\x81d")
    monkeypatch.delenv(READER_ENV, raising=False)
    scan = scan_sas_fast(path)
    assert scan.reason == "column 'c' holds bytes that WINDOWS-1252 does not decode"
    try:
        table = read_sas(path)
    except InputError as exc:
        assert "cp.sas7bdat" in str(exc)
    else:
        assert table.meta.extra["reader"] == "pyreadstat"


@needs_fast
def test_a_sink_streams_the_same_rows_into_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``sink`` the verified rows are written to a parquet file (bounded memory) instead of returned: the same
    values, tags and metadata, tag columns only where special missing values were found, no staging file left."""
    columns = [Column("d", "numeric", [1.5, SpecialMissing("D"), None, 3.0] * 100, format="DATE9"),
               Column("x", "numeric", [1.0, 2.0, SpecialMissing("_"), None] * 100, length=4),
               Column("y", "numeric", [0.5] * 400),
               Column("c", "string", ["a", "", "caf\u00e9", "z"] * 100)]
    path = _write(tmp_path / "s.sas7bdat", columns, compression="rows")
    monkeypatch.delenv(READER_ENV, raising=False)
    in_memory = scan_sas_fast(path)
    sink = tmp_path / "out" / "part.parquet"
    sink.parent.mkdir()
    streamed = scan_sas_fast(path, sink=sink)
    assert streamed.taken and streamed.frame is None and streamed.sink == sink
    assert in_memory.frame is not None
    assert streamed.found == in_memory.found == {"d": ("D",), "x": ("_",)}
    assert streamed.scan().collect().equals(in_memory.frame)
    assert list(pl.read_parquet_schema(sink)) == ["d", "x", "y", "c", "d\x1fsas_tag", "x\x1fsas_tag"]
    assert streamed.meta.number_rows == 400 and sorted(p.name for p in sink.parent.iterdir()) == ["part.parquet"]


@needs_fast
def test_a_refused_sink_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "t.sas7bdat", [Column("x", "numeric", [float(i) for i in range(500)])])
    monkeypatch.delenv(READER_ENV, raising=False)
    _liar(monkeypatch, lambda f: f.with_columns(pl.col("x") + 1))
    sink = tmp_path / "out" / "part.parquet"
    sink.parent.mkdir()
    scan = scan_sas_fast(path, sink=sink)
    assert not scan.taken and scan.reason is not None and "differs" in scan.reason
    assert list(sink.parent.iterdir()) == []


@needs_fast
@pytest.mark.parametrize("compression", ["none", "rows"])
def test_rows_out_of_order_outside_the_samples_are_caught_by_the_date_columns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str) -> None:
    """Every row is checked, not only the sampled ones, so two rows swapped anywhere refuse: in a compressed file
    polars-readstat's converted date must be what it makes of pyreadstat's raw value in the same row; in an
    uncompressed one its reading of a numeric must be the data pages' value."""
    rows = 2000
    path = _write(tmp_path / "o.sas7bdat", [Column("d", "numeric", [float(i) for i in range(rows)], format="DATE9"),
                                            Column("x", "numeric", [float(i) for i in range(rows)])],
                  compression=compression)
    row = _unsampled_row(rows)
    order = list(range(rows))
    order[row], order[row + 1] = row + 1, row
    monkeypatch.delenv(READER_ENV, raising=False)
    assert scan_sas_fast(path).taken
    _liar(monkeypatch, lambda f: f[order])
    scan = scan_sas_fast(path)
    whose = "the values read from the data pages" if compression == "none" else "pyreadstat's raw values"
    assert scan.reason == (f"row {row + 1}: polars-readstat's values do not match {whose} (the readers' rows do not "
                           "line up)")
