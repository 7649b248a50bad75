"""The pytest plugin: ``pytest --parity JOB`` runs a parity job as one test per dataset and check.

Registered through the ``pytest11`` entry point (``-p no:parity`` disables it).  Without ``--parity`` it adds
options, the ``parity_job`` fixture and nothing else: no items, no header, and no import of polars, pyreadstat or
pandas (the comparison engine loads when a job first runs).

Design (see ``docs/pytest.md``):

* state lives in ``config.stash`` (one :class:`ParityState` per pytest config, so per session and per worker);
* every selected job is a :class:`ParityJobFile` (its ``parity.toml``) holding one :class:`ParityDataset`
  collector per dataset, holding one :class:`ParityCheck` item per check: node ids read
  ``fixtures/claims_monthly/parity.toml::claims::numeric_tolerance``;
* a job runs (loads and compares every dataset) the first time one of its items runs, once per process;
* reports are written at session end by the process that owns the session: the plain pytest process, or the
  xdist controller, which receives each worker's job results through ``workeroutput`` and merges them.
"""

from __future__ import annotations

import contextlib
import json
import traceback
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from parity import __version__
from parity.assertion import ParityWarning
from parity.errors import ParityError, UsageError
from parity.model import FAILING, INFORMATIONAL_CHECKS, item_path

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

    from parity.model import DatasetResult, JobResult
    from parity.spec import JobSpec

SPEC_FILE = "parity.toml"  # parity.spec.SPEC_FILE, repeated so that the inert plugin imports nothing more
ALL_JOBS = "all"
WORKER_OUTPUT_KEY = "parity_results"  # config.workeroutput key: {job: JobRun payload (JSON text)}

__all__ = ["ParityCheck", "ParityDataset", "ParityJobFile", "ParityState", "ParityWarning", "parity_job"]


# --------------------------------------------------------------------------------------------------------------
# options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "parity: SAS-to-Python parity jobs as tests")
    group.addoption(
        "--parity", action="append", default=[], metavar="JOB",
        help="Run parity job JOB (a job folder name in the jobs folder, or a path to a job folder) as one test "
             "per dataset and check; repeatable, 'all' for every job.",
    )
    group.addoption("--parity-jobs-dir", default=None, metavar="DIR",
                    help="Folder of job folders (default: ini parity_jobs_dir, [tool.parity] jobs_dir, fixtures/).")
    group.addoption("--parity-report-dir", default=None, metavar="DIR",
                    help="Where the JSON reports are written at session end (default: ini parity_report_dir, "
                         "[tool.parity] report_dir, reports/).")
    group.addoption("--parity-baseline", default=None, metavar="PATH",
                    help="Accepted baseline report (a parity.json or a report folder): a failing check fails its item only "
                         "when it got worse than in the baseline.")
    group.addoption("--parity-accept-relaxed", action="store_true", default=False,
                    help="With --parity-baseline: approve a relaxed spec (ignored columns, wider tolerances, lower "
                         "severities, new waivers, removed datasets); without it a relaxation fails its item.")
    parser.addini("parity_jobs_dir", "parity: folder of job folders (relative to the ini file)", default="")
    parser.addini("parity_report_dir", "parity: folder the JSON reports are written to (relative to the ini file)",
                  default="")


# --------------------------------------------------------------------------------------------------------------
# state


@dataclass(frozen=True)
class Settings:
    jobs_dir: Path
    report_dir: Path
    #: the accepted baseline report (--parity-baseline, else ``[tool.parity] baseline``): gate on regressions only
    baseline: Path | None = None


@dataclass
class JobRun:
    """One job's outcome in this session: its result, or why it could not run at all."""

    name: str
    result: JobResult | None = None
    error: str | None = None
    report: Path | None = None  # where the report was written (controller only)
    report_error: str | None = None

    def payload(self) -> str:
        return json.dumps({"result": self.result.to_dict() if self.result else None, "error": self.error})

    @staticmethod
    def from_payload(name: str, text: str) -> JobRun:
        from parity.report.json import result_from_dict

        data = json.loads(text)
        result = result_from_dict(data["result"]) if data.get("result") else None
        return JobRun(name, result=result, error=data.get("error"))


