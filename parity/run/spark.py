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
        py = _spark_read(spark, ds.python, where)
        if py is None:  # a csv, arrow or SAS file, or parquet of types Spark reads otherwise: read on the driver
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
        from parity.spark.quality import evaluate_spark

        progress(f"{job.name}/{ds.name}: checking the contract and DQ rules on Spark")
        rules = evaluate_spark(ds, job.spec_file, sas, py)  # names and rules checked before any comparison
    progress(f"{job.name}/{ds.name}: comparing {sas.meta.rows:,} x {py.meta.rows:,} rows on Spark")
    return compare_spark(ds, sas, py, job, spark=spark), rules


def _spark_read(spark: Any, location: Any, where: str) -> Any:
    """A parquet file, glob or folder output read by Spark (:func:`parity.spark.sources.parquet_side`), or None
    for an input the driver reads (another kind, or parquet with a type Spark reads otherwise)."""
    from parity.sources.registry import opener_for
    from parity.spark.sources import NotSparkReadable, parquet_side

    opener, target = opener_for(location)
    if opener.name != "parquet":
        return None
    try:
        return parquet_side(spark, target, where)
    except NotSparkReadable:
        return None
