"""Publishing a run's reports as a whole, loading reports that may be tampered with, and the report folder itself.

- a run is published as a whole: a run killed (SIGKILL) at any dangerous point leaves the old or the new run,
  whole, and the next run recovers; index.html and summary.md always describe this run, also when a job errors;
- every reader of reports (load_report, delta.load_reports, find_reports, ``parity render``, ``parity diff``,
  ``parity run --baseline``) refuses a bad report with a ReportError / exit 2 naming the file: fuzzed with
  hundreds of mutations of a real report;
- a report folder that cannot be created or written is exit 2 before any job runs.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import parity.report.publish as pub
from parity.cli.main import main
from parity.errors import ReportError
from parity.model import JobResult
from parity.report import delta
from parity.report.html import render_index, render_job
from parity.report.json import REPORT_FILE, dumps, load_report
from parity.report.markdown import find_reports, render_summary
from parity.report.schema import ANNOTATIONS, KEYWORDS, _keywords, _unusual, first_error, report_schema
from parity.run.runner import run_job
from parity.spec import load_job

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
JOBS = ("claims_monthly", "premium_rounding")
HIDDEN = (pub.NEW, pub.OLD, pub.JOURNAL)

pytest_plugins = ["pytester"]


def _job_copy(dest: Path, job: str, description: str, criterion: str | None = None) -> Path:
    folder = dest / job
    shutil.copytree(FIXTURES / job, folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec = folder / "parity.toml"
    text = spec.read_text(encoding="utf-8")
    text = text.replace('description = "', f'description = "{description} ', 1)
    if criterion is not None:  # premium_rounding passes with a two-cent tolerance
        text = text.replace("criterion = 0.005 }", f"criterion = {criterion} }}")
    spec.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[JobResult]]:
    """Two runs of the example jobs, told apart by their descriptions: OLD all pass, NEW premium_rounding fails."""
    out: dict[str, list[JobResult]] = {}
    for tag, criterion in (("OLD", "0.02"), ("NEW", None)):
        jobs = tmp_path_factory.mktemp(f"jobs-{tag}")
        out[tag] = [run_job(load_job(_job_copy(jobs, job, tag, criterion))) for job in JOBS]
    assert [r.verdict for r in out["OLD"]] == ["pass", "pass"]
    assert [r.verdict for r in out["NEW"]] == ["pass", "fail"]
    return out


def tag_of_folder(folder: Path) -> str:
    """OLD or NEW: which run a job folder holds; its parity.json and parity.html must agree."""
    data = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    tag = data["description"].split()[0]
    assert f"{tag} " in (folder / "parity.html").read_text(encoding="utf-8"), f"{folder}: JSON and HTML differ"
    return str(tag)


def tag_of_pages(report_dir: Path) -> str:
    summary = (report_dir / "summary.md").read_text(encoding="utf-8")
    index = (report_dir / "index.html").read_text(encoding="utf-8")
    tag = "OLD" if summary.startswith("## parity: ✅ pass") else "NEW"
    assert summary.startswith("## parity: ✅ pass" if tag == "OLD" else "## parity: ❌ fail"), summary[:80]
    assert f">{tag} " in index and f">{'NEW' if tag == 'OLD' else 'OLD'} " not in index
    return tag


def assert_whole(report_dir: Path, tag: str) -> None:
    """Every job folder and both pages are of run ``tag``, and nothing a publication stages is left."""
    assert {tag_of_folder(report_dir / job) for job in JOBS} == {tag}
    assert tag_of_pages(report_dir) == tag
    left = [p.name for p in report_dir.rglob("*") if p.name.startswith(HIDDEN) or p.name.endswith(".tmp")]
    assert not left, left


def publish_saved(report_dir: Path, results: list[JobResult]) -> pub.Publication:
    return pub.publish(report_dir, results)


# ---------------------------------------------------------------------------------------------------------------
# 6. a run is published as a whole


KILLER = """
import sys, time
from pathlib import Path
import parity.report.publish as pub
from parity.report.json import load_report

point, marker, report_dir, *reports = sys.argv[1:]

def pause(at):
    if at == point:
        Path(marker).write_text(at)
        time.sleep(120)

pub._checkpoint = pause
pub.publish(Path(report_dir), [load_report(Path(r)) for r in reports])
"""


def _saved(tmp_path: Path, results: list[JobResult], tag: str) -> list[Path]:
    paths = []
    for r in results:
        path = tmp_path / "saved" / tag / r.job / REPORT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(r), encoding="utf-8")
        paths.append(path)
    return paths


def kill_at(point: str, argv: list[str], marker: Path, env: dict[str, str] | None = None) -> None:
    """Run ``argv`` until it reaches ``point`` (it writes ``marker``), then SIGKILL it."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before {point}: {proc.stderr.read().decode() if proc.stderr else ''}")
            assert time.monotonic() < deadline, f"never reached {point}"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


