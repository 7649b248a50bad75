"""The run service: what ``parity run`` and ``pytest --parity`` share, declared and done in one place.

* the settings both front ends take (:data:`OPTIONS`: the CLI's ``--jobs-dir`` is the plugin's
  ``--parity-jobs-dir`` and ini ``parity_jobs_dir``), resolved by one rule (:func:`resolve_settings`): the command
  line, then the pytest ini file, then ``[tool.parity]``, then the defaults;
* the baseline gate (:class:`Baseline`): read the accepted reports once, attach each job's delta, find the
  baseline's jobs that no longer run;
* running a job (:func:`run_spec`) and publishing a run's reports (:func:`publish_run`).

The front ends keep only what is theirs: click and rich for the CLI, collection, items and the terminal summary
for the plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from parity.model import JobResult

if TYPE_CHECKING:
    from parity.engine.choice import EngineChoice
    from parity.report.delta import Change
    from parity.report.publish import Publication
    from parity.spec import JobSpec, ProjectConfig

Front = Literal["cli", "pytest"]


@dataclass(frozen=True)
class Option:
    """One setting of a run, as each front end spells it: ``--jobs-dir`` (CLI), ``--parity-jobs-dir`` and ini
    ``parity_jobs_dir`` (pytest), ``[tool.parity] jobs_dir``."""

    name: str  # the Settings field
    help: str
    metavar: str | None = None  # None: a flag
    ini: str | None = None  # the pytest ini key, relative to the ini file
    project: str | None = None  # the [tool.parity] key
    default: str | None = None  # what applies when nothing is given

    @property
    def flag(self) -> bool:
        return self.metavar is None

    def option(self, front: Front) -> str:
        return "--" + ("parity-" if front == "pytest" else "") + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        """The pytest option's name in ``config.getoption``."""
        return "parity_" + self.name

    def help_for(self, front: Front) -> str:
        """The help text, with where the default comes from as this front end reads it."""
        sources = [f"ini {self.ini}" if self.ini and front == "pytest" else None,
                   f"[tool.parity] {self.project}" if self.project else None,
                   f"else {self.default}" if self.default else None]
        where = ", ".join(s for s in sources if s)
        return f"{self.help} (default: {where})." if where else self.help + "."


OPTIONS: tuple[Option, ...] = (
    Option("jobs_dir", "Folder of job folders", "DIR", ini="parity_jobs_dir", project="jobs_dir",
           default="fixtures/"),
    Option("report_dir", "Where the reports are written", "DIR", ini="parity_report_dir", project="report_dir",
           default="reports/"),
    Option("baseline", "Accepted baseline report (a parity.json or a report folder): only what got worse than in "
           "it fails", "PATH", project="baseline"),
    Option("accept_relaxed", "With a baseline: approve a relaxed spec (ignored columns, wider tolerances, lower "
           "severities, new waivers, removed datasets or jobs); without it a relaxation fails"),
    Option("engine", "Engine that computes the comparisons: polars or spark (docs/spark.md)", "NAME",
           project="engine", default="polars"),
    Option("spark_master", "Spark master for the spark engine when no SparkSession is active", "URL",
           project="spark.master", default="local[*]"),
)
#: the help of the pytest ini keys
INI_HELP = {"parity_jobs_dir": "parity: folder of job folders (relative to the ini file)",
            "parity_report_dir": "parity: folder the JSON reports are written to (relative to the ini file)"}


@dataclass(frozen=True)
class Settings:
    jobs_dir: Path
    report_dir: Path
    #: the accepted baseline report: gate on regressions only
    baseline: Path | None = None
    accept_relaxed: bool = False
    #: the engine and its settings (None: polars)
    engine: EngineChoice | None = None


