"""Running a job: load every dataset's two sides, compare them, and build the frozen JobResult.

A dataset whose file cannot be read, whose Python side fails (the port raises anything, ``sys.exit`` included, or
returns something unusable) or whose comparison hits a bug in parity becomes an ``error`` dataset naming the cause;
the other datasets still run.  A spec error (in parity.toml, or found once the data is read, such as a key that is
not a column) stops the job with a SpecError.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity import __version__
from parity.errors import InputError, ParityError, SpecError
from parity.model import DatasetResult, JobResult, job_verdict_of
from parity.spec import DatasetSpec, JobSpec, job_rules, load_job

if TYPE_CHECKING:
    from parity.engine.base import EngineResult
    from parity.engine.choice import EngineChoice

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def tool_info() -> dict[str, str]:
    return {"name": "parity", "version": __version__}


def failed_job(job: str, message: str, spec: JobSpec | None = None) -> JobResult:
    """The report of a job that could not run at all: verdict ``error``, no datasets, ``error`` saying why."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return JobResult(
        job=job, verdict="error", description=spec.description if spec else "",
        spec={"path": str(spec.spec_file), "sha256": spec.spec_sha256} if spec else {},
        datasets=(), tool=tool_info(), run={"started_at": now, "finished_at": now, "duration_s": 0.0},
        error=message,
    )


def internal_error(exc: BaseException, while_: str) -> str:
    """The message for a bug in parity (or a library it uses): what it was doing, the exception and where."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return (f"internal error in parity while {while_} ({type(exc).__name__}: {exc}{where}); this is a bug in "
            "parity, not in the data: please report it with this message")


class NoPythonSide(Exception):
    """The port failed, or returned no frame for this dataset: an ``error`` dataset (with the SAS side's
    provenance)."""


def port_output(job: JobSpec, ds: DatasetSpec, python_tables: Mapping[str, Any] | None,
                python_error: str | None) -> Any:
    """What the port returned for ``ds``, or NoPythonSide saying why there is nothing."""
    if python_error is not None:
        raise NoPythonSide(python_error)
    if python_tables is None or ds.name not in python_tables:
        got = ", ".join(sorted(python_tables or {})) or "nothing"
        raise NoPythonSide(f"the Python job {job.python} returned no dataset {ds.name!r} (it returned {got}); "
                           f"return a dict with a {ds.name!r} key")
    return python_tables[ds.name]


def _compare_on_polars(job: JobSpec, ds: DatasetSpec, python_tables: Mapping[str, Any] | None,
                       python_error: str | None, progress: Progress,
                       sas_meta: dict[str, Any]) -> tuple[EngineResult, Any]:
    """The dataset's comparison on the polars engine, and its contract/DQ rule results (None without rules)."""
    from parity.engine.core import compare_tables
    from parity.run.port import SparkFrame
    from parity.run.progress import read_progress
    from parity.sources.registry import OpenOptions, open_source

    progress(f"{job.name}/{ds.name}: reading {ds.sas.name}")
    reads = read_progress(progress)
    if ds.python is not None:  # a Python side's file is hashed (for the provenance) while the SAS side is read
        from parity.sources.base import prefetch_sha256

        prefetch_sha256(ds.python)
    # Sources, not frames: a big SAS file is streamed into parquet, parquet/arrow are scanned lazily
    sas = open_source(ds.sas, OpenOptions(encoding=ds.encoding, catalog=ds.catalog, formats=ds.formats,
                                          progress=reads), sas_side=True)
    sas_meta[_SOURCE_META] = sas.meta  # its provenance only if the comparison fails: its sha256 may still be hashed
    py: Any
    if ds.lake is not None:
        from parity.sources.lake import open_lake

        progress(f"{job.name}/{ds.name}: reading {ds.lake}")
        py = open_lake(ds.lake, job.folder, f"dataset {ds.name!r}",
                       OpenOptions(like=tuple(sas.columns), rename=ds.rename, progress=reads))
    elif ds.python is not None:
        progress(f"{job.name}/{ds.name}: reading {ds.python.name}")
        py = open_source(ds.python, OpenOptions(like=tuple(sas.columns), rename=ds.rename, progress=reads))
    else:
        py = port_output(job, ds, python_tables, python_error)
        if isinstance(py, SparkFrame):  # a Spark DataFrame the port returned: collected for the polars engine
            from parity.sources.frames import spark_frame_table

            py = spark_frame_table(py)
    sas_meta[_PY_META] = getattr(py, "meta", None)
    from parity.engine.quality import evaluate_spec

    if ds.contract is not None or ds.quality:
        progress(f"{job.name}/{ds.name}: checking the contract and DQ rules")
    rules = evaluate_spec(ds, job.spec_file, sas, py)  # names checked before any comparison (a SpecError)
    progress(f"{job.name}/{ds.name}: comparing {sas.meta.rows:,} x {py.meta.rows:,} rows")
    return compare_tables(ds, sas, py, job), rules


#: where :func:`_compare_on_polars` leaves the SAS side's SourceMeta for the provenance of a failed comparison, and
#: the Python side's (to tell a file changed mid-run from a failure of its own)
_SOURCE_META = "\x00source meta"
_PY_META = "\x00python meta"