#: where a kill leaves which run once recovered: before the journal is written the old run, after it the new one
POINTS = [("staged", "OLD"), ("committed", "NEW"), ("aside:claims_monthly", "NEW"),
          ("swapped:claims_monthly", "NEW"), ("aside:premium_rounding", "NEW"), ("pages", "NEW")]


@pytest.mark.parametrize(("point", "after"), POINTS)
def test_sigkill_at_any_point_leaves_a_whole_run(runs: dict[str, list[JobResult]], tmp_path: Path, point: str,
                                                  after: str) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    assert_whole(reports, "OLD")
    marker = tmp_path / "paused"
    kill_at(point, [sys.executable, "-c", KILLER, point, str(marker), str(reports),
                    *map(str, _saved(tmp_path, runs["NEW"], "NEW"))], marker)
    # killed: every job is whole somewhere (its folder, or set aside beside a whole staged folder), and readers
    # of the folder never mistake staging for reports
    for job in JOBS:
        copies = [p for p in reports.iterdir() if p.is_dir() and (p.name == job or p.name.endswith(f"-{job}"))]
        assert copies and all(tag_of_folder(p) in ("OLD", "NEW") for p in copies)
    assert sorted(e.folder.name for e in find_reports(reports)) == sorted(
        j for j in JOBS if (reports / j).is_dir())
    # the next run recovers first
    pub.prepare(reports)
    assert_whole(reports, after)
    loaded = delta.load_reports(reports)
    assert sorted(loaded) == sorted(JOBS)


