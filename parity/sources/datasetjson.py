"""CDISC Dataset-JSON v1.1 (``.json`` and ``.ndjson``) as a source on either side.

A Dataset-JSON file declares each column's logical ``dataType`` (string, integer, decimal, float, double, boolean,
date, datetime, time, URI), an optional ``targetDataType`` (the type a receiving system such as SAS must convert it
to), the character ``length``, a SAS ``displayFormat``, a ``label`` and a ``keySequence``.  parity reads it as SAS
would read it back into a data set, so that a SAS-written Dataset-JSON compares with the .xpt/.sas7bdat it came
from:

* string / URI -> character (``length`` is the SAS length; null is a blank value; trailing blanks are dropped, as
  for every SAS character value);
* integer, float, double -> numeric; decimal (a JSON string, ``"1,234.5"`` allowed) -> numeric, converted exactly
  (to the nearest double, as SAS's informat does); boolean -> 1/0; null -> SAS missing ``.``;
* date / datetime / time with ``targetDataType = "integer"`` (ADaM's numeric dates) -> a SAS date (days since
  1960-01-01), datetime (seconds since 1960-01-01T00:00) or time (seconds since midnight), from strict ISO 8601
  text; a datetime written with ``Z`` or an offset is taken as the wall-clock time written (SAS datetimes carry no
  zone, the change is reported on the column); without ``targetDataType`` they stay character ISO 8601 text, as
  SDTM's ``--DTC`` variables are in SAS;
* a numeric column's kind (date/datetime/time/plain) comes from its ``displayFormat`` as for a SAS file, else from
  its ``dataType``.

Memory: an ``.ndjson`` file streams line by line into columns (:data:`BATCH_VALUES` values at a time, about 100 MB
of Python objects), so it needs the columnar table plus one batch, and through :func:`open_datasetjson` (the
sources registry) a file of more than :data:`SPILL_BYTES` is written batch by batch to parquet parts that the
engine scans lazily (:class:`SpilledDatasetJson`); a ``.json`` file is parsed once as a whole (the
standard library's parser), which needs about 8x the file's size in Python objects while it is converted (measured:
328 MB for a 43 MB file); use ``.ndjson`` for files of more than a few hundred MB.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from parity.errors import InputError
from parity.formats import EPOCH_SHIFT_DAYS, Kind, kind_of_format
from parity.sources.base import Change, ColumnInfo, SourceMeta, Table

SUFFIXES = (".json", ".ndjson")
FORMAT = "datasetjson"
#: values converted from Python objects to columns at a time (bounds an .ndjson read's memory to ~100 MB of Python
#: objects besides the table itself)
BATCH_VALUES = 1_000_000


#: an .ndjson file larger than this is streamed into parquet parts (a temporary folder) and scanned lazily
SPILL_BYTES = 256 << 20


def _batch_rows(columns: Sequence[Any]) -> int:
    return max(1, BATCH_VALUES // max(1, len(columns)))

DATA_TYPES = ("string", "integer", "decimal", "float", "double", "boolean", "datetime", "date", "time", "URI")
_TEMPORAL = ("date", "datetime", "time")
_VERSION_RE = re.compile(r"^1\.1(\.(0|[1-9][0-9]*))?$")
_DECIMAL_RE = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_GROUPED_RE = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$"
_DATE_RE = r"^(\d{4})-(\d{2})-(\d{2})$"
_TIME_RE = r"^(\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?$"
_DATETIME_RE = r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:\d{2})?$"
_ISO_FORMS = {"date": "YYYY-MM-DD", "datetime": "YYYY-MM-DDThh:mm[:ss[.f]] (optionally Z or +hh:mm)",
              "time": "hh:mm[:ss[.f]]"}


@dataclass(frozen=True)
class DJColumn:
    """One entry of a Dataset-JSON ``columns`` array."""

    name: str
    data_type: str
    target: str | None
    length: int | None
    display_format: str | None
    label: str | None
    key_sequence: int | None
    item_oid: str | None

    @property
    def numeric(self) -> bool:
        """Whether SAS holds this column as a number (else as character)."""
        if self.data_type in _TEMPORAL:
            return self.target == "integer"
        return self.data_type in ("integer", "decimal", "float", "double", "boolean")

    @property
    def kind(self) -> Kind:
        if not self.numeric:
            return "string"
        by_format = kind_of_format(self.display_format)
        if by_format != "numeric" or self.data_type not in _TEMPORAL:
            return by_format
        return "date" if self.data_type == "date" else "datetime" if self.data_type == "datetime" else "time"


def _fail(path: Path, message: str) -> InputError:
    return InputError(f"{path}: {message}")


def _parse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value (a missing value is null)")


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=_parse_constant)


#: one decoder for every line of an .ndjson file (json.loads builds a decoder per call)
_DECODER = json.JSONDecoder(parse_constant=_parse_constant)


#: what to do with a JSON file that is not Dataset-JSON
_OTHER_JSON = ("parity reads .json/.ndjson files as CDISC Dataset-JSON v1.1 (datasetJSONVersion, columns, rows); "
               "write other data as parquet (df.write_parquet) or CSV")


def _header(path: Path, doc: Any) -> tuple[dict[str, Any], list[DJColumn]]:
    """Check the top-level metadata and the columns: (metadata without rows, columns)."""
    if not isinstance(doc, dict):
        what = "first line" if path.suffix.lower() == ".ndjson" else "JSON"
        raise _fail(path, f"not a Dataset-JSON file (its {what} is a {type(doc).__name__}, not an object with "
                    f"datasetJSONVersion, columns and rows); {_OTHER_JSON}")
    version = doc.get("datasetJSONVersion")
    if version is None:
        if "clinicalData" in doc or "referenceData" in doc:
            raise _fail(path, "Dataset-JSON v1.0 is not supported (its data sits under clinicalData/referenceData); "
                        "convert it to v1.1 (CDISC's convert_1_0_to_1_1.py does) or export it again as v1.1")
        raise _fail(path, f"not a Dataset-JSON file (no datasetJSONVersion); {_OTHER_JSON}")
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        hint = (" (v1.0 keeps its data under clinicalData/referenceData: convert it to v1.1)"
                if str(version).startswith("1.0") else "")
        raise _fail(path, f"Dataset-JSON version {version!r} is not supported; parity reads v1.1 (1.1, 1.1.x){hint}")
    raw_columns = doc.get("columns")
    if not isinstance(raw_columns, list) or not raw_columns:
        raise _fail(path, "the Dataset-JSON metadata has no columns array (one object per variable, with name and "
                    "dataType)")
    columns: list[DJColumn] = []
    seen: dict[str, str] = {}
    for i, col in enumerate(raw_columns, 1):
        where = f"column {i}"
        if not isinstance(col, dict):
            raise _fail(path, f"{where} of columns is a {type(col).__name__}, not an object")
        name = col.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(path, f"{where} of columns has no name")
        where = f"column {name!r}"
        if name.casefold() in seen:
            raise _fail(path, f"{where} is declared twice (as {seen[name.casefold()]!r} too); SAS names are "
                        "case-insensitive: give every column a unique name")
        seen[name.casefold()] = name
        data_type = col.get("dataType")
        if data_type not in DATA_TYPES:
            raise _fail(path, f"{where} has dataType {data_type!r}; Dataset-JSON v1.1 allows "
                        f"{', '.join(DATA_TYPES)}")
        target = col.get("targetDataType")
        if target is not None and not ((target == "integer" and data_type in _TEMPORAL)
                                       or (target == "decimal" and data_type == "decimal")):
            raise _fail(path, f"{where} has dataType {data_type!r} with targetDataType {target!r}, which Dataset-JSON "
                        "v1.1 does not define (integer goes with date/datetime/time, decimal with decimal)")
        length = col.get("length")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
            raise _fail(path, f"{where} has length {length!r}; it must be a whole number of at least 1")
        key = col.get("keySequence")
        if key is not None and (isinstance(key, bool) or not isinstance(key, int) or key < 1):
            raise _fail(path, f"{where} has keySequence {key!r}; it must be a whole number of at least 1")
        fmt = col.get("displayFormat")
        if fmt is not None and not isinstance(fmt, str):
            raise _fail(path, f"{where} has displayFormat {fmt!r}; it must be a SAS format name such as 'DATE9.'")
        label = col.get("label")
        columns.append(DJColumn(name, data_type, target, length, fmt or None,
                                label if isinstance(label, str) else None, key,
                                col.get("itemOID") if isinstance(col.get("itemOID"), str) else None))
    keys = sorted((c.key_sequence, c.name) for c in columns if c.key_sequence is not None)
    if len({k for k, _ in keys}) != len(keys):
        raise _fail(path, f"two columns share a keySequence ({', '.join(f'{n}={k}' for k, n in keys)}); each key "
                    "column needs its own position")
    records = doc.get("records")
    if isinstance(records, bool) or not isinstance(records, int) or records < 0:
        raise _fail(path, f"records is {records!r}; Dataset-JSON needs the number of rows there (0 or more)")
    meta = {k: v for k, v in doc.items() if k != "rows"}
    return meta, columns


# ------------------------------------------------------------------------------------------------------------ rows


def _finite(value: Any) -> bool:
    """A JSON number a double holds (SAS has no infinity; 1e999 and 10**400 are not numbers it can keep)."""
    if not isinstance(value, int | float):
        return True  # text: checked as text
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _bad_row(path: Path, row: Any, number: int, width: int, line: int | None) -> InputError:
    where = f"row {number:,}" + (f" (line {line:,})" if line is not None else "")
    if not isinstance(row, list):
        return _fail(path, f"{where} is a JSON {type(row).__name__}, not an array of values (one per column)")
    return _fail(path, f"{where} has {len(row)} values but the file declares {width} columns; the row and the "
                 "columns must match one to one")


class _Batches:
    """Converts rows (lists of JSON values) to typed polars columns, a batch at a time."""

    def __init__(self, path: Path, columns: list[DJColumn], spill: Path | None = None) -> None:
        self.path = path
        self.columns = columns
        self.spill = spill  # a folder: each batch is written there as a parquet part instead of kept in memory
        self.parts = 0
        self.frames: list[pl.DataFrame] = []
        self.offsets: dict[str, int] = {}  # datetimes written with a zone, per column
        self.rows = 0

    def add(self, rows: Sequence[Any], lines: Sequence[int] | None = None) -> None:
        width = len(self.columns)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                raise _bad_row(self.path, row, self.rows + i + 1, width, lines[i] if lines else None)
        values = list(zip(*rows, strict=True)) if rows else [() for _ in self.columns]
        series = [self._column(col, list(vals), lines) for col, vals in zip(self.columns, values, strict=True)]
        if self.spill is not None:
            pl.DataFrame(series).write_parquet(self.spill / f"part-{self.parts:06d}.parquet", compression="lz4")
            self.parts += 1
        else:
            self.frames.append(pl.DataFrame(series))
        self.rows += len(rows)

    def _where(self, col: DJColumn, index: int, lines: Sequence[int] | None) -> str:
        line = f" (line {lines[index]:,})" if lines else ""
        return f"row {self.rows + index + 1:,}{line}, column {col.name!r}"

    def _bad(self, col: DJColumn, index: int, value: Any, lines: Sequence[int] | None, expected: str) -> InputError:
        shown = json.dumps(value, ensure_ascii=False)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        what = f"dataType {col.data_type!r}" + (f" (targetDataType {col.target!r})" if col.target else "")
        return _fail(self.path, f"{self._where(col, index, lines)}: {shown} does not fit {what}: expected "
                     f"{expected} or null")

    def _check_types(self, col: DJColumn, values: list[Any], lines: Sequence[int] | None, allowed: set[type],
                     expected: str) -> set[type]:
        """The JSON types in ``values`` (null aside), all in ``allowed``, else an error naming the first value that
        is not.  One pass in C (``map(type, ...)``); the values are searched only when one does not fit."""
        types = set(map(type, values))
        types.discard(type(None))
        if not types <= allowed:
            bad = next(i for i, v in enumerate(values) if v is not None and type(v) not in allowed)
            raise self._bad(col, bad, values[bad], lines, expected)
        return types

    def _column(self, col: DJColumn, values: list[Any], lines: Sequence[int] | None) -> pl.Series:
        dt = col.data_type
        if not col.numeric:  # string, URI and ISO 8601 date/time text kept as SAS character values
            self._check_types(col, values, lines, {str}, "a JSON string")
            return pl.Series(col.name, values, dtype=pl.String).fill_null("").str.strip_chars_end(" ")
        if dt in ("integer", "float", "double", "boolean"):
            expected = {"integer": "a whole JSON number", "boolean": "true or false"}.get(dt, "a JSON number")
            types = self._check_types(col, values, lines, {bool} if dt == "boolean" else {int, float}, expected)
            series = self._numbers(col, values, lines, expected)
            if dt == "integer" and float in types:
                whole = series.is_null() | (series == series.floor())
                if not whole.all():
                    bad = int((~whole).arg_true()[0])
                    raise self._bad(col, bad, values[bad], lines, expected)
            return series
        if dt == "decimal":
            return self._decimal(col, values, lines)
        return self._temporal(col, values, lines)

    def _numbers(self, col: DJColumn, values: list[Any], lines: Sequence[int] | None, expected: str) -> pl.Series:
        """JSON numbers (or booleans) as Float64; one a double cannot hold (10**400, 1e999) is an error."""
        try:
            series = pl.Series(col.name, values, dtype=pl.Float64, strict=True)
        except (OverflowError, TypeError, ValueError):
            bad = next((i for i, v in enumerate(values) if v is not None and not _finite(v)), 0)
            raise self._bad(col, bad, values[bad], lines, expected) from None
        finite = series.is_null() | series.is_finite()
        if not finite.all():
            bad = int((~finite).arg_true()[0])
            raise self._bad(col, bad, values[bad], lines, expected)
        return series

    def _decimal(self, col: DJColumn, values: list[Any], lines: Sequence[int] | None) -> pl.Series:
        """Decimal text (``"30.8983333232059"``, ``"1,234.5"``) to the nearest double; JSON numbers too."""
        expected = "decimal text such as \"1234.5\" or \"1,234.5\""
        types = self._check_types(col, values, lines, {str, int, float}, expected)
        if types - {str}:
            bad = next((i for i, v in enumerate(values) if not _finite(v)), None)
            if bad is not None:
                raise self._bad(col, bad, values[bad], lines, expected)
            values = [v if v is None or isinstance(v, str) else repr(float(v)) for v in values]
        text = pl.Series("t", values, dtype=pl.String).str.strip_chars(" ")
        plain = pl.when(text.str.contains(_GROUPED_RE)).then(text.str.replace_all(",", "")).otherwise(text)
        blank = text.is_null() | (text == "")  # blank decimal text is missing, as SAS's informats read it
        ok = pl.DataFrame([text]).select(pl.when(blank).then(None).otherwise(plain).alias("v"),
                                         (blank | plain.str.contains(_DECIMAL_RE)).alias("ok"))
        number = ok.get_column("v").cast(pl.Float64, strict=False)
        fits = ok.get_column("ok") & (number.is_null() | number.is_finite())  # "1e999" is no SAS number
        if not fits.all():
            bad = int((~fits).arg_true()[0])
            raise self._bad(col, bad, values[bad], lines, expected)
        return number.alias(col.name)

    def _temporal(self, col: DJColumn, values: list[Any], lines: Sequence[int] | None) -> pl.Series:
        """ISO 8601 text to SAS days (date) or seconds (datetime since 1960, time since midnight)."""
        dt = col.data_type
        self._check_types(col, values, lines, {str}, f"ISO 8601 text {_ISO_FORMS[dt]}")
        converted, failed, zoned = iso_to_sas(pl.Series(col.name, values, dtype=pl.String), dt)
        if failed.any():
            first = int(failed.arg_true()[0])
            raise self._bad(col, first, values[first], lines, f"ISO 8601 text {_ISO_FORMS[dt]}")
        if zoned:
            self.offsets[col.name] = self.offsets.get(col.name, 0) + zoned
        return converted

    def frame(self) -> pl.DataFrame:
        if not self.frames:
            self.add([])
        frame = pl.concat(self.frames, how="vertical", rechunk=True) if len(self.frames) > 1 else self.frames[0]
        self.frames = []
        return frame

    def scan(self) -> pl.LazyFrame:
        """The spilled parts, scanned lazily."""
        assert self.spill is not None
        if not self.parts:
            self.add([])
        return pl.scan_parquet(self.spill / "*.parquet")


def iso_to_sas(text: pl.Series, data_type: str) -> tuple[pl.Series, pl.Series, int]:
    """ISO 8601 text (``data_type`` date, datetime or time) in SAS units: (values, which non-missing texts do not
    convert, how many datetimes carried a zone).  Blank text is missing, as null is."""
    value, bad, zone = iso_exprs(pl.col("t"), data_type)
    out = pl.DataFrame([text.alias("t")]).select(value.alias("v"), bad.alias("bad"), zone.alias("z"))
    return out.get_column("v").alias(text.name), out.get_column("bad"), int(out.get_column("z").sum())


def iso_exprs(text: pl.Expr, data_type: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Expressions over ISO 8601 text: (the SAS value, a non-missing text that does not convert, a datetime written
    with a zone)."""
    t = text.str.strip_chars(" ")
    value: pl.Expr
    if data_type == "date":
        value = pl.when(t.str.contains(_DATE_RE)).then(
            (t.str.to_date("%Y-%m-%d", strict=False).cast(pl.Int32) + EPOCH_SHIFT_DAYS).cast(pl.Float64))
        zone = pl.lit(False)
    elif data_type == "time":
        value = _clock_seconds(t, end_of_day=True)
        zone = pl.lit(False)
    else:
        parts = t.str.extract_groups(_DATETIME_RE)
        days = (parts.struct.field("1").str.to_date("%Y-%m-%d", strict=False).cast(pl.Int32)
                + EPOCH_SHIFT_DAYS).cast(pl.Float64)
        value = days * 86400 + _clock_seconds(parts.struct.field("2"), end_of_day=False)
        zone = parts.struct.field("3").is_not_null()
    missing = t.is_null() | (t == "")
    return (pl.when(missing).then(None).otherwise(value), ~missing & value.is_null(),
            (~missing & zone).fill_null(False))


