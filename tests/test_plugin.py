"""The pytest plugin (``pytest --parity JOB``), ``parity.assert_parity`` and the compact failure text.

Plugin runs use pytester: each test builds a small project (the example jobs copied in, or jobs written with
``make_job``) and runs pytest on it, in-process unless the test needs a fresh interpreter.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from parity.model import CHECK_NAMES, CheckResult, DatasetResult, JobResult
from parity.report.text import check_text, dataset_text, diff_table, format_number, hints, key_figures
from tests.helpers import Column, make_job, write_sas7bdat

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
EXAMPLES = ("claims_monthly", "premium_rounding")
CHECKS = len(CHECK_NAMES)  # items per dataset
#: a conftest that logs every job run and every report written, with the process that did it
COUNTING_CONFTEST = """
    import parity.report.publish
    import parity.run.runner

    LOG = {log!r}
    _saved = {{}}


    def _log(line):
        with open(LOG, "a", encoding="utf-8") as fh:
            fh.write(line + " " + _saved["process"] + "\\n")


    def pytest_configure(config):
        _saved["process"] = getattr(config, "workerinput", {{}}).get("workerid", "controller")
        run_job, publish = parity.run.runner.run_job, parity.report.publish.publish
        _saved.update(run_job=run_job, publish=publish)

        def counting_run(job, *args, **kwargs):
            _log("run " + job.name)
            return run_job(job, *args, **kwargs)

        def counting_publish(report_dir, results, *args, **kwargs):
            for result in results:
                _log("report " + result.job)
            return publish(report_dir, results, *args, **kwargs)

        parity.run.runner.run_job = counting_run
        parity.report.publish.publish = counting_publish


    def pytest_unconfigure(config):
        parity.run.runner.run_job = _saved["run_job"]
        parity.report.publish.publish = _saved["publish"]
