"""Loading both sides into polars: SAS outputs through pyreadstat, Python outputs from a job callable or a file.

The SAS side is read as raw numbers (``disable_datetime_conversion=True``) with special missing values kept
(``user_missing=True``); parity classifies date/datetime/time columns from their formats itself
(:mod:`parity.formats`), so pyreadstat's module-level ``extra_*_formats`` lists are never touched and no date
beyond 9999-12-31 can overflow.  A faster reader can slot in behind :func:`read_sas` later.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import os
import re
import struct
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import polars as pl

from parity.errors import InputError
from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS, Kind, kind_of_format
from parity.sandbox import port_state, usable_stream

SPECIAL_TAGS = frozenset([*"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "_"])


@dataclass(frozen=True)
class Change:
    """A conversion that changed values on their way to comparison, and how many (shown on the column)."""

    code: str  # e.g. "storage_truncation", "int_to_double", "timezone_to_wall_clock", "csv_utc_offset"
    text: str
    values: int

    def to_dict(self) -> dict[str, Any]:
        return {"conversion": self.code, "values": self.values, "text": self.text}


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the file (or the Python frame) declares it."""

    name: str
    type: str  # "numeric" / "character" for SAS; the polars dtype for Python
    kind: Kind
    length: int | None = None
    format: str | None = None
    label: str | None = None
    special_missing: tuple[str, ...] = ()
    informat: str | None = None
    #: why the column cannot be compared (a CSV column whose text does not convert to its SAS column's type)
    problem: str | None = None
    #: conversions made while loading that changed values (CSV text with a UTC offset, say)
    changes: tuple[Change, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "kind": self.kind, "length": self.length,
                               "format": self.format, "label": self.label}
        if self.informat:
            out["informat"] = self.informat
        if self.special_missing:
            out["special_missing"] = list(self.special_missing)
        return out


@dataclass(frozen=True)
class SourceMeta:
    """Where a side's data came from, for the report's provenance."""

    source: str
    sha256: str | None
    rows: int
    columns: int
    format: str
    label: str | None = None
    encoding: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source, "sha256": self.sha256, "rows": self.rows, "columns": self.columns,
            "format": self.format, "label": self.label, "encoding": self.encoding,
        }
        out.update(self.extra)
        return out


@dataclass
class Table:
    """A loaded side.  ``tags`` holds, per numeric column with special missing values, a String series with the
    tag (``'A'``-``'Z'``, ``'_'``) where the value is a special missing and null elsewhere."""

    frame: pl.DataFrame
    columns: list[ColumnInfo]
    meta: SourceMeta
    tags: dict[str, pl.Series] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _reader_failure(path: Path, exc: BaseException, what: str = "SAS file") -> InputError:
    """The reader failed on ``path``: say why, with a hint that fits the file's format and the real cause."""
    text = str(exc).strip() or type(exc).__name__
    hint = _sas_failure_hint(path) if what == "SAS file" else _file_failure_hint(path, exc, text)
    lowered = text.lower()
    if what == "SAS file" and ("character set" in lowered or isinstance(exc, UnicodeDecodeError)
                               or "decode" in lowered or "encoding" in lowered):
        hint = "set encoding = '<codec>' for this dataset in parity.toml (e.g. 'latin1' or 'cp1252')"
    return InputError(f"{path}: cannot read this {what} ({type(exc).__name__}: {text}); {hint}")


NO_VARIABLES = ("the data set has no variables (0 columns): a valid SAS data set, but with nothing to compare; check "
                "that the SAS step that wrote it kept its variables (KEEP=/DROP=), or remove it from parity.toml")


def _sas_failure_hint(path: Path) -> str:
    """Why pyreadstat could not read a SAS file, from what its header says."""
    from parity.sasheader import read_header, sas7bdat_column_count

    try:
        header = read_header(path)
    except (ValueError, OSError) as exc:  # not SAS at all, truncated, a catalog, CPORT, ...
        reason = str(exc).removeprefix(f"{path}: ")
        if "truncated" in reason or "corrupt" in reason or "empty file" in reason:
            return f"{reason}; copy or export the data set again from SAS"
        if "not a SAS file" in reason:
            return (f"{reason}; check that sas = names the SAS output itself, not another kind of file renamed to "
                    f"{path.suffix}")
        return reason  # a catalog or a CPORT file: the reason says what it is and what to do
    if header.format == "sas7bdat":
        try:
            columns = sas7bdat_column_count(path)
        except (ValueError, OSError, struct.error):
            columns = None
        if columns == 0:
            return NO_VARIABLES
    return (f"its {header.format} header is valid (written by SAS {header.sas_release or '?'} on "
            f"{header.host or '?'}), so the data pages are damaged or use a feature the reader does not support; "
            "export it again from SAS (e.g. with COMPRESS=NO, or as XPORT)")


