"""Python outputs: polars or pandas frames, parquet/arrow/csv files."""

from __future__ import annotations

import tempfile
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from parity.errors import InputError
from parity.formats import Kind
from parity.sources import cache
from parity.sources.base import (
    ColumnInfo,
    LazySource,
    Source,
    SourceMeta,
    Table,
    _reader_failure,
    deferred_sha256,
    materialize,
    sha256_file,
    sha256_files,
)
from parity.sources.registry import OpenOptions, glob_files, is_glob, open_source


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
            "nothing: return the DataFrame, or a dict of them)",
            "Table": " (a pyarrow Table: return pl.from_arrow(table))",
            "RecordBatch": " (a pyarrow RecordBatch: return pl.from_arrow(batch))"}.get(what, "")
    if isinstance(obj, str | Path):
        hint = (f" ({str(obj)!r}: to compare a file the port writes, name it in parity.toml as the dataset's "
                "python = '<file>' and return the other datasets)")
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

    for name, dtype in zip(frame.columns, frame.dtypes, strict=True):  # types polars reads otherwise, or not at all
        if isinstance(dtype, pd.PeriodDtype):
            raise InputError(f"{where}: column {name!r} holds pandas Periods ({dtype}), which polars reads as "
                             "period numbers; convert it: .dt.to_timestamp() for its start date, or .astype(str)")
        if isinstance(dtype, pd.SparseDtype):
            raise InputError(f"{where}: column {name!r} is a sparse pandas column ({dtype}); make it dense: "
                             f"df[{name!r}] = df[{name!r}].sparse.to_dense()")
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
    _usable_schema(frame.schema, where)
    return frame


def spark_frame_table(frame: Any) -> Table:
    """A Spark DataFrame a port returned (:class:`parity.run.port.SparkFrame`), collected through Arrow for the
    polars engine; timestamps as their wall-clock time in the Spark session's time zone, as the Spark engine reads
    them."""
    df = frame.df
    try:
        arrow = df.toArrow()
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{frame.where}: the Spark DataFrame cannot be computed ({text})") from None
    polars = pl.from_arrow(arrow)
    assert isinstance(polars, pl.DataFrame)
    zone = df.sparkSession.conf.get("spark.sql.session.timeZone") or "UTC"
    polars = polars.with_columns(pl.col(n).dt.convert_time_zone(zone) for n, t in polars.schema.items()
                                 if isinstance(t, pl.Datetime) and t.time_zone is not None)
    return table_from_frame(_usable(polars, frame.where), frame.source, None, "spark")


def _usable_schema(schema: Mapping[str, pl.DataType], where: str) -> None:
    bad = [f"{name} ({dtype})" for name, dtype in schema.items() if isinstance(dtype, _UNUSABLE)]
    if bad:
        raise InputError(f"{where}: column(s) {', '.join(bad[:5])} hold Python objects, lists or structs, which a SAS "
                         "data set cannot hold; make each a number, string, date or time column")


def _schema_columns(schema: Mapping[str, pl.DataType], where: str) -> tuple[list[ColumnInfo], list[str]]:
    """The columns of a usable schema, and the categorical ones that are compared as strings."""
    _usable_schema(schema, where)
    strings = [c for c, t in schema.items() if isinstance(t, pl.Categorical | pl.Enum)]
    return [ColumnInfo(name, str(pl.String() if name in strings else dtype),
                       "string" if name in strings else _python_kind(dtype)) for name, dtype in schema.items()], strings


def table_from_frame(frame: pl.DataFrame, source: str, sha256: str | None, fmt: str) -> Table:
    columns, strings = _schema_columns(frame.schema, source)
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in strings)
    meta = SourceMeta(source=source, sha256=sha256, rows=frame.height, columns=frame.width, format=fmt)
    return Table(frame=frame, columns=columns, meta=meta)


def read_python_file(
    path: Path, *, encoding: str | None = None, sas: Table | None = None, rename: Mapping[str, str] | None = None
) -> Table:
    """A Python job's output written to a file (any kind the registry reads: .parquet, .csv, .arrow/.feather/.ipc,
    a SAS file, a folder or glob of parquet files), in memory.

    A CSV holds only text: given the SAS side (``sas``, with the dataset's ``rename``), each CSV column is read as
    text and converted to the type of its SAS column (:func:`parity.sources.csv.read_csv_as_sas`), so ``"01234"``
    stays a string for a character column; without it, types are inferred.
    """
    options = OpenOptions(encoding=encoding, like=tuple(sas.columns) if sas is not None else None,
                          rename=dict(rename or {}))
    return materialize(open_source(path, options))


