"""The JSON report: the machine contract (``docs/report-schema.json``), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from parity.checks.details import DETAILS
from parity.errors import ReportError
from parity.model import READABLE_SCHEMA_VERSIONS, JobResult, job_verdict_of, verdict_of
from parity.report.schema import first_error

REPORT_FILE = "parity.json"
#: fields that hold run-time values; everything else is the same for the same inputs
RUNTIME_FIELDS = ("run", "duration_s")


def result_from_dict(data: dict[str, Any]) -> JobResult:
    """A JobResult from its JSON, each check's details typed (parity.checks.details)."""
    return JobResult.from_dict(data, DETAILS)


def dumps(result: JobResult) -> str:
    return json.dumps(result.to_dict(), indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is a shared artifact
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_output(path: Path, text: str) -> None:
    """:func:`write_atomic` for a file the user named: a path that cannot be written is a ReportError (exit 2)."""
    try:
        write_atomic(path, text)
    except OSError as exc:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else exc.strerror or str(exc)
        raise ReportError(f"cannot write {path}: {why}; choose another output path") from None


def load_report(path: Path) -> JobResult:
    """Read a saved report, validated against the report schema: anything else (not JSON, not a parity report,
    another schema_version, a tampered or truncated file) is a :class:`ReportError` naming the file."""
    if path.is_dir():
        path = path / REPORT_FILE
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report") from None
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not a JSON report (not UTF-8 text: {exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read the report ({exc.strerror or exc})") from None
    try:
        data: Any = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ReportError(f"{path}: not a parity report (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer too long to convert
        raise ReportError(f"{path}: not a JSON report ({exc})") from None
    tool = data.get("tool") if isinstance(data, dict) else None
    if not isinstance(tool, dict) or tool.get("name") != "parity":
        raise ReportError(f"{path}: not a parity report (no tool.name = 'parity')")
    version = data.get("schema_version")
    readable = " and ".join(map(str, READABLE_SCHEMA_VERSIONS))
    if isinstance(version, int) and not isinstance(version, bool) and version < min(READABLE_SCHEMA_VERSIONS):
        raise ReportError(
            f"{path}: report schema_version {version} is not supported by this parity (reads versions "
            f"{readable}): it was written by an older parity and lacks what deltas compare (the spec's rules, "
            "the sets of mismatching keys). Regenerate it: re-run the job with this version on the baseline's "
            "commit (e.g. `parity run --all --report-dir <baseline folder>`) and use that report as the baseline"
        )
    if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:
        raise ReportError(
            f"{path}: report schema_version {version!r} is not supported by this parity (reads versions "
            f"{readable}); re-run the job with this version to produce a fresh report"
        )
    problem = first_error(data)
    if problem is not None:
        raise ReportError(f"{path}: not a valid parity report: {problem} (the file was changed after parity wrote "
                          "it, or was not written by parity; re-run the job to produce a fresh report)")
    try:
        result = result_from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(f"{path}: malformed parity report ({type(exc).__name__}: {exc})") from None
    problem = _inconsistency(result)
    if problem is not None:
        raise ReportError(f"{path}: not a valid parity report: {problem} (the file was changed after parity wrote "
                          "it; re-run the job to produce a fresh report)")
    return result


def _inconsistency(result: JobResult) -> str | None:
    """What no report parity writes can hold: verdicts that contradict their checks, names given twice (a
    comparison by name would silently see only one of them)."""
    names = [ds.name for ds in result.datasets]
    for ds in result.datasets:
        if names.count(ds.name) > 1:
            return f"two datasets named {ds.name!r}"
        checks = [c.name for c in ds.checks]
        twice = next((c for c in checks if checks.count(c) > 1), None)
        if twice is not None:
            return f"dataset {ds.name!r} has two {twice!r} checks"
        expected = _as_written(verdict_of([c.status for c in ds.checks]), result.schema_version)
        if ds.verdict != expected:
            return f"dataset {ds.name!r} has verdict {ds.verdict!r} but its checks give {expected!r}"
    if result.datasets:
        expected = _as_written(job_verdict_of([ds.verdict for ds in result.datasets], result.run),
                               result.schema_version)
        if result.verdict != expected:
            return f"verdict {result.verdict!r} but its datasets give {expected!r}"
    elif result.verdict != "error":
        return f"verdict {result.verdict!r} for a job without datasets (a job that could not run is an error)"
    return None


def _as_written(verdict: str, schema_version: int) -> str:
    """The verdict a report of ``schema_version`` holds: before schema 3 there was no warn verdict (warnings, a
    stale capture included, passed)."""
    return "pass" if verdict == "warn" and schema_version < 3 else verdict


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def strip_runtime(data: Any) -> Any:
    """The report without run-time fields: what must be identical for identical inputs."""
    if isinstance(data, dict):
        return {k: strip_runtime(v) for k, v in data.items() if k not in RUNTIME_FIELDS}
    if isinstance(data, list):
        return [strip_runtime(v) for v in data]
    return data