"""


@pytest.fixture(scope="module", autouse=True)
def _warm_engine() -> None:
    """Run the example jobs once in this process before any in-process pytester run.

    An in-process run drops the modules it imported when it ends.  polars, pyreadstat and numpy import submodules
    lazily (and numpy's C extension cannot be imported twice), so a second run would mix fresh classes with
    cached ones.  Importing everything here first keeps every run on the same modules.
    """
    import pandas  # noqa: F401  (to_pandas and the pandas paths of the loaders)

    from parity.run.runner import run_job
    from parity.spec import load_job

    for name in EXAMPLES:
        run_job(load_job(FIXTURES / name))


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs are plain pytest runs, also when this suite itself runs under pytest-xdist."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def examples(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project holding the two example jobs in fixtures/ (the default jobs folder)."""
    for name in EXAMPLES:
        shutil.copytree(FIXTURES / name, pytester.path / "fixtures" / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def lit(text: str) -> str:
    """``text`` as an fnmatch pattern that matches itself ([, * and ? taken literally)."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in text)


def counting(pytester: pytest.Pytester) -> Path:
    log = pytester.path / "calls.log"
    pytester.makeconftest(textwrap.dedent(COUNTING_CONFTEST.format(log=str(log))))
    return log


def calls(log: Path) -> Counter[str]:
    return Counter(log.read_text(encoding="utf-8").splitlines()) if log.exists() else Counter()


def small_job(root: Path, name: str, toml: str, csv: str, sas: dict[str, list[float | str | None]]) -> Path:
    folder = make_job(root, name, toml, files={"d.csv": csv})
    cols = [Column(col, "string" if any(isinstance(v, str) for v in vals) else "numeric", vals)
            for col, vals in sas.items()]
    write_sas7bdat(folder / "d.sas7bdat", cols)
    return folder


# --------------------------------------------------------------------------------------------------------------
# inert without --parity


def test_inert_and_cheap_without_the_option(examples: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded through the pytest11 entry point, the plugin imports no data library and collects nothing."""
    examples.makepyfile(test_probe="""
        import sys

        def test_probe(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("parity")  # the entry point's name
            heavy = sorted(m for m in ("polars", "pyreadstat", "pandas") if m in sys.modules)
            assert heavy == [], heavy
    """)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only this plugin: others may import anything
    result = examples.runpytest_subprocess("-p", "parity")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["collected 1 item"])
    assert "parity 0.1.0:" not in result.stdout.str()  # no header line either


def test_options_are_listed_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    for option in ("--parity=JOB", "--parity-jobs-dir", "--parity-report-dir", "--parity-baseline",
                   "parity_jobs_dir", "parity_report_dir"):
        result.stdout.fnmatch_lines([f"*{option}*"])


def test_no_items_no_reports_without_the_option(examples: pytest.Pytester) -> None:
    examples.makepyfile(test_one="def test_one():\n    pass\n")
    result = examples.runpytest()
    result.assert_outcomes(passed=1)
    assert not (examples.path / "reports").exists()
    assert "== parity ==" not in result.stdout.str()


def test_baseline_gates_on_regressions_only(examples: pytest.Pytester) -> None:
    from parity.cli.main import main

    base = examples.path / "base"
    assert main(["run", "--all", "--jobs-dir", str(examples.path / "fixtures"), "--report-dir", str(base)]) == 1
    # the known rounding failure of premium_rounding is in the baseline: it passes, with a warning
    result = examples.runpytest("--parity", "all", "--parity-baseline=base", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3 * CHECKS - 8, skipped=8, warnings=1)  # contract/quality: claims only
    result.stdout.fnmatch_lines(["*baseline base*", "*fails as in the baseline (not a regression)*"])
    report = json.loads((examples.path / "reports" / "premium_rounding" / "parity.json").read_text())
    assert report["delta"]["worse"] == 0
    # make the port worse: every premium one cent off -> more mismatches -> a regression
    port = examples.path / "fixtures" / "premium_rounding" / "port.py"
    port.write_text(port.read_text() + "\n_run = run\n\ndef run(**kw):\n    out = _run(**kw)\n"
                    "    import polars as pl\n    frame = out['premiums'] if isinstance(out, dict) else out\n"
                    "    frame = frame.with_columns(pl.col('annual_premium') + 0.01)\n"
                    "    return {'premiums': frame}\n")
    result = examples.runpytest("--parity", "premium_rounding", "--parity-baseline=base", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=CHECKS - 4, skipped=3)
    result.stdout.fnmatch_lines(["*premiums::numeric_tolerance*", "*delta vs baseline: * worse*",
                                 "*WORSE premiums*annual_premium*"])


def test_bad_baseline_is_a_usage_error(examples: pytest.Pytester) -> None:
    result = examples.runpytest("--parity", "all", "--parity-baseline=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--parity-baseline*nope*"])


# --------------------------------------------------------------------------------------------------------------
# selection, node ids, header


