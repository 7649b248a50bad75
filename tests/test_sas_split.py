"""The fast path's split read of an uncompressed .sas7bdat kept in memory (parity/sources/sas_fast.py): every
numeric from the data pages (parity/sources/sas_raw.py), the character columns and one numeric by polars-readstat
(checked against the pages in every row), and pyreadstat's reading of a copy of the pages that hold the sampled
rows (parity.sources.sas_raw.write_sampled_pages).  Bit for bit what pyreadstat reads, or a refusal."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.sources import sas_fast
from parity.sources.sas import read_sas
from parity.sources.sas_fast import READER_ENV, fast_reader_available, sample_blocks
from parity.sources.sas_raw import RawRefused, read_columns, write_sampled_pages
from parity.testing.sas7bdat_writer import Column, SpecialMissing, sas_datetime, write_sas7bdat
from tests.test_sas_fast import _assert_same, _reference

needs_fast = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")
ROWS = 3000
SPLIT_NOTE = ("numeric columns read from the data pages (every row checked against polars-readstat, the pages of "
              "the sampled rows against pyreadstat)")


def _mixed(path: Path, rows: int = ROWS, **options: Any) -> Path:
    """Plain numerics of every storage length with special missing values, a date, a datetime and a time with
    fractions outside what polars-readstat converts, and character columns with blanks, empty values and UTF-8."""
    tags = [SpecialMissing(t) for t in "ABZ_"]
    columns = [Column("id", "numeric", [float(i) for i in range(rows)]),
               *(Column(f"n{w}", "numeric", [tags[i % 4] if i % 17 == 3 else (None if i % 13 == 5 else i * 0.1 - 7)
                                             for i in range(rows)], length=w) for w in (3, 5, 8)),
               Column("d", "numeric", [i * 1.5 - 700.25 if i % 11 else SpecialMissing("D") for i in range(rows)],
                      format="DATE9"),
               Column("dt", "numeric", [sas_datetime(dt.datetime(2020, 1, 1)) + i * 3600.0000004
                                        for i in range(rows)], format="DATETIME20"),
               Column("t", "numeric", [i * 61.5 - 3000.0 for i in range(rows)], format="TIME8"),
               Column("s", "string", [f"  v{i} " if i % 5 else "" for i in range(rows)]),
               Column("u", "string", ["caf\u00e9 \u65e5\u672c" if i % 7 == 0 else f"x{i}" for i in range(rows)])]
    write_sas7bdat(path, columns, timestamp=dt.datetime(2024, 3, 1, 9, 30), **options)
    return path


@needs_fast
def test_the_split_read_is_pyreadstat_bit_for_bit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _mixed(tmp_path / "m.sas7bdat")
    monkeypatch.delenv(READER_ENV, raising=False)
    fast = read_sas(path)
    assert fast.meta.extra["reader"] == "polars-readstat", fast.meta.extra
    assert fast.meta.extra["reader_note"] == SPLIT_NOTE, fast.meta.extra
    _assert_same(fast, _reference(path, monkeypatch))


def _pyreadstat(path: Path, **options: Any) -> pl.DataFrame:
    import pyreadstat

    frame, _ = pyreadstat.read_sas7bdat(str(path), user_missing=True, disable_datetime_conversion=True,
                                        output_format="polars", formats_as_category=False, **options)
    return frame


@pytest.mark.parametrize("rows", [1, 5, 190, 3000, 20011])
@pytest.mark.parametrize("seed", [0, 7])
def test_the_copy_of_the_sampled_pages_holds_the_files_rows_where_it_says(tmp_path: Path, rows: int,
                                                                          seed: int) -> None:
    """pyreadstat's reading of the copy, row by row, is its reading of the same rows of the file: the rows of the
    mix page and of the data pages around each sampled block, the first and the last rows among them."""
    path = _mixed(tmp_path / "m.sas7bdat", rows=rows)
    blocks = sample_blocks(rows, seed)
    found = read_columns(path, [], [], rows)
    copy = tmp_path / "copy.sas7bdat"
    where = write_sampled_pages(path, found, blocks, copy)
    assert copy.stat().st_size < path.stat().st_size or rows < 400
    wanted = {offset + i for offset, length in blocks for i in range(length)}
    assert wanted <= set(where.tolist()) and {0, rows - 1} <= set(where.tolist())
    assert (where[1:] > where[:-1]).all()
    got = _pyreadstat(copy)
    whole = _pyreadstat(path)
    assert got.height == len(where)
    assert got.rows() == whole[where.tolist()].rows()


def test_a_page_without_rows_between_data_pages_refuses_the_copy(tmp_path: Path) -> None:
    """ReadStat takes metadata from the pages before the first data page and after the last one only: with data
    pages left out, a page between them could come into its view, so such a file is not copied."""
    import numpy as np

    path = _mixed(tmp_path / "m.sas7bdat", rows=3000)
    found = read_columns(path, [], [], 3000)
    data = np.flatnonzero(found.page_types == 0x0100)
    moved = found.page_types.copy()
    moved[data[len(data) // 2]] = 0x0000
    with pytest.raises(RawRefused, match="holds no rows between data pages"):
        write_sampled_pages(path, replace(found, page_types=moved), sample_blocks(3000), tmp_path / "c.sas7bdat")


@needs_fast
def test_pyreadstat_reading_other_rows_from_the_sampled_pages_refuses_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy's rows must be the ones the raw read counted (a page of rows the raw read missed, rows it read
    twice): one row fewer, or one row changed, refuses the fast path, and pyreadstat reads the file."""
    path = _mixed(tmp_path / "m.sas7bdat")
    monkeypatch.delenv(READER_ENV, raising=False)
    real = sas_fast._reference

    def fewer(target: Path, **options: Any) -> Any:
        frame, meta = real(target, **options)
        return (frame.head(frame.height - 1) if target.name.startswith("parity-sampled-") else frame), meta

    monkeypatch.setattr(sas_fast, "_reference", fewer)
    scan = sas_fast.scan_sas_fast(path)
    assert not scan.taken and scan.reason is not None and "from the sampled pages" in scan.reason

    def changed(target: Path, **options: Any) -> Any:
        frame, meta = real(target, **options)
        if target.name.startswith("parity-sampled-"):
            frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == frame.height - 1).then(pl.lit(-1.0))
                                       .otherwise(pl.col("id")).alias("id"))
        return frame, meta

    monkeypatch.setattr(sas_fast, "_reference", changed)
    scan = sas_fast.scan_sas_fast(path)
    assert not scan.taken and scan.reason is not None
    assert f"row {ROWS} of column 'id' differs" in scan.reason, scan.reason
    monkeypatch.setattr(sas_fast, "_reference", real)
    _assert_same(read_sas(path), _reference(path, monkeypatch))