@dataclass
class ParityState:
    """Everything the plugin knows in one pytest process; kept in ``config.stash``."""

    config: pytest.Config
    selected: list[str] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)
    specs: dict[str, JobSpec] = field(default_factory=dict)
    runs: dict[str, JobRun] = field(default_factory=dict)
    run_pages_error: str | None = None
    baseline: dict[str, JobResult] | None = None  # the accepted baseline reports, by job
    _settings: Settings | None = None

    @property
    def active(self) -> bool:
        return bool(self.config.getoption("parity"))

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")  # pytest-xdist's public marker of a worker process

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = resolve_settings(self.config)
        return self._settings

    def select(self) -> None:
        """Resolve the ``--parity`` values to job folders; unknown jobs are usage errors."""
        from parity.spec import discover_jobs, resolve_job

        jobs_dir = self.settings.jobs_dir
        for raw in self.config.getoption("parity"):
            for value in (v.strip() for v in str(raw).split(",")):
                if not value:
                    continue
                if value == ALL_JOBS:
                    found = discover_jobs(jobs_dir)
                    if not found:
                        raise pytest.UsageError(f"--parity all: no jobs (folders with {SPEC_FILE}) in {jobs_dir}")
                    for name in found:
                        try:
                            self._add(name, (jobs_dir / name).resolve())
                        except ParityError as exc:
                            raise pytest.UsageError(f"--parity all: {exc}") from None
                else:
                    try:
                        name, folder = resolve_job(jobs_dir, value)
                        self._add(name, folder)
                    except ParityError as exc:
                        raise pytest.UsageError(f"--parity {value}: {exc}") from None

    def _claim(self, name: str, folder: Path) -> None:
        """Record job ``name``'s folder; two different folders with one name are a usage error."""
        if self.folders.setdefault(name, folder) != folder:
            raise UsageError(f"two jobs named {name!r} ({self.folders[name]} and {folder}): their reports would both "
                             f"be <report dir>/{name}/; give each job folder its own name")

    def _add(self, name: str, folder: Path) -> None:
        self._claim(name, folder)
        if name not in self.selected:
            self.selected.append(name)

    def key(self, name: str) -> str:
        """The job name of ``name`` (a job name or a path to a job folder or its parity.toml); raises UsageError.

        The name is the job folder's own name (never ``..``), so its report lands in ``<report dir>/<name>/``.
        """
        if name in self.folders:
            return name
        from parity.spec import resolve_job

        key, folder = resolve_job(self.settings.jobs_dir, name)
        self._claim(key, folder)
        return key

    def folder(self, name: str) -> Path:
        return self.folders[self.key(name)]

    def spec(self, name: str) -> JobSpec:
        """The validated spec of job ``name`` (read once); raises SpecError."""
        key = self.key(name)
        if key not in self.specs:
            from parity.spec import load_job

            self.specs[key] = load_job(self.folders[key], key)
        return self.specs[key]

    def run(self, name: str) -> JobRun:
        """Run job ``name`` once per process: every dataset loads and compares once, however many items ask.

        Nothing a job does gets past here (KeyboardInterrupt aside): the outcome is recorded, so the job is never
        run again for the next item."""
        key = self.key(name)
        if key in self.runs:
            return self.runs[key]
        run = JobRun(key)
        try:
            from parity.run.runner import run_job

            run.result = run_job(self.spec(name))
            if self.baseline is not None:
                from dataclasses import replace

                from parity.report.delta import delta_dict, diff_job

                changes = diff_job(self.baseline.get(key), run.result)
                run.result = replace(run.result, delta=delta_dict(
                    changes, str(self.settings.baseline), bool(self.config.getoption("parity_accept_relaxed"))))
        except ParityError as exc:
            run.error = str(exc)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a bug in parity (or a dependency): keep the traceback for the report
            run.error = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc)).rstrip()
        self.runs[key] = run
        workeroutput = getattr(self.config, "workeroutput", None)
        if isinstance(workeroutput, dict):  # an xdist worker: the controller writes the report
            workeroutput.setdefault(WORKER_OUTPUT_KEY, {})[key] = run.payload()
        return run

    def removed_jobs(self) -> list[str]:
        """With ``--parity all`` and a baseline: its jobs that no longer run (their folder or parity.toml is gone);
        they fail the session unless ``--parity-accept-relaxed`` approves the removal."""
        if self.baseline is None or self.is_worker or self.config.getoption("parity_accept_relaxed"):
            return []
        values = {v.strip() for raw in self.config.getoption("parity") or [] for v in str(raw).split(",")}
        return sorted(set(self.baseline) - set(self.selected)) if ALL_JOBS in values else []

    def load_baseline(self) -> None:
        """Read the baseline once, at configure time: a bad baseline is a usage error before any test runs."""
        from parity.report.delta import load_reports

        assert self.settings.baseline is not None
        try:
            self.baseline = load_reports(self.settings.baseline)
        except ParityError as exc:
            raise pytest.UsageError(f"parity: --parity-baseline: {exc}") from None

    def receive(self, payloads: dict[str, str]) -> None:
        """Merge job results sent by an xdist worker; the first result of a job wins (they are identical)."""
        for name, text in payloads.items():
            if name not in self.runs:
                self.runs[name] = JobRun.from_payload(name, text)

    def report_path(self, name: str) -> Path:
        from parity.report.json import REPORT_FILE

        return self.settings.report_dir / self.key(name) / REPORT_FILE

    def show(self, path: Path) -> str:
        """A path as the user typed it: relative to where pytest was started, when it is below it."""
        try:
            return str(path.relative_to(self.config.invocation_params.dir))
        except ValueError:
            return str(path)

    def write_reports(self) -> None:
        """What ``parity run`` writes, through the same service: each job's folder (an error report for a job that
        could not run), index.html and summary.md, published together.  A failure to write is shown in the
        summary, never an internal error at session end."""
        from parity.report.publish import publish
        from parity.run.runner import failed_job

        runs = [run for run in self.runs.values() if run.report is None]
        if not runs:
            return
        results = {run.name: run.result or failed_job(run.name, (run.error or "the job did not run").splitlines()[0],
                                                     self.specs.get(run.name)) for run in runs}
        try:
            published = publish(self.settings.report_dir, list(results.values()))
        except Exception as exc:  # ParityError (cannot write) or a bug: shown in the summary
            self.run_pages_error = str(exc) if isinstance(exc, ParityError) else f"{type(exc).__name__}: {exc}"
            self.run_pages_error = f"could not write the reports: {self.run_pages_error}"
            return
        for run in runs:
            job = results[run.name].job
            run.report = published.reports.get(job)
            run.report_error = published.problems.get(job)