def test_node_ids_one_item_per_dataset_and_check(examples: pytest.Pytester) -> None:
    result = examples.runpytest("--parity", "all", "--co", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert len(ids) == 3 * CHECKS
    assert "fixtures/claims_monthly/parity.toml::claims::numeric_tolerance" in ids
    assert "fixtures/claims_monthly/parity.toml::summary::schema" in ids
    assert "fixtures/premium_rounding/parity.toml::premiums::top_n_diffs" in ids
    assert ids[:CHECKS] == [f"fixtures/claims_monthly/parity.toml::claims::{c}" for c in (
        "schema", "attributes", "row_count", "key_uniqueness", "key_match", "numeric_tolerance", "date_equivalence",
        "string_equality", "sort_order", "contract", "quality", "top_n_diffs", "waivers")]


def test_select_one_job_and_header_line(examples: pytest.Pytester) -> None:
    result = examples.runpytest("--parity", "premium_rounding", "--co")
    result.stdout.fnmatch_lines(["parity 0.1.0: jobs premium_rounding | jobs dir fixtures | report dir reports",
                                 f"*{CHECKS} tests collected*"])
    all_jobs = examples.runpytest("--parity", "all", "--co")
    all_jobs.stdout.fnmatch_lines(["parity 0.1.0: jobs claims_monthly premium_rounding |*"])
    repeated = examples.runpytest("--parity", "premium_rounding", "--parity", "claims_monthly,premium_rounding",
                                  "--co", "-q")
    assert sum("::" in line for line in repeated.outlines) == 3 * CHECKS  # each job once


def test_unknown_job_and_empty_jobs_folder_are_usage_errors(examples: pytest.Pytester) -> None:
    result = examples.runpytest("--parity", "premium_roundin")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no job 'premium_roundin'*Did you mean 'premium_rounding'?*"])
    empty = examples.runpytest("--parity", "all", "--parity-jobs-dir=nothing_here")
    assert empty.ret == pytest.ExitCode.USAGE_ERROR
    empty.stderr.fnmatch_lines(["*--parity all: no jobs*nothing_here*"])


def test_jobs_and_report_dirs_from_ini_tool_parity_and_command_line(pytester: pytest.Pytester) -> None:
    for folder in ("from_ini", "from_tool", "from_cli"):
        shutil.copytree(FIXTURES / "premium_rounding", pytester.path / folder / f"job_{folder}")
    pytester.makepyprojecttoml("""
        [tool.parity]
        jobs_dir = "from_tool"
        report_dir = "reports_tool"
    """)
    tool = pytester.runpytest("--parity", "all", "--co")
    tool.stdout.fnmatch_lines(["parity 0.1.0: jobs job_from_tool | jobs dir from_tool | report dir reports_tool",
                               f"*{CHECKS} tests collected*"])
    pytester.makepyprojecttoml("""
        [tool.parity]
        jobs_dir = "from_tool"
        report_dir = "reports_tool"

        [tool.pytest.ini_options]
        parity_jobs_dir = "from_ini"
        parity_report_dir = "reports_ini"
    """)
    ini = pytester.runpytest("--parity", "all", "-k", "schema")
    ini.assert_outcomes(passed=1)
    ini.stdout.fnmatch_lines(["parity 0.1.0: jobs job_from_ini | jobs dir from_ini | report dir reports_ini"])
    assert (pytester.path / "reports_ini" / "job_from_ini" / "parity.json").is_file()
    cli = pytester.runpytest("--parity", "all", "-k", "schema", "--parity-jobs-dir=from_cli",
                             "--parity-report-dir=reports_cli")
    cli.assert_outcomes(passed=1)
    assert (pytester.path / "reports_cli" / "job_from_cli" / "parity.json").is_file()


def test_jobs_next_to_the_users_tests(examples: pytest.Pytester) -> None:
    """Given test paths, the user's tests and the parity items run together; node ids stay the same."""
    examples.makeini("[pytest]\ntestpaths = mytests\n")
    examples.mkdir("mytests").joinpath("test_mine.py").write_text("def test_mine():\n    pass\n")
    result = examples.runpytest("--parity", "claims_monthly", "mytests", "--co", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids[0] == "mytests/test_mine.py::test_mine"
    assert ids[1] == "fixtures/claims_monthly/parity.toml::claims::schema"
    assert len(ids) == 1 + 2 * CHECKS


def test_a_node_id_on_the_command_line_runs_only_that_item(examples: pytest.Pytester) -> None:
    result = examples.runpytest("--parity", "all", "fixtures/premium_rounding/parity.toml::premiums::schema")
    result.assert_outcomes(passed=1)
    folder = examples.runpytest("--parity", "all", "fixtures/claims_monthly", "--co", "-q")
    assert sum("::" in line for line in folder.outlines) == 2 * CHECKS
    named = examples.runpytest("--parity", "claims_monthly", "fixtures/premium_rounding/parity.toml", "--co", "-q")
    assert next(line for line in named.outlines if "::" in line).startswith("fixtures/premium_rounding/parity.toml")
    assert sum("::" in line for line in named.outlines) == CHECKS  # the spec file named on the command line


# --------------------------------------------------------------------------------------------------------------
# outcomes on the example jobs


def test_example_jobs_outcomes_failure_text_reports_and_summary(examples: pytest.Pytester) -> None:
    log = counting(examples)
    result = examples.runpytest("--parity", "all", "-rs")
    # claims_monthly: 2 datasets pass (waivers and string_equality of summary skip); premium_rounding fails
    # numeric_tolerance only
    result.assert_outcomes(passed=30, failed=1, skipped=8)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*_ premium_rounding::premiums::numeric_tolerance _*",
        "13 mismatches in 1 column of 3; worst annual_premium: 13 of 400, max abs diff 0.01 (rounding_half_even)",
        "  worst differences (5 of 13, largest first):",
        "    policy_id  column  * SAS  * Python  * diff",
        "    POL* annual_premium  2*.*  2*.*  -0.01",
        "*try: in the port use polars .round(2, mode='half_away_from_zero')*",
        "*try: only if a difference this size is acceptable, widen the tolerance: annual_premium = "
        + lit('{ method = "absolute", criterion = 0.02 } in [datasets.premiums.tolerance]'),
        "  full report: reports/premium_rounding/parity.json",
    ])
    assert "Traceback" not in out and "parity/pytest_plugin/plugin.py" not in out and "runtest" not in out
    # the terminal summary: jobs, verdicts, report paths
    result.stdout.fnmatch_lines([
        "*= parity =*",
        "claims_monthly    PASS   2 datasets  report reports/claims_monthly/parity.json",
        "premium_rounding  FAIL   1 dataset, 1 fail (premiums:numeric_tolerance)  report "
        "reports/premium_rounding/parity.json",
    ])
    result.stdout.fnmatch_lines([lit("SKIPPED [1] fixtures/claims_monthly/parity.toml:") + "*"
                                 + lit(": waivers: no known differences registered")])
    for job, verdict in (("claims_monthly", "pass"), ("premium_rounding", "fail")):
        data = json.loads((examples.path / "reports" / job / "parity.json").read_text())
        assert JobResult.from_dict(data).verdict == verdict
        assert (examples.path / "reports" / job / "parity.html").is_file()  # what `parity run` writes too
    assert (examples.path / "reports" / "index.html").is_file()
    assert (examples.path / "reports" / "summary.md").is_file()
    # each job ran once for its 10-20 items, and its report was written once
    assert calls(log) == Counter({f"{kind} {job} controller": 1 for kind in ("run", "report") for job in EXAMPLES})


