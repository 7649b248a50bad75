"""Hostile variants of issue 8 (runs, reports and the CI gate that nothing can fool), run as a user would: the
``parity`` command in a subprocess (or :func:`parity.cli.main`) on job folders in a temporary directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parity.cli.main import main
from tests.test_runs_robust import GOOD_PORT, job

GOOD = GOOD_PORT


def verdict(reports: Path, name: str) -> str:
    data: dict[str, Any] = json.loads((reports / name / "parity.json").read_text(encoding="utf-8"))
    return str(data["verdict"])


def parity_cmd(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The ``parity`` command as installed (``main()`` without argv, as the console script calls it)."""
    code = "import sys; from parity.cli.main import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


# --------------------------------------------------------------------------------------------------------------
# 1. a port cannot end, hang or crash the run: process-wide state it changes is put back

PROCESS_PORTS = {
    # os._exit skips every handler: it would end the run with the port's exit code and no report
    "os_exit_0": ("import os\ndef run():\n    os._exit(0)\n", "error"),
    "os_exit_at_import": ("import os\nos._exit(0)\ndef run():\n    pass\n", "error"),
    # an exit handler that runs after parity decided: it must not replace parity's exit code
    "atexit_os_exit_0": ("import atexit, os, polars as pl\ndef run():\n    atexit.register(os._exit, 0)\n"
                         "    return pl.DataFrame({'id': [1, 2], 'x': [9.5, 2.5]})\n", "fail"),
    # the summary is still printed (was: a traceback and exit 1 from rich writing to a closed file)
    "closes_stdout": ("import sys, polars as pl\ndef run():\n    sys.stdout.close()\n"
                      "    return pl.DataFrame({'id': [1, 2], 'x': [9.5, 2.5]})\n", "fail"),
    "tiny_recursion_limit": ("import sys, polars as pl\ndef run():\n    sys.setrecursionlimit(60)\n"
                             "    return pl.DataFrame({'id': [1, 2], 'x': [9.5, 2.5]})\n", "fail"),
    "warnings_are_errors": ("import warnings, polars as pl\ndef run():\n    warnings.simplefilter('error')\n"
                            "    return pl.DataFrame({'id': [1, 2], 'x': [9.5, 2.5]})\n", "fail"),
}


@pytest.mark.parametrize("kind", sorted(PROCESS_PORTS))
def test_port_cannot_change_the_exit_code_or_crash_the_run(tmp_path: Path, kind: str) -> None:
    port, expected = PROCESS_PORTS[kind]
    jobs = tmp_path / "jobs"
    job(jobs, "a_port", port)
    job(jobs, "b_good", GOOD)
    proc = parity_cmd(tmp_path, "run", "--all", "--jobs-dir", str(jobs), "--report-dir", "r")
    assert proc.returncode == (2 if expected == "error" else 1), proc.stderr
    assert verdict(tmp_path / "r", "a_port") == expected
    assert verdict(tmp_path / "r", "b_good") == "pass"
    assert "Traceback" not in proc.stderr
    assert "b_good" in proc.stdout  # the summary was printed


def test_os_exit_names_what_happened(tmp_path: Path) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    job(jobs, "exits", PROCESS_PORTS["os_exit_0"][0])
    assert main(["run", "exits", "--jobs-dir", str(jobs), "--report-dir", str(reports)]) == 2
    error = json.loads((reports / "exits" / "parity.json").read_text(encoding="utf-8"))["datasets"][0]["error"]
    assert "os._exit(0)" in error and "port.py:3" in error


THREAD_PORT = ("import threading, time, polars as pl\ndef run():\n"
               "    threading.Thread(target=time.sleep, args=(600,), name='worker').start()\n"
               "    return pl.DataFrame({'id': [1, 2], 'x': [9.5, 2.5]})\n")


def test_thread_left_running_does_not_hang_the_command(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    job(jobs, "threads", THREAD_PORT)
    proc = parity_cmd(tmp_path, "run", "threads", "--jobs-dir", str(jobs), "--report-dir", "r", timeout=90)
    assert proc.returncode == 1, proc.stderr
    assert verdict(tmp_path / "r", "threads") == "fail"
    assert "threads left 1 thread(s) running (worker)" in proc.stderr


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_thread_left_running_does_not_hang_pytest(tmp_path: Path, xdist: list[str]) -> None:
    jobs = tmp_path / "jobs"
    job(jobs, "threads", THREAD_PORT)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--parity", "threads",
                           "--parity-jobs-dir", str(jobs), "--parity-report-dir", "r", *xdist], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert verdict(tmp_path / "r", "threads") == "fail"