def _clock_seconds(text: pl.Expr, end_of_day: bool) -> pl.Expr:
    """``hh:mm[:ss[.f]]`` as seconds since midnight (null when not a time of day; ``24:00:00`` with
    ``end_of_day``, ISO 8601's end of the day)."""
    parts = text.str.extract_groups(_TIME_RE)
    hours = parts.struct.field("1").cast(pl.Float64)
    minutes = parts.struct.field("2").cast(pl.Float64)
    seconds = parts.struct.field("3").cast(pl.Float64).fill_null(0.0)
    valid = (hours < 24) & (minutes < 60) & (seconds < 60)
    if end_of_day:
        valid = valid | ((hours == 24) & (minutes == 0) & (seconds == 0))
    return pl.when(valid).then(hours * 3600 + minutes * 60 + seconds)


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _not_json(path: Path, exc: Exception) -> InputError:
    return _fail(path, f"not a Dataset-JSON file: the JSON does not parse ({exc}); check that the file was written "
                 "completely, as UTF-8")


def _read_json(path: Path, digest: Any, spill: Path | None) -> tuple[dict[str, Any], list[DJColumn], _Batches]:
    try:
        with path.open("rb") as fh:
            data = fh.read()
        digest.update(data)
        doc = _loads(data)
        del data
    except (ValueError, UnicodeDecodeError) as exc:
        raise _not_json(path, exc) from None
    meta, columns = _header(path, doc)
    rows = doc.get("rows", [])
    if not isinstance(rows, list):
        raise _fail(path, f"rows is a JSON {type(rows).__name__}, not an array of rows")
    batches = _Batches(path, columns, spill)
    del doc
    size = _batch_rows(columns)
    for start in range(0, len(rows), size):
        batches.add(rows[start:start + size])
        rows[start:start + size] = [None] * min(size, len(rows) - start)  # free the Python values
    return meta, columns, batches


