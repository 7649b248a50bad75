"""SAS capture with provenance: run a job's SAS program through saspy, keep its outputs, log and a ``capture.json``
that records what was run, where and what came out; and verify that record when the job runs.

:func:`capture_job` (``parity capture JOB``) runs ``[job] sas_program`` in a SAS session, downloads every dataset
of the spec from the SAS library (``WORK`` unless ``[job] sas_libref`` names another) as ``.sas7bdat`` into the
file its ``sas =`` names, saves the log as ``sas.log`` and writes ``capture.json``.  It is all or nothing: the new
files are staged beside their targets, a journal is the commit point, and only then are they renamed into place
(a capture stopped before the journal leaves the previous capture whole; one stopped after it is completed by the
next capture or run).  An ``ERROR`` line in the log fails the capture (its log is kept as ``sas-failed.log``).

:func:`verify_capture` (called by ``runner.run_job``) checks ``capture.json`` when the job folder holds one: a SAS
file whose sha256 differs is an :class:`~parity.errors.InputError` (the evidence changed after capture); a
program changed since the capture makes the capture ``stale``: a warning, so the job's verdict is at least
``warn`` (exit 0; parity.model.job_verdict_of).

saspy is only imported by :func:`saspy_session`; everything else talks to a session through :class:`SasSession`,
so the tests drive it with a fake session object (there is no SAS on the machines that test parity).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from parity.errors import InputError, ParityError
from parity.spec import JobSpec

CAPTURE_FILE = "capture.json"
LOG_FILE = "sas.log"
FAILED_LOG_FILE = "sas-failed.log"
JOURNAL_FILE = ".parity-capture-journal.json"
CAPTURE_SCHEMA_VERSION = 1
STAGE_MARK = ".parity-new-"
#: a log line SAS (or a program's own PUT 'ERROR: ...') writes for an error; source lines echoed in the log start
#: with their line number and never match
ERROR_LINE = re.compile(r"^\s*ERROR(?:\s+\d+-\d+)?:", re.MULTILINE)
WARNING_LINE = re.compile(r"^\s*WARNING(?:\s+\d+-\d+)?:", re.MULTILINE)
INSTALL_HINT = ('install saspy (pip install "parity-sas[sas]") and configure your SAS connection in saspy\'s '
                "sascfg_personal.py (https://sassoftware.github.io/saspy/configuration.html); name the "
                "configuration in pyproject.toml under [tool.parity.saspy] cfgname = '...' (and cfgfile = "
                "'path/to/sascfg_personal.py' when it is not on saspy's search path)")


class CaptureError(ParityError):
    """``parity capture`` could not capture (no saspy, no SAS, an ERROR in the log, a dataset not created, ...)."""


class SasSession(Protocol):
    """What parity uses of a ``saspy.SASsession`` (their real names and signatures)."""

    workpath: str
    hostsep: str

    def submit(self, code: str, results: str = "", prompt: dict[str, Any] | None = None) -> dict[str, str]: ...

    def symget(self, name: str) -> Any: ...

    def exist(self, table: str, libref: str = "") -> bool: ...

    def download(self, localfile: str, remotefile: str, overwrite: bool = True) -> dict[str, Any]: ...

    def endsas(self) -> Any: ...


SessionFactory = Callable[[Mapping[str, str]], SasSession]


def saspy_session(config: Mapping[str, str]) -> SasSession:
    """A real saspy session (``config``: ``cfgname`` and ``cfgfile`` from ``[tool.parity.saspy]``)."""
    try:
        import saspy
    except ImportError:
        raise CaptureError(f"parity capture runs SAS through saspy, which is not installed: {INSTALL_HINT}"
                           ) from None
    kwargs = {k: v for k, v in config.items() if k in ("cfgname", "cfgfile") and v}
    try:
        session: Any = saspy.SASsession(**kwargs)
    except (Exception, KeyboardInterrupt) as exc:  # saspy raises its own errors, and prompts (EOF) without a tty
        raise CaptureError(f"saspy could not start a SAS session ({type(exc).__name__}: {exc}): {INSTALL_HINT}"
                           ) from None
    if getattr(session, "_io", None) is None or not getattr(session, "workpath", ""):
        raise CaptureError(f"saspy started no SAS session (configuration {kwargs or 'default'}): {INSTALL_HINT}")
    return session  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CaptureResult:
    folder: Path
    capture: dict[str, Any]
    warnings: tuple[str, ...] = ()
    files: tuple[Path, ...] = field(default_factory=tuple)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rel(path: Path, folder: Path) -> str:
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:
        return path.as_posix()


def log_lines(log: str, pattern: re.Pattern[str]) -> list[str]:
    """The log's lines that match ``pattern`` (ERROR or WARNING lines), stripped."""
    return [line.strip() for line in log.splitlines() if pattern.match(line)]


