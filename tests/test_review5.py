"""Adversarial review of the SAS fast path's split read (parity/sources/sas_fast.py, sas_raw.py) and of the
prefetched sha256 (parity/sources/base.py): each test is a way found to make the fast path read other values than
pyreadstat (the reference), or to misbehave around its sampling process, with the fix it needed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from parity.errors import InputError
from parity.sources.sas import read_sas
from parity.sources.sas_fast import FAST_READER, READER_ENV, fast_reader_available, scan_sas_fast
from parity.testing.sas7bdat_writer import Column, write_sas7bdat
from tests.test_sas_fast import _assert_same, _reference, _unsampled_row

needs_fast = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")
STAMP = dt.datetime(2024, 3, 1, 9, 30)
ROWS = 3000
#: the header's encoding byte (offset 70): UTF-8, Latin-1, Windows-1252
ENCODINGS = {"utf-8": 20, "latin1": 29, "windows-1252": 62}


def _write(path: Path, columns: list[Column], **options: Any) -> Path:
    write_sas7bdat(path, columns, timestamp=STAMP, **options)
    return path


def _with_value(path: Path, rows: int, value: bytes, *, encoding: int = 20, layout: str = "plain") -> Path:
    """A file whose character column holds ``value`` (raw bytes) in a row no sampled block holds; ``layout``:
    "plain" (a plain numeric: the split read), "strings" (character columns only) or "dates" (a date column: the
    date/time columns from the data pages, polars-readstat reads the rest)."""
    marker = [f"mk{i:05d}QQQQQQQQQQQQQ" for i in range(rows)]
    numbers = {"plain": [Column("x", "numeric", [i * 0.5 for i in range(rows)])],
               "dates": [Column("d", "numeric", [i * 1.5 for i in range(rows)], format="DATE9")],
               "strings": [Column("t", "string", [f"t{i % 7}" for i in range(rows)])]}[layout]
    _write(path, [*numbers, Column("s", "string", marker, length=20)])
    data = bytearray(path.read_bytes())
    data[70] = encoding
    at = data.index(marker[_unsampled_row(rows)].encode())
    data[at:at + 20] = value.ljust(20, b" ")[:20]
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------------------------------------------
# 1. a character value that starts with a byte-order mark: polars-readstat's decoder sniffs it (drops a UTF-8
#    one, decodes the value after a UTF-16 one as UTF-16) where pyreadstat decodes the bytes in the file's encoding


@needs_fast
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("mark", [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"], ids=["utf8", "utf16le", "utf16be"])
@pytest.mark.parametrize("layout", ["plain", "strings", "dates"])
def test_a_value_starting_with_a_byte_order_mark_is_never_read_by_polars_readstat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str, mark: bytes, layout: str) -> None:
    monkeypatch.delenv(READER_ENV, raising=False)
    path = _with_value(tmp_path / "bom.sas7bdat", ROWS, mark + b"ab", encoding=ENCODINGS[encoding], layout=layout)
    scan = scan_sas_fast(path)
    assert not scan.taken and scan.reason == (f"row {_unsampled_row(ROWS) + 1} of column 's' starts with a "
                                              "byte-order mark, which polars-readstat decodes otherwise")
    if encoding == "utf-8" and mark != b"\xef\xbb\xbf":  # not UTF-8: pyreadstat refuses the file, and so do we
        with pytest.raises(InputError, match=r"bom\.sas7bdat"):
            read_sas(path)
        return
    table = read_sas(path)
    assert table.meta.extra["reader"] == "pyreadstat"
    expected = mark.decode("utf-8" if encoding == "utf-8" else encoding) + "ab"
    assert table.frame["s"][_unsampled_row(ROWS)] == expected
    _assert_same(table, _reference(path, monkeypatch))


@needs_fast
@pytest.mark.parametrize("value", [b"x\xef\xbb\xbfy", b" \xef\xbb\xbfx", b"\xef\xbb", b"ab\0cd", b"\0abc", b"a\tb"])
def test_marks_not_at_the_start_and_other_odd_bytes_keep_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: bytes) -> None:
    """Only a mark at a value's very start is decoded otherwise: elsewhere (or cut short), and NULs, blanks and
    controls, both readers read alike and the fast path is kept."""
    monkeypatch.delenv(READER_ENV, raising=False)
    path = _with_value(tmp_path / "v.sas7bdat", ROWS, value, encoding=ENCODINGS["windows-1252"])
    table = read_sas(path)
    assert table.meta.extra["reader"] == FAST_READER, table.meta.extra
    _assert_same(table, _reference(path, monkeypatch))


@needs_fast
def test_a_two_byte_column_is_checked_for_utf16_marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(READER_ENV, raising=False)
    rows = ROWS
    values = ["ab"] * rows
    path = _write(tmp_path / "two.sas7bdat", [Column("x", "numeric", [float(i) for i in range(rows)]),
                                              Column("s", "string", values, length=2)])
    data = bytearray(path.read_bytes())
    data[70] = ENCODINGS["windows-1252"]
    path.write_bytes(bytes(data))
    assert read_sas(path).meta.extra["reader"] == FAST_READER
    # the unsampled row's 2 bytes: rows are 10 bytes (x, then s), find the row by its x value
    import struct

    row = _unsampled_row(rows)
    at = bytes(data).index(struct.pack("<d", float(row))) + 8
    assert bytes(data[at:at + 2]) == b"ab"
    data[at:at + 2] = b"\xff\xfe"
    path.write_bytes(bytes(data))
    scan = scan_sas_fast(path)
    assert not scan.taken and scan.reason is not None and f"row {row + 1} of column 's'" in scan.reason
    assert read_sas(path).frame["s"][row] == "\u00ff\u00fe"