Scan = Callable[[list[Path], bool, "Mapping[str, pl.DataType] | None", "Mapping[str, pl.DataType] | None"],
               pl.LazyFrame]


def _lazy_file_source(location: str, fmt: str, scan: Scan, options: OpenOptions | None = None) -> LazySource:
    """A parquet or arrow file, glob or folder, scanned lazily: its schema and exact row count from the files'
    metadata, its rows when scanned.  ``scan(files, hive, schema, hive_schema)`` scans the files (``hive``: their
    ``name=value`` sub-folders are columns; ``schema``: the one schema every file is read in, when the files'
    schemas differ in ways one type holds (see :func:`_unified_schema`); ``hive_schema``: the partition columns'
    types, when the SAS side has one as a character column)."""
    path = Path(location)
    root, files = _files_of(location, fmt)
    single = len(files) == 1 and not path.is_dir() and not is_glob(location)
    hive = path.is_dir()  # a folder's name=value folders are columns (a glob's are not, as Spark reads a glob)
    keys = _hive_keys(root, files) if hive else []
    # hashed for the report when it is written (one file: prefetched meanwhile, on a core the comparison leaves
    # idle), each file unchanged since it is opened here (before its metadata is read), or the report's digest
    # would be of other bytes
    later = deferred_sha256(files[0]) if single else deferred_sha256(path, lambda: sha256_files(files, root),
                                                                      files=files)
    schema: Mapping[str, pl.DataType] | None = None
    if not single:  # each file's footer: a damaged file is named, and files that disagree are told apart
        schemas = [(file, _file_schema(file, fmt)) for file in files]
        schema = _unified_schema(location, root, schemas, keys)
    if keys and not single:
        _check_partition_columns(location, fmt, root, keys, schemas, scan, schema)
    try:
        hive_schema = _hive_schema(scan(files, hive, schema, None), keys, options) if keys else None
        plan = scan(files, hive, schema, hive_schema)
        found = plan.collect_schema()
        rows = int(plan.select(pl.len()).collect().item())
    except Exception as exc:
        raise _reader_failure(files[0] if len(files) == 1 else path, exc, what=f"{fmt} file") from None
    columns, strings = _schema_columns(found, location)
    meta = SourceMeta(source=location, sha256=None, rows=rows, columns=len(columns), format=fmt,
                      extra={} if single else {"files": len(files)}, sha256_later=later)

    def scanner() -> pl.LazyFrame:
        lazy = scan(files, hive, schema, hive_schema)
        return lazy.with_columns(pl.col(c).cast(pl.String) for c in strings) if strings else lazy

    return LazySource(columns, meta, scanner, where=files[0] if single else path,
                      files=() if single else tuple(files))


_HIVE_MISSING = "__HIVE_DEFAULT_PARTITION__"


def _check_partition_columns(location: str, fmt: str, root: Path, keys: list[str],
                             schemas: list[tuple[Path, pl.Schema]], scan: Scan,
                             schema: Mapping[str, pl.DataType] | None) -> None:
    """A partition column that the files hold too (``region=1/part.parquet`` with a ``region`` column) is read from
    the folder's name, as polars and Spark read it: a file whose own values are not its folder's would be compared
    with values it does not hold (a port's wrong ``region`` hidden by the layout).  Such a file is an error naming
    it.  Numbers, text and dates are checked (their distinct values per file, one column read); other types are
    read from the folder's name unchecked."""
    from urllib.parse import unquote

    checks: list[tuple[Path, str, str, pl.LazyFrame]] = []
    for file, file_schema in schemas:
        folders = _partition_folders(root, file)
        for key in keys:
            dtype = file_schema.get(key)
            if dtype is None or key not in folders:
                continue
            if not (dtype.is_numeric() or dtype in (pl.String, pl.Categorical, pl.Date) or isinstance(dtype, pl.Enum)):
                continue
            query = scan([file], False, schema, None).select(pl.col(key).unique().cast(pl.String))
            checks.append((file, key, unquote(folders[key]), query))
    if not checks:
        return
    try:
        found = pl.collect_all([q for *_, q in checks])
    except Exception as exc:
        raise _reader_failure(Path(location), exc, what=f"{fmt} file") from None
    for (file, key, text, _), values in zip(checks, found, strict=True):
        for value in values.get_column(key).to_list():
            if not _same_partition_value(value, text):
                shown = "missing" if value is None else repr(value)
                raise InputError(
                    f"{location}: {file.relative_to(root).as_posix()} holds {key} = {shown} in the folder "
                    f"{key}={text}: the folder's value is what is read (as polars and Spark read a partitioned "
                    f"dataset), not the file's; write the files without the partition column, or in the folder "
                    f"of their own value")


