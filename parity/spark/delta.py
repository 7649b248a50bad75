"""``python = "delta:<path>"``: a Delta table as the Python side.

With the session's own Delta support (Databricks; a session configured with delta-spark) the table is read by it.
Without it, parity reads the table's transaction log itself: the last checkpoint, then each later JSON commit, gives
the data files of the current version (``add`` actions not ``remove``\\ d since), which Spark reads as parquet.  A
table that needs more than that to be read right (deletion vectors, column mapping) is an error that says to
configure Delta in the session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from parity.errors import InputError
from parity.sources.lake import active_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

def has_delta(spark: SparkSession) -> bool:
    """Whether the session can read Delta tables itself."""
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    catalog = spark.conf.get("spark.sql.catalog.spark_catalog", "") or ""
    return "delta" in extensions.lower() or "delta" in catalog.lower() or _on_databricks(spark)


def _on_databricks(spark: SparkSession) -> bool:
    return bool(spark.conf.get("spark.databricks.clusterUsageTags.clusterId", "") or "")


def read_delta(spark: SparkSession, location: str, where: str) -> DataFrame:
    if has_delta(spark):
        try:
            return spark.read.format("delta").load(location)
        except Exception as exc:
            raise InputError(f"{where}: cannot read Delta table {location} ({str(exc).strip().splitlines()[0]})"
                             ) from None
    files, schema, partitions = active_files(Path(location), where)
    from pyspark.sql import types as T

    struct = T.StructType.fromJson(json.loads(schema))
    if not files:
        return spark.createDataFrame([], struct)
    reader = spark.read.option("basePath", location) if partitions else spark.read
    df = reader.parquet(*files)
    return df.select(*[df[f.name].cast(f.dataType).alias(f.name) for f in struct.fields])
