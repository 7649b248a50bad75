"""The HTML report, the run index, the Markdown summary, ``parity render`` and the run's provenance."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from parity.cli.main import main
from parity.model import CheckResult, ColumnResult, DatasetResult, JobResult
from parity.report.html import histogram, render_index, render_job
from parity.report.json import dumps, load_report, strip_runtime
from parity.report.markdown import ReportEntry, find_reports, md_text, render_summary
from parity.run.provenance import ENV_ALLOW_LIST, allowed_env, collect, git_info

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())
EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
#: a payload that changes the DOM if it ever runs or is parsed as markup (the browser test looks for it)
PWN = "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','1')\">"
SECRET = "s3cr3t-value-that-must-never-leak"


def diff(key: str, column: str, sas: Any, python: Any) -> dict[str, Any]:
    d = python - sas if isinstance(sas, float) and isinstance(python, float) else None
    return {"key": {"id": key}, "column": column, "kind": "numeric" if d is not None else "string", "sas": sas,
            "python": python, "sas_text": str(sas), "python_text": str(python), "diff": d,
            "abs_diff": abs(d) if d is not None else None, "rel_diff": abs(d / sas) if d is not None and sas else None}


def tricky_result(job: str = "tricky") -> JobResult:
    """A job touching every part of the page: hostile strings everywhere data can reach, an unknown check status,
    a waived check, a load error, a delta, and run fields this renderer does not know."""
    explanation = {"code": "rounding_half_even", "rows": 3, "share": 0.75, "analysed": 4,
                   "message": f"halves rounded to even {EVIL}", "hint": f"use half away from zero {PWN}"}
    amount = ColumnResult(
        name="amount", sas_name="amount", python_name="amount", kind="numeric", method="absolute",
        criterion=0.005, compared=10, mismatches=4, max_abs_diff=0.5, max_rel_diff=0.01, status="compared",
        sas_type={"type": "numeric", "length": 8, "format": "COMMA12.2", "label": f"Amount {EVIL}"},
        python_type="Float64", explanations=(explanation,), waived=1)
    evil_col = ColumnResult(
        name=EVIL, sas_name=EVIL, python_name=PWN, kind="string", method="sas_string_rules", criterion=None,
        compared=10, mismatches=1, max_abs_diff=None, max_rel_diff=None, status="compared",
        sas_type={"type": "character", "length": 20, "format": None, "label": PWN}, python_type="String",
        note=f"note {EVIL}")
    key = ColumnResult(name="id", sas_name="id", python_name="id", kind="string", method=None, criterion=None,
                       compared=0, mismatches=0, max_abs_diff=None, max_rel_diff=None, status="key")
    odd = ColumnResult(name="odd", sas_name="odd", python_name=None, kind="numeric", method=None, criterion=None,
                       compared=0, mismatches=0, max_abs_diff=None, max_rel_diff=None, status="quarantined_col")
    top = [diff("k1", "amount", 10.5, 10.0), diff("k2", "amount", 1.25, 1.5), diff("k3", "amount", 2.0, 1.99),
           diff("k4", "amount", 7.0, 7.01), diff(EVIL, EVIL, EVIL, PWN)]
    checks = (
        CheckResult("schema", "pass", "4 columns", {"sas_only": []}),
        CheckResult("row_count", "quarantined", f"an unknown status {EVIL}", {"why": EVIL}),
        CheckResult("numeric_tolerance", "fail", f"4 mismatches {EVIL}", {"columns": [{"column": EVIL}]}),
        CheckResult("string_equality", "waived", "(waived: known) 1 mismatch", {}),
        CheckResult("sort_order", "warn", "not in SAS order", {}),
        CheckResult("key_uniqueness", "skipped", "no keys", {}),
        CheckResult("waivers", "pass", "1 waiver active", {"waivers": [
            {"column": "amount", "check": None, "keys": [{"id": "k1"}], "max_abs_diff": None, "reason": EVIL,
             "approver": PWN, "expires": "2099-01-01", "matched": 1, "state": "active"}]}),
    )
    side = {"source": f"/data/{EVIL}.sas7bdat", "sha256": "a" * 64, "rows": 10, "columns": 4, "format": "sas7bdat",
            "label": EVIL, "encoding": "UTF-8", "created": "2024-01-01T00:00:00", "sas_release": "9.0401M5",
            "host": EVIL, "compression": "none", "table_name": EVIL}
    good = DatasetResult(
        name=f"ds{EVIL}", verdict="fail", sas=side, python={"source": "port:run -> ds", "rows": 10,
                                                                  "format": "callable"},
        rows={"sas": 10, "python": 10, "matched": 10, "only_in_sas": 0, "only_in_python": 0},
        duplicates={"sas": {"rows": 0, "keys": 0}, "python": {"rows": 0, "keys": 0}}, checks=checks,
        columns=(key, amount, evil_col, odd), top_diffs={"by_abs": top, "by_rel": top, "first_by_key": top},
        keys=("id",), duration_s=0.5)
    broken = DatasetResult(
        name="broken", verdict="error", sas={}, python={}, rows={"sas": None, "python": None, "matched": None,
                                                               "only_in_sas": None, "only_in_python": None},
        duplicates={"sas": {"rows": None, "keys": None}, "python": {"rows": None, "keys": None}},
        checks=(CheckResult("load", "error", f"cannot read {EVIL}", {}),), columns=(), top_diffs={},
        error=f"cannot read {EVIL}")
    return JobResult(
        job=job, verdict="error", description=f"desc {EVIL} {PWN}", spec={"path": f"/x/{EVIL}", "sha256": "b" * 64},
        datasets=(good, broken), tool={"name": "parity", "version": "0.1.0"},
        run={"started_at": "2024-01-01T00:00:00+00:00", "duration_s": 1.5, "environment": {"python": EVIL},
             "ci": {"PARITY_IMAGE": EVIL}, "git": {"commit": "c" * 40, "branch": EVIL, "dirty": True},
             "sources": [{"role": "sas", "dataset": "ds", "path": EVIL, "bytes": 12, "sha256": "a" * 64}],
             "future_field": {"x": EVIL}},
        error=None,
        delta={"baseline": EVIL, "worse": 1, "better": 0, "new": 0, "removed": 0, "mystery": EVIL, "changes": [
            {"kind": "worse", "job": job, "dataset": "ds", "check": "numeric_tolerance", "column": None,
             "what": EVIL, "base": "pass", "head": "fail"},
            {"kind": "sideways", "job": job, "dataset": None, "check": None, "column": None, "what": "?"}]},
    )


def run_examples(report_dir: Path, *extra: str) -> int:
    return main(["run", "--all", "--jobs-dir", str(FIXTURES), "--report-dir", str(report_dir), *extra])


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    assert run_examples(out) == 1  # premium_rounding fails by design
    return out


# ---------------------------------------------------------------------------------------------------------------
# the pages of a real run


def test_run_writes_html_index_and_summary(examples: Path) -> None:
    for job in ("claims_monthly", "premium_rounding"):
        assert (examples / job / "parity.json").is_file()
        assert (examples / job / "parity.html").is_file()
    assert (examples / "index.html").is_file() and (examples / "summary.md").is_file()
    assert not list(examples.rglob("*.tmp"))


def test_failing_job_page_shows_verdict_sections_and_explanation(examples: Path) -> None:
    page = (examples / "premium_rounding" / "parity.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert '<header class="banner st-fail"' in page
    for section in ("Data Set Summary", "Variables Summary", "Observation Summary", "Values Comparison Summary",
                    "Variables with Unequal Values", "Value Comparison Results", "Provenance", "Findings"):
        assert f">{section}" in page, section
    assert "rounding_half_even" in page and "half_away_from_zero" in page  # the explanation's code and hint
    assert 'id="col-annual_premium"' in page and "<svg class=\"hist\"" in page
    assert "POL185329" in page  # the first unequal value by key is listed
    # self-contained: no external resources of any kind
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@media print" in page and "data-js-ok" in page


def test_passing_job_page(examples: Path) -> None:
    page = (examples / "claims_monthly" / "parity.html").read_text()
    assert '<header class="banner st-pass"' in page
    assert "Every check passed" in page and "None: every compared value is equal." in page


def test_index_lists_every_report_with_links(examples: Path) -> None:
    page = (examples / "index.html").read_text()
    assert 'href="./claims_monthly/parity.html"' in page and 'href="./premium_rounding/parity.json"' in page
    assert '<header class="banner st-fail"' in page and "rounding_half_even" in page


def test_summary_markdown(examples: Path) -> None:
    text = (examples / "summary.md").read_text()
    assert text.startswith("## parity: ❌ fail")
    assert "| `premium_rounding` | `premiums` | ❌ fail | 400 / 400 / 400 |" in text
    assert "**numeric_tolerance**: 13 mismatches" in text
    assert "`rounding_half_even` explains 13 of 13 unequal values" in text and "*Hint:*" in text
    assert len(text) < 4000  # short enough for a PR comment


def test_html_and_summary_depend_only_on_the_model(examples: Path) -> None:
    result = load_report(examples / "premium_rounding" / "parity.json")
    assert render_job(result) == render_job(JobResult.from_dict(json.loads(dumps(result))))
    other = replace(result, run={**result.run, "started_at": "1999-01-01T00:00:00+00:00"})
    assert render_job(other) != render_job(result)  # run fields are shown ...
    assert strip_runtime(other.to_dict()) == strip_runtime(result.to_dict())  # ... and are the only change


# ---------------------------------------------------------------------------------------------------------------
# escaping and tolerance


def test_everything_from_data_is_escaped() -> None:
    page = render_job(tricky_result())
    assert EVIL not in page and PWN not in page
    assert EVIL_ESCAPED in page
    assert page.count("<script") == 1  # parity's own, and no data inside it
    script = page[page.index("<script>"):page.index("</script>")]
    assert "alert" not in script and "tricky" not in script
    assert "<img" not in page


def test_unknown_statuses_are_neutral_and_every_part_renders() -> None:
    page = render_job(tricky_result())
    assert '<span class="badge st-other">quarantined</span>' in page
    assert '<span class="badge st-waived">waived</span>' in page
    assert '<span class="badge st-warn">warn</span>' in page
    assert '<span class="badge st-skipped">skipped</span>' in page
    assert '<header class="banner st-error"' in page
    assert "Could not compare this dataset" in page  # the load error
    assert 'id="delta"' in page and "ch-worse" in page and "ch-other" in page  # unknown change kind: neutral
    assert "run: future_field" in page  # run fields from a newer parity are still shown
    assert "Known differences (waivers)" in page
    assert "quarantined_col" in page


def test_hostile_job_folder_names_cannot_become_links_to_scripts(tmp_path: Path) -> None:
    name = "javascript:alert(1)"
    entry = ReportEntry(tmp_path / name / "parity.json", tricky_result(name))
    (tmp_path / name).mkdir()
    (tmp_path / name / "parity.html").write_text("x")
    page = render_index([entry, ReportEntry(tmp_path / EVIL / "parity.json", None, f"unreadable {EVIL}")])
    assert 'href="./javascript%3Aalert%281%29/parity.html"' in page
    assert 'href="javascript' not in page and EVIL not in page and EVIL_ESCAPED in page


def test_summary_escapes_markdown_and_html() -> None:
    text = render_summary([ReportEntry(Path("r/tricky/parity.json"), tricky_result())])
    assert EVIL not in text and PWN not in text and "&lt;script&gt;" in text
    assert md_text("a|b") == "a\\|b" and md_text("rounding_half_even") == "rounding_half_even"
    assert "🛑 error" in text and "worse" in text


def test_histogram_geometry() -> None:
    assert histogram([]) is None and histogram([float("nan")]) is None
    h = histogram([-1.0, -0.5, 0.0, 0.5, 2.0])
    assert h is not None and sum(b["n"] for b in h["bars"]) == 5 and h["zero_x"] is not None
    assert all(0 <= b["y"] <= h["base_y"] and b["h"] >= 0 for b in h["bars"])
    single = histogram([-0.010000000000218279, -0.009999999999990905])  # float noise is one value
    assert single is not None and single["single"] and single["bars"][0]["n"] == 2


# ---------------------------------------------------------------------------------------------------------------
# parity render


def test_render_command(examples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "saved" / "parity.json"
    src.parent.mkdir()
    shutil.copy(examples / "premium_rounding" / "parity.json", src)
    assert main(["render", str(src)]) == 0
    assert (src.parent / "parity.html").read_text() == render_job(load_report(src))
    assert main(["render", str(src), "-o", str(tmp_path / "out" / "x.html")]) == 0
    assert (tmp_path / "out" / "x.html").is_file()
    assert "wrote" in capsys.readouterr().out


def test_render_refuses_unknown_schema_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tricky_result().to_dict()
    data["schema_version"] = 999
    src = tmp_path / "parity.json"
    src.write_text(json.dumps(data))
    assert main(["render", str(src)]) == 2
    err = capsys.readouterr().err
    assert "schema_version 999 is not supported" in err and "re-run the job" in err
    assert not (tmp_path / "parity.html").exists()
    assert main(["render", str(tmp_path / "missing.json")]) == 2


def test_index_survives_unreadable_reports(examples: Path, tmp_path: Path) -> None:
    shutil.copytree(examples, tmp_path / "r")
    (tmp_path / "r" / "old").mkdir()
    (tmp_path / "r" / "old" / "parity.json").write_text(json.dumps({"tool": {"name": "parity"}, "schema_version": 0}))
    entries = find_reports(tmp_path / "r")
    assert [e.folder.name for e in entries] == ["claims_monthly", "old", "premium_rounding"]
    assert "schema_version 0 is not supported" in render_index(entries)
    assert "schema\\_version 0" in render_summary(entries) or "schema_version 0" in render_summary(entries)


# ---------------------------------------------------------------------------------------------------------------
# provenance


def test_provenance_in_the_report(examples: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads((examples / "premium_rounding" / "parity.json").read_text())
    jsonschema.validate(data, SCHEMA)
    run = data["run"]
    assert {"started_at", "finished_at", "duration_s", "environment", "sources"} <= run.keys()
    assert {"parity", "python", "polars", "pyreadstat", "pandas", "numpy"} <= run["environment"].keys()
    roles = {s["role"]: s for s in run["sources"]}
    assert {"spec", "python_module", "sas", "python", "input"} <= roles.keys()
    sas = roles["sas"]
    assert sas["bytes"] == Path(sas["path"]).stat().st_size and len(sas["sha256"]) == 64
    assert roles["spec"]["sha256"] == data["spec"]["sha256"]
    page = (examples / "premium_rounding" / "parity.html").read_text()
    assert sas["sha256"] in page and f"{sas['bytes']:,}" in page and run["environment"]["polars"] in page


def test_only_allow_listed_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {"SECRET_TOKEN": SECRET, "AWS_SECRET_ACCESS_KEY": SECRET, "PARITY_IMAGE": "registry/parity:1.2",
           "PARITY_IMAGE_DIGEST": "sha256:" + "d" * 64, "GITHUB_SHA": "e" * 40, "HOME": "/root"}
    assert allowed_env(env) == {"PARITY_IMAGE": "registry/parity:1.2", "PARITY_IMAGE_DIGEST": "sha256:" + "d" * 64,
                                "GITHUB_SHA": "e" * 40}
    assert allowed_env({"PARITY_IMAGE": "x" * 1000 + "\x1b[31m"})["PARITY_IMAGE"] == "x" * 200
    assert set(SCHEMA["properties"]["run"]["properties"]["ci"]["propertyNames"]["enum"]) == set(ENV_ALLOW_LIST)
    # end to end: a secret in the environment appears in no output file
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "reports"
    assert run_examples(out) == 1
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"parity.json", "parity.html", "index.html", "summary.md"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert SECRET not in text and "SECRET_TOKEN" not in text and "AWS_SECRET" not in text, path
    data = json.loads((out / "premium_rounding" / "parity.json").read_text())
    assert data["run"]["ci"] == {"PARITY_IMAGE": "registry/parity:1.2", "PARITY_IMAGE_DIGEST": "sha256:" + "d" * 64,
                                 "GITHUB_SHA": "e" * 40}
    assert "registry/parity:1.2" in (out / "premium_rounding" / "parity.html").read_text()


def test_git_provenance(tmp_path: Path) -> None:
    assert git_info(tmp_path) is None  # not a work tree
    assert "git" not in collect(cwd=tmp_path, environ={})
    assert "ci" not in collect(cwd=tmp_path, environ={})
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    cmds = [["init", "-q", "-b", "release/1.0"], ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                                                  "--allow-empty", "-m", "x"]]
    for cmd in cmds:
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, capture_output=True, timeout=30)
    info = git_info(repo)
    assert info is not None and re.fullmatch(r"[0-9a-f]{40}", info["commit"])
    assert info["branch"] == "release/1.0" and info["dirty"] is False


# ---------------------------------------------------------------------------------------------------------------
# packaging


def test_templates_ship_as_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["parity"]
    templates = resources.files("parity.report") / "templates"
    names = [p.name for p in templates.iterdir() if p.name.endswith(".j2")]
    assert {"job.html.j2", "index.html.j2", "_base.html.j2"} <= set(names)
    for name in names:
        assert any(fnmatch.fnmatch(f"report/templates/{name}", g) for g in globs), name
