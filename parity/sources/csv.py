"""CSV outputs read as text and converted to each SAS column's type."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import polars as pl

from parity.errors import InputError
from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS
from parity.sources.base import Change, ColumnInfo, Table, _reader_failure, sha256_file, sha256_files
from parity.sources.frames import table_from_frame
from parity.sources.registry import OpenOptions, glob_files, is_glob


def open_csv(location: str, options: OpenOptions) -> Table:
    """A CSV output, in memory: a file, or a glob of files with one header (``out/part-*.csv``, each file with its
    header row).  Given the SAS side's columns (``options.like``), it is read as text and each column converted to
    its SAS column's type (:func:`read_csv_as_sas`); without them, types are inferred."""
    if is_glob(location):
        root, files = glob_files(location)
        if not files:
            raise InputError(f"{location}: no file matches this pattern")
        parts = [_read_csv_file(file, options) for file in files]
        first = parts[0][0].columns
        for file, (frame, _) in zip(files, parts, strict=True):
            if sorted(frame.columns) != sorted(first):
                raise InputError(f"{location}: {file.relative_to(root).as_posix()} has the columns "
                                 f"{', '.join(frame.columns[:20])} but {files[0].relative_to(root).as_posix()} has "
                                 f"{', '.join(first[:20])}; the files of one dataset must have the same columns "
                                 "(each file its own header row)")
        try:
            frame = pl.concat([frame.select(first) for frame, _ in parts], how="vertical_relaxed")
        except Exception as exc:
            raise InputError(f"{location}: the files' columns hold values of different types ({type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
        sha256: str | None = sha256_files(files, root)
        dropped = sorted({d for _, ds in parts for d in ds})
        extra: dict[str, object] = {"files": len(files)}
    else:
        path = Path(location)
        frame, dropped = _read_csv_file(path, options)
        sha256 = sha256_file(path)
        extra = {}
    if dropped:
        extra["dropped"] = "; ".join(dropped)
    if options.like is not None:
        table = read_csv_as_sas(frame, options.like, options.rename, location, sha256)
    else:
        table = table_from_frame(frame, location, sha256, "csv")
    if extra:
        table.meta = replace(table.meta, extra={**table.meta.extra, **extra})
    return table


def _read_csv_file(path: Path, options: OpenOptions) -> tuple[pl.DataFrame, list[str]]:
    """One CSV file's frame (text when the SAS side's columns are given) and what was left out of it as no data."""

    def read(source: Path | bytes) -> pl.DataFrame:
        if options.like is not None:
            return pl.read_csv(source, infer_schema=False)
        return pl.read_csv(source, try_parse_dates=True, infer_schema_length=10_000)

    _check_utf16(path)
    try:
        frame = read(path)
        if frame.width > 1 and frame.height and frame.select(
                pl.all_horizontal(pl.all().exclude(frame.columns[0]).is_null()).any()).item():
            cleaned = _without_blank_lines(path.read_bytes())  # rows of nulls: blank lines, or rows written so?
            if cleaned is not None:
                frame = read(cleaned)
    except Exception as exc:
        raise _reader_failure(path, exc, what="csv file") from None
    if frame.width == 1:
        _check_separator(path, frame.columns[0])
    # columns without a name in the header (polars names a second one "_duplicated_0")
    unnamed = [c for c in frame.columns if c == "" or (re.fullmatch(r"_duplicated_\d+", c) and "" in frame.columns)]
    dropped = []
    if frame.width > 1 and frame.columns[0] == "" and _is_pandas_index(frame.to_series(0)):
        frame = frame.drop("")  # df.to_csv() without index=False: the index is no data (as for a frame returned)
        dropped.append("the unnamed first column: the pandas index that df.to_csv() writes without index=False")
    empty = [c for c in unnamed if c in frame.columns and frame.get_column(c).null_count() == frame.height]
    if empty and len(empty) < frame.width:  # trailing commas (a spreadsheet's export): no column, no data
        frame = frame.drop(empty)
        dropped.append(f"{len(empty)} unnamed column{'s' if len(empty) > 1 else ''} without a value (trailing commas)")
    dupes = sorted({m[1] for c in frame.columns if (m := re.fullmatch(r"(.*)_duplicated_\d+", c))} & set(frame.columns))
    if dupes:  # polars renames a repeated header name to <name>_duplicated_<n>
        raise InputError(f"{path}: duplicate column names {dupes[:5]!r} in the header; give every column a unique "
                         "name")
    return frame, dropped


def _is_pandas_index(column: pl.Series) -> bool:
    """An unnamed first column of distinct whole numbers (0, 1, 2, ... or what is left of them after a filter): the
    index pandas writes first."""
    if column.null_count() or not column.len():
        return False
    if column.dtype == pl.String:
        if not column.str.contains(r"^\d+$").all():
            return False
        column = column.cast(pl.Int64, strict=False)
    return column.dtype.is_integer() and column.null_count() == 0 and column.n_unique() == column.len()


def _without_blank_lines(data: bytes) -> bytes | None:
    """The CSV text without its blank lines (empty or only blanks, outside quoted values), None when it has none.
    A CSV of two or more columns cannot write a row as a blank line (a row of missing values is ``,,``), so a blank
    line (a trailing one, say) is no row; polars reads each as a row of missing values."""
    import numpy as np

    b = np.frombuffer(data, np.uint8)
    inside = np.bitwise_xor.accumulate((b == ord('"')).astype(np.uint8))  # 1 inside a quoted value
    newlines = np.flatnonzero((b == ord("\n")) & (inside == 0))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(b)]))
    text = np.concatenate(([0], np.cumsum((b != ord(" ")) & (b != ord("\t")) & (b != ord("\r")), dtype=np.int64)))
    blank = (text[ends] - text[starts]) == 0
    blank[-1] = False  # what follows the last newline: the end of the file (or a last line without a newline)
    if not blank.any():
        return None
    edges = np.zeros(len(b) + 2, dtype=np.int64)  # +1 where a blank line starts, -1 past its newline
    np.add.at(edges, starts[blank], 1)
    np.add.at(edges, ends[blank] + 1, -1)
    kept: bytes = b[np.cumsum(edges)[: len(b)] == 0].tobytes()
    return kept