def _same_partition_value(value: str | None, text: str) -> bool:
    """Whether a file's value (as text) is the one its ``name=text`` folder stands for."""
    if value is None or text == _HIVE_MISSING:
        return value is None and text == _HIVE_MISSING
    if value == text:
        return True
    try:
        return float(value) == float(text)  # 1 in region=01, 1.0 in region=1
    except ValueError:
        return False


def _file_schema(file: Path, fmt: str) -> pl.Schema:
    """One file's schema, from its footer; a file that cannot be read is an error naming it."""
    try:
        return pl.Schema(pl.read_parquet_schema(file) if fmt == "parquet" else pl.read_ipc_schema(file))
    except Exception as exc:
        raise _reader_failure(file, exc, what=f"{fmt} file") from None


def _hive_keys(root: Path, files: list[Path]) -> list[str]:
    """The partition columns of a folder's or glob's files: their ``name=value`` folders under ``root``."""
    keys: dict[str, None] = {}
    for file in files:
        keys.update(dict.fromkeys(_partition_folders(root, file)))
    return list(keys)


def _partition_folders(root: Path, file: Path) -> dict[str, str]:
    """The ``name=value`` folders of ``file`` under ``root``: each partition column's value as written there."""
    found: dict[str, str] = {}
    for part in file.relative_to(root).parts[:-1]:
        name, sep, value = part.partition("=")
        if sep and name:
            found[name] = value
    return found


def _hive_schema(plan: pl.LazyFrame, keys: list[str], options: OpenOptions | None) -> dict[str, pl.DataType] | None:
    """The partition columns' types: as polars infers them from the folder names, except that a partition whose
    SAS column is character stays text (``region=01`` is ``"01"``, not the number 1)."""
    if options is None or not options.like:
        return None
    renamed = {k.casefold(): v.casefold() for k, v in options.rename.items()}
    character = {renamed.get(c.name.casefold(), c.name.casefold()) for c in options.like if c.type == "character"}
    text = [k for k in keys if k.casefold() in character]
    if not text:
        return None
    inferred = plan.collect_schema()
    return {k: pl.String() if k in text else inferred.get(k, pl.String()) for k in keys}


_DATETIME_UNITS = ("ms", "us", "ns")


def _merged_dtype(a: pl.DataType, b: pl.DataType) -> pl.DataType | None:
    """The one type that holds the values of both (None: there is none that parity reads the files in)."""
    if a == b:
        return a
    if a == pl.Null:
        return b
    if b == pl.Null:
        return a
    if (a.is_integer() or a.is_float()) and (b.is_integer() or b.is_float()):
        if a.is_float() or b.is_float() or a.is_signed_integer() != b.is_signed_integer():
            return pl.Float64()
        return a if _int_bits(a) >= _int_bits(b) else b
    strings = (pl.String, pl.Categorical, pl.Enum)
    if isinstance(a, strings) and isinstance(b, strings):
        return pl.String()
    if isinstance(a, pl.Datetime) and isinstance(b, pl.Datetime) and a.time_zone == b.time_zone:
        unit = max(a.time_unit or "us", b.time_unit or "us", key=_DATETIME_UNITS.index)
        return pl.Datetime(unit, a.time_zone)
    return None


