"""Raw numeric values of an UNCOMPRESSED .sas7bdat file, straight from its data pages (numpy over a memory map).

The fast path (:mod:`parity.sources.sas_fast`) needs the raw SAS numbers of the columns polars-readstat converts
to dates, datetimes and times (it rounds fractional dates, nulls times outside 0-24 h and truncates datetimes to
microseconds), and, in its split read, of every numeric column (polars-readstat's whole-table read is its slow
part).  pyreadstat gives them, but it parses whole rows: about 4.7 s for one date column of a 5M-row file.
In an uncompressed file every row sits at a computable place, so the few bytes of those columns can be gathered
directly, in a fraction of a second:

- the header gives the page size, the page count, 32/64-bit layout and byte order; the row-size subheader of the
  first metadata pages gives the row length, the row count and the rows on a mix page;
- a **data page** (type 0x0100) holds ``block_count`` rows right after its header; a **mix page** (0x0200) holds
  its rows after the subheader pointers, aligned to 8 bytes (the 4 padding bytes must be zeros or blanks);
  metadata pages (0x0000, 0x4000, 0x0400) hold none and compressed-data pages (0x9000) are skipped;
- a numeric of LENGTH 3-8 stores the most significant bytes of the IEEE double, in the file's byte order;
- a missing value is a NaN whose byte 5 holds the one's complement of its tag (ReadStat's ``sas_assign_tag``:
  0 is ``._``, 2-27 are ``.A``-``.Z``, the ASCII codes of ``A``-``Z`` and ``_`` are themselves, anything else is
  the system missing value ``.``).

Anything unexpected (a compressed file, an unknown page type, rows that do not fit their page, padding that is not
zeros or blanks, a mix page whose row count disagrees with the row-size subheader or that holds rows after a data
page, a deleted-row count in the row-size subheader, a total that is not the header's row count) raises
:class:`RawRefused` and the caller reads the columns otherwise.  The caller also cross-checks
every row against polars-readstat (its converted dates, or in a split read its reading of one plain numeric: the
rows line up) and every column of the sampled rows against pyreadstat: the raw values are never trusted alone.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

_MAGIC_END = 32
_ALIGN_4 = 0x33
_MIN_BLOCK = 1024
_MAX_BLOCK = 1 << 24
_PAGE_META = frozenset({0x0000, 0x4000, 0x0400})
_PAGE_DATA = 0x0100
_PAGE_MIX = 0x0200
_PAGE_COMP = 0x9000
_ROW_SIZE = 0xF7F7F7F7
#: how far into the file the row-size subheader is looked for (it is on the first metadata page)
_META_SCAN_PAGES = 64


class RawRefused(Exception):
    """The file's layout is not one this reader is sure of: read the columns with pyreadstat."""


@dataclass(frozen=True)
class Layout:
    little: bool
    u64: bool
    header_length: int
    page_size: int
    page_count: int
    row_length: int
    row_count: int
    mix_rows: int
    #: where in the file the row-size subheader starts (its row count is rewritten in a file of sampled pages)
    row_size_at: int = 0
    #: the row-size subheader's count of deleted rows (ReadStat reads that many rows fewer: refused when not 0)
    deleted_rows: int = 0

    @property
    def page_header(self) -> int:  # the page's own header, up to the subheader pointers
        return 40 if self.u64 else 24

    @property
    def pointer_length(self) -> int:
        return 24 if self.u64 else 12


