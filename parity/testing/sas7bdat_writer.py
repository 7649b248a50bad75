"""Write real ``.sas7bdat`` files without SAS, through ReadStat's C writer.

pyreadstat reads SAS7BDAT but only *writes* XPORT; its compiled ``_readstat_writer`` extension nevertheless
links all of ReadStat's writer, including ``readstat_begin_writing_sas7bdat``.  This module loads that shared
object with :mod:`ctypes` and drives it, so that tests and example fixtures can be built from genuine SAS7BDAT
bytes: formats, labels, storage lengths, a dataset label, special missing values and RLE compression.

Three things ReadStat's SAS7BDAT writer does not do are added here:

* **Numeric lengths below 8** (SAS ``LENGTH x 4;``).  ReadStat always stores numerics in 8 bytes.  Such a
  column is declared to ReadStat as a character column of the same width holding a placeholder, and the file
  is patched afterwards: the column's type byte becomes numeric and each placeholder is replaced by the
  *L* most significant bytes of the IEEE double, which is what SAS stores (the value truncated, not rounded).
  With RLE compression the placeholders are chosen so that the compressor copies them literally, which lets
  the patch overwrite them in the compressed stream without changing its length.
* **Blank padding** of character values, as SAS does (ReadStat pads with NUL bytes).
* **A fixed file timestamp** (``timestamp=``), so that a fixture build is byte-for-byte reproducible.

Values are raw SAS values: numbers for numeric columns (dates as days since 1960-01-01, datetimes as seconds
since 1960-01-01 00:00:00, times as seconds since midnight; see :func:`sas_date`, :func:`sas_datetime` and
:func:`sas_time`), ``None`` for the system missing value ``.`` (or a blank string), and
:class:`SpecialMissing` for ``.A``-``.Z`` and ``._``.
"""

from __future__ import annotations

import calendar
import contextlib
import ctypes
import datetime as dt
import functools
import glob
import importlib.util
import io
import math
import numbers
import os
import re
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Literal

__all__ = [
    "Column",
    "Sas7bdatLayout",
    "SpecialMissing",
    "describe_sas7bdat",
    "sas_date",
    "sas_datetime",
    "sas_time",
    "write_sas7bdat",
]

# --- readstat.h constants (see pyreadstat's readstat_api.pxd) -------------------------------------------------
_READSTAT_OK = 0
_READSTAT_TYPE_STRING = 0
_READSTAT_TYPE_DOUBLE = 5
_READSTAT_COMPRESS_NONE = 0
_READSTAT_COMPRESS_ROWS = 1

# --- SAS7BDAT layout constants (as written by ReadStat) --------------------------------------------------------
_ALIGNMENT_OFFSET_4 = 0x33
_PAGE_TYPE_MASK = 0x0F00
_PAGE_TYPE_DATA = 0x0100
_PAGE_TYPE_MIX = 0x0200
_PAGE_TYPE_COMP = 0x9000
_SIGNATURE_COLUMN_ATTRS = 0xFFFFFFFC
_SIGNATURE_COLUMN_FORMAT = 0xFFFFFBFE
_COLUMN_TYPE_NUM = 0x01
_COLUMN_TYPE_CHR = 0x02
_COMPRESSION_NONE = 0x00
_COMPRESSION_TRUNC = 0x01
_COMPRESSION_ROW = 0x04

_SAS_EPOCH_DATE = dt.date(1960, 1, 1)
_SAS_EPOCH_DATETIME = dt.datetime(1960, 1, 1)
_MISSING_TAGS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# [$][name not ending in a digit][width][.[decimals]]: DATE9, DATETIME20, COMMA12.2, 8.2, $20, $CHAR10, E8601DT19
_FORMAT_RE = re.compile(r"\$?(?:[A-Z_](?:[A-Z0-9_]*[A-Z_])?)?\d*(?:\.\d*)?")
_MAX_NAME = 32
_MAX_LABEL_BYTES = 256
_MAX_STRING_WIDTH = 32767
# ReadStat writes system missing as a quiet NaN whose byte 5 (bits 40-47) holds ~tag, with tag '.'.
_NAN_BITS = 0x7FF8000000000000


# =============================================================================================================
# Public API
# =============================================================================================================


