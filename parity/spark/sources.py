"""Both sides of a comparison as Spark DataFrames.

* the SAS file: :mod:`parity.spark.datasource` (read on the executors);
* a Spark-side Python output: a Spark DataFrame a job returns, ``python = "delta:<path>"``,
  ``"parquet:<path>"`` (a file or a folder) or ``table = "db.table"`` (a catalog table);
* any other Python output (a polars or pandas frame, a parquet/csv/arrow file, a SAS file): read as on the polars
  engine, then handed to Spark through Arrow.  Its column plan and conversions are computed from that frame exactly
  as on the polars engine.

Each side is a :class:`SparkSide`: the DataFrame with the columns under their own names, a
:func:`parity.sources.base.tag_column` companion for numeric columns with special missing values, and
:data:`ROW`, each row's 0-based position in the output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from parity.errors import InputError
from parity.formats import Kind
from parity.sources.base import ColumnInfo, SourceMeta, Table, tag_column
from parity.spark.datasource import ROW, layout_meta, read_layout, read_sas_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

#: the prefixes that name a Spark-side output in ``python =``
SPARK_PREFIXES = ("delta:", "parquet:", "table:")


@dataclass
class SparkSide:
    """One side of a comparison in Spark (see the module docstring)."""

    #: None for a side still on the driver (``table``) until :func:`to_spark` hands it over
    df: DataFrame | None
    columns: list[ColumnInfo]
    meta: SourceMeta
    #: each column's type as polars names it (the column plan and the report's python_type)
    dtypes: dict[str, pl.DataType]
    #: numeric columns that hold special missing values (their tag companion is in ``df``)
    tagged: set[str] = field(default_factory=set)
    #: the in-memory frame the side came from, when it came from the driver
    table: Table | None = None
    #: the DataFrame cached on the executors for the comparison's passes (released after it)
    cached: Any = None

    @property
    def sdf(self) -> DataFrame:
        """The Spark DataFrame (once the side is in Spark)."""
        assert self.df is not None, "the side is still on the driver: hand it over with to_spark()"
        return self.df

    @property
    def rows(self) -> int:
        return self.meta.rows

    def scan(self) -> pl.LazyFrame:
        """The Source protocol: the frame itself for a side on the driver; else no rows, only the columns' types
        (with the tag columns), which is all column planning reads of a Spark side."""
        if self.table is not None:
            return self.table.scan()
        schema = dict(self.dtypes)
        schema.update({tag_column(n): pl.String() for n in self.tagged})
        return pl.LazyFrame(schema=schema)


def sas_side(spark: SparkSession, path: Path, encoding: str | None = None,
             formats: dict[str, str] | None = None, rows_per_partition: int | None = None) -> SparkSide:
    """The SAS file, read on the executors; which columns hold special missing values is one aggregation."""
    from pyspark.sql import functions as F

    from parity.sources.base import SPECIAL_TAGS

    layout = read_layout(path, encoding, formats)
    cached = read_sas_spark(spark, layout, rows_per_partition).persist()  # every pass reads the file once
    df = cached
    numeric = [c for c in layout.columns if c.type == "numeric"]
    found: dict[str, list[str]] = {}
    if numeric and layout.rows:
        aggs = [F.collect_set(F.col("`" + tag_column(c.name).replace("`", "``") + "`")).alias(str(i))
                for i, c in enumerate(numeric)]
        row = df.agg(*aggs).collect()[0]
        for i, info in enumerate(numeric):
            tags = sorted(row[str(i)] or [])
            bad = set(tags) - SPECIAL_TAGS
            if bad:
                raise InputError(f"{path}: column {info.name!r} holds non-numeric values {sorted(bad)[:3]}")
            if tags:
                found[info.name] = tags
    from dataclasses import replace

    columns = [replace(c, special_missing=tuple(found[c.name])) if c.name in found else c for c in layout.columns]
    keep = [c.name for c in columns] + [tag_column(n) for n in found] + [ROW]
    df = df.select(*[_col(n) for n in keep])
    dtypes: dict[str, pl.DataType] = {c.name: (pl.String() if c.type == "character" else pl.Float64())
                                      for c in columns}
    return SparkSide(df, columns, layout_meta(layout), dtypes, set(found), cached=cached)


def _col(name: str) -> Any:
    from parity.spark.normalize import col

    return col(name)


# --------------------------------------------------------------------------------------------------------------
# Python outputs


def python_kind(dtype: pl.DataType) -> Kind:
    from parity.sources.frames import _python_kind

    return _python_kind(dtype)


def polars_dtype(dtype: DataType, time_zone: str) -> pl.DataType:
    """A Spark type as polars names it (how the report shows the Python column's type)."""
    from pyspark.sql import types as T

    simple: list[tuple[type, pl.DataType]] = [
        (T.ByteType, pl.Int8()), (T.ShortType, pl.Int16()), (T.IntegerType, pl.Int32()), (T.LongType, pl.Int64()),
        (T.FloatType, pl.Float32()), (T.DoubleType, pl.Float64()), (T.BooleanType, pl.Boolean()),
        (T.StringType, pl.String()), (T.CharType, pl.String()), (T.VarcharType, pl.String()),
        (T.DateType, pl.Date()), (T.TimestampNTZType, pl.Datetime("us")), (T.NullType, pl.Null()),
        (T.BinaryType, pl.Binary()), (T.DayTimeIntervalType, pl.Duration("us")),
    ]
    for spark_type, polars_type in simple:
        if isinstance(dtype, spark_type):
            return polars_type
    if isinstance(dtype, T.TimestampType):
        return pl.Datetime("us", time_zone)
    if isinstance(dtype, T.DecimalType):
        return pl.Decimal(dtype.precision, dtype.scale)
    return pl.Object()


def dataframe_side(spark: SparkSession, df: DataFrame, source: str, fmt: str, where: str,
                   stable: bool = False) -> SparkSide:
    """A Spark DataFrame as the Python side.  Unless its row order is ``stable`` (a file or table read), it is
    checkpointed on the executors first, so that every pass sees the same rows in the same order."""
    from pyspark.sql import types as T

    names = df.columns
    folded: dict[str, str] = {}
    for name in names:
        other = folded.setdefault(name.casefold(), name)
        if other != name or names.count(name) > 1:
            raise InputError(f"{where}: the Spark DataFrame has columns {other!r} and {name!r}, which are the same "
                             "name to SAS (names are case-insensitive); rename one in the port")
    bad = [f"{f.name} ({f.dataType.simpleString()})" for f in df.schema.fields
           if isinstance(f.dataType, T.ArrayType | T.MapType | T.StructType | T.BinaryType)]
    if bad:
        raise InputError(f"{where}: column(s) {', '.join(bad[:5])} hold arrays, maps, structs or bytes, which a SAS "
                         "data set cannot hold; make each a number, string, date or timestamp column")
    if not stable:
        df = df.localCheckpoint(eager=True)
    df = with_positions(df)
    rows = df.count()
    tz = spark.conf.get("spark.sql.session.timeZone") or "UTC"
    dtypes = {f.name: polars_dtype(f.dataType, tz) for f in df.schema.fields if f.name != ROW}
    columns = [ColumnInfo(name, str(dtypes[name]), python_kind(dtypes[name])) for name in names]
    meta = SourceMeta(source=source, sha256=None, rows=rows, columns=len(columns), format=fmt)
    return SparkSide(df, columns, meta, dtypes)


def with_positions(df: DataFrame) -> DataFrame:
    """``df`` with :data:`ROW`: each row's 0-based position in partition order, without moving rows: a count
    per partition (a few numbers on the driver) gives each partition's first position."""
    from pyspark.sql import functions as F

    mid = F.monotonically_increasing_id()
    tagged = df.withColumn(ROW, mid)
    part = F.shiftright(F.col(ROW), 33)
    counts = sorted((int(r[0]), int(r[1])) for r in tagged.groupBy(part.alias("p")).count().collect())
    starts, total = [], 0
    for pid, n in counts:
        starts.append((pid, total))
        total += n
    if not starts:
        return tagged
    base = F.lit(0).cast("long")
    for pid, start in starts:  # partitions are few: a CASE over them (no join, no shuffle)
        base = F.when(part == F.lit(pid), F.lit(start).cast("long")).otherwise(base)
    offset = F.col(ROW).bitwiseAND(F.lit((1 << 33) - 1))
    return tagged.withColumn(ROW, base + offset)


def table_python_side(table: Table) -> SparkSide:
    """A side in memory on the driver (a frame a job returned, a file read by polars): planned from its frame as on
    the polars engine, then handed to Spark by :func:`to_spark`."""
    return SparkSide(None, list(table.columns), table.meta, dict(table.frame.schema), set(table.tags), table)


def to_spark(spark: SparkSession, side: SparkSide, kinds: dict[str, Kind]) -> DataFrame:
    """A driver-side table as a Spark DataFrame through Arrow.  Types Spark stores differently (nanoseconds, time
    zones, times of day, durations, unsigned and decimal numbers) are converted to SAS units first, by the polars
    normalisation itself; ``kinds`` is each column's comparison kind from the column plan."""
    from parity.engine.normalize import sas_units

    table = side.table
    assert table is not None
    frame = table.frame
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        c = pl.col(name)
        if dtype == pl.String or dtype in (pl.Float32, pl.Float64, pl.Boolean, pl.Date) or dtype in (
                pl.Int8, pl.Int16, pl.Int32, pl.Int64):
            exprs.append(c)
        elif isinstance(dtype, pl.Categorical | pl.Enum):
            exprs.append(c.cast(pl.String))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is None and dtype.time_unit in ("us", "ms"):
            exprs.append(c.cast(pl.Datetime("us")))
        elif dtype.is_numeric() or dtype.is_temporal() or dtype == pl.Null or isinstance(dtype, pl.Decimal):
            exprs.append(sas_units(c, dtype, kinds.get(name, "numeric")).alias(name))
        else:
            exprs.append(c.cast(pl.String))
    out = frame.select(exprs)
    for name, tags in table.tags.items():
        out = out.with_columns(tags.alias(tag_column(name)))
    out = out.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    return create_dataframe(spark, out)


def create_dataframe(spark: SparkSession, frame: pl.DataFrame) -> DataFrame:
    """A polars frame as a Spark DataFrame through Arrow (naive datetimes as TIMESTAMP_NTZ)."""
    import pyarrow as pa
    from pyspark.sql import types as T

    arrow = frame.to_arrow()
    types: dict[Any, Any] = {pl.String: T.StringType(), pl.Float64: T.DoubleType(), pl.Float32: T.FloatType(),
                             pl.Boolean: T.BooleanType(), pl.Date: T.DateType(), pl.Int8: T.ByteType(),
                             pl.Int16: T.ShortType(), pl.Int32: T.IntegerType()}
    fields = [T.StructField(name, T.TimestampNTZType() if isinstance(dtype, pl.Datetime) else
                            types.get(type(dtype), T.LongType())) for name, dtype in frame.schema.items()]
    arrow = pa.Table.from_batches(arrow.to_batches(), schema=arrow.schema) if arrow.num_rows else arrow
    return spark.createDataFrame(arrow, schema=T.StructType(fields))


def spark_output(spark: SparkSession, ref: str, folder: Path, where: str) -> SparkSide:
    """``delta:<path>``, ``parquet:<path>`` or ``table:<db.table>`` as the Python side."""
    kind, _, target = ref.partition(":")
    if not target:
        raise InputError(f"{where}: {ref!r} names no {kind} {'table' if kind == 'table' else 'path'}")
    if kind == "table":
        try:
            df = spark.table(target)
        except Exception as exc:
            raise InputError(f"{where}: no catalog table {target!r} ({_first_line(exc)}); check the name "
                             "(db.table) and the session's catalog") from None
        return dataframe_side(spark, df, f"table:{target}", "table", where, stable=True)
    path = Path(target)
    if not path.is_absolute() and "://" not in target:
        path = folder / path
    location = str(path) if "://" not in target else target
    if "://" not in target and not path.exists():
        raise InputError(f"{where}: {kind} path {location} does not exist")
    if kind == "parquet":
        if "://" not in target:  # the files in the polars engine's order (Spark packs big files first)
            from parity.sources.base import materialize
            from parity.sources.lake import lake_path, open_lake

            try:
                side = parquet_side(spark, location, where)
            except NotSparkReadable:  # read on the driver as the polars engine reads it (one schema, types)
                return table_python_side(materialize(open_lake(ref, folder, where)))
            # the provenance the polars engine gives (the files' digest and count), under the lake's name
            side.meta = dataclasses.replace(side.meta, source=f"parquet:{lake_path(ref, folder)[1]}")
            return side
        try:
            df = spark.read.parquet(location)
        except Exception as exc:
            raise InputError(f"{where}: cannot read parquet {location} ({_first_line(exc)})") from None
        return dataframe_side(spark, df, f"parquet:{location}", "parquet", where, stable=True)
    from parity.spark.delta import read_delta

    return dataframe_side(spark, read_delta(spark, location, where), f"delta:{location}", "delta", where,
                          stable=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def parquet_side(spark: SparkSession, location: str, where: str) -> SparkSide:
    """A parquet file, glob or folder (``python = "out.parquet"``, ``"out/"``, ``"out/*.parquet"``) read by Spark
    with the polars source's semantics (:func:`parity.sources.frames.open_parquet`): the same files in the same
    order (each row's position is its position there: the files' row counts from their footers, plus Spark's
    row index within the file, so no shuffle and no collect), the same columns and types (hive partition columns
    cast to the type polars infers) and the same provenance.  A file with a type Spark reads otherwise (milli- or
    nanosecond or zoned-elsewhere timestamps, unsigned integers, times, durations) raises :class:`NotSparkReadable`: the
    caller reads it on the driver."""
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from parity.sources.frames import _files_of, open_parquet, read_as_written
    from parity.sources.registry import OpenOptions

    source = open_parquet(location, OpenOptions())  # the footers only: schema, row count, provenance
    if not read_as_written(location):
        raise NotSparkReadable("its files are read in one schema, or with a pandas index, by polars")
    schema = dict(source.scan().collect_schema())
    tz = spark.conf.get("spark.sql.session.timeZone") or "UTC"
    for name, dtype in schema.items():
        if not _spark_holds(dtype, tz):
            raise NotSparkReadable(f"column {name!r} is {dtype}")
    _, files = _files_of(location, "parquet")
    counts = [pq.ParquetFile(f).metadata.num_rows for f in files]
    starts_of, total = {}, 0
    for f, n in zip(files, counts, strict=True):
        starts_of[str(f.resolve())] = total
        total += n
    reader = spark.read
    if Path(location).is_dir():
        reader = reader.option("basePath", str(Path(location).resolve()))
    try:
        df = reader.parquet(*[str(f.resolve()) for f in files])
        df = df.select("*", F.col("_metadata.file_path").alias("\x1ffile"),
                       F.col("_metadata.row_index").alias("\x1findex"))
    except Exception as exc:
        raise InputError(f"{where}: cannot read parquet {location} ({_first_line(exc)})") from None
    # the files as Spark names them (URIs: file:/a%20b/x.parquet), one row per file, matched to the files' paths
    from urllib.parse import unquote, urlparse

    offsets = []
    for (uri,) in df.select(F.col("`\x1ffile`")).distinct().collect():
        start = starts_of.get(str(Path(unquote(urlparse(uri).path)).resolve()))
        if start is None:
            raise NotSparkReadable(f"Spark read a file parity did not list: {uri}")
        offsets.append((uri, start))
    from pyspark.sql import types as T

    starts = spark.createDataFrame(offsets, T.StructType([T.StructField("\x1ffile", T.StringType()),
                                                          T.StructField("\x1fstart", T.LongType())]))
    df = df.join(F.broadcast(starts), on="\x1ffile", how="left")
    position = (F.col("`\x1fstart`") + F.col("`\x1findex`")).alias(ROW)
    spark_names = {n.casefold(): n for n in df.columns}
    cols = []
    for name, dtype in schema.items():
        c = _col(spark_names.get(name.casefold(), name))
        cols.append(c.cast(spark_type(dtype)).alias(name))
    df = df.select(*cols, position)
    columns = list(source.columns)
    dtypes = {name: (polars_dtype(spark_type(dtype), tz)) for name, dtype in schema.items()}
    return SparkSide(df, columns, source.meta, dtypes)


class NotSparkReadable(Exception):
    """A parquet input with a column type Spark would read as something else."""


def _spark_holds(dtype: pl.DataType, tz: str, any_unit: bool = False) -> bool:
    """Spark reads a parquet column of this polars type as the same values and type (``any_unit``: a timestamp of
    any unit, which is cast to microseconds first, as Python datetimes hold them)."""
    if isinstance(dtype, pl.Datetime):
        return (any_unit or dtype.time_unit == "us") and dtype.time_zone in (None, "UTC", tz)
    if isinstance(dtype, pl.Decimal):
        return dtype.precision is not None and dtype.precision <= 38
    return dtype in (pl.String, pl.Float32, pl.Float64, pl.Boolean, pl.Date, pl.Int8, pl.Int16, pl.Int32,
                     pl.Int64, pl.Null) or isinstance(dtype, pl.Categorical | pl.Enum)


def spark_type(dtype: pl.DataType) -> DataType:
    """The Spark type of a polars type :func:`_spark_holds` accepts."""
    from pyspark.sql import types as T

    if isinstance(dtype, pl.Datetime):
        return T.TimestampNTZType() if dtype.time_zone is None else T.TimestampType()
    if isinstance(dtype, pl.Decimal):
        return T.DecimalType(dtype.precision or 38, dtype.scale or 0)
    simple: dict[Any, DataType] = {pl.String: T.StringType(), pl.Float32: T.FloatType(), pl.Float64: T.DoubleType(),
                                   pl.Boolean: T.BooleanType(), pl.Date: T.DateType(), pl.Int8: T.ByteType(),
                                   pl.Int16: T.ShortType(), pl.Int32: T.IntegerType(), pl.Int64: T.LongType(),
                                   pl.Null: T.NullType()}
    return simple.get(type(dtype), T.StringType())


def table_in_spark(spark: SparkSession, side: SparkSide) -> SparkSide | None:
    """A side still on the driver (a frame a port returned, a csv, Arrow or SAS file read by polars) as a Spark
    DataFrame of its own values and types (not the SAS units :func:`to_spark` makes for the comparison), for the
    contract and DQ rules to run in Spark SQL (timestamps in microseconds, as Python datetimes, and so the samples,
    hold them); None when a column has a type Spark would hold otherwise."""
    from pyspark.sql import types as T

    table = side.table
    assert table is not None
    tz = spark.conf.get("spark.sql.session.timeZone") or "UTC"
    schema = dict(table.frame.schema)
    if not all(_spark_holds(dtype, tz, any_unit=True) and dtype != pl.Null for dtype in schema.values()):
        return None
    micros = [pl.col(n).cast(pl.Datetime("us", t.time_zone)) for n, t in schema.items() if isinstance(t, pl.Datetime)]
    frame = table.frame.with_columns(*micros, pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW))
    fields = [T.StructField(name, spark_type(dtype)) for name, dtype in schema.items()]
    arrow = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    df = spark.createDataFrame(arrow, schema=T.StructType([*fields, T.StructField(ROW, T.LongType())]))
    return SparkSide(df, list(side.columns), side.meta, schema, set(side.tagged))