def _stage_path(target: Path, token: str) -> Path:
    return target.with_name(f".{target.name}{STAGE_MARK}{token}")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def recover(folder: Path, targets: list[Path] | None = None) -> bool:
    """Finish a capture that committed (its journal exists) but was stopped before every file was in place; sweep
    staged files of captures that never committed.  True when a capture was completed."""
    journal = folder / JOURNAL_FILE
    completed = False
    if journal.is_file():
        try:
            moves = json.loads(journal.read_text(encoding="utf-8"))["moves"]
            for staged, target in moves:
                if (folder / staged).is_file():
                    os.replace(folder / staged, folder / target)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{journal}: an interrupted parity capture cannot be completed ({exc}); delete the "
                             f"journal and run parity capture again") from None
        journal.unlink()
        completed = True
    for target in [folder / CAPTURE_FILE, folder / LOG_FILE, *(targets or [])]:
        with contextlib.suppress(OSError):
            for leftover in target.parent.glob(f".{target.name}{STAGE_MARK}*"):
                leftover.unlink()
    return completed


def _sas_facts(session: SasSession) -> dict[str, str]:
    facts = {}
    for key, macro in (("version", "SYSVLONG"), ("host", "SYSSCPL")):
        value = session.symget(macro)
        facts[key] = str(value).strip() if value is not None else ""
    return facts


def _library_path(session: SasSession, libref: str) -> str:
    """The physical folder of ``libref`` on the SAS server, ending with the host's separator."""
    sep = session.hostsep or "/"
    if libref.upper() == "WORK" and session.workpath:
        path = session.workpath
    else:
        session.submit(f"%let parity_libpath=%sysfunc(pathname({libref}));", results="text")
        path = str(session.symget("parity_libpath") or "").strip()
        if not path:
            raise CaptureError(f"SAS library {libref} is not assigned after the program ran: assign it in the "
                               f"program (LIBNAME {libref} '...';) or set [job] sas_libref")
    return path if path.endswith(sep) else path + sep


