"""A fast path for .sas7bdat files: polars-readstat behind safeguards, with pyreadstat as the judge.

polars-readstat (Rust, multi-threaded) reads sas7bdat about ten times faster than pyreadstat, but an evaluation on
856 real SAS files found it wrong where pyreadstat is right on 54 of them: wrong row sets in files with deleted
rows, garbled names in SAS 7/8 files, fractional dates rounded, times < 0 or >= 24 h read as null, datetimes off by
1 us, no encoding override, formats without widths, labels and informats lost.  So it only ever supplies the raw
values of columns it reads exactly, and only for a file that passes every check below; anything else is read by
pyreadstat (:func:`parity.sources.sas.read_sas`), the reference.

- **Metadata** (names, types, formats with widths, labels, informats, encoding, the row count without deleted rows)
  always comes from pyreadstat: from its read of the first sampled rows (a metadata-only read would walk every
  page to count rows), the row count proven by its read of the last rows (pyreadstat skips deleted rows); in a
  split read from its read of a copy of the sampled rows' pages, the row count proven by the data pages.
- **Values**: character and plain numeric columns from polars-readstat (special missing values ``.A``-``.Z``/``._``
  kept as tags); columns polars-readstat converts to dates, datetimes or times (which loses fractions, times
  outside 0-24 h and microseconds) are read as raw SAS numbers from the data pages of an uncompressed file
  (:mod:`parity.sources.sas_raw`), else by pyreadstat.
- **Split read** (rows kept in memory, an uncompressed file with a plain numeric column): every numeric column from
  the data pages; polars-readstat reads only the character columns and one plain numeric (the probe: the one
  whose values differ most in the first rows of the data pages, a constant flag would prove nothing), whose two
  readings must be equal in every row; pyreadstat reads a copy of the pages that hold the sampled rows
  (:func:`parity.sources.sas_raw.write_sampled_pages`: milliseconds, where a read of the sampled rows of the file
  itself walks every page header), and every row of those pages must be the same.
- **Refused up front**, cheaply from the header and both readers' metadata: an ``encoding`` override (the fast
  reader has none), a file written by SAS before release 9 (its column names and formats come out garbled), an
  encoding other than UTF-8, Latin-1 or Windows-1252, deleted rows (the header's row count differs from
  pyreadstat's), names or types that differ between the readers; all before the fast reader reads any data.
- **Verified after the read**: the row count equals pyreadstat's; character values hold no replacement character
  (bytes the file's encoding cannot decode); in an uncompressed file no character value starts with a
  byte-order mark (polars-readstat's decoder sniffs one: it drops a UTF-8 mark and decodes a value after a UTF-16
  mark as UTF-16; the bytes are looked at in the data pages); sampled rows (the first, the last and seeded random blocks) read by
  both readers are identical, values, special-missing tags and empty strings alike; and, when the file has
  date/time columns, in every row polars-readstat's converted value is what it makes of the raw value (in a split
  read: the probe's two readings are equal), so the readers' rows line up over the whole file, not only where
  sampled.

A refusal is never an error: the caller reads the file with pyreadstat and the report's provenance says which
reader read it and why the fast path was refused (``reader``, ``reader_note``).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS
from parity.sources.base import SPECIAL_TAGS, tag_column

FAST_READER = "polars-readstat"
REFERENCE_READER = "pyreadstat"
#: set to ``pyreadstat`` to read every SAS file with the reference reader only
READER_ENV = "PARITY_SAS_READER"
#: encodings whose decoding both readers agree on byte for byte (pyreadstat's names for them)
VERIFIED_ENCODINGS = frozenset({"UTF-8", "ISO-8859-1", "LATIN1", "WINDOWS-1252", "CP1252"})
#: rows compared at the start and at the end of the file, and in each of RANDOM_BLOCKS blocks in between
EDGE_ROWS = 64
RANDOM_BLOCKS = 2
RANDOM_ROWS = 16
#: the informative-null indicator columns polars-readstat adds (a name no SAS column can have)
_INDICATOR = "\x1fparity_null"
_RAW = "\x1fparity_raw"
_RAW_TAG = "\x1fparity_raw_tag"
_FAST_TAG = "\x1fparity_fast_tag"
_MISALIGNED = "\x1fparity_misaligned"
_TAG_ENUM = pl.Enum(sorted(SPECIAL_TAGS))
#: bytes Windows-1252 leaves undefined: polars-readstat decodes them to C1 controls, iconv refuses them
_CP1252_UNDEFINED = "\u0081\u008d\u008f\u0090\u009d"


@dataclass(frozen=True)
class FastScan:
    """What the fast path gives: the rows and pyreadstat's metadata (``meta``, its ``number_rows`` the row count
    without deleted rows), or, when refused, the ``reason``.

    The rows hold every column under its name with raw SAS values (Float64 or String) plus a :func:`tag_column`
    (String) for each numeric column that holds special missing values (``found``: the tags per column).  They are
    in ``frame``, or, when a ``sink`` was asked for, in that parquet file (written in bounded memory)."""

    frame: pl.DataFrame | None
    meta: Any = None
    reason: str | None = None
    #: columns whose values pyreadstat read because polars-readstat converts them (dates, datetimes, times)
    reference_columns: tuple[str, ...] = field(default=())
    sink: Path | None = None
    found: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: how the date/time columns were read, when not by pyreadstat
    temporal_note: str | None = None

    @property
    def taken(self) -> bool:
        return self.reason is None

    @property
    def reader(self) -> str:
        return FAST_READER if self.taken else REFERENCE_READER

    def scan(self) -> pl.LazyFrame:
        """The rows, lazily (from ``frame`` or the ``sink`` file)."""
        if self.frame is not None:
            return self.frame.lazy()
        if self.sink is None:
            raise ValueError(f"the fast path was refused: {self.reason}")
        return pl.scan_parquet(self.sink)

    def provenance(self) -> dict[str, Any]:
        """``reader`` (and ``reader_note``: why the fast path was refused, or which columns pyreadstat read)."""
        out: dict[str, Any] = {"reader": self.reader}
        if self.reason:
            out["reader_note"] = f"fast path refused: {self.reason}"
        elif self.reference_columns:
            out["reader_note"] = (f"{self.temporal_note or f'date/time columns read by {REFERENCE_READER}'}: "
                                  f"{', '.join(self.reference_columns)}")
        elif self.temporal_note:
            out["reader_note"] = self.temporal_note
        return out


def fast_reader_available() -> bool:
    try:
        import polars_readstat  # noqa: F401
    except ImportError:
        return False
    return True


def refused(reason: str) -> FastScan:
    return FastScan(None, None, reason or "refused")


def scan_sas_fast(path: Path, *, encoding: str | None = None, seed: int = 0, sink: Path | None = None,
                  memory_budget: int = 0) -> FastScan:
    """Read ``path`` with polars-readstat where that is provably what pyreadstat reads, else say why not.

    With ``sink`` the rows are streamed into that parquet file (peak memory: the date/time columns and a batch),
    unless they fit ``memory_budget`` bytes in memory (:func:`frame_bytes`, an upper bound), in which case they
    come back in memory and ``sink`` is not written; without ``sink`` they always come back in memory.  Never
    raises for a file the fast reader cannot read or reads differently: the reason comes back and the caller falls
    back to pyreadstat, which then gives the error a user should see for a broken file.  A refused ``sink`` is not
    left behind."""
    path = Path(path)
    reason = _refusal_up_front(path, encoding)
    if reason is not None:
        return refused(reason)
    staging = None if sink is None else sink.with_name(f".{sink.name}.{os.getpid()}.staging")
    try:
        return _scan(path, seed, sink, staging, memory_budget)
    except _Refused as exc:
        if sink is not None:
            sink.unlink(missing_ok=True)
        return refused(str(exc))
    except Exception as exc:
        if sink is not None:
            sink.unlink(missing_ok=True)
        return refused(f"{FAST_READER} failed ({type(exc).__name__}: {_short(exc)})")
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if sink is not None:
            sink.unlink(missing_ok=True)
        if type(exc).__name__ != "PanicException":
            raise
        return refused(f"{FAST_READER} panicked ({_short(exc)})")
    finally:
        if staging is not None:
            staging.unlink(missing_ok=True)


class _Refused(Exception):
    pass


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _refusal_up_front(path: Path, encoding: str | None) -> str | None:
    if os.environ.get(READER_ENV, "").strip().lower() == REFERENCE_READER:
        return f"{READER_ENV}={REFERENCE_READER}"
    if path.suffix.lower() != ".sas7bdat":
        return f"{path.suffix} files are read by {REFERENCE_READER}"
    if encoding is not None:
        return f"encoding = {encoding!r} is set for this dataset and {FAST_READER} cannot override an encoding"
    if not fast_reader_available():
        return f"{FAST_READER} is not installed"
    from parity.sources.sasheader import read_header

    try:
        header = read_header(path)
    except (ValueError, OSError) as exc:
        return f"the header cannot be read ({_short(exc)})"
    release = header.sas_release or ""
    if not release[:1].isdigit() or int(release.split(".")[0]) < 9:
        return f"written by SAS release {release or '?'} (before 9: {FAST_READER} garbles names and formats)"
    return None


def _reference(path: Path, **options: Any) -> tuple[pl.DataFrame, Any]:
    """A pyreadstat read of raw values with special missing values kept; a failure refuses the fast path (the
    fallback's own read then gives the user the error)."""
    import pyreadstat

    try:
        return pyreadstat.read_sas7bdat(str(path), user_missing=True, disable_datetime_conversion=True,
                                        output_format="polars", formats_as_category=False, **options)
    except Exception as exc:
        if isinstance(exc, UnicodeDecodeError):  # parity.sources.sas reads it (a UTF-8 value cut by a LENGTH)
            raise _Refused("some text is not valid in the file's encoding (e.g. a UTF-8 character cut by a SAS "
                           f"LENGTH: {_short(exc)}); read by {REFERENCE_READER} byte for byte") from None
        raise _Refused(f"{REFERENCE_READER} cannot read it ({type(exc).__name__}: {_short(exc)})") from None


def _trace(stage: str, clock: list[float]) -> None:
    """With PARITY_ENGINE_TRACE set: the seconds and CPU seconds of each stage of the fast read, on stderr."""
    if os.environ.get("PARITY_ENGINE_TRACE"):
        import resource
        import sys
        import time

        now = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        if clock:
            print(f"parity sas fast path: {stage}: {now - clock[0]:.2f} s (CPU {cpu - clock[1]:.2f} s), peak RSS "
                  f"{usage.ru_maxrss / 1024:,.0f} MB", file=sys.stderr)
        clock[:] = [now, cpu]


def _scan(path: Path, seed: int, sink: Path | None, staging: Path | None, memory_budget: int) -> FastScan:
    from polars_readstat import ScanReadstat

    clock: list[float] = []
    _trace("start", clock)
    fast = ScanReadstat(str(path))
    schema = dict(fast.schema)
    rows = fast.metadata.get("row_count")
    if not isinstance(rows, int) or rows < 0:
        raise _Refused(f"{FAST_READER} finds no row count in the header")
    if sink is not None and frame_bytes(rows, fast.metadata, schema) <= memory_budget:
        sink = staging = None  # the rows fit in memory: no parquet round trip
    # rows kept in memory from an uncompressed file with a plain numeric column: polars-readstat reads only the
    # character columns and one numeric (by a thread) while the numerics are read from the data pages, and
    # pyreadstat reads a copy of the pages that hold the sampled rows
    blocks = sample_blocks(rows, seed)
    if staging is None and _uncompressed(fast.metadata):
        done = _split_scan(path, fast, schema, rows, blocks, sink, clock)
        if done is not None:
            return done
    return _scan_rows(path, blocks, sink, staging, fast, schema, rows, clock)


def _scan_rows(path: Path, blocks: list[tuple[int, int]], sink: Path | None, staging: Path | None, fast: Any,
               schema: dict[str, Any], rows: int, clock: list[float]) -> FastScan:
    from polars_readstat import scan_readstat

    # pyreadstat's metadata comes with the first sampled rows (one short read, where a metadata-only read walks
    # every page to count the rows); the row count without deleted rows is proven by the last block below
    first = blocks[0][1] if blocks else 0
    whole = len(blocks) <= 1
    head, meta = _reference(path, row_limit=first + 1 if whole else first)
    file_encoding = _verified_meta(fast, schema, meta)
    names = list(meta.column_names)
    numeric, temporal, strings = _column_roles(schema, meta, names)
    _trace("metadata and the first rows", clock)
    if whole and head.height != rows:
        raise _Refused(f"the header counts {rows} rows, {REFERENCE_READER} {head.height} (deleted rows)")
    samples: list[tuple[int, pl.DataFrame]] = [(0, head)]

    # pyreadstat skips deleted rows and counts rows after them: reading one row past the header's last row
    # gives exactly the rows up to it only when pyreadstat's count is the header's.  The other sampled blocks are
    # read by a thread meanwhile (pyreadstat walks the pages up to a block; polars-readstat releases the GIL), and,
    # when the rows are kept in memory, the date/time columns' raw values first
    in_memory = staging is None

    def temporal_raw() -> tuple[pl.DataFrame, str]:
        # their raw values from the data pages (an uncompressed file), else read by pyreadstat (8 bytes a row
        # each, and their tags, in memory)
        return _temporal_raw(path, temporal, rows, fast.metadata, strings)

    background = _Background(path, [] if whole else blocks, rows, temporal_raw if in_memory else None)
    try:
        extra, raw_source = (pl.DataFrame(), REFERENCE_READER) if in_memory else temporal_raw()
        options: dict[str, Any] = {"preserve_order": True}
        if numeric or temporal:
            options["informative_nulls"] = {"columns": numeric + temporal, "mode": "separate_column",
                                            "suffix": _INDICATOR, "use_value_labels": False}
        # batch by batch on the streaming engine; no projection pushdown: polars-readstat loses the indicator
        # columns under one
        whole_pass = pl.QueryOptFlags(projection_pushdown=False)
        # the special-missing indicators (".A", "._") become a 1-byte Enum of the tags batch by batch (as strings
        # they would take 16 bytes a row each; an indicator outside .A-.Z/._ fails the cast)
        lf = scan_readstat(str(path), **options).select(
            [pl.col(n) for n in names] + [_tag(n).alias(f"{n}{_FAST_TAG}") for n in numeric + temporal])
        misaligned = (pl.any_horizontal(_misaligned(n, schema[n]) for n in temporal) if temporal else pl.lit(False)
                      ).alias(_MISALIGNED)
        background.reading.set()  # pyreadstat holds the GIL while it reads: it starts once polars-readstat runs
        if in_memory:
            frame = lf.collect(engine="streaming", optimizations=whole_pass)
            _trace(f"{FAST_READER}", clock)
            extra, raw_source = background.temporal()
            _trace(f"waited for the date/time columns ({raw_source})", clock)
            if temporal and extra.height != frame.height:  # e.g. a page polars-readstat skips (0x0180)
                raise _Refused(f"{FAST_READER} read {frame.height} rows, {raw_source} {extra.height}")
            if temporal:  # added in the table's chunks: a column chunked otherwise makes polars copy all of them
                pair = frame.select([*temporal, *(f"{n}{_FAST_TAG}" for n in temporal)]).hstack(extra)
                lengths = frame.get_column(names[0]).chunk_lengths()
                frame = frame.with_columns(_chunked(c, lengths)
                                           for c in [*extra.get_columns(), pair.select(misaligned).to_series()])
                misaligned = pl.col(_MISALIGNED)
            lf = frame.lazy()
        elif temporal:
            lf = pl.concat([lf, extra.lazy()], how="horizontal", strict=True)
        lf = lf.select([pl.col(f"{n}{_RAW}").alias(n) if n in temporal else pl.col(n) for n in names]
                       + [pl.col(f"{n}{_FAST_TAG}").alias(tag_column(n)) for n in numeric]
                       + [pl.col(f"{n}{_RAW_TAG}").alias(tag_column(n)) for n in temporal]
                       + ([misaligned] if temporal else []))
        if staging is None:
            table = lf.collect().lazy()
        else:
            lf.sink_parquet(staging, optimizations=whole_pass, compression="lz4", statistics=False)
            table = pl.scan_parquet(staging)
            _trace(f"{FAST_READER} (date/time columns: {raw_source})", clock)
        samples += background.samples()
        _trace("waited for the sampled rows", clock)
    finally:
        background.reading.set()
        background.join()
    # the date/time columns read by pyreadstat are its values already; raw ones are checked like the rest
    checked = [n for n in names if n not in temporal or raw_source != REFERENCE_READER]
    note = None
    if temporal and raw_source != REFERENCE_READER:
        note = f"date/time columns read from the data pages, checked against {REFERENCE_READER}"
    return _checked(path, table, meta, rows, names, numeric + temporal, temporal, strings, file_encoding, samples,
                    sink, note, clock, checked, f"{REFERENCE_READER}'s raw values" if raw_source == REFERENCE_READER
                    else "the values read from the data pages")


def _checked(path: Path, table: pl.LazyFrame, meta: Any, rows: int, names: list[str], numbers: list[str],
             reference: list[str], strings: list[str], file_encoding: str, samples: list[tuple[int, pl.DataFrame]],
             sink: Path | None, note: str | None, clock: list[float], checked: list[str] | None = None,
             aligned_with: str = "the values read from the data pages", ascii_text: bool = False) -> FastScan:
    """The rows read (every column under its name, a tag column per numeric, and, when two readers' rows must
    line up, the misaligned flag per row) checked: the row count, the rows lining up, the text decoding, the
    sampled rows against pyreadstat's; then kept in memory or written to ``sink``."""
    meta.number_rows = rows
    read = table.select(pl.len()).collect().item()
    if read != rows:
        raise _Refused(f"{FAST_READER} read {read} rows, {REFERENCE_READER} counts {rows}")
    schema = table.collect_schema()
    if _MISALIGNED in schema:  # every row, not only the sampled ones: the readers' rows line up
        first_bad = table.select(pl.col(_MISALIGNED).arg_max().alias("at"), pl.col(_MISALIGNED).any().alias("any")
                                 ).collect().row(0)
        if first_bad[1]:
            raise _Refused(f"row {first_bad[0] + 1}: {FAST_READER}'s values do not match {aligned_with} (the "
                           "readers' rows do not line up)")
    tag_names = [tag_column(n) for n in names if n in numbers and tag_column(n) in schema]
    uniques = table.select(pl.col(t).drop_nulls().unique().cast(pl.String).implode() for t in tag_names).collect()
    found = {n: tuple(sorted(uniques.get_column(tag_column(n))[0].to_list())) for n in names
             if tag_column(n) in tag_names and uniques.get_column(tag_column(n))[0].len()}
    if not ascii_text:  # (bytes the data pages show to be ASCII decode alike in every encoding read here)
        _check_decoding(table.select(strings), file_encoding)
    table = table.select([*names, *(pl.col(tag_column(n)).cast(pl.String) for n in found)])
    for offset, sample in samples:
        _compare(table.slice(offset, sample.height).collect(), sample, names if checked is None else checked,
                 set(strings), offset)
    _trace("checks", clock)
    if sink is None:
        return FastScan(table.collect(), meta, None, tuple(reference), None, found, note)
    table.sink_parquet(sink, compression="lz4", statistics=False)
    return FastScan(None, meta, None, tuple(reference), sink, found, note)


def frame_bytes(rows: int, fast_meta: Mapping[str, Any], schema: Mapping[str, Any]) -> int:
    """An upper bound of the bytes the fast path's rows take in memory while they are read: a numeric 8 bytes a row
    and 1 for its tag; a date/time column also its raw value and tag beside polars-readstat's converted value; a
    string 16 bytes (polars' view) plus its length when longer than the 12 bytes a view holds inline.  A column
    without a known length counts as huge."""
    per_row = 0
    for column in fast_meta.get("columns") or [{}]:
        length = column.get("length") if isinstance(column, Mapping) else None
        if not isinstance(length, int) or length < 0:
            return 1 << 62
        if schema.get(column.get("name")) == pl.String:
            per_row += 16 + (length if length > 12 else 0)
        else:
            per_row += 9 if schema.get(column.get("name")) == pl.Float64 else 26
    return rows * per_row


def _tag(name: str) -> pl.Expr:
    """polars-readstat's special-missing indicator of ``name`` as the tag Enum ('.A' -> 'A')."""
    return pl.col(f"{name}{_INDICATOR}").str.strip_prefix(".").cast(_TAG_ENUM)


def _chunked(series: pl.Series, lengths: list[int]) -> pl.Series:
    """``series`` in chunks of ``lengths`` rows (views, not copies)."""
    if len(lengths) <= 1:
        return series
    offsets = [0]
    for length in lengths[:-1]:
        offsets.append(offsets[-1] + length)
    return pl.concat([series.slice(o, n) for o, n in zip(offsets, lengths, strict=True)], rechunk=False)


class _Background:
    """pyreadstat's reads while polars-readstat reads (it releases the GIL): the date/time columns' raw values when
    ``temporal`` is given, then, once ``reading`` is set, the sampled ``blocks`` after the first (the last one
    proves the row count)."""

    def __init__(self, path: Path, blocks: list[tuple[int, int]], rows: int,
                 temporal: Callable[[], tuple[pl.DataFrame, str]] | None) -> None:
        self.path, self.blocks, self.rows, self.temporal_job = path, blocks, rows, temporal
        self.raw: tuple[pl.DataFrame, str] | None = None
        self.raw_done = threading.Event()
        #: set by the reading thread just before polars-readstat reads (and releases the GIL), which pyreadstat
        #: would otherwise hold while the reading thread still needs it
        self.reading = threading.Event()
        self.read: list[tuple[int, pl.DataFrame]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"parity-samples-{path.name}")
        self.thread.start()

    def _run(self) -> None:
        try:
            if self.temporal_job is not None:
                self.raw = self.temporal_job()
            self.raw_done.set()
            if len(self.blocks) < 2:
                return
            self.reading.wait()
            self.read += _sampled(self.path, self.blocks, self.rows)
        except BaseException as exc:  # handed to the reading thread by temporal() and samples()
            self.error = exc
        finally:
            self.raw_done.set()

    def join(self) -> None:
        self.thread.join()

    def temporal(self) -> tuple[pl.DataFrame, str]:
        self.raw_done.wait()
        if self.raw is None:
            self.join()
            assert self.error is not None
            raise self.error
        return self.raw

    def samples(self) -> list[tuple[int, pl.DataFrame]]:
        self.join()
        if self.error is not None:
            raise self.error
        return self.read


def _sampled(path: Path, blocks: list[tuple[int, int]], rows: int) -> list[tuple[int, pl.DataFrame]]:
    """pyreadstat's reads of the sampled ``blocks`` after the first (read with the metadata); the last one, read one
    row further, proves the header's row count (pyreadstat skips deleted rows)."""
    if len(blocks) < 2:
        return []
    read = [(offset, _reference(path, row_offset=offset, row_limit=length)[0]) for offset, length in blocks[1:-1]]
    offset, length = blocks[-1]
    tail = _reference(path, row_offset=offset, row_limit=length + 1)[0]
    if tail.height != length:
        raise _Refused(f"the header counts {rows} rows, {REFERENCE_READER} {offset + tail.height} (deleted rows)")
    return [*read, (offset, tail)]


def _temporal_raw(path: Path, names: list[str], rows: int, fast_meta: Mapping[str, Any],
                  strings: list[str] | None = None) -> tuple[pl.DataFrame, str]:
    """The date/time columns' raw values and tags as ``<name><_RAW>`` (Float64) and ``<name><_RAW_TAG>`` (tag
    Enum), and who read them: the data pages of an uncompressed file (:mod:`parity.sources.sas_raw`), else
    pyreadstat.  An uncompressed file's character columns ``strings`` are checked for values polars-readstat
    decodes otherwise in the same pass (:func:`_refuse_marked`)."""
    from parity.sources.sas_raw import RawRefused, read_columns

    strings = strings or []
    if not names and not strings:
        return pl.DataFrame(), REFERENCE_READER
    layout = _layout_of(fast_meta)
    if _uncompressed(fast_meta):
        try:
            found = read_columns(path, _where(layout, names), _where(layout, strings), rows)
        except (RawRefused, OSError):
            pass
        else:
            _refuse_marked(found.marked)
            if not names:
                return pl.DataFrame(), REFERENCE_READER
            return pl.DataFrame([s for n in names for s in (found.numbers[n][0].alias(f"{n}{_RAW}"),
                                                            found.numbers[n][1].cast(_TAG_ENUM).alias(
                                                                f"{n}{_RAW_TAG}"))]), "the data pages"
    return _reference_columns(path, names, rows), REFERENCE_READER


def _layout_of(fast_meta: Mapping[str, Any]) -> dict[Any, Mapping[str, Any]]:
    return {c.get("name"): c for c in fast_meta.get("columns") or [] if isinstance(c, Mapping)}


def _where(layout: Mapping[Any, Mapping[str, Any]], names: list[str]) -> list[tuple[str, int, int]]:
    """(name, offset in the row, length) of each column; a column without them refuses the raw read."""
    from parity.sources.sas_raw import RawRefused

    try:
        return [(n, int(layout[n]["offset"]), int(layout[n]["length"])) for n in names]
    except (KeyError, TypeError, ValueError) as exc:
        raise RawRefused(f"no offset and length of a column ({_short(exc)})") from None


def _refuse_marked(marked: Mapping[str, int]) -> None:
    """A character value that starts with a byte-order mark: polars-readstat drops a UTF-8 one and decodes the
    value after a UTF-16 one as UTF-16 (where pyreadstat decodes the bytes in the file's encoding)."""
    for name, row in marked.items():
        raise _Refused(f"row {row + 1} of column {name!r} starts with a byte-order mark, which {FAST_READER} "
                       "decodes otherwise")


def _uncompressed(fast_meta: Mapping[str, Any]) -> bool:
    return str(fast_meta.get("compression") or "").lower() in ("", "none")


class _SplitRead:
    """polars-readstat reading the character columns and one plain numeric (the probe, :meth:`start`) by a thread
    (it releases the GIL), while the numerics are read from the data pages."""

    def __init__(self, path: Path, strings: list[str]) -> None:
        self.path, self.columns = path, list(strings)
        self.frame: pl.DataFrame | None = None
        self.error: BaseException | None = None
        #: set just before polars-readstat reads (and releases the GIL, which pyreadstat's reads then hold)
        self.started = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, probe: str) -> None:
        self.columns.append(probe)
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"parity-text-{self.path.name}")
        self.thread.start()
        self.started.wait()

    def _run(self) -> None:
        try:
            from polars_readstat import scan_readstat

            query = scan_readstat(str(self.path), preserve_order=True).select(self.columns)
            self.started.set()
            self.frame = query.collect(engine="streaming")
        except BaseException as exc:  # re-raised by result() in the reading thread
            self.error = exc
        finally:
            self.started.set()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def result(self) -> pl.DataFrame:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.frame is not None
        return self.frame