def test_unwritable_report_dir_is_a_usage_error_before_any_test(examples: pytest.Pytester) -> None:
    (examples.path / "blocked").write_text("a file where the report folder should be", encoding="utf-8")
    log = counting(examples)
    result = examples.runpytest("--parity", "premium_rounding", "--parity-report-dir=blocked", "-k", "schema")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*parity: report folder *blocked cannot be created: *blocked is a file*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert not calls(log)  # no job ran: no work is wasted


def test_keyword_selection(examples: pytest.Pytester) -> None:
    by_check = examples.runpytest("--parity", "all", "-k", "numeric_tolerance")
    by_check.assert_outcomes(passed=2, failed=1)
    by_job = examples.runpytest("--parity", "all", "-k", "premium_rounding and not numeric", "--co", "-q")
    assert sum("::" in line for line in by_job.outlines) == CHECKS - 1
    by_dataset = examples.runpytest("--parity", "all", "-k", "summary and schema")
    by_dataset.assert_outcomes(passed=1)
    by_marker = examples.runpytest("--parity", "all", "-m", "parity", "--co", "-q")
    assert sum("::" in line for line in by_marker.outlines) == 3 * CHECKS


def test_last_failed_runs_only_the_failed_item_and_only_its_job(examples: pytest.Pytester) -> None:
    examples.runpytest("--parity", "all").assert_outcomes(passed=30, failed=1, skipped=8)
    log = counting(examples)
    again = examples.runpytest("--parity", "all", "--lf")
    outcomes = again.parseoutcomes()
    assert outcomes["failed"] == 1 and "passed" not in outcomes and outcomes["deselected"] >= CHECKS - 1
    assert calls(log) == Counter({"run premium_rounding controller": 1, "report premium_rounding controller": 1})


def test_exitfirst_stops_at_the_first_failure(examples: pytest.Pytester) -> None:
    result = examples.runpytest("--parity", "premium_rounding", "-x")
    result.assert_outcomes(passed=5, failed=1)