STATE_KEY = pytest.StashKey[ParityState]()


def state_of(config: pytest.Config) -> ParityState:
    if STATE_KEY not in config.stash:
        config.stash[STATE_KEY] = ParityState(config)
    return config.stash[STATE_KEY]


def resolve_settings(config: pytest.Config) -> Settings:
    """Command line, then ``[tool.pytest.ini_options]``, then ``[tool.parity]``, then the defaults."""
    from parity.spec import load_project_config

    try:
        project = load_project_config(config.rootpath)
    except ParityError as exc:
        raise pytest.UsageError(f"parity: {exc}") from None
    ini_base = config.inipath.parent if config.inipath else config.rootpath

    def pick(option: str, ini: str, fallback: Path) -> Path:
        value = config.getoption(option)
        if value:
            return (config.invocation_params.dir / str(value)).resolve()
        text = str(config.getini(ini) or "")
        if text:
            return (ini_base / text).resolve()
        return fallback.resolve()

    return Settings(
        jobs_dir=pick("parity_jobs_dir", "parity_jobs_dir", project.jobs_dir),
        report_dir=pick("parity_report_dir", "parity_report_dir", project.report_dir),
        baseline=pick_baseline(config, project.baseline),
    )


def pick_baseline(config: pytest.Config, fallback: Path | None) -> Path | None:
    value = config.getoption("parity_baseline")
    if value:
        return (config.invocation_params.dir / str(value)).resolve()
    return fallback


# --------------------------------------------------------------------------------------------------------------
# configuration and the always-on hooks (cheap: they return at once unless a job ran)


def pytest_configure(config: pytest.Config) -> None:
    state = state_of(config)
    config.pluginmanager.register(ParityReporter(state), "parity-reporter")
    if not state.active:
        return
    if not state.is_worker:
        from parity.report.publish import prepare

        try:
            prepare(state.settings.report_dir)  # an unusable report folder is an error before any test runs
        except ParityError as exc:
            raise pytest.UsageError(f"parity: {exc}") from None
    try:
        if state.settings.baseline is not None:
            state.load_baseline()
        config.addinivalue_line("markers", "parity: a parity check item (added by --parity)")
        state.select()
    except pytest.UsageError as exc:  # no job will run: the pages say so instead of showing an older run's
        if not state.is_worker:
            from parity.report.publish import publish

            with contextlib.suppress(ParityError):
                publish(state.settings.report_dir, [], run_error=str(exc))
        raise
    config.pluginmanager.register(ParityCollector(state), "parity-collector")


