"""Raw numeric values straight from an uncompressed .sas7bdat's data pages (parity/sources/sas_raw.py), and the
fast path's use of them for date/time columns (parity/sources/sas_fast.py): bit for bit what pyreadstat reads,
special missing tags included, or a refusal that sends the columns to pyreadstat.  Files are written with
parity.testing.sas7bdat_writer (real sas7bdat bytes)."""

from __future__ import annotations

import datetime as dt
import math
import struct
from pathlib import Path
from typing import Any

import polars as pl
import pyreadstat
import pytest

from parity.sources import sas_raw
from parity.sources.sas import _split_special, read_sas
from parity.sources.sas_fast import FAST_READER, READER_ENV, fast_reader_available, scan_sas_fast
from parity.sources.sas_raw import RawRefused, numeric_columns
from parity.testing.sas7bdat_writer import Column, SpecialMissing, sas_datetime, write_sas7bdat
from tests.test_corpus import CORPUS
from tests.test_corpus import _files as corpus_files

needs_fast = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")
STAMP = dt.datetime(2024, 3, 1, 9, 30)
TAGS = [*"ABCDEFGHIJKLMNOPQRSTUVWXYZ_"]
RAW_NOTE = "date/time columns read from the data pages, checked against pyreadstat"
SPLIT_NOTE = ("numeric columns read from the data pages (every row checked against polars-readstat, the pages of "
              "the sampled rows against pyreadstat)")


def _bits(values: list[Any]) -> list[Any]:
    return [struct.pack("<d", v) if isinstance(v, float) and not math.isnan(v) else v for v in values]


def _layout(path: Path) -> dict[str, tuple[int, int]]:
    """(offset in the row, length) of each column, as the file's column attributes say (polars-readstat reads
    them; the raw reader is told where a column is, it finds the rows itself)."""
    from polars_readstat import ScanReadstat

    return {c["name"]: (c["offset"], c["length"]) for c in ScanReadstat(str(path)).metadata["columns"]}


def _pyreadstat_raw(path: Path, names: list[str]) -> dict[str, tuple[list[Any], list[Any]]]:
    frame, _ = pyreadstat.read_sas7bdat(str(path), user_missing=True, disable_datetime_conversion=True,
                                        output_format="polars", formats_as_category=False, usecols=names)
    out = {}
    for name in names:
        numbers, tags = _split_special(frame.get_column(name))
        out[name] = (numbers.to_list(), tags.to_list() if tags is not None else [None] * frame.height)
    return out


def assert_raw_equals_pyreadstat(path: Path, names: list[str]) -> None:
    layout = _layout(path)
    expected = _pyreadstat_raw(path, names)
    rows = len(next(iter(expected.values()))[0])
    got = numeric_columns(path, [(n, *layout[n]) for n in names], rows)
    for name in names:
        values, tags = got[name]
        assert values.dtype == pl.Float64 and tags.dtype == pl.String
        assert _bits(values.to_list()) == _bits(expected[name][0]), (path, name)
        assert tags.to_list() == expected[name][1], (path, name)


def _write(path: Path, columns: list[Column], **options: Any) -> Path:
    write_sas7bdat(path, columns, timestamp=STAMP, **options)
    return path


# --------------------------------------------------------------------------------------------------------------
# the raw reader alone


@needs_fast
def test_every_length_every_tag_and_fractional_dates_bit_for_bit(tmp_path: Path) -> None:
    values: list[Any] = ([SpecialMissing(t) for t in TAGS] + [None, 1.1, -2.5, 1e-300, 123456789.123, 0.0, -0.0,
                                                               0.5, -0.5, 21915.999, -3.25, 2936547.0, 1e10])
    columns = [Column(f"n{length}", "numeric", values, length=length, format="DATE9") for length in range(3, 9)]
    columns.append(Column("c", "string", [f"v{i}" for i in range(len(values))]))
    path = _write(tmp_path / "lengths.sas7bdat", columns)
    assert_raw_equals_pyreadstat(path, [f"n{length}" for length in range(3, 9)])
    got = numeric_columns(path, [("n8", *_layout(path)["n8"])], len(values))
    assert got["n8"][1].to_list()[:27] == TAGS  # .A-.Z and ._ are tags, never a plain null


