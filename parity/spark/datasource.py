"""The SAS side read on the executors: a Spark Python DataSource whose partitions are row ranges of the SAS file.

The driver reads only the file's metadata (pyreadstat ``metadataonly``): column names, types, formats, lengths,
labels, encoding and the row count.  Each partition is a range of rows that one executor task reads with
pyreadstat's ``row_offset``/``row_limit`` and yields as Arrow record batches: raw SAS numbers as doubles, character
values as strings, and for every numeric column its special missing tag (``'A'``-``'Z'``, ``'_'``, else null) in a
:func:`parity.sources.base.tag_column` companion.  No row of the file passes through the driver.

The file must be readable at the same path by every executor (a local path in local mode, a shared mount or DBFS
path on a cluster), and parity must be installed where the executors run Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.errors import InputError
from parity.sources.base import NO_VARIABLES, ColumnInfo, SourceMeta, _reader_failure, sha256_file, tag_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

NAME = "parity_sas"
#: the column holding each row's position in the file (0-based)
ROW = "\x1frow"
#: rows one partition reads, unless the session's parallelism asks for smaller ones
DEFAULT_PARTITION_ROWS = 250_000
MIN_PARTITION_ROWS = 10_000


@dataclass(frozen=True)
class SasLayout:
    """What the driver knows of a SAS file from its metadata alone."""

    path: Path
    format: str  # "sas7bdat" / "xport"
    columns: list[ColumnInfo]
    rows: int
    encoding: str | None
    label: str | None
    extra: Mapping[str, Any]
    #: the encoding the reader is told to use (the dataset's ``encoding`` override), else the file's own
    read_encoding: str | None = None


def read_layout(path: Path, encoding: str | None = None, formats: Mapping[str, str] | None = None) -> SasLayout:
    """The columns (kinds from their formats, ``formats`` overriding), row count and provenance of a SAS file."""
    import pyreadstat

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".sas7bdat":
            _, meta = pyreadstat.read_sas7bdat(str(path), metadataonly=True, encoding=encoding)
            file_format = "sas7bdat"
        elif suffix == ".xpt":
            _, meta = pyreadstat.read_xport(str(path), metadataonly=True, encoding=encoding)
            file_format = "xport"
        else:
            raise InputError(f"{path}: not a SAS output (expected .sas7bdat or .xpt)")
    except InputError:
        raise
    except Exception as exc:
        raise _reader_failure(path, exc) from None
    if not meta.column_names:
        raise InputError(f"{path}: {NO_VARIABLES}")
    from parity.sources.sas import column_info, format_overrides, provenance

    overrides = format_overrides(path, meta, formats)
    columns = [column_info(meta, name, overrides) for name in meta.column_names]
    rows = meta.number_rows
    if file_format == "xport" or rows is None or rows < 0:  # XPORT headers do not say: count (no values kept)
        rows = _count_rows(path, file_format, encoding, meta.column_names[0])
    extra = provenance(path, meta, {"reader": "pyreadstat", "reader_note": "row ranges read by Spark executors"})
    return SasLayout(path, file_format, columns, int(rows), meta.file_encoding or encoding, meta.file_label or None,
                     extra, encoding)


def _count_rows(path: Path, file_format: str, encoding: str | None, column: str) -> int:
    """The rows of a file whose header does not say (XPORT), from one column read on the driver."""
    import pyreadstat

    reader = pyreadstat.read_xport if file_format == "xport" else pyreadstat.read_sas7bdat
    frame, _ = reader(str(path), encoding=encoding, usecols=[column], output_format="dict")
    return len(next(iter(frame.values()), []))


def layout_meta(layout: SasLayout) -> SourceMeta:
    return SourceMeta(source=str(layout.path), sha256=sha256_file(layout.path), rows=layout.rows,
                      columns=len(layout.columns), format=layout.format, label=layout.label,
                      encoding=layout.encoding, extra=dict(layout.extra))


def read_rows(path: str, file_format: str, encoding: str | None, columns: list[tuple[str, str]], start: int,
              count: int) -> Any:
    """Rows ``[start, start + count)`` of a SAS file as one pyarrow RecordBatch in the DataSource's schema:
    numerics as doubles with their special missing tags apart, strings, and the row positions."""
    import polars as pl
    import pyarrow as pa
    import pyreadstat

    from parity.sources.sas import _split_special

    options: dict[str, Any] = {"disable_datetime_conversion": True, "output_format": "polars",
                               "encoding": encoding, "row_offset": start, "row_limit": count}
    if file_format == "xport":
        from pyreadstat._readstat_parser import parser_entry_point

        raw, _ = parser_entry_point(path, "xport", user_missing=True, **options)
    else:
        raw, _ = pyreadstat.read_sas7bdat(path, user_missing=True, formats_as_category=False, **options)
    n = raw.height
    out: list[pl.Series] = []
    for name, ctype in columns:
        series = raw.get_column(name) if name in raw.columns else pl.Series(name, [None] * n)
        if ctype == "character":
            out.append(series.cast(pl.String))
            continue
        numbers, tags = _split_special(series)
        out.append(numbers)
        out.append((tags if tags is not None else pl.Series([None] * n, dtype=pl.String)).alias(tag_column(name)))
    out.append(pl.Series(ROW, range(start, start + n), dtype=pl.Int64))
    arrays = [s.to_arrow(compat_level=pl.CompatLevel.oldest()) for s in out]  # string, not large/view strings
    arrays = [a.cast(pa.string()) if pa.types.is_large_string(a.type) else a for a in arrays]
    return pa.RecordBatch.from_arrays(arrays, names=[s.name for s in out])


def schema_ddl(columns: list[ColumnInfo]) -> Any:
    from pyspark.sql import types as T

    fields = []
    for info in columns:
        if info.type == "character":
            fields.append(T.StructField(info.name, T.StringType()))
        else:
            fields.append(T.StructField(info.name, T.DoubleType()))
            fields.append(T.StructField(tag_column(info.name), T.StringType()))
    fields.append(T.StructField(ROW, T.LongType()))
    return T.StructType(fields)


_REGISTERED: set[int] = set()


def _register(spark: SparkSession) -> None:
    from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

    class RowRange(InputPartition):  # type: ignore[misc,unused-ignore]
        def __init__(self, start: int, count: int) -> None:
            super().__init__((start, count))
            self.start, self.count = start, count

    class SasReader(DataSourceReader):  # type: ignore[misc,unused-ignore]
        def __init__(self, options: Mapping[str, str]) -> None:
            self.path = options["path"]
            self.format = options["format"]
            self.encoding = options.get("encoding") or None
            self.columns = [tuple(c) for c in json.loads(options["columns"])]
            self.rows = int(options["rows"])
            self.chunk = int(options["partition_rows"])

        def partitions(self) -> list[Any]:
            if self.rows == 0:
                return [RowRange(0, 0)]
            return [RowRange(start, min(self.chunk, self.rows - start)) for start in range(0, self.rows, self.chunk)]

        def read(self, partition: Any) -> Iterator[Any]:
            if partition.count:
                yield read_rows(self.path, self.format, self.encoding, self.columns, partition.start,
                                partition.count)

    class SasDataSource(DataSource):  # type: ignore[misc,unused-ignore]
        @classmethod
        def name(cls) -> str:
            return NAME

        def schema(self) -> Any:
            from pyspark.sql.types import StructType

            return StructType.fromJson(json.loads(self.options["schema"]))

        def reader(self, schema: Any) -> Any:
            return SasReader(self.options)

    spark.dataSource.register(SasDataSource)


def partition_rows(spark: SparkSession, rows: int, asked: int | None = None) -> int:
    """Rows per partition: ``asked``, else enough partitions for every core twice over, within bounds."""
    if asked:
        return max(1, asked)
    cores = max(1, int(spark.sparkContext.defaultParallelism))
    return max(MIN_PARTITION_ROWS, min(DEFAULT_PARTITION_ROWS, -(-rows // (2 * cores))))


def read_sas_spark(spark: SparkSession, layout: SasLayout, rows_per_partition: int | None = None) -> DataFrame:
    """The SAS file as a Spark DataFrame read by the executors (see the module docstring)."""
    key = id(spark)
    if key not in _REGISTERED:
        _register(spark)
        _REGISTERED.add(key)
    schema = schema_ddl(layout.columns)
    columns = [[c.name, c.type] for c in layout.columns]
    return (spark.read.format(NAME).schema(schema)
            .option("path", str(layout.path.resolve())).option("format", layout.format)
            .option("encoding", layout.read_encoding or "")
            .option("columns", json.dumps(columns)).option("rows", str(layout.rows))
            .option("partition_rows", str(partition_rows(spark, layout.rows, rows_per_partition)))
            .option("schema", schema.json()).load())