def _ndjson_lines(path: Path, digest: Any = None) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) of every line that is not blank; ``digest`` (a hashlib object) sees every byte."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if digest is not None:
                digest.update(line)
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
                yield number, _DECODER.decode(text.lstrip("\ufeff") if number == 1 else text)
            except (ValueError, UnicodeDecodeError) as exc:
                raise _fail(path, f"line {number:,} is not valid JSON ({exc}); in .ndjson every line is one JSON "
                            "value: the metadata object first, then one array per row") from None


def _read_ndjson(path: Path, digest: Any, spill: Path | None) -> tuple[dict[str, Any], list[DJColumn], _Batches]:
    lines = _ndjson_lines(path, digest)
    first = next(lines, None)
    if first is None:
        raise _fail(path, "the file is empty: a Dataset-JSON .ndjson file starts with a metadata line")
    meta, columns = _header(path, first[1])
    batches = _Batches(path, columns, spill)
    for batch in _batched(lines, _batch_rows(columns)):
        batches.add([row for _, row in batch], [n for n, _ in batch])
    return meta, columns, batches


def refuse_sas_options(path: Path, encoding: str | None = None, catalog: Path | None = None) -> None:
    """A SAS file's reading options that cannot apply to Dataset-JSON are errors, never ignored."""
    if encoding is not None or catalog is not None:
        what = "encoding" if encoding is not None else "catalog"
        raise _fail(path, f"{what} does not apply to a Dataset-JSON file (always UTF-8; its formats and labels are "
                    "in the file); remove it")


