"""The ``parity`` command line.  Every ParityError is caught in :func:`main`, which returns the exit code:
0 all pass, 1 a parity check failed, 2 usage, spec or input errors."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from parity import __version__
from parity.errors import EXIT_OK, EXIT_PARITY_FAILED, EXIT_USAGE, ParityError, UsageError
from parity.model import verdict_of
from parity.run.service import (
    OPTIONS,
    Baseline,
    Settings,
    could_not_run,
    gate_fails,
    prepare_reports,
    publish_run,
    resolve_settings,
    run_spec,
)

if TYPE_CHECKING:
    from parity.sources.cache import CacheFolder

F = TypeVar("F", bound=Callable[..., Any])


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # CI logs are not terminals: give them a width that fits the summary table instead of rich's 80
    width = None if stream.isatty() else 160
    # user text (job, dataset and file names, labels) is printed literally: no markup, no :emoji: codes
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width, markup=False, emoji=False)


def _plain(text: str) -> Any:
    """User text as a rich renderable that is printed literally (``[/x]`` and ``[link=...]`` are just text)."""
    from rich.text import Text

    return Text(text)


def _print_error(console: Any, message: str, label: str = "error: ") -> None:
    from rich.text import Text

    console.print(Text.assemble((label, "bold red"), message))


def _settings(**given: Any) -> Settings:
    """The run's settings: the command line, then ``[tool.parity]`` of the nearest pyproject.toml, then defaults."""
    from parity.spec import load_project_config

    return resolve_settings(load_project_config(), given, Path.cwd())


START_HINT = ("; to start a job from its SAS outputs: parity init JOB --sas FILE.sas7bdat (see parity init "
              "--help)")


def _config(jobs_dir: str | None, report_dir: str | None) -> tuple[Path, Path]:
    settings = _settings(jobs_dir=jobs_dir, report_dir=report_dir)
    return settings.jobs_dir, settings.report_dir


def _option(name: str, **kwargs: Any) -> Callable[[F], F]:
    """The click option of one of the run's settings (parity.run.service.OPTIONS, shared with the pytest plugin)."""
    opt = next(o for o in OPTIONS if o.name == name)
    if opt.flag:
        return click.option(opt.option("cli"), is_flag=True, help=opt.help_for("cli"))
    return click.option(opt.option("cli"), default=None, help=opt.help_for("cli"), **kwargs)


jobs_dir_option = _option("jobs_dir", type=click.Path(file_okay=False))
report_dir_option = _option("report_dir", type=click.Path(file_okay=False))
baseline_option = _option("baseline", type=click.Path())
accept_relaxed_option = _option("accept_relaxed")
engine_option = _option("engine", type=click.Choice(["polars", "spark"]))
spark_master_option = _option("spark_master")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parity")
def cli() -> None:
    """parity: prove that a Python port produces the same outputs as its SAS original."""