@needs_fast
def test_negative_and_over_24h_times_and_sub_microsecond_datetimes(tmp_path: Path) -> None:
    times = [0.0, -5.0, 90000.0, 86400.0, 3599.999, None, -0.5, 1e9, SpecialMissing("T")]
    stamp = sas_datetime(dt.datetime(2024, 5, 6, 7, 8, 9)) + 0.1234567
    datetimes = [0.0, stamp, 1.000001, -86400.5, 1e10, SpecialMissing("_"), None, -1e11, 2.5e-7]
    path = _write(tmp_path / "t.sas7bdat", [Column("t", "numeric", times, format="TIME8"),
                                            Column("dt", "numeric", datetimes, format="DATETIME26.6")])
    assert_raw_equals_pyreadstat(path, ["t", "dt"])


@needs_fast
def test_many_pages_and_a_mix_page(tmp_path: Path) -> None:
    """Rows on the first (mix) page after the metadata, then on data pages: every row in file order."""
    rows = 20_000
    path = _write(tmp_path / "pages.sas7bdat", [
        Column("id", "numeric", [float(i) for i in range(rows)]),
        Column("d", "numeric", [SpecialMissing(TAGS[i % 27]) if i % 101 == 0 else i / 3 for i in range(rows)],
               format="DATE9", length=5),
        Column("s", "string", [f"row {i}" for i in range(rows)])])
    layout = sas_raw.read_layout(path)
    assert layout.page_count > 10 and layout.mix_rows > 0  # the writer puts rows on the mix page too
    assert_raw_equals_pyreadstat(path, ["id", "d"])


@needs_fast
def test_big_endian_layout_is_read_in_its_byte_order(tmp_path: Path) -> None:
    """The writer writes little-endian files; a big-endian copy (every header and page field, and every numeric
    value, byte-swapped) must give the same values."""
    values: list[Any] = [1.5, -2.25, None, SpecialMissing("B"), 21915.999, 0.0]
    source = _write(tmp_path / "le.sas7bdat", [Column("x", "numeric", values), Column("y", "numeric", values,
                                                                                      length=4)])
    swapped = tmp_path / "be.sas7bdat"
    swapped.write_bytes(_big_endian_copy(source))
    layout = sas_raw.read_layout(swapped)
    assert not layout.little
    offsets = _layout(source)
    got = numeric_columns(swapped, [("x", *offsets["x"]), ("y", *offsets["y"])], len(values))
    expected = _pyreadstat_raw(source, ["x", "y"])
    for name in ("x", "y"):
        assert _bits(got[name][0].to_list()) == _bits(expected[name][0])
        assert got[name][1].to_list() == expected[name][1]


def _big_endian_copy(path: Path) -> bytes:
    """A byte-swapped copy of what the raw reader reads: the header's sizes, the row-size subheader's counts, each
    page's type/block/subheader counts and pointers, and the numeric cells (8 and 4 bytes, at their offsets)."""
    data = bytearray(path.read_bytes())
    le = sas_raw.read_layout(path)
    pad = 4 if data[35] == 0x33 else 0
    data[37] = 0x00  # big-endian
    word = "Q" if le.u64 else "I"
    int_len = 8 if le.u64 else 4

    def swap(fmt: str, at: int) -> None:
        (value,) = struct.unpack_from("<" + fmt, data, at)
        struct.pack_into(">" + fmt, data, at, value)

    swap("I", 196 + pad)
    swap("I", 200 + pad)
    swap(word, 204 + pad)
    offsets = {"x": (0, 8), "y": (8, 4)}
    for page in range(le.page_count):
        base = le.header_length + page * le.page_size
        ph = le.page_header
        page_type, blocks, count = struct.unpack_from("<HHH", data, base + ph - 8)
        for k in range(3):
            swap("H", base + ph - 8 + 2 * k)
        rows_first = ph
        if page_type in (0x0000, 0x0200):
            for k in range(count):
                at = base + ph + k * le.pointer_length
                (offset,) = struct.unpack_from("<" + word, data, at)
                swap(word, at)
                swap(word, at + int_len)
                sig = data[base + offset:base + offset + 4]
                if sig == b"\xf7\xf7\xf7\xf7":  # the row-size subheader: its signature moves to the end
                    head = slice(base + offset, base + offset + int_len)
                    data[head] = bytes(data[head])[::-1]
                    for field in (5, 6, 15):
                        swap(word, base + offset + field * int_len)
            rows_first = ph + count * le.pointer_length
            rows_first += 4 if rows_first % 8 == 4 else 0
        if page_type == 0x0100 or page_type == 0x0200:
            n = blocks if page_type == 0x0100 else blocks - count
            for r in range(n):
                row = base + rows_first + r * le.row_length
                for offset, width in offsets.values():
                    cell = bytes(data[row + offset:row + offset + width])
                    data[row + offset:row + offset + width] = cell[::-1]
    return bytes(data)


