"""``parity init JOB``: scaffold a job folder from its SAS outputs."""

from __future__ import annotations

from pathlib import Path

import click

from parity.cli.main import _console, _plain, cli, jobs_dir_option
from parity.errors import UsageError


@cli.command("init")
@click.argument("job")
@click.option("--sas", "sas_files", multiple=True, type=click.Path(dir_okay=False),
              help="A SAS output (.sas7bdat, .xpt, Dataset-JSON .json/.ndjson): one option per dataset. Default: "
                   "the SAS files already in the job folder.")
@click.option("--python", "python", multiple=True,
              help="MODULE:FUNCTION, the port (no port.py stub is written), or a file the port wrote (.parquet, "
                   ".csv, ...) to compare with the SAS output of the same name; repeatable for files.")
@click.option("--input", "inputs", multiple=True, metavar="NAME=FILE",
              help="An input of the port: [job] params NAME, loaded by the port.py stub; repeatable.")
@click.option("--no-copy", is_flag=True, help="Reference the files where they are instead of copying them into "
                                               "the job folder.")
@click.option("--force", is_flag=True, help="Replace the parity.toml, port.py and README.md of an existing job.")
@jobs_dir_option
def init_cmd(job: str, sas_files: tuple[str, ...], python: tuple[str, ...], inputs: tuple[str, ...],
             no_copy: bool, force: bool, jobs_dir: str | None) -> None:
    """Scaffold job JOB (a folder in the jobs folder, or a path): parity.toml with keys guessed from the data and
    tolerances suggested from the SAS formats, a port.py stub that loads the inputs and returns a frame per
    dataset, and a README.md.  Refuses to overwrite an existing job unless --force."""
    from parity.cli.main import _config
    from parity.scaffold import init_job

    jobs_path, _ = _config(jobs_dir, None)
    text = job.strip()
    if not text or text in (".", ".."):
        raise UsageError("give the new job's name (a folder in the jobs folder) or a path to its folder")
    folder = Path(text) if ("/" in text or "\\" in text) else jobs_path / text
    name = folder.resolve().name
    if name.startswith("."):
        raise UsageError(f"{text}: a job's folder cannot be hidden (its report folder would be); give a plain name")
    callables = [p for p in python if ":" in p and not Path(p).is_file()]
    files = [Path(p) for p in python if p not in callables]
    if len(callables) > 1:
        raise UsageError("--python MODULE:FUNCTION can be given once (the port of the whole job)")
    if callables:
        module, _, func = callables[0].partition(":")
        if not module or not func.isidentifier() or not all(part.isidentifier() for part in module.split(".")):
            raise UsageError(f"--python {callables[0]}: give MODULE:FUNCTION, e.g. port:run")
    pairs = []
    for item in inputs:
        param, sep, path = item.partition("=")
        if not sep or not path:
            raise UsageError(f"--input {item}: give NAME=FILE, e.g. claims=input/claims.csv")
        pairs.append((param.strip(), Path(path)))
    result = init_job(folder, name, [Path(s) for s in sas_files], python=callables[0] if callables else None,
                      python_files=files, inputs=pairs, force=force, copy=not no_copy)
    out = _console()
    out.print(_plain(f"created job {name} in {result.folder}"))
    for plan in result.datasets:
        keys = ", ".join(plan.keys.columns) or "none (rows matched by position)"
        tol = f", {len(plan.tolerances)} tolerance(s) from formats" if plan.tolerances else ""
        out.print(_plain(f"  {plan.name}: {plan.sas} ({plan.table.meta.rows:,} rows), keys {keys}{tol}"))
    for written in result.written:
        out.print(_plain(f"  wrote {written.name}"))
    where = [] if jobs_dir is None and folder == jobs_path / text else ["--jobs-dir", str(folder.resolve().parent)]
    out.print(_plain("next: review parity.toml, write the port, then: parity run " + " ".join([name, *where])))