def _int_bits(dtype: pl.DataType) -> int:
    bits: dict[type[pl.DataType], int] = {pl.Int8: 8, pl.UInt8: 8, pl.Int16: 16, pl.UInt16: 16, pl.Int32: 32,
                                          pl.UInt32: 32, pl.Int128: 128, pl.UInt128: 128}
    return bits.get(type(dtype), 64)


def _unified_schema(location: str, root: Path, schemas: list[tuple[Path, pl.Schema]],
                    hive_keys: list[str]) -> dict[str, pl.DataType] | None:
    """The one schema the files of a folder or glob are read in (None: every file has the same columns and types,
    in any order).  Files written by different steps of a port may differ where one type holds both: integers of
    different widths, integers and floats (read as Float64, a SAS number), a column that is all null in one file
    (a part with no rows), categoricals and strings, datetimes in different units.  Anything else (a column
    missing from a file, a name spelled in another case, a number in one file and text in another) is an error
    naming the files, never a read that silently takes the first file's columns."""

    def rel(file: Path) -> str:
        try:
            return file.relative_to(root).as_posix()
        except ValueError:
            return str(file)

    def more(found: list[Path]) -> str:
        return rel(found[0]) + (f" (and {len(found) - 1:,} other file{'s' if len(found) > 2 else ''})"
                                if len(found) > 1 else "")

    names: dict[str, str] = {}
    spelled: dict[str, Path] = {}
    for file, schema in schemas:
        for name in schema:
            seen = names.setdefault(name.casefold(), name)
            spelled.setdefault(name, file)
            if seen != name:
                raise InputError(f"{location}: column {name!r} in {rel(file)} is {seen!r} in {rel(spelled[seen])}; "
                                 "the files of one dataset must spell their column names alike: write them with "
                                 "one schema")
    hive = {k.casefold() for k in hive_keys}
    for name in names.values():
        if name.casefold() in hive:
            continue
        lacking = [file for file, schema in schemas if name not in schema]
        if lacking:
            having = [file for file, schema in schemas if name in schema]
            raise InputError(f"{location}: column {name!r} is in {more(having)} but not in {more(lacking)}; the "
                             "files of one dataset must have the same columns: write them with one schema (or "
                             "name only the files that belong to it)")
    target: dict[str, pl.DataType] = {}
    origin: dict[str, Path] = {}
    differ = False
    first = dict(schemas[0][1])
    for file, schema in schemas:
        differ = differ or dict(schema) != first
        for name, dtype in schema.items():
            if name not in target:
                target[name], origin[name] = dtype, file
                continue
            merged = _merged_dtype(target[name], dtype)
            if merged is None:
                raise InputError(f"{location}: column {name!r} is {target[name]} in {rel(origin[name])} but {dtype} "
                                 f"in {rel(file)}; the files of one dataset must hold each column in one type: write "
                                 "them with one schema")
            if merged != target[name] and target[name] != pl.Null:
                origin[name] = file
            target[name] = merged
    return target if differ else None


def _files_of(location: str, fmt: str) -> tuple[Path, list[Path]]:
    """(the folder the files are named relative to, the files) of a file, a glob or a folder."""
    path = Path(location)
    if is_glob(location):
        root, files = glob_files(location)
    elif path.is_dir():
        root, files = path, sorted(p for p in path.rglob(f"*.{fmt}") if p.is_file() and not _hidden(p, path))
    else:
        root, files = path.parent, [path]
    if not files:
        raise InputError(f"{location}: no {fmt} files {'match this pattern' if is_glob(location) else 'in it'}; "
                         "check the path (a folder is read with every *.parquet file under it)")
    table = next((folder for folder in (root, *root.parents) if (folder / "_delta_log").is_dir()), None)
    if table is not None and fmt == "parquet" and (path.is_dir() or is_glob(location)):
        raise InputError(f"{location}: {table} is a Delta table (it has a _delta_log folder), whose current version "
                         "is not every parquet file in it (files of older versions stay until VACUUM); name the "
                         "table with python = 'delta:<its path>' in parity.toml")
    return root, files


def _hidden(path: Path, root: Path) -> bool:
    """Spark's _SUCCESS/_committed files and .crc files are not data."""
    return any(part.startswith((".", "_")) and "=" not in part for part in path.relative_to(root).parts)


def is_parquet_folder(path: Path) -> bool:
    return any(not _hidden(p, path) for p in path.rglob("*.parquet"))


