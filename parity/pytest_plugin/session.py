"""The pytest plugin's session: everything the plugin knows in one pytest process, kept in ``config.stash``.

The plugin's hooks (:mod:`parity.pytest_plugin.plugin`) hand off to the :class:`ParityState` of their config; it
resolves the settings, gates on the baseline, runs jobs and publishes reports through the run service that
``parity run`` uses too (:mod:`parity.run.service`), and keeps what is pytest's own: which jobs were selected,
xdist workers' results, the exit status and the terminal summary.
"""

from __future__ import annotations

import contextlib
import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from parity.errors import ParityError, UsageError
from parity.model import FAILING, GATING_CHANGES, item_path
from parity.run.service import Baseline, Settings

if TYPE_CHECKING:
    from parity.model import JobResult
    from parity.spec import JobSpec

SPEC_FILE = "parity.toml"  # parity.spec.SPEC_FILE, repeated so that the inert plugin imports nothing more
ALL_JOBS = "all"
WORKER_OUTPUT_KEY = "parity_results"  # config.workeroutput key: {job: JobRun payload (JSON text)}


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
    baseline: Baseline | None = None  # the accepted baseline reports
    _settings: Settings | None = None

    @property
    def active(self) -> bool:
        return bool(self.config.getoption("parity"))

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")  # pytest-xdist's public marker of a worker process

    @property
    def settings(self) -> Settings:
        """Command line, then ``[tool.pytest.ini_options]``, then ``[tool.parity]``, then the defaults (the run
        service's one rule, parity.run.service.resolve_settings)."""
        if self._settings is None:
            from parity.run.service import OPTIONS, resolve_settings
            from parity.spec import load_project_config

            config = self.config
            try:
                project = load_project_config(config.rootpath)
            except ParityError as exc:
                raise pytest.UsageError(f"parity: {exc}") from None
            given = {o.name: config.getoption(o.dest) for o in OPTIONS}
            ini = {o.name: str(config.getini(o.ini) or "") for o in OPTIONS if o.ini}
            try:
                self._settings = resolve_settings(project, given, config.invocation_params.dir, ini,
                                                  config.inipath.parent if config.inipath else config.rootpath)
            except ParityError as exc:  # an engine that cannot run (no pyspark): before any test
                raise pytest.UsageError(f"parity: {exc}") from None
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
            from parity.run.service import run_spec

            run.result = run_spec(self.spec(name), self.baseline, engine=self.settings.engine)
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
        if self.baseline is None or self.is_worker or self.settings.accept_relaxed:
            return []
        values = {v.strip() for raw in self.config.getoption("parity") or [] for v in str(raw).split(",")}
        return self.baseline.removed(self.selected) if ALL_JOBS in values else []

    def load_baseline(self) -> None:
        """Read the baseline once, at configure time: a bad baseline is a usage error before any test runs."""
        assert self.settings.baseline is not None
        try:
            self.baseline = Baseline.load(self.settings.baseline, self.settings.accept_relaxed)
        except ParityError as exc:
            raise pytest.UsageError(f"parity: --parity-baseline: {exc}") from None

    def receive(self, payloads: dict[str, str]) -> None:
        """Merge job results sent by an xdist worker; the first result of a job wins (they are identical)."""
        for name, text in payloads.items():
            if name not in self.runs:
                self.runs[name] = JobRun.from_payload(name, text)

    def configure(self) -> None:
        """With ``--parity``: check the report folder and read the baseline (usage errors before any test runs),
        and select the jobs.  A run that cannot start publishes pages that say why (not an older run's)."""
        if not self.is_worker:
            from parity.run.service import prepare_reports

            try:
                prepare_reports(self.settings.report_dir)  # an unusable report folder is an error before any test
            except ParityError as exc:
                raise pytest.UsageError(f"parity: {exc}") from None
        try:
            if self.settings.baseline is not None:
                self.load_baseline()
            self.config.addinivalue_line("markers", "parity: a parity check item (added by --parity)")
            self.select()
        except pytest.UsageError as exc:  # no job will run: the pages say so instead of showing an older run's
            if not self.is_worker:
                from parity.run.service import publish_run

                with contextlib.suppress(ParityError):
                    publish_run(self.settings.report_dir, [], run_error=str(exc))
            raise

    def finish(self, session: pytest.Session) -> None:
        """At session end: write the reports (the process that owns the session), and the exit status as
        ``parity run``'s: 1 when a job of the baseline no longer runs, 2 when a dataset could not be compared."""
        if self.runs and not self.is_worker:
            self.write_reports()
        if self.removed_jobs() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a job of the baseline no longer runs
        errored = any(run.error or (run.result is not None and run.result.verdict == "error")
                      for run in self.runs.values())
        if errored and not self.is_worker and session.exitstatus in (pytest.ExitCode.OK,
                                                                     pytest.ExitCode.TESTS_FAILED):
            # as `parity run`: 2 when a dataset could not be compared (an error is not a parity failure)
            session.exitstatus = 2
        import sys

        from parity.run.sandbox import leftovers_message, release_leftovers

        left = release_leftovers()  # a port's thread left running must not hang pytest (or an xdist worker)
        if left:
            sys.stderr.write(f"parity: warning: {leftovers_message(left)}\n")

    def summary(self, tr: pytest.TerminalReporter) -> None:
        """The ``parity`` section of the terminal summary: each job's verdict, report, and delta."""
        if not self.runs or self.is_worker:
            return
        tr.write_sep("=", "parity")
        width = max(len(n) for n in self.runs)
        for name, run in sorted(self.runs.items()):
            verdict = run.result.verdict if run.result else "error"
            color = {"pass": {"green": True}, "warn": {"yellow": True}, "fail": {"red": True, "bold": True}}.get(
                verdict, {"purple": True})
            tr.write(f"{name.ljust(width)}  ")
            from parity.report.markdown import job_verdict_label

            tr.write((job_verdict_label(run.result) if run.result else verdict).upper().ljust(5), **color)
            if run.result is None:
                tr.write_line(f"  could not run: {(run.error or '').splitlines()[0] if run.error else ''}")
                continue
            tr.write(f"  {_job_line(run.result)}")
            tr.write_line(f"  report {self.show(run.report)}" if run.report is not None else "")
            if run.report_error:
                tr.write_line(f"{''.ljust(width)}  {run.report_error}", red=True)
            from parity.report.markdown import capture_warnings

            for warning in capture_warnings(run.result.run):
                tr.write_line(f"{''.ljust(width)}  WARN {warning}", yellow=True)
            delta = run.result.delta
            if delta is not None:
                from parity.report.delta import delta_changes, delta_fails, tally

                fails = delta_fails(delta)
                tr.write_line(f"{''.ljust(width)}  delta vs baseline: {tally(delta)}", red=fails, green=not fails)
                for change in delta_changes(delta):
                    if change.kind in GATING_CHANGES:
                        where = item_path(change.dataset, change.check, change.column)
                        tr.write_line(f"{''.ljust(width)}    {change.kind.upper()} {where}: {change.what}", red=True)
        for name in self.removed_jobs():
            tr.write_line(f"REMOVED {name}: a job of the baseline no longer runs (needs approval: "
                          "--parity-accept-relaxed)", red=True)
        if self.run_pages_error:
            tr.write_line(self.run_pages_error, red=True)

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
        from parity.run.service import could_not_run, publish_run

        runs = [run for run in self.runs.values() if run.report is None]
        if not runs:
            return
        results = {run.name: run.result or could_not_run(run.name, (run.error or "the job did not run").splitlines()[0],
                                                        self.specs.get(run.name)) for run in runs}
        try:
            published = publish_run(self.settings.report_dir, list(results.values()))
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