def _file_failure_hint(path: Path, exc: BaseException, text: str) -> str:
    """Why a Python output file (.csv, .parquet, .arrow) could not be read."""
    lowered = text.lower()
    suffix = path.suffix.lower()
    if path.stat().st_size == 0 or "empty csv" in lowered:
        return "the file is empty: check that the port finished writing it"
    if suffix == ".csv":
        if "utf-8" in lowered or "utf8" in lowered or isinstance(exc, UnicodeDecodeError):
            return "CSV files must be UTF-8: write it with encoding='utf-8' (or write parquet instead)"
        if "more fields" in lowered or "ragged" in lowered:
            return "a row has more fields than the header: check quoting and the delimiter (parity reads ',')"
        if "could not parse" in lowered or "dtype" in lowered:
            return ("a column mixes types (e.g. numbers and text): quote text columns, or write parquet so the "
                    "types are kept")
        return "check that it is a comma-separated file with one header row (or write parquet instead)"
    return (f"the file is not a complete {suffix[1:]} file: check that the port finished writing it and wrote it "
            f"with polars/pyarrow ({'write_parquet' if suffix == '.parquet' else 'write_ipc'})")


def _split_special(series: pl.Series) -> tuple[pl.Series, pl.Series | None]:
    """A numeric column read with user_missing=True: numbers and tags mixed.  Return (Float64, tags)."""
    if series.dtype.is_numeric():
        return series.cast(pl.Float64), None
    if series.dtype == pl.Null:
        return series.cast(pl.Float64), None
    if series.dtype == pl.String:  # every non-null value is a tag
        tags = series
        return pl.Series(series.name, [None] * len(series), dtype=pl.Float64), tags
    values = series.to_list()  # Object: floats and 1-character tag strings
    numbers = [v if isinstance(v, int | float) and not isinstance(v, bool) else None for v in values]
    tag_list = [v if isinstance(v, str) else None for v in values]
    return pl.Series(series.name, numbers, dtype=pl.Float64), pl.Series(series.name, tag_list, dtype=pl.String)


def _read_xport(path: Path, encoding: str | None) -> tuple[Any, Any]:
    """An XPORT file with its special missing values kept.

    In XPORT a special missing value is its tag's byte (``A``-``Z``, ``_``) followed by zero bytes.  ReadStat
    reads the tags, but pyreadstat's ``read_xport`` has no ``user_missing``; its parser entry point has, so it is
    used.  Should that entry point ever change, the tags are read from the file's bytes instead
    (:func:`parity.sasheader.xport_missing_tags`), so ``.A`` never silently becomes ``.``.
    """
    import pyreadstat

    options: dict[str, Any] = {"disable_datetime_conversion": True, "output_format": "polars", "encoding": encoding}
    try:
        from pyreadstat._readstat_parser import parser_entry_point

        raw, meta = parser_entry_point(str(path), "xport", user_missing=True, **options)
    except (ImportError, TypeError):  # pragma: no cover - depends on pyreadstat internals
        raw, meta = pyreadstat.read_xport(str(path), **options)
        raw = _with_scanned_tags(path, raw, meta)
    meta.file_format = "xport"
    return raw, meta


def _with_scanned_tags(path: Path, raw: pl.DataFrame, meta: Any) -> pl.DataFrame:
    """Put the special missing tags read from the XPORT bytes into a frame read without them."""
    from parity.sasheader import xport_missing_tags

    found = xport_missing_tags(path, raw.height)
    updates = []
    for name, tags in zip(meta.column_names, found, strict=False):
        if tags is not None and name in raw.columns and (tags != "").any():
            values = raw.get_column(name).to_list()
            mixed = [t or v for v, t in zip(values, tags.tolist(), strict=True)]
            updates.append(pl.Series(name, mixed, dtype=pl.Object))
    return raw.with_columns(updates) if updates else raw


class UnknownFormatColumn(InputError):
    """``formats`` names a column the SAS file does not have (a mistake in parity.toml: the runner names its key)."""

    def __init__(self, column: str, message: str) -> None:
        self.column = column
        super().__init__(message)