class ParityReporter:
    """Writes the reports and the terminal summary of every job that ran; merges xdist workers' results."""

    def __init__(self, state: ParityState) -> None:
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        payloads = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if isinstance(payloads, dict):
            self.state.receive(payloads)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.state.runs and not self.state.is_worker:
            self.state.write_reports()
        if self.state.removed_jobs() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a job of the baseline no longer runs
        errored = any(run.error or (run.result is not None and run.result.verdict == "error")
                      for run in self.state.runs.values())
        if errored and not self.state.is_worker and session.exitstatus in (pytest.ExitCode.OK,
                                                                           pytest.ExitCode.TESTS_FAILED):
            # as `parity run`: 2 when a dataset could not be compared (an error is not a parity failure)
            session.exitstatus = 2
        import sys

        from parity.run.sandbox import leftovers_message, release_leftovers

        left = release_leftovers()  # a port's thread left running must not hang pytest (or an xdist worker)
        if left:
            sys.stderr.write(f"parity: warning: {leftovers_message(left)}\n")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        state = self.state
        if not state.runs or state.is_worker:
            return
        tr = terminalreporter
        tr.write_sep("=", "parity")
        width = max(len(n) for n in state.runs)
        for name, run in sorted(state.runs.items()):
            verdict = run.result.verdict if run.result else "error"
            color = {"pass": {"green": True}, "fail": {"red": True, "bold": True}}.get(verdict, {"purple": True})
            tr.write(f"{name.ljust(width)}  ")
            from parity.report.markdown import job_verdict_label

            tr.write((job_verdict_label(run.result) if run.result else verdict).upper().ljust(5), **color)
            if run.result is None:
                tr.write_line(f"  could not run: {(run.error or '').splitlines()[0] if run.error else ''}")
                continue
            tr.write(f"  {_job_line(run.result)}")
            tr.write_line(f"  report {state.show(run.report)}" if run.report is not None else "")
            if run.report_error:
                tr.write_line(f"{''.ljust(width)}  {run.report_error}", red=True)
            from parity.run.capture import capture_warnings

            for warning in capture_warnings(run.result.run):
                tr.write_line(f"{''.ljust(width)}  WARN {warning}", yellow=True)
            delta = run.result.delta
            if delta is not None:
                from parity.report.delta import delta_changes, delta_fails, tally

                fails = delta_fails(delta)
                tr.write_line(f"{''.ljust(width)}  delta vs baseline: {tally(delta)}", red=fails, green=not fails)
                for change in delta_changes(delta):
                    if change.kind in ("worse", "relaxed", "removed"):
                        where = item_path(change.dataset, change.check, change.column)
                        tr.write_line(f"{''.ljust(width)}    {change.kind.upper()} {where}: {change.what}", red=True)
        for name in state.removed_jobs():
            tr.write_line(f"REMOVED {name}: a job of the baseline no longer runs (needs approval: "
                          "--parity-accept-relaxed)", red=True)
        if state.run_pages_error:
            tr.write_line(state.run_pages_error, red=True)


def _job_line(result: JobResult) -> str:
    datasets = len(result.datasets)
    counts: dict[str, int] = {}
    failing = []
    for ds in result.datasets:
        for c in ds.checks:
            counts[c.status] = counts.get(c.status, 0) + 1
            if c.status in FAILING:
                failing.append(f"{ds.name}:{c.name}")
    parts = [f"{datasets} dataset{'s' if datasets != 1 else ''}"]
    parts += [f"{counts[s]} {s}" for s in ("fail", "error", "warn", "waived") if counts.get(s)]
    text = ", ".join(parts)
    if failing:
        text += f" ({', '.join(failing[:5])}{' ...' if len(failing) > 5 else ''})"
    return text


# --------------------------------------------------------------------------------------------------------------
# collection (registered only with --parity)


