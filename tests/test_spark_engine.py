"""Differential: every example job, the corpus pairs and a generated 1M-row job give identical report facts on the
polars and the Spark engine (verdicts, row counts, duplicates, per-column mismatches and largest differences, every
check's status and summary); in fact the whole JSON report, run-time fields aside, is the same."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from parity.engine.choice import EngineChoice
from parity.model import JobResult
from parity.report.json import dumps, strip_runtime
from parity.run.runner import run_job
from parity.spec import load_job
from tests.helpers import make_job
from tests.spark_support import SPARK_TEST_CONF, spark_fixture  # noqa: F401  (the session fixture)

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"


def spark_engine() -> EngineChoice:
    return EngineChoice("spark", "local[2]", SPARK_TEST_CONF)


def facts(result: JobResult) -> dict[str, Any]:
    """What must be the same on both engines, named so that a difference says where it is."""
    out: dict[str, Any] = {"verdict": result.verdict}
    for ds in result.datasets:
        out[f"{ds.name}.verdict"] = ds.verdict
        out[f"{ds.name}.rows"] = ds.rows
        out[f"{ds.name}.duplicates"] = ds.duplicates
        for check in ds.checks:
            out[f"{ds.name}.check.{check.name}"] = (check.status, check.summary)
        for col in ds.columns:
            out[f"{ds.name}.column.{col.name}"] = (col.status, col.compared, col.mismatches, col.max_abs_diff,
                                                   col.max_rel_diff, col.note)
    return out


def _without_reader(report: dict[str, Any]) -> dict[str, Any]:
    """The report without which reader read each SAS file (the provenance says it: polars-readstat or pyreadstat
    on the polars engine, pyreadstat in row ranges on Spark): the only part of a report that may differ."""
    for ds in report["datasets"]:
        for side in ("sas", "python"):
            for key in ("reader", "reader_note"):
                (ds.get(side) or {}).pop(key, None)
    return report


def assert_same_on_both_engines(folder: Path) -> JobResult:
    job = load_job(folder)
    on_polars = run_job(job)
    on_spark = run_job(job, engine=spark_engine())
    assert facts(on_spark) == facts(on_polars)
    full_polars = _without_reader(strip_runtime(json.loads(dumps(on_polars))))
    full_spark = _without_reader(strip_runtime(json.loads(dumps(on_spark))))
    for ds_p, ds_s in zip(full_polars["datasets"], full_spark["datasets"], strict=True):
        for key in ds_p:
            assert ds_s[key] == ds_p[key], f"{ds_p['name']}.{key}"
    assert full_spark == full_polars
    return on_spark


@pytest.mark.parametrize("job", sorted(p.name for p in FIXTURES.iterdir() if (p / "parity.toml").is_file()))
def test_example_jobs_agree(spark: Any, job: str) -> None:
    result = assert_same_on_both_engines(FIXTURES / job)
    assert result.verdict in ("pass", "fail")
    assert all(ds.verdict != "error" for ds in result.datasets), [ds.checks for ds in result.datasets]


def _sibling_pairs() -> list[tuple[str, str]]:
    table = CORPUS / "SIBLINGS.tsv"
    if not table.is_file():
        return []
    with table.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [(r["first"], r["second"]) for r in rows
            if (CORPUS / r["first"]).is_file() and (CORPUS / r["second"]).is_file()
            and all(Path(r[k]).suffix.lower() in (".sas7bdat", ".xpt") for k in ("first", "second"))]


@pytest.mark.corpus
def test_corpus_pairs_agree(spark: Any, tmp_path: Path) -> None:
    """Each SIBLINGS.tsv pair of SAS files (sas7bdat vs its XPORT export, compressed vs not, ...) compared by
    position on both engines."""
    pairs = _sibling_pairs()
    if not pairs:
        pytest.skip(f"no SAS corpus at {CORPUS}")
    for i, (first, second) in enumerate(pairs):
        folder = make_job(tmp_path, f"pair{i}", f'[datasets.d]\nsas = "{CORPUS / first}"\n'
                          f'python = "{CORPUS / second}"\n')
        assert_same_on_both_engines(folder)


def test_generated_million_row_job_agrees(spark: Any, tmp_path: Path) -> None:
    """benchmarks/end_to_end.py's 1M-row job (a real .sas7bdat against a parquet port output, with injected
    differences): both engines report the same facts, equal to the injected ground truth."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import end_to_end
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    built = end_to_end.build_inputs(tmp_path, 1_000_000, 7, 12, "auto", end_to_end.CHUNK_ROWS, False)
    result = assert_same_on_both_engines(end_to_end.job_folder(tmp_path))
    ds = result.datasets[0]
    truth = built["manifest"]
    assert ds.rows == {"sas": truth["sas_rows"], "python": truth["python_rows"],
                       "matched": truth["expected"]["matched"], "only_in_sas": truth["expected"]["only_sas"],
                       "only_in_python": truth["expected"]["only_py"]}
    assert {c.name.lower(): c.mismatches for c in ds.columns if c.status == "compared"} == truth["expected"]["columns"]
    assert result.verdict == "fail"