def read_sas(
    path: Path,
    *,
    encoding: str | None = None,
    catalog: Path | None = None,
    formats: Mapping[str, str] | None = None,
) -> Table:
    """Read a .sas7bdat or .xpt file: raw SAS numbers, special missing values kept, kinds from formats."""
    import pyreadstat

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".sas7bdat":
            raw, meta = pyreadstat.read_sas7bdat(
                str(path), user_missing=True, disable_datetime_conversion=True, output_format="polars",
                encoding=encoding, formats_as_category=False,
            )
            if catalog is not None:  # metadata only: with a catalog pyreadstat puts the labels in place of values
                _, with_catalog = pyreadstat.read_sas7bdat(str(path), metadataonly=True, encoding=encoding,
                                                           catalog_file=str(catalog))
                meta.variable_to_label = with_catalog.variable_to_label
            file_format = "sas7bdat"
        elif suffix == ".xpt":
            raw, meta = _read_xport(path, encoding)
            if catalog is not None:  # pyreadstat applies catalogs to sas7bdat only: match the format names
                _, cat = pyreadstat.read_sas7bcat(str(catalog), encoding=encoding)
                names = {k.upper(): k for k in cat.value_labels}
                fmt_names = {n: re.sub(r"\d*\.?\d*$", "", (f or "").upper()) for n, f in
                             meta.original_variable_types.items()}
                meta.variable_to_label = {n: names[f] for n, f in fmt_names.items() if f in names}
            file_format = "xport"
        else:
            raise InputError(f"{path}: not a SAS output (expected .sas7bdat or .xpt)")
    except InputError:
        raise
    except Exception as exc:
        raise _reader_failure(path, exc) from None
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if type(exc).__name__ != "PanicException":
            raise
        raise _reader_failure(path, exc) from None

    if not meta.column_names:
        raise InputError(f"{path}: {NO_VARIABLES}")
    overrides = {k.casefold(): v for k, v in (formats or {}).items()}
    unknown = sorted(set(overrides) - {n.casefold() for n in meta.column_names})
    if unknown:
        raise UnknownFormatColumn(unknown[0], f"{path}: formats names {unknown[0]!r}, which is not a column of "
                                  f"this file (columns: {', '.join(meta.column_names[:30])})")
    series: list[pl.Series] = []
    columns: list[ColumnInfo] = []
    tags: dict[str, pl.Series] = {}
    n_rows = raw.height
    for name in meta.column_names:
        col = raw.get_column(name) if name in raw.columns else pl.Series(name, [None] * n_rows)
        rtype = meta.readstat_variable_types.get(name, "double")
        fmt = overrides.get(name.casefold()) or meta.original_variable_types.get(name)
        label = meta.column_names_to_labels.get(name)
        width = meta.variable_storage_width.get(name) if hasattr(meta, "variable_storage_width") else None
        informat = (getattr(meta, "original_variable_informats", None) or {}).get(name) or None
        if rtype == "string":
            series.append(col.cast(pl.String) if col.dtype != pl.String else col)
            columns.append(ColumnInfo(name, "character", "string", width, fmt, label, informat=informat))
            continue
        numbers, tag = _split_special(col)
        found: tuple[str, ...] = ()
        if tag is not None and tag.null_count() < len(tag):
            bad = set(tag.drop_nulls().unique().to_list()) - SPECIAL_TAGS
            if bad:
                raise InputError(f"{path}: column {name!r} holds non-numeric values {sorted(bad)[:3]}")
            tags[name] = tag
            found = tuple(sorted(tag.drop_nulls().unique().to_list()))
        series.append(numbers)
        columns.append(ColumnInfo(name, "numeric", kind_of_format(fmt), width, fmt, label, found, informat))

    extra: dict[str, Any] = {"table_name": getattr(meta, "table_name", None)}
    for attr in ("creation_time", "modification_time"):
        value = getattr(meta, attr, None)
        extra["created" if attr == "creation_time" else "modified"] = value.isoformat() if value else None
    try:
        from parity.sasheader import read_header

        header = read_header(path)
        extra.update(sas_release=header.sas_release, host=header.host, compression=header.compression)
    except Exception:  # provenance only: a header we cannot parse is not an error of the data
        pass
    if catalog is not None:
        extra["catalog"] = str(catalog)
        extra["value_labels"] = {k: v for k, v in sorted((meta.variable_to_label or {}).items())}
    frame = pl.DataFrame(series) if series else pl.DataFrame()
    return Table(
        frame=frame,
        columns=columns,
        meta=SourceMeta(
            source=str(path), sha256=sha256_file(path), rows=frame.height, columns=len(columns),
            format=file_format, label=meta.file_label or None, encoding=meta.file_encoding or encoding,
            extra=extra,
        ),
        tags=tags,
    )


# --------------------------------------------------------------------------------------------------------------
# Python side


def _python_kind(dtype: pl.DataType) -> Kind:
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Time or isinstance(dtype, pl.Duration):
        return "time"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return "string"
    return "numeric"


def to_polars(obj: Any, where: str) -> pl.DataFrame:
    """Accept a polars or pandas DataFrame (or LazyFrame); pandas NaN becomes null."""
    if isinstance(obj, pl.LazyFrame):
        obj = obj.collect()
    if isinstance(obj, pl.DataFrame):
        return _usable(obj, where)
    module = type(obj).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(obj, pd.DataFrame):
            return _usable(_from_pandas(obj, where), where)
    what = type(obj).__name__
    hint = {"Series": "; wrap the column in a DataFrame (series.to_frame())", "NoneType": " (the function returned "
            "nothing: return the DataFrame, or a dict of them)"}.get(what, "")
    raise InputError(f"{where}: expected a polars or pandas DataFrame, got {what}{hint}")