def open_datasetjson(location: str, options: Any) -> Table | SpilledDatasetJson:
    """The sources registry's opener (a :class:`~parity.sources.base.Source`).  ``options``
    (``parity.sources.registry.OpenOptions``): ``formats`` as for a SAS file; ``like``/``rename`` (the SAS side's
    columns, when this is the Python side: see :func:`read_datasetjson`); ``encoding`` and ``catalog`` do not apply
    and are refused rather than ignored.  An .ndjson file of more than :data:`SPILL_BYTES` is streamed into parquet
    parts and scanned lazily; anything else is read into memory."""
    path = Path(location)
    refuse_sas_options(path, getattr(options, "encoding", None), getattr(options, "catalog", None))
    spill = path.suffix.lower() == ".ndjson" and path.is_file() and path.stat().st_size > SPILL_BYTES
    return _load(path, getattr(options, "formats", None), getattr(options, "like", None),
                 getattr(options, "rename", None), spill=spill)[0]


def inspect_contents(path: Path, encoding: str | None = None) -> dict[str, Any]:
    """``parity inspect``'s view of a Dataset-JSON file (see :func:`contents`)."""
    refuse_sas_options(path, encoding)
    return contents(path)


def read_datasetjson(path: Path, *, formats: Mapping[str, str] | None = None, like: Sequence[ColumnInfo] | None = None,
                     rename: Mapping[str, str] | None = None) -> Table:
    """Read a Dataset-JSON v1.1 file (.json or .ndjson) as SAS would hold it, into memory; ``formats`` overrides a
    numeric column's format (and so its kind) as for a SAS file.

    ``like``: the SAS side's columns, when this file is the Python side (with the dataset's ``rename``, SAS name ->
    Python name).  A date/datetime/time column without ``targetDataType`` is ISO 8601 text; against a SAS numeric
    column it is read as SAS dates/datetimes/times (reported as ``iso_text_as_sas``), as a CSV's text is; text that
    does not convert (a partial date) makes it a type conflict naming the first such value."""
    table = _load(Path(path), formats, like, rename)[0]
    assert isinstance(table, Table)
    return table