def resolve_settings(project: ProjectConfig, given: Mapping[str, Any], cwd: Path,
                     ini: Mapping[str, str] | None = None, ini_base: Path | None = None) -> Settings:
    """The settings of a run: ``given`` on the command line (paths relative to ``cwd``), else ``ini`` (pytest's ini
    values, relative to ``ini_base``), else ``project`` (``[tool.parity]``, with its defaults).  Folders are
    absolute, so a port that changes the working directory cannot move them."""

    def path(name: str, fallback: Path | None) -> Path | None:
        value = given.get(name)
        if value:
            return (cwd / str(value)).resolve()
        text = (ini or {}).get(name) or ""
        if text and ini_base is not None:
            return (ini_base / text).resolve()
        return fallback

    jobs = path("jobs_dir", project.jobs_dir.resolve())
    reports = path("report_dir", project.report_dir.resolve())
    assert jobs is not None and reports is not None
    from parity.engine.choice import choose

    engine = choose(given.get("engine"), given.get("spark_master"), project)  # no pyspark: an error before any work
    return Settings(jobs_dir=jobs, report_dir=reports, baseline=path("baseline", project.baseline),
                    accept_relaxed=bool(given.get("accept_relaxed")), engine=engine)


# --------------------------------------------------------------------------------------------------------------
# the baseline gate


@dataclass(frozen=True)
class Baseline:
    """The accepted reports a run is gated on: only what got worse (or a relaxed spec, unless accepted) fails."""

    path: Path
    reports: Mapping[str, JobResult]
    accept_relaxed: bool = False

    @staticmethod
    def load(path: Path, accept_relaxed: bool = False) -> Baseline:
        """Read the baseline (a parity.json, a job's report folder or a report folder); a bad one is a
        ReportError naming its file, before any job runs."""
        from parity.report.delta import load_reports

        return Baseline(path, load_reports(path), accept_relaxed)

    def apply(self, result: JobResult) -> JobResult:
        """``result`` with its delta against the baseline's report of the same job."""
        from parity.report.delta import delta_dict, diff_job

        changes = diff_job(self.reports.get(result.job), result)
        return replace(result, delta=delta_dict(changes, str(self.path), self.accept_relaxed))

    def removed(self, ran: Iterable[str]) -> list[str]:
        """The baseline's jobs that are not in ``ran`` (with every job selected: their folder or parity.toml is
        gone); their removal needs approval."""
        return sorted(set(self.reports) - set(ran))

    def removed_changes(self, ran: Iterable[str]) -> list[Change]:
        from parity.report.delta import diff_job

        return [c for name in self.removed(ran) for c in diff_job(self.reports[name], None)]


def gate_fails(results: Iterable[JobResult], removed: Iterable[Change] = (), accept_relaxed: bool = False) -> bool:
    """Does a run gated on a baseline fail: a job's delta fails, or a job of the baseline is gone unaccepted."""
    from parity.report.delta import delta_fails
    from parity.report.delta import gate_fails as changes_fail

    return any(delta_fails(r.delta) for r in results) or changes_fail(list(removed), accept_relaxed)


# --------------------------------------------------------------------------------------------------------------
# running and publishing


def run_spec(spec: JobSpec, baseline: Baseline | None = None,
             progress: Callable[[str], None] | None = None, engine: EngineChoice | None = None) -> JobResult:
    """Run one job (its port once, then every dataset) and attach its delta when a baseline is given.  Raises
    what the job raises (a SpecError found while comparing, or a bug): the front end decides how to show it."""
    from parity.run.runner import run_job

    result = run_job(spec, progress, engine) if progress is not None else run_job(spec, engine=engine)
    return baseline.apply(result) if baseline is not None else result


def could_not_run(name: str, message: str, spec: JobSpec | None = None,
                  baseline: Baseline | None = None) -> JobResult:
    """The report of a job that could not run (verdict ``error``), with its delta when a baseline is given."""
    from parity.run.runner import failed_job

    result = failed_job(name, message, spec)
    return baseline.apply(result) if baseline is not None else result


def prepare_reports(report_dir: Path) -> None:
    """Check that the report folder can be written, before any work (a ReportError otherwise)."""
    from parity.report.publish import prepare

    prepare(report_dir)


def publish_run(report_dir: Path, results: list[JobResult], run_error: str | None = None) -> Publication:
    """Write each job's report folder, then index.html and summary.md for this run, published together."""
    from parity.report.publish import publish

    return publish(report_dir, results, run_error=run_error)