def read_layout(path: Path) -> Layout:
    with path.open("rb") as fh:
        head = fh.read(1024)
        if len(head) < 300 or head[12:_MAGIC_END] != bytes.fromhex("c2ea8160b31411cfbd92080009c7318c181f1011"):
            raise RawRefused("not a sas7bdat file")
        u64 = head[32] == _ALIGN_4
        pad = 4 if head[35] == _ALIGN_4 else 0
        if head[37] not in (0, 1):
            raise RawRefused(f"byte order byte {head[37]:#x}")
        little = head[37] == 1
        e = "<" if little else ">"
        header_length, page_size = struct.unpack_from(e + "II", head, 196 + pad)
        (page_count,) = struct.unpack_from(e + ("Q" if u64 else "I"), head, 204 + pad)
        if not (_MIN_BLOCK <= header_length <= _MAX_BLOCK and _MIN_BLOCK <= page_size <= _MAX_BLOCK):
            raise RawRefused("header or page size out of range")
        size = path.stat().st_size
        if size < header_length + page_count * page_size:
            raise RawRefused("the file is shorter than its pages")
        int_len = 8 if u64 else 4
        word = e + ("Q" if u64 else "I")
        page_header = 40 if u64 else 24
        pointer = 24 if u64 else 12
        for index in range(min(page_count, _META_SCAN_PAGES)):
            fh.seek(header_length + index * page_size)
            page = fh.read(page_size)
            page_type, _, count = struct.unpack_from(e + "HHH", page, page_header - 8)
            if page_type not in _PAGE_META and page_type != _PAGE_MIX:
                continue
            for k in range(count):
                at = page_header + k * pointer
                if at + pointer > len(page):
                    break
                offset, length = struct.unpack_from(word + word[1], page, at)
                if length < 16 * int_len or offset + length > len(page):
                    continue
                first, second = struct.unpack_from(e + "II", page, offset)
                if _ROW_SIZE not in (first, second):
                    continue
                row_length = struct.unpack_from(word, page, offset + 5 * int_len)[0]
                row_count = struct.unpack_from(word, page, offset + 6 * int_len)[0]
                deleted_rows = struct.unpack_from(word, page, offset + 7 * int_len)[0]
                mix_rows = struct.unpack_from(word, page, offset + 15 * int_len)[0]
                if not 0 < row_length <= page_size:
                    raise RawRefused(f"row length {row_length}")
                return Layout(little, u64, header_length, page_size, page_count, row_length, row_count, mix_rows,
                              header_length + index * page_size + offset, deleted_rows)
    raise RawRefused("no row-size subheader on the first metadata pages")


#: the file is read in pieces of about this size (a whole number of pages): memory stays bounded and each piece is
#: gathered from while it is in the CPU's cache
CHUNK_BYTES = 8 << 20