def _check_utf16(path: Path) -> None:
    """A CSV written as UTF-16 (Excel's "Unicode text", PowerShell's default): read as UTF-8 it has NUL bytes
    between its letters, and its header names no column parity finds."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        return  # the reader says why
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path}: the file is UTF-16 (it starts with a UTF-16 byte-order mark); CSV files must be "
                         "UTF-8: write it with encoding='utf-8' (or write parquet instead)")


def _check_separator(path: Path, header: str) -> None:
    """A CSV read as one column whose name holds semicolons, tabs or bars: written with another separator."""
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
        if sep in header and len(header.split(sep)) > 1:
            raise InputError(f"{path}: its header {header!r} is separated by {name}, not commas: parity reads "
                             "comma-separated files (write it with the default separator, or write parquet "
                             "instead)")


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


def read_csv_as_sas(frame: pl.DataFrame, sas: Sequence[ColumnInfo], rename: Mapping[str, str], source: str,
                    sha256: str | None) -> Table:
    """A CSV read as text, each column converted to the type of its SAS column (matched case-insensitively, after
    ``rename``).  Character columns stay text; a numeric column's values must all convert, else the column gets a
    ``problem`` (a type conflict in the schema check) naming the first value that does not."""
    renamed = {k.casefold(): v for k, v in rename.items()}
    targets = {renamed.get(c.name.casefold(), c.name).casefold(): c for c in sas}
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
    converted = pl.DataFrame(series)
    converted.columns = [s.name for s in series]  # an unnamed column stays "" (not polars' column_0)
    table = table_from_frame(converted, source, sha256, "csv")
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