def test_junit_xml_carries_key_figures(examples: pytest.Pytester) -> None:
    examples.runpytest("--parity", "premium_rounding", "--junitxml=junit.xml")
    tree = ET.parse(examples.path / "junit.xml")
    cases = {c.get("name"): c for c in tree.iter("testcase")}
    assert len(cases) == CHECKS
    props = {p.get("name"): p.get("value") for p in cases["numeric_tolerance"].iter("property")}
    assert props["status"] == "fail"
    assert props["rows_sas"] == "400" and props["rows_python"] == "400" and props["rows_matched"] == "400"
    assert props["mismatches"] == "13"
    assert float(props["max_abs_diff"] or 0) == pytest.approx(0.01)
    assert props["report"] == "reports/premium_rounding/parity.json"
    failure = cases["numeric_tolerance"].find("failure")
    assert failure is not None and (failure.get("message") or "").startswith("13 mismatches")
    key_match = {p.get("name"): p.get("value") for p in cases["key_match"].iter("property")}
    assert key_match["status"] == "pass" and key_match["only_in_sas"] == "0"


def test_xdist_compares_each_job_at_most_once_per_worker_and_writes_one_report(examples: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    log = counting(examples)
    result = examples.runpytest("--parity", "all", "-n", "2", "-p", "no:benchmark")
    result.assert_outcomes(passed=30, failed=1, skipped=8)
    seen = calls(log)
    runs = [line for line in seen if line.startswith("run ")]
    assert all(seen[line] == 1 for line in runs)  # at most once per job per worker
    assert all(line.split()[2].startswith("gw") for line in runs)  # the controller compares nothing
    assert {line for line in seen if line.startswith("report ")} == {
        f"report {job} controller" for job in EXAMPLES}  # only the controller writes, one report per job
    assert all(seen[f"report {job} controller"] == 1 for job in EXAMPLES)
    assert result.stdout.str().count("= parity =") == 1
    result.stdout.fnmatch_lines(["premium_rounding  FAIL*report reports/premium_rounding/parity.json"])
    data = json.loads((examples.path / "reports" / "premium_rounding" / "parity.json").read_text())
    assert [c["status"] for c in data["datasets"][0]["checks"] if c["name"] == "numeric_tolerance"] == ["fail"]


def test_xdist_loadfile_keeps_each_job_on_one_worker(examples: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    log = counting(examples)
    examples.runpytest("--parity", "all", "-n", "2", "--dist", "loadfile", "-p", "no:benchmark").assert_outcomes(
        passed=30, failed=1, skipped=8)
    runs = [line for line in calls(log).elements() if line.startswith("run ")]
    assert sorted(line.split()[1] for line in runs) == sorted(EXAMPLES)  # each job compared exactly once


# --------------------------------------------------------------------------------------------------------------
# spec errors, load errors, warnings


def test_spec_error_is_a_collection_error_naming_file_and_key(pytester: pytest.Pytester) -> None:
    small_job(pytester.path / "fixtures", "bad", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "d.csv"
        tolerance = { x = { method = "relatve" } }
    """, "id,x\n1,1.0\n", {"ID": [1.0], "X": [1.0]})
    result = pytester.runpytest("--parity", "bad")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*ERROR collecting fixtures/bad/parity.toml*",
        "parity job 'bad': */fixtures/bad/parity.toml: [[]datasets.d.tolerance.x.method[]] must be one of exact, "
        "absolute, relative, percent; got 'relatve'",
    ])
    assert "Traceback" not in result.stdout.str()


def test_spec_error_found_at_run_time_fails_the_jobs_items(pytester: pytest.Pytester) -> None:
    small_job(pytester.path / "fixtures", "badkey", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "d.csv"
        keys = ["nope"]
    """, "id,x\n1,1.0\n", {"ID": [1.0], "X": [1.0]})
    result = pytester.runpytest("--parity", "badkey")
    result.assert_outcomes(failed=CHECKS)
    result.stdout.fnmatch_lines(["badkey: the job could not run",
                                 "*[[]datasets.d.keys[]] column 'nope' is not in the SAS file*",
                                 "badkey  ERROR  could not run: *"])


def test_dataset_that_cannot_load_fails_its_items_with_the_error(pytester: pytest.Pytester) -> None:
    folder = small_job(pytester.path / "fixtures", "broken", """
        [datasets.bad]
        sas = "bad.sas7bdat"
        python = "d.csv"
        [datasets.good]
        sas = "d.sas7bdat"
        python = "d.csv"
        keys = ["id"]
    """, "id,x\n1,1.0\n", {"ID": [1.0], "X": [1.0]})
    (folder / "bad.sas7bdat").write_bytes(b"\x00" * 4096)
    result = pytester.runpytest("--parity", "broken", "-rf")
    result.assert_outcomes(failed=CHECKS, passed=8, skipped=5)
    result.stdout.fnmatch_lines(["broken/bad could not be compared: *bad.sas7bdat: cannot read this SAS file*"])
    assert result.stdout.str().count("FAILED fixtures/broken/parity.toml::bad::") == CHECKS
    data = json.loads((pytester.path / "reports" / "broken" / "parity.json").read_text())
    assert data["verdict"] == "error"


def test_warning_check_passes_with_a_warning_that_can_be_made_an_error(pytester: pytest.Pytester) -> None:
    small_job(pytester.path / "fixtures", "dq", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "d.csv"
        keys = ["id"]
        [[datasets.d.quality]]
        name = "x_small"
        rule = "x < 3"
        severity = "warn"
    """, "id,x\n1,1.0\n2,2.0\n3,3.0\n", {"ID": [1.0, 2.0, 3.0], "X": [1.0, 2.0, 3.0]})
    result = pytester.runpytest("--parity", "dq")
    result.assert_outcomes(passed=9, skipped=4, warnings=1)
    result.stdout.fnmatch_lines([
        "fixtures/dq/parity.toml::d::quality",
        "*fixtures/dq/parity.toml:2: ParityWarning: dq/d quality: 1 warning of 1 DQ rule (x_small: 1 row)*",
        "dq  WARN   1 dataset, 1 warn  report reports/dq/parity.json",
    ])
    assert result.ret == 0
    strict = pytester.runpytest("--parity", "dq", "-W", "error::parity.assertion.ParityWarning")
    strict.assert_outcomes(passed=8, skipped=4, failed=1)
    strict.stdout.fnmatch_lines(["dq/d quality: 1 warning of 1 DQ rule*made an error by a warnings filter*"])


def test_informational_check_never_fails(pytester: pytest.Pytester) -> None:
    small_job(pytester.path / "fixtures", "diffs", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "d.csv"
        keys = ["id"]
    """, "id,x\n1,1.5\n", {"ID": [1.0], "X": [1.0]})
    result = pytester.runpytest("--parity", "diffs", "-k", "top_n_diffs or numeric_tolerance", "-rfP")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*_ diffs::d::top_n_diffs _*", "*Captured parity call*",
                                 "1 value difference(s) listed*", "    1   X       1    1.5     +0.5"])
    result.stdout.fnmatch_lines(["FAILED fixtures/diffs/parity.toml::d::numeric_tolerance - 1 mismatch in 1*"])


