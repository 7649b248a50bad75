"""Spec validation: every mistake is a SpecError naming the file and the key, before any comparison."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from parity.errors import SpecError
from parity.run.runner import run_job_folder
from parity.spec import load_job, load_project_config
from tests.helpers import Column, make_job, write_sas7bdat


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    (tmp_path / "j").mkdir()
    write_sas7bdat(tmp_path / "j" / "d.sas7bdat", [
        Column("ID", "numeric", [1, 2, 3]), Column("AMT", "numeric", [1.5, 2.5, 3.5]),
        Column("NAME", "string", ["a", "b", "c"]),
    ])
    pl.DataFrame({"id": [1, 2, 3], "amt": [1.5, 2.5, 3.5], "name": ["a", "b", "c"]}).write_parquet(
        tmp_path / "j" / "py.parquet")
    return tmp_path


def spec_error(folder: Path, toml: str) -> SpecError:
    make_job(folder.parent, folder.name, toml)
    with pytest.raises(SpecError) as info:
        run_job_folder(folder)
    return info.value


BASE = '[datasets.d]\nsas = "d.sas7bdat"\npython = "py.parquet"\n'


def test_valid_spec_defaults(job_dir: Path) -> None:
    make_job(job_dir, "j", BASE + 'keys = ["id"]\nsort_by = ["ID", "DESCENDING amt"]\n')
    job = load_job(job_dir / "j")
    ds = job.datasets[0]
    assert ds.keys == ("id",)
    assert [(k.column, k.descending) for k in ds.sort_by] == [("ID", False), ("amt", True)]
    assert ds.default_tolerance.method == "exact"
    assert ds.top_n == 20
    assert ds.strings.strip == "trailing" and ds.strings.blank_is_missing
    assert len(job.spec_sha256) == 64


@pytest.mark.parametrize(("toml", "key", "text"), [
    (BASE + "tolerence = {}\n", "datasets.d.tolerence", "Did you mean 'tolerance'"),
    (BASE + '[datasets.d.tolerance]\namt = { method = "fuzzy" }\n', "datasets.d.tolerance.amt.method",
     "must be one of exact, absolute, relative, percent"),
    (BASE + '[datasets.d.tolerance]\namt = { method = "absolute", criterion = "x" }\n',
     "datasets.d.tolerance.amt.criterion", "finite number"),
    (BASE + '[datasets.d.tolerance]\namt = { method = "relative", delta = 2 }\n', "datasets.d.tolerance.amt.delta",
     "[0, 1]"),
    (BASE + '[datasets.d.tolerance]\namt = { method = "absolute", delta = 0.1 }\n',
     "datasets.d.tolerance.amt.delta", "only to method 'relative'"),
    ('[datasets.d]\nsas = "missing.sas7bdat"\npython = "py.parquet"\n', "datasets.d.sas", "not found"),
    ('[datasets.d]\nsas = "py.parquet"\npython = "py.parquet"\n', "datasets.d.sas", ".sas7bdat"),
    ('[datasets.d]\nsas = "d.sas7bdat"\n', "datasets.d", "has no Python side"),
    (BASE + 'keys = ["id"]\nignore = ["ID"]\n', "datasets.d.ignore", "both a key and ignored"),
    (BASE + "top_n = -1\n", "datasets.d.top_n", "whole number"),
    (BASE + '[datasets.d.severity]\nsort_ordr = "warn"\n', "datasets.d.severity.sort_ordr", "sort_order"),
    (BASE + '[datasets.d.strings]\nstrip = "left"\n', "datasets.d.strings.strip", "trailing, both, none"),
    (BASE + 'encoding = "klingon"\n', "datasets.d.encoding", "unknown encoding"),
    ('[job]\npython = "no_colon"\n' + BASE, "job.python", "module:function"),
    ('[job]\npython = "out/*.parquet"\n' + BASE, "job.python", "[datasets.<name>] python = '...'"),
])
def test_spec_errors_name_file_and_key(job_dir: Path, toml: str, key: str, text: str) -> None:
    err = spec_error(job_dir / "j", toml)
    assert err.key == key
    assert err.file.endswith("parity.toml")
    assert text in str(err)
    assert str(err).startswith(err.file)


@pytest.mark.parametrize(("extra", "key", "text"), [
    ('keys = ["nope"]\n', "datasets.d.keys", "'nope' is not in the SAS file"),
    ('sort_by = ["nope"]\n', "datasets.d.sort_by", "'nope' is not in the SAS file"),
    ('ignore = ["nope"]\n', "datasets.d.ignore", "on neither side"),
    ('rename = { nope = "x" }\n', "datasets.d.rename", "not a column of d.sas7bdat"),
    ('rename = { AMT = "x" }\n', "datasets.d.rename", "not a column of the Python output"),
    ('[datasets.d.tolerance]\nnope = { method = "absolute", criterion = 1 }\n', "datasets.d.tolerance.nope",
     "not a SAS column"),
    ('[datasets.d.tolerance]\nname = { method = "absolute", criterion = 1 }\n', "datasets.d.tolerance.name",
     "character column"),
])
def test_column_errors_are_spec_errors_before_comparing(job_dir: Path, extra: str, key: str, text: str) -> None:
    err = spec_error(job_dir / "j", BASE + extra)
    assert err.key == key
    assert text in str(err)


def test_key_missing_on_python_side(job_dir: Path) -> None:
    pl.DataFrame({"amt": [1.5], "name": ["a"]}).write_parquet(job_dir / "j" / "py.parquet")
    err = spec_error(job_dir / "j", BASE + 'keys = ["id"]\n')
    assert "not in the Python output" in str(err)


def test_invalid_toml(job_dir: Path) -> None:
    err = spec_error(job_dir / "j", "[datasets.d\n")
    assert "not valid TOML" in str(err)


def test_project_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.parity]\njobs_dir = "jobs"\nreport_dir = "out"\n')
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    cfg = load_project_config(sub)
    assert cfg.jobs_dir == tmp_path / "jobs"
    assert cfg.report_dir == tmp_path / "out"
    (tmp_path / "pyproject.toml").write_text('[tool.parity]\njobsdir = "jobs"\n')
    with pytest.raises(SpecError, match="Did you mean 'jobs_dir'"):
        load_project_config(sub)