class ParityCollector:
    def __init__(self, state: ParityState) -> None:
        self.state = state

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        state = self.state
        s = state.settings
        jobs = " ".join(state.selected) or "(none)"
        line = (f"parity {__version__}: jobs {jobs} | jobs dir {state.show(s.jobs_dir)} | "
                f"report dir {state.show(s.report_dir)}")
        if s.baseline is not None:
            line += f" | baseline {state.show(s.baseline)} (failing checks fail only when worse)"
        return [line]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
            None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if isinstance(item, ParityCheck) and report.skipped and isinstance(report.longrepr, tuple):
            # point the skip at the dataset's table in parity.toml, not at pytest's runner
            report.longrepr = (str(item.path), item.line, report.longrepr[2])
        return report

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        """``pytest --parity JOB`` without test paths collects the parity items only (not the whole test suite
        below the current folder or in ``testpaths``); give test paths to run tests too."""
        return True if parity_only(config) else None

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> ParityJobFile | None:
        """A ``parity.toml`` reached by pytest's own traversal (or named on the command line)."""
        if file_path.name != SPEC_FILE:
            return None
        folder = file_path.parent.resolve()
        names = [n for n, f in self.state.folders.items() if f == folder]
        if names:
            return ParityJobFile.from_parent(parent, path=file_path, job=names[0])
        if parent.session.isinitpath(file_path):
            name = folder.name
            self.state.folders.setdefault(name, folder)
            return ParityJobFile.from_parent(parent, path=file_path, job=name)
        return None

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, pytest.CollectReport,
                                                                                     pytest.CollectReport]:
        report = yield
        if isinstance(collector, pytest.Session) and report.passed:
            report.result.extend(self._session_job_files(collector))
        return report

    def _session_job_files(self, session: pytest.Session) -> Iterator[ParityJobFile]:
        """The selected jobs that pytest's own traversal of the arguments will not reach."""
        config = session.config
        args = [(config.invocation_params.dir / str(a).split("::")[0]).resolve() for a in config.args]
        only = parity_only(config)
        if not only and any(_is_job_path(p) for p in args):
            return  # the command line names parity items itself: collect exactly those
        for name in self.state.selected:
            spec_file = self.state.folders[name] / SPEC_FILE
            if not only and any(spec_file == p or p in spec_file.parents for p in args):
                continue  # traversal reaches it (pytest_collect_file)
            yield ParityJobFile.from_parent(session, path=spec_file, job=name, nodeid=_nodeid(config, spec_file))


def parity_only(config: pytest.Config) -> bool:
    """No test paths on the command line (pytest took ``testpaths`` or the current folder): parity items only."""
    return config.args_source != pytest.Config.ArgsSource.ARGS


def _is_job_path(path: Path) -> bool:
    return (path.name == SPEC_FILE and path.is_file()) or (path.is_dir() and (path / SPEC_FILE).is_file())


def _nodeid(config: pytest.Config, path: Path) -> str:
    try:
        return path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return path.as_posix()


def _dataset_lines(spec_file: Path) -> dict[str, int]:
    """The line of each ``[datasets.<name>]`` table, for warnings that point into parity.toml."""
    out: dict[str, int] = {}
    try:
        lines = spec_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text.startswith("[datasets.") and text.endswith("]"):
            name = text[len("[datasets."):-1].split(".")[0].strip().strip("\"'")
            out.setdefault(name, number)
    return out


class CheckFailed(Exception):
    """A parity check failed: the message is the whole failure report (no traceback)."""


