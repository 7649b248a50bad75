"""The Spark sides: the SAS DataSource (row ranges read on the executors), parquet and Delta outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.errors import InputError
from parity.sources.base import tag_column
from parity.sources.sas import read_sas
from tests.spark_support import spark_fixture  # noqa: F401  (the session fixture)

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def _sas_files() -> list[Path]:
    files = sorted((ROOT / "fixtures").glob("*/*.sas7bdat"))
    missing = CORPUS / "pyreadstat/test_data/missing_data/missing_test.sas7bdat"
    xpt = CORPUS / "phuse-scripts/data/adam/TDF_ADaM_v1.0/adsl.xpt"  # XPORT: the header has no row count
    return files + [p for p in (missing, xpt) if p.is_file()]


@pytest.mark.parametrize("path", _sas_files(), ids=lambda p: p.name)
def test_sas_file_read_on_executors_in_row_ranges_equals_the_reference_reader(spark: Any, path: Path) -> None:
    from parity.spark.datasource import ROW
    from parity.spark.sources import sas_side

    reference = read_sas(path)
    side = sas_side(spark, path, rows_per_partition=7)
    df = side.sdf
    assert df.rdd.getNumPartitions() == max(1, -(-reference.meta.rows // 7))
    got = pl.from_arrow(df.orderBy(ROW).toArrow())
    assert isinstance(got, pl.DataFrame)
    assert got.get_column(ROW).to_list() == list(range(reference.meta.rows))
    for info in reference.columns:
        assert got.get_column(info.name).to_list() == reference.frame.get_column(info.name).to_list(), info.name
    assert side.tagged == set(reference.tags)
    for name, tags in reference.tags.items():
        assert got.get_column(tag_column(name)).to_list() == tags.to_list()
    assert [c.to_dict() for c in side.columns] == [c.to_dict() for c in reference.columns]
    readers = ("reader", "reader_note")  # which reader read it: pyreadstat in row ranges here
    assert {k: v for k, v in side.meta.to_dict().items() if k not in readers} == {
        k: v for k, v in reference.meta.to_dict().items() if k not in readers}
    assert side.meta.extra["reader"] == "pyreadstat"


def _write_delta(root: Path, frames: list[pl.DataFrame], removed: int | None = None) -> None:
    """A Delta table written by hand, as the protocol defines it: one JSON commit per frame (an add each), and
    optionally a last commit that removes the file of commit ``removed``."""
    log = root / "_delta_log"
    log.mkdir(parents=True)
    schema = {"type": "struct", "fields": [
        {"name": "id", "type": "long", "nullable": True, "metadata": {}},
        {"name": "amount", "type": "double", "nullable": True, "metadata": {}},
        {"name": "name", "type": "string", "nullable": True, "metadata": {}}]}
    for version, frame in enumerate(frames):
        part = f"part-{version:05d}.snappy.parquet"
        frame.write_parquet(root / part)
        actions: list[dict[str, Any]] = []
        if version == 0:
            actions += [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
                        {"metaData": {"id": "t", "format": {"provider": "parquet", "options": {}},
                                      "schemaString": json.dumps(schema), "partitionColumns": [],
                                      "configuration": {}, "createdTime": 0}}]
        actions.append({"add": {"path": part, "partitionValues": {}, "size": 1, "modificationTime": 0,
                                "dataChange": True}})
        (log / f"{version:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    if removed is not None:
        action = {"remove": {"path": f"part-{removed:05d}.snappy.parquet", "deletionTimestamp": 0,
                             "dataChange": True}}
        (log / f"{len(frames):020d}.json").write_text(json.dumps(action) + "\n")


def test_delta_and_parquet_outputs_read_the_current_version(spark: Any, tmp_path: Path) -> None:
    from parity.sources.lake import read_lake
    from parity.spark.sources import spark_output

    a = pl.DataFrame({"id": [1, 2], "amount": [1.5, 2.5], "name": ["a", "b"]})
    b = pl.DataFrame({"id": [3], "amount": [3.5], "name": ["c"]})
    c = pl.DataFrame({"id": [4], "amount": [None], "name": ["d"]}, schema=a.schema)
    _write_delta(tmp_path / "t", [a, b, c], removed=1)  # the second commit's rows were removed since
    side = spark_output(spark, "delta:t", tmp_path, "dataset 'x'")
    rows = sorted(tuple(r[:3]) for r in side.sdf.collect())
    assert rows == [(1, 1.5, "a"), (2, 2.5, "b"), (4, None, "d")]
    assert side.meta.rows == 3 and side.meta.format == "delta"
    assert sorted(read_lake("delta:t", tmp_path, "x").frame.rows()) == rows
    (tmp_path / "p").mkdir()
    a.write_parquet(tmp_path / "p" / "one.parquet")
    b.write_parquet(tmp_path / "p" / "two.parquet")
    side = spark_output(spark, "parquet:p", tmp_path, "dataset 'x'")
    assert sorted(tuple(r[:3]) for r in side.sdf.collect()) == [(1, 1.5, "a"), (2, 2.5, "b"), (3, 3.5, "c")]
    assert sorted(read_lake("parquet:p", tmp_path, "x").frame.rows()) == [(1, 1.5, "a"), (2, 2.5, "b"),
                                                                         (3, 3.5, "c")]
    with pytest.raises(InputError, match="not a Delta table"):
        spark_output(spark, "delta:p", tmp_path, "dataset 'x'")
    with pytest.raises(InputError, match=r"no catalog table 'nodb\.nothing'"):
        spark_output(spark, "table:nodb.nothing", tmp_path, "dataset 'x'")


def test_a_catalog_table_is_a_python_side(spark: Any) -> None:
    from parity.spark.sources import spark_output

    spark.createDataFrame([(1, "x"), (2, "y")], "id long, name string").createOrReplaceTempView("parity_t")
    side = spark_output(spark, "table:parity_t", Path("."), "dataset 'x'")
    assert side.meta.rows == 2 and side.meta.source == "table:parity_t"
    assert [c.kind for c in side.columns] == ["numeric", "string"]