# --------------------------------------------------------------------------------------------------------------
# parity_job fixture and assert_parity


def test_parity_job_fixture_shares_the_run_with_the_items(examples: pytest.Pytester) -> None:
    log = counting(examples)
    examples.makepyfile(test_custom="""
        def test_claims(parity_job):
            result = parity_job("claims_monthly")
            assert result.verdict == "pass"
            assert [d.name for d in result.datasets] == ["claims", "summary"]
            assert parity_job("claims_monthly") is result

        def test_unknown(parity_job):
            parity_job("claims_montly")
    """)
    result = examples.runpytest("--parity", "claims_monthly", "test_custom.py")
    result.assert_outcomes(passed=1 + 21, failed=1, skipped=5)  # test_custom.py and the job's 26 items
    result.stdout.fnmatch_lines(["*no job 'claims_montly'*Did you mean 'claims_monthly'?*"])
    assert calls(log) == Counter({"run claims_monthly controller": 1, "report claims_monthly controller": 1})


def test_parity_job_fixture_without_the_option(examples: pytest.Pytester) -> None:
    examples.makepyfile(test_custom="""
        def test_premium(parity_job):
            result = parity_job("premium_rounding")
            (ds,) = result.datasets
            assert ds.check("numeric_tolerance").status == "fail"
    """)
    result = examples.runpytest()
    result.assert_outcomes(passed=1)
    assert (examples.path / "reports" / "premium_rounding" / "parity.json").is_file()
    result.stdout.fnmatch_lines(["premium_rounding  FAIL*"])