def _behind(work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)`` in a thread a little below the caller's priority (5 nice steps more, Linux): polars-readstat's
    read, which takes longer, then keeps its core while this work takes the rest.  Never above the caller's
    priority: a run under ``nice -n 19`` (as root, who may raise it) stays at 19."""
    import os

    out: list[Any] = []
    errors: list[BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            with contextlib.suppress(AttributeError, OSError):
                me = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + 5))
            out.append(work(*args))
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)
        finally:
            finished.set()

    thread = threading.Thread(target=run, daemon=True, name="parity-pages")
    thread.start()
    try:
        thread.join()
    finally:
        # interrupted while waiting (Ctrl-C): the thread ends its pass over the file before the read unwinds (an
        # interrupted join leaves is_alive() False while the thread still runs)
        finished.wait()
    if errors:
        raise errors[0]
    return out[0]


def _probe(head: Mapping[str, Any], numeric: list[str]) -> str:
    """The plain numeric whose values in the first rows (``head``: read from the data pages, numpy only, so that
    polars-readstat starts at once) differ most, the first of equals: its two readings prove the rows line up only
    where its values change from row to row (a flag that holds one value proves nothing)."""
    from parity.sources.sas_raw import distinct_values

    return max(numeric, key=lambda name: distinct_values(head[name]))


def _split_scan(path: Path, fast: Any, schema: dict[str, Any], rows: int, blocks: list[tuple[int, int]],
                sink: Path | None, clock: list[float]) -> FastScan | None:
    """The split read of an uncompressed file (see the module's docstring), or None when the raw read refuses its
    layout or it has no plain numeric (then polars-readstat reads every column)."""
    from parity.sources.sas_raw import RawRefused, first_numbers, read_columns

    names = list(schema)
    numeric, temporal, strings = _column_roles(schema, None, names)
    if not numeric:
        return None
    layout = _layout_of(fast.metadata)
    numbers = numeric + temporal
    split = _SplitRead(path, strings)
    try:
        try:
            split.start(_probe(first_numbers(path, _where(layout, numeric), EDGE_ROWS, rows), numeric))
            _trace("probe chosen", clock)
            found = _behind(read_columns, path, _where(layout, numbers), _where(layout, strings), rows)
            _trace("numeric columns from the data pages", clock)
            meta, samples = _sampled_pages(path, found, blocks)
        except RawRefused:
            return None
        _refuse_marked(found.marked)
        file_encoding = _verified_meta(fast, schema, meta)
        if _column_roles(schema, meta, names) != (numeric, temporal, strings):
            raise _Refused("the readers disagree on the column types")
        _check_places(_where(layout, names), meta)
        _trace(f"the sampled rows' pages read by {REFERENCE_READER}", clock)
        texts = split.result()
    finally:
        split.join()
    _trace(f"{FAST_READER}: character columns", clock)
    if texts.height != rows:
        raise _Refused(f"{FAST_READER} read {texts.height} rows, the data pages hold {rows}")
    raw = found.numbers
    probe = split.columns[-1]
    misaligned = raw[probe][0].ne_missing(texts.get_column(probe)).alias(_MISALIGNED)
    columns = [raw[n][0] if n in raw else texts.get_column(n) for n in names]
    # tag columns only where the pages hold special missing values (15 all-null columns took 300 MB at 5M rows)
    tags = [raw[n][1].cast(_TAG_ENUM).alias(tag_column(n)) for n in numbers if raw[n][1].null_count() < rows]
    table = pl.DataFrame([*columns, *tags, misaligned]).lazy()
    return _checked(path, table, meta, rows, names, numbers, [], strings, file_encoding, samples, sink,
                    "numeric columns read from the data pages (every row checked against "
                    f"{FAST_READER}, the pages of the sampled rows against {REFERENCE_READER})", clock,
                    ascii_text=found.ascii_text)


def _sampled_pages(path: Path, found: Any, blocks: list[tuple[int, int]]
                   ) -> tuple[Any, list[tuple[int, pl.DataFrame]]]:
    """pyreadstat's metadata and its reading of every row of the pages that hold the sampled ``blocks`` (runs of
    consecutive rows, each with its first row's number), from a copy of those pages
    (:func:`parity.sources.sas_raw.write_sampled_pages`)."""
    import tempfile

    import numpy as np

    from parity.sources.sas_raw import RawRefused, write_sampled_pages

    try:
        fd, name = tempfile.mkstemp(prefix="parity-sampled-", suffix=".sas7bdat")
    except OSError as exc:  # no writable temporary folder: pyreadstat reads the sampled rows of the file itself
        raise RawRefused(f"no copy of the sampled pages ({_short(exc)})") from None
    try:
        os.close(fd)
        try:
            where = write_sampled_pages(path, found, blocks, Path(name))
        except OSError as exc:  # a full disk
            raise RawRefused(f"no copy of the sampled pages ({_short(exc)})") from None
        try:
            frame, meta = _reference(Path(name))
        except _Refused as exc:  # judged on the file itself, where the reason told is the file's
            raise RawRefused(f"the copy of the sampled pages: {exc}") from None
    finally:
        Path(name).unlink(missing_ok=True)
    if frame.height != len(where):
        raise _Refused(f"{REFERENCE_READER} reads {frame.height} rows from the sampled pages, the data pages hold "
                       f"{len(where)}")
    cuts = [0, *(np.flatnonzero(np.diff(where) != 1) + 1).tolist(), len(where)]
    return meta, [(int(where[lo]), frame.slice(lo, hi - lo)) for lo, hi in itertools.pairwise(cuts)
                  if hi > lo]


def _check_places(places: list[tuple[str, int, int]], meta: Any) -> None:
    """Where polars-readstat says each column is in the row (name, offset, LENGTH), the raw read's only source
    for it: each LENGTH pyreadstat's, no two columns sharing a byte (a column read at another's place would pass
    every sampled row where the two hold the same values)."""
    widths = dict(getattr(meta, "variable_storage_width", None) or {})
    for name, _, length in places:
        if widths.get(name) != length:
            raise _Refused(f"the readers disagree on the LENGTH of column {name!r} ({length} vs "
                           f"{widths.get(name)})")
    ordered = sorted(places, key=lambda place: (place[1], place[2]))
    for (first, offset, length), (second, start, _) in itertools.pairwise(ordered):
        if start < offset + length:
            raise _Refused(f"{FAST_READER} places columns {first!r} and {second!r} on the same bytes of a row")


def _verified_meta(fast: Any, schema: dict[str, Any], meta: Any) -> str:
    """pyreadstat's metadata against polars-readstat's: the same column names, an encoding both decode alike;
    returns the file's encoding."""
    names = list(meta.column_names)
    if not names:
        raise _Refused("the data set has no variables")
    if list(schema) != names:
        raise _Refused(f"the readers disagree on the column names ({_first_difference(list(schema), names)})")
    file_encoding = (meta.file_encoding or "").upper()
    if _encoding_key(file_encoding) not in VERIFIED_ENCODINGS:
        raise _Refused(f"encoding {meta.file_encoding or '(none)'} is not one both readers are verified to "
                       "decode alike (UTF-8, Latin-1, Windows-1252)")
    fast_encoding = str(fast.metadata.get("file_encoding") or "").upper()
    if _encoding_key(fast_encoding) != _encoding_key(file_encoding):
        raise _Refused(f"the readers disagree on the encoding ({fast_encoding} vs {file_encoding})")
    return file_encoding


