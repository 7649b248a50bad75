"""The one local SparkSession of a test session (local[2], loopback only, 2 shuffle partitions), and helpers to
run a polars expression and its Spark mirror on the same values."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

SPARK_TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.python.worker.reuse": "true",
}


@pytest.fixture(scope="session", name="spark")
def spark_fixture() -> Iterator[Any]:
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from parity.spark.session import get_session

    session = get_session("local[2]", SPARK_TEST_CONF)
    assert session.conf.get("spark.driver.host") == "127.0.0.1"
    yield session
    session.stop()


def to_spark(spark: Any, frame: pl.DataFrame) -> Any:
    """A polars frame as a Spark DataFrame with an index column ``#i`` (Arrow types as Spark maps them)."""
    return spark.createDataFrame(frame.with_row_index("#i").with_columns(pl.col("#i").cast(pl.Int64)).to_arrow())


def collect(df: Any, *columns: Any) -> list[list[Any]]:
    """The values of ``columns`` (Spark Columns) in ``#i`` order, as Python lists (one per column)."""
    rows = df.select("#i", *[c.alias(f"c{j}") for j, c in enumerate(columns)]).orderBy("#i").collect()
    return [[row[f"c{j}"] for row in rows] for j in range(len(columns))]


def bits(value: Any) -> Any:
    """A value with doubles as their exact bits (so -0.0, NaN and one ulp count)."""
    if isinstance(value, float):  # every NaN is one (polars and the JVM write different NaN payloads)
        return "nan" if value != value else struct.pack("<d", value).hex()
    return value