def test_assert_parity_in_a_users_test(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "data"
    folder.mkdir()
    write_sas7bdat(folder / "sas.sas7bdat", [Column("ID", "numeric", [1.0, 2.0]), Column("AMT", "numeric",
                                                                                          [10.0, 20.25])])
    (folder / "py.csv").write_text("id,amt\n1,10.0\n2,20.24\n", encoding="utf-8")
    pytester.makepyfile(test_mine="""
        import parity
        import polars as pl

        def test_paths():
            parity.assert_parity("data/sas.sas7bdat", "data/py.csv", keys=["id"])

        def test_frames_pass():
            sas = pl.DataFrame({"id": [1, 2], "amt": [10.0, 20.25]})
            result = parity.assert_parity(sas, sas.to_pandas(), keys=["id"])
            assert result.verdict == "pass"

        def test_tolerance_accepts():
            parity.assert_parity("data/sas.sas7bdat", "data/py.csv", keys=["id"],
                                 tolerance={"amt": {"method": "absolute", "criterion": 0.02}})

        def test_bad_argument():
            parity.assert_parity("data/sas.sas7bdat", "data/py.csv", keys=["id"],
                                 tolerance={"amt": {"method": "relatve"}})
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        ">       " + lit('parity.assert_parity("data/sas.sas7bdat", "data/py.csv", keys=["id"])'),
        "E       AssertionError: parity data: FAIL (numeric_tolerance; rows SAS 2, Python 2, matched 2)",
        "*worst differences (1 of 1, largest first):",
        "E           ID  column  SAS    Python  diff",
        "E           2   AMT     20.25  20.24   -0.01",
        "*try: only if a difference this size is acceptable, widen the tolerance: "
        "tolerance={'AMT': {'method': 'absolute', 'criterion': 0.02}}",
    ])
    result.stdout.fnmatch_lines(["E       parity.errors.SpecError: *[[]datasets.data.tolerance.amt.method[]] must be one "
                                 "of exact*"])
    out = result.stdout.str()
    assert "parity/api.py" not in out and "parity/engine/core.py" not in out and "parity/assertion.py" not in out


def test_assert_parity_returns_the_result_and_warns(recwarn: pytest.WarningsRecorder) -> None:
    pl = pytest.importorskip("polars")
    import parity
    from parity.assertion import ParityWarning

    sas = pl.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 3.0]})
    assert parity.assert_parity(sas, sas.reverse(), keys=["id"]).verdict == "pass"  # another order: information
    assert not [w for w in recwarn if issubclass(w.category, ParityWarning)]
    result = parity.assert_parity(sas, sas, keys=["id"], quality=[{"name": "small", "rule": "x < 3", "severity": "warn"}])
    assert isinstance(result, DatasetResult) and result.verdict == "warn"  # a warn verdict passes the assertion
    (warning,) = [w for w in recwarn if issubclass(w.category, ParityWarning)]
    assert "data quality: 1 warning of 1 DQ rule (small: 1 row)" in str(warning.message)
    assert warning.filename == __file__  # points at the caller, not at parity
    with pytest.raises(AssertionError, match=r"(?s)string_equality.*worst differences"):
        parity.assert_parity(sas.with_columns(s=pl.lit("a")), sas.with_columns(s=pl.lit("b")), keys=["id"])


# --------------------------------------------------------------------------------------------------------------
# the text helpers (pure)


def _value_dataset() -> DatasetResult:
    cells = [
        {"key": {"id": 7}, "column": "amt", "kind": "numeric", "sas": 1.5, "python": 1.25, "sas_text": "1.5",
         "python_text": "1.25", "diff": -0.25, "abs_diff": 0.25},
        {"key": {"id": 3}, "column": "amt", "kind": "numeric", "sas": 2.0, "python": 2.125, "sas_text": "2",
         "python_text": "2.125", "diff": 0.125, "abs_diff": 0.125},
        {"key": {"id": 3}, "column": "name", "kind": "string", "sas": "Ann", "python": "ANN", "sas_text": "'Ann'",
         "python_text": "'ANN'"},
    ]
    numeric = CheckResult("numeric_tolerance", "fail", "2 mismatches in 1 column of 1", {"columns": [
        {"column": "amt", "mismatches": 2, "waived": 0, "compared": 9, "max_abs_diff": 0.25,
         "explanations": [{"code": "constant_offset", "message": "all the same", "hint": "look for a constant"}]}]})
    strings = CheckResult("string_equality", "fail", "1 mismatch", {"columns": [
        {"column": "name", "mismatches": 1, "waived": 0, "compared": 9, "max_abs_diff": None, "explanations": []}]})
    keys = CheckResult("key_match", "fail", "8 rows matched by key; 1 only in SAS, 0 only in Python", {
        "only_in_sas": 1, "only_in_python": 0, "sample_only_in_sas": [{"id": 99}], "sample_only_in_python": [],
        "paired_by": "key"})
    return DatasetResult(
        name="d", verdict="fail", sas={}, python={}, rows={"sas": 10, "python": 9, "matched": 9},
        duplicates={}, checks=(numeric, strings, keys, CheckResult("top_n_diffs", "pass", "listed")),
        columns=(), top_diffs={"by_abs": cells[:2], "by_rel": [], "first_by_key": [cells[1], cells[2], cells[0]]},
        keys=("id",))


def test_check_text_table_hints_and_report() -> None:
    ds = _value_dataset()
    text = check_text(ds, ds.checks[0], job="j", report="reports/j/parity.json")
    assert text.splitlines()[:2] == ["j/d numeric_tolerance: FAIL", "  2 mismatches in 1 column of 1"]
    assert "    id  column  SAS  Python  diff" in text
    assert "    7   amt     1.5  1.25    -0.25" in text
    assert "    3   amt     2    2.125   +0.125" in text
    assert "try: look for a constant (constant_offset)" in text
    assert 'amt = { method = "absolute", criterion = 0.3 } in [datasets.d.tolerance]' in text
    assert text.endswith("full report: reports/j/parity.json")
    untitled = check_text(ds, ds.checks[0], title=False)
    assert untitled.splitlines()[0] == "2 mismatches in 1 column of 1"
    strings = check_text(ds, ds.checks[1])
    assert "3   name    'Ann'  'ANN'   -" in strings and "amt" not in strings  # only this check's columns
    assert "only in SAS: (id=99)" in check_text(ds, ds.checks[2])


def test_dataset_text_lists_failing_checks_not_informational_ones() -> None:
    text = dataset_text(_value_dataset(), style="api")
    assert text.splitlines()[0] == ("parity d: FAIL (numeric_tolerance, string_equality, key_match; rows SAS 10, "
                                    "Python 9, matched 9)")
    assert "top_n_diffs" not in text
    assert "tolerance={'amt': {'method': 'absolute', 'criterion': 0.3}}" in text


def test_hints_for_schema_and_sort_order() -> None:
    ds = _value_dataset()
    schema = CheckResult("schema", "fail", "x", {"sas_only": ["AMT_OLD"], "python_only": ["amt_new"]})
    assert hints(ds, schema)[0] == 'if a column was renamed in the port, map it: rename = { AMT_OLD = "amt_new" } ' \
                                   "in [datasets.d] in parity.toml"
    assert "rename={'AMT_OLD': 'amt_new'}" in hints(ds, schema, "api")[0]
    order = CheckResult("sort_order", "fail", "x", {"sort_by": ["id", "DESCENDING amt"]})
    assert hints(ds, order)[0].startswith("sort the Python output by id DESCENDING amt")


def test_key_figures_and_formatting() -> None:
    ds = _value_dataset()
    figures = dict(key_figures(ds, "numeric_tolerance"))
    assert figures == {"status": "fail", "rows_sas": 10, "rows_python": 9, "rows_matched": 9,
                       "columns_compared": 1, "mismatches": 2, "max_abs_diff": 0.25}
    assert dict(key_figures(ds, "key_match"))["only_in_sas"] == 1
    assert format_number(0.010000000000218279) == "0.01"
    assert format_number(123456) == "123,456"
    assert format_number(float("nan")) == "nan"
    assert diff_table([]) == []
    positional = diff_table([{"key": {"obs": 4}, "column": "x", "sas_text": "1", "python_text": "2", "diff": 1}])
    assert positional[0].split() == ["obs", "column", "SAS", "Python", "diff"]
    assert positional[1].split() == ["4", "x", "1", "2", "+1"]
