"""Review of the SAS split read's sampling (parity/sources/sas_fast.py, parity/sources/sas_raw.py): pyreadstat reads a
copy of the pages that hold the sampled rows (sas_raw.write_sampled_pages) instead of the file itself.  Each test
builds a real .sas7bdat (the writer, then page bytes patched or spliced as another SAS layout would hold them) and
checks the fast path gives what pyreadstat reads of the WHOLE file, or refuses, or fails the way pyreadstat fails:
never a table where the reference reader finds none, never a row count or metadata of the copy's own."""

from __future__ import annotations

import datetime as dt
import glob
import os
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from parity.errors import InputError
from parity.sources import sas_fast, sas_raw
from parity.sources.sas import read_sas
from parity.sources.sas_fast import READER_ENV, fast_reader_available, sample_blocks, scan_sas_fast
from parity.sources.sas_raw import RawRefused, read_columns, write_sampled_pages
from parity.testing.sas7bdat_writer import Column, SpecialMissing, sas_datetime, write_sas7bdat
from tests.test_sas_fast_corpus import disagreement

pytestmark = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")
SPLIT_NOTE = ("numeric columns read from the data pages (every row checked against polars-readstat, the pages of "
              "the sampled rows against pyreadstat)")


def _write(path: Path, rows: int, **options: Any) -> Path:
    """Plain numerics (one of LENGTH 4 with special missing values), a datetime, and a character column with
    labels and formats: a file the split read takes (the writer puts rows on its mix page, then on data pages)."""
    write_sas7bdat(path, [
        Column("id", "numeric", [float(i) for i in range(rows)], label="Row number", format="8."),
        Column("x", "numeric", [SpecialMissing("C") if i % 23 == 4 else i * 0.25 - 3 for i in range(rows)],
               length=4, format="COMMA12.2", label="Some x"),
        Column("stamp", "numeric", [sas_datetime(dt.datetime(2021, 5, 1)) + i * 61.000001 for i in range(rows)],
               format="DATETIME26.6"),
        Column("s", "string", [f"row {i}" if i % 9 else "" for i in range(rows)], label="Text")],
        timestamp=dt.datetime(2024, 2, 3, 4, 5), table_name="REVIEW7", file_label="A file label", **options)
    return path


class _Pages:
    """A file's header and pages (little-endian, as the writer writes them), to patch and splice."""

    def __init__(self, path: Path) -> None:
        self.layout = sas_raw.read_layout(path)
        self.data = bytearray(path.read_bytes())
        lay = self.layout
        self.header = self.data[:lay.header_length]
        self.pages = [bytearray(self.data[lay.header_length + i * lay.page_size:
                                          lay.header_length + (i + 1) * lay.page_size]) for i in range(lay.page_count)]
        self.word = "<Q" if lay.u64 else "<I"
        self.int_len = 8 if lay.u64 else 4

    def kind(self, index: int) -> tuple[int, int, int]:
        return struct.unpack_from("<HHH", self.pages[index], self.layout.page_header - 8)

    def set_row_count(self, rows: int, field: int = 6) -> None:
        lay = self.layout
        page, at = divmod(lay.row_size_at - lay.header_length, lay.page_size)
        struct.pack_into(self.word, self.pages[page], at + field * self.int_len, rows)

    def save(self, path: Path) -> Path:
        pad = 4 if self.header[35] == 0x33 else 0
        struct.pack_into(self.word, self.header, 204 + pad, len(self.pages))
        path.write_bytes(bytes(self.header) + b"".join(bytes(p) for p in self.pages))
        return path


def _data_page(pages: _Pages, rows: list[bytes], page_type: int = 0x0100) -> bytearray:
    lay = pages.layout
    page = bytearray(lay.page_size)
    struct.pack_into("<HHH", page, lay.page_header - 8, page_type, len(rows), 0)
    for k, row in enumerate(rows):
        page[lay.page_header + k * lay.row_length:lay.page_header + (k + 1) * lay.row_length] = row
    return page