def open_parquet(location: str, options: OpenOptions) -> LazySource:
    """A parquet file, a glob of them, or a folder (a hive-partitioned dataset: ``year=2024/`` folders become
    columns)."""
    index = _pandas_range_index(Path(location)) if Path(location).is_file() else None

    def scan(files: list[Path], hive: bool, schema: Mapping[str, pl.DataType] | None,
             hive_schema: Mapping[str, pl.DataType] | None) -> pl.LazyFrame:
        lazy = pl.scan_parquet(files, glob=False, hive_partitioning=hive or None, schema=schema,
                               hive_schema=hive_schema, cast_options=_CAST if schema is not None else None)
        if index is not None:
            name, start, step = index
            lazy = lazy.with_row_index(name).select(
                (pl.col(name).cast(pl.Int64) * step + start).alias(name), pl.all().exclude(name))
        return lazy

    return _lazy_file_source(location, "parquet", scan, options)


def read_as_written(location: str) -> bool:
    """Whether a parquet file, glob or folder is read as its files hold it: no file with a pandas index kept only in
    its metadata (:func:`_pandas_range_index`), and all files with the same columns and types (in any order), so
    another reader (Spark) reads the same table."""
    path = Path(location)
    root, files = _files_of(location, "parquet")
    if len(files) == 1:
        return _pandas_range_index(files[0]) is None
    keys = _hive_keys(root, files) if path.is_dir() else []
    return (_unified_schema(location, root, [(f, _file_schema(f, "parquet")) for f in files], keys) is None
            and not any(_pandas_range_index(f) for f in files))


def _pandas_range_index(file: Path) -> tuple[str, int, int] | None:
    """(name, start, step) of a named pandas RangeIndex that ``df.to_parquet`` stored only in the file's pandas
    metadata, not as a column (``df.set_index("id")`` with ids 1, 2, 3, ...): pandas reads it back as the index,
    polars drops it, and the port's ``id`` column would be missing (None for any other file)."""
    import json

    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(file)
        meta = json.loads((schema.metadata or {}).get(b"pandas", b"{}"))
    except Exception:  # not readable, or no pandas metadata: the reader says what is wrong
        return None
    indexes = meta.get("index_columns") or []
    if len(indexes) != 1 or not isinstance(indexes[0], dict):
        return None
    index = indexes[0]
    name = index.get("name")
    if index.get("kind") != "range" or not isinstance(name, str) or name in schema.names:
        return None
    try:
        return name, int(index["start"]), int(index["step"])
    except (KeyError, TypeError, ValueError):
        return None


#: how files whose types differ are read in one schema (:func:`_unified_schema` says which differences are read)
_CAST = pl.ScanCastOptions(integer_cast=["upcast", "allow-float"], float_cast="upcast", datetime_cast="upcast",
                           categorical_to_string="allow")


def open_ipc(location: str, options: OpenOptions) -> Source:
    """An Arrow IPC file (feather v2), a glob or a folder of them: scanned lazily.  Arrow's stream format
    (``write_ipc_stream``, ``pyarrow.ipc.new_stream``) and Feather v1 files, which have no footer to scan, are read
    into memory."""
    fmt = Path(location).suffix.lower().lstrip(".") or "arrow"
    _, files = _files_of(location, fmt)
    kinds = {file: _ipc_kind(file) for file in files}
    for file, kind in kinds.items():
        if kind == "parquet":
            raise InputError(f"{file}: this is a parquet file, not Arrow IPC ({file.suffix}): rename it to "
                             f"{file.stem}.parquet")
    if any(kind in ("stream", "feather1") for kind in kinds.values()):
        return _ipc_in_memory(location, fmt, kinds)
    return _lazy_file_source(location, fmt, _scan_ipc, options)


def _ipc_kind(file: Path) -> str:
    """What an Arrow file holds, from its first bytes: ``file`` (the IPC file format), ``stream`` (the IPC stream
    format), ``feather1``, ``parquet`` or ``unknown`` (damaged or empty: the reader says why)."""
    try:
        with file.open("rb") as fh:
            head = fh.read(8)
    except OSError:
        return "unknown"
    if head.startswith(b"ARROW1"):
        return "file"
    if head.startswith(b"FEA1"):
        return "feather1"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xff\xff\xff\xff") or (len(head) == 8 and 0 < int.from_bytes(head[:4], "little") < 1 << 24):
        return "stream"  # a continuation marker, or (before Arrow 0.15) a message length
    return "unknown"


