"""Spec mistakes that used to be accepted silently: each is a SpecError naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from parity.cli.main import main
from parity.run.runner import run_job_folder
from tests.helpers import Column, make_job, write_sas7bdat
from tests.test_spec import spec_error

BASE = '[datasets.d]\nsas = "d.sas7bdat"\npython = "py.parquet"\nkeys = ["id"]\n'
WAIVER = 'reason = "r"\napprover = "a"\nexpires = 2099-01-01\n'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    job = tmp_path / "j"
    job.mkdir()
    write_sas7bdat(job / "d.sas7bdat", [
        Column("ID", "numeric", [1, 2, 3]), Column("AMOUNT", "numeric", [1.5, 2.5, 3.5]),
        Column("TOTAL", "numeric", [1.0, 2.0, 3.0]), Column("NAME", "string", ["a", "b", "c"]),
        Column("CODE", "string", ["x", "y", "z"]),
    ])
    pl.DataFrame({"id": [1, 2, 3], "amount": [1.5, 2.5, 3.5], "total": [1.0, 2.0, 3.0], "name": ["a", "b", "c"],
                  "code": ["x", "y", "q"], "amount2": [1.5, 2.5, 3.5]}).write_parquet(job / "py.parquet")
    return job


MISTAKES = [
    # the same column twice (SAS names are case-insensitive)
    ('[datasets.d.tolerance]\namount = { method = "absolute", criterion = 0.1 }\nAMOUNT = "exact"\n',
     "datasets.d.tolerance.AMOUNT", "names column 'amount' twice"),
    ('[datasets.d.formats]\ntotal = "DATE9."\nTOTAL = "DATE9."\n', "datasets.d.formats.TOTAL", "twice"),
    ('[datasets.d.rename]\namount = "amount2"\nAMOUNT = "amount"\n', "datasets.d.rename.AMOUNT", "twice"),
    ('sort_by = ["total", "DESCENDING TOTAL"]\n', "datasets.d.sort_by", "names column 'TOTAL' twice"),
    ('sort_by = ["-total", "Total"]\n', "datasets.d.sort_by", "twice"),
    ('ignore = ["name", "NAME"]\n', "datasets.d.ignore", "twice"),
    # rules for columns whose values are not compared under them
    ('[datasets.d.tolerance]\nid = { method = "absolute", criterion = 1 }\n', "datasets.d.tolerance.id",
     "which is a key"),
    ('ignore = ["total"]\n[datasets.d.tolerance]\nTOTAL = { method = "absolute", criterion = 1 }\n',
     "datasets.d.tolerance.TOTAL", "which is ignored"),
    (f'[[datasets.d.waivers]]\ncolumn = "ID"\n{WAIVER}', "datasets.d.waivers[0].column", "which is a key"),
    (f'ignore = ["code"]\n[[datasets.d.waivers]]\ncolumn = "code"\n{WAIVER}', "datasets.d.waivers[0].column",
     "which is ignored"),
    (f'[[datasets.d.waivers]]\ncheck = "waivers"\n{WAIVER}', "datasets.d.waivers[0].check", "cannot be waived"),
    (f'[[datasets.d.waivers]]\ncheck = "top_n_diffs"\n{WAIVER}', "datasets.d.waivers[0].check", "cannot be waived"),
    # two SAS columns onto one Python column
    ('[datasets.d.rename]\namount = "amount2"\ntotal = "AMOUNT2"\n', "datasets.d.rename", "renames both"),
    # encodings that are Python codecs but not character sets
    ('encoding = "rot13"\n', "datasets.d.encoding", "not a text encoding"),
    ('encoding = "hex"\n', "datasets.d.encoding", "not a text encoding"),
    ('encoding = "base64"\n', "datasets.d.encoding", "not a text encoding"),
    ('encoding = "zlib"\n', "datasets.d.encoding", "not a text encoding"),
    ('encoding = "idna"\n', "datasets.d.encoding", "not a text encoding"),
    ('encoding = "latin-99"\n', "datasets.d.encoding", "unknown encoding"),
]


@pytest.mark.parametrize(("extra", "key", "text"), MISTAKES, ids=[f"{m[1]}:{m[2]}" for m in MISTAKES])
def test_spec_mistake_at_load(folder: Path, extra: str, key: str, text: str) -> None:
    error = spec_error(folder, BASE + extra)
    assert error.key == key and text in str(error)
    assert str(folder / "parity.toml") in str(error)


def test_formats_for_a_column_that_does_not_exist(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused when the SAS file is read (the dataset is an error naming the file, formats and the column)."""
    make_job(folder.parent, folder.name, BASE + '[datasets.d.formats]\nnope = "DATE9."\n')
    out = folder.parent / "reports"
    assert main(["run", "j", "--jobs-dir", str(folder.parent), "--report-dir", str(out)]) == 2
    data = json.loads((out / "j" / "parity.json").read_text())
    error = data["datasets"][0]["error"] if data["datasets"] else data["error"]
    assert data["verdict"] == "error" and "formats" in error and "'nope'" in error and "d.sas7bdat" in error


