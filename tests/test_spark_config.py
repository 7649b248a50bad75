"""Choosing the Spark engine: --engine spark, [tool.parity] engine and [tool.parity.spark], pytest --parity-engine;
without pyspark, a clear error naming the extra (these tests need no Spark: they run in every suite)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from parity.cli.main import main
from parity.engine.choice import EngineChoice, choose
from parity.errors import SpecError, UsageError
from parity.spec import load_job, load_project_config
from tests.helpers import make_job

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
pytest_plugins = ["pytester"]


@pytest.fixture
def no_pyspark(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyspark not installed: importing it fails, as in an environment without the spark extra."""
    monkeypatch.setitem(sys.modules, "pyspark", None)


def test_engine_spark_without_pyspark_is_a_clear_error_naming_the_extra(
        no_pyspark: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "claims_monthly", "--jobs-dir", str(FIXTURES), "--report-dir", str(tmp_path),
                 "--engine", "spark"])
    err = capsys.readouterr().err
    assert code == 2
    assert 'pip install "parity-sas[spark]"' in " ".join(err.split())
    assert "Traceback" not in err
    assert not (tmp_path / "claims_monthly").exists()  # nothing ran
    with pytest.raises(UsageError, match=r'parity-sas\[spark\]'):
        EngineChoice("spark")


def test_project_config_chooses_the_engine_and_spark_settings(no_pyspark: None, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.parity]\nengine = "spark"\n\n[tool.parity.spark]\nmaster = "local[2]"\n'
        '"spark.sql.shuffle.partitions" = 4\n')
    project = load_project_config(tmp_path)
    assert project.engine == "spark"
    assert dict(project.spark) == {"master": "local[2]", "spark.sql.shuffle.partitions": 4}
    with pytest.raises(UsageError, match="pyspark"):  # chosen by the project: the same clear error
        choose(None, None, project)
    assert choose("polars", None, project).name == "polars"  # the command line wins
    (tmp_path / "pyproject.toml").write_text('[tool.parity]\nengine = "duckdb"\n')
    with pytest.raises(SpecError, match=r"tool\.parity\.engine.*polars, spark"):
        load_project_config(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.parity]\nspark = "local"\n')
    with pytest.raises(SpecError, match=r"tool\.parity\.spark"):
        load_project_config(tmp_path)


def test_pytest_parity_engine_spark_without_pyspark_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(conftest="import sys\nsys.modules['pyspark'] = None\n")
    result = pytester.runpytest("--parity", "claims_monthly", "--parity-jobs-dir", str(FIXTURES),
                                "--parity-engine", "spark", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "parity-sas[spark]" in result.stderr.str()


def test_lake_outputs_in_parity_toml(tmp_path: Path) -> None:
    """python = "delta:<path>" / "parquet:<path>" and table = "db.table" name Spark-side outputs."""
    folder = make_job(tmp_path, "lake", '[datasets.a]\nsas = "a.sas7bdat"\npython = "parquet:out/a"\n'
                      '[datasets.b]\nsas = "a.sas7bdat"\ntable = "gold.claims"\n',
                      {"a.sas7bdat": ""})
    (folder / "out" / "a").mkdir(parents=True)
    job = load_job(folder)
    assert [ds.lake for ds in job.datasets] == ["parquet:out/a", "table:gold.claims"]
    assert all(ds.python is None for ds in job.datasets)
    (folder / "parity.toml").write_text('[datasets.a]\nsas = "a.sas7bdat"\npython = "delta:missing"\n')
    with pytest.raises(SpecError, match=r"datasets\.a\.python.*delta path 'missing' not found"):
        load_job(folder)
    (folder / "parity.toml").write_text('[datasets.a]\nsas = "a.sas7bdat"\npython = "x.parquet"\n'
                                        'table = "db.t"\n')
    with pytest.raises(SpecError, match="both python and table"):
        load_job(folder)