def test_sigkill_of_parity_run_between_the_renames_then_the_next_run_recovers(tmp_path: Path) -> None:
    """End to end: ``parity run --all`` killed while a job folder is set aside; the next run finds it whole."""
    jobs, reports = tmp_path / "jobs", tmp_path / "reports"
    for job in JOBS:
        _job_copy(jobs, job, "OLD", "0.02")
    argv = ["run", "--all", "--jobs-dir", str(jobs), "--report-dir", str(reports)]
    assert main(argv) == 0
    assert_whole(reports, "OLD")
    for job in JOBS:
        shutil.rmtree(jobs / job)
        _job_copy(jobs, job, "NEW")
    marker = tmp_path / "paused"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        import parity.report.publish as pub
        from parity.cli.main import main

        def pause(at):
            if at == "aside:premium_rounding":
                Path({str(marker)!r}).write_text(at)
                time.sleep(120)

        pub._checkpoint = pause
        sys.exit(main({argv!r}))
    """)
    kill_at("aside:premium_rounding", [sys.executable, "-c", script], marker)
    assert not (reports / "premium_rounding").exists()  # set aside at the moment of the kill
    assert main(["run", "claims_monthly", "--jobs-dir", str(jobs), "--report-dir", str(reports)]) == 0
    assert tag_of_folder(reports / "premium_rounding") == "NEW"  # the killed run had committed: completed
    assert tag_of_folder(reports / "claims_monthly") == "NEW"
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## parity: ✅ pass") and "1 job(s): 1 pass." in summary
    assert "Not part of this run" in summary and "`premium_rounding`: ❌ fail" in summary
    assert not [p for p in reports.rglob("*") if p.name.startswith(HIDDEN) or p.name.endswith(".tmp")]


def test_a_job_that_errors_still_publishes_the_whole_run(runs: dict[str, list[JobResult]], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    import parity.run.runner

    real = parity.run.runner.run_job
    for exc in (ReportError("premium: the disk went away"), RuntimeError("a bug")):
        def second_job_fails(job: Any, *args: Any, exc: Exception = exc, **kwargs: Any) -> JobResult:
            if job.name == "premium_rounding":
                raise exc
            return real(job, *args, **kwargs)

        monkeypatch.setattr(parity.run.runner, "run_job", second_job_fails)
        assert main(["run", "--all", "--jobs-dir", str(FIXTURES), "--report-dir", str(reports)]) == 2
        err = capsys.readouterr().err
        assert str(exc) in err
        failed = json.loads((reports / "premium_rounding" / REPORT_FILE).read_text(encoding="utf-8"))
        assert failed["verdict"] == "error" and str(exc) in failed["error"] and failed["datasets"] == []
        assert first_error(failed) is None  # the error report follows the schema
        assert "OLD" not in (reports / "premium_rounding" / "parity.html").read_text(encoding="utf-8")
        summary = (reports / "summary.md").read_text(encoding="utf-8")
        assert summary.startswith("## parity: 🛑 error") and "1 pass, 1 error" in summary
        index = (reports / "index.html").read_text(encoding="utf-8")
        assert '<header class="banner st-error"' in index and "Not part of this run" not in index
        assert tag_of_folder(reports / "claims_monthly") != "OLD"


def test_pages_list_only_this_runs_jobs(runs: dict[str, list[JobResult]], tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["NEW"])  # premium_rounding fails
    (reports / "stray").mkdir()
    (reports / "stray" / REPORT_FILE).write_text("{not json", encoding="utf-8")
    done = publish_saved(reports, runs["NEW"][:1])  # claims_monthly only: passes
    assert done.older == ("premium_rounding", "stray")
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## parity: ✅ pass") and "1 job(s): 1 pass." in summary
    assert "2 older report(s)" in summary and "`premium_rounding`: ❌ fail, run started" in summary
    assert "`stray`: unreadable:" in summary and "Failing checks" not in summary
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert '<header class="banner st-pass"' in index and "1 job report(s)" in index
    older = index[index.index('id="older"'):]
    assert "premium_rounding" in older and "stray" in older and "not a JSON report" in older
    assert (reports / "premium_rounding" / REPORT_FILE).is_file()  # never deleted, only listed apart


def test_a_run_stopped_before_any_job_says_so(runs: dict[str, list[JobResult]], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    assert main(["run", "no_such_job", "--jobs-dir", str(FIXTURES), "--report-dir", str(reports)]) == 2
    assert "no_such_job" in capsys.readouterr().err
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## parity: 🛑 error") and "stopped before any job ran" in summary
    assert "no\\_such\\_job" in summary or "no_such_job" in summary
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert '<header class="banner st-error"' in index and "stopped before any job ran" in index
    assert tag_of_folder(reports / "claims_monthly") == "OLD"  # the reports stay, listed as not of this run
    # a bad baseline stops the run before any job too
    publish_saved(reports, runs["OLD"])
    bad = tmp_path / "baseline" / "claims_monthly" / REPORT_FILE
    bad.parent.mkdir(parents=True)
    bad.write_text("{}", encoding="utf-8")
    argv = ["run", "claims_monthly", "--jobs-dir", str(FIXTURES), "--report-dir", str(reports)]
    assert main([*argv, "--baseline", str(bad.parent.parent)]) == 2
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## parity: 🛑 error") and "not a parity report" in summary


def test_recovery_sweeps_what_killed_runs_left(runs: dict[str, list[JobResult]], tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    (reports / f"{pub.NEW}0123abcd-claims_monthly").mkdir()  # uncommitted staging
    (reports / f"{pub.NEW}0123abcd.index.html").write_text("stale", encoding="utf-8")
    (reports / ".index.html.k2j3.tmp").write_text("half", encoding="utf-8")
    (reports / "claims_monthly" / ".parity.json.x1y2.tmp").write_text("{half", encoding="utf-8")
    (reports / f".{pub.JOURNAL}.q9.tmp").write_text("{", encoding="utf-8")
    # a set-aside folder whose job folder is missing (no journal): put back, never lost
    (reports / "premium_rounding").rename(reports / f"{pub.OLD}0123abcd-premium_rounding")
    (reports / "notes.txt").write_text("the user's own file", encoding="utf-8")
    (reports / "claims_monthly" / "my.tmp").write_text("the user's own file", encoding="utf-8")
    pub.prepare(reports)
    assert_whole_but_user_files = sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*"))
    assert assert_whole_but_user_files == [
        ".parity.lock", "claims_monthly", "claims_monthly/my.tmp", "claims_monthly/parity.html",
        "claims_monthly/parity.json", "index.html", "notes.txt", "premium_rounding", "premium_rounding/parity.html",
        "premium_rounding/parity.json", "summary.md"]
    assert tag_of_folder(reports / "premium_rounding") == "OLD"
    # a tampered journal naming paths outside the folder is ignored, never followed
    (reports / pub.JOURNAL).write_text(json.dumps({"token": "ab", "jobs": ["../../x"], "pages": []}))
    pub.prepare(reports)
    assert not (reports / pub.JOURNAL).exists() and tag_of_folder(reports / "claims_monthly") == "OLD"


def test_html_that_cannot_be_rendered_never_leaves_an_old_page(runs: dict[str, list[JobResult]], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    import parity.report.html

    def broken(result: JobResult) -> str:
        raise ValueError("template bug")

    monkeypatch.setattr(parity.report.html, "render_job", broken)
    done = publish_saved(reports, runs["NEW"])
    assert done.problems == {job: "could not write the HTML report: ValueError: template bug" for job in JOBS}
    for job in JOBS:
        assert json.loads((reports / job / REPORT_FILE).read_text())["description"].startswith("NEW")
        assert not (reports / job / "parity.html").exists()  # no old page beside the new report
    assert 'href="./claims_monthly/parity.html"' not in (reports / "index.html").read_text()


def test_pages_that_cannot_be_rendered_still_describe_this_run(runs: dict[str, list[JobResult]], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    import parity.report.markdown

    def broken(*args: Any, **kwargs: Any) -> str:
        raise KeyError("bug")

    monkeypatch.setattr(parity.report.markdown, "render_summary", broken)
    publish_saved(reports, runs["NEW"])
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## parity: 🛑 error") and "could not render summary.md" in summary
    assert "NEW" in (reports / "index.html").read_text()


def test_a_failed_write_leaves_the_previous_run(runs: dict[str, list[JobResult]], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    real, calls = pub._write, []

    def disk_full(path: Path, text: str) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(pub, "_write", disk_full)
    with pytest.raises(ReportError, match=r"could not write the reports into .*No space left on device.*unchanged"):
        publish_saved(reports, runs["NEW"])
    assert_whole(reports, "OLD")


def test_a_folder_where_a_page_goes_is_refused_before_anything_changes(runs: dict[str, list[JobResult]],
                                                                      tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    (reports / "summary.md").unlink()
    (reports / "summary.md").mkdir()
    with pytest.raises(ReportError, match=r"summary\.md is a folder, where parity writes the run's summary\.md"):
        publish_saved(reports, runs["NEW"])
    assert {tag_of_folder(reports / job) for job in JOBS} == {"OLD"}
    assert not [p for p in reports.iterdir() if p.name.startswith((pub.NEW, pub.OLD, pub.JOURNAL))]


def test_a_publication_that_fails_after_its_commit_is_completed_by_the_next_run(
        runs: dict[str, list[JobResult]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    real = Path.rename

    def busy(self: Path, target: Any) -> Path:
        if self.name.startswith(pub.NEW) and self.name.endswith("premium_rounding"):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, target)

    monkeypatch.setattr(Path, "rename", busy)
    with pytest.raises(ReportError, match=r"could not finish publishing into .*Permission denied.*the next run"):
        publish_saved(reports, runs["NEW"])
    with pytest.raises(ReportError, match=r"cannot finish or undo what an earlier run left there.*Permission"):
        pub.prepare(reports)  # still failing: an error naming the folder, never a traceback
    monkeypatch.undo()
    pub.prepare(reports)  # the cause is gone: the committed run is completed
    assert_whole(reports, "NEW")


def test_runs_into_one_folder_take_turns(runs: dict[str, list[JobResult]], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    reports = tmp_path / "reports"
    publish_saved(reports, runs["OLD"])
    with open(reports / pub.LOCK, "a") as held:  # another run is publishing
        fcntl.flock(held, fcntl.LOCK_EX)
        monkeypatch.setattr(pub, "LOCK_TIMEOUT_S", 0.2)
        with pytest.raises(ReportError, match=r"another parity run .* is locked"):
            publish_saved(reports, runs["NEW"])
    assert_whole(reports, "OLD")
    publish_saved(reports, runs["NEW"])  # the lock is free again
    assert_whole(reports, "NEW")


def test_publish_refuses_job_names_that_are_not_folders(runs: dict[str, list[JobResult]], tmp_path: Path) -> None:
    for name in ("../escape", ".hidden", "index.html", ""):
        with pytest.raises(ReportError, match="cannot be a folder"):
            pub.publish(tmp_path / "r", [replace(runs["NEW"][0], job=name)])
    with pytest.raises(ReportError, match="two reports of one job"):
        pub.publish(tmp_path / "r", [runs["NEW"][0], runs["OLD"][0]])


def test_pytest_publishes_its_session_through_the_same_service(runs: dict[str, list[JobResult]],
                                                               pytester: pytest.Pytester) -> None:
    """A session whose job errors replaces that job's report and the pages; the other job is listed apart.
    (``runs`` imports the engine before pytester snapshots the modules: numpy cannot be imported twice.)"""
    for job in JOBS:
        shutil.copytree(FIXTURES / job, pytester.path / "fixtures" / job, ignore=shutil.ignore_patterns("__pycache__"))
    reports = pytester.path / "reports"
    assert main(["run", "--all", "--jobs-dir", str(pytester.path / "fixtures"), "--report-dir", str(reports)]) == 1
    port = pytester.path / "fixtures" / "claims_monthly" / "port.py"
    port.write_text(port.read_text() + "\n\ndef run(**params):\n    raise RuntimeError('the port broke')\n")
    (reports / f"{pub.NEW}0badc0de-claims_monthly").mkdir()  # left by a killed run
    result = pytester.runpytest_subprocess("--parity", "claims_monthly", "-p", "no:cacheprovider")
    assert result.ret == 2  # an errored dataset: exit 2, as parity run
    data = json.loads((reports / "claims_monthly" / REPORT_FILE).read_text())
    assert data["verdict"] == "error" and "the port broke" in json.dumps(data)
    assert "the port broke" in (reports / "claims_monthly" / "parity.html").read_text()
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## parity: 🛑 error") and "1 job(s): 1 error." in summary
    assert "Not part of this run" in summary and "`premium_rounding`: ❌ fail" in summary
    assert not list(reports.glob(".parity-new-*"))
    # a session stopped before any test (an unknown job) says so too
    stopped = pytester.runpytest_subprocess("--parity", "no_such_job", "-p", "no:cacheprovider")
    assert stopped.ret == pytest.ExitCode.USAGE_ERROR
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## parity: 🛑 error") and "stopped before any job ran" in summary
    assert "no_such_job" in summary and "No job ran." in summary


def test_render_and_diff_outputs_that_cannot_be_written_are_exit_2(valid_report: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file")
    for argv in (["render", str(valid_report), "-o", str(blocker / "out.html")],
                 ["diff", str(valid_report), str(valid_report), "--markdown", str(blocker / "sub" / "d.md")]):
        assert main(argv) == 2, argv
        err = " ".join(capsys.readouterr().err.split())
        assert f"{blocker} is a file, not a folder" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------------------------
# 7. reports are validated when they are read; fuzzed


def test_the_shipped_schema_is_the_documented_schema() -> None:
    shipped = resources.files("parity").joinpath("schema", "report-schema.json").read_bytes()
    assert shipped == (ROOT / "docs" / "report-schema.json").read_bytes(), (
        "docs/report-schema.json must be the packaged parity/schema/report-schema.json (a symlink to it)")
    assert '"schema/*.json"' in (ROOT / "pyproject.toml").read_text()  # shipped as package data
    from parity.model import READABLE_SCHEMA_VERSIONS

    assert report_schema()["properties"]["schema_version"]["enum"] == list(READABLE_SCHEMA_VERSIONS)
    assert JobResult.schema_version == max(READABLE_SCHEMA_VERSIONS)


def test_the_validator_refuses_schemas_it_cannot_check(monkeypatch: pytest.MonkeyPatch) -> None:
    report_schema.cache_clear()
    real = resources.files

    class Fake:
        def joinpath(self, *parts: str) -> Any:
            return self

        def read_text(self, encoding: str) -> str:
            return json.dumps({"type": "object", "properties": {"a": {"unevaluatedProperties": False}}})

    monkeypatch.setattr(resources, "files", lambda pkg: Fake() if pkg == "parity" else real(pkg))
    try:
        with pytest.raises(ValueError, match="unevaluatedProperties"):
            report_schema()
    finally:
        monkeypatch.undo()
        report_schema.cache_clear()


ODD: list[Any] = [None, True, False, 0, -1, 1.5, -1e-300, "", "x", "NaN", "inf", "<script>alert(1)</script>", [],
                  {}, [None], {"": None}, 2**70, -(2**63), "\x00", "../../etc/passwd", [[[]]], {"a": {"b": []}},
                  "9" * 50, 1e308]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def mutations(valid: dict[str, Any], n: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """``n`` deterministic mutations of ``valid``: deleted keys, changed types, swapped values, wrong nesting,
    renamed and extra keys, huge and non-finite numbers, truncated and corrupted text, deep nesting."""
    rng = random.Random(seed)
    paths = list(_paths(valid))
    text = json.dumps(valid, indent=2)
    kinds = ["delete", "retype", "retype", "swap", "wrap", "unwrap", "rename", "extra", "huge", "nan", "truncate",
             "garbage", "deep", "top", "dup_dataset"]
    for i in range(n):
        kind = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        doc = json.loads(text)  # a fresh copy (faster than deepcopy)
        path = rng.choice(paths[1:])
        label = f"#{i} {kind} at {'/'.join(map(str, path))}"
        if kind == "delete":
            del _get(doc, path[:-1])[path[-1]]
        elif kind == "retype":
            doc = _set(doc, path, copy.deepcopy(rng.choice(ODD)))
        elif kind == "swap":
            other = rng.choice(paths[1:])
            if other[:len(path)] == path or path[:len(other)] == other:
                other = ("job",) if path != ("job",) else ("verdict",)
            a, b = copy.deepcopy(_get(doc, path)), copy.deepcopy(_get(doc, other))
            _set(doc, path, b)
            _set(doc, other, a)
            label += f" <-> {'/'.join(map(str, other))}"
        elif kind == "wrap":
            value = _get(doc, path)
            doc = _set(doc, path, [value] if rng.random() < 0.5 else {"value": value})
        elif kind == "unwrap":
            value = _get(doc, path)
            inner = (next(iter(value.values()), None) if isinstance(value, dict) else value[0] if value else None) \
                if isinstance(value, dict | list) else str(value)
            doc = _set(doc, path, inner)
        elif kind == "rename":
            parent_path = next((p for p in reversed([path[:k] for k in range(len(path))])
                                if isinstance(_get(doc, p), dict) and _get(doc, p)), ())
            parent = _get(doc, parent_path)
            key = rng.choice(list(parent))
            parent[rng.choice([key.upper(), key + "_", key[:-1], " " + key])] = parent.pop(key)
        elif kind == "extra":
            node = next(_get(doc, path[:k]) for k in range(len(path), -1, -1) if isinstance(_get(doc, path[:k]), dict))
            node[rng.choice(["extra", "new_field", "__proto__"])] = copy.deepcopy(rng.choice(ODD))
        elif kind == "huge":
            doc = _set(doc, path, rng.choice([10**rng.randint(19, 4000), -(10**rng.randint(19, 300)), 1e308 * 10,
                                              -1e308 * 10, 2**63, 2**64 + 1]))
        elif kind == "nan":
            doc = _set(doc, path, float("nan"))
        elif kind == "deep":
            depth = rng.choice([65, 200, 3000, 100_000])
            yield label, (text[:20] + "[" * depth + "]" * depth).encode()  # also deeper than json can parse
            continue
        elif kind == "truncate":
            yield label, text[:rng.randint(0, len(text) - 1)].encode()
            continue
        elif kind == "garbage":
            cut = rng.randint(0, len(text))
            junk = rng.choice([b"\xff\xfe", b"\x00", b"}", b",,", b'"', b"\xc3", b"NaN", b"Infinity", b"-"])
            yield label, text[:cut].encode() + junk + text[cut:].encode()
            continue
        elif kind == "top":
            doc = rng.choice([[], "parity", 1, None, [valid], {"report": valid}])
        elif kind == "dup_dataset":
            doc["datasets"] = doc["datasets"] + doc["datasets"]
        yield label, json.dumps(doc, indent=1, allow_nan=True).encode()


@pytest.fixture(scope="module")
def valid_report(runs: dict[str, list[JobResult]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, rich report (a failing dataset with explanations, top differences and a baseline delta)."""
    folder = tmp_path_factory.mktemp("valid")
    result = runs["NEW"][1]
    changes = delta.diff_job(runs["OLD"][1], result)
    result = replace(result, delta=delta.delta_dict(changes, "baseline/"))
    path = folder / result.job / REPORT_FILE
    path.parent.mkdir()
    path.write_text(dumps(result), encoding="utf-8")
    return path