def _scan_ipc(files: list[Path], hive: bool, schema: Mapping[str, pl.DataType] | None,
              hive_schema: Mapping[str, pl.DataType] | None) -> pl.LazyFrame:
    def scan(some: list[Path]) -> pl.LazyFrame:
        return pl.scan_ipc(some, glob=False, memory_map=False, hive_partitioning=hive or None,
                           hive_schema=hive_schema)

    if schema is None:
        return scan(files)
    # scan_ipc takes no schema: each file read alone, in the one schema
    parts = []
    for file in files:
        lazy = scan([file])
        names = lazy.collect_schema().names()
        parts.append(lazy.select([pl.col(n).cast(t) if n in names else pl.lit(None, t).alias(n)
                                  for n, t in schema.items()]
                                 + [pl.col(n) for n in names if n not in schema]))
    return pl.concat(parts, how="vertical")


def _ipc_in_memory(location: str, fmt: str, kinds: Mapping[Path, str]) -> Table:
    """Arrow files without a footer (the stream format, Feather v1), read whole, in one schema."""
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.ipc as ipc

    frames: list[tuple[Path, pl.DataFrame]] = []
    for file, kind in kinds.items():
        try:
            if kind in ("file", "feather1"):
                with warnings.catch_warnings():  # pyarrow's deprecation of Feather v1 is for who writes it
                    warnings.simplefilter("ignore", DeprecationWarning)
                    table = feather.read_table(str(file))
            else:
                with pa.OSFile(str(file), "rb") as fh:
                    table = ipc.open_stream(fh).read_all()
            frame = pl.from_arrow(table)
        except Exception as exc:
            raise _reader_failure(file, exc, what=f"{fmt} file") from None
        assert isinstance(frame, pl.DataFrame)
        frames.append((file, frame))
    path = Path(location)
    single = len(frames) == 1 and not path.is_dir() and not is_glob(location)
    root = frames[0][0].parent if single else (glob_files(location)[0] if is_glob(location) else path)
    schema = _unified_schema(location, root, [(f, frame.schema) for f, frame in frames], [])
    if schema is not None:
        frames = [(f, frame.select(pl.col(n).cast(t) for n, t in schema.items())) for f, frame in frames]
    frame = pl.concat([frame for _, frame in frames], how="vertical") if len(frames) > 1 else frames[0][1]
    files = [f for f, _ in frames]
    digest = sha256_file(files[0]) if single else sha256_files(files, root)
    table = table_from_frame(_usable(frame, location), location, digest, fmt)
    if not single:
        table.meta = replace(table.meta, extra={"files": len(files)})
    return table


def source_from_object(obj: Any, where: str, source: str, sha256: str | None, fmt: str = "callable") -> Source:
    """What a port returned for one dataset: a polars or pandas DataFrame (in memory), or a polars LazyFrame, which
    stays out of memory: its plan runs once, now, on polars' streaming engine into a spill file in the temp folder
    (while the port's working directory and modules are still in place: a plan may scan relative paths or call the
    port's functions), and the source scans that file.  The file is removed when the source is dropped."""
    if not isinstance(obj, pl.LazyFrame):
        return table_from_frame(to_polars(obj, where), source, sha256, fmt)
    columns, strings = _schema_columns(obj.collect_schema(), where)
    folder = cache.new_held_folder(Path(tempfile.gettempdir()), cache.PRIVATE_LAZY)
    spill = folder / "frame.parquet"
    try:
        obj.with_columns(pl.col(c).cast(pl.String) for c in strings).sink_parquet(spill)
        rows = int(pl.scan_parquet(spill).select(pl.len()).collect().item())
    except BaseException:
        cache.release(folder)
        raise
    meta = SourceMeta(source=source, sha256=sha256, rows=rows, columns=len(columns), format=fmt)
    lazy = LazySource(columns, meta, lambda: pl.scan_parquet(spill), where=spill)
    weakref.finalize(lazy, cache.release, folder)
    return lazy