@needs_fast
def test_compressed_files_and_odd_layouts_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values: list[Any] = [float(i) for i in range(300)]
    compressed = _write(tmp_path / "c.sas7bdat", [Column("x", "numeric", values)], compression="rows")
    with pytest.raises(RawRefused):  # its rows are not on data pages
        numeric_columns(compressed, [("x", 0, 8)], 300)
    plain = _write(tmp_path / "p.sas7bdat", [Column("x", "numeric", values)])
    with pytest.raises(RawRefused, match="counts 300 rows, not 299"):
        numeric_columns(plain, [("x", 0, 8)], 299)
    with pytest.raises(RawRefused, match="LENGTH 9"):
        numeric_columns(plain, [("x", 0, 9)], 300)
    with pytest.raises(RawRefused, match="LENGTH 8 at offset 4"):
        numeric_columns(plain, [("x", 4, 8)], 300)
    layout = sas_raw.read_layout(plain)
    data = bytearray(plain.read_bytes())
    last = layout.header_length + (layout.page_count - 1) * layout.page_size + layout.page_header - 8
    struct.pack_into("<H", data, last, 0x0800)  # a page type nobody writes
    odd = tmp_path / "odd.sas7bdat"
    odd.write_bytes(bytes(data))
    with pytest.raises(RawRefused, match="has type 0x0800"):
        numeric_columns(odd, [("x", 0, 8)], 300)
    struct.pack_into("<H", data, last, 0x0100)
    struct.pack_into("<H", data, last + 2, 60000)  # more rows than the page holds
    odd.write_bytes(bytes(data))
    with pytest.raises(RawRefused):
        numeric_columns(odd, [("x", 0, 8)], 300)
    odd.write_bytes(plain.read_bytes()[:-100])
    with pytest.raises(RawRefused, match="shorter than its pages"):
        numeric_columns(odd, [("x", 0, 8)], 300)


# --------------------------------------------------------------------------------------------------------------
# the fast path with raw date/time columns


def _dates_file(path: Path, rows: int = 2000, plain: bool = True, **options: Any) -> Path:
    """Date, time and datetime columns, a character column and (``plain``) a plain numeric: with it an uncompressed
    file has every numeric read from its data pages and polars-readstat reads the rest; without it polars-readstat
    reads every column and the date/time columns come from the data pages, checked against its dates."""
    return _write(path, [
        *([Column("id", "numeric", [float(i) for i in range(rows)])] if plain else []),
        Column("d", "numeric", [SpecialMissing("D") if i % 97 == 5 else (None if i % 89 == 3 else i * 1.5 - 700.25)
                                for i in range(rows)], format="DATE9"),
        Column("t", "numeric", [i * 61.5 - 3000.0 for i in range(rows)], format="TIME8", length=6),
        Column("dt", "numeric", [sas_datetime(dt.datetime(2020, 1, 1)) + i * 3600.0000004 for i in range(rows)],
               format="DATETIME20"),
        Column("s", "string", [f"s{i}" for i in range(rows)])], **options)