@needs_fast
def test_no_copy_of_the_sampled_pages_is_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    path = _mixed(tmp_path / "m.sas7bdat")
    monkeypatch.delenv(READER_ENV, raising=False)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def broken(target: Path, **options: Any) -> Any:
        raise KeyboardInterrupt

    real = sas_fast._reference
    monkeypatch.setattr(sas_fast, "_reference", broken)
    with pytest.raises(KeyboardInterrupt):
        sas_fast.scan_sas_fast(path)
    assert list(scratch.iterdir()) == []
    for thread in threading.enumerate():
        if thread.name.startswith("parity-"):
            thread.join(timeout=30)
            assert not thread.is_alive(), thread.name
    monkeypatch.setattr(sas_fast, "_reference", real)
    assert sas_fast.scan_sas_fast(path).taken
    assert list(scratch.iterdir()) == []


@needs_fast
def test_a_file_without_plain_numerics_or_compressed_is_read_by_polars_readstat_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(READER_ENV, raising=False)
    dates = tmp_path / "d.sas7bdat"
    write_sas7bdat(dates, [Column("d", "numeric", [1.5, 2.0], format="DATE9"), Column("c", "string", ["a", "b"])])
    assert read_sas(dates).meta.extra["reader_note"] == ("date/time columns read from the data pages, checked "
                                                         "against pyreadstat: d")
    packed = _mixed(tmp_path / "c.sas7bdat", rows=500, compression="rows")
    fast = read_sas(packed)
    assert fast.meta.extra["reader_note"] == "date/time columns read by pyreadstat: d, dt, t"
    _assert_same(fast, _reference(packed, monkeypatch))