@dataclass(frozen=True)
class SpecialMissing:
    """A SAS special missing value ``.A`` .. ``.Z`` or ``._``; ``tag`` is ``"A"`` .. ``"Z"`` or ``"_"``."""

    tag: str

    def __post_init__(self) -> None:
        if not isinstance(self.tag, str) or self.tag not in _MISSING_TAGS:
            raise ValueError(
                f"SpecialMissing tag must be one uppercase letter 'A'..'Z' or '_' (SAS .A-.Z and ._), "
                f"got {self.tag!r}"
            )

    def __str__(self) -> str:
        return "." + self.tag


@dataclass(frozen=True)
class Column:
    """One SAS variable and its values, top to bottom.

    ``values``: numbers for a numeric column (``None`` = system missing ``.``, :class:`SpecialMissing` =
    ``.A``-``.Z``/``._``, a float NaN also counts as ``.``); strings for a character column (``None`` = blank).
    ``format``: a SAS format as ReadStat stores it, e.g. ``"DATE9"``, ``"DATETIME20"``, ``"TIME8"``,
    ``"COMMA12.2"``, ``"8.2"``, ``"$20"`` (case-insensitive; a trailing ``.`` is dropped).
    ``length``: storage width in bytes; character 1..32767 (default: the longest UTF-8 value, at least 1),
    numeric 3..8 (default 8; a shorter numeric keeps only the first *length* bytes of the double, as in SAS).
    """

    name: str
    kind: Literal["numeric", "string"]
    values: Sequence[float | int | str | SpecialMissing | None]
    format: str | None = None
    label: str | None = None
    length: int | None = None


@dataclass(frozen=True)
class Sas7bdatLayout:
    """Physical facts about a SAS7BDAT file written by ReadStat (see :func:`describe_sas7bdat`)."""

    u64: bool
    little_endian: bool
    header_size: int
    page_size: int
    page_count: int
    row_length: int
    row_count: int
    rle_rows: int
    """How many rows are stored RLE-compressed (0 for an uncompressed file)."""

    @property
    def compression(self) -> Literal["none", "rows"]:
        return "rows" if self.rle_rows else "none"


