"""Loading both sides into polars: SAS outputs through pyreadstat, Python outputs from a job callable or a file.

The SAS side is read as raw numbers (``disable_datetime_conversion=True``) with special missing values kept
(``user_missing=True``); parity classifies date/datetime/time columns from their formats itself
(:mod:`parity.formats`), so pyreadstat's module-level ``extra_*_formats`` lists are never touched and no date
beyond 9999-12-31 can overflow.  A faster reader can slot in behind :func:`read_sas` later.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import polars as pl

from parity.errors import InputError
from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS, Kind, kind_of_format

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
    text = str(exc).strip() or type(exc).__name__
    hint = "check that the file is complete and is a SAS dataset"
    lowered = text.lower()
    if "character set" in lowered or isinstance(exc, UnicodeDecodeError) or "decode" in lowered:
        hint = "set encoding = '<codec>' for this dataset in parity.toml (e.g. 'latin1' or 'cp1252')"
    elif "memory" in lowered or "invalid file" in lowered or "unsupported features" in lowered:
        hint = "the file looks corrupt or truncated; export it again from SAS"
    return InputError(f"{path}: cannot read this {what} ({type(exc).__name__}: {text}); {hint}")


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

    overrides = {k.casefold(): v for k, v in (formats or {}).items()}
    unknown = sorted(set(overrides) - {n.casefold() for n in meta.column_names})
    if unknown:
        raise InputError(f"{path}: formats names {unknown[0]!r}, which is not a column of this file "
                         f"(columns: {', '.join(meta.column_names[:30])})")
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
        return obj
    module = type(obj).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(obj, pd.DataFrame):
            frame = obj
            if not isinstance(frame.index, pd.RangeIndex):
                frame = frame.reset_index(drop=all(n is None for n in frame.index.names))
            bad = [c for c in frame.columns if not isinstance(c, str)]
            if bad:
                raise InputError(f"{where}: column names must be strings; got {bad[:3]!r}")
            try:
                return pl.from_pandas(frame, nan_to_null=True)
            except Exception as exc:
                raise InputError(
                    f"{where}: cannot convert the pandas DataFrame to polars ({type(exc).__name__}: {exc}); "
                    "make each column a single type (object columns mixing numbers and strings are the usual cause)"
                ) from None
    raise InputError(f"{where}: expected a polars or pandas DataFrame, got {type(obj).__name__}")


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
    "numeric": "numbers (1234.5, 1,234.50, $1,234, (12), 12%)",
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
    return pl.coalesce(plain, _when(t, grouped, number))


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


def _load_callable(target: str, job_folder: Path, job_name: str) -> tuple[Callable[..., Any], Path | None]:
    module_name, _, func_name = target.partition(":")
    rel = Path(*module_name.split("."))
    candidates = [job_folder / rel.with_suffix(".py"), job_folder / rel / "__init__.py"]
    module_file = next((c for c in candidates if c.is_file()), None)
    try:
        if module_file is not None:
            # load under a private name so two jobs' "port" modules never collide in sys.modules
            unique = f"_parity_job_{job_name}_{module_name}".replace(".", "_").replace("-", "_")
            spec = importlib.util.spec_from_file_location(unique, module_file)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {module_file}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            added = str(job_folder) not in sys.path
            if added:
                sys.path.insert(0, str(job_folder))  # the port may import its own helpers
            try:
                spec.loader.exec_module(module)
            finally:
                if added:
                    sys.path.remove(str(job_folder))
        else:
            module = importlib.import_module(module_name)
            module_file = Path(module.__file__) if module.__file__ else None
    except Exception as exc:
        raise InputError(
            f"job {job_name!r}: cannot import {module_name!r} for python = {target!r} "
            f"({type(exc).__name__}: {exc}); put {rel}.py in {job_folder} or make it importable"
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise InputError(f"job {job_name!r}: {module_name!r} has no function {func_name!r} (python = {target!r})")
    return func, module_file


def resolve_params(params: Mapping[str, Any], job_folder: Path) -> dict[str, Any]:
    """String params naming an existing path relative to the job folder become absolute paths."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and value and not Path(value).is_absolute() and (job_folder / value).exists():
            value = str((job_folder / value).resolve())
        out[key] = value
    return out


def run_job_callable(
    target: str, params: Mapping[str, Any], job_folder: Path, job_name: str, dataset_names: list[str]
) -> tuple[dict[str, Table], str]:
    """Run ``module:function`` once; return one Table per dataset it produced, and a description of it."""
    func, module_file = _load_callable(target, job_folder, job_name)
    kwargs = resolve_params(params, job_folder)
    try:
        inspect.signature(func).bind(**kwargs)
    except TypeError as exc:
        raise InputError(f"job {job_name!r}: {target} does not take params {sorted(kwargs)}: {exc}") from None
    except ValueError:
        pass
    result = func(**kwargs)
    sha = sha256_file(module_file) if module_file and module_file.is_file() else None
    where = f"job {job_name!r}: {target}"
    if isinstance(result, Mapping):
        frames = {str(k): v for k, v in result.items()}
    elif len(dataset_names) == 1:
        frames = {dataset_names[0]: result}
    else:
        raise InputError(
            f"{where} returned one {type(result).__name__} but the job declares {len(dataset_names)} datasets "
            f"({', '.join(dataset_names)}); return a dict keyed by dataset name"
        )
    tables: dict[str, Table] = {}
    folded = {k.casefold(): k for k in frames}
    for name in dataset_names:
        key = name if name in frames else folded.get(name.casefold())
        if key is None:
            continue
        frame = to_polars(frames[key], f"{where} -> dataset {name!r}")
        tables[name] = table_from_frame(frame, f"{target} -> {key}", sha, "callable")
    return tables, target


Side = Literal["sas", "python"]