class ParityJobFile(pytest.File):
    """A job's ``parity.toml``: one :class:`ParityDataset` per dataset.  A spec error is a collection error."""

    def __init__(self, *, job: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.extra_keyword_matches.add(job)  # -k claims_monthly

    def collect(self) -> Iterable[ParityDataset]:
        state = state_of(self.config)
        state.folders.setdefault(self.job, self.path.parent.resolve())
        try:
            spec = state.spec(self.job)
        except ParityError as exc:
            raise self.CollectError(f"parity job {self.job!r}: {exc}") from None
        lines = _dataset_lines(self.path)
        return [ParityDataset.from_parent(self, name=ds.name, job=self.job, line=lines.get(ds.name, 1))
                for ds in spec.datasets]


class ParityDataset(pytest.Collector):
    """One dataset of a job: one :class:`ParityCheck` item per check."""

    def __init__(self, *, job: str, line: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.line = line

    def collect(self) -> Iterable[ParityCheck]:
        from parity.model import CHECK_NAMES

        return [ParityCheck.from_parent(self, name=check, job=self.job, dataset=self.name, line=self.line)
                for check in CHECK_NAMES]

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.line - 1, f"{self.job}::{self.name}"


class ParityCheck(pytest.Item):
    """One check of one dataset: passes, fails, warns or skips as the check did."""

    def __init__(self, *, job: str, dataset: str, line: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.dataset = dataset
        self.line = line
        self.add_marker("parity")

    @property
    def check(self) -> str:
        return self.name

    def runtest(self) -> None:
        __tracebackhide__ = True
        from parity.report.text import check_text, error_text, key_figures

        state = state_of(self.config)
        run = state.run(self.job)
        report = state.show(state.report_path(self.job))
        if run.result is None:
            self.user_properties.append(("status", "error"))
            raise CheckFailed(f"{self.job}: the job could not run\n  {run.error}")
        ds = _dataset(run.result, self.dataset)
        if ds is None:
            self.user_properties.append(("status", "error"))
            raise CheckFailed(f"{self.job}: the result has no dataset {self.dataset!r}")
        self.user_properties.extend(key_figures(ds, self.check))
        self.user_properties.append(("report", report))
        if ds.error is not None or ds.verdict == "error":
            raise CheckFailed(error_text(ds, job=self.job, report=report))
        res = ds.check(self.check)
        if res is None:
            pytest.skip(f"{self.check} was not run for {self.job}/{self.dataset}")
        if self.check in INFORMATIONAL_CHECKS:  # never fails; its table shows with -rP (and junit_logging)
            if ds.top_diffs and any(ds.top_diffs.values()):
                self.add_report_section("call", "parity", check_text(ds, res, job=self.job, title=False))
            return
        if run.result.delta is not None:
            from parity.report.delta import gating_changes

            gating = gating_changes(run.result.delta, run.result, ds, self.check, res.status in FAILING)
            if gating:
                lines = [f"{item_path(self.job, self.dataset)} {self.check} against the baseline "
                         f"{run.result.delta.get('baseline')}:"]
                lines += [f"  {c.kind.upper()}{' (needs approval: --parity-accept-relaxed)' if c.kind != 'worse' else ''}"
                          f" {c.where}: {c.what}" for c in gating]
                self.user_properties.append(("baseline", "worse"))
                raise CheckFailed("\n".join(lines) + "\n" + check_text(ds, res, job=self.job, report=report,
                                                                      title=False))
        if res.status in FAILING:
            if run.result.delta is not None:
                self.user_properties.append(("baseline", "known"))
                warnings.warn_explicit(ParityWarning(
                    f"{item_path(self.job, self.dataset)} {self.check} fails as in the baseline (not a regression): "
                    f"{res.summary}"), ParityWarning, filename=str(self.path), lineno=self.line)
                return
            raise CheckFailed(check_text(ds, res, job=self.job, report=report, title=False))
        if res.status == "skipped":
            pytest.skip(f"{self.check}: {res.summary}")
        if res.status == "warn":
            warnings.warn_explicit(ParityWarning(f"{item_path(self.job, self.dataset)} {self.check}: {res.summary}"),
                                   ParityWarning, filename=str(self.path), lineno=self.line)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: TracebackStyle | None = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        if isinstance(excinfo.value, ParityWarning):  # -W error::parity.assertion.ParityWarning
            return f"{excinfo.value} (a warning, made an error by a warnings filter)"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.line - 1, f"{self.job}::{self.dataset}::{self.check}"


def _dataset(result: JobResult, name: str) -> DatasetResult | None:
    return next((d for d in result.datasets if d.name == name), None)


# --------------------------------------------------------------------------------------------------------------
# the fixture


@pytest.fixture(scope="session")
def parity_job(pytestconfig: pytest.Config) -> Callable[[str], JobResult]:
    """``parity_job("claims_monthly")``: the job's JobResult, run once per session (shared with --parity items).

    The job is found in the jobs folder (``--parity-jobs-dir``, ini ``parity_jobs_dir``, ``[tool.parity]``);
    a path to a job folder also works.  Its report is written at session end like any other job's.
    """
    state = state_of(pytestconfig)

    def get(name: str) -> JobResult:
        __tracebackhide__ = True
        try:
            state.folder(name)
        except ParityError as exc:
            pytest.fail(str(exc), pytrace=False)
        run = state.run(name)
        if run.result is None:
            pytest.fail(f"parity job {name!r} could not run: {run.error}", pytrace=False)
        return run.result

    return get