def _changed_input(meta: dict[str, Any]) -> str | None:
    """Why a comparison failed when one of its input files changed since it was opened (a job still writing it:
    its columns or rows may no longer be those planned for, whatever error that made): the file named."""
    for key in (_SOURCE_META, _PY_META):
        source = meta.get(key)
        if source is not None and getattr(source, "sha256_later", None) is not None:
            try:
                source.digest()
            except InputError as exc:
                return str(exc)
    return None


def _provenance(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The SAS side's provenance for an ``error`` dataset (None before it was read)."""
    meta.pop(_PY_META, None)
    source = meta.pop(_SOURCE_META, None)
    if source is not None:
        try:
            meta.update(source.to_dict())
        except InputError:  # it changed since it was read: no sha256 (the error says why)
            meta.update(dataclasses.replace(source, sha256_later=None).to_dict())
    return meta or None


def compare_dataset(job: JobSpec, ds: DatasetSpec, python_tables: Mapping[str, Any] | None,
                    python_error: str | None, progress: Progress = _quiet,
                    engine: EngineChoice | None = None) -> DatasetResult:
    """Load and compare one dataset on the chosen engine (polars by default); every failure becomes an ``error``
    dataset naming its cause, except a spec mistake found only once the data is read (a key that is not a column,
    ...), which raises SpecError, and KeyboardInterrupt."""
    from parity.checks.core import build_result, error_result
    from parity.sources.sas import UnknownFormatColumn

    started = time.perf_counter()
    meta: dict[str, Any] = {}  # the SAS side's provenance, once read
    try:
        if engine is not None and engine.name == "spark":
            from parity.run.spark import compare_on_spark

            comp, rules = compare_on_spark(job, ds, python_tables, python_error, progress, engine, meta)
        else:
            comp, rules = _compare_on_polars(job, ds, python_tables, python_error, progress, meta)
        return build_result(comp, duration_s=round(time.perf_counter() - started, 3), rules=rules)
    except NoPythonSide as exc:
        return error_result(ds.name, str(exc), _provenance(meta))
    except SpecError:
        raise
    except UnknownFormatColumn as exc:
        raise SpecError(job.spec_file, f"{exc}; fix or remove it", key=f"datasets.{ds.name}.formats.{exc.column}"
                        ) from None
    except InputError as exc:
        return error_result(ds.name, _changed_input(meta) or str(exc), _provenance(meta))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a bug in parity or a library (polars panics are BaseExceptions): this dataset only
        return error_result(ds.name, _changed_input(meta) or internal_error(exc, f"comparing dataset {ds.name!r}"),
                            _provenance(meta))


def run_port(job: JobSpec) -> tuple[dict[str, Any], dict[str, str], str | None]:
    """Run the job's Python port once: (tables by dataset, errors by dataset, an error of the whole port)."""
    from parity.run.port import PortFailed, run_job_callable

    assert job.python is not None
    try:
        out = run_job_callable(job.python, job.params, job.folder, job.name,
                               [ds.name for ds in job.datasets if ds.python is None and ds.lake is None])
    except (ParityError, PortFailed) as exc:
        return {}, {}, str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return {}, {}, internal_error(exc, f"running the Python job {job.python}")
    return dict(out.tables), dict(out.errors), None


def check_inputs(job: JobSpec) -> None:
    """Every dataset's inputs are of a kind the sources registry reads (the SAS side one that may stand for SAS),
    before any work: a SpecError names the parity.toml key."""
    from parity.sources.registry import check_location

    for ds in job.datasets:
        for side, location in (("sas", ds.sas), ("python", ds.python)):
            problem = check_location(location, sas_side=side == "sas") if location is not None else None
            if problem is not None:
                raise SpecError(job.spec_file, problem, key=f"datasets.{ds.name}.{side}")


def run_job(job: JobSpec, progress: Progress = _quiet, engine: EngineChoice | None = None) -> JobResult:
    """Run ``job``: its port once (isolated), then every dataset.  Each failure is an ``error`` dataset; a spec
    mistake found while comparing raises SpecError."""
    from parity.run.capture import verify_capture

    check_inputs(job)

    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    capture = verify_capture(job)  # SAS files changed since capture.json: an InputError before any work
    python_tables: dict[str, Any] | None = None
    port_errors: dict[str, str] = {}
    python_error = None
    if engine is not None and engine.name == "spark":  # the port's getOrCreate() gets parity's session
        from parity.spark.session import get_session

        get_session(engine.spark_master, engine.spark_conf)
    if job.python and any(ds.python is None and ds.lake is None for ds in job.datasets):
        progress(f"{job.name}: running {job.python}")
        python_tables, port_errors, python_error = run_port(job)
    results = tuple(compare_dataset(job, ds, python_tables, python_error or port_errors.get(ds.name), progress,
                                    engine) for ds in job.datasets)
    from parity.run.provenance import collect

    finished_at = datetime.now(UTC)
    run = {"started_at": started_at.isoformat(timespec="seconds"),
           "finished_at": finished_at.isoformat(timespec="seconds"),
           "duration_s": round(time.perf_counter() - t0, 3), **collect(job, results)}
    if capture is not None:
        run["capture"] = capture
    return JobResult(
        job=job.name,
        verdict=job_verdict_of([r.verdict for r in results], run),
        description=job.description,
        spec={"path": str(job.spec_file), "sha256": job.spec_sha256, "rules": job_rules(job)},
        datasets=results,
        tool=tool_info(),
        run=run,
    )


def run_job_folder(folder: Path, name: str | None = None, progress: Progress = _quiet) -> JobResult:
    return run_job(load_job(folder, name), progress)
