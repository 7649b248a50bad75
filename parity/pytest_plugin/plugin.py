"""The pytest plugin: ``pytest --parity JOB`` runs a parity job as one test per dataset and check.

Registered through the ``pytest11`` entry point (``-p no:parity`` disables it).  Without ``--parity`` it adds
options, the ``parity_job`` fixture and nothing else: no items, no header, and no import of polars, pyreadstat or
pandas (the comparison engine loads when a job first runs).

Design (see ``docs/pytest.md``):

* the hooks hand off to the session object, :class:`~parity.pytest_plugin.session.ParityState`, kept in
  ``config.stash`` (one per pytest config, so per session and per worker), which runs jobs, gates on the baseline
  and publishes reports through the run service ``parity run`` uses too (:mod:`parity.run.service`);
* every selected job is a :class:`ParityJobFile` (its ``parity.toml``) holding one :class:`ParityDataset`
  collector per dataset, holding one :class:`ParityCheck` item per check: node ids read
  ``fixtures/claims_monthly/parity.toml::claims::numeric_tolerance``;
* a job runs (loads and compares every dataset) the first time one of its items runs, once per process;
* reports are written at session end by the process that owns the session: the plain pytest process, or the
  xdist controller, which receives each worker's job results through ``workeroutput`` and merges them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from parity import __version__
from parity.assertion import ParityWarning
from parity.errors import ParityError
from parity.model import FAILING, INFORMATIONAL_CHECKS, item_path
from parity.pytest_plugin.session import SPEC_FILE, WORKER_OUTPUT_KEY, JobRun, ParityState, state_of
from parity.run.service import INI_HELP, OPTIONS

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

    from parity.model import DatasetResult, JobResult

__all__ = ["JobRun", "ParityCheck", "ParityDataset", "ParityJobFile", "ParityState", "ParityWarning", "parity_job"]


# --------------------------------------------------------------------------------------------------------------
# options: the run service's settings (shared with `parity run`), as pytest options and ini keys


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "parity: SAS-to-Python parity jobs as tests")
    group.addoption(
        "--parity", action="append", default=[], metavar="JOB",
        help="Run parity job JOB (a job folder name in the jobs folder, or a path to a job folder) as one test "
             "per dataset and check; repeatable, 'all' for every job.",
    )
    for opt in OPTIONS:
        if opt.flag:
            group.addoption(opt.option("pytest"), dest=opt.dest, action="store_true", default=False,
                            help=opt.help_for("pytest"))
        else:
            group.addoption(opt.option("pytest"), dest=opt.dest, default=None, metavar=opt.metavar,
                            help=opt.help_for("pytest"))
        if opt.ini:
            parser.addini(opt.ini, INI_HELP[opt.ini], default="")


# --------------------------------------------------------------------------------------------------------------
# configuration and the always-on hooks (cheap: they return at once unless a job ran)


def pytest_configure(config: pytest.Config) -> None:
    state = state_of(config)
    config.pluginmanager.register(ParityReporter(state), "parity-reporter")
    if not state.active:
        return
    state.configure()
    config.pluginmanager.register(ParityCollector(state), "parity-collector")


class ParityReporter:
    """Hands the session's end to the session object: reports, exit status, terminal summary; merges xdist
    workers' results."""

    def __init__(self, state: ParityState) -> None:
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        payloads = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if isinstance(payloads, dict):
            self.state.receive(payloads)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.state.finish(session)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self.state.summary(terminalreporter)


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
