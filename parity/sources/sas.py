"""SAS outputs (.sas7bdat, .xpt) through pyreadstat, the reference reader.

The SAS side is read as raw numbers (``disable_datetime_conversion=True``) with special missing values kept
(``user_missing=True``); parity classifies date/datetime/time columns from their formats itself
(:mod:`parity.formats`), so pyreadstat's module-level ``extra_*_formats`` lists are never touched and no date
beyond 9999-12-31 can overflow.  The rows are streamed in chunks by :mod:`parity.sources.sas_stream`, which
also chooses the reader (a verified fast path, or pyreadstat).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from parity.errors import InputError
from parity.formats import kind_of_format
from parity.sources.base import (
    NO_VARIABLES,
    SPECIAL_TAGS,
    ColumnInfo,
    Source,
    SourceMeta,
    Table,
    _reader_failure,
    materialize,
    sha256_file,
)
from parity.sources.registry import OpenOptions


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


def reader_encoding(encoding: str | None) -> str | None:
    """The spelling of an ``encoding`` override that pyreadstat's iconv knows: a Python codec name (``euc_jp``,
    ``iso8859_15``, ``mac_roman``, ``iso2022_jp``, accepted by parity.toml) becomes its iconv name (``EUC-JP``,
    ``ISO-8859-15``, ``MACROMAN``, ``ISO-2022-JP``); a name Python does not know is passed on as given."""
    import codecs

    if encoding is None:
        return None
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding
    spelled = name.upper().replace("_", "-")
    for python, iconv in (("ISO8859-", "ISO-8859-"), ("ISO2022-", "ISO-2022-"), ("SHIFT-JIS", "SHIFT_JIS")):
        spelled = spelled.replace(python, iconv)
    if spelled.startswith("MAC-"):
        spelled = "MAC" + spelled.removeprefix("MAC-")
    return {"MACLATIN2": "MACCENTRALEUROPE", "MACROMANIAN": "MACROMANIA", "SHIFT_JIS-2004": "SHIFT_JISX0213",
            "EUC-JIS-2004": "EUC-JISX0213", "BIG5HKSCS": "BIG5-HKSCS"}.get(spelled, spelled)


def _read_xport(path: Path, encoding: str | None, *, offset: int = 0, limit: int = 0,
                metadataonly: bool = False) -> tuple[Any, Any]:
    """An XPORT file with its special missing values kept.

    In XPORT a special missing value is its tag's byte (``A``-``Z``, ``_``) followed by zero bytes.  ReadStat
    reads the tags, but pyreadstat's ``read_xport`` has no ``user_missing``; its parser entry point has, so it is
    used.  Should that entry point ever change, the tags are read from the file's bytes instead
    (:func:`parity.sources.sasheader.xport_missing_tags`), so ``.A`` never silently becomes ``.``.
    """
    import pyreadstat

    options: dict[str, Any] = {"disable_datetime_conversion": True, "output_format": "polars",
                               "encoding": reader_encoding(encoding),
                               "metadataonly": metadataonly}
    try:
        from pyreadstat._readstat_parser import parser_entry_point

        raw, meta = parser_entry_point(str(path), "xport", user_missing=True, row_offset=offset, row_limit=limit,
                                       **options)
    except (ImportError, TypeError):  # pragma: no cover - depends on pyreadstat internals
        raw, meta = pyreadstat.read_xport(str(path), **options)
        if not metadataonly:
            raw = _with_scanned_tags(path, raw, meta).slice(offset, limit or None)
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


def sas_format(path: Path) -> str:
    """``"sas7bdat"`` or ``"xport"`` from the file's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".sas7bdat":
        return "sas7bdat"
    if suffix == ".xpt":
        return "xport"
    raise InputError(f"{path}: not a SAS output (expected .sas7bdat or .xpt)")