@dataclass
class SpilledDatasetJson:
    """A big .ndjson file streamed into parquet parts in a temporary folder (removed with this object) and scanned
    lazily, so that the engine never needs it whole in memory (a :class:`~parity.sources.base.Source`)."""

    columns: list[ColumnInfo]
    meta: SourceMeta
    folder: tempfile.TemporaryDirectory[str]
    conversions: list[pl.Expr]

    def scan(self) -> pl.LazyFrame:
        lazy = pl.scan_parquet(Path(self.folder.name) / "*.parquet")
        return lazy.with_columns(self.conversions) if self.conversions else lazy


def _load(path: Path, formats: Mapping[str, str] | None, like: Sequence[ColumnInfo] | None = None,
          rename: Mapping[str, str] | None = None, spill: bool = False,
          ) -> tuple[Table | SpilledDatasetJson, list[DJColumn]]:

    if not path.is_file():
        raise _fail(path, "file not found")
    digest = hashlib.sha256()  # hashed while read: no second pass over the file
    folder = tempfile.TemporaryDirectory(prefix="parity-datasetjson-", dir=os.environ.get("PARITY_ENGINE_TMPDIR")
                                         or None) if spill else None
    try:
        read = _read_ndjson if path.suffix.lower() == ".ndjson" else _read_json
        meta, columns, batches = read(path, digest, Path(folder.name) if folder else None)
        if batches.rows != meta["records"]:
            raise _fail(path, f"records says {meta['records']:,} rows but the file holds {batches.rows:,}; the file "
                        "is incomplete or its records count is wrong: export it again")
        lazy = batches.scan() if folder else batches.frame().lazy()
        infos, conversions = _column_infos(path, lazy, columns, batches.offsets, formats, like, rename)
    except MemoryError:
        if folder:
            folder.cleanup()
        raise _fail(path, "not enough memory to parse this .json file as a whole; write it as .ndjson (one row "
                    "per line), which parity reads a batch of rows at a time") from None
    except BaseException:
        if folder:
            folder.cleanup()
        raise
    system = meta.get("sourceSystem")
    extra: dict[str, Any] = {
        "table_name": meta.get("name"), "dataset_json_version": meta.get("datasetJSONVersion"),
        "representation": path.suffix.lower().lstrip("."), "created": meta.get("datasetJSONCreationDateTime"),
        "modified": meta.get("dbLastModifiedDateTime"), "originator": meta.get("originator"),
        "source_system": " ".join(str(system.get(k)) for k in ("name", "version") if system.get(k))
        if isinstance(system, dict) else None,
        "item_group_oid": meta.get("itemGroupOID"), "keys": key_columns(columns),
    }
    source_meta = SourceMeta(source=str(path), sha256=digest.hexdigest(), rows=batches.rows, columns=len(infos),
                             format=FORMAT, label=meta.get("label") or None, encoding="utf-8", extra=extra)
    if folder:
        return SpilledDatasetJson(infos, source_meta, folder, conversions), columns
    frame = lazy.with_columns(conversions).collect() if conversions else lazy.collect()
    return Table(frame=frame, columns=infos, meta=source_meta), columns


