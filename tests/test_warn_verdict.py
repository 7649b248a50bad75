"""The ``warn`` verdict: roll-up (error > fail > warn > pass), exit 0 everywhere, every renderer, the JSON schema
(schema 3; schema 2 baselines still load), the pytest plugin, ``assert_parity`` and the delta gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.cli.main import main
from parity.errors import ReportError
from parity.model import (
    SCHEMA_VERSION,
    STATUS_RANK,
    VERDICTS,
    CheckResult,
    DatasetResult,
    JobResult,
    job_verdict_of,
    verdict_of,
)
from parity.report.delta import diff_job, diff_reports, gate_fails
from parity.report.html import render_index, render_job
from parity.report.json import load_report
from parity.report.markdown import ReportEntry, render_summary
from tests.helpers import Column, make_job, write_sas7bdat

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())
GOOD = "id,amt,name\n1,1.0,a\n2,2.0,b\n3,3.0,c\n4,4.0,d\n"
#: a DQ rule with severity warn that row 4 breaks (amt 4.0)
WARN_RULE = """
[[datasets.{ds}.quality]]
name = "amt_small"
rule = "amt < 4"
severity = "warn"
"""
CRITICAL_RULE = """
[[datasets.{ds}.quality]]
name = "amt_positive"
rule = "amt > 1"
"""


def sas_file(path: Path) -> None:
    write_sas7bdat(path, [Column("ID", "numeric", [1, 2, 3, 4]), Column("AMT", "numeric", [1.0, 2.0, 3.0, 4.0]),
                          Column("NAME", "string", ["a", "b", "c", "d"])])


def warn_job(root: Path, datasets: dict[str, str], name: str = "j") -> Path:
    """A job of datasets ``d*`` (the same SAS file and Python CSV), each with the extra spec text given."""
    toml = "".join(f'[datasets.{ds}]\nsas = "d.sas7bdat"\npython = "py.csv"\nkeys = ["id"]\n{extra.format(ds=ds)}\n'
                   for ds, extra in datasets.items())
    folder = make_job(root, name, toml, files={"py.csv": GOOD})
    sas_file(folder / "d.sas7bdat")
    return root


def run(jobs: Path, out: Path, *extra: str, job: str = "j") -> tuple[int, dict[str, Any]]:
    code = main(["run", job, "--jobs-dir", str(jobs), "--report-dir", str(out), *extra])
    return code, json.loads((out / job / "parity.json").read_text())


def verdicts(data: dict[str, Any]) -> dict[str, str]:
    return {d["name"]: d["verdict"] for d in data["datasets"]}


def check(name: str, status: str) -> CheckResult:
    return CheckResult(name, status, f"{name} {status}")  # type: ignore[arg-type]


def dataset(name: str, *checks: CheckResult) -> DatasetResult:
    return DatasetResult(name=name, verdict=verdict_of(c.status for c in checks), sas={}, python={},
                         rows={"sas": 4, "python": 4, "matched": 4}, duplicates={}, checks=checks, columns=(),
                         top_diffs={})


def job_result(*datasets: DatasetResult, run: dict[str, Any] | None = None) -> JobResult:
    run = run or {}
    return JobResult(job="j", verdict=job_verdict_of([d.verdict for d in datasets], run), description="",
                     spec={}, datasets=datasets, tool={"name": "parity", "version": "0"}, run=run)


# --------------------------------------------------------------------------------------------------------------
# the roll-up


def test_roll_up_is_error_then_fail_then_warn_then_pass() -> None:
    assert VERDICTS == ("pass", "warn", "fail", "error")
    assert verdict_of([]) == "pass"
    assert verdict_of(["pass", "skipped", "waived"]) == "pass"  # a waived failure is a pass with a waiver
    assert verdict_of(["pass", "warn", "waived", "skipped"]) == "warn"
    assert verdict_of(["warn", "fail"]) == "fail"
    assert verdict_of(["warn", "fail", "error"]) == "error"
    assert verdict_of(["warn", "error"]) == "error"
    assert verdict_of(["pass", "warn"]) == "warn" and verdict_of(["warn", "pass"]) == "warn"  # order free
    assert verdict_of(iter(["pass", "warn"])) == "warn"  # any iterable, once
    # ranks: a warning is worse than a waived failure, better than a failure
    assert STATUS_RANK["pass"] < STATUS_RANK["waived"] < STATUS_RANK["warn"] < STATUS_RANK["fail"] < STATUS_RANK["error"]


def test_job_verdict_from_datasets_and_a_stale_capture() -> None:
    assert job_verdict_of(["pass", "warn"], {}) == "warn"
    assert job_verdict_of(["warn", "fail"], {}) == "fail"
    assert job_verdict_of(["pass", "pass"], {"capture": {"status": "verified"}}) == "pass"
    assert job_verdict_of(["pass", "pass"], {"capture": {"status": "stale"}}) == "warn"
    assert job_verdict_of(["fail"], {"capture": {"status": "stale"}}) == "fail"  # a warning never hides a failure
    assert job_verdict_of(["pass"], {"capture": "stale"}) == "pass"  # not a capture record


def test_one_warn_dataset_and_one_pass_dataset_make_a_warn_job(tmp_path: Path) -> None:
    jobs = warn_job(tmp_path / "jobs", {"d1": WARN_RULE, "d2": ""})
    code, data = run(jobs, tmp_path / "out")
    assert code == 0
    assert verdicts(data) == {"d1": "warn", "d2": "pass"} and data["verdict"] == "warn"
    quality = next(c for c in data["datasets"][0]["checks"] if c["name"] == "quality")
    assert quality["status"] == "warn" and quality["details"]["rules"][0]["failing_rows"] == 1


def test_warn_and_fail_make_a_fail_job_and_a_warn_dataset_with_a_failure_fails(tmp_path: Path) -> None:
    jobs = warn_job(tmp_path / "jobs", {"d1": WARN_RULE, "d2": CRITICAL_RULE, "d3": WARN_RULE + CRITICAL_RULE})
    code, data = run(jobs, tmp_path / "out")
    assert code == 1
    assert verdicts(data) == {"d1": "warn", "d2": "fail", "d3": "fail"} and data["verdict"] == "fail"


def test_a_waived_failure_stays_a_pass(tmp_path: Path) -> None:
    waiver = ('[[datasets.{ds}.waivers]]\ncheck = "quality"\nreason = "known"\napprover = "A. Owner"\n'
              'expires = 2999-01-01\n')
    jobs = warn_job(tmp_path / "jobs", {"d": CRITICAL_RULE + waiver})
    code, data = run(jobs, tmp_path / "out")
    statuses = {c["name"]: c["status"] for c in data["datasets"][0]["checks"]}
    assert statuses["quality"] == "waived" and statuses["waivers"] == "pass"
    assert code == 0 and data["verdict"] == "pass"
    assert "PASS (WAIVED)" in render_job(load_report(tmp_path / "out" / "j")).upper()


def test_a_check_waiver_accepts_a_warning_too(tmp_path: Path) -> None:
    """An approved warning is a pass with a waiver, not a stale waiver next to a warning that is still there."""
    waiver = ('[[datasets.{ds}.waivers]]\ncheck = "quality"\nreason = "amounts above 4 are reviewed"\n'
              'approver = "A. Owner"\nexpires = 2999-01-01\n')
    jobs = warn_job(tmp_path / "jobs", {"d": WARN_RULE + waiver})
    code, data = run(jobs, tmp_path / "out")
    checks = {c["name"]: c for c in data["datasets"][0]["checks"]}
    assert checks["quality"]["status"] == "waived" and checks["quality"]["summary"].startswith("(waived: amounts")
    assert checks["waivers"]["status"] == "pass" and checks["waivers"]["details"]["waivers"][0]["state"] == "active"
    assert code == 0 and data["verdict"] == "pass"
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "pass (waived)" in summary and "### Warnings" not in summary


def test_information_is_not_a_warning() -> None:
    """Rows in another order without sort_by pass (order is not part of the contract), with the order noted."""
    from parity.api import compare_frames

    sas = pl.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 3.0]})
    result = compare_frames(sas, sas.reverse(), keys=["id"])
    order = result.check("sort_order")
    assert order is not None and order.status == "pass" and order.details["inversions"] == 2
    assert "for information" in order.summary
    assert result.verdict == "pass"
    assert compare_frames(sas, sas.reverse(), keys=["id"], sort_by=["id"]).verdict == "fail"  # declared: fails


# --------------------------------------------------------------------------------------------------------------
# CLI, JSON, HTML, Markdown, terminal


def test_cli_exits_0_on_warn_and_every_output_shows_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jobs = warn_job(tmp_path / "jobs", {"d": WARN_RULE})
    capsys.readouterr()
    code, data = run(jobs, tmp_path / "out")
    out = capsys.readouterr().out
    assert code == 0 and data["verdict"] == "warn" and data["schema_version"] == SCHEMA_VERSION == 3
    jsonschema.validate(data, SCHEMA)
    # terminal: the verdict, the warning check in the table, and its line
    assert "WARN" in out and "quality (warn)" in out and "amt_small" in out
    # the saved report loads (schema and self-consistency) and re-renders, exit 0
    result = load_report(tmp_path / "out" / "j")
    assert result.verdict == "warn"
    assert main(["render", str(tmp_path / "out" / "j")]) == 0
    # HTML: the banner and the badges in the warn colour, the verdict text, the finding
    html = (tmp_path / "out" / "j" / "parity.html").read_text()
    assert 'class="banner st-warn"' in html and ">warn</div>" in html
    assert "with warnings: see the findings" in html and "amt_small" in html
    assert ".banner.st-warn" in html  # the style exists, so the banner is coloured
    index = (tmp_path / "out" / "index.html").read_text()
    assert 'class="banner st-warn"' in index and "d: quality (warn)" in index
    # summary.md: the verdict, the tally and the warning listed
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert summary.startswith("## parity: ⚠️ warn") and "1 job(s): 1 warn." in summary
    assert "### Warnings" in summary and "**quality**" in summary
    assert "### Failing checks" not in summary


def test_a_run_of_a_warn_job_and_a_pass_job_warns_and_exits_0(tmp_path: Path) -> None:
    jobs = warn_job(tmp_path / "jobs", {"d": WARN_RULE}, name="w")
    warn_job(jobs, {"d": ""}, name="p")
    code = main(["run", "--all", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "out")])
    assert code == 0
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert summary.startswith("## parity: ⚠️ warn") and "2 job(s): 1 pass, 1 warn." in summary
    # a failing job still wins
    warn_job(jobs, {"d": CRITICAL_RULE}, name="f")
    assert main(["run", "--all", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "out2")]) == 1


def test_html_index_and_markdown_render_warn_from_the_model() -> None:
    result = job_result(dataset("a", check("schema", "pass")), dataset("b", check("attributes", "warn")))
    assert result.verdict == "warn"
    html = render_job(result)
    assert 'class="banner st-warn"' in html and "badge st-warn" in html
    entry = ReportEntry(Path("r/j/parity.json"), result, has_html=True)
    assert 'class="banner st-warn"' in render_index([entry])
    assert "⚠️ warn" in render_summary([entry])


def test_assert_parity_passes_on_warn_and_emits_the_warning() -> None:
    from parity.assertion import ParityWarning, assert_parity

    sas = pl.DataFrame({"id": [1, 2], "paid": [1.0, -2.0]})
    with pytest.warns(ParityWarning, match="quality: 1 warning of 1 DQ rule"):
        result = assert_parity(sas, sas, keys=["id"], quality=[{"name": "p", "rule": "paid >= 0", "severity": "warn"}])
    assert result.verdict == "warn"
    with pytest.raises(AssertionError, match="FAIL"):
        assert_parity(sas, sas, keys=["id"], quality=[{"name": "p", "rule": "paid >= 0"}])


# --------------------------------------------------------------------------------------------------------------
# the pytest plugin


def test_plugin_passes_warn_items_with_a_visible_warning_and_exits_0(pytester: pytest.Pytester) -> None:
    warn_job(pytester.path / "fixtures", {"d": WARN_RULE}, name="w")
    result = pytester.runpytest("--parity", "w", "-p", "no:cacheprovider")
    assert result.ret == 0
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["warnings"] == 1
    result.stdout.fnmatch_lines([
        "*ParityWarning: w/d quality: 1 warning of 1 DQ rule (amt_small: 1 row)*",
        "w  WARN   1 dataset, 1 warn  report reports/w/parity.json",
    ])
    assert json.loads((pytester.path / "reports" / "w" / "parity.json").read_text())["verdict"] == "warn"


def test_plugin_stale_capture_warns_the_job_and_against_a_baseline_fails_its_schema_items(
        pytester: pytest.Pytester) -> None:
    from tests.test_capture import PROGRAM, FakeSession, claims, do_capture, job, summary

    folder = job(pytester.path)  # pytester.path/jobs/claims_job
    do_capture(folder, FakeSession(pytester.path / "remote", {"claims": claims(), "summary": summary()}))
    base = pytester.runpytest("--parity", "claims_job", "--parity-jobs-dir=jobs", "--parity-report-dir=base",
                              "-p", "no:cacheprovider")
    assert base.ret == 0 and "claims_job  PASS" in base.stdout.str()
    (folder / "sas" / "job.sas").write_text(PROGRAM + "/* changed */\n")
    stale = pytester.runpytest("--parity", "claims_job", "--parity-jobs-dir=jobs", "--parity-report-dir=head",
                               "-p", "no:cacheprovider")
    assert stale.ret == 0  # a warning: every item passes
    stale.stdout.fnmatch_lines(["claims_job  WARN *", "*WARN stale capture: the SAS program sas/job.sas changed*"])
    gated = pytester.runpytest("--parity", "claims_job", "--parity-jobs-dir=jobs", "--parity-report-dir=gated",
                               "--parity-baseline=base", "-p", "no:cacheprovider", "-rf")
    assert gated.ret == 1  # worse than the baseline: each dataset's schema item carries the job-wide change
    assert gated.parseoutcomes()["failed"] == 2
    gated.stdout.fnmatch_lines(["*WORSE claims_job: stale capture, not in the baseline*"])
    failed = sorted(line.split()[1] for line in gated.stdout.lines if line.startswith("FAILED "))
    assert failed == ["jobs/claims_job/parity.toml::claims::schema", "jobs/claims_job/parity.toml::summary::schema"]


# --------------------------------------------------------------------------------------------------------------
# the delta and the gate


def test_delta_pass_to_warn_is_worse_and_warn_to_fail_is_worse(tmp_path: Path) -> None:
    contract = ('ignore = ["extra"]\n[datasets.d.contract]\nextra_columns = "allow"\n'
                '[datasets.d.contract.columns]\nid = "integer"\namt = "float"\nname = "string"\n')
    jobs = warn_job(tmp_path / "jobs", {"d": contract})
    # the port writes a column the contract does not declare, allowed in the baseline
    (jobs / "j" / "py.csv").write_text("id,amt,name,extra\n1,1.0,a,x\n2,2.0,b,x\n3,3.0,c,x\n4,4.0,d,x\n")
    code, base = run(jobs, tmp_path / "base")
    assert code == 0 and base["verdict"] == "pass"
    toml = jobs / "j" / "parity.toml"
    # a tighter contract (not a relaxation): extra columns now warn, the verdict is warn
    toml.write_text(toml.read_text().replace('extra_columns = "allow"', 'extra_columns = "warn"'))
    assert main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "plain")]) == 0  # no baseline
    code, head = run(jobs, tmp_path / "warn", "--baseline", str(tmp_path / "base"))
    assert head["verdict"] == "warn" and verdicts(head) == {"d": "warn"}
    assert code == 1 and head["delta"]["gate"] == "fail"  # pass -> warn is worse than the baseline
    worse = [c for c in head["delta"]["changes"] if c["kind"] == "worse"]
    assert any(c["check"] == "contract" and c["what"].startswith("pass -> warn") for c in worse), worse
    assert not [c for c in head["delta"]["changes"] if c["kind"] == "relaxed"]
    # warn -> fail: the contract now fails extra columns
    toml.write_text(toml.read_text().replace('extra_columns = "warn"', 'extra_columns = "fail"'))
    code, failed = run(jobs, tmp_path / "fail", "--baseline", str(tmp_path / "warn"))
    assert code == 1 and failed["verdict"] == "fail"
    worse = [c for c in failed["delta"]["changes"] if c["kind"] == "worse"]
    assert any(c["check"] == "contract" and c["what"].startswith("warn -> fail") for c in worse), worse


def test_delta_statuses_between_warn_waived_and_pass() -> None:
    def diff(b: str, h: str) -> list[str]:
        return [f"{c.kind}: {c.what}" for c in diff_job(job_result(dataset("d", check("key_uniqueness", b))),
                                                         job_result(dataset("d", check("key_uniqueness", h))))]

    assert diff("pass", "warn") == ["worse: pass -> warn: key_uniqueness warn"]
    assert diff("warn", "fail") == ["worse: warn -> fail: key_uniqueness fail"]
    assert diff("waived", "warn") == ["worse: waived -> warn: key_uniqueness warn"]  # a waived pass now warns
    assert diff("warn", "pass") == ["better: warn -> pass: key_uniqueness pass"]
    assert diff("fail", "warn") == ["better: fail -> warn: key_uniqueness warn"]
    assert diff("warn", "waived")[0].startswith("relaxed")  # a waiver accepting it needs approval
    assert diff("warn", "warn") == []


def test_a_new_dataset_that_warns_is_new_not_worse() -> None:
    base = job_result(dataset("a", check("schema", "pass")))
    head = job_result(dataset("a", check("schema", "pass")), dataset("b", check("attributes", "warn")))
    (change,) = diff_job(base, head)
    assert change.kind == "new" and change.what == "new dataset (warn)"
    assert not gate_fails([change])
    failing = job_result(dataset("a", check("schema", "pass")), dataset("b", check("schema", "fail")))
    assert [c.kind for c in diff_job(base, failing)] == ["worse"]


def test_a_stale_capture_warns_the_job_and_is_worse_in_a_delta() -> None:
    stale = {"capture": {"status": "stale", "warnings": ["stale capture: the SAS program sas/job.sas changed"]}}
    verified = {"capture": {"status": "verified", "warnings": []}}
    base = job_result(dataset("d", check("schema", "pass")), run=verified)
    head = job_result(dataset("d", check("schema", "pass")), run=stale)
    assert (base.verdict, head.verdict) == ("pass", "warn")
    (change,) = diff_job(base, head)
    assert change.kind == "worse" and "stale capture" in change.what and gate_fails([change])
    (back,) = diff_job(head, base)
    assert back.kind == "better"
    assert diff_job(head, head) == []


def test_a_stale_capture_run_warns_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_capture import PROGRAM, FakeSession, claims, do_capture, job, summary

    folder = job(tmp_path)
    do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}))
    code, base = run(tmp_path / "jobs", tmp_path / "base", job="claims_job")
    assert code == 0 and base["verdict"] == "pass"
    (folder / "sas" / "job.sas").write_text(PROGRAM + "/* changed */\n")
    capsys.readouterr()
    code, head = run(tmp_path / "jobs", tmp_path / "head", job="claims_job")
    assert code == 0 and head["verdict"] == "warn" and set(verdicts(head).values()) == {"pass"}
    assert "WARN" in capsys.readouterr().out
    load_report(tmp_path / "head" / "claims_job")  # consistent: the capture explains the job's warn
    html = (tmp_path / "head" / "claims_job" / "parity.html").read_text()
    assert 'class="banner st-warn"' in html and "makes the verdict at least warn" in html
    assert "capture: stale (warn)" in (tmp_path / "head" / "index.html").read_text()
    code, gated = run(tmp_path / "jobs", tmp_path / "gated", "--baseline", str(tmp_path / "base"), job="claims_job")
    assert code == 1 and any("stale capture" in c["what"] for c in gated["delta"]["changes"] if c["kind"] == "worse")


# --------------------------------------------------------------------------------------------------------------
# schema versions: a schema 2 report (no warn verdict) still loads


def as_schema_2(data: dict[str, Any]) -> dict[str, Any]:
    """The report a parity of schema 2 would have written: warnings passed."""
    old = json.loads(json.dumps(data))
    old["schema_version"] = 2
    for ds in old["datasets"]:
        ds["verdict"] = "pass" if ds["verdict"] == "warn" else ds["verdict"]
    old["verdict"] = "pass" if old["verdict"] == "warn" else old["verdict"]
    return old


def test_a_schema_2_baseline_still_loads_and_gates(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jobs = warn_job(tmp_path / "jobs", {"d1": WARN_RULE, "d2": ""})
    run(jobs, tmp_path / "base")
    path = tmp_path / "base" / "j" / "parity.json"
    old = as_schema_2(json.loads(path.read_text()))
    assert verdicts(old) == {"d1": "pass", "d2": "pass"}  # d1's quality check warns, as schema 2 wrote it
    jsonschema.validate(old, SCHEMA)
    path.write_text(json.dumps(old))
    loaded = load_report(path)
    assert loaded.schema_version == 2 and loaded.verdict == "pass"  # kept as written
    assert main(["render", str(path)]) == 0
    # as a baseline: the same run is not worse (the delta compares check statuses, not verdicts)
    code, head = run(jobs, tmp_path / "head", "--baseline", str(tmp_path / "base"))
    assert code == 0 and head["verdict"] == "warn" and head["delta"]["worse"] == 0
    assert diff_reports({"j": loaded}, {"j": load_report(tmp_path / "head" / "j")}) == []


def test_a_report_whose_verdict_contradicts_its_schema_version_is_refused(tmp_path: Path) -> None:
    jobs = warn_job(tmp_path / "jobs", {"d": WARN_RULE})
    run(jobs, tmp_path / "out")
    path = tmp_path / "out" / "j" / "parity.json"
    data = json.loads(path.read_text())
    bad = tmp_path / "bad.json"
    # schema 3: a warning check with a pass verdict (a tampered report) is refused
    tampered = json.loads(json.dumps(data))
    tampered["datasets"][0]["verdict"] = "pass"
    bad.write_text(json.dumps(tampered))
    with pytest.raises(ReportError, match="has verdict 'pass' but its checks give 'warn'"):
        load_report(bad)
    # schema 2 had no warn verdict
    old = json.loads(json.dumps(data))
    old["schema_version"] = 2
    bad.write_text(json.dumps(old))
    with pytest.raises(ReportError, match="has verdict 'warn' but its checks give 'pass'"):
        load_report(bad)
    # older and newer schemas are refused with what to do
    for version in (1, 4):
        bad.write_text(json.dumps({**data, "schema_version": version}))
        with pytest.raises(ReportError, match=f"schema_version {version} is not supported.*reads versions 2 and 3"):
            load_report(bad)
    bad.write_text(json.dumps({**data, "schema_version": 3.0}))
    with pytest.raises(ReportError, match=r"schema_version 3\.0 is not supported"):
        load_report(bad)


def test_example_jobs_keep_their_documented_verdicts(tmp_path: Path) -> None:
    """README: claims_monthly passes (its warn DQ rule holds), premium_rounding fails on purpose."""
    jobs = tmp_path / "jobs"
    for name in ("claims_monthly", "premium_rounding"):
        shutil.copytree(ROOT / "fixtures" / name, jobs / name)
    assert main(["run", "--all", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "out")]) == 1
    got = {name: json.loads((tmp_path / "out" / name / "parity.json").read_text())["verdict"]
           for name in ("claims_monthly", "premium_rounding")}
    assert got == {"claims_monthly": "pass", "premium_rounding": "fail"}