def test_a_prefetched_sha256_is_the_files_and_a_changed_file_is_hashed_again(tmp_path: Path) -> None:
    import hashlib

    from parity.sources import base

    path = tmp_path / "py.parquet"
    path.write_bytes(b"a" * 3_000_000)
    base.prefetch_sha256(path)
    base.prefetch_sha256(path)  # once per file
    assert base.sha256_file(path) == hashlib.sha256(b"a" * 3_000_000).hexdigest()
    base.prefetch_sha256(path)
    path.write_bytes(b"b" * 10)  # changed after the prefetch: its own bytes, not the prefetched digest
    assert base.sha256_file(path) == hashlib.sha256(b"b" * 10).hexdigest()
    base.prefetch_sha256(tmp_path / "missing.parquet")  # nothing to hash: no error, and none later either
    base.prefetch_sha256(tmp_path)  # a folder: hashed file by file when opened
    assert not any(key[0] == str(tmp_path.resolve()) for key in base._PREFETCHED)


def test_distinct_values_count_a_missing_value_by_its_tag_only() -> None:
    """The probe's choice counts values as SAS tells them apart: ``.``, ``.A`` and ``._`` are three values, the
    bits of a NaN beyond its tag byte are not a value of their own."""
    import numpy as np

    from parity.sources.sas_raw import distinct_values

    def missing(tag: int, noise: int = 0) -> float:
        word = np.uint64(0xFFF8 << 48) | (np.uint64(~tag & 0xFF) << np.uint64(40)) | np.uint64(noise)
        return float(np.array([word], dtype=np.uint64).view(np.float64)[0])

    values = np.array([1.0, 1.0, 2.5, -0.0, missing(0), missing(0, 7), missing(2), missing(0x5F)])
    assert distinct_values(values) == 6  # 1, 2.5, -0.0, '.', '.A', '._'
    assert distinct_values(np.array([3.0] * 5)) == 1 and distinct_values(np.array([], dtype=np.float64)) == 0


@needs_fast
@pytest.mark.parametrize("row", [0, 1, 57, 1500, ROWS - 2, ROWS - 1])
def test_one_byte_above_127_in_any_character_value_is_seen_on_the_pages(tmp_path: Path, row: int) -> None:
    """The raw read tells ASCII text (every byte of every character value below 128: no decoding check needed,
    no byte-order mark possible) from text that is not, wherever the one other byte is: on the mix page, a full
    data page, the last page partly filled; bytes above 127 in numbers do not count."""
    values = [f"v{i}" for i in range(ROWS)]
    numbers = [-(i + 0.5) * 1e300 for i in range(ROWS)]  # doubles whose bytes are above 127
    columns = [Column("x", "numeric", numbers), Column("s", "string", values, length=20),
               Column("t", "string", ["ab"] * ROWS, length=3)]
    plain = tmp_path / "plain.sas7bdat"
    write_sas7bdat(plain, columns)
    where = [("s", *_place(plain, "s")), ("t", *_place(plain, "t"))]
    assert read_columns(plain, [], where, ROWS).ascii_text
    values[row] = f"v{row}\u00e9"
    other = tmp_path / "other.sas7bdat"
    write_sas7bdat(other, [columns[0], Column("s", "string", values, length=20), columns[2]])
    assert not read_columns(other, [], where, ROWS).ascii_text
    assert read_columns(other, [], [where[1]], ROWS).ascii_text  # only 't' looked at: ASCII


def _place(path: Path, name: str) -> tuple[int, int]:
    from polars_readstat import ScanReadstat

    column = next(c for c in ScanReadstat(str(path)).metadata["columns"] if c["name"] == name)
    return int(column["offset"]), int(column["length"])