def _page_rows(pages: np.ndarray, layout: Layout, rows_before: int, first_page: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per page of ``pages`` (a 2-D view of whole pages): the offset of its first row in the page, its row count,
    its type."""
    ph = layout.page_header
    fields = np.ascontiguousarray(pages[:, ph - 8:ph - 2]).view("<u2" if layout.little else ">u2")
    page_type = fields[:, 0].astype(np.int64)
    blocks = fields[:, 1].astype(np.int64)
    subheaders = fields[:, 2].astype(np.int64)
    known = np.isin(page_type, [*_PAGE_META, _PAGE_DATA, _PAGE_MIX, _PAGE_COMP])
    if not known.all():
        bad = int(np.argmax(~known))
        raise RawRefused(f"page {first_page + bad + 1} has type {int(page_type[bad]):#06x}")
    first = np.zeros(len(pages), dtype=np.int64)
    count = np.zeros(len(pages), dtype=np.int64)
    data = page_type == _PAGE_DATA
    first[data] = ph
    count[data] = blocks[data]
    for index in np.flatnonzero(page_type == _PAGE_MIX).tolist():
        start = ph + int(subheaders[index]) * layout.pointer_length
        if start % 8 == 4:
            # rows start on an 8-byte boundary, after 4 bytes of zeros or blanks; other bytes there may be a row
            # (files from Stat/Transfer are not padded, and ReadStat tells them by their vendor): refused
            if bytes(pages[index, start:start + 4]) not in (b"\0\0\0\0", b"    "):
                raise RawRefused(f"mix page {first_page + index + 1}: its rows may not be 8-byte aligned")
            start += 4
        rows = int(blocks[index] - subheaders[index])
        expected = min(layout.mix_rows, layout.row_count - rows_before - int(count[:index].sum()))
        if rows != expected:
            raise RawRefused(f"mix page {first_page + index + 1}: {rows} rows, the row-size subheader says "
                             f"{expected}")
        first[index] = start
        count[index] = rows
    if (count < 0).any() or (first + count * layout.row_length > layout.page_size).any():
        raise RawRefused("rows that do not fit their page")
    return first, count, page_type


def numeric_columns(path: Path, columns: Sequence[tuple[str, int, int]], expected_rows: int
                    ) -> dict[str, tuple[pl.Series, pl.Series]]:
    """``{name: (values Float64 with missing values null, tags String)}`` of the numeric ``columns`` (name, offset
    in the row, LENGTH 3-8) of an uncompressed file.  Raises :class:`RawRefused` on anything unexpected."""
    return read_columns(path, columns, (), expected_rows).numbers


#: byte-order marks polars-readstat's decoder sniffs at the start of a character value (it drops a UTF-8 one and
#: decodes a value after a UTF-16 one as UTF-16, where pyreadstat decodes the bytes in the file's encoding)
BYTE_ORDER_MARKS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class RawColumns:
    """What :func:`read_columns` read: the numeric columns' values and tags, and per character column the first
    row (0-based) whose value starts with a byte-order mark (:data:`BYTE_ORDER_MARKS`)."""

    numbers: dict[str, tuple[pl.Series, pl.Series]]
    marked: dict[str, int]
    layout: Layout
    #: per page of the file, in order: its type and the rows it holds (what :func:`write_sampled_pages` copies)
    page_types: np.ndarray
    page_rows: np.ndarray
    #: no byte of a character value is above 127 (ASCII: every encoding parity reads decodes it alike, and no
    #: decoder can have made a replacement character of it)
    ascii_text: bool = False


def _checked_layout(path: Path, numbers: Sequence[tuple[str, int, int]], expected_rows: int) -> Layout:
    """The file's layout, when it counts ``expected_rows`` rows and holds each numeric (name, offset, LENGTH)."""
    layout = read_layout(path)
    if layout.deleted_rows:
        # ReadStat reads that many rows fewer (those its deleted-row bitmaps mark, else the last ones)
        raise RawRefused(f"the row-size subheader counts {layout.deleted_rows} deleted rows")
    if layout.row_count != expected_rows:
        raise RawRefused(f"the row-size subheader counts {layout.row_count} rows, not {expected_rows}")
    if layout.row_count * layout.row_length > layout.page_count * layout.page_size:
        # (before any memory is set aside for them)
        raise RawRefused(f"the row-size subheader counts {layout.row_count} rows, more than its pages can hold")
    for name, offset, width in numbers:
        if not 3 <= width <= 8 or offset < 0 or offset + width > layout.row_length:
            raise RawRefused(f"column {name!r}: LENGTH {width} at offset {offset} in rows of {layout.row_length}")
    return layout


def read_columns(path: Path, numbers: Sequence[tuple[str, int, int]], texts: Sequence[tuple[str, int, int]],
                 expected_rows: int) -> RawColumns:
    """The numeric columns ``numbers`` (name, offset in the row, LENGTH 3-8) of an uncompressed file, and whether
    a value of the character columns ``texts`` (name, offset, LENGTH) starts with a byte-order mark, in one pass
    over the pages, with each page's type and row count.  Raises :class:`RawRefused` on anything unexpected."""
    layout = _checked_layout(path, numbers, expected_rows)
    # a character value's first bytes (up to 3: the longest mark); a 1-byte value holds no mark
    prefixes = [(name, offset, min(width, 3)) for name, offset, width in texts if width >= 2]
    for name, offset, width in prefixes:
        if offset < 0 or offset + width > layout.row_length:
            raise RawRefused(f"column {name!r}: LENGTH {width} at offset {offset} in rows of {layout.row_length}")
    for name, offset, width in texts:
        if width < 1 or offset < 0 or offset + width > layout.row_length:
            raise RawRefused(f"column {name!r}: LENGTH {width} at offset {offset} in rows of {layout.row_length}")
    spans = [(offset, width) for _, offset, width in texts]
    high = not spans  # a byte above 127 in a character value (none to look at: not ASCII text, nothing to skip)
    masks: dict[tuple[int, int], np.ndarray] = {}
    words = {name: _populated(layout.row_count) for name, _, _ in numbers}
    marked: dict[str, int] = {}
    cells = np.empty(0, dtype=np.uint64)  # a character column's first bytes, per piece of pages (reused)
    per_chunk = max(1, CHUNK_BYTES // layout.page_size)
    buffer = np.empty(per_chunk * layout.page_size, dtype=np.uint8)
    done = 0
    page_types = np.empty(layout.page_count, dtype=np.int64)
    page_rows = np.empty(layout.page_count, dtype=np.int64)
    with io.FileIO(path, "r") as fh:
        fh.seek(layout.header_length)
        for start in range(0, layout.page_count, per_chunk):
            n = min(per_chunk, layout.page_count - start)
            chunk = buffer[:n * layout.page_size]
            _read_exactly(fh, chunk)
            first, count, page_types[start:start + n] = _page_rows(chunk.reshape(n, layout.page_size), layout, done,
                                                                   start)
            page_rows[start:start + n] = count
            rows = int(count.sum())
            if done + rows > layout.row_count:
                raise RawRefused(f"the pages hold more rows than the header's {layout.row_count}")
            for name, offset, width in numbers:
                _gather(chunk, layout, first, count, offset, width, words[name][done:done + rows])
            if not high:  # (a byte-order mark is bytes above 127: none in a piece of ASCII text)
                high = _high_text_bytes(chunk.reshape(n, layout.page_size), first, count, layout, spans, masks)
            for name, offset, width in prefixes if high else ():
                if name not in marked:
                    if len(cells) < rows:
                        cells = np.empty(rows, dtype=np.uint64)
                    _gather(chunk, layout, first, count, offset, width, cells[:rows])
                    hit = _starts_with_a_mark(cells[:rows], width, layout.little)
                    if len(hit):
                        marked[name] = done + int(hit[0])
            done += rows
    if done != layout.row_count:
        raise RawRefused(f"the pages hold {done} rows, the header counts {layout.row_count}")
    _refuse_rows_after_data(page_types, page_rows)
    return RawColumns({name: _split(name, _doubles(words[name], width, layout.little)) for name, _, width in numbers},
                      marked, layout, page_types, page_rows, not high)


def _high_text_bytes(pages: np.ndarray, first: np.ndarray, count: np.ndarray, layout: Layout,
                     spans: Sequence[tuple[int, int]], masks: dict[tuple[int, int], np.ndarray]) -> bool:
    """Whether a byte of a character value (``spans``: offset and LENGTH in the row) in the rows of ``pages`` (a
    2-D view of whole pages) is above 127: each page ANDed with a mask of 0x80 over its values' bytes (one mask
    per place and count of rows, kept in ``masks``), whole pages at a time."""
    if len(count) and count[0] > 0 and (count == count[0]).all() and (first == first[0]).all():
        pairs = [(int(first[0]), int(count[0]))]  # the usual piece: full data pages only
    else:
        pairs = sorted({(f, c) for f, c in zip(first.tolist(), count.tolist(), strict=True) if c > 0})
    for start, rows in pairs:
        mask = masks.get((start, rows))
        if mask is None:
            mask = np.zeros(layout.page_size, dtype=np.uint8)
            row_starts = start + np.arange(rows) * layout.row_length
            for offset, width in spans:
                mask[(row_starts[:, None] + offset + np.arange(width)).ravel()] = 0x80
            masks[(start, rows)] = mask
        chosen = (first == start) & (count == rows)
        block = pages if chosen.all() else pages[chosen]
        scratch = masks.get((-1, len(block)))  # the AND's result, in memory set aside once per piece's size
        if scratch is None:
            scratch = masks[(-1, len(block))] = np.empty((len(block), layout.page_size // 8), dtype=np.uint64)
        # 8 bytes at a time (a page size is a multiple of 8)
        if np.bitwise_and(block.view(np.uint64), mask.view(np.uint64), out=scratch).any():
            return True
    return False


def _refuse_rows_after_data(page_types: np.ndarray, page_rows: np.ndarray) -> None:
    """Rows on a page that is not a data page after a data page: ReadStat reads as many of them as the data page
    before held (it keeps that page's count), not the row-size subheader's count read here."""
    data = np.flatnonzero(page_types == _PAGE_DATA)
    if len(data):
        late = np.flatnonzero((page_types != _PAGE_DATA) & (page_rows > 0) & (np.arange(len(page_types)) > data[0]))
        if len(late):
            raise RawRefused(f"mix page {int(late[0]) + 1} holds rows after a data page")


def first_numbers(path: Path, columns: Sequence[tuple[str, int, int]], rows: int, expected_rows: int
                  ) -> dict[str, np.ndarray]:
    """The numeric ``columns`` (name, offset, LENGTH) of the first ``rows`` rows (fewer in a smaller file), from
    the first pages only, as float64 arrays (a missing value: a NaN holding its tag byte, see :func:`_split`)."""
    layout = _checked_layout(path, columns, expected_rows)
    pieces: dict[str, list[np.ndarray]] = {name: [] for name, _, _ in columns}
    done = 0
    with io.FileIO(path, "r") as fh:
        fh.seek(layout.header_length)
        for index in range(layout.page_count):
            if done >= rows:
                break
            page = np.empty(layout.page_size, dtype=np.uint8)
            _read_exactly(fh, page)
            first, count, _ = _page_rows(page.reshape(1, layout.page_size), layout, done, index)
            got = int(count.sum())
            for name, offset, width in columns:
                out = np.empty(got, dtype=np.uint64)
                _gather(page, layout, first, count, offset, width, out)
                pieces[name].append(out)
            done += got
    return {name: _doubles(np.concatenate(pieces[name] or [np.empty(0, dtype=np.uint64)])[:rows], width,
                           layout.little) for name, _, width in columns}


def distinct_values(values: np.ndarray) -> int:
    """How many different values (a missing value by its tag: ``.``, ``._``, ``.A``-``.Z``) ``values`` holds."""
    words = values.view(np.uint64)
    tags = (words >> np.uint64(40)) & np.uint64(0xFF)
    return int(np.unique(np.where(np.isnan(values), np.uint64(0xFFF8 << 48) | tags, words)).size)


def write_sampled_pages(path: Path, found: RawColumns, blocks: Sequence[tuple[int, int]], dest: Path) -> np.ndarray:
    """Write to ``dest`` a .sas7bdat that holds the header and every page of ``path`` but the data pages whose
    rows are in none of ``blocks`` (row offset, count) and that are neither the first nor the last data page, its
    page count and row count rewritten to match; return the row number in ``path`` of each row of ``dest``.

    pyreadstat reads such a file in milliseconds where reading the sampled rows of ``path`` itself walks every
    page of it for each block (about 0.3 s a read for a 1.2 GB file).  The pages are copied byte for byte, so
    pyreadstat decodes the very bytes the raw read decoded; which rows a page holds comes from its own header
    (a data page) or the row-size subheader (a mix page), as for ReadStat."""
    layout = found.layout
    rows = found.page_rows
    starts = np.cumsum(rows) - rows
    data = np.flatnonzero(found.page_types == _PAGE_DATA)
    # every page without rows, and the first and the last data page whatever they hold: ReadStat takes column text
    # from the pages before the first data page and, backwards, after the last one (in that order), and reads a
    # page's rows with the count of the data page before it; a copy without them could show it other metadata
    keep = (found.page_types != _PAGE_DATA) | (rows == 0)
    keep[data[[0, -1]] if len(data) else []] = True
    for offset, count in blocks:
        keep |= (starts < offset + count) & (starts + rows > offset) & (rows > 0)
    pages = np.flatnonzero(keep)
    meta = np.flatnonzero(found.page_types != _PAGE_DATA)
    if len(data) and ((meta > data[0]) & (meta < data[-1])).any():
        # ReadStat takes metadata only from the pages before the first data page and after the last one: leaving
        # data pages out could show it one more
        raise RawRefused(f"page {int(meta[(meta > data[0]) & (meta < data[-1])][0]) + 1} holds no rows between data "
                         "pages")
    e = "<" if layout.little else ">"
    word = e + ("Q" if layout.u64 else "I")
    int_len = 8 if layout.u64 else 4
    total = int(rows[pages].sum())
    with path.open("rb") as src, dest.open("wb") as out:
        header = bytearray(src.read(layout.header_length))
        pad = 4 if header[35] == _ALIGN_4 else 0
        struct.pack_into(word, header, 204 + pad, len(pages))
        out.write(header)
        for index in pages.tolist():
            at = layout.header_length + index * layout.page_size
            src.seek(at)
            page = bytearray(src.read(layout.page_size))
            if len(page) != layout.page_size:
                raise RawRefused("the file ended before its last page")
            if at <= layout.row_size_at < at + layout.page_size:
                struct.pack_into(word, page, layout.row_size_at - at + 6 * int_len, total)
            out.write(page)
    return np.concatenate([np.arange(starts[i], starts[i] + rows[i]) for i in pages.tolist()] or
                          [np.empty(0, dtype=np.int64)])


def _starts_with_a_mark(words: np.ndarray, width: int, little: bool) -> np.ndarray:
    """The rows whose ``width`` stored bytes (the last ones of each 64-bit word, in the file's order, see
    :func:`_gather`) start with a byte-order mark."""
    hit = np.zeros(len(words), dtype=bool)
    for mark in BYTE_ORDER_MARKS:
        k = len(mark)
        if k > width:
            continue
        # the first k stored bytes: little-endian, the word's top bytes (the first one lowest); big-endian, its
        # low bytes (the first one highest)
        shift = np.uint64(8 * (8 - width) if little else 8 * (width - k))
        first = (words >> shift) & np.uint64((1 << 8 * k) - 1)
        hit |= first == np.uint64(int.from_bytes(mark, "little" if little else "big"))
    return np.flatnonzero(hit)


def _read_exactly(fh: io.FileIO, chunk: np.ndarray) -> None:
    view = chunk.data
    got = 0
    while got < len(view):
        n = fh.readinto(view[got:])
        if not n:
            raise RawRefused("the file ended before its last page")
        got += n


def _gather(chunk: np.ndarray, layout: Layout, first: np.ndarray, count: np.ndarray, offset: int, width: int,
            out: np.ndarray) -> None:
    """One column's stored bytes of the rows of a chunk of pages, in file order, into ``out`` (contiguous) as 64-bit
    words.  Each value is read as the 8 bytes that END with its last stored byte (a page's rows follow its header or
    its subheader pointers, so those bytes are in the page); :func:`_doubles` drops the bytes before the stored
    ones.  The full data pages that follow each other go through one strided view (their rows start at the same
    place in every page), the other pages one by one."""
    word = "<u8" if layout.little else ">u8"
    back = width - 8
    page_first_row = np.cumsum(count) - count
    data = np.flatnonzero((first == layout.page_header) & (count > 0))
    rest = np.flatnonzero((first != layout.page_header) & (count > 0))
    if len(data):
        # the full data pages, when they follow each other (the usual case): one strided copy
        height = int(count[data].max())
        full = data[count[data] == height]
        if full[-1] - full[0] + 1 == len(full):
            cells = np.ndarray((len(full), height), dtype=word, buffer=chunk,
                               offset=int(full[0]) * layout.page_size + layout.page_header + offset + back,
                               strides=(layout.page_size, layout.row_length))
            lo = int(page_first_row[full[0]])
            target = out[lo:lo + len(full) * height].reshape(len(full), height)
            if not np.may_share_memory(target, out):  # a copy would take the values
                raise RawRefused("internal: the rows to fill are not contiguous")
            target[...] = cells
            partial = data[count[data] != height]
            if len(partial):
                rest = np.union1d(rest, partial)
        else:
            rest = np.union1d(rest, data)
    for index in rest.tolist():
        n = int(count[index])
        cells = np.ndarray((n,), dtype=word, buffer=chunk,
                           offset=index * layout.page_size + int(first[index]) + offset + back,
                           strides=(layout.row_length,))
        out[page_first_row[index]:page_first_row[index] + n] = cells


def _populated(count: int) -> np.ndarray:
    """An uninitialised uint64 array of ``count`` items in memory mapped for it alone, in 4 KB pages: numpy asks
    the kernel for transparent huge pages for its big arrays, and a fault then stalls while the kernel compacts
    memory into 2 MB pages (at 5M rows, 0.3-1 s more for 15 columns on a virtual machine; mapping the pages in at
    once (MAP_POPULATE) instead held up polars-readstat's thread meanwhile)."""
    import mmap

    if count < (1 << 16) or not hasattr(mmap, "MAP_ANONYMOUS"):
        return np.empty(count, dtype=np.uint64)
    try:
        region = mmap.mmap(-1, count * 8, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, ValueError):
        return np.empty(count, dtype=np.uint64)
    return np.frombuffer(region, dtype=np.uint64)  # the array keeps the mapping alive


def _doubles(words: np.ndarray, width: int, little: bool) -> np.ndarray:
    """64-bit words whose last ``width`` bytes (in the file's order) are the stored ones -> native float64, in
    place: SAS stores the double's most significant bytes, the rest are zero."""
    if width < 8:
        drop = np.uint64(8 * (8 - width))
        # little-endian: the stored bytes are the word's top bytes, the low ones belong to the neighbour;
        # big-endian: they are its low bytes, moved to the top
        if little:
            np.right_shift(words, drop, out=words)
        np.left_shift(words, drop, out=words)
    return words.view(np.float64)


def _nulled(name: str, values: np.ndarray, missing: np.ndarray) -> pl.Series:
    """``values`` as a Float64 column, null where ``missing``, without copying them: an Arrow array over the same
    buffer with a validity bitmap (copying 40 MB a column at 5M rows cost a page fault per 4 KB)."""
    import pyarrow as pa

    if not missing.any():
        series = pl.from_arrow(pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)]))
    else:
        valid = np.packbits(~missing, bitorder="little")
        series = pl.from_arrow(pa.Array.from_buffers(pa.float64(), len(values),
                                                     [pa.py_buffer(valid), pa.py_buffer(values)],
                                                     null_count=int(missing.sum())))
    assert isinstance(series, pl.Series)
    return series.alias(name)


#: ReadStat's tag byte -> the ASCII code of parity's tag ('A'-'Z', '_'); 0: the system missing value
_CODES = np.zeros(256, dtype=np.uint8)
_CODES[0] = ord("_")
_CODES[ord("_")] = ord("_")
for _k in range(26):
    _CODES[2 + _k] = _CODES[ord("A") + _k] = ord("A") + _k


def _split(name: str, values: np.ndarray) -> tuple[pl.Series, pl.Series]:
    """(values with every NaN null, the tag of each special missing value, else null)."""
    missing = np.isnan(values)
    numbers = _nulled(name, values, missing)
    tags = pl.repeat(None, len(values), dtype=pl.String, eager=True).alias(name)
    where = np.flatnonzero(missing)
    if len(where):
        byte = (~(values[where].view(np.uint64) >> np.uint64(40))) & np.uint64(0xFF)
        codes = _CODES[byte.astype(np.intp)]
        tagged = codes != 0
        if tagged.any():
            letters = codes[tagged].view("S1").astype("U1")
            tags = tags.scatter(where[tagged], pl.Series(letters, dtype=pl.String))
    return numbers, tags