def capture_job(job: JobSpec, *, saspy_config: Mapping[str, str] | None = None,
                session_factory: SessionFactory = saspy_session, libref: str | None = None,
                now: Callable[[], datetime] | None = None) -> CaptureResult:
    """Run the job's SAS program and capture its datasets, log and ``capture.json`` (see the module docstring)."""
    folder = job.folder
    if job.sas_program is None:
        raise CaptureError(f"{job.spec_file}: [job] sas_program is not set: name the SAS program to capture, e.g. "
                           "sas_program = \"sas/job.sas\"")
    if not job.sas_program.is_file():
        raise CaptureError(f"{job.spec_file}: [job.sas_program] file {_rel(job.sas_program, folder)!r} not found "
                           f"(looked for {job.sas_program})")
    lib = (libref or job.sas_libref or "WORK").upper()
    targets: dict[str, tuple[str, Path]] = {}  # dataset -> (member, file)
    for ds in job.datasets:
        if ds.sas.suffix.lower() != ".sas7bdat":
            raise CaptureError(f"{job.spec_file}: [datasets.{ds.name}.sas] {ds.sas.name!r}: parity capture writes "
                               ".sas7bdat files; name one (e.g. sas = \"" + ds.sas.stem + ".sas7bdat\")")
        member = ds.sas.stem
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", member):
            raise CaptureError(f"{job.spec_file}: [datasets.{ds.name}.sas] {ds.sas.name!r}: the file is named after "
                               "the SAS data set it captures, and this is not a SAS data set name")
        targets[ds.name] = (member.lower(), ds.sas)
    members = [m for m, _ in targets.values()]
    if len(set(members)) != len(members):
        dup = sorted({m for m in members if members.count(m) > 1})[0]
        raise CaptureError(f"{job.spec_file}: two datasets capture the SAS data set {lib}.{dup.upper()}")
    program_bytes = job.sas_program.read_bytes()
    try:
        program = program_bytes.decode("utf-8")
    except UnicodeDecodeError:
        program = program_bytes.decode("latin-1")
    recover(folder, [f for _, f in targets.values()])

    session = session_factory(saspy_config or {})
    token = secrets.token_hex(6)
    staged: list[tuple[Path, Path]] = []  # (staged file, target)
    try:
        result = session.submit(program, results="text")
        log = str((result or {}).get("LOG", ""))
        errors = log_lines(log, ERROR_LINE)
        warnings = log_lines(log, WARNING_LINE)
        if errors:
            _write_atomic(folder / FAILED_LOG_FILE, log.encode("utf-8"))
            shown = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
            raise CaptureError(f"the SAS program {_rel(job.sas_program, folder)} logged {len(errors)} ERROR "
                               f"line(s): {shown}; the log is in {folder / FAILED_LOG_FILE}; nothing was captured "
                               "(the previous capture, if any, is unchanged)")
        sas = _sas_facts(session)
        remote_dir = _library_path(session, lib)
        datasets: dict[str, dict[str, Any]] = {}
        for name, (member, target) in targets.items():
            if not session.exist(member, lib):
                raise CaptureError(f"the SAS program did not create {lib}.{member.upper()} (dataset {name!r}, file "
                                   f"{_rel(target, folder)}); nothing was captured")
            target.parent.mkdir(parents=True, exist_ok=True)
            stage = _stage_path(target, token)
            staged.append((stage, target))
            got = session.download(str(stage), remote_dir + member + ".sas7bdat", overwrite=True)
            if not isinstance(got, Mapping) or not got.get("Success") or not stage.is_file():
                detail = str(got.get("LOG", "")).strip()[-500:] if isinstance(got, Mapping) else repr(got)
                raise CaptureError(f"downloading {lib}.{member.upper()} ({remote_dir}{member}.sas7bdat) failed: "
                                   f"{detail or 'no file arrived'}; nothing was captured")
            datasets[name] = {"file": _rel(target, folder), "sha256": _file_sha256(stage),
                              "rows": _rows(stage, name)}
        stamp = (now or (lambda: datetime.now(UTC)))()
        capture = {
            "schema_version": CAPTURE_SCHEMA_VERSION,
            "captured_at": stamp.isoformat(timespec="seconds"),
            "program": {"path": _rel(job.sas_program, folder), "sha256": sha256_bytes(program_bytes)},
            "sas": sas, "log": LOG_FILE, "datasets": datasets,
        }
        for target, data in ((folder / LOG_FILE, log.encode("utf-8")),
                             (folder / CAPTURE_FILE, (json.dumps(capture, indent=2) + "\n").encode("utf-8"))):
            stage = _stage_path(target, token)
            staged.append((stage, target))
            _write_atomic(stage, data)
        # the commit point: from here on the capture is completed (by recover() when this process stops)
        _write_atomic(folder / JOURNAL_FILE, json.dumps(
            {"moves": [[_rel(s, folder), _rel(t, folder)] for s, t in staged]}).encode("utf-8"))
        staged_done = list(staged)
        staged.clear()
        recover(folder)
        return CaptureResult(folder, capture, tuple(warnings), tuple(t for _, t in staged_done))
    except ParityError:
        raise
    except Exception as exc:  # the SAS connection broke, saspy failed: an error of the capture, not a traceback
        raise CaptureError(f"the SAS session failed ({type(exc).__name__}: {exc}); nothing was captured (the "
                           "previous capture, if any, is unchanged)") from None
    finally:
        for stage, _ in staged:  # not committed: the previous capture stays as it was
            with contextlib.suppress(OSError):
                stage.unlink()
        with contextlib.suppress(Exception):
            session.endsas()


def _file_sha256(path: Path) -> str:
    from parity.sources.base import sha256_file

    return sha256_file(path)


def _rows(path: Path, dataset: str) -> int:
    import pyreadstat

    try:
        _, meta = pyreadstat.read_sas7bdat(str(path), metadataonly=True)
        if meta.number_rows is None:  # a header that does not say: count them
            frame, _ = pyreadstat.read_sas7bdat(str(path), usecols=meta.column_names[:1])
            return len(frame)
    except Exception as exc:
        raise CaptureError(f"the downloaded SAS data set of dataset {dataset!r} cannot be read ({exc}); nothing "
                           "was captured") from None
    return int(meta.number_rows)


