"""Python outputs: polars or pandas frames, parquet/arrow/csv files."""

from __future__ import annotations

import tempfile
import weakref
from collections.abc import Callable, Mapping
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


def _lazy_file_source(location: str, fmt: str, scan: Callable[[list[Path], bool], pl.LazyFrame]) -> LazySource:
    """A parquet or arrow file, glob or folder, scanned lazily: its schema and exact row count from the files'
    metadata, its rows when scanned.  ``scan(files, hive)`` scans the files (``hive``: a folder, whose
    ``name=value`` sub-folders are columns)."""
    path = Path(location)
    root, files = _files_of(location, fmt)
    hive = path.is_dir()
    single = len(files) == 1 and not hive and not is_glob(location)
    # hashed for the report when it is written (one file: prefetched meanwhile, on a core the comparison leaves
    # idle), each file unchanged since it is opened here (before its metadata is read), or the report's digest
    # would be of other bytes
    later = deferred_sha256(files[0]) if single else deferred_sha256(path, lambda: sha256_files(files, root),
                                                                      files=files)
    try:
        plan = scan(files, hive)
        schema = plan.collect_schema()
        rows = int(plan.select(pl.len()).collect().item())
    except Exception as exc:
        raise _reader_failure(files[0] if len(files) == 1 else path, exc, what=f"{fmt} file") from None
    columns, strings = _schema_columns(schema, location)
    meta = SourceMeta(source=location, sha256=None, rows=rows, columns=len(columns), format=fmt,
                      extra={} if single else {"files": len(files)}, sha256_later=later)

    def scanner() -> pl.LazyFrame:
        lazy = scan(files, hive)
        return lazy.with_columns(pl.col(c).cast(pl.String) for c in strings) if strings else lazy

    return LazySource(columns, meta, scanner, where=files[0] if single else path)


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
    return root, files


def _hidden(path: Path, root: Path) -> bool:
    """Spark's _SUCCESS/_committed files and .crc files are not data."""
    return any(part.startswith((".", "_")) and "=" not in part for part in path.relative_to(root).parts)


def is_parquet_folder(path: Path) -> bool:
    return any(not _hidden(p, path) for p in path.rglob("*.parquet"))


def open_parquet(location: str, options: OpenOptions) -> LazySource:
    """A parquet file, a glob of them, or a folder (a hive-partitioned dataset: ``year=2024/`` folders become
    columns)."""
    return _lazy_file_source(location, "parquet", lambda files, hive: pl.scan_parquet(
        files, glob=False, hive_partitioning=hive or None))


def open_ipc(location: str, options: OpenOptions) -> LazySource:
    """An Arrow IPC (feather v2) file, a glob or a folder of them."""
    fmt = Path(location).suffix.lower().lstrip(".") or "arrow"
    return _lazy_file_source(location, fmt, lambda files, hive: pl.scan_ipc(
        files, glob=False, memory_map=False, hive_partitioning=hive or None))


def source_from_object(obj: Any, where: str, source: str, sha256: str | None, fmt: str = "callable") -> Source:
    """What a port returned for one dataset: a polars or pandas DataFrame (in memory), or a polars LazyFrame, which
    stays out of memory: its plan runs once, now, on polars' streaming engine into a spill file in the temp folder
    (while the port's working directory and modules are still in place: a plan may scan relative paths or call the
    port's functions), and the source scans that file.  The file is removed when the source is dropped."""
    if not isinstance(obj, pl.LazyFrame):
        return table_from_frame(to_polars(obj, where), source, sha256, fmt)
    columns, strings = _schema_columns(obj.collect_schema(), where)
    folder = cache.new_held_folder(Path(tempfile.gettempdir()), "parity-lazy-")
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