def _from_pandas(frame: Any, where: str) -> pl.DataFrame:
    import pandas as pd

    if isinstance(frame.columns, pd.MultiIndex):
        raise InputError(f"{where}: the columns are a pandas MultiIndex; flatten them to single string names "
                         "(e.g. df.columns = ['_'.join(map(str, c)) for c in df.columns])")
    keep = [n for n in frame.index.names if n is not None]
    if keep or not isinstance(frame.index, pd.RangeIndex):  # a named index is data (set_index('id')), even 0..n-1
        clash = sorted(set(map(str, keep)) & set(map(str, frame.columns)))
        if clash:
            raise InputError(f"{where}: the index level {clash[0]!r} is also a column; drop one of them "
                             "(df.reset_index(drop=True)) or rename it")
        frame = frame.reset_index(drop=not keep)
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise InputError(f"{where}: column names must be strings; got {bad[:3]!r}")
    from collections import Counter

    dupes = sorted(name for name, n in Counter(frame.columns).items() if n > 1)
    if dupes:
        raise InputError(f"{where}: duplicate column names {dupes[:5]!r} (pd.concat(axis=1) or a repeated name in "
                         "the column list makes them); give every column a unique name")
    try:
        converted: pl.DataFrame = pl.from_pandas(frame, nan_to_null=True)
        # an object column holding no value (all None/NaN) has no type; String would be a false type conflict
        empty = [n for n in frame.columns if frame[n].dtype == object and len(frame) and frame[n].isna().all()]
        return converted.with_columns(pl.lit(None).alias(n) for n in empty) if empty else converted
    except Exception as exc:
        culprit = ""
        for name in frame.columns:
            try:
                pl.from_pandas(frame[[name]], nan_to_null=True)
            except Exception:
                kinds = sorted({type(v).__name__ for v in frame[name].dropna().tolist()[:10_000]})
                culprit = f"column {name!r} (holding {', '.join(kinds[:4]) or 'no values'})"
                break
        cause = (f"{culprit} cannot be converted: make it a single type" if culprit
                 else "make each column a single type")
        raise InputError(
            f"{where}: cannot convert the pandas DataFrame to polars ({type(exc).__name__}: {exc}); {cause}"
        ) from None


_UNUSABLE = (pl.Object, pl.List, pl.Array, pl.Struct)


def _usable(frame: pl.DataFrame, where: str) -> pl.DataFrame:
    """A frame parity can compare: flat columns of numbers, strings, booleans, dates and times."""
    bad = [f"{name} ({dtype})" for name, dtype in frame.schema.items() if isinstance(dtype, _UNUSABLE)]
    if bad:
        raise InputError(f"{where}: column(s) {', '.join(bad[:5])} hold Python objects, lists or structs, which a SAS "
                         "data set cannot hold; make each a number, string, date or time column")
    return frame


def table_from_frame(frame: pl.DataFrame, source: str, sha256: str | None, fmt: str) -> Table:
    frame = frame.with_columns(
        pl.col(c).cast(pl.String) for c, t in frame.schema.items() if isinstance(t, pl.Categorical | pl.Enum)
    )
    columns = [ColumnInfo(name, str(dtype), _python_kind(dtype)) for name, dtype in frame.schema.items()]
    meta = SourceMeta(source=source, sha256=sha256, rows=frame.height, columns=frame.width, format=fmt)
    return Table(frame=frame, columns=columns, meta=meta)


def read_python_file(
    path: Path, *, encoding: str | None = None, sas: Table | None = None, rename: Mapping[str, str] | None = None
) -> Table:
    """A Python job's output written to a file (.parquet, .csv, .arrow/.feather/.ipc, or a SAS file).

    A CSV holds only text: given the SAS side (``sas``, with the dataset's ``rename``), each CSV column is read as
    text and converted to the type of its SAS column (:func:`read_csv_as_sas`), so ``"01234"`` stays a string for
    a character column; without it, types are inferred.
    """
    suffix = path.suffix.lower()
    if suffix in (".sas7bdat", ".xpt"):
        return read_sas(path, encoding=encoding)
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix == ".csv" and sas is not None:
            frame = pl.read_csv(path, infer_schema=False)
        elif suffix == ".csv":
            frame = pl.read_csv(path, try_parse_dates=True, infer_schema_length=10_000)
        elif suffix in (".arrow", ".feather", ".ipc"):
            frame = pl.read_ipc(path, memory_map=False)
        else:
            raise InputError(f"{path}: unsupported Python output type {suffix!r}")
    except InputError:
        raise
    except Exception as exc:
        raise _reader_failure(path, exc, what=f"{suffix[1:]} file") from None
    dupes = sorted({m[1] for c in frame.columns if (m := re.fullmatch(r"(.*)_duplicated_\d+", c))} & set(frame.columns))
    if dupes:  # polars renames a repeated header name to <name>_duplicated_<n>
        raise InputError(f"{path}: duplicate column names {dupes[:5]!r} in the header; give every column a unique "
                         "name")
    if suffix == ".csv" and sas is not None:
        return read_csv_as_sas(frame, sas, rename or {}, str(path), sha256_file(path))
    return table_from_frame(frame, str(path), sha256_file(path), suffix[1:])