COLUMN_MISTAKES = [
    # checked once the columns are known (still before any comparison)
    ('[datasets.d.formats]\nname = "DATE9."\n', "datasets.d.formats.name", "character column 'NAME'"),
    ('[datasets.d.rename]\namount = "total"\n', "datasets.d.rename", "'AMOUNT' and 'TOTAL' would both be compared"),
    (f'[[datasets.d.waivers]]\ncolumn = "code"\nmax_abs_diff = 0.5\n{WAIVER}', "datasets.d.waivers[0].max_abs_diff",
     "'CODE' is a character column"),
    (f'[[datasets.d.waivers]]\ncolumn = "nope"\n{WAIVER}', "datasets.d.waivers[0].column", "on neither side"),
    (f'[[datasets.d.waivers]]\ncolumn = "amount2"\n{WAIVER}', "datasets.d.waivers[0].column", "only on one side"),
]


@pytest.mark.parametrize(("extra", "key", "text"), COLUMN_MISTAKES, ids=[m[2] for m in COLUMN_MISTAKES])
def test_spec_mistake_once_columns_are_known(folder: Path, extra: str, key: str, text: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    error = spec_error(folder, BASE + extra)
    assert error.key == key and text in str(error)
    # the CLI: exit 2, and the job's report (if published) is an error naming the key, never a verdict
    out = folder.parent / "reports"
    assert main(["run", "j", "--jobs-dir", str(folder.parent), "--report-dir", str(out)]) == 2
    assert key in capsys.readouterr().err
    report = out / "j" / "parity.json"
    if report.exists():
        data = json.loads(report.read_text())
        assert data["verdict"] == "error" and key in data["error"]


def test_python_file_that_is_the_sas_file(folder: Path) -> None:
    error = spec_error(folder, '[datasets.d]\nsas = "d.sas7bdat"\npython = "./d.sas7bdat"\n')
    assert error.key == "datasets.d.python" and "compared with itself" in str(error)


@pytest.mark.parametrize("encoding", ["latin1", "cp1252", "utf-8", "WINDOWS-1252", "iso-8859-15"])
def test_real_text_encodings_are_accepted(folder: Path, encoding: str) -> None:
    make_job(folder.parent, folder.name, BASE + f'encoding = "{encoding}"\n')
    assert run_job_folder(folder).datasets[0].error is None


def test_valid_neighbours_are_accepted(folder: Path) -> None:
    """What looks like a mistake but is not: a rename onto a column whose own SAS name is renamed away, a waiver
    with max_abs_diff on a numeric column, distinct tolerances."""
    make_job(folder.parent, folder.name, BASE + f"""
[datasets.d.rename]
amount = "total"
total = "amount"
[datasets.d.tolerance]
amount = {{ method = "absolute", criterion = 0.1 }}
total = "exact"
[[datasets.d.waivers]]
column = "code"
keys = [{{ id = 3 }}]
{WAIVER}
""")
    result = run_job_folder(folder)
    ds = result.datasets[0]
    assert ds.error is None
    cols = {c.name: c for c in ds.columns}
    assert cols["AMOUNT"].python_name == "total" and cols["TOTAL"].python_name == "amount"
    assert cols["CODE"].waived == 1
