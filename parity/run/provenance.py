"""Provenance of a run: what was compared, with what, where and when.

:func:`collect` gathers it for ``runner.run_job``, which puts it into the report's ``run`` section (the run-time
section, excluded from determinism).  It records

- ``environment``: parity's, Python's and the data libraries' versions, and the platform;
- ``sources``: the spec, every SAS and Python source and the job's input files, each with its size in bytes and
  sha256 (where the source is a file);
- ``git``: commit, branch and whether tracked files were modified, of the current working directory (absent when
  it is not a git work tree or git is not installed);
- ``ci``: the values of the environment variables in :data:`ENV_ALLOW_LIST` that are set, and **no other
  environment variable**.  Secrets never reach a report through here: the list is fixed in code, documented in
  ``docs/approver-guide.md``, and values are cut to :data:`MAX_ENV_VALUE` characters.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity import __version__

if TYPE_CHECKING:
    from parity.model import DatasetResult
    from parity.spec import JobSpec

#: the only environment variables a report may record (image and CI identifiers; never credentials)
ENV_ALLOW_LIST: tuple[str, ...] = (
    "PARITY_IMAGE",  # container image tag the run used, set by whoever builds the image
    "PARITY_IMAGE_DIGEST",  # its digest (sha256:...)
    "GITHUB_SHA", "GITHUB_REF", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_WORKFLOW",
    "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME", "CI_PIPELINE_ID", "CI_JOB_ID", "CI_PROJECT_PATH",
)
MAX_ENV_VALUE = 200
#: libraries whose versions decide the comparison's results
LIBRARIES: tuple[str, ...] = ("polars", "pyreadstat", "polars-readstat", "pandas", "numpy", "pyarrow")
GIT_TIMEOUT_S = 3.0


def environment() -> dict[str, str]:
    """parity, Python, platform and library versions (``"absent"`` for a library that is not installed)."""
    env = {"parity": __version__, "python": platform.python_version(),
           "implementation": platform.python_implementation(), "platform": platform.platform(terse=True)}
    for lib in LIBRARIES:
        try:
            env[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            env[lib] = "absent"
    return env


def allowed_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment variables that are set (non-empty), in allow-list order."""
    source = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for name in ENV_ALLOW_LIST:
        value = source.get(name)
        if value:
            clean = "".join(ch for ch in value if ch.isprintable())
            out[name] = clean[:MAX_ENV_VALUE]
    return out


def _git(cwd: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(("git", *args), cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_info(cwd: Path | None = None) -> dict[str, Any] | None:
    """Commit, branch and dirtiness of the git work tree holding ``cwd``; None when there is none."""
    where = Path.cwd() if cwd is None else cwd
    commit = _git(where, "rev-parse", "--verify", "HEAD")
    if not commit:
        return None
    info: dict[str, Any] = {"commit": commit}
    branch = _git(where, "rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch != "HEAD":
        info["branch"] = branch
    else:
        info["detached"] = True
    status = _git(where, "status", "--porcelain", "--untracked-files=no")
    if status is not None:
        info["dirty"] = bool(status)
    return info


def _file_entry(role: str, path: Path, sha256: str | None = None, **extra: Any) -> dict[str, Any]:
    from parity.sources.base import sha256_file

    entry: dict[str, Any] = {"role": role, **extra, "path": str(path)}
    try:
        if path.is_file():
            entry["bytes"] = path.stat().st_size
            entry["sha256"] = sha256 or sha256_file(path)
        elif path.is_dir():
            entry["folder"] = True
    except OSError:
        pass
    return entry


def _module_file(job: JobSpec) -> Path | None:
    """The file of the job's ``module:function`` when it lives in the job folder (never imports anything)."""
    if not job.python:
        return None
    module = job.python.split(":", 1)[0]
    candidates = [job.folder / (module.replace(".", "/") + ".py"), job.folder / module.replace(".", "/") / "__init__.py"]
    return next((c for c in candidates if c.is_file()), None)


def sources(job: JobSpec | None, datasets: Sequence[DatasetResult]) -> list[dict[str, Any]]:
    """The spec, each dataset's SAS and Python sources, the port's module and its input files."""
    out: list[dict[str, Any]] = []
    if job is not None:
        out.append(_file_entry("spec", job.spec_file, job.spec_sha256))
        module = _module_file(job)
        if module is not None:
            out.append(_file_entry("python_module", module, target=job.python))
    for ds in datasets:
        for side in ("sas", "python"):
            meta = ds.sas if side == "sas" else ds.python
            source = meta.get("source")
            if not isinstance(source, str) or not source:
                continue
            path = Path(source)
            if meta.get("format") not in ("callable", "dataframe") and path.is_file():
                out.append(_file_entry(side, path, meta.get("sha256"), dataset=ds.name))
            else:
                out.append({"role": side, "dataset": ds.name, "source": source, "sha256": meta.get("sha256")})
    if job is not None:
        from parity.run.port import resolve_params

        for name, value in sorted(resolve_params(job.params, job.folder).items()):
            if isinstance(value, str) and Path(value).is_absolute() and Path(value).exists():
                out.append(_file_entry("input", Path(value), param=name))
    return out


def collect(job: JobSpec | None = None, datasets: Sequence[DatasetResult] = (), *, cwd: Path | None = None,
            environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Everything the report's ``run`` section records beyond timings (see the module docstring)."""
    out: dict[str, Any] = {"environment": environment(), "sources": sources(job, datasets)}
    git = git_info(cwd)
    if git is not None:
        out["git"] = git
    ci = allowed_env(environ)
    if ci:
        out["ci"] = ci
    return out