def read_raw(path: Path, fmt: str, encoding: str | None, *, offset: int = 0, limit: int = 0,
             metadataonly: bool = False) -> tuple[Any, Any]:
    """pyreadstat's frame (rows ``offset`` .. ``offset + limit``; all with ``limit=0``) and metadata.  A reader
    failure becomes an InputError naming the file and what to do."""
    import pyreadstat

    try:
        if fmt == "sas7bdat":
            raw, meta = pyreadstat.read_sas7bdat(
                str(path), user_missing=True, disable_datetime_conversion=True, output_format="polars",
                encoding=reader_encoding(encoding), formats_as_category=False, row_offset=offset,
                row_limit=limit, metadataonly=metadataonly)
        else:
            raw, meta = _read_xport(path, encoding, offset=offset, limit=limit, metadataonly=metadataonly)
        if encoding is not None and meta.file_encoding == reader_encoding(encoding):
            meta.file_encoding = encoding  # pyreadstat echoes the override: as the user spelled it
        return raw, meta
    except InputError:
        raise
    except Exception as exc:
        if isinstance(exc, UnicodeDecodeError) and fmt == "sas7bdat" and encoding is None:
            recovered = _read_cut_utf8(path, offset=offset, limit=limit, metadataonly=metadataonly)
            if recovered is not None:
                return recovered
        if encoding is not None and "character set" in str(exc).lower():
            raise InputError(f"{path}: the SAS reader does not know the encoding {encoding!r} set for this dataset "
                             f"(asked for as {reader_encoding(encoding)!r}: {exc}); set encoding to a character set "
                             "iconv knows, such as 'latin1', 'cp1252', 'utf-8', 'EUC-JP' or 'CP932', or remove it to "
                             "use the file's own") from None
        raise _reader_failure(path, exc) from None
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if type(exc).__name__ != "PanicException":
            raise
        raise _reader_failure(path, exc) from None


#: the header byte of a UTF-8 .sas7bdat file (ReadStat's charset table)
_UTF8_CODE = 20


def _read_cut_utf8(path: Path, **options: Any) -> tuple[Any, Any] | None:
    """A UTF-8 file whose values end in a character cut by SAS: a LENGTH counts bytes, and SAS truncates a value to
    its LENGTH byte by byte, so 'ab日本' in a $4 column is stored as 'ab' and two of the three bytes of '日'.  Such a
    file is read byte for byte (as Latin-1) and each text decoded as UTF-8 without its cut last character, as
    SAS's own K functions read it; None when some bytes are not UTF-8 anywhere else (the file is damaged)."""
    import codecs

    import pyreadstat

    from parity.sources.sasheader import read_header

    def text(value: str) -> str:
        decoder = codecs.getincrementaldecoder("utf-8")()  # a cut character at the end is held back, not an error
        return decoder.decode(value.encode("latin-1"), final=False)

    try:
        if read_header(path).encoding_code != _UTF8_CODE:
            return None
        raw, meta = pyreadstat.read_sas7bdat(
            str(path), user_missing=True, disable_datetime_conversion=True, output_format="polars",
            encoding="ISO-8859-1", formats_as_category=False, row_offset=options["offset"],
            row_limit=options["limit"], metadataonly=options["metadataonly"])
        for name, value in list(vars(meta).items()):
            setattr(meta, name, _recoded(value, text))
        raw = raw.rename({c: text(c) for c in raw.columns}).with_columns(
            pl.col(c).map_elements(text, return_dtype=pl.String) for c, t in raw.schema.items() if t == pl.String)
    except (Exception, UnicodeDecodeError):
        return None
    meta.file_encoding = "UTF-8"
    return raw, meta


def _recoded(value: Any, text: Callable[[str], str]) -> Any:
    """``value`` (pyreadstat metadata: a text, or a list or dict of them) with every text recoded by ``text``."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [_recoded(v, text) for v in value]
    if isinstance(value, dict):
        return {_recoded(k, text): _recoded(v, text) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class SasMeta:
    """What parity keeps of a SAS file's metadata as pyreadstat reads it (and what the cache stores as JSON)."""

    format: str  # "sas7bdat" / "xport"
    names: tuple[str, ...]
    types: Mapping[str, str]  # readstat types: "string", "double", ...
    formats: Mapping[str, str | None]
    labels: Mapping[str, str | None]
    widths: Mapping[str, int | None]
    informats: Mapping[str, str | None]
    file_label: str | None
    file_encoding: str | None
    table_name: str | None
    created: str | None
    modified: str | None

    @classmethod
    def of(cls, meta: Any, fmt: str) -> SasMeta:
        def iso(value: Any) -> str | None:
            return value.isoformat() if value else None

        return cls(
            fmt, tuple(meta.column_names), dict(meta.readstat_variable_types),
            {n: meta.original_variable_types.get(n) for n in meta.column_names},
            {n: meta.column_names_to_labels.get(n) for n in meta.column_names},
            dict(getattr(meta, "variable_storage_width", None) or {}),
            {n: v or None for n, v in (getattr(meta, "original_variable_informats", None) or {}).items()},
            meta.file_label or None, meta.file_encoding or None, getattr(meta, "table_name", None),
            iso(getattr(meta, "creation_time", None)), iso(getattr(meta, "modification_time", None)),
        )

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SasMeta:
        return cls(**{**data, "names": tuple(data["names"])})


