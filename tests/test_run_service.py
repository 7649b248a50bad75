"""The run service shared by `parity run` and `pytest --parity`: one declaration of the settings both front ends
take, one rule resolving them, one baseline gate, one way of running a job and publishing a run's reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parity.cli.main import main, run_cmd
from parity.model import JobResult
from parity.report.json import REPORT_FILE, RUNTIME_FIELDS, load_report
from parity.run.service import (
    OPTIONS,
    Baseline,
    gate_fails,
    publish_run,
    resolve_settings,
    run_spec,
)
from parity.spec import ProjectConfig, load_job

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _project(root: Path, baseline: Path | None = None) -> ProjectConfig:
    return ProjectConfig(root=root, jobs_dir=root / "jobs", report_dir=root / "out", baseline=baseline)


class _Parser:
    """Records what the plugin's pytest_addoption declares."""

    def __init__(self) -> None:
        self.options: dict[str, dict[str, Any]] = {}
        self.ini: dict[str, str] = {}

    def getgroup(self, *args: Any) -> _Parser:
        return self

    def addoption(self, name: str, **kwargs: Any) -> None:
        self.options[name] = kwargs

    def addini(self, name: str, help: str, **kwargs: Any) -> None:
        self.ini[name] = help


def test_both_front_ends_declare_the_same_settings() -> None:
    from parity.pytest_plugin.plugin import pytest_addoption

    parser = _Parser()
    pytest_addoption(parser)  # type: ignore[arg-type]
    cli = {p.opts[0] for p in run_cmd.params if p.opts[0].startswith("--")}
    for opt in OPTIONS:
        assert opt.option("cli") in cli
        declared = parser.options[opt.option("pytest")]
        assert declared["dest"] == opt.dest
        assert (declared.get("action") == "store_true") == opt.flag
        assert opt.help.split(" (")[0] in declared["help"]
    assert set(parser.ini) == {o.ini for o in OPTIONS if o.ini}


def test_settings_resolve_command_line_then_ini_then_project(tmp_path: Path) -> None:
    project = _project(tmp_path, baseline=tmp_path / "base" / "parity.json")
    cwd, ini_base = tmp_path / "here", tmp_path / "cfg"
    plain = resolve_settings(project, {}, cwd)
    assert (plain.jobs_dir, plain.report_dir, plain.baseline, plain.accept_relaxed) == (
        (tmp_path / "jobs").resolve(), (tmp_path / "out").resolve(), tmp_path / "base" / "parity.json", False)
    from_ini = resolve_settings(project, {}, cwd, {"jobs_dir": "j", "report_dir": ""}, ini_base)
    assert from_ini.jobs_dir == (ini_base / "j").resolve() and from_ini.report_dir == (tmp_path / "out").resolve()
    given = resolve_settings(project, {"jobs_dir": "../x", "report_dir": "r", "baseline": "b.json",
                                       "accept_relaxed": True}, cwd, {"jobs_dir": "j"}, ini_base)
    assert given.jobs_dir == (tmp_path / "x").resolve() and given.report_dir == (cwd / "r").resolve()
    assert given.baseline == (cwd / "b.json").resolve() and given.accept_relaxed is True


def _strip(data: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in data.items() if k not in RUNTIME_FIELDS}
    data["datasets"] = [{k: v for k, v in d.items() if k not in RUNTIME_FIELDS} for d in data["datasets"]]
    return data


def test_the_cli_writes_what_the_service_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["run", "premium_rounding", "--jobs-dir", str(FIXTURES), "--report-dir", str(tmp_path / "cli")])
    assert code == 1  # the example fails on purpose (SAS ROUND vs Python half-to-even)
    result = run_spec(load_job(FIXTURES / "premium_rounding"))
    published = publish_run(tmp_path / "svc", [result])
    assert published.reports["premium_rounding"] == tmp_path / "svc" / "premium_rounding" / REPORT_FILE
    cli = json.loads((tmp_path / "cli" / "premium_rounding" / REPORT_FILE).read_text(encoding="utf-8"))
    svc = json.loads((tmp_path / "svc" / "premium_rounding" / REPORT_FILE).read_text(encoding="utf-8"))
    assert _strip(cli) == _strip(svc)


def test_the_baseline_gate_in_one_place(tmp_path: Path) -> None:
    result = run_spec(load_job(FIXTURES / "premium_rounding"))
    publish_run(tmp_path / "base", [result])
    gate = Baseline.load(tmp_path / "base")
    assert set(gate.reports) == {"premium_rounding"}
    same = run_spec(load_job(FIXTURES / "premium_rounding"), gate)
    assert same.delta is not None and same.delta["gate"] == "pass" and same.delta["baseline"] == str(gate.path)
    assert not gate_fails([same])
    # a job of the baseline that no longer runs needs approval
    assert gate.removed(["claims_monthly"]) == ["premium_rounding"]
    gone = gate.removed_changes(["claims_monthly"])
    assert [c.kind for c in gone] == ["removed"]
    assert gate_fails([same], gone) and not gate_fails([same], gone, accept_relaxed=True)
    # a loaded report keeps its delta
    publish_run(tmp_path / "head", [same])
    loaded: JobResult = load_report(tmp_path / "head" / "premium_rounding" / REPORT_FILE)
    assert loaded.delta == same.delta