def _misaligned(name: str, dtype: Any) -> pl.Expr:
    """True where polars-readstat's converted date/time value is not what it makes of pyreadstat's raw value in the
    same row (dates: rounded days since 1970; datetimes: microseconds, truncated; times: nanoseconds, null outside
    0-24 h), which proves the rows line up over the whole file."""
    raw = pl.col(f"{name}{_RAW}")
    fast = pl.col(name)
    # the special missing tags as well: polars-readstat's indicator against the raw value's
    tags_differ = pl.col(f"{name}{_FAST_TAG}").cast(pl.String).ne_missing(pl.col(f"{name}{_RAW_TAG}").cast(pl.String))
    nulls_differ = (fast.is_null() != raw.is_null()) | tags_differ
    if dtype == pl.Date:
        expected = raw.round(0, mode="half_away_from_zero") - EPOCH_SHIFT_DAYS
        return nulls_differ | ((raw.abs() < 1e9) & (fast.dt.epoch("d").cast(pl.Float64) != expected))
    if dtype == pl.Time:
        inside = (raw >= 0) & (raw < 86400)
        off = (fast.cast(pl.Int64).cast(pl.Float64) - raw * 1e9).abs() > 1e3
        return (tags_differ | (raw.is_null() & fast.is_not_null()) | (inside & (fast.is_null() | off))
                | (~inside & fast.is_not_null()))
    expected = (raw - EPOCH_SHIFT_SECONDS) * 1e6
    off = (fast.dt.epoch("us").cast(pl.Float64) - expected).abs() > 2
    return nulls_differ | ((raw.abs() < 1e11) & off)