# --------------------------------------------------------------------------------------------------------------
# CSV text in the types of the SAS columns

#: SAS's missing values as text: blank, ".", ".A"-".Z", "._" (and pandas' NaN)
_TAG_RE = r"^\.([A-Za-z_])$"
_YEAR2 = ((r"^(\d{1,2}[A-Za-z]{3})([4-9]\d)(:|$)", "${1}19${2}${3}"),  # SAS YEARCUTOFF=1940: 40-99 are 19xx
          (r"^(\d{1,2}[A-Za-z]{3})([0-3]\d)(:|$)", "${1}20${2}${3}"))
_TIME_RE = r"^([-+]?)(\d+):(\d{2})(?::(\d{2}(?:\.\d*)?))?\s*([AaPp][Mm])?$"
_OFFSET_RE = r"^(.*\d:\d\d(?::\d\d(?:\.\d*)?)?)\s*(?:Z|[+-]\d\d:?\d\d)$"
_TEXT_FORMS = {
    "numeric": "numbers (1234.5, 1,234.50, $1,234, (12), 12%, True/False as 1/0)",
    "date": "dates (2024-01-31, 31JAN2024, 01/31/2024, 20240131)",
    "datetime": "datetimes (2024-01-31T13:45:00, 31JAN2024:13:45:00)",
    "time": "times (13:45:00, 1:45 PM)",
}


def _when(text: pl.Expr, pattern: str, value: pl.Expr) -> pl.Expr:
    return pl.when(text.str.contains(pattern)).then(value)


def _year4(text: pl.Expr) -> pl.Expr:
    for pattern, repl in _YEAR2:
        text = text.str.replace(pattern, repl)
    return text


def _text_number(t: pl.Expr) -> pl.Expr:
    """Numbers, also in SAS's COMMA/DOLLAR/NEGPAREN/PERCENT text forms (only well-formed thousands groups)."""
    plain = t.cast(pl.Float64, strict=False)
    grouped = r"^\(?[-+]?[$£€]?\d{1,3}(?:,\d{3})*(?:\.\d+)?%?\)?$"
    core = t.str.strip_chars("()").str.replace_all(",", "").str.replace(r"^([-+]?)[$£€]", "${1}")
    number = core.str.strip_suffix("%").cast(pl.Float64, strict=False)
    number = pl.when(t.str.starts_with("(") & t.str.ends_with(")")).then(-number).otherwise(number)
    number = pl.when(core.str.ends_with("%")).then(number / 100).otherwise(number)
    lowered = t.str.to_lowercase()
    boolean = pl.when(lowered == "true").then(1.0).when(lowered == "false").then(0.0)  # a Python bool: 1/0
    return pl.coalesce(plain, _when(t, grouped, number), boolean)


def _text_date(t: pl.Expr, fmt: str | None) -> pl.Expr:
    day_first = (fmt or "").upper().startswith("DDMMYY")
    t4 = _year4(t)
    dmy = "%d/%m/%Y" if day_first else "%m/%d/%Y"
    return pl.coalesce(
        _when(t, r"^\d{4}-\d{2}-\d{2}$", t.str.to_date("%Y-%m-%d", strict=False)),
        _when(t, r"^\d{4}-\d{2}-\d{2}[T ]00:00(?::00(?:\.0*)?)?$", t.str.slice(0, 10).str.to_date("%Y-%m-%d",
                                                                                                  strict=False)),
        _when(t4, r"^\d{1,2}[A-Za-z]{3}\d{4}$", t4.str.to_date("%d%b%Y", strict=False)),
        _when(t, r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}$", t.str.replace_all(r"[.-]", "/").str.to_date(dmy, strict=False)),
        _when(t, r"^\d{4}/\d{2}/\d{2}$", t.str.to_date("%Y/%m/%d", strict=False)),
        _when(t, r"^\d{8}$", t.str.to_date("%Y%m%d", strict=False)),  # YYMMDDN8.; no SAS date has 8 digits
        _when(t, r"^[-+]?\d{1,7}$", (t.cast(pl.Int32, strict=False) - EPOCH_SHIFT_DAYS).cast(pl.Date)),
    )


