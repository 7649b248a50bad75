"""Running a job: load every dataset's two sides, compare them, and build the frozen JobResult.

A dataset whose file cannot be read (or whose Python side fails) becomes an ``error`` dataset; the other datasets
still run.  A spec error (caught before any comparison starts) stops the job with a SpecError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parity import __version__
from parity.errors import InputError, ParityError, SpecError
from parity.model import DatasetResult, JobResult, combine_verdicts
from parity.spec import DatasetSpec, JobSpec, job_rules, load_job

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def tool_info() -> dict[str, str]:
    return {"name": "parity", "version": __version__}


def _python_error(exc: BaseException, target: str) -> InputError:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return InputError(f"the Python job {target} raised {type(exc).__name__}: {exc}{where}")


def compare_dataset(job: JobSpec, ds: DatasetSpec, python_tables: dict[str, Any] | None,
                    python_error: str | None, progress: Progress = _quiet) -> DatasetResult:
    from parity.checks import build_result, error_result
    from parity.engine import compare_tables
    from parity.loaders import read_python_file, read_sas

    started = time.perf_counter()
    sas_meta: dict[str, Any] | None = None
    try:
        progress(f"{job.name}/{ds.name}: reading {ds.sas.name}")
        sas = read_sas(ds.sas, encoding=ds.encoding, catalog=ds.catalog, formats=ds.formats)
        sas_meta = sas.meta.to_dict()
        if ds.python is not None:
            progress(f"{job.name}/{ds.name}: reading {ds.python.name}")
            py = read_python_file(ds.python, sas=sas, rename=ds.rename)
        elif python_error is not None:
            return error_result(ds.name, python_error, sas_meta)
        elif python_tables is None or ds.name not in python_tables:
            got = ", ".join(sorted(python_tables or {})) or "nothing"
            return error_result(ds.name, f"the Python job {job.python} returned no dataset {ds.name!r} (it returned "
                                f"{got}); return a dict with a {ds.name!r} key", sas_meta)
        else:
            py = python_tables[ds.name]
        progress(f"{job.name}/{ds.name}: comparing {sas.meta.rows:,} x {py.meta.rows:,} rows")
        comp = compare_tables(ds, sas, py, job)
        return build_result(comp, duration_s=round(time.perf_counter() - started, 3))
    except SpecError:
        raise
    except InputError as exc:
        return error_result(ds.name, str(exc), sas_meta)


def run_job(job: JobSpec, progress: Progress = _quiet) -> JobResult:
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    python_tables = None
    python_error = None
    if job.python and any(ds.python is None for ds in job.datasets):
        from parity.loaders import run_job_callable

        progress(f"{job.name}: running {job.python}")
        try:
            python_tables, _ = run_job_callable(
                job.python, job.params, job.folder, job.name,
                [ds.name for ds in job.datasets if ds.python is None],
            )
        except ParityError as exc:
            python_error = str(exc)
        except Exception as exc:  # the user's own code failed: report it on the datasets, keep going
            python_error = str(_python_error(exc, job.python))
    results = tuple(compare_dataset(job, ds, python_tables, python_error, progress) for ds in job.datasets)
    from parity.provenance import collect

    finished_at = datetime.now(UTC)
    run = {"started_at": started_at.isoformat(timespec="seconds"),
           "finished_at": finished_at.isoformat(timespec="seconds"),
           "duration_s": round(time.perf_counter() - t0, 3), **collect(job, results)}
    return JobResult(
        job=job.name,
        verdict=combine_verdicts([r.verdict for r in results]),
        description=job.description,
        spec={"path": str(job.spec_file), "sha256": job.spec_sha256, "rules": job_rules(job)},
        datasets=results,
        tool=tool_info(),
        run=run,
    )


def run_job_folder(folder: Path, name: str | None = None, progress: Progress = _quiet) -> JobResult:
    return run_job(load_job(folder, name), progress)