def _column_infos(path: Path, lazy: pl.LazyFrame, columns: list[DJColumn], offsets: Mapping[str, int],
                  formats: Mapping[str, str] | None, like: Sequence[ColumnInfo] | None,
                  rename: Mapping[str, str] | None) -> tuple[list[ColumnInfo], list[pl.Expr]]:
    """Each column's SAS metadata, and the conversions of ISO text columns that meet a SAS numeric column."""
    from parity.sources.sas import UnknownFormatColumn

    overrides = {k.casefold(): v for k, v in (formats or {}).items()}
    unknown = sorted(set(overrides) - {c.name.casefold() for c in columns})
    if unknown:
        raise UnknownFormatColumn(unknown[0], f"{path}: formats names {unknown[0]!r}, which is not a column of "
                                  f"this file (columns: {', '.join(c.name for c in columns[:30])})")
    renamed = {k.casefold(): v for k, v in (rename or {}).items()}
    targets = {renamed.get(c.name.casefold(), c.name).casefold(): c.type for c in like or ()}
    infos: list[ColumnInfo] = []
    conversions: list[pl.Expr] = []
    for col in columns:
        fmt = overrides.get(col.name.casefold()) or col.display_format
        changes = (_zone_change(offsets[col.name]),) if offsets.get(col.name) else ()
        if col.numeric:
            kind = kind_of_format(fmt) if col.name.casefold() in overrides else col.kind
            infos.append(ColumnInfo(col.name, "numeric", kind, None, fmt, col.label, changes=changes))
        elif col.data_type in _TEMPORAL and targets.get(col.name.casefold(), "") == "numeric":
            conversion, info = _text_as_sas(lazy, col, fmt)
            conversions += [conversion] if conversion is not None else []
            infos.append(info)
        else:
            infos.append(ColumnInfo(col.name, "character", "string", col.length, fmt, col.label))
    return infos, conversions