# --------------------------------------------------------------------------------------------------------------
# verification when the job runs


def _capture_error(file: Path, message: str) -> InputError:
    return InputError(f"{file}: {message}; run parity capture again, or delete {CAPTURE_FILE} to compare "
                      "without it")


def load_capture(file: Path) -> dict[str, Any]:
    """Read and check the shape of a ``capture.json``; a broken one is an InputError naming it."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _capture_error(file, f"cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _capture_error(file, "is not a capture record (a JSON object)")
    if data.get("schema_version") != CAPTURE_SCHEMA_VERSION:
        raise _capture_error(file, f"has schema_version {data.get('schema_version')!r}; this parity reads "
                             f"{CAPTURE_SCHEMA_VERSION}")
    program, datasets = data.get("program"), data.get("datasets")
    if not isinstance(program, dict) or not isinstance(program.get("path"), str) \
            or not isinstance(program.get("sha256"), str):
        raise _capture_error(file, "program must be {\"path\": ..., \"sha256\": ...}")
    if not isinstance(datasets, dict) or not all(
            isinstance(d, dict) and isinstance(d.get("file"), str) and isinstance(d.get("sha256"), str)
            for d in datasets.values()):
        raise _capture_error(file, "datasets must map each dataset to {\"file\": ..., \"sha256\": ..., \"rows\": ...}")
    return data


def verify_capture(job: JobSpec) -> dict[str, Any] | None:
    """The capture facts for the report's provenance (``run.capture``), or None when the job has no capture.

    Raises InputError when a captured SAS file changed (or is gone) since the capture.  A program changed since the
    capture, or a dataset the capture does not cover, makes ``status`` ``stale`` with ``warnings`` saying why."""
    folder = job.folder
    recover(folder)
    file = folder / CAPTURE_FILE
    if not file.is_file():
        return None
    data = load_capture(file)
    from parity.sources.base import sha256_file

    compared = {ds.sas.resolve() for ds in job.datasets}
    captured_files: dict[Path, str] = {}
    uncompared: list[str] = []
    for name, entry in sorted(data["datasets"].items()):
        path = (folder / entry["file"]).resolve()
        captured_files[path] = name
        if path not in compared:
            uncompared.append(f"stale capture: the captured dataset {name!r} ({entry['file']}) is not compared: the "
                            "spec no longer names its file")
            continue
        if not path.is_file():
            raise _capture_error(file, f"the captured SAS file {entry['file']} of dataset {name!r} is gone "
                                 "(the evidence changed after capture)")
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise InputError(f"{path}: the evidence changed after capture: its sha256 is {actual}, but {file} "
                             f"recorded {entry['sha256']} when SAS wrote it on {data.get('captured_at', '?')}; "
                             "restore the captured file or run parity capture again")
    warnings: list[str] = []
    program = (folder / data["program"]["path"]).resolve()
    if job.sas_program is not None and job.sas_program.resolve() != program:
        warnings.append(f"stale capture: [job] sas_program is {_rel(job.sas_program, folder)}, but the capture ran "
                        f"{data['program']['path']}")
    current = sha256_file(program) if program.is_file() else None
    if current is None:
        warnings.append(f"stale capture: the captured program {data['program']['path']} is gone")
    elif current != data["program"]["sha256"]:
        warnings.append(f"stale capture: the SAS program {data['program']['path']} changed since the capture of "
                        f"{data.get('captured_at', '?')}; run parity capture {job.name} to capture its outputs again")
    for ds in job.datasets:
        if ds.sas.resolve() not in captured_files:
            warnings.append(f"stale capture: dataset {ds.name!r} ({_rel(ds.sas, folder)}) is not in {CAPTURE_FILE}")
    warnings += uncompared
    out: dict[str, Any] = {
        "file": _rel(file, folder), "status": "stale" if warnings else "verified", "warnings": warnings,
        "captured_at": data.get("captured_at"),
        "program": {**data["program"], "current_sha256": current},
        "sas": data.get("sas") if isinstance(data.get("sas"), dict) else {},
        "log": data.get("log"),
        "datasets": data["datasets"],
    }
    return out
