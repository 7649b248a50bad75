"""SAS outputs (.sas7bdat, .xpt) through pyreadstat, the reference reader.

The SAS side is read as raw numbers (``disable_datetime_conversion=True``) with special missing values kept
(``user_missing=True``); parity classifies date/datetime/time columns from their formats itself
(:mod:`parity.formats`), so pyreadstat's module-level ``extra_*_formats`` lists are never touched and no date
beyond 9999-12-31 can overflow.  A faster reader can slot in behind :func:`read_sas` later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from parity.errors import InputError
from parity.formats import kind_of_format
from parity.sources.base import (
    NO_VARIABLES,
    SPECIAL_TAGS,
    ColumnInfo,
    SourceMeta,
    Table,
    _reader_failure,
    sha256_file,
    tag_column,
)


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
    (:func:`parity.sources.sasheader.xport_missing_tags`), so ``.A`` never silently becomes ``.``.
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
    from parity.sources.sasheader import xport_missing_tags

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


def format_overrides(path: Path, meta: Any, formats: Mapping[str, str] | None) -> dict[str, str]:
    """The dataset's ``formats`` by case-folded column name; one naming no column of the file is an error."""
    overrides = {k.casefold(): v for k, v in (formats or {}).items()}
    unknown = sorted(set(overrides) - {n.casefold() for n in meta.column_names})
    if unknown:
        raise UnknownFormatColumn(unknown[0], f"{path}: formats names {unknown[0]!r}, which is not a column of "
                                  f"this file (columns: {', '.join(meta.column_names[:30])})")
    return overrides


def column_info(meta: Any, name: str, overrides: Mapping[str, str], found: tuple[str, ...] = ()) -> ColumnInfo:
    """A column as pyreadstat's metadata declares it, its kind from its format (``overrides`` first);
    ``found``: the special missing tags its values hold."""
    fmt = overrides.get(name.casefold()) or meta.original_variable_types.get(name)
    label = meta.column_names_to_labels.get(name)
    width = meta.variable_storage_width.get(name) if hasattr(meta, "variable_storage_width") else None
    informat = (getattr(meta, "original_variable_informats", None) or {}).get(name) or None
    if meta.readstat_variable_types.get(name, "double") == "string":
        return ColumnInfo(name, "character", "string", width, fmt, label, informat=informat)
    return ColumnInfo(name, "numeric", kind_of_format(fmt), width, fmt, label, found, informat)


def provenance(path: Path, meta: Any, reader: Mapping[str, Any]) -> dict[str, Any]:
    """What the report says of a SAS file beyond its columns: table name, reader, times, release, host, ..."""
    extra: dict[str, Any] = {"table_name": getattr(meta, "table_name", None), **reader}
    for attr in ("creation_time", "modification_time"):
        value = getattr(meta, attr, None)
        extra["created" if attr == "creation_time" else "modified"] = value.isoformat() if value else None
    try:
        from parity.sources.sasheader import read_header

        header = read_header(path)
        extra.update(sas_release=header.sas_release, host=header.host, compression=header.compression)
    except Exception:  # provenance only: a header we cannot parse is not an error of the data
        pass
    return extra


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
    if suffix in (".json", ".ndjson"):  # CDISC Dataset-JSON, e.g. written by SAS from this data set
        from parity.sources.datasetjson import read_datasetjson, refuse_sas_options

        refuse_sas_options(path, encoding, catalog)
        return read_datasetjson(path, formats=formats)
    try:
        if suffix == ".sas7bdat":
            from parity.sources.sas_fast import scan_sas_fast

            fast = scan_sas_fast(path, encoding=encoding)  # the fast reader where it provably reads the same
            if fast.frame is not None:
                raw, meta = fast.frame, fast.meta
            else:
                raw, meta = pyreadstat.read_sas7bdat(
                    str(path), user_missing=True, disable_datetime_conversion=True, output_format="polars",
                    encoding=encoding, formats_as_category=False,
                )
            reader = fast.provenance()
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
            reader = {"reader": "pyreadstat"}
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
    overrides = format_overrides(path, meta, formats)
    series: list[pl.Series] = []
    columns: list[ColumnInfo] = []
    tags: dict[str, pl.Series] = {}
    n_rows = raw.height
    for name in meta.column_names:
        col = raw.get_column(name) if name in raw.columns else pl.Series(name, [None] * n_rows)
        if meta.readstat_variable_types.get(name, "double") == "string":
            series.append(col.cast(pl.String) if col.dtype != pl.String else col)
            columns.append(column_info(meta, name, overrides))
            continue
        numbers, tag = _split_special(col)
        if tag_column(name) in raw.columns:  # the fast reader's tags come in their own column
            tag = raw.get_column(tag_column(name))
        found: tuple[str, ...] = ()
        if tag is not None and tag.null_count() < len(tag):
            bad = set(tag.drop_nulls().unique().to_list()) - SPECIAL_TAGS
            if bad:
                raise InputError(f"{path}: column {name!r} holds non-numeric values {sorted(bad)[:3]}")
            tags[name] = tag
            found = tuple(sorted(tag.drop_nulls().unique().to_list()))
        series.append(numbers)
        columns.append(column_info(meta, name, overrides, found))

    extra = provenance(path, meta, reader)
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