def test_validator_agrees_with_jsonschema(valid_report: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(report_schema())
    valid = json.loads(valid_report.read_text())
    assert first_error(valid) is None and validator.is_valid(valid)
    compared = refused = 0
    for label, data in mutations(valid, 400, seed=7):
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            continue
        if _unusual(doc) is not None:
            continue
        ours = first_error(doc)
        assert (ours is None) == validator.is_valid(doc), (label, ours)
        compared += 1
        refused += ours is not None
    assert compared > 250 and refused > 100  # the mutations mostly break the schema, and the two agree on each


#: every keyword the validator implements, so a schema change that starts using one is checked as well
KEYWORD_SCHEMAS: list[dict[str, Any]] = [
    {"type": ["integer", "null"], "minimum": 0, "maximum": 10},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 5, "multipleOf": 0.5},
    {"type": "integer", "multipleOf": 3},
    {"type": "string", "pattern": "^[a-z]+$", "minLength": 1, "maxLength": 3, "format": "date"},
    {"enum": ["a", 1, None, True]}, {"const": 1}, {"const": [1, {"a": True}]},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3, "uniqueItems": True},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}, "additionalProperties": False},
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": {"type": "string"},
     "propertyNames": {"maxLength": 2}, "minProperties": 1, "maxProperties": 2},
    {"dependentRequired": {"a": ["b"]}},
    {"anyOf": [{"type": "string"}, {"type": "integer"}]}, {"oneOf": [{"type": "number"}, {"type": "integer"}]},
    {"allOf": [{"type": "integer"}, {"minimum": 2}]}, {"not": {"type": "array"}},
    {"if": {"type": "integer"}, "then": {"minimum": 5}, "else": {"type": "string"}},
    {"$defs": {"n": {"type": "integer"}}, "type": "object", "properties": {"a": {"$ref": "#/$defs/n"}}},
    {"type": "object", "properties": {"a": False, "b": True}},
]