@needs_fast
def test_the_fast_path_reads_date_columns_from_the_data_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _dates_file(tmp_path / "d.sas7bdat")
    monkeypatch.delenv(READER_ENV, raising=False)
    calls: list[dict[str, Any]] = []
    real = pyreadstat.read_sas7bdat

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append({"path": Path(args[0]), **kwargs})
        return real(*args, **kwargs)

    monkeypatch.setattr(pyreadstat, "read_sas7bdat", spy)
    fast = read_sas(path)
    assert fast.meta.extra["reader"] == FAST_READER
    assert fast.meta.extra["reader_note"] == SPLIT_NOTE
    assert not [c for c in calls if "usecols" in c]  # no whole-column pyreadstat read
    # only the copy of the pages of the sampled rows (no metadata-only walk of the file, no read of it at all)
    assert calls and all(c["path"].name.startswith("parity-sampled-") and not c.get("metadataonly") for c in calls)
    monkeypatch.setattr(pyreadstat, "read_sas7bdat", real)
    with monkeypatch.context() as m:
        m.setenv(READER_ENV, "pyreadstat")
        ref = read_sas(path)
    for name in ref.frame.columns:
        assert _bits(fast.frame[name].to_list()) == _bits(ref.frame[name].to_list()), name
    assert {k: v.to_list() for k, v in fast.tags.items()} == {k: v.to_list() for k, v in ref.tags.items()}
    assert [c.to_dict() for c in fast.columns] == [c.to_dict() for c in ref.columns]


