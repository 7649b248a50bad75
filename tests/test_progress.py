"""Progress on stderr (issue 9, item 4): the stage and rows read per side on a terminal; nothing when stderr is not
a terminal (CI logs, pipes, pytest); never in a report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from parity.cli.main import main
from parity.run.progress import RunProgress, read_progress
from parity.run.runner import run_job_folder
from tests.helpers import Column, make_job, write_sas7bdat


def _job(root: Path) -> Path:
    folder = make_job(root, "prog", """
        [job]
        python = "port:run"
        [datasets.d]
        sas = "d.sas7bdat"
        keys = ["id"]
        """, {"port.py": """
        import polars as pl

        def run():
            return {"d": pl.DataFrame({"id": list(range(500)), "x": [i * 0.5 for i in range(500)]})}
        """})
    write_sas7bdat(folder / "d.sas7bdat", [Column("id", "numeric", list(range(500))),
                                           Column("x", "numeric", [i * 0.5 for i in range(500)])])
    return folder


def test_a_terminal_shows_the_stages_and_the_rows_read(tmp_path: Path) -> None:
    folder = _job(tmp_path)
    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    with RunProgress(console) as progress:
        assert progress.enabled
        result = run_job_folder(folder, progress=progress)
    assert result.verdict == "pass"
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "prog: running port:run" in shown
    assert "prog/d: reading d.sas7bdat" in shown
    assert "500 / 500 rows" in shown  # the SAS side's bar: rows read of the header's row count
    assert "prog/d: comparing 500 x 500 rows" in shown


def test_nothing_is_shown_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    folder = _job(tmp_path)
    console = Console(file=io.StringIO(), width=120)
    assert not console.is_terminal
    with RunProgress(console) as progress:
        assert not progress.enabled
        assert run_job_folder(folder, progress=progress).verdict == "pass"
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    # a plain callable (the pytest plugin's, or none) gets no read bar at all
    assert read_progress(print) is not progress.read


def test_parity_run_shows_progress_on_a_terminal_only_and_never_in_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _job(tmp_path / "jobs")
    reports = tmp_path / "r"
    assert main(["run", "prog", "--jobs-dir", str(folder.parent), "--report-dir", str(reports)]) == 0
    err = capsys.readouterr().err
    assert "reading d.sas7bdat" not in err and "rows" not in err  # captured stderr is no terminal
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich takes this for a terminal
    assert main(["run", "prog", "--jobs-dir", str(folder.parent), "--report-dir", str(reports)]) == 0
    err = capsys.readouterr().err
    assert "prog/d: reading d.sas7bdat" in err and "500 / 500 rows" in err
    report = (reports / "prog" / "parity.json").read_text(encoding="utf-8")
    assert "500 / 500 rows" not in report and "reading d.sas7bdat" not in report
    json.loads(report)