def _zone_change(values: int) -> Change:
    return Change("timezone_to_wall_clock", "ISO 8601 datetimes written with Z or an offset compared as the "
                  "wall-clock time written (SAS datetimes carry no zone)", values)


def _text_as_sas(lazy: pl.LazyFrame, col: DJColumn, fmt: str | None) -> tuple[pl.Expr | None, ColumnInfo]:
    """A column of ISO 8601 text (no targetDataType) read as SAS values to meet a SAS numeric column: (its
    conversion, or None when some text does not convert, and the column's info)."""
    text = pl.col(col.name)
    value, bad, zone = iso_exprs(text, col.data_type)
    stats = lazy.select(bad.sum().alias("bad"), value.is_not_null().sum().alias("values"), zone.sum().alias("zoned"),
                        (text.str.strip_chars(" ") != "").sum().alias("texts")).collect().row(0, named=True)
    kind: Kind = "date" if col.data_type == "date" else "datetime" if col.data_type == "datetime" else "time"
    if stats["bad"]:
        first = lazy.with_row_index("#r").filter(bad).select("#r", text).head(1).collect().row(0)
        problem = (f"{stats['bad']:,} of {stats['texts']:,} values of the Dataset-JSON column {col.name!r} (dataType "
                   f"{col.data_type!r}, no targetDataType: ISO 8601 text) are not full ISO 8601 {col.data_type}s "
                   f"(first: {first[1]!r} in row {first[0] + 1:,}), so it cannot be compared with the SAS numeric "
                   f"column; a SAS {col.data_type} needs {_ISO_FORMS[col.data_type]}")
        return None, ColumnInfo(col.name, "character", "string", col.length, fmt, col.label, problem=problem)
    changes = [Change("iso_text_as_sas", f"ISO 8601 {col.data_type} text (no targetDataType) read as SAS "
                      f"{col.data_type} values to meet the SAS numeric column", stats["values"])] \
        if stats["values"] else []
    if stats["zoned"]:
        changes.append(_zone_change(stats["zoned"]))
    return value.alias(col.name), ColumnInfo(col.name, "numeric", kind, None, fmt, col.label, changes=tuple(changes))