def convert_rows(raw: pl.DataFrame, meta: SasMeta, path: Path) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """pyreadstat's frame in parity's types: numbers Float64 (special missing values null, their tags in the
    returned series), strings String, in the file's column order."""
    series: list[pl.Series] = []
    tags: dict[str, pl.Series] = {}
    for name in meta.names:
        col = raw.get_column(name) if name in raw.columns else pl.Series(name, [None] * raw.height)
        if meta.types.get(name, "double") == "string":
            series.append(col.cast(pl.String) if col.dtype != pl.String else col)
            continue
        numbers, tag = _split_special(col)
        if tag is not None and tag.null_count() < len(tag):
            bad = set(tag.drop_nulls().unique().to_list()) - SPECIAL_TAGS
            if bad:
                raise InputError(f"{path}: column {name!r} holds non-numeric values {sorted(bad)[:3]}")
            tags[name] = tag
        series.append(numbers)
    return (pl.DataFrame(series) if series else pl.DataFrame()), tags


def check_meta(path: Path, meta: SasMeta, formats: Mapping[str, str] | None) -> None:
    """A SAS file parity can compare, and ``formats`` naming its columns."""
    if not meta.names:
        raise InputError(f"{path}: {NO_VARIABLES}")
    overrides = {k.casefold() for k in (formats or {})}
    unknown = sorted(overrides - {n.casefold() for n in meta.names})
    if unknown:
        raise UnknownFormatColumn(unknown[0], f"{path}: formats names {unknown[0]!r}, which is not a column of "
                                  f"this file (columns: {', '.join(meta.names[:30])})")


def sas_columns(meta: SasMeta, found: Mapping[str, tuple[str, ...]],
                formats: Mapping[str, str] | None) -> list[ColumnInfo]:
    """The columns as the file declares them (``formats`` overriding), with the special missing tags found."""
    overrides = {k.casefold(): v for k, v in (formats or {}).items()}
    columns = []
    for name in meta.names:
        fmt = overrides.get(name.casefold()) or meta.formats.get(name)
        width, label, informat = meta.widths.get(name), meta.labels.get(name), meta.informats.get(name)
        if meta.types.get(name, "double") == "string":
            columns.append(ColumnInfo(name, "character", "string", width, fmt, label, informat=informat))
        else:
            columns.append(ColumnInfo(name, "numeric", kind_of_format(fmt), width, fmt, label,
                                      tuple(found.get(name, ())), informat))
    return columns


def sas_meta(path: Path, meta: SasMeta, *, sha256: str | None, rows: int, encoding: str | None,
             catalog: Path | None, reader: Mapping[str, Any] | None = None,
             sha256_later: Callable[[], str] | None = None) -> SourceMeta:
    """The provenance of a SAS file: its metadata, its header's release/host/compression, the catalog's value
    labels (read now: the catalog is a file of its own) and which reader read the rows."""
    extra: dict[str, Any] = {"table_name": meta.table_name, "created": meta.created, "modified": meta.modified}
    try:
        from parity.sources.sasheader import read_header

        header = read_header(path)
        extra.update(sas_release=header.sas_release, host=header.host, compression=header.compression)
    except Exception:  # provenance only: a header we cannot parse is not an error of the data
        pass
    if catalog is not None:
        extra["catalog"] = str(catalog)
        extra["value_labels"] = dict(sorted(_value_labels(path, meta, encoding, catalog).items()))
    extra.update(reader or {})
    return SourceMeta(source=str(path), sha256=sha256, rows=rows, columns=len(meta.names), format=meta.format,
                      label=meta.file_label, encoding=meta.file_encoding or encoding, extra=extra,
                      sha256_later=sha256_later)