@cli.command("run")
@click.argument("jobs", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every job in the jobs folder.")
@jobs_dir_option
@report_dir_option
@baseline_option
@accept_relaxed_option
@engine_option
@spark_master_option
@click.option("--no-cache", is_flag=True, help="Read every SAS file again instead of reusing parity's cache of "
              "big ones (in $PARITY_CACHE_DIR, else $XDG_CACHE_HOME/parity or ~/.cache/parity).")
def run_cmd(jobs: tuple[str, ...], run_all: bool, jobs_dir: str | None, report_dir: str | None,
            baseline: str | None, accept_relaxed: bool, engine: str | None, spark_master: str | None,
            no_cache: bool) -> None:
    """Compare JOB's SAS outputs with its Python outputs and write reports/<job>/parity.json and parity.html,
    then reports/index.html and reports/summary.md for this run (all published together)."""
    if no_cache:
        from parity.sources.cache import disabled_for

        click.get_current_context().call_on_close(disabled_for())
    from parity.report.terminal import render_summary
    from parity.spec import discover_jobs, load_job

    settings = _settings(jobs_dir=jobs_dir, report_dir=report_dir, baseline=baseline, accept_relaxed=accept_relaxed,
                         engine=engine, spark_master=spark_master)
    jobs_path, reports_path = settings.jobs_dir, settings.report_dir
    if run_all and jobs:
        raise UsageError("give job names or --all, not both")
    names = discover_jobs(jobs_path) if run_all else list(jobs)
    if not names:
        raise UsageError((f"no jobs to run: name one or more jobs, or use --all (jobs folder: {jobs_path})"
                          if not run_all else f"no jobs (folders with parity.toml) in {jobs_path}") + START_HINT)
    out = _console()
    err = _console(stderr=True)
    out.print(_plain(f"parity {__version__} | jobs: {' '.join(names)} | jobs dir: {jobs_path} | reproduce: parity "
                     f"run {' '.join(names)} --jobs-dir {jobs_path}"))
    prepare_reports(reports_path)  # an unusable report folder is an error before any work
    try:
        specs = [load_job(folder, name) for name, folder in _job_folders(jobs_path, names).items()]  # spec errors
        # a bad baseline is an error before any work
        gate = Baseline.load(settings.baseline, accept_relaxed) if settings.baseline is not None else None
    except ParityError as exc:  # this run ran nothing: its pages say so instead of showing an older run's
        with contextlib.suppress(ParityError):
            publish_run(reports_path, [], run_error=str(exc))
        raise
    results = []
    from parity.run.progress import RunProgress

    with RunProgress(err) as progress:  # on a terminal only: the stage, and rows read per side
        for spec in specs:
            try:
                result = run_spec(spec, gate, progress=progress, engine=settings.engine)
            except Exception as exc:  # the job is reported as an error; the other jobs still run and publish
                result = could_not_run(spec.name, _job_error(err, exc), spec, gate)
            results.append(result)
    published = publish_run(reports_path, results)
    for job, problem in published.problems.items():
        _print_error(err, f"{job}: {problem}")
    render_summary(out, [(r, published.reports[r.job]) for r in results])
    verdict = verdict_of(r.verdict for r in results)
    ctx = click.get_current_context()
    if verdict == "error":
        ctx.exit(EXIT_USAGE)
    if gate is not None:
        # with --all, a job of the baseline that no longer runs (its folder or parity.toml is gone) needs approval
        gone = gate.removed_changes(names) if run_all else []
        for change in gone:
            _print_error(err, f"{change.job}: {change.what}" + (
                " (accepted: --accept-relaxed)" if accept_relaxed else " (use --accept-relaxed to approve)"),
                label="REMOVED ")
        ctx.exit(EXIT_PARITY_FAILED if gate_fails(results, gone, accept_relaxed) else EXIT_OK)
    ctx.exit(EXIT_PARITY_FAILED if verdict == "fail" else EXIT_OK)


def _job_error(err: Any, exc: Exception) -> str:
    """The message of a job that stopped; an unexpected exception (a bug) also prints its traceback."""
    if isinstance(exc, ParityError):
        message = str(exc)
    else:
        import traceback

        from parity.run.runner import internal_error

        traceback.print_exception(exc, file=sys.stderr)
        message = internal_error(exc, "running the job")
    _print_error(err, message)
    return message


def _job_folders(jobs_path: Path, names: Sequence[str]) -> dict[str, Path]:
    """Job name -> absolute folder, in the order given; two different folders with one name are a usage error."""
    from parity.spec import resolve_job

    folders: dict[str, Path] = {}
    for value in names:
        name, folder = resolve_job(jobs_path, value)
        if folders.setdefault(name, folder) != folder:
            raise UsageError(f"two jobs named {name!r} ({folders[name]} and {folder}): their reports would both be "
                             f"<report dir>/{name}/; run them separately with different --report-dir")
    return folders


@cli.command("diff")
@click.argument("base", type=click.Path())
@click.argument("head", type=click.Path())
@click.option("--markdown", "markdown_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the delta as Markdown to this file ('-' for stdout).")
@accept_relaxed_option
def diff_cmd(base: str, head: str, markdown_out: str | None, accept_relaxed: bool) -> None:
    """What got worse, better, is new or relaxed from BASE to HEAD (parity.json files or report folders).

    Exit 1 when anything got worse or the spec was relaxed (unless --accept-relaxed), 0 otherwise, 2 on bad
    input."""
    from parity.report.delta import diff_reports, gate_fails, load_reports, markdown
    from parity.report.terminal import render_delta

    changes = diff_reports(load_reports(Path(base)), load_reports(Path(head)))
    render_delta(_console(), changes, base, head, accept_relaxed)
    if markdown_out:
        text = markdown(changes, base, head, accept_relaxed)
        if markdown_out == "-":
            click.echo(text)
        else:
            from parity.report.json import write_output

            write_output(Path(markdown_out), text)
    click.get_current_context().exit(EXIT_PARITY_FAILED if gate_fails(changes, accept_relaxed) else EXIT_OK)


@cli.command("render")
@click.argument("report", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Where to write the HTML (default: next to the report, parity.json -> parity.html).")
def render_cmd(report: str, output: str | None) -> None:
    """Re-render a saved REPORT (a parity.json, or its folder) as the HTML report."""
    from parity.report.html import write_html
    from parity.report.json import REPORT_FILE, load_report

    path = Path(report)
    if path.is_dir():
        path = path / REPORT_FILE
    result = load_report(path)  # refuses other schema versions with a clear message (exit 2)
    out = Path(output) if output else path.with_suffix(".html")
    write_html(result, out)
    click.echo(f"wrote {out} ({result.job}: {result.verdict})")


@cli.command("list")
@jobs_dir_option
def list_cmd(jobs_dir: str | None) -> None:
    """List the jobs in the jobs folder with their datasets."""
    from rich.table import Table

    from parity.spec import discover_jobs, load_job

    jobs_path, _ = _config(jobs_dir, None)
    if not jobs_path.is_dir():  # a mistyped --jobs-dir is an error, not an empty list
        raise UsageError(f"no jobs folder {jobs_path}: give --jobs-dir or set [tool.parity] jobs_dir" + START_HINT)
    names = discover_jobs(jobs_path)
    if not names:
        click.echo(f"no jobs (folders with parity.toml) in {jobs_path}{START_HINT}")
        return
    table = Table(title=_plain(f"jobs in {jobs_path}"), title_justify="left")
    for col in ("job", "description", "datasets", "python"):
        table.add_column(col)
    broken: list[str] = []
    for name in names:
        try:
            spec = load_job(jobs_path / name)
        except ParityError as exc:  # one broken parity.toml: list the others, say what is wrong, exit 2
            broken.append(str(exc))
            table.add_row(_plain(name), _plain("(spec error, see below)"), _plain("-"), _plain("-"))
            continue
        table.add_row(*(_plain(cell) for cell in (name, spec.description, ", ".join(d.name for d in spec.datasets),
                                                  spec.python or "(files)")))
    _console().print(table)
    err = _console(stderr=True)
    for message in broken:
        _print_error(err, message)
    if broken:
        click.get_current_context().exit(EXIT_USAGE)


@cli.command("inspect")
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--encoding", default=None, help="Override the file's encoding.")
def inspect_cmd(file: str, as_json: bool, encoding: str | None) -> None:
    """What PROC CONTENTS shows for a .sas7bdat or .xpt file (or a CDISC Dataset-JSON .json/.ndjson file); the rows
    and columns of any other input parity reads (parquet file, folder or glob, arrow, csv)."""
    from parity.cli.inspect import contents, render_contents

    info = contents(Path(file), encoding=encoding)
    if as_json:
        import json

        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
    else:
        render_contents(_console(), info)


@cli.group("cache")
def cache_group() -> None:
    """parity's cache of big SAS files read into parquet: where it is, what it holds, clearing it."""


def _cache_folders() -> tuple[Path, list[CacheFolder]]:
    from parity.sources import cache

    try:
        return cache.root(), cache.folders()
    except cache.NoCacheFolder as exc:
        raise UsageError(f"parity has no cache folder here: {exc}") from None


def _size(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n < 2**30 else f"{n / 2**30:,.2f} GB"


@cache_group.command("info")
def cache_info_cmd() -> None:
    """The cache folder and, per version of parity (and of its SAS readers), its entries and their size."""
    from rich.table import Table

    base, found = _cache_folders()
    if not found:
        click.echo(f"parity's cache {base}: empty")
        return
    table = Table(title=_plain(f"parity's cache {base}"), title_justify="left")
    for col, justify in (("folder", "left"), ("used by", "left"), ("entries", "right"), ("size", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for folder in found:
        table.add_row(_plain(folder.path.name), _plain("this parity" if folder.current else "another version"),
                      f"{folder.entries:,}", _size(folder.size))
    _console().print(table)
    stale = [f for f in found if not f.current]
    if stale:
        click.echo(f"{len(stale)} folder{'s' if len(stale) > 1 else ''} of other versions "
                   f"({_size(sum(f.size for f in stale))}): `parity cache clear` removes them")


@cache_group.command("clear")
@click.option("--all", "everything", is_flag=True,
              help="Also this parity's entries (every SAS file is read again on its next run).")
def cache_clear_cmd(everything: bool) -> None:
    """Remove the cache folders of other parity versions (or, with --all, every entry).  A folder a running parity
    is building an entry in is left alone; clear the cache while no other run reads from it."""
    from parity.sources import cache

    base, _ = _cache_folders()
    removed, kept = cache.clear(everything)
    freed = sum(f.size for f in removed)
    click.echo(f"parity's cache {base}: removed {len(removed)} folder{'s' if len(removed) != 1 else ''} "
               f"({_size(freed)})" + (f"; kept {len(kept)} entr{'ies' if len(kept) > 1 else 'y'} a running parity "
                                      "is building" if kept else ""))


#: the exit code of a run stopped by SIGTERM (128 + the signal's number, as a shell reports it)
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled or timed out, ``timeout``, Kubernetes stopping a pod): stops the run as Ctrl-C
    does, so that it cleans up after itself (the cache's and the temporary folders it was writing, a publication
    of the reports not committed), instead of dying where it stands."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of raising SystemExit.  As the ``parity`` command (no ``argv``)
    it exits without waiting for threads a port left running, so a finished run never hangs, and SIGTERM stops it
    as Ctrl-C does (exit 143)."""
    import signal

    terminated = False
    previous = None
    if argv is None and threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = _main(argv)
    except Terminated:  # (one that came after the command's own handling)
        code, terminated = EXIT_TERMINATED, True
    finally:
        if previous is not None:
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signal.SIGTERM, previous)
    if terminated:
        click.echo("terminated (SIGTERM)", err=True)
    if argv is None:
        from parity.run.sandbox import alive_leftovers, leftovers_message

        left = alive_leftovers()
        if left:
            from parity.sources.sas_stream import wait_for_cache_writes

            wait_for_cache_writes()  # a cache entry being written is finished, not left half-written
            _print_error(_console(stderr=True), leftovers_message(left), label="warning: ")
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="parity", standalone_mode=False)
    except ParityError as exc:
        _print_error(_console(stderr=True), str(exc))
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, Terminated):
            click.echo("terminated (SIGTERM)", err=True)
            return EXIT_TERMINATED
        click.echo("aborted", err=True)
        return EXIT_USAGE
    except Exception as exc:  # a bug (or a port's leftover mess): an error, never exit 1 "parity failed"
        import traceback

        from parity.run.runner import internal_error

        traceback.print_exception(exc, file=sys.stderr)
        with contextlib.suppress(Exception):
            _print_error(_console(stderr=True), internal_error(exc, "running the command"))
        return EXIT_USAGE
    return int(code) if isinstance(code, int) else EXIT_OK


from parity.cli import capture, init  # noqa: E402, F401  (their commands register on `cli`)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