def _rows_of(pages: _Pages, index: int) -> list[bytes]:
    lay = pages.layout
    _, count, _ = pages.kind(index)
    return [bytes(pages.pages[index][lay.page_header + k * lay.row_length:lay.page_header + (k + 1) * lay.row_length])
            for k in range(count)]


def _reference(path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setenv(READER_ENV, "pyreadstat")
        return read_sas(path)


def _assert_split_equals_reference(path: Path, monkeypatch: pytest.MonkeyPatch, *, seed: int = 0) -> None:
    monkeypatch.delenv(READER_ENV, raising=False)
    scan = scan_sas_fast(path, seed=seed)
    assert scan.taken and scan.provenance()["reader_note"] == SPLIT_NOTE, scan.provenance()
    fast = read_sas(path)
    assert fast.meta.extra["reader_note"] == SPLIT_NOTE
    problem = disagreement(fast, _reference(path, monkeypatch))
    assert problem is None, problem


def _leftovers() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "parity-sampled-*")))


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's temporary files in a folder of its own: another test running at the same time (pytest -n 2)
    may have its copy of sampled pages in the shared one."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


# --------------------------------------------------------------------------------------------------------------
# rows on a mix page after the data pages: ReadStat reads them with the last data page's count


def _mix_page_after_the_data(tmp_path: Path) -> tuple[Path, int]:
    """The writer's file (its last data page holding 5 rows) with a page appended after its data pages: a mix page
    (no subheaders) holding as many rows as the row-size subheader allows a mix page, counted there.  ReadStat reads
    such a page with the row count of the data page before it (5): fewer rows, so it fails on the file."""
    counts = _page_rows(_write(tmp_path / "probe.sas7bdat", 3000))
    pages = _Pages(_write(tmp_path / "base.sas7bdat", counts[0] + 12 * max(counts) + 5))
    extra = pages.layout.mix_rows
    rows_before = sum(pages.kind(i)[1] - pages.kind(i)[2] for i in range(len(pages.pages)))
    last_count = pages.kind(len(pages.pages) - 1)[1]
    assert pages.kind(len(pages.pages) - 1)[0] == 0x0100 and last_count < extra
    source = _rows_of(pages, 1)
    rows = []
    for k in range(extra):
        row = bytearray(source[k])
        struct.pack_into("<d", row, 0, float(rows_before + k))
        rows.append(bytes(row))
    pages.pages.append(_data_page(pages, rows, page_type=0x0200))
    pages.set_row_count(rows_before + extra)
    return pages.save(tmp_path / "late_mix.sas7bdat"), rows_before + extra


def test_rows_on_a_mix_page_after_the_data_pages_are_refused_like_pyreadstat_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the copy held the sampled pages only, so ReadStat read the late mix page with a FULL data page's
    count and found every row; the fast path gave a table where pyreadstat cannot read the file at all."""
    path, rows = _mix_page_after_the_data(tmp_path)
    with pytest.raises(RawRefused, match=r"mix page \d+ holds rows after a data page"):
        read_columns(path, [], [], rows)
    monkeypatch.delenv(READER_ENV, raising=False)
    scan = scan_sas_fast(path)
    assert not scan.taken and scan.reason is not None and "expected number of rows" in scan.reason, scan.reason
    with pytest.raises(InputError, match="expected number of rows"):
        read_sas(path)
    with pytest.raises(InputError, match="expected number of rows"):
        _reference(path, monkeypatch)


def test_the_copy_keeps_the_first_and_the_last_data_page_and_pages_without_rows(tmp_path: Path) -> None:
    """ReadStat takes column text from the pages before the FIRST data page and after the LAST one, and a page's
    row count can come from the data page before it: the copy keeps both whatever rows they hold, and every data
    page without rows (an empty first data page, here), so its pyreadstat sees the file's page order."""
    pages = _Pages(_write(tmp_path / "base.sas7bdat", 20_000))
    pages.pages.insert(1, _data_page(pages, []))  # an empty data page first
    path = pages.save(tmp_path / "empty_first.sas7bdat")
    found = read_columns(path, [], [], 20_000)
    for seed in range(6):
        blocks = sample_blocks(20_000, seed)
        copy = _Pages(path)
        where = write_sampled_pages(path, found, blocks, tmp_path / "copy.sas7bdat")
        copy = _Pages(tmp_path / "copy.sas7bdat")
        kinds = [copy.kind(i) for i in range(len(copy.pages))]
        assert kinds[1] == (0x0100, 0, 0)  # the empty first data page
        assert kinds[-1] == pages.kind(len(pages.pages) - 1)  # the last data page
        assert len(kinds) < len(pages.pages)  # still a copy of a few pages
        assert where.tolist() == sorted(set(where.tolist()))
        assert {r for offset, length in blocks for r in range(offset, offset + length)} <= set(where.tolist())