def _text_datetime(t: pl.Expr) -> pl.Expr:
    t4 = _year4(t)
    iso = t.str.replace(" ", "T")
    return pl.coalesce(
        _when(t, r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}:\d{2}(?:\.\d*)?$",
              iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False)),
        _when(t, r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}$",
              iso.str.to_datetime("%Y-%m-%dT%H:%M", time_unit="us", strict=False)),
        _when(t4, r"^\d{1,2}[A-Za-z]{3}\d{4}:\d{1,2}:\d{2}:\d{2}(?:\.\d*)?$",
              t4.str.to_datetime("%d%b%Y:%H:%M:%S%.f", time_unit="us", strict=False)),
        _when(t4, r"^\d{1,2}[A-Za-z]{3}\d{4}:\d{1,2}:\d{2}$",
              t4.str.to_datetime("%d%b%Y:%H:%M", time_unit="us", strict=False)),
        _when(t, r"^[-+]?\d+(?:\.\d*)?$",
              ((t.cast(pl.Float64, strict=False) - EPOCH_SHIFT_SECONDS) * 1e6).round().cast(pl.Int64)
              .cast(pl.Datetime("us"))),
        _text_date(t, None).cast(pl.Datetime("us")),  # a date alone is its midnight
    )


def _text_time(t: pl.Expr) -> pl.Expr:
    parts = t.str.extract_groups(_TIME_RE)
    hours = parts.struct.field("2").cast(pl.Float64, strict=False)
    ampm = parts.struct.field("5").str.to_uppercase()
    hours = pl.when(ampm.is_null()).then(hours).otherwise(hours % 12 + pl.when(ampm == "PM").then(12.0).otherwise(0.0))
    seconds = (hours * 3600 + parts.struct.field("3").cast(pl.Float64, strict=False) * 60
               + parts.struct.field("4").cast(pl.Float64, strict=False).fill_null(0.0))
    seconds = pl.when(parts.struct.field("1") == "-").then(-seconds).otherwise(seconds)
    seconds = pl.coalesce(seconds, _when(t, r"^[-+]?\d+(?:\.\d*)?$", t.cast(pl.Float64, strict=False)))
    return (seconds * 1e6).round().cast(pl.Int64).cast(pl.Duration("us"))


def _csv_column(text: pl.Series, info: ColumnInfo) -> tuple[pl.Series, pl.Series | None, str | None, Change | None]:
    """One CSV column (text) in the type of its SAS numeric column: (values, tags, problem, change)."""
    t = pl.col("t").str.strip_chars()
    tag = t.str.extract(_TAG_RE, 1).str.to_uppercase()
    missing = t.is_null() | t.is_in(["", ".", "NaN", "nan"]) | tag.is_not_null()
    offset = pl.lit(False)
    if info.kind == "numeric":
        value = _text_number(t)
    elif info.kind == "date":
        value = _text_date(t, info.format)
    elif info.kind == "datetime":
        offset = t.str.contains(_OFFSET_RE)
        value = _text_datetime(t.str.replace(_OFFSET_RE, "${1}"))
    else:
        value = _text_time(t)
    out = pl.DataFrame([text.alias("t")]).select(
        pl.when(missing).then(None).otherwise(value).alias("v"), tag.alias("tag"),
        (~missing & value.is_null()).alias("bad"), (offset & ~missing).alias("offset"),
    )
    bad = out.get_column("bad")
    n_bad = int(bad.sum())
    problem = None
    if n_bad:
        first = int(bad.arg_true()[0])
        problem = (f"{n_bad:,} of {text.len() - text.null_count():,} values of the CSV column {text.name!r} are not "
                   f"SAS {info.kind} values (first: {text[first]!r} in data row {first + 1:,}); parity reads "
                   f"{_TEXT_FORMS[info.kind]}, blank, '.' and '.A'-'.Z' for missing")
    tags = out.get_column("tag")
    n_offset = int(out.get_column("offset").sum())
    change = Change("csv_utc_offset", "datetimes written with a UTC offset compared as the wall-clock time "
                    "written (SAS datetimes carry no zone)", n_offset) if n_offset else None
    return (out.get_column("v").alias(text.name), tags.alias(text.name) if tags.null_count() < len(tags) else None,
            problem, change)