def test_sigint_handler_is_restored(tmp_path: Path) -> None:
    import signal

    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    job(jobs, "sig", "import signal, polars as pl\ndef run():\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                     "    return pl.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]})\n")
    before = signal.getsignal(signal.SIGINT)
    assert main(["run", "sig", "--jobs-dir", str(jobs), "--report-dir", str(reports)]) == 0
    assert signal.getsignal(signal.SIGINT) is before


# --------------------------------------------------------------------------------------------------------------
# 4. a job given as a path is named as the path says


@pytest.mark.parametrize("given", ["jobs/current", "jobs/current/", "jobs/current/parity.toml", "current",
                                   "./jobs/current/."])
def test_a_symlinked_job_has_the_same_name_however_it_is_given(tmp_path: Path, given: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = tmp_path / "jobs"
    job(jobs, "claims_v2", GOOD)
    (jobs / "current").symlink_to("claims_v2", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    assert main(["run", given, "--jobs-dir", "jobs", "--report-dir", "r"]) == 0
    assert sorted(p.name for p in (tmp_path / "r").iterdir() if not p.name.startswith(".")) == \
        ["current", "index.html", "summary.md"]


# --------------------------------------------------------------------------------------------------------------
# 13. formats for a column that does not exist is a mistake in parity.toml, named by its key


@pytest.mark.parametrize("column", ["nosuch", "NoSuch"])
def test_formats_for_a_missing_column_is_a_spec_error_naming_the_key(tmp_path: Path, column: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    toml = f'[job]\npython = "port:run"\n[datasets.d]\nsas = "d.sas7bdat"\nkeys = ["id"]\n' \
           f'[datasets.d.formats]\n{column} = "DATE9."\n'
    job(jobs, "fmt", GOOD, toml=toml)
    assert main(["run", "fmt", "--jobs-dir", str(jobs), "--report-dir", str(reports)]) == 2
    err = capsys.readouterr().err
    assert "[datasets.d.formats.nosuch]" in " ".join(err.split()), err
    assert "parity.toml" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------------------------
# 16. hints name the real cause: the port's output, not parity.toml

CSV_TOML = '[job]\n[datasets.d]\nsas = "d.sas7bdat"\npython = "out.csv"\nkeys = ["id"]\n'


@pytest.mark.parametrize("frame", ["pd.DataFrame({'id': [1, 2], 'x': [1.5, 2.5], 'X': [1.5, 2.5]})",
                                   "pl.DataFrame({'id': [1, 2], 'x': [1.5, 2.5], 'X': [1.5, 2.5]})"])
def test_case_duplicate_columns_of_the_port_are_an_error_of_the_dataset_not_of_the_spec(tmp_path: Path,
                                                                                         frame: str) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    job(jobs, "dupe", f"import pandas as pd, polars as pl\ndef run():\n    return {frame}\n")
    assert main(["run", "dupe", "--jobs-dir", str(jobs), "--report-dir", str(reports)]) == 2
    (ds,) = json.loads((reports / "dupe" / "parity.json").read_text(encoding="utf-8"))["datasets"]
    assert ds["verdict"] == "error"
    assert "'x' and 'X'" in ds["error"] and "rename one in the port" in ds["error"] and "parity.toml" not in ds["error"]


def test_csv_with_a_repeated_header_name_is_an_error_naming_it(tmp_path: Path) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    job(jobs, "csv", "", toml=CSV_TOML, files={"out.csv": "id,x,x\n1,1.5,1.5\n2,2.5,2.5\n"})
    assert main(["run", "csv", "--jobs-dir", str(jobs), "--report-dir", str(reports)]) == 2  # was 1: x_duplicated_0
    (ds,) = json.loads((reports / "csv" / "parity.json").read_text(encoding="utf-8"))["datasets"]
    assert ds["verdict"] == "error" and "duplicate column names ['x'] in the header" in ds["error"], ds["error"]


def test_key_missing_from_the_python_output_lists_the_python_columns(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    job(jobs, "csv", "", toml=CSV_TOML, files={"out.csv": "ident,x\n1,1.5\n2,2.5\n"})
    assert main(["run", "csv", "--jobs-dir", str(jobs), "--report-dir", str(reports)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "out.csv (its columns: ident, x)" in err, err


def test_list_of_a_missing_jobs_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--jobs-dir", str(tmp_path / "nosuch")]) == 2  # was 0, "no jobs"
    assert "no jobs folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["list", "--jobs-dir", str(tmp_path / "empty")]) == 0
