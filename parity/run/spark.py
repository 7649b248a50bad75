"""One dataset on the Spark engine: both sides as Spark DataFrames, compared by :mod:`parity.spark.engine`; the
result is built, and failures become ``error`` datasets, exactly as on the polars engine
(:func:`parity.run.runner.compare_dataset`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from parity.errors import InputError
from parity.spec import DatasetSpec, JobSpec

if TYPE_CHECKING:
    from parity.engine.base import EngineResult
    from parity.engine.choice import EngineChoice
    from parity.run.runner import Progress


def compare_on_spark(job: JobSpec, ds: DatasetSpec, python_tables: Mapping[str, Any] | None,
                     python_error: str | None, progress: Progress, engine: EngineChoice,
                     sas_meta: dict[str, Any]) -> tuple[EngineResult, Any]:
    """The dataset's comparison on Spark, and its contract/DQ rule results (None without rules)."""
    import polars as pl

    from parity.run.port import SparkFrame
    from parity.run.runner import port_output
    from parity.sources.base import Table
    from parity.sources.frames import read_python_file
    from parity.spark.engine import compare_spark
    from parity.spark.session import get_session
    from parity.spark.sources import dataframe_side, sas_side, spark_output, table_python_side

    where = f"dataset {ds.name!r}"
    spark = get_session(engine.spark_master, engine.spark_conf)
    if ds.catalog is not None:
        raise InputError(f"{where}: catalog = {ds.catalog.name!r} (value labels) is read by the polars engine "
                         "only; run this job without --engine spark")
    progress(f"{job.name}/{ds.name}: reading {ds.sas.name} on Spark")
    sas = sas_side(spark, ds.sas, ds.encoding, dict(ds.formats))
    sas_meta.update(sas.meta.to_dict())
    if ds.lake is not None:
        progress(f"{job.name}/{ds.name}: reading {ds.lake}")
        py = spark_output(spark, ds.lake, job.folder, where)
    elif ds.python is not None:
        progress(f"{job.name}/{ds.name}: reading {ds.python.name}")
        sas_columns = Table(frame=pl.DataFrame(), columns=sas.columns, meta=sas.meta)
        py = table_python_side(read_python_file(ds.python, sas=sas_columns, rename=ds.rename))
    else:
        out = port_output(job, ds, python_tables, python_error)
        if isinstance(out, SparkFrame):
            py = dataframe_side(spark, out.df, out.source, "spark", out.where)
        else:
            py = table_python_side(out)
    rules = None
    if ds.contract is not None or ds.quality:
        rules = _rules_on_driver(job, ds, py, progress)
    progress(f"{job.name}/{ds.name}: comparing {sas.meta.rows:,} x {py.meta.rows:,} rows on Spark")
    return compare_spark(ds, sas, py, job, spark=spark), rules


def _rules_on_driver(job: JobSpec, ds: DatasetSpec, py: Any, progress: Progress) -> Any:
    """The contract and DQ rules, evaluated by polars (parity.engine.quality) on both sides read on the driver:
    they have no Spark implementation yet, and a declared contract is never skipped."""
    from parity.engine.quality import evaluate_spec
    from parity.run.port import SparkFrame
    from parity.sources.frames import spark_frame_table
    from parity.sources.sas import read_sas
    from parity.spark.datasource import ROW

    progress(f"{job.name}/{ds.name}: checking the contract and DQ rules (on the driver)")
    sas_table = read_sas(ds.sas, encoding=ds.encoding, formats=ds.formats)
    py_table = py.table if py.table is not None else spark_frame_table(
        SparkFrame(py.sdf.drop(ROW), py.meta.source, f"dataset {ds.name!r}"))
    return evaluate_spec(ds, job.spec_file, sas_table, py_table)