@pytest.mark.parametrize("seed", [0, 3])
def test_an_empty_first_data_page_still_reads_like_pyreadstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             seed: int) -> None:
    pages = _Pages(_write(tmp_path / "base.sas7bdat", 5000))
    pages.pages.insert(1, _data_page(pages, []))
    _assert_split_equals_reference(pages.save(tmp_path / "empty_first.sas7bdat"), monkeypatch, seed=seed)


# --------------------------------------------------------------------------------------------------------------
# a deleted-row count in the row-size subheader


def test_a_deleted_row_count_refuses_the_raw_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ReadStat reads the row-size subheader's count of deleted rows (its 8th word) and reads that many rows
    fewer, whatever the page types say: the raw read never counts the rows of such a file itself."""
    pages = _Pages(_write(tmp_path / "base.sas7bdat", 3000))
    pages.set_row_count(1, field=7)
    path = pages.save(tmp_path / "deleted.sas7bdat")
    with pytest.raises(RawRefused, match="counts 1 deleted rows"):
        read_columns(path, [], [], 3000)
    monkeypatch.delenv(READER_ENV, raising=False)
    scan = scan_sas_fast(path)
    assert not scan.taken and "(deleted rows)" in (scan.reason or ""), scan.reason
    table = read_sas(path)
    assert table.meta.rows == table.frame.height == 2999 == _reference(path, monkeypatch).frame.height


# --------------------------------------------------------------------------------------------------------------
# the row mapping: row counts at and around page edges, blocks on one page or across pages


def _page_rows(path: Path) -> list[int]:
    found = read_columns(path, [], [], sas_raw.read_layout(path).row_count)
    return [int(r) for r in found.page_rows]


@pytest.mark.parametrize("rows", [0, 1, 2, 193])
def test_few_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    _assert_split_equals_reference(_write(tmp_path / "few.sas7bdat", rows), monkeypatch)


def test_rows_exactly_filling_the_pages_and_one_more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _page_rows(_write(tmp_path / "probe.sas7bdat", 3000))
    mix, full = probe[0], max(probe)
    for rows in (mix, mix + 1, mix + full, mix + 3 * full, mix + 3 * full + 1):
        path = _write(tmp_path / f"r{rows}.sas7bdat", rows)
        counts = _page_rows(path)
        assert sum(counts) == rows
        _assert_split_equals_reference(path, monkeypatch)


def test_both_random_blocks_on_one_page_and_blocks_across_page_edges(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rows = 4000
    path = _write(tmp_path / "b.sas7bdat", rows)
    counts = _page_rows(path)
    edges = [sum(counts[:i]) for i in range(len(counts) + 1)]

    def page_of(row: int) -> int:
        return max(i for i, e in enumerate(edges) if e <= row)

    one_page = next(s for s in range(500) if page_of(sample_blocks(rows, s)[1][0]) == page_of(sample_blocks(rows, s)[2][0]))
    across = next(s for s in range(500) if any(page_of(o) != page_of(o + n - 1) for o, n in sample_blocks(rows, s)[1:3]))
    for seed in (one_page, across):
        _assert_split_equals_reference(path, monkeypatch, seed=seed)


# --------------------------------------------------------------------------------------------------------------
# metadata from the copy: what the report shows of the file is pyreadstat's reading of the file itself


def test_metadata_from_the_copy_is_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "meta.sas7bdat", 20_000)
    monkeypatch.delenv(READER_ENV, raising=False)
    fast = read_sas(path)
    ref = _reference(path, monkeypatch)
    assert fast.meta.extra["reader_note"] == SPLIT_NOTE
    assert disagreement(fast, ref) is None
    assert fast.meta.rows == 20_000 and fast.meta.label == "A file label"
    assert fast.meta.extra["table_name"] == "REVIEW7" and fast.meta.extra["created"] == ref.meta.extra["created"]
    assert [c.to_dict() for c in fast.columns] == [c.to_dict() for c in ref.columns]


# --------------------------------------------------------------------------------------------------------------
# the temporary copy: no folder to write it, a full disk, an interrupt


def test_no_temporary_folder_reads_the_sampled_rows_of_the_file_itself(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: an OSError from the copy refused the whole fast path as 'polars-readstat failed'."""
    path = _write(tmp_path / "t.sas7bdat", 3000)
    monkeypatch.delenv(READER_ENV, raising=False)

    def no_folder(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", "/tmp")

    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", no_folder)
        scan = scan_sas_fast(path)
    assert scan.taken and scan.provenance()["reader"] == "polars-readstat", scan.provenance()
    assert scan.provenance().get("reader_note") != SPLIT_NOTE

    before = _leftovers()

    def disk_full(*args: Any, **kwargs: Any) -> Any:
        Path(args[3]).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(sas_raw, "write_sampled_pages", disk_full)
        scan = scan_sas_fast(path)
    assert scan.taken and scan.provenance().get("reader_note") != SPLIT_NOTE
    assert _leftovers() <= before


def test_an_interrupt_while_pyreadstat_reads_the_copy_leaves_no_file_and_no_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "i.sas7bdat", 3000)
    monkeypatch.delenv(READER_ENV, raising=False)
    before = _leftovers()
    real = sas_fast._reference

    def interrupted(copy: Path, **options: Any) -> Any:
        if copy.name.startswith("parity-sampled-"):
            assert copy.exists()
            raise KeyboardInterrupt
        return real(copy, **options)

    monkeypatch.setattr(sas_fast, "_reference", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scan_sas_fast(path)
    assert _leftovers() <= before
    assert not [t for t in threading.enumerate() if t.name.startswith("parity-text-")]


# --------------------------------------------------------------------------------------------------------------
# where polars-readstat says a column is: the raw read's only source for it


@pytest.mark.parametrize("wrong", ["offset", "length"])
def test_a_column_placed_wrongly_by_polars_readstat_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             wrong: str) -> None:
    """``b`` equals ``a`` (whole numbers) in every row but one no sampled page holds, where it has a fraction.  Read
    at ``a``'s place, or as 4 bytes (a whole number's last 4 bytes are zeros), every sampled row agrees with
    pyreadstat and only that row is wrong: before, the fast path gave it; now the places are checked against
    pyreadstat's LENGTHs and against each other."""
    rows = 20_000
    odd = 9_000
    assert not any(o <= odd < o + n for o, n in sample_blocks(rows))
    values = [float(i % 1000) for i in range(rows)]
    path = tmp_path / "ab.sas7bdat"
    write_sas7bdat(path, [Column("id", "numeric", [float(i) for i in range(rows)]),
                          Column("a", "numeric", values),
                          Column("b", "numeric", [v + 0.5 if i == odd else v for i, v in enumerate(values)])],
                   timestamp=dt.datetime(2024, 1, 1))
    monkeypatch.delenv(READER_ENV, raising=False)
    real = sas_fast._layout_of

    def misplaced(fast_meta: Any) -> Any:
        layout = {name: dict(column) for name, column in real(fast_meta).items()}
        if wrong == "offset":
            layout["b"]["offset"] = layout["a"]["offset"]
        else:
            layout["b"]["length"] = 4
        return layout

    monkeypatch.setattr(sas_fast, "_layout_of", misplaced)
    scan = scan_sas_fast(path)
    assert scan.frame is None or scan.frame["b"][odd] == values[odd] + 0.5, "a wrong value passed"
    expected = "on the same bytes of a row" if wrong == "offset" else "LENGTH of column 'b' (4 vs 8)"
    assert not scan.taken and expected in (scan.reason or ""), scan.reason