def _reference_columns(path: Path, names: list[str], rows: int) -> pl.DataFrame:
    """``names`` read by pyreadstat, raw, as ``<name><_RAW>`` (Float64) and ``<name><_RAW_TAG>`` (tag Enum)."""
    if not names:
        return pl.DataFrame()
    from parity.sources.sas import _split_special

    ref = _reference(path, usecols=names)[0]
    if ref.height != rows:
        raise _Refused(f"the header counts {rows} rows, {REFERENCE_READER} {ref.height} (deleted rows)")
    out: list[pl.Series] = []
    for name in names:
        numbers, tags = _split_special(ref.get_column(name))
        tags = tags if tags is not None else pl.Series([None] * ref.height, dtype=pl.String)
        out += [numbers.alias(f"{name}{_RAW}"), tags.cast(_TAG_ENUM).alias(f"{name}{_RAW_TAG}")]
    return pl.DataFrame(out)


def _column_roles(schema: dict[str, Any], meta: Any, names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(plain numeric, date/time, character) columns, as both readers must agree (polars-readstat's alone when
    ``meta`` is None)."""
    numeric: list[str] = []
    temporal: list[str] = []
    strings: list[str] = []
    for name in names:
        dtype = schema[name]
        is_string = dtype == pl.String if meta is None else meta.readstat_variable_types.get(name) == "string"
        if is_string != (dtype == pl.String):
            raise _Refused(f"the readers disagree on the type of column {name!r}")
        if is_string:
            strings.append(name)
        elif dtype in (pl.Date, pl.Time) or isinstance(dtype, pl.Datetime):
            temporal.append(name)
        elif dtype == pl.Float64:
            numeric.append(name)
        else:
            raise _Refused(f"{FAST_READER} reads column {name!r} as {dtype}")
    return numeric, temporal, strings


def _encoding_key(name: str) -> str:
    return {"LATIN1": "ISO-8859-1", "CP1252": "WINDOWS-1252"}.get(name, name)


def _first_difference(left: list[str], right: list[str]) -> str:
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return f"column {index + 1}: {a!r} vs {b!r}"
    return f"{len(left)} vs {len(right)} columns"


def _check_decoding(strings: pl.LazyFrame, encoding: str) -> None:
    """Bytes the encoding cannot decode come out of polars-readstat as U+FFFD (pyreadstat refuses them)."""
    columns = strings.collect_schema().names()
    if not columns:
        return
    cp1252 = _encoding_key(encoding) == "WINDOWS-1252"
    found = strings.select((pl.col(c).str.contains(f"[\ufffd{_CP1252_UNDEFINED}]") if cp1252 else
                            pl.col(c).str.contains("\ufffd", literal=True)).any() for c in columns
                           ).collect(engine="streaming").row(0)
    for name, hit in zip(columns, found, strict=True):
        if hit:
            raise _Refused(f"column {name!r} holds bytes that {encoding} does not decode")


def sample_blocks(rows: int, seed: int = 0) -> list[tuple[int, int]]:
    """(offset, length) of the row blocks both readers must agree on: the first and last EDGE_ROWS rows and
    RANDOM_BLOCKS blocks of RANDOM_ROWS at seeded random places between them (all rows of a small file)."""
    if rows <= 2 * EDGE_ROWS + RANDOM_BLOCKS * RANDOM_ROWS:
        return [(0, rows)] if rows else []
    rng = random.Random(f"{seed}:{rows}")
    middle = sorted(rng.randrange(EDGE_ROWS, rows - EDGE_ROWS - RANDOM_ROWS) for _ in range(RANDOM_BLOCKS))
    return [(0, EDGE_ROWS), *((m, RANDOM_ROWS) for m in middle), (rows - EDGE_ROWS, EDGE_ROWS)]


def _compare(mine: pl.DataFrame, ref: pl.DataFrame, checked: list[str], strings: set[str], offset: int) -> None:
    """Rows read by pyreadstat (``ref``, from row ``offset``) equal the fast frame's: values bit for bit, tags,
    text."""
    from parity.sources.sas import _split_special

    length = ref.height
    for name in checked:
        theirs = ref.get_column(name)
        if name in strings:
            expected_values, expected_tags = theirs.cast(pl.String).to_list(), [None] * length
            got_values, got_tags = mine.get_column(name).to_list(), [None] * length
        else:
            numbers, tags = _split_special(theirs)
            expected_values = numbers.to_list()
            expected_tags = tags.to_list() if tags is not None else [None] * length
            got_values = mine.get_column(name).to_list()
            tag_name = tag_column(name)
            got_tags = mine.get_column(tag_name).to_list() if tag_name in mine.columns else [None] * length
        for i in range(length):
            if (not _same(got_values[i], expected_values[i])) or got_tags[i] != expected_tags[i]:
                raise _Refused(
                    f"row {offset + i + 1} of column {name!r} differs: {FAST_READER} "
                    f"{_show(got_values[i], got_tags[i])}, {REFERENCE_READER} "
                    f"{_show(expected_values[i], expected_tags[i])}")


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return struct.pack("<d", a) == struct.pack("<d", b)
    return type(a) is type(b) and a == b


def _show(value: object, tag: str | None) -> str:
    return f".{tag}" if tag else repr(value)
