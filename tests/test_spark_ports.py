"""A PySpark port being checked (docs/spark.md): a job callable returning Spark DataFrames, a parquet folder and a
Delta table as Python sides; the same facts on both engines, and real differences found."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.testing.sas7bdat_writer import Column, sas_date, sas_datetime, write_sas7bdat
from tests.spark_support import spark_fixture  # noqa: F401  (the session fixture)
from tests.test_spark_engine import assert_same_on_both_engines

pytestmark = pytest.mark.spark

PORT = '''
from pyspark.sql import SparkSession, functions as F

def run(rows: str):
    spark = SparkSession.builder.getOrCreate()
    lines = spark.read.option("header", True).csv(rows, inferSchema=True)
    claims = (lines.withColumn("paid", F.round(F.col("allowed") - F.col("share"), 2))
                   .withColumn("service_date", F.to_date("service_date"))
                   .withColumn("posted", F.to_timestamp("posted"))
                   .withColumn("status", F.when(F.col("status") == "D", F.lit("  ")).otherwise(F.col("status")))
                   .orderBy("claim_id"))
    summary = claims.groupBy("member").agg(F.sum("paid").alias("total")).orderBy("member")
    return {"claims": claims, "summary": summary}
'''


def _job(root: Path) -> Path:
    folder = root / "pyspark_job"
    (folder / "input").mkdir(parents=True)
    rows = [(1, "M1", 100.0, 20.0, "2024-01-05", "2024-01-06 08:30:00", "P"),
            (2, "M1", 50.5, 0.25, "2024-01-07", "2024-01-08 09:00:00.250000", "D"),
            (3, "M2", 10.0, 1.0, "1959-12-31", "1960-01-01 00:00:00", "P"),
            (4, "M3", 7.125, 0.0, "2024-02-29", "2024-03-01 23:59:59.999999", "P")]
    (folder / "input" / "rows.csv").write_text(
        "claim_id,member,allowed,share,service_date,posted,status\n"
        + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    (folder / "port.py").write_text(PORT)
    sas_dates = [sas_date(dt.date.fromisoformat(r[4])) for r in rows]
    posted = [sas_datetime(dt.datetime.fromisoformat(r[5])) for r in rows]
    write_sas7bdat(folder / "claims.sas7bdat", [
        Column("claim_id", "numeric", [1.0, 2.0, 3.0, 4.0]),
        Column("member", "string", ["M1", "M1", "M2", "M3"]),
        Column("allowed", "numeric", [100.0, 50.5, 10.0, 7.125]),
        Column("share", "numeric", [20.0, 0.25, 1.0, 0.0]),
        Column("service_date", "numeric", sas_dates, format="DATE9"),
        Column("posted", "numeric", posted, format="DATETIME26.6"),
        Column("status", "string", ["P", "", "P", "P"]),
        Column("paid", "numeric", [80.0, 50.25, 9.5, 7.13]),  # claim 3: the port computes 9.0
    ], table_name="CLAIMS")
    write_sas7bdat(folder / "summary.sas7bdat", [
        Column("member", "string", ["M1", "M2", "M3"]),
        Column("total", "numeric", [130.25, 9.0, 7.13]),
    ], table_name="SUMMARY")
    (folder / "parity.toml").write_text(
        '[job]\npython = "port:run"\nparams = { rows = "input/rows.csv" }\n\n'
        '[datasets.claims]\nsas = "claims.sas7bdat"\nkeys = ["claim_id"]\nsort_by = ["claim_id"]\n\n'
        '[datasets.summary]\nsas = "summary.sas7bdat"\nkeys = ["member"]\n'
        'tolerance.default = { method = "absolute", criterion = 0.001 }\n')
    return folder


def test_a_pyspark_port_returning_spark_dataframes(spark: Any, tmp_path: Path) -> None:
    result = assert_same_on_both_engines(_job(tmp_path))
    claims, summary = result.datasets
    columns = {c.name: c for c in claims.columns}
    assert columns["paid"].mismatches == 1 and columns["paid"].max_abs_diff == 0.5
    assert columns["service_date"].mismatches == 0 and columns["posted"].mismatches == 0
    assert columns["status"].mismatches == 0  # blank is missing on both sides
    assert claims.verdict == "fail" and summary.verdict == "pass"
    assert claims.python["source"].endswith("-> claims") and claims.python["format"] == "spark"


def test_parquet_and_delta_outputs_on_both_engines(spark: Any, tmp_path: Path) -> None:
    folder = _job(tmp_path)
    frame = pl.DataFrame({"member": ["M1", "M2", "M3"], "total": [130.25, 9.0, 7.12]})
    (folder / "lake" / "summary").mkdir(parents=True)
    frame.write_parquet(folder / "lake" / "summary" / "part-0.parquet")
    delta = folder / "lake" / "summary_delta"
    (delta / "_delta_log").mkdir(parents=True)
    frame.write_parquet(delta / "part-0.parquet")
    schema = {"type": "struct", "fields": [{"name": "member", "type": "string", "nullable": True, "metadata": {}},
                                           {"name": "total", "type": "double", "nullable": True, "metadata": {}}]}
    actions = [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
               {"metaData": {"id": "s", "format": {"provider": "parquet", "options": {}},
                             "schemaString": json.dumps(schema), "partitionColumns": [], "configuration": {}}},
               {"add": {"path": "part-0.parquet", "partitionValues": {}, "size": 1, "modificationTime": 0,
                        "dataChange": True}}]
    (delta / "_delta_log" / f"{0:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    (folder / "parity.toml").write_text(
        '[datasets.from_parquet]\nsas = "summary.sas7bdat"\npython = "parquet:lake/summary"\nkeys = ["member"]\n\n'
        '[datasets.from_delta]\nsas = "summary.sas7bdat"\npython = "delta:lake/summary_delta"\nkeys = ["member"]\n')
    result = assert_same_on_both_engines(folder)
    for ds in result.datasets:
        assert {c.name: c.mismatches for c in ds.columns if c.status == "compared"} == {"total": 1}
        assert ds.rows["matched"] == 3


def test_a_parquet_lake_output_of_files_in_several_schemas_agrees_on_both_engines(spark: Any, tmp_path: Path) -> None:
    """``parquet:<folder>`` whose files differ in type (Int32 and Int64, Int and Float64: the polars engine reads
    them in one schema) is read on the driver by the Spark engine as the polars engine reads it, with the same
    provenance (the files' digest and count)."""
    folder = _job(tmp_path)
    lake = folder / "lake" / "summary"
    lake.mkdir(parents=True)
    pl.DataFrame({"member": ["M1"], "total": [130]}, schema={"member": pl.String, "total": pl.Int32}).write_parquet(
        lake / "part-0.parquet")
    pl.DataFrame({"member": ["M2", "M3"], "total": [9.0, 7.12]}).write_parquet(lake / "part-1.parquet")
    (folder / "parity.toml").write_text(
        '[datasets.summary]\nsas = "summary.sas7bdat"\npython = "parquet:lake/summary"\nkeys = ["member"]\n')
    result = assert_same_on_both_engines(folder)
    (ds,) = result.datasets
    assert ds.rows["matched"] == 3
    assert {c.name: c.mismatches for c in ds.columns if c.status == "compared"} == {"total": 2}  # 130.25, 7.13
    assert ds.python["sha256"] and ds.python["files"] == 2