def test_every_validator_keyword_agrees_with_jsonschema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    rng = random.Random(3)
    atoms: list[Any] = [None, True, False, 0, 1, 2, 3, 5, 6, -1, 0.5, 1.0, 2.5, 7.25, "", "a", "ab", "abcd", "A1",
                        "2024-01-01"]

    def value(depth: int = 0) -> Any:
        roll = rng.random()
        if depth > 2 or roll < 0.5:
            return rng.choice(atoms)
        if roll < 0.75:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(["a", "b", "x1", "xy", "long"]): value(depth + 1) for _ in range(rng.randint(0, 3))}

    for schema in KEYWORD_SCHEMAS:
        assert not (set(schema) - ANNOTATIONS - KEYWORDS)
        validator = jsonschema.Draft202012Validator(schema)
        for _ in range(300):
            doc = value()
            assert (first_error(doc, schema) is None) == validator.is_valid(doc), (schema, doc, first_error(doc, schema))
    used = set().union(*(_keywords(s) for s in KEYWORD_SCHEMAS))
    assert used >= KEYWORDS  # each implemented keyword is exercised above


def test_fuzz_every_reader_refuses_bad_reports_by_name(valid_report: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    valid_text = valid_report.read_text()
    valid = json.loads(valid_text)
    base = load_report(valid_report)
    folder = tmp_path / "fuzzed"
    path = folder / base.job / REPORT_FILE
    path.parent.mkdir(parents=True)
    out = tmp_path / "out.html"
    reports = tmp_path / "reports"
    outcomes = {"refused": 0, "loaded": 0}
    for label, data in mutations(valid, 400, seed=11):
        path.write_bytes(data)
        try:
            result: JobResult | None = load_report(path)
        except ReportError as exc:
            assert str(path) in str(exc), (label, str(exc))
            result = None
        outcomes["loaded" if result else "refused"] += 1
        # delta.load_reports, on the file and on the folder: the same outcome
        for where in (path, folder):
            if result is None:
                with pytest.raises(ReportError, match=str(path).replace("\\", "\\\\")):
                    delta.load_reports(where)
            else:
                assert delta.load_reports(where) == {result.job: result}
        # find_reports (the index of a later run): the entry keeps the error, the pages still render
        entries = find_reports(folder)
        assert len(entries) == 1 and (entries[0].result is None) == (result is None), label
        if result is None:
            assert str(path) in (entries[0].error or ""), label
        for current in (True, False):
            listed = [replace(e, current=current) for e in entries]
            render_index(listed)
            render_summary(listed)
        if result is not None:  # a report that passes validation renders, compares and serialises
            render_job(result)
            delta.markdown(delta.diff_job(base, result) + delta.diff_job(result, base))
            json.loads(dumps(result))
        # the commands: exit 2 naming the file, never a traceback, never exit 1 for a bad report
        capsys.readouterr()
        code = main(["render", str(path), "-o", str(out)])
        assert code == (0 if result else 2), (label, capsys.readouterr())
        code = main(["diff", str(folder), str(valid_report)])
        err = " ".join(capsys.readouterr().err.split())
        if result is None:
            assert code == 2 and str(path) in err.replace(" ", ""), (label, err)
        else:
            assert code in (0, 1), label
        if result is None and outcomes["refused"] % 10 == 1:  # run --baseline stops before any work
            code = main(["run", "claims_monthly", "--jobs-dir", str(FIXTURES), "--report-dir", str(reports),
                         "--baseline", str(folder)])
            err = " ".join(capsys.readouterr().err.split())
            assert code == 2 and str(path) in err.replace(" ", ""), (label, err)
    assert outcomes["refused"] > 250 and outcomes["loaded"] > 10, outcomes


def test_bad_baselines_are_exit_2_naming_the_file(valid_report: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "base" / "premium_rounding" / REPORT_FILE
    bad.parent.mkdir(parents=True)
    data = json.loads(valid_report.read_text())
    data["datasets"][0]["columns"][0]["mismatches"] = "13"
    bad.write_text(json.dumps(data))
    reports = tmp_path / "reports"
    for argv in (["diff", str(bad.parent.parent), str(valid_report)], ["diff", str(valid_report), str(bad)],
                 ["run", "claims_monthly", "--jobs-dir", str(FIXTURES), "--report-dir", str(reports), "--baseline",
                  str(bad.parent.parent)], ["render", str(bad)]):
        assert main(argv) == 2, argv
        err = " ".join(capsys.readouterr().err.split())
        assert "premium_rounding/parity.json" in err.replace(" ", "") and "datasets[0].columns[0].mismatches" in err
        assert "expected integer" in err and "Traceback" not in err
    # two reports of one job in a folder: an error, never one silently hiding the other
    shutil.copytree(valid_report.parent, tmp_path / "two" / "a")
    shutil.copytree(valid_report.parent, tmp_path / "two" / "b")
    with pytest.raises(ReportError, match="a second report of job 'premium_rounding'"):
        delta.load_reports(tmp_path / "two")
    # staging and set-aside folders are never reports
    shutil.copytree(valid_report.parent, tmp_path / "one" / "premium_rounding")
    shutil.copytree(valid_report.parent, tmp_path / "one" / f"{pub.OLD}00ff-premium_rounding")
    assert list(delta.load_reports(tmp_path / "one")) == ["premium_rounding"]
    assert [e.folder.name for e in find_reports(tmp_path / "one")] == ["premium_rounding"]


def test_reports_that_contradict_themselves_are_refused(valid_report: Path, tmp_path: Path) -> None:
    """A schema-valid edit that would fool a reader: a failing report turned 'pass', a dataset given twice."""
    data = json.loads(valid_report.read_text())
    edits = {
        "verdict 'pass' but its datasets give 'fail'": lambda d: d.update(verdict="pass"),
        "dataset 'premiums' has verdict 'pass' but its checks give 'fail'":
            lambda d: (d.update(verdict="pass"), d["datasets"][0].update(verdict="pass")),
        "two datasets named 'premiums'": lambda d: d.update(datasets=d["datasets"] * 2),
        "has two 'schema' checks": lambda d: d["datasets"][0]["checks"].append(d["datasets"][0]["checks"][0]),
        "for a job without datasets": lambda d: d.update(datasets=[], verdict="pass"),
    }
    for message, edit in edits.items():
        doc = copy.deepcopy(data)
        edit(doc)
        path = tmp_path / "edited.json"
        path.write_text(json.dumps(doc))
        assert first_error(doc) is None  # the schema alone cannot see these
        with pytest.raises(ReportError, match=f"{path}: not a valid parity report: .*{message}"):
            load_report(path)


def test_unreadable_files_are_report_errors(tmp_path: Path) -> None:
    for name, data in (("empty", b""), ("latin1", "{\"é\": 1}".encode("latin-1")), ("bom", b"\xef\xbb\xbf{}")):
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        with pytest.raises(ReportError, match=str(path)):
            load_report(path)
    folder = tmp_path / "dir.json"
    folder.mkdir()
    with pytest.raises(ReportError, match="no such report"):
        load_report(folder)


# ---------------------------------------------------------------------------------------------------------------
# 8. the report folder


@pytest.fixture
def no_job_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import parity.run.runner

    ran: list[str] = []

    def record(job: Any, *args: Any, **kwargs: Any) -> JobResult:
        ran.append(job.name)
        raise AssertionError("no job may run")

    monkeypatch.setattr(parity.run.runner, "run_job", record)
    return ran


@pytest.mark.parametrize("layout", ["is_a_file", "under_a_file"])
def test_report_dir_blocked_by_a_file_is_exit_2_before_any_job(tmp_path: Path, layout: str, no_job_runs: list[str],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file")
    report_dir = blocker if layout == "is_a_file" else blocker / "reports" / "deeper"
    code = main(["run", "--all", "--jobs-dir", str(FIXTURES), "--report-dir", str(report_dir)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and not no_job_runs
    assert f"{blocker}" in err and "is a file" in err  # (click checks an existing --report-dir itself)
    assert "Traceback" not in err and blocker.read_text() == "a file"
    with pytest.raises(ReportError, match=f"{blocker} is a file, not a folder; .*choose another report folder"):
        pub.prepare(report_dir)  # also when the folder comes from [tool.parity] report_dir


def test_report_dir_not_writable_is_exit_2_before_any_job(tmp_path: Path, no_job_runs: list[str],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    report_dir = tmp_path / "reports"
    report_dir.mkdir()

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pub.tempfile, "mkstemp", denied)  # root ignores file modes: deny the write itself
    code = main(["run", "--all", "--jobs-dir", str(FIXTURES), "--report-dir", str(report_dir)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and not no_job_runs
    assert f"report folder {report_dir} is not writable (Permission denied)" in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_report_dir_read_only_mode_is_exit_2(tmp_path: Path, no_job_runs: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    report_dir = tmp_path / "reports"
    report_dir.mkdir()
    report_dir.chmod(0o500)
    try:
        assert main(["run", "--all", "--jobs-dir", str(FIXTURES), "--report-dir", str(report_dir)]) == 2
        assert "is not writable" in capsys.readouterr().err and not no_job_runs
        assert main(["run", "--all", "--jobs-dir", str(FIXTURES), "--report-dir", str(report_dir / "sub")]) == 2
        assert "cannot be created" in capsys.readouterr().err
    finally:
        report_dir.chmod(0o700)
