"""End-to-end: `parity run` on the example jobs and on broken jobs, `parity list`, `parity inspect`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from parity.cli.main import main
from parity.report.json import strip_runtime
from tests.helpers import Column, make_job, write_sas7bdat

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())


def run(*args: str) -> int:
    return main(["run", *args])


def report(report_dir: Path, job: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report_dir / job / "parity.json").read_text())
    return data


def validate(data: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, SCHEMA)


def test_example_jobs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run("--all", "--jobs-dir", str(FIXTURES), "--report-dir", str(tmp_path))
    out = capsys.readouterr().out
    assert code == 1  # premium_rounding fails by design
    assert "parity 0.1.0 | jobs: claims_monthly premium_rounding" in out
    assert "rounding_half_even" in out

    claims = report(tmp_path, "claims_monthly")
    validate(claims)
    assert claims["verdict"] == "pass"
    assert [d["name"] for d in claims["datasets"]] == ["claims", "summary"]
    for ds in claims["datasets"]:
        assert all(c["status"] in ("pass", "skipped") for c in ds["checks"]), ds["checks"]
        assert ds["sas"]["format"] == "sas7bdat" and len(ds["sas"]["sha256"]) == 64
        assert ds["rows"]["only_in_sas"] == 0 and ds["rows"]["matched"] == ds["rows"]["sas"]

    premium = report(tmp_path, "premium_rounding")
    validate(premium)
    assert premium["verdict"] == "fail"
    ds = premium["datasets"][0]
    failing = {c["name"] for c in ds["checks"] if c["status"] == "fail"}
    assert failing == {"numeric_tolerance"}
    col = next(c for c in ds["columns"] if c["mismatches"])
    assert col["explanations"][0]["code"] == "rounding_half_even"
    assert col["max_abs_diff"] == pytest.approx(0.01)
    top = ds["top_diffs"]["by_abs"][0]
    assert abs(top["sas"]) > abs(top["python"])  # SAS rounds half away from zero


def test_reports_are_deterministic(tmp_path: Path) -> None:
    run("claims_monthly", "premium_rounding", "--jobs-dir", str(FIXTURES), "--report-dir", str(tmp_path / "a"))
    run("claims_monthly", "premium_rounding", "--jobs-dir", str(FIXTURES), "--report-dir", str(tmp_path / "b"))
    for job in ("claims_monthly", "premium_rounding"):
        a, b = report(tmp_path / "a", job), report(tmp_path / "b", job)
        assert a["run"]["started_at"]  # run-time fields exist ...
        assert strip_runtime(a) == strip_runtime(b)  # ... and are the only difference
    assert not list((tmp_path / "a").rglob("*.tmp"))


def test_passing_job_exits_0(tmp_path: Path) -> None:
    assert run("claims_monthly", "--jobs-dir", str(FIXTURES), "--report-dir", str(tmp_path)) == 0


def test_list_and_inspect(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--jobs-dir", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert "claims_monthly" in out and "premium_rounding" in out
    assert main(["inspect", str(FIXTURES / "claims_monthly" / "claims.sas7bdat"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "sas7bdat" and info["rows"] == 125
    assert info["label"]
    assert any(c["kind"] == "date" for c in info["columns"])
    assert main(["inspect", str(FIXTURES / "claims_monthly" / "claims.sas7bdat")]) == 0
    assert "Alphabetic List of Variables" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("claims_montly", "--jobs-dir", str(FIXTURES), "--report-dir", str(tmp_path)) == 2
    assert "Did you mean 'claims_monthly'" in capsys.readouterr().err
    assert run("--jobs-dir", str(FIXTURES)) == 2
    assert main(["inspect", str(tmp_path / "nope.sas7bdat")]) == 2
    assert main(["frobnicate"]) == 2


def test_spec_error_exits_2_and_is_reported_as_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(FIXTURES / "claims_monthly", tmp_path / "jobs" / "claims_monthly")
    spec = tmp_path / "jobs" / "claims_monthly" / "parity.toml"
    spec.write_text(spec.read_text().replace('keys = ["member_id"]', 'keys = ["member_idd"]'))
    assert run("claims_monthly", "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / "r")) == 2
    err = capsys.readouterr().err
    assert "parity.toml" in err and "datasets.summary.keys" in err and "member_idd" in err
    # the run is published as a whole: the job's report and the run's pages say error, never an older pass
    data = report(tmp_path / "r", "claims_monthly")
    assert data["verdict"] == "error" and "member_idd" in data["error"] and not data["datasets"]
    assert (tmp_path / "r" / "summary.md").read_text().startswith("## parity: 🛑 error")


def test_unreadable_dataset_is_an_error_others_still_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "broken", """
        [datasets.bad]
        sas = "bad.sas7bdat"
        python = "ok.csv"
        [datasets.good]
        sas = "good.sas7bdat"
        python = "ok.csv"
        keys = ["id"]
    """, files={"ok.csv": "id,x\n1,2.5\n"})
    (folder / "bad.sas7bdat").write_bytes(b"\x00" * 4096)
    write_sas7bdat(folder / "good.sas7bdat", [Column("ID", "numeric", [1]), Column("X", "numeric", [2.5])])
    assert run("broken", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "r")) == 2
    data = report(tmp_path / "r", "broken")
    validate(data)
    assert data["verdict"] == "error"
    bad, good = data["datasets"]
    assert bad["verdict"] == "error" and "bad.sas7bdat" in bad["error"]
    assert good["verdict"] == "pass"
    assert "Traceback" not in capsys.readouterr().err


def test_failing_python_job_is_reported_not_raised(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "crash", """
        [job]
        python = "port:run"
        [datasets.d]
        sas = "d.sas7bdat"
    """, files={"port.py": "def run():\n    raise ValueError('bad month')\n"})
    write_sas7bdat(folder / "d.sas7bdat", [Column("ID", "numeric", [1])])
    assert run("crash", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "r")) == 2
    error = report(tmp_path / "r", "crash")["datasets"][0]["error"]
    assert "ValueError: bad month" in error and "port.py:2" in error


def test_python_job_missing_dataset(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "partial", """
        [job]
        python = "port:run"
        [datasets.a]
        sas = "d.sas7bdat"
        [datasets.b]
        sas = "d.sas7bdat"
    """, files={"port.py": "import polars as pl\ndef run():\n    return {'a': pl.DataFrame({'id': [1]})}\n"})
    write_sas7bdat(folder / "d.sas7bdat", [Column("ID", "numeric", [1])])
    assert run("partial", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "r")) == 2
    a, b = report(tmp_path / "r", "partial")["datasets"]
    assert a["verdict"] == "pass"
    assert b["verdict"] == "error" and "returned no dataset 'b'" in b["error"]


def test_crash_while_writing_keeps_the_previous_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("claims_monthly", "--jobs-dir", str(FIXTURES), "--report-dir", str(tmp_path)) == 0
    before = (tmp_path / "claims_monthly" / "parity.json").read_text()

    import parity.report.json as rj

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(rj.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        rj.write_atomic(tmp_path / "claims_monthly" / "parity.json", "{half")
    assert (tmp_path / "claims_monthly" / "parity.json").read_text() == before
    assert not list(tmp_path.rglob("*.tmp"))
