"""Known-differences register (waivers) and parity deltas against a baseline (gating)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from parity.cli.main import main
from parity.errors import SpecError
from parity.spec import load_job
from tests.helpers import Column, make_job, write_sas7bdat

ROOT = Path(__file__).resolve().parents[1]
FUTURE = (dt.date.today() + dt.timedelta(days=365)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def job(tmp_path: Path, csv: str, extra: str = "") -> Path:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.csv"
        keys = ["id"]
        {extra}
    """, files={"py.csv": csv})
    write_sas7bdat(folder / "d.sas7bdat", [
        Column("ID", "numeric", [1, 2, 3, 4]), Column("AMT", "numeric", [1.0, 2.0, 3.0, 4.0]),
        Column("NAME", "string", ["a", "b", "c", "d"]),
    ])
    return jobs


CSV_DIFF = "id,amt,name\n1,1.0,a\n2,2.01,b\n3,3.01,c\n4,4.0,d\n"


def run_report(jobs: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(out), *extra])
    return code, json.loads((out / "j" / "parity.json").read_text())


def checks(data: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in data["datasets"][0]["checks"]}


def waiver(**fields: Any) -> str:
    body = {"reason": "accepted rounding", "approver": "R. Owner", **fields}
    items = ", ".join(f"{k} = {v if k in ('expires', 'max_abs_diff', 'keys') else json.dumps(v)}"
                      for k, v in body.items())
    return f"[[datasets.d.waivers]]\n{items.replace(', ', chr(10))}\n"


def test_active_waiver_marks_mismatches_waived_not_hidden(tmp_path: Path) -> None:
    jobs = job(tmp_path, CSV_DIFF, waiver(column="amt", expires=FUTURE))
    code, data = run_report(jobs, tmp_path / "r")
    assert code == 0
    assert checks(data)["numeric_tolerance"] == "waived"
    assert checks(data)["waivers"] == "pass"
    col = next(c for c in data["datasets"][0]["columns"] if c["name"] == "AMT")
    assert col["mismatches"] == 2 and col["waived"] == 2  # still reported
    assert data["datasets"][0]["verdict"] == "pass"
    w = next(c for c in data["datasets"][0]["checks"] if c["name"] == "waivers")["details"]["waivers"][0]
    assert w["matched"] == 2 and w["state"] == "active" and w["approver"] == "R. Owner"


def test_waiver_restricted_to_keys_and_size(tmp_path: Path) -> None:
    jobs = job(tmp_path, CSV_DIFF, waiver(column="amt", expires=FUTURE, keys="[{ id = 2 }]"))
    code, data = run_report(jobs, tmp_path / "r")
    assert code == 1
    assert checks(data)["numeric_tolerance"] == "fail"
    col = next(c for c in data["datasets"][0]["columns"] if c["name"] == "AMT")
    assert col["waived"] == 1
    small = job(tmp_path / "b", CSV_DIFF, waiver(column="amt", expires=FUTURE, max_abs_diff=0.001))
    code, data = run_report(small, tmp_path / "r2")
    assert code == 1
    assert checks(data)["waivers"] == "warn"  # matches nothing: stale


def test_expired_waiver_fails(tmp_path: Path) -> None:
    jobs = job(tmp_path, CSV_DIFF, waiver(column="amt", expires=PAST))
    code, data = run_report(jobs, tmp_path / "r")
    assert code == 1
    assert checks(data)["waivers"] == "fail"
    assert checks(data)["numeric_tolerance"] == "fail"
    assert "expired" in next(c for c in data["datasets"][0]["checks"] if c["name"] == "waivers")["summary"]


def test_stale_waiver_is_flagged(tmp_path: Path) -> None:
    jobs = job(tmp_path, "id,amt,name\n1,1.0,a\n2,2.0,b\n3,3.0,c\n4,4.0,d\n",
               waiver(column="amt", expires=FUTURE))
    code, data = run_report(jobs, tmp_path / "r")
    assert code == 0
    assert checks(data)["waivers"] == "warn"


def test_check_waiver(tmp_path: Path) -> None:
    jobs = job(tmp_path, "id,amt,name\n1,1.0,a\n2,2.0,b\n3,3.0,c\n",
               waiver(check="row_count", expires=FUTURE) + waiver(check="key_match", expires=FUTURE))
    code, data = run_report(jobs, tmp_path / "r")
    assert code == 0
    assert checks(data)["row_count"] == "waived" and checks(data)["key_match"] == "waived"