def read_csv_as_sas(frame: pl.DataFrame, sas: Table, rename: Mapping[str, str], source: str,
                    sha256: str | None) -> Table:
    """A CSV read as text, each column converted to the type of its SAS column (matched case-insensitively, after
    ``rename``).  Character columns stay text; a numeric column's values must all convert, else the column gets a
    ``problem`` (a type conflict in the schema check) naming the first value that does not."""
    renamed = {k.casefold(): v for k, v in rename.items()}
    targets = {renamed.get(c.name.casefold(), c.name).casefold(): c for c in sas.columns}
    series: list[pl.Series] = []
    tags: dict[str, pl.Series] = {}
    extra: dict[str, tuple[str | None, Change | None]] = {}
    for text in frame.get_columns():
        info = targets.get(text.name.casefold())
        if info is None or info.type != "numeric":
            series.append(text)
            continue
        values, tag, problem, change = _csv_column(text, info)
        if problem is not None:
            series.append(text)
        else:
            series.append(values)
            if tag is not None:
                tags[text.name] = tag
        extra[text.name] = (problem, change)
    table = table_from_frame(pl.DataFrame(series), source, sha256, "csv")
    columns = []
    for col in table.columns:
        if col.name in extra:
            problem, change = extra[col.name]
            found = tuple(sorted(tags[col.name].drop_nulls().unique())) if col.name in tags else ()
            col = replace(col, problem=problem, changes=(change,) if change else (), special_missing=found)
        columns.append(col)
    table.columns = columns
    table.tags = tags
    return table


JobOutput = dict[str, pl.DataFrame]


class PortFailed(Exception):
    """The user's Python code raised (any BaseException but KeyboardInterrupt): the original is ``__cause__``."""

    def __init__(self, target: str, exc: BaseException) -> None:
        self.original = exc
        own = str(Path(__file__).parent)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(own)]
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        text = str(exc)
        if isinstance(exc, SystemExit):
            text = f"sys.exit({exc.code!r}) ended the port before it returned its outputs"
        super().__init__(f"the Python job {target} raised {type(exc).__name__}: {text}{where}")


def _job_module_names(job_folder: Path) -> set[str]:
    """Top-level module and package names importable from the job folder (they win over same-named modules)."""
    names: set[str] = set()
    try:
        entries = list(job_folder.iterdir())
    except OSError:
        return names
    for entry in entries:
        if entry.suffix in (".py", ".so", ".pyd") and entry.is_file():
            names.add(entry.name.split(".")[0])
        elif entry.is_dir() and ((entry / "__init__.py").is_file() or any(entry.glob("*.py"))):
            names.add(entry.name)  # a package, or a namespace package of the port's own code
    return {n for n in names if n.isidentifier() and n not in sys.stdlib_module_names
            and n not in sys.builtin_module_names and n not in _PROTECTED}


#: modules parity itself uses while a port runs: a job's same-named file cannot replace them
_PROTECTED = frozenset({"parity", "polars", "pandas", "numpy", "pyarrow", "pyreadstat"})


def _from_folder(module: Any, folder: Path) -> bool:
    paths = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    return any(isinstance(value, str) and Path(value).resolve().is_relative_to(folder) for value in paths)


@contextlib.contextmanager
def isolated_port(job_folder: Path) -> Iterator[None]:
    """Run a job's port as if it were the only one in the process, and leave no trace of it.

    Inside: the job folder is first on ``sys.path`` and its modules win over same-named modules imported before
    (by parity, the test suite or another job's port).  After: the working directory, ``sys.path``,
    ``sys.argv``, ``os.environ``, ``sys.stdout``/``sys.stderr`` are restored, modules loaded from the job folder
    are dropped and the hidden ones come back, so the next job imports its own helpers.
    """
    folder = job_folder.resolve()
    cwd = os.getcwd()
    saved_path, saved_argv, saved_env = list(sys.path), list(sys.argv), dict(os.environ)
    saved_streams = (sys.stdout, sys.stderr)
    local = _job_module_names(folder)
    hidden = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] in local}
    for name in hidden:
        del sys.modules[name]
    before = set(sys.modules)
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        with port_state(folder.name):
            yield
    finally:
        for name in [n for n in sys.modules if n not in before or n.split(".")[0] in local]:
            module = sys.modules.get(name)
            if name.split(".")[0] in local or (module is not None and _from_folder(module, folder)):
                del sys.modules[name]
        sys.modules.update(hidden)
        sys.path[:] = saved_path
        sys.path_importer_cache.pop(str(folder), None)
        sys.argv[:] = saved_argv
        if dict(os.environ) != saved_env:
            os.environ.clear()
            os.environ.update(saved_env)
        sys.stdout, sys.stderr = usable_stream(saved_streams[0]), usable_stream(saved_streams[1])
        with contextlib.suppress(OSError):
            os.chdir(cwd)