def sas_date(value: dt.date) -> float:
    """A SAS date: days since 1960-01-01."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"sas_date() takes a date, got the datetime {value!r}; use sas_datetime()")
    if not isinstance(value, dt.date):
        raise ValueError(f"sas_date() takes a datetime.date, got {type(value).__name__}")
    return float((value - _SAS_EPOCH_DATE).days)


def sas_datetime(value: dt.datetime) -> float:
    """A SAS datetime: seconds since 1960-01-01 00:00:00 (naive: SAS datetimes carry no time zone)."""
    if not isinstance(value, dt.datetime):
        raise ValueError(f"sas_datetime() takes a datetime.datetime, got {type(value).__name__}")
    if value.utcoffset() is not None:
        raise ValueError(f"SAS datetimes carry no time zone; pass a naive datetime, got {value!r}")
    delta = value - _SAS_EPOCH_DATETIME
    return delta.days * 86400.0 + delta.seconds + delta.microseconds / 1_000_000


def sas_time(value: dt.time) -> float:
    """A SAS time: seconds since midnight."""
    if not isinstance(value, dt.time):
        raise ValueError(f"sas_time() takes a datetime.time, got {type(value).__name__}")
    if value.utcoffset() is not None:
        raise ValueError(f"SAS times carry no time zone; pass a naive time, got {value!r}")
    return value.hour * 3600.0 + value.minute * 60 + value.second + value.microsecond / 1_000_000


def write_sas7bdat(
    path: str | os.PathLike[str],
    columns: Sequence[Column],
    *,
    table_name: str = "DATA",
    file_label: str | None = None,
    compression: Literal["none", "rows"] = "none",
    timestamp: dt.datetime | None = None,
) -> None:
    """Write ``columns`` to ``path`` as a SAS7BDAT dataset, atomically (temporary file, then rename).

    ``table_name`` is the member name stored in the header; ``file_label`` the dataset label;
    ``compression="rows"`` is SAS's ``COMPRESS=CHAR`` (RLE); ``timestamp`` (naive = UTC) is stored as the
    creation and modification time, default now.  Raises :class:`ValueError` for bad input and
    :class:`RuntimeError` (naming ReadStat's error) if ReadStat refuses.
    """
    prepared, row_count = _prepare_columns(columns)
    _check_table_name(table_name)
    label_bytes = _label_bytes(file_label, "file_label")
    if compression not in ("none", "rows"):
        raise ValueError(f"compression must be 'none' or 'rows', got {compression!r}")
    unix_time = _unix_time(timestamp)

    lib = _library()
    settings = _Settings(table_name.encode("ascii"), label_bytes, compression, unix_time)
    layout: list[_ColumnAttrs] | None = None
    if any(column.short for column in prepared):
        # Placeholders must know their physical neighbours in the row, and ReadStat orders a row's columns
        # itself (numerics first, then strings, as SAS does): learn the layout from an empty dataset first.
        probe = io.BytesIO()
        _emit(lib, probe, prepared, 0, settings, None)
        layout = _parse_structure(probe.getvalue()).columns
        if len(layout) != len(prepared):
            raise RuntimeError(f"ReadStat laid out {len(layout)} columns, not {len(prepared)}")
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            _emit(lib, handle, prepared, row_count, settings, layout)
        if layout is not None:
            _patch_short_numerics(tmp, prepared, row_count, layout)
        mode = os.stat(target).st_mode & 0o777 if os.path.exists(target) else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def describe_sas7bdat(path: str | os.PathLike[str]) -> Sas7bdatLayout:
    """Page size, row length, row count and how many rows are RLE-compressed, of a ReadStat-written file."""
    with open(path, "rb") as handle:
        data = handle.read()
    structure = _parse_structure(data)
    rle_rows = sum(1 for row in structure.rows if row.rle_end is not None)
    return Sas7bdatLayout(
        u64=structure.u64,
        little_endian=structure.little_endian,
        header_size=structure.header_size,
        page_size=structure.page_size,
        page_count=structure.page_count,
        row_length=structure.row_length,
        row_count=len(structure.rows),
        rle_rows=rle_rows,
    )


# =============================================================================================================
# Input validation
# =============================================================================================================

_NumericCell = float | str | None  # a finite float, a missing tag ('A'..'Z', '_'), or None (system missing)


@dataclass
class _Prepared:
    name: bytes
    kind: Literal["numeric", "string"]
    width: int
    format: bytes | None
    label: bytes | None
    numbers: list[_NumericCell]
    strings: list[bytes]

    @property
    def short(self) -> bool:
        """A numeric column shorter than 8 bytes: written as a placeholder string, then patched."""
        return self.kind == "numeric" and self.width < 8


def _prepare_columns(columns: Sequence[Column]) -> tuple[list[_Prepared], int]:
    if isinstance(columns, Column) or not isinstance(columns, Sequence):
        raise ValueError("columns must be a sequence of Column")
    if not columns:
        raise ValueError("a SAS dataset needs at least one column")
    seen: dict[str, str] = {}
    prepared: list[_Prepared] = []
    row_count: int | None = None
    for index, column in enumerate(columns):
        if not isinstance(column, Column):
            raise ValueError(f"columns[{index}] is a {type(column).__name__}, not a Column")
        name = column.name
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or len(name) > _MAX_NAME:
            raise ValueError(
                f"columns[{index}]: {name!r} is not a valid SAS variable name "
                f"(1-32 characters: letters, digits, underscores; not starting with a digit)"
            )
        if name.upper() in seen:
            raise ValueError(
                f"duplicate column name {name!r} (SAS names are case-insensitive; see {seen[name.upper()]!r})"
            )
        seen[name.upper()] = name
        if isinstance(column.values, str | bytes) or not isinstance(column.values, Sequence):
            raise ValueError(f"column {name!r}: values must be a sequence (list, tuple, ...)")
        if row_count is None:
            row_count = len(column.values)
        elif len(column.values) != row_count:
            first = prepared[0].name.decode()
            raise ValueError(
                f"all columns must have the same number of rows: {first!r} has {row_count}, "
                f"{name!r} has {len(column.values)}"
            )
        if column.kind == "numeric":
            item = _prepare_numeric(column)
        elif column.kind == "string":
            item = _prepare_string(column)
        else:
            raise ValueError(f"column {name!r}: kind must be 'numeric' or 'string', got {column.kind!r}")
        prepared.append(item)
    assert row_count is not None
    return prepared, row_count


def _prepare_numeric(column: Column) -> _Prepared:
    name = column.name
    width = 8 if column.length is None else column.length
    if isinstance(width, bool) or not isinstance(width, int) or not 3 <= width <= 8:
        raise ValueError(f"column {name!r}: a numeric length must be an integer 3..8, got {column.length!r}")
    cells: list[_NumericCell] = []
    for row, value in enumerate(column.values):
        if value is None:
            cells.append(None)
        elif isinstance(value, SpecialMissing):
            cells.append(value.tag)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            number = float(value)
            if math.isnan(number):
                cells.append(None)
            elif math.isinf(number):
                raise ValueError(f"column {name!r}, row {row}: SAS cannot store {value!r}")
            else:
                if isinstance(value, numbers.Integral) and int(number) != int(value):
                    raise ValueError(
                        f"column {name!r}, row {row}: {value!r} is not exactly representable as a double"
                    )
                cells.append(number)
        else:
            raise ValueError(
                f"column {name!r}, row {row}: a numeric column takes int, float, None or SpecialMissing, "
                f"got {type(value).__name__} {value!r}"
            )
    return _Prepared(
        name=name.encode("ascii"),
        kind="numeric",
        width=width,
        format=_format_bytes(column, numeric=True),
        label=_label_bytes(column.label, f"column {name!r} label"),
        numbers=cells,
        strings=[],
    )


def _prepare_string(column: Column) -> _Prepared:
    name = column.name
    encoded: list[bytes] = []
    for row, value in enumerate(column.values):
        if value is None:
            encoded.append(b"")
        elif isinstance(value, str):
            raw = value.encode("utf-8")
            if b"\0" in raw:
                raise ValueError(f"column {name!r}, row {row}: NUL characters cannot be stored")
            encoded.append(raw)
        else:
            raise ValueError(
                f"column {name!r}, row {row}: a string column takes str or None, got {type(value).__name__} {value!r}"
            )
    longest = max((len(raw) for raw in encoded), default=0)
    if column.length is None:
        width = max(longest, 1)
    else:
        width = column.length
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= _MAX_STRING_WIDTH:
            raise ValueError(
                f"column {name!r}: a string length must be an integer 1..32767, got {column.length!r}"
            )
        for row, raw in enumerate(encoded):
            if len(raw) > width:
                raise ValueError(
                    f"column {name!r}, row {row}: value needs {len(raw)} bytes (UTF-8) but length is {width}"
                )
    if width > _MAX_STRING_WIDTH:
        raise ValueError(f"column {name!r}: values need {width} bytes, more than SAS's 32767")
    return _Prepared(
        name=name.encode("ascii"),
        kind="string",
        width=width,
        format=_format_bytes(column, numeric=False),
        label=_label_bytes(column.label, f"column {name!r} label"),
        numbers=[],
        strings=[raw.ljust(width, b" ") for raw in encoded],  # SAS pads character values with blanks
    )


def _format_bytes(column: Column, *, numeric: bool) -> bytes | None:
    if column.format is None:
        return None
    if not isinstance(column.format, str):
        raise ValueError(f"column {column.name!r}: format must be a string, got {column.format!r}")
    text = column.format.strip().upper()
    text = text.removesuffix(".")  # "DATE9." and "DATE9" are the same format; SAS stores no dot
    if not text or not _FORMAT_RE.fullmatch(text) or len(text) > 64:
        raise ValueError(
            f"column {column.name!r}: {column.format!r} is not a SAS format (e.g. DATE9, COMMA12.2, $20)"
        )
    if numeric and text.startswith("$"):
        raise ValueError(
            f"column {column.name!r}: numeric column with the character format {column.format!r}"
        )
    if not numeric and not text.startswith("$"):
        raise ValueError(f"column {column.name!r}: string column with the numeric format {column.format!r}")
    return text.encode("ascii")


def _label_bytes(label: str | None, what: str) -> bytes | None:
    if label is None:
        return None
    if not isinstance(label, str):
        raise ValueError(f"{what} must be a string, got {type(label).__name__}")
    raw = label.encode("utf-8")
    if b"\0" in raw:
        raise ValueError(f"{what} contains a NUL character")
    if len(raw) > _MAX_LABEL_BYTES:
        raise ValueError(f"{what} is {len(raw)} bytes long; SAS allows 256")
    return raw


def _check_table_name(table_name: str) -> None:
    if not isinstance(table_name, str) or not _NAME_RE.fullmatch(table_name) or len(table_name) > _MAX_NAME:
        raise ValueError(
            f"table_name {table_name!r} is not a valid SAS member name (1-32 letters, digits, _)"
        )


def _unix_time(timestamp: dt.datetime | None) -> int | None:
    if timestamp is None:
        return None
    if not isinstance(timestamp, dt.datetime):
        raise ValueError(f"timestamp must be a datetime.datetime, got {type(timestamp).__name__}")
    return calendar.timegm(timestamp.utctimetuple())


# =============================================================================================================
# ReadStat through ctypes
# =============================================================================================================

# ssize_t (*readstat_data_writer)(const void *bytes, size_t len, void *ctx)
_DATA_WRITER = ctypes.CFUNCTYPE(ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)

_P = ctypes.c_void_p
_SIGNATURES: tuple[tuple[str, object, list[object]], ...] = (
    ("readstat_writer_init", _P, []),
    ("readstat_writer_free", None, [_P]),
    ("readstat_set_data_writer", ctypes.c_int, [_P, _DATA_WRITER]),
    ("readstat_writer_set_file_label", ctypes.c_int, [_P, ctypes.c_char_p]),
    ("readstat_writer_set_table_name", ctypes.c_int, [_P, ctypes.c_char_p]),
    ("readstat_writer_set_compression", ctypes.c_int, [_P, ctypes.c_int]),
    ("readstat_writer_set_file_timestamp", ctypes.c_int, [_P, ctypes.c_int64]),
    ("readstat_add_variable", _P, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t]),
    ("readstat_variable_set_format", None, [_P, ctypes.c_char_p]),
    ("readstat_variable_set_label", None, [_P, ctypes.c_char_p]),
    ("readstat_begin_writing_sas7bdat", ctypes.c_int, [_P, _P, ctypes.c_long]),
    ("readstat_begin_row", ctypes.c_int, [_P]),
    ("readstat_insert_double_value", ctypes.c_int, [_P, _P, ctypes.c_double]),
    ("readstat_insert_string_value", ctypes.c_int, [_P, _P, ctypes.c_char_p]),
    ("readstat_insert_missing_value", ctypes.c_int, [_P, _P]),
    ("readstat_insert_tagged_missing_value", ctypes.c_int, [_P, _P, ctypes.c_char]),
    ("readstat_end_row", ctypes.c_int, [_P]),
    ("readstat_end_writing", ctypes.c_int, [_P]),
    ("readstat_error_message", ctypes.c_char_p, [ctypes.c_int]),
)


@functools.cache
def _library() -> ctypes.CDLL:
    """pyreadstat's ``_readstat_writer`` extension, with ReadStat's writer functions typed."""
    spec = importlib.util.find_spec("pyreadstat")
    if spec is None:
        raise RuntimeError("pyreadstat is not installed; it provides the ReadStat library this writer uses")
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin:
        locations = [os.path.dirname(spec.origin)]
    candidates: list[str] = []
    for location in locations:
        for pattern in ("_readstat_writer*.so", "_readstat_writer*.pyd", "_readstat_writer*.dylib"):
            candidates.extend(sorted(glob.glob(os.path.join(location, pattern))))
    if not candidates:
        raise RuntimeError(
            f"no _readstat_writer extension found in the pyreadstat package ({', '.join(locations)})"
        )
    lib = ctypes.CDLL(candidates[0])
    for name, restype, argtypes in _SIGNATURES:
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise RuntimeError(
                f"{candidates[0]} does not export {name}; this pyreadstat build cannot be used"
            ) from None
        function.restype = restype
        function.argtypes = argtypes
    return lib


@dataclass(frozen=True)
class _Settings:
    table_name: bytes
    file_label: bytes | None
    compression: Literal["none", "rows"]
    unix_time: int | None


def _emit(
    lib: ctypes.CDLL,
    handle: IO[bytes],
    columns: list[_Prepared],
    row_count: int,
    settings: _Settings,
    layout: list[_ColumnAttrs] | None,
) -> None:
    """Drive ReadStat's writer; ``layout`` (physical column positions) is needed iff there are short numerics."""
    failures: list[BaseException] = []

    def write_bytes(data: int | None, length: int, _ctx: int | None) -> int:
        try:
            if length and data is not None:
                handle.write(ctypes.string_at(data, length))
            return length
        except BaseException as exc:  # an exception cannot cross the C boundary: report it after the call
            failures.append(exc)
            return -1

    # ReadStat keeps only the C function pointer: this Python object must outlive the writer (see finally).
    callback = _DATA_WRITER(write_bytes)

    def check(function: str, code: int) -> None:
        if code != _READSTAT_OK:
            message = lib.readstat_error_message(code)
            text = message.decode("utf-8", "replace") if message else "unknown error"
            error = RuntimeError(f"ReadStat {function}() failed: {text} (readstat_error_t {code})")
            if failures:
                raise error from failures[0]
            raise error

    writer = lib.readstat_writer_init()
    if not writer:
        raise MemoryError("readstat_writer_init() returned NULL")
    try:
        check("readstat_set_data_writer", lib.readstat_set_data_writer(writer, callback))
        check(
            "readstat_writer_set_table_name", lib.readstat_writer_set_table_name(writer, settings.table_name)
        )
        if settings.file_label is not None:
            check(
                "readstat_writer_set_file_label",
                lib.readstat_writer_set_file_label(writer, settings.file_label),
            )
        mode = _READSTAT_COMPRESS_ROWS if settings.compression == "rows" else _READSTAT_COMPRESS_NONE
        check("readstat_writer_set_compression", lib.readstat_writer_set_compression(writer, mode))
        if settings.unix_time is not None:
            code = lib.readstat_writer_set_file_timestamp(writer, settings.unix_time)
            check("readstat_writer_set_file_timestamp", code)

        variables: list[int] = []
        for column in columns:
            declared = (
                _READSTAT_TYPE_DOUBLE
                if column.kind == "numeric" and not column.short
                else _READSTAT_TYPE_STRING
            )
            variable = lib.readstat_add_variable(writer, column.name, declared, column.width)
            if not variable:
                raise RuntimeError(f"ReadStat readstat_add_variable() failed for {column.name.decode()!r}")
            if column.format is not None:
                lib.readstat_variable_set_format(variable, column.format)
            if column.label is not None:
                lib.readstat_variable_set_label(variable, column.label)
            variables.append(variable)

        check("readstat_begin_writing_sas7bdat", lib.readstat_begin_writing_sas7bdat(writer, None, row_count))
        for row in range(row_count):
            placeholders = {} if layout is None else _placeholders(columns, layout, row)
            check("readstat_begin_row", lib.readstat_begin_row(writer))
            for index, (column, variable) in enumerate(zip(columns, variables, strict=True)):
                if column.kind == "string":
                    code = lib.readstat_insert_string_value(writer, variable, column.strings[row])
                elif column.short:
                    code = lib.readstat_insert_string_value(writer, variable, placeholders[index])
                else:
                    cell = column.numbers[row]
                    if cell is None:
                        code = lib.readstat_insert_missing_value(writer, variable)
                    elif isinstance(cell, str):
                        code = lib.readstat_insert_tagged_missing_value(
                            writer, variable, cell.encode("ascii")
                        )
                    else:
                        code = lib.readstat_insert_double_value(writer, variable, cell)
                if code != _READSTAT_OK:
                    check(f"readstat_insert_* (column {column.name.decode()!r}, row {row})", code)
            check("readstat_end_row", lib.readstat_end_row(writer))
        check("readstat_end_writing", lib.readstat_end_writing(writer))
        if failures:
            raise RuntimeError("writing the SAS7BDAT file failed") from failures[0]
    finally:
        lib.readstat_writer_free(writer)
        del callback


# =============================================================================================================
# Numeric lengths below 8: placeholders, then a patch of the written file
# =============================================================================================================


def _double_bits(cell: _NumericCell) -> int:
    """The 64 bits ReadStat writes for a numeric cell (a missing value is a NaN carrying ~tag in byte 5)."""
    if cell is None or isinstance(cell, str):
        tag = ord("." if cell is None else cell)
        return _NAN_BITS | ((~tag & 0xFF) << 40)
    value: int = struct.unpack("<Q", struct.pack("<d", cell))[0]
    return value


def _stored_bytes(cell: _NumericCell, width: int, little_endian: bool) -> bytes:
    """What SAS stores for a numeric of ``width`` bytes: the most significant bytes of the double."""
    if little_endian:
        return struct.pack("<Q", _double_bits(cell))[8 - width :]
    return struct.pack(">Q", _double_bits(cell))[:width]


def _cell_edges(column: _Prepared, row: int) -> tuple[int, int]:
    """First and last byte of a (non-placeholder) cell as ReadStat lays it out in the row buffer."""
    if column.kind == "string":
        raw = column.strings[row]
    else:
        raw = struct.pack("=Q", _double_bits(column.numbers[row]))
    return raw[0], raw[-1]


def _placeholders(columns: list[_Prepared], layout: list[_ColumnAttrs], row: int) -> dict[int, bytes]:
    """Placeholder bytes for the short numerics of ``row``, keyed by column index.

    Every placeholder byte is 0x01-0x03 (never NUL, blank or '@') and differs from both its physical neighbours
    in the row, so it is a run of length one: ReadStat's RLE compressor copies it literally, where the patch
    can find it.  (Bytes between columns are padding, which ReadStat leaves zero.)
    """
    result: dict[int, bytes] = {}
    order = sorted(range(len(columns)), key=lambda index: layout[index].offset)
    previous: int | None = None
    previous_end = 0
    for position, index in enumerate(order):
        column, attrs = columns[index], layout[index]
        if attrs.offset != previous_end:
            previous = None
        previous_end = attrs.offset + attrs.width
        if not column.short:
            previous = _cell_edges(column, row)[1]
            continue
        following: int | None = None
        if position + 1 < len(order):
            after = order[position + 1]
            if layout[after].offset == previous_end and not columns[after].short:
                following = _cell_edges(columns[after], row)[0]
        chosen = bytearray()
        for position in range(column.width):
            avoid = {previous}
            if position == column.width - 1:
                avoid.add(following)
            byte = next(candidate for candidate in (1, 2, 3) if candidate not in avoid)
            chosen.append(byte)
            previous = byte
        result[index] = bytes(chosen)
    return result


@dataclass(frozen=True)
class _ColumnAttrs:
    offset: int  # within the row; ReadStat stores numerics first, then strings, like SAS
    width: int
    type_at: int  # file offset of the type byte (numeric or character)


@dataclass
class _RowLocation:
    start: int  # file offset of the row (uncompressed) or of its RLE stream
    rle_end: int | None  # end of the RLE stream, or None for a row stored as is


@dataclass
class _Structure:
    u64: bool
    little_endian: bool
    header_size: int
    page_size: int
    page_count: int
    row_length: int
    columns: list[_ColumnAttrs]
    rows: list[_RowLocation]


def _parse_structure(data: bytes | bytearray) -> _Structure:
    """Locate column attributes and every row of a SAS7BDAT file laid out the way ReadStat writes them."""
    if len(data) < 1024:
        raise RuntimeError("not a SAS7BDAT file: shorter than its header")
    u64 = data[32] == _ALIGNMENT_OFFSET_4
    pad = 4 if data[35] == _ALIGNMENT_OFFSET_4 else 0
    little_endian = data[37] == 0x01
    order = "<" if little_endian else ">"
    header_size, page_size = struct.unpack_from(order + "II", data, 196 + pad)
    page_count = struct.unpack_from(order + ("Q" if u64 else "I"), data, 204 + pad)[0]
    page_header_size = 40 if u64 else 24
    pointer_size = 24 if u64 else 12
    signature_size = 8 if u64 else 4
    word = "Q" if u64 else "I"

    row_length = 0
    column_attrs: list[_ColumnAttrs] = []
    rows: list[_RowLocation] = []
    formats_seen = 0
    column_count = 0
    for page_index in range(page_count):
        page = header_size + page_index * page_size
        page_type = struct.unpack_from(order + "H", data, page + page_header_size - 8)[0]
        if page_type & _PAGE_TYPE_MASK == _PAGE_TYPE_DATA:
            page_rows = struct.unpack_from(order + "H", data, page + page_header_size - 6)[0]
            first = page + page_header_size
            rows.extend(_RowLocation(first + k * row_length, None) for k in range(page_rows))
            continue
        if page_type & _PAGE_TYPE_COMP:
            continue
        blocks, count = struct.unpack_from(order + "HH", data, page + page_header_size - 6)
        for k in range(count):
            pointer = page + page_header_size + k * pointer_size
            offset, length = struct.unpack_from(order + word + word, data, pointer)
            compression = data[pointer + 2 * signature_size]
            if length == 0 or compression == _COMPRESSION_TRUNC:
                continue
            start = page + offset
            if compression == _COMPRESSION_ROW:
                rows.append(_RowLocation(start, start + length))
                continue
            if compression != _COMPRESSION_NONE:
                raise RuntimeError(f"unexpected subheader compression {compression:#x}")
            if column_count and formats_seen == column_count:
                rows.append(_RowLocation(start, None))  # a row ReadStat could not shrink, stored as is
                continue
            signature = struct.unpack_from(order + "I", data, start)[0]
            if u64 and signature == 0xFFFFFFFF and not little_endian:
                signature = struct.unpack_from(order + "I", data, start + 4)[0]
            if signature == 0xF7F7F7F7:  # row size subheader
                row_length = struct.unpack_from(order + word, data, start + (40 if u64 else 20))[0]
            elif signature == 0xF6F6F6F6:  # column size subheader
                column_count = struct.unpack_from(order + word, data, start + signature_size)[0]
            elif signature == _SIGNATURE_COLUMN_ATTRS:
                entries = (length - (28 if u64 else 20)) // (16 if u64 else 12)
                entry = start + signature_size + 8
                for _ in range(entries):
                    width_at = entry + signature_size
                    row_offset = struct.unpack_from(order + word, data, entry)[0]
                    width = struct.unpack_from(order + "I", data, width_at)[0]
                    column_attrs.append(_ColumnAttrs(row_offset, width, width_at + 6))
                    entry = width_at + 8
            elif signature == _SIGNATURE_COLUMN_FORMAT:
                formats_seen += 1
        if page_type & _PAGE_TYPE_MASK == _PAGE_TYPE_MIX:
            # rows follow the subheader pointers, aligned to 8 bytes
            first = page_header_size + count * pointer_size
            first = page + first + (4 if first % 8 == 4 else 0)
            rows.extend(_RowLocation(first + k * row_length, None) for k in range(blocks - count))
    if not row_length:
        raise RuntimeError("not a ReadStat SAS7BDAT file: no row size subheader")
    return _Structure(u64, little_endian, header_size, page_size, page_count, row_length, column_attrs, rows)


def _rle_sources(data: bytes | bytearray, start: int, end: int) -> list[int]:
    """For each byte of a decompressed row: the file offset it was copied from, or -1 if it was inserted."""
    sources: list[int] = []
    position = start
    while position < end:
        control = data[position]
        position += 1
        command, nibble = control >> 4, control & 0x0F
        copy = insert = 0
        if command == 0:  # COPY64
            copy = data[position] + 64 + nibble * 256
            position += 1
        elif command == 4:  # INSERT_BYTE18
            insert = data[position] + 18 + nibble * 16
            position += 2
        elif command in (5, 6, 7):  # INSERT_AT17, INSERT_BLANK17, INSERT_ZERO17
            insert = data[position] + 17 + nibble * 256
            position += 1
        elif command in (8, 9, 10, 11):  # COPY1, COPY17, COPY33, COPY49
            copy = nibble + (1, 17, 33, 49)[command - 8]
        elif command == 12:  # INSERT_BYTE3
            insert = nibble + 3
            position += 1
        elif command in (13, 14, 15):  # INSERT_AT2, INSERT_BLANK2, INSERT_ZERO2
            insert = nibble + 2
        else:
            raise RuntimeError(f"unknown RLE command {command} at file offset {position - 1}")
        sources.extend(range(position, position + copy))
        position += copy
        sources.extend([-1] * insert)
    return sources


def _patch_short_numerics(
    path: str, columns: list[_Prepared], row_count: int, layout: list[_ColumnAttrs]
) -> None:
    """Turn the placeholder string columns into numerics of their width and write the truncated doubles."""
    with open(path, "rb") as handle:
        data = bytearray(handle.read())
    structure = _parse_structure(data)
    found = [(attrs.offset, attrs.width) for attrs in structure.columns]
    if found != [(attrs.offset, attrs.width) for attrs in layout] or len(structure.rows) != row_count:
        raise RuntimeError(
            f"unexpected file layout: {len(structure.columns)} columns and {len(structure.rows)} rows found, "
            f"{len(columns)} and {row_count} written"
        )
    short = [(index, column) for index, column in enumerate(columns) if column.short]
    for index, column in short:
        type_at = structure.columns[index].type_at
        if data[type_at] != _COLUMN_TYPE_CHR:
            raise RuntimeError(f"unexpected attributes for placeholder column {column.name.decode()!r}")
        data[type_at] = _COLUMN_TYPE_NUM
    for row, location in enumerate(structure.rows):
        placeholders = _placeholders(columns, layout, row)
        sources: list[int] | None = None
        if location.rle_end is not None:
            sources = _rle_sources(data, location.start, location.rle_end)
            if len(sources) != structure.row_length:
                raise RuntimeError(
                    f"row {row}: RLE stream decodes to {len(sources)} bytes, not {structure.row_length}"
                )
        for index, column in short:
            value = _stored_bytes(column.numbers[row], column.width, structure.little_endian)
            for k in range(column.width):
                where = layout[index].offset + k
                at = location.start + where if sources is None else sources[where]
                if at < 0 or data[at] != placeholders[index][k]:
                    raise RuntimeError(f"row {row}, column {column.name.decode()!r}: placeholder not found")
                data[at] = value[k]
    with open(path, "r+b") as handle:
        handle.write(data)