@needs_fast
def test_a_compressed_file_keeps_pyreadstat_for_its_date_columns(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = _dates_file(tmp_path / "c.sas7bdat", rows=500, compression="rows")
    monkeypatch.delenv(READER_ENV, raising=False)
    fast = read_sas(path)
    assert fast.meta.extra["reader"] == FAST_READER
    assert fast.meta.extra["reader_note"] == "date/time columns read by pyreadstat: d, t, dt"


@needs_fast
def test_a_raw_layout_refusal_falls_back_to_pyreadstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _dates_file(tmp_path / "d.sas7bdat", rows=300)
    monkeypatch.delenv(READER_ENV, raising=False)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RawRefused("a layout this reader is not sure of")

    monkeypatch.setattr(sas_raw, "read_columns", refuse)
    scan = scan_sas_fast(path)
    assert scan.taken and scan.provenance()["reader_note"] == "date/time columns read by pyreadstat: d, t, dt"


@needs_fast
@pytest.mark.parametrize("wrong", ["value", "tag", "fraction", "plain"])
def test_raw_values_that_disagree_refuse_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      wrong: str) -> None:
    """A raw value that is not what polars-readstat read, in any row, refuses the whole fast path (the
    cross-check): its converted dates where it reads every column, its reading of one plain numeric where the data
    pages give every numeric; a fraction polars-readstat cannot see is caught by the sampled rows (pyreadstat)."""
    path = _dates_file(tmp_path / "d.sas7bdat", plain=wrong == "plain")
    monkeypatch.delenv(READER_ENV, raising=False)
    real = sas_raw.read_columns
    row = {"value": 1234, "tag": 1500, "fraction": 1, "plain": 1234}[wrong]
    column = "id" if wrong == "plain" else "d"

    def lie(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        values, tags = out.numbers[column]
        if wrong in ("value", "plain"):
            values = values.scatter(row, 99999.0)
        elif wrong == "tag":
            tags = tags.scatter(row, "Q")
        else:  # 0.75 instead of 0.8: the same day, a different fraction
            values = values.scatter(row, values[row] + 0.05)
        out.numbers[column] = (values, tags)
        return out

    monkeypatch.setattr(sas_raw, "read_columns", lie)
    scan = scan_sas_fast(path)
    assert not scan.taken and scan.reason is not None
    if wrong == "fraction":
        assert scan.reason.startswith("row 2 of column 'd' differs"), scan.reason
    else:
        assert scan.reason == (f"row {row + 1}: polars-readstat's values do not match the values read from the data "
                               "pages (the readers' rows do not line up)"), scan.reason
    table = read_sas(path)  # read by pyreadstat instead: the right values
    assert table.meta.extra["reader"] == "pyreadstat"


@needs_fast
def test_deleted_rows_still_refuse_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A header that counts more rows than pyreadstat reads (deleted rows) refuses the fast path, date columns or
    not: the raw reader never decides the row count alone."""
    rows = 2000
    path = _dates_file(tmp_path / "d.sas7bdat", rows=rows)
    monkeypatch.delenv(READER_ENV, raising=False)
    real = pyreadstat.read_sas7bdat

    def fewer(*args: Any, **kwargs: Any) -> Any:  # as pyreadstat reads a file whose last row was deleted
        frame, meta = real(*args, **kwargs)
        if Path(args[0]).name.startswith("parity-sampled-"):  # the copy of the sampled rows' pages (a split read)
            return frame.head(frame.height - 1), meta
        if kwargs.get("row_offset", 0) + kwargs.get("row_limit", 0) > rows - 1:
            frame = frame.head(max(0, rows - 1 - kwargs.get("row_offset", 0)))
        return frame, meta

    monkeypatch.setattr(pyreadstat, "read_sas7bdat", fewer)
    scan = scan_sas_fast(path)
    assert not scan.taken and scan.reason is not None
    assert "(deleted rows)" in scan.reason or "rows from the sampled pages" in scan.reason, scan.reason


@needs_fast
def test_big_rows_fit_memory_or_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a sink, rows that fit the memory budget come back in memory (nothing written), else into the sink."""
    path = _dates_file(tmp_path / "d.sas7bdat", rows=300)
    monkeypatch.delenv(READER_ENV, raising=False)
    sink = tmp_path / "out" / "part.parquet"
    sink.parent.mkdir()
    kept = scan_sas_fast(path, sink=sink, memory_budget=1 << 30)
    assert kept.taken and kept.frame is not None and not sink.exists()
    streamed = scan_sas_fast(path, sink=sink, memory_budget=1000)
    assert streamed.taken and streamed.frame is None and sink.exists()
    assert streamed.scan().collect().equals(kept.frame)


# --------------------------------------------------------------------------------------------------------------
# the corpus: every uncompressed file's numeric columns, raw, bit for bit pyreadstat's (or a refusal)


def test_raw_reader_agrees_with_pyreadstat_on_the_corpus() -> None:
    files = [p for p in corpus_files() if p.suffix.lower() == ".sas7bdat"]
    if not files or not fast_reader_available():
        pytest.skip(f"no SAS corpus at {CORPUS} (or polars-readstat missing)")
    from polars_readstat import ScanReadstat

    read, refused, differ = 0, 0, []
    for path in files:
        try:
            meta = ScanReadstat(str(path)).metadata
            frame, pmeta = pyreadstat.read_sas7bdat(str(path), user_missing=True, disable_datetime_conversion=True,
                                                    output_format="polars", formats_as_category=False)
        except BaseException as exc:  # unreadable by one of the readers: nothing to compare
            if type(exc).__name__ not in ("PanicException",) and not isinstance(exc, Exception):
                raise
            continue
        names = [n for n in pmeta.column_names if pmeta.readstat_variable_types.get(n) != "string"]
        columns = {c.get("name"): c for c in meta.get("columns") or []}
        if str(meta.get("compression")).lower() != "none" or not names or set(names) - set(columns):
            continue
        try:
            got = numeric_columns(path, [(n, int(columns[n]["offset"]), int(columns[n]["length"])) for n in names],
                                  frame.height)
        except RawRefused:
            refused += 1
            continue
        read += 1
        for name in names:
            numbers, tags = _split_special(frame.get_column(name))
            expected_tags = tags.to_list() if tags is not None else [None] * frame.height
            if _bits(got[name][0].to_list()) != _bits(numbers.to_list()) or got[name][1].to_list() != expected_tags:
                differ.append(f"{path}: {name}")
                break
    print(f"\nraw reader: {read} files read, {refused} refused")
    assert not differ, "\n".join(differ[:20])
    assert read > 100, (read, refused)