@pytest.mark.parametrize(("body", "text"), [
    ('[[datasets.d.waivers]]\ncolumn = "amt"\nreason = "x"\nexpires = 2030-01-01\n', "needs 'approver'"),
    ('[[datasets.d.waivers]]\ncolumn = "amt"\nreason = "x"\napprover = "y"\nexpires = "soon"\n', "TOML date"),
    ('[[datasets.d.waivers]]\nreason = "x"\napprover = "y"\nexpires = 2030-01-01\n', "exactly one of"),
    ('[[datasets.d.waivers]]\ncolumn = "amt"\nkeys = [{ nope = 1 }]\nreason = "x"\napprover = "y"\n'
     'expires = 2030-01-01\n', "exactly the dataset's keys"),
])
def test_waiver_spec_errors(tmp_path: Path, body: str, text: str) -> None:
    jobs = job(tmp_path, CSV_DIFF, body)
    with pytest.raises(SpecError, match=text) as info:
        load_job(jobs / "j")
    assert info.value.key is not None and info.value.key.startswith("datasets.d.waivers[0]")


# ---- deltas and gating


def test_baseline_gates_on_regressions_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = job(tmp_path, CSV_DIFF)
    code, base = run_report(jobs, tmp_path / "base")
    assert code == 1 and base["verdict"] == "fail"
    # the same known failure is not a regression
    code, head = run_report(jobs, tmp_path / "head", "--baseline", str(tmp_path / "base"))
    assert code == 0 and head["verdict"] == "fail"
    assert head["delta"]["worse"] == 0
    # one more mismatching value and a string change: worse
    (jobs / "j" / "py.csv").write_text("id,amt,name\n1,1.5,a\n2,2.01,b\n3,3.01,c\n4,4.0,x\n")
    code, head = run_report(jobs, tmp_path / "head2", "--baseline", str(tmp_path / "base"))
    assert code == 1
    worse = [c for c in head["delta"]["changes"] if c["kind"] == "worse"]
    assert {(c["column"], c["check"]) for c in worse} == {("AMT", None), ("NAME", None),
                                                          (None, "string_equality")}
    assert "WORSE" in capsys.readouterr().out
    # fixing everything is better
    (jobs / "j" / "py.csv").write_text("id,amt,name\n1,1.0,a\n2,2.0,b\n3,3.0,c\n4,4.0,d\n")
    code, head = run_report(jobs, tmp_path / "head3", "--baseline", str(tmp_path / "base"))
    assert code == 0 and head["delta"]["better"] >= 2 and head["verdict"] == "pass"


def test_parity_diff_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = job(tmp_path, CSV_DIFF)
    run_report(jobs, tmp_path / "base")
    (jobs / "j" / "py.csv").write_text("id,amt,name\n1,1.0,a\n2,2.01,b\n")
    run_report(jobs, tmp_path / "head")
    capsys.readouterr()
    md = tmp_path / "delta.md"
    code = main(["diff", str(tmp_path / "base"), str(tmp_path / "head" / "j" / "parity.json"), "--markdown",
                 str(md)])
    assert code == 1
    text = md.read_text()
    assert "parity got worse" in text and "| worse | `j/d/key_match` |" in text
    assert main(["diff", str(tmp_path / "base"), str(tmp_path / "base")]) == 0
    assert main(["diff", str(tmp_path / "base"), str(tmp_path / "nope")]) == 2


def test_unknown_schema_version_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = job(tmp_path, CSV_DIFF)
    run_report(jobs, tmp_path / "base")
    path = tmp_path / "base" / "j" / "parity.json"
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    assert main(["diff", str(path), str(path)]) == 2
    assert "schema_version 99 is not supported" in capsys.readouterr().err


def test_example_fixture_with_baseline(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "fixtures" / "premium_rounding", tmp_path / "jobs" / "premium_rounding")
    args = ["run", "premium_rounding", "--jobs-dir", str(tmp_path / "jobs")]
    assert main([*args, "--report-dir", str(tmp_path / "base")]) == 1
    assert main([*args, "--report-dir", str(tmp_path / "head"), "--baseline", str(tmp_path / "base")]) == 0