def test_a_row_count_its_pages_cannot_hold_is_refused_before_memory_is_set_aside(tmp_path: Path) -> None:
    """The raw read sets aside 8 bytes a row per numeric column from the row-size subheader's count: a count no
    page could hold (2^31 rows in a 100 KB file) refuses before that, not after 16 GB were asked for."""
    pages = _Pages(_write(tmp_path / "base.sas7bdat", 3000))
    pages.set_row_count(2**31)
    path = pages.save(tmp_path / "huge.sas7bdat")
    for read in (lambda: read_columns(path, [("id", 0, 8)], [], 2**31),
                 lambda: sas_raw.first_numbers(path, [("id", 0, 8)], 64, 2**31)):
        with pytest.raises(RawRefused, match="more than its pages can hold"):
            read()


def test_pyreadstat_failing_on_the_copy_judges_the_file_itself(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: 'fast path refused: pyreadstat cannot read it', in the report, of a file pyreadstat then read.  Now
    polars-readstat reads every column and pyreadstat the sampled rows of the file: its own verdict."""
    import pyreadstat

    path = _write(tmp_path / "c.sas7bdat", 3000)
    monkeypatch.delenv(READER_ENV, raising=False)
    real = pyreadstat.read_sas7bdat

    def copy_fails(*args: Any, **kwargs: Any) -> Any:
        if Path(args[0]).name.startswith("parity-sampled-"):
            raise pyreadstat.ReadstatError("a failure of the copy only")
        return real(*args, **kwargs)

    monkeypatch.setattr(pyreadstat, "read_sas7bdat", copy_fails)
    before = _leftovers()
    scan = scan_sas_fast(path)
    assert scan.taken and scan.provenance().get("reader_note") != SPLIT_NOTE, scan.provenance()
    assert _leftovers() <= before
    fast = read_sas(path)
    monkeypatch.setattr(pyreadstat, "read_sas7bdat", real)
    assert disagreement(fast, _reference(path, monkeypatch)) is None


# --------------------------------------------------------------------------------------------------------------
# pages without rows among and after the data pages


@pytest.mark.parametrize("page_type", [0x0000, 0x4000, 0x0400, 0x9000])
@pytest.mark.parametrize("where", ["between", "after"])
def test_pages_without_rows_among_or_after_the_data_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          page_type: int, where: str) -> None:
    """A metadata (0x0000, 0x4000), AMD (0x0400) or compressed-data (0x9000) page without subheaders between two
    data pages refuses the copy (polars-readstat then reads every column); after the last one it is copied (ReadStat
    reads it backwards in its first pass).  Either way the table is pyreadstat's."""
    pages = _Pages(_write(tmp_path / "base.sas7bdat", 20_000))
    empty = _data_page(pages, [], page_type=page_type)
    if where == "between":
        pages.pages.insert(len(pages.pages) // 2, empty)
    else:
        pages.pages.append(empty)
    path = pages.save(tmp_path / "extra.sas7bdat")
    monkeypatch.delenv(READER_ENV, raising=False)
    found = read_columns(path, [], [], 20_000)
    if where == "between":
        with pytest.raises(RawRefused, match="holds no rows between data pages"):
            write_sampled_pages(path, found, sample_blocks(20_000), tmp_path / "copy.sas7bdat")
        fast = read_sas(path)
        assert fast.meta.extra["reader"] == "polars-readstat" and fast.meta.extra.get("reader_note") != SPLIT_NOTE
        assert disagreement(fast, _reference(path, monkeypatch)) is None
    else:
        _assert_split_equals_reference(path, monkeypatch)


@pytest.mark.parametrize("page_type", [0x0180, 0x0300, 0x1100])
def test_a_data_page_with_flag_bits_is_never_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    page_type: int) -> None:
    """A data page whose type carries other bits (0x0180: SAS marks pages of a file with deleted rows so; ReadStat
    reads it as a data page by its 0x0F00 bits, polars-readstat skips it) refuses the raw read: the table is
    pyreadstat's, from whichever reader."""
    pages = _Pages(_write(tmp_path / "base.sas7bdat", 20_000))
    middle = len(pages.pages) // 2
    assert pages.kind(middle)[0] == 0x0100
    struct.pack_into("<H", pages.pages[middle], pages.layout.page_header - 8, page_type)
    path = pages.save(tmp_path / "flagged.sas7bdat")
    with pytest.raises(RawRefused, match=f"has type {page_type:#06x}"):
        read_columns(path, [], [], 20_000)
    monkeypatch.delenv(READER_ENV, raising=False)
    try:
        fast = read_sas(path)
    except InputError as exc:
        with pytest.raises(InputError) as ref_exc:
            _reference(path, monkeypatch)
        assert str(ref_exc.value) == str(exc)
        return
    assert fast.meta.extra.get("reader_note") != SPLIT_NOTE
    assert "Error" not in fast.meta.extra.get("reader_note", ""), fast.meta.extra  # a reason, not a traceback's
    assert disagreement(fast, _reference(path, monkeypatch)) is None


@pytest.mark.parametrize("on_sampled_page", [True, False])
def test_odd_values_in_unsampled_rows_read_like_pyreadstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           on_sampled_page: bool) -> None:
    """Bytes patched into one row no sampled block holds, on a copied page or not: special missing values, a NaN
    payload, -0.0, a denormal, a string with a NUL, controls and trailing blanks.  The numbers are the raw read's
    (the very bytes pyreadstat decodes), the text polars-readstat's: both must be pyreadstat's."""
    rows = 20_000
    path = _write(tmp_path / "base.sas7bdat", rows)
    pages = _Pages(path)
    found = read_columns(path, [], [], rows)
    blocks = sample_blocks(rows)
    wanted = {r for offset, length in blocks for r in range(offset, offset + length)}
    starts = [0]
    for count in found.page_rows.tolist():
        starts.append(starts[-1] + count)
    copied = set(write_sampled_pages(path, found, blocks, tmp_path / "copy.sas7bdat").tolist())
    row = next(r for r in range(rows // 3, rows) if r not in wanted and (r in copied) == on_sampled_page
               and pages.kind(max(i for i, s in enumerate(starts) if s <= r))[0] == 0x0100)
    page = max(i for i, s in enumerate(starts) if s <= row)
    from polars_readstat import ScanReadstat

    places = {c["name"]: (c["offset"], c["length"]) for c in ScanReadstat(str(path)).metadata["columns"]}
    base = pages.layout.page_header + (row - starts[page]) * pages.layout.row_length
    cells = {"id": struct.pack("<d", -0.0), "stamp": struct.pack("<Q", 0x7FF8_0000_0000_1234),
             "x": struct.pack("<Q", 0xFFF0_FD00_0000_0000)[4:], "s": b"a\0b\x01 "}
    for name, raw in cells.items():
        offset, length = places[name]
        pages.pages[page][base + offset:base + offset + length] = raw.ljust(length, b" ")[:length]
    patched = pages.save(tmp_path / "patched.sas7bdat")
    _assert_split_equals_reference(patched, monkeypatch)