def _load_shadowed(module_name: str, file: Path) -> Any:
    """Load the job's own ``file`` although ``module_name`` is taken (a stdlib module): under a private name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_parity_port_{module_name.replace('.', '_')}", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _load_callable(target: str, job_folder: Path, job_name: str) -> tuple[Callable[..., Any], Path | None]:
    """Import the port's module (call inside :func:`isolated_port`): the job folder's copy first."""
    module_name, _, func_name = target.partition(":")
    rel = Path(*module_name.split("."))
    candidates = [job_folder / rel.with_suffix(".py"), job_folder / rel / "__init__.py"]
    local_file = next((c for c in candidates if c.is_file()), None)
    try:
        if local_file is not None and module_name.split(".")[0] not in _job_module_names(job_folder):
            module = _load_shadowed(module_name, local_file)  # port.py named like a stdlib module (code.py, ...)
        else:
            module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except ModuleNotFoundError as exc:
        if local_file is None and exc.name is not None and module_name.startswith(exc.name):
            raise InputError(
                f"job {job_name!r}: cannot import {module_name!r} for python = {target!r}: there is no {rel}.py in "
                f"{job_folder} and no installed module of that name; put the port there or install it"
            ) from None
        raise InputError(
            f"job {job_name!r}: the port {local_file or module_name} imports {exc.name!r}, which is not installed "
            f"({exc}); install it in this environment or put {exc.name}.py in {job_folder}"
        ) from None
    except BaseException as exc:  # the port's own module failed while it was imported
        raise PortFailed(f"{target} (while importing {module_name})", exc) from exc
    file_attr = getattr(module, "__file__", None)
    module_file = Path(file_attr) if isinstance(file_attr, str) else None
    func = getattr(module, func_name, None)
    if func is None:
        raise InputError(f"job {job_name!r}: {module_file or module_name} has no function {func_name!r} "
                         f"(python = {target!r})")
    if not callable(func):
        raise InputError(f"job {job_name!r}: {module_name}.{func_name} is a {type(func).__name__}, not a function "
                         f"(python = {target!r})")
    return func, module_file


def resolve_params(params: Mapping[str, Any], job_folder: Path) -> dict[str, Any]:
    """String params naming an existing path relative to the job folder become absolute paths."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and value and not Path(value).is_absolute() and (job_folder / value).exists():
            value = str((job_folder / value).resolve())
        out[key] = value
    return out


@dataclass
class PortOutput:
    """What a port produced: a Table per dataset it returned, and why each unusable dataset cannot be used."""

    tables: dict[str, Table] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def run_job_callable(
    target: str, params: Mapping[str, Any], job_folder: Path, job_name: str, dataset_names: list[str]
) -> PortOutput:
    """Run ``module:function`` once, isolated (:func:`isolated_port`); return one Table per dataset it produced.

    Raises InputError when the port cannot be called (not found, wrong params) or returns something that is not
    DataFrames, and PortFailed when the user's code raises anything (SystemExit and GeneratorExit included);
    a returned frame that cannot be converted is an error of that dataset only.
    """
    job_folder = job_folder.resolve()
    with isolated_port(job_folder):
        func, module_file = _load_callable(target, job_folder, job_name)
        kwargs = resolve_params(params, job_folder)
        try:
            inspect.signature(func).bind(**kwargs)
        except TypeError as exc:
            raise InputError(f"job {job_name!r}: {target} cannot be called with params {sorted(kwargs)} ({exc}); "
                             "make [job] params in parity.toml match the function's arguments") from None
        except ValueError:
            pass
        try:
            result = func(**kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise PortFailed(target, exc) from exc
        return _port_output(target, job_name, result, module_file, dataset_names)


def _port_output(target: str, job_name: str, result: Any, module_file: Path | None,
                 dataset_names: list[str]) -> PortOutput:
    sha = sha256_file(module_file) if module_file and module_file.is_file() else None
    where = f"job {job_name!r}: {target}"
    try:
        if isinstance(result, Mapping):
            frames = {str(k): v for k, v in result.items()}
        elif len(dataset_names) == 1 and result is not None:
            frames = {dataset_names[0]: result}
        else:
            got = "nothing (None)" if result is None else f"one {type(result).__name__}"
            n = len(dataset_names)
            raise InputError(f"{where} returned {got} but the job declares {n} dataset{'s' if n != 1 else ''} "
                             f"({', '.join(dataset_names)}); return a dict keyed by dataset name")
    except InputError:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a Mapping of the user's whose items() or keys fail
        raise PortFailed(f"{target} (reading the dict it returned)", exc) from exc
    out = PortOutput()
    folded = {k.casefold(): k for k in frames}
    for name in dataset_names:
        key = name if name in frames else folded.get(name.casefold())
        if key is None:
            continue
        try:
            frame = to_polars(frames[key], f"{where} -> dataset {name!r}")
            out.tables[name] = table_from_frame(frame, f"{target} -> {key}", sha, "callable")
        except InputError as exc:
            out.errors[name] = str(exc)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a LazyFrame whose plan fails, a frame that cannot be converted, ...
            out.errors[name] = (f"{where} -> dataset {name!r}: the returned frame cannot be used "
                                f"({type(exc).__name__}: {exc})")
    return out


Side = Literal["sas", "python"]
