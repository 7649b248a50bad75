"""Normalisation: both sides become comparable columns in SAS units before any comparison.

* numbers are Float64; pandas NaN is null (missing); Python booleans become 0/1;
* dates are days since 1960-01-01, datetimes seconds since 1960-01-01T00:00, times seconds since midnight
  (the SAS side is read raw, the Python side's Date/Datetime/Time/Duration values are converted);
* strings follow SAS character rules: trailing blanks do not count, blank is missing (both configurable);
* Python values of SAS numerics stored with LENGTH 3-7 are truncated to that width, as SAS stored them.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS, Kind, python_codec
from parity.model import TEMPORAL_KINDS
from parity.sources.base import Change, ColumnInfo
from parity.spec import DateRules, StringRules

_PRECISION = {"us": 6, "ms": 3, "s": 0}
#: the length of one datetime_precision unit in seconds
PRECISION_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_PER_SECOND = {"ns": 1_000_000_000, "us": 1_000_000, "ms": 1_000}


@dataclass(frozen=True)
class Conversion:
    """How one Python column becomes comparable with its SAS column (or why it cannot)."""

    kind: Kind
    conflict: str | None = None
    note: str | None = None
    #: conversions that changed Python values before comparing, each with how many values it changed
    changes: tuple[Change, ...] = ()
    #: the SAS format the SAS column's values suggest, when it has no date/time format and Python has dates
    format_hint: str | None = None


def plan_conversion(sas_kind: Kind, sas_type: str, py_dtype: pl.DataType) -> Conversion:
    """Decide the comparison kind for a SAS column and its Python counterpart."""
    py_is_string = py_dtype in (pl.String, pl.Categorical) or isinstance(py_dtype, pl.Categorical | pl.Enum)
    py_temporal: Kind | None = None
    if py_dtype == pl.Date:
        py_temporal = "date"
    elif isinstance(py_dtype, pl.Datetime):
        py_temporal = "datetime"
    elif py_dtype == pl.Time or isinstance(py_dtype, pl.Duration):
        py_temporal = "time"
    py_is_number = py_dtype.is_numeric() or py_dtype == pl.Boolean or isinstance(py_dtype, pl.Decimal)
    if py_dtype == pl.Null:
        return Conversion(sas_kind, note="the Python column is entirely null")
    if sas_type == "character":
        if py_is_string:
            return Conversion("string")
        return Conversion("string", conflict=f"SAS character vs Python {py_dtype}")
    # SAS numeric
    if py_is_string:
        return Conversion(sas_kind, conflict=f"SAS numeric ({sas_kind}) vs Python {py_dtype}")
    if py_temporal is not None:
        if sas_kind == "numeric":
            return Conversion(
                py_temporal, note=f"the SAS column has no {py_temporal} format; compared as SAS {py_temporal} values"
            )
        if sas_kind != py_temporal:
            if py_temporal == "time" or (sas_kind, py_temporal) == ("time", "date"):
                # seconds since midnight against days or seconds since 1960: equal numbers would be a false pass
                return Conversion(sas_kind, conflict=f"SAS {sas_kind} vs Python {py_dtype}: a time of day or "
                                  "duration is not comparable with a date or datetime")
            return Conversion(sas_kind, note=f"SAS {sas_kind} vs Python {py_dtype}: Python values converted")
        return Conversion(sas_kind)
    if py_is_number:
        note = None
        if py_dtype == pl.Boolean:
            note = "Python booleans compared as 1/0"
        elif sas_kind in TEMPORAL_KINDS:
            note = f"Python {py_dtype} compared as raw SAS {sas_kind} numbers"
        return Conversion(sas_kind, note=note)
    return Conversion(sas_kind, conflict=f"SAS numeric vs Python {py_dtype}")


#: the largest SAS date (9999-12-31 in days since 1960); an unformatted column beyond it holds no dates
MAX_SAS_DAY = 2_936_549


def temporal_format_hint(biggest: object, py_kind: Kind) -> tuple[str, Kind] | None:
    """For an unformatted SAS numeric against Python dates/times: the format its values fit, and that kind
    (``biggest``: the largest absolute SAS value, :func:`largest_abs`)."""
    if py_kind == "time":
        return "TIME8.", "time"
    if py_kind not in ("date", "datetime") or not isinstance(biggest, int | float):
        return None
    return ("DATE9.", "date") if biggest <= MAX_SAS_DAY else ("DATETIME20.", "datetime")


def largest_abs(expr: pl.Expr) -> pl.Expr:
    """The largest absolute value of a numeric column (NaN as missing), for :func:`temporal_format_hint`."""
    return expr.cast(pl.Float64).fill_nan(None).abs().max()


def toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def finish_conversion(conv: Conversion, sas: ColumnInfo, py: ColumnInfo, biggest: object,
                      changed: list[Change]) -> Conversion:
    """A column pair's :func:`plan_conversion` completed with what its values showed: the format an unformatted
    SAS numeric's values fit (``biggest``: :func:`largest_abs` of them) and the conversions that changed Python
    values (``changed``: from :func:`change_exprs`)."""
    if sas.type == "numeric" and sas.kind == "numeric" and conv.kind != "numeric":
        fits = temporal_format_hint(biggest, conv.kind)
        if fits is not None:
            fmt, kind = fits
            note = (f"the SAS column has no date/time format; compared as SAS {conv.kind} values" if kind == conv.kind
                    else f"the SAS column has no date/time format and its values look like SAS {kind} values "
                    f"({'days' if kind == 'date' else 'seconds'} since 1960), not {conv.kind} values")
            conv = replace(conv, note=f"{note}: set formats = {{ {toml_key(sas.name)} = \"{fmt}\" }}",
                           format_hint=fmt)
    changes = (*py.changes, *changed)
    if not changes:
        return conv
    texts = [f"{c.text}: {c.values:,} value{'s' if c.values != 1 else ''} changed" for c in changes]
    return replace(conv, changes=changes, note="; ".join([conv.note, *texts] if conv.note else texts))


def truncation_width(sas: ColumnInfo | None, kind: Kind, py_dtype: pl.DataType) -> int | None:
    """The SAS LENGTH (3-7) a Python numeric (or date/time) column is truncated to before comparing, or None."""
    width = sas.length if sas is not None and sas.type == "numeric" else None
    if width and 3 <= width < 8 and kind != "string" and (py_dtype.is_numeric() or py_dtype.is_temporal()):
        return width
    return None


def change_exprs(col: pl.Expr, dtype: pl.DataType, kind: Kind, width: int | None) -> list[tuple[str, str, pl.Expr]]:
    """The conversions of a Python column to SAS units that may change values: (code, text, an aggregate counting
    the values it changes).  Aggregates, so that one pass over a lazy source counts them all."""
    present = col.is_not_null()
    found: list[tuple[str, str, pl.Expr]] = []
    if width is not None:
        units = sas_units(col, dtype, kind)
        found.append(("storage_truncation", f"Python values truncated to the SAS LENGTH {width} storage, as SAS stored them",
                      (truncate_expr(units, width) != units)))
    if dtype in (pl.Int64, pl.UInt64, pl.Int128) or isinstance(dtype, pl.Decimal):
        exact = col.cast(pl.Float64).cast(dtype, strict=False)
        found.append(("int_to_double", f"Python {dtype} values beyond 2^53 rounded to the nearest double (SAS "
                      "numerics are doubles)", present & exact.ne_missing(col)))
    if dtype.is_float():
        found.append(("nan_as_missing", "Python NaN compared as the SAS missing value", col.is_nan()))
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            wall = col.dt.replace_time_zone(None)
            utc = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            found.append(("timezone_to_wall_clock", f"time-zone-aware Python datetimes compared as their wall-clock time "
                          f"in {dtype.time_zone} (SAS datetimes carry no zone)", wall != utc))
        if dtype.time_unit == "ns":
            found.append(("nanoseconds_dropped", "nanoseconds of Python datetimes dropped (SAS datetimes keep microseconds at best)",
                          col.dt.nanosecond() % 1000 != 0))
        if kind == "time":
            found.append(("date_dropped", "the date part of Python datetimes dropped (the SAS column holds times "
                          "of day)", present))
    return [(code, text, changed.fill_null(False).sum()) for code, text, changed in found]


def sas_units(expr: pl.Expr, dtype: pl.DataType, kind: Kind) -> pl.Expr:
    """A Python column as a Float64 in the SAS units of ``kind``."""
    if dtype == pl.Date:
        days = expr.cast(pl.Int32).cast(pl.Float64) + EPOCH_SHIFT_DAYS
        return days * 86400.0 if kind == "datetime" else days
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            expr = expr.dt.replace_time_zone(None)
        if kind == "time":  # the time of day, to the nanosecond
            return expr.cast(pl.Time).cast(pl.Int64).cast(pl.Float64) / 1e9
        seconds = _seconds(expr.dt.epoch(dtype.time_unit), _PER_SECOND[dtype.time_unit], EPOCH_SHIFT_SECONDS)
        return seconds / 86400.0 if kind == "date" else seconds
    if dtype == pl.Time:
        return expr.cast(pl.Int64).cast(pl.Float64) / 1e9
    if isinstance(dtype, pl.Duration):
        return _seconds(expr.cast(pl.Int64), _PER_SECOND[dtype.time_unit])
    if dtype == pl.Null:
        return expr.cast(pl.Float64)
    out = expr.cast(pl.Float64)
    return out.fill_nan(None) if dtype.is_float() or isinstance(dtype, pl.Decimal) else out  # pandas NaN is missing


def _seconds(ticks: pl.Expr, per_second: int, shift: int = 0) -> pl.Expr:
    """Integer ticks (ns, us or ms) as Float64 seconds plus ``shift``, rounded once: whole seconds and the
    fraction are converted apart, so nanoseconds are not truncated and values in 1677 or 2262 get the same
    double as SAS has for the same instant (a single division there loses one ulp, about 2 us)."""
    whole = ticks.floordiv(per_second)
    fraction = ticks - whole * per_second
    return (whole + shift).cast(pl.Float64) + fraction.cast(pl.Float64) / float(per_second)


def round_temporal(expr: pl.Expr, kind: Kind, rules: DateRules) -> pl.Expr:
    """Datetime and time *keys* rounded to ``datetime_precision`` so that they can be matched exactly (compared
    values are not rounded: see :func:`parity.engine.core.column_equal`)."""
    if kind in ("datetime", "time"):
        return expr.round(_PRECISION[rules.datetime_precision])
    return expr


def normalize_string(expr: pl.Expr, rules: StringRules) -> pl.Expr:
    if rules.strip == "trailing":
        expr = expr.str.strip_chars_end(" ")
    elif rules.strip == "both":
        expr = expr.str.strip_chars(" ")
    if rules.ignore_case:
        expr = expr.str.to_lowercase()
    if rules.blank_is_missing:
        expr = pl.when(expr.str.strip_chars(" ") == "").then(None).otherwise(expr)
    return expr


def truncate_to_width(series: pl.Series, width: int) -> pl.Series:
    """Emulate SAS storing a double in ``width`` (3-7) bytes: keep the first bytes, zero the low mantissa bits."""
    if width >= 8 or width < 2:
        return series
    values = series.cast(pl.Float64).fill_nan(None)
    arr = values.fill_null(0.0).to_numpy().copy()
    finite = np.isfinite(arr)
    bits = arr.view(np.uint64)
    mask = np.uint64(((1 << 64) - 1) ^ ((1 << (64 - 8 * width)) - 1))
    bits[finite] &= mask
    out = pl.Series(series.name, arr, dtype=pl.Float64)
    return pl.select(pl.when(values.is_null()).then(None).otherwise(out)).to_series().alias(series.name)


def truncate_expr(expr: pl.Expr, width: int) -> pl.Expr:
    """:func:`truncate_to_width` as an expression (element-wise, so it streams)."""
    return expr.map_batches(lambda s: truncate_to_width(s, width), return_dtype=pl.Float64, is_elementwise=True)


_NON_ASCII = r"[^\x00-\x7F]"
#: put before a character the encoding lacks: above every byte, so such characters sort after all others
_UNENCODABLE = "\u0100"


@dataclass(frozen=True)
class Collation:
    """SAS sorts character values by their bytes in the session encoding (the SAS file's encoding): in wlatin1
    € (0x80) < ‹ (0x8B) < é (0xE9), where code points put é first.  A value is turned into a collation string
    whose code points are those bytes, so that polars' own (code point) string order is SAS's byte order.
    UTF-8 byte order is code point order, so UTF-8 needs no mapping."""

    encoding: str  # as the file names it, for the report
    codec: str | None  # the Python codec; None: UTF-8 order
    note: str | None = None

    @classmethod
    def of(cls, encoding: str | None) -> Collation:

        if not encoding:  # a DataFrame standing for the SAS side: its strings are Unicode, collated as UTF-8
            return cls("UTF-8", None)
        codec = python_codec(encoding)
        if codec is None:
            return cls(encoding, None, f"encoding {encoding!r} is unknown to Python: character values collated by "
                       "UTF-8 bytes; set encoding = '<codec>' for this dataset in parity.toml")
        return cls(encoding, None if codec == "utf-8" else codec)

    def value_counts(self, frame: pl.LazyFrame, name: str) -> pl.LazyFrame | None:
        """The values of column ``name`` that need a collation string (trailing blanks stripped; ASCII is its own
        collation string where the encoding agrees with ASCII), with their counts; None when none do."""
        if self.codec is None:
            return None
        values = frame.select(pl.col(name).str.strip_chars_end(" ").alias("v")).drop_nulls()
        ascii_same = bytes(range(128)).decode("ascii").encode(self.codec, "replace") == bytes(range(128))
        if ascii_same:
            values = values.filter(pl.col("v").str.contains(_NON_ASCII))
        return values.group_by("v").len()

    def mapping(self, counts: pl.DataFrame | None) -> tuple[dict[str, str], int]:
        """Collation strings for the values of :meth:`value_counts`, and how many values hold characters the
        encoding lacks (they sort after every byte, by code point)."""
        if self.codec is None or counts is None:
            return {}, 0
        out: dict[str, str] = {}
        unencodable = 0
        for value, count in counts.iter_rows():
            try:
                out[value] = value.encode(self.codec).decode("latin-1")
            except UnicodeEncodeError:
                unencodable += count
                out[value] = "".join(self._char(c) for c in value)
        return out, unencodable

    def _char(self, char: str) -> str:
        assert self.codec is not None
        try:
            return char.encode(self.codec).decode("latin-1")
        except UnicodeEncodeError:
            return _UNENCODABLE + char

    @property
    def code_page(self) -> CodePage | None:
        """How many bytes the SAS file's encoding writes each character in (None: UTF-8, ``len_bytes``)."""
        return None if self.codec is None else code_page(self.codec)


@dataclass(frozen=True)
class CodePage:
    """The byte length of characters in a SAS file's (non-UTF-8) encoding, as regex character classes that polars
    (Rust regex) and Spark (Java regex) read alike, so that both engines measure strings vectorised: a SAS
    character LENGTH counts bytes of the file's encoding ('€' is one byte in wlatin1, three in UTF-8).

    A character the encoding lacks counts one byte (SAS writes a substitution character when it transcodes it)
    and is counted apart (:attr:`unencodable`).  Characters beyond U+FFFF count as the encoding writes U+10000
    (four bytes in GB18030; unencodable elsewhere): exact for every encoding pyreadstat names but Big5-HKSCS and
    Shift_JIS X 0213, which write a few of them in two bytes."""

    codec: str
    #: (extra bytes, class body) for the characters written in more than one byte: a value's length in the file
    #: is its character count plus, per class, ``extra`` times the number of its characters in the class
    wider: tuple[tuple[int, str], ...]
    #: class body of the characters the encoding can write (``[^body]`` matches one it cannot)
    encodable: str
    #: at most this many bytes in the file per UTF-8 byte (2 in GB18030: 'ñ' is 4 bytes there, 2 in UTF-8), so
    #: that only values whose UTF-8 length times this reaches a LENGTH need measuring
    utf8_ratio: int
    #: every ASCII character is written (so only non-ASCII values can hold a character it cannot write)
    ascii: bool = True

    @property
    def unencodable(self) -> str:
        """A regex matching a character the encoding cannot write."""
        return f"[^{self.encodable}]"

    def byte_length(self, value: str) -> int:
        """``value``'s length in the file's bytes (the expressions' rule, for one Python value)."""
        return len(value.encode(self.codec, "replace"))


_PROBE = "\u00e9\u20ac\u0436\u03b1\u05d0\u0628\u0e01\u3042\u4e2d\ud55c"  # é € ж α א ب ก あ 中 한


@functools.lru_cache(maxsize=16)
def code_page(codec: str) -> CodePage:
    """The :class:`CodePage` of a Python codec (scanned once per process: its 256 bytes for a single-byte
    encoding, the Basic Multilingual Plane for a multibyte one)."""
    multibyte = any(_width(ch, codec) > 1 for ch in _PROBE)
    points = (range(0x10000) if multibyte
              else sorted({ord(c) for b in range(256) for c in _decoded(bytes([b]), codec)}))
    widths: dict[int, list[int]] = {}
    ratio = 1
    for cp in points:
        width = 0 if 0xD800 <= cp <= 0xDFFF else _width(chr(cp), codec)
        if width:
            widths.setdefault(width, []).append(cp)
            ratio = max(ratio, -(-width // (1 if cp < 0x80 else 2 if cp < 0x800 else 3)))
    astral = _width("\U00010000", codec) if multibyte else 0
    if astral:  # -1 stands for U+10000-U+10FFFF (4 bytes in UTF-8: never more in the file)
        widths.setdefault(astral, []).append(-1)
    encodable = sorted(cp for cps in widths.values() for cp in cps)
    return CodePage(codec, tuple((w - 1, _class_body(cps)) for w, cps in sorted(widths.items()) if w > 1),
                    _class_body(encodable), ratio, set(range(128)) <= set(encodable))


def _width(char: str, codec: str) -> int:
    """Bytes ``codec`` writes ``char`` in, 0 if it cannot."""
    try:
        return len(char.encode(codec))
    except UnicodeEncodeError:
        return 0


def _decoded(raw: bytes, codec: str) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        return ""


def _class_body(points: list[int]) -> str:
    """Code points (ascending; -1 for U+10000-U+10FFFF) as the inside of a regex character class."""
    runs: list[list[int]] = []
    for cp in points:
        if cp < 0:
            runs.append([0x10000, 0x10FFFF])
        elif runs and cp == runs[-1][1] + 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return "".join(f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in runs)


def sas_byte_length(expr: pl.Expr, page: CodePage | None) -> pl.Expr:
    """The length of string ``expr`` in bytes of the SAS file's encoding (``page``; None: UTF-8)."""
    if page is None:
        return expr.str.len_bytes()
    out = expr.str.len_chars()
    for extra, body in page.wider:
        out = out + expr.str.count_matches(f"[{body}]") * extra
    return out