def key_columns(columns: Sequence[DJColumn]) -> list[str]:
    """The key columns in keySequence order."""
    return [c.name for c in sorted((c for c in columns if c.key_sequence is not None),
                                   key=lambda c: c.key_sequence or 0)]


def datasetjson_keys(path: Path) -> list[str]:
    """The key columns a Dataset-JSON file declares (keySequence order), from its metadata alone (an .ndjson
    file's first line; a .json file is parsed whole)."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "file not found")
    if path.suffix.lower() == ".ndjson":
        first = next(_ndjson_lines(path), None)
        if first is None:
            raise _fail(path, "the file is empty: a Dataset-JSON .ndjson file starts with a metadata line")
        return key_columns(_header(path, first[1])[1])
    try:
        with path.open("rb") as fh:
            doc = _loads(fh.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise _not_json(path, exc) from None
    return key_columns(_header(path, doc)[1])


def contents(path: Path) -> dict[str, Any]:
    """What ``parity inspect`` shows for a Dataset-JSON file: the layout of a SAS file's CONTENTS."""
    path = Path(path)
    table, columns = _load(path, None)
    extra = table.meta.extra
    out_columns = []
    for i, (info, col) in enumerate(zip(table.columns, columns, strict=True), 1):
        out_columns.append({
            "number": i, "name": info.name, "type": "Num" if info.type == "numeric" else "Char",
            "length": col.length, "format": info.format, "informat": None,
            "label": info.label, "kind": info.kind, "data_type": col.data_type, "target_data_type": col.target,
            "key_sequence": col.key_sequence,
        })
    return {
        "file": str(path), "format": FORMAT, "dataset_json_version": extra["dataset_json_version"],
        "representation": extra["representation"],
        "dataset": extra["table_name"], "label": table.meta.label, "rows": table.meta.rows,
        "variables": len(out_columns), "encoding": "utf-8", "created": extra["created"],
        "modified": extra["modified"], "originator": extra["originator"], "source_system": extra["source_system"],
        "keys": extra["keys"] or None, "columns": out_columns,
    }
