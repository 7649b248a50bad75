"""``parity capture JOB``: run the job's SAS program through saspy and capture its outputs with provenance."""

from __future__ import annotations

import click

from parity.cli.main import _console, _plain, _print_error, cli, jobs_dir_option

MAX_WARNINGS_SHOWN = 10


@cli.command("capture")
@click.argument("job")
@jobs_dir_option
@click.option("--libref", default=None,
              help="SAS library to download the datasets from (default: [job] sas_libref, else WORK).")
def capture_cmd(job: str, jobs_dir: str | None, libref: str | None) -> None:
    """Run JOB's SAS program ([job] sas_program) through saspy; download each dataset of its spec as the
    .sas7bdat its `sas =` names, save the log as sas.log and write capture.json (what ran, where, and the sha256
    and rows of every file).  An ERROR line in the SAS log fails the capture (exit 2) and keeps the previous one.

    saspy connects as configured in its sascfg_personal.py; name the configuration in pyproject.toml under
    [tool.parity.saspy] cfgname (and cfgfile)."""
    from parity.cli.main import _config, _job_folders
    from parity.run.capture import capture_job, saspy_session
    from parity.spec import load_job, load_project_config

    jobs_path, _ = _config(jobs_dir, None)
    ((name, folder),) = _job_folders(jobs_path, [job]).items()
    spec = load_job(folder, name, check_files=False)  # the SAS files are what this command writes
    err = _console(stderr=True)
    with err.status(f"{name}: running {spec.sas_program.name if spec.sas_program else '?'} in SAS", spinner="dots"):
        result = capture_job(spec, saspy_config=load_project_config().saspy, session_factory=saspy_session,
                             libref=libref)
    out = _console()
    cap = result.capture
    out.print(_plain(f"captured {name}: {cap['program']['path']} on SAS {cap['sas'].get('version') or '?'} "
                     f"({cap['sas'].get('host') or '?'}) at {cap['captured_at']}"))
    for ds, entry in cap["datasets"].items():
        out.print(_plain(f"  {ds}: {entry['file']} ({entry['rows']:,} rows, sha256 {entry['sha256'][:12]})"))
    out.print(_plain(f"  log: {folder / cap['log']}; record: {folder / 'capture.json'}"))
    for line in result.warnings[:MAX_WARNINGS_SHOWN]:
        _print_error(err, line, label="SAS warning: ")
    if len(result.warnings) > MAX_WARNINGS_SHOWN:
        _print_error(err, f"{len(result.warnings) - MAX_WARNINGS_SHOWN} more WARNING line(s) in {folder / cap['log']}",
                     label="SAS warning: ")