def _value_labels(path: Path, meta: SasMeta, encoding: str | None, catalog: Path) -> dict[str, Any]:
    """Which value-label set of ``catalog`` each column uses."""
    import pyreadstat

    try:
        if meta.format == "sas7bdat":  # metadata only: with a catalog pyreadstat puts the labels in place of values
            _, with_catalog = pyreadstat.read_sas7bdat(str(path), metadataonly=True,
                                                       encoding=reader_encoding(encoding), catalog_file=str(catalog))
            return dict(with_catalog.variable_to_label or {})
        # XPORT: match the format names
        _, cat = pyreadstat.read_sas7bcat(str(catalog), encoding=reader_encoding(encoding))
    except Exception as exc:
        raise _reader_failure(path, exc) from None
    names = {k.upper(): k for k in cat.value_labels}
    fmt_names = {n: re.sub(r"\d*\.?\d*$", "", (f or "").upper()) for n, f in meta.formats.items()}
    return {n: names[f] for n, f in fmt_names.items() if f in names}


def format_overrides(path: Path, meta: Any, formats: Mapping[str, str] | None) -> dict[str, str]:
    """The dataset's ``formats`` by case-folded column name (pyreadstat's ``meta``); one naming no column of the
    file is an error."""
    check_meta(path, SasMeta.of(meta, sas_format(path)), formats)
    return {k.casefold(): v for k, v in (formats or {}).items()}


def column_info(meta: Any, name: str, overrides: Mapping[str, str], found: tuple[str, ...] = ()) -> ColumnInfo:
    """One column as pyreadstat's metadata declares it, its kind from its format (``overrides`` first)."""
    sas = SasMeta.of(meta, "sas7bdat")
    return sas_columns(sas, {name: found}, overrides)[sas.names.index(name)]


def provenance(path: Path, meta: Any, reader: Mapping[str, Any]) -> dict[str, Any]:
    """What the report says of a SAS file beyond its columns (pyreadstat's ``meta``): table name, reader, times,
    release, host, compression."""
    sas = SasMeta.of(meta, sas_format(path))
    return dict(sas_meta(path, sas, sha256="", rows=0, encoding=None, catalog=None, reader=reader).extra)


def read_sas_whole(
    path: Path,
    *,
    encoding: str | None = None,
    catalog: Path | None = None,
    formats: Mapping[str, str] | None = None,
) -> Table:
    """A .sas7bdat or .xpt file read whole in one pyreadstat call: raw SAS numbers, special missing values kept,
    kinds from formats.  The reference the streamed read (:func:`read_sas`) is tested against."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    fmt = sas_format(path)
    raw, pmeta = read_raw(path, fmt, encoding)
    meta = SasMeta.of(pmeta, fmt)
    check_meta(path, meta, formats)
    frame, tags = convert_rows(raw, meta, path)
    found = {n: tuple(sorted(t.drop_nulls().unique().to_list())) for n, t in tags.items()}
    return Table(frame=frame, columns=sas_columns(meta, found, formats),
                 meta=sas_meta(path, meta, sha256=sha256_file(path), rows=frame.height, encoding=encoding,
                               catalog=catalog),
                 tags=tags)


def read_sas(
    path: Path,
    *,
    encoding: str | None = None,
    catalog: Path | None = None,
    formats: Mapping[str, str] | None = None,
) -> Table:
    """A SAS-side file (.sas7bdat, .xpt, or another kind the registry lets stand for SAS) in memory; a SAS file is
    read as :func:`open_sas` streams it (through parity's cache for a big file)."""
    from parity.sources.registry import open_source

    return materialize(open_source(path, OpenOptions(encoding=encoding, catalog=catalog, formats=dict(formats or {})),
                                   sas_side=True))


def open_sas(location: str, options: OpenOptions) -> Source:
    """The registry's opener for .sas7bdat and .xpt files: streamed in chunks (:mod:`parity.sources.sas_stream`)."""
    from parity.sources.sas_stream import open_streamed

    return open_streamed(Path(location), options)
