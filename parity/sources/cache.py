"""parity's cache of SAS files streamed to parquet, reused by later runs.

Where: ``$PARITY_CACHE_DIR``, else ``$XDG_CACHE_HOME/parity``, else ``~/.cache/parity``.  Off with
``parity run --no-cache`` or ``PARITY_NO_CACHE=1``.

An entry is a folder ``<version>/sas/<sha256>-<reading>/`` (``reading``: a digest of the options that change values,
the encoding) holding the parquet parts and ``manifest.json``; it is built in a ``tmp-*`` folder and renamed into
place in one step, so a killed run never leaves a half entry that a later run trusts (its ``tmp-*`` folder is removed
by a later run once it is a day old).  The entry is found from the file's sha256; so that a later run need not hash
the file first, ``index/`` maps the file's identity (path, size, modification and change times in ns, inode, device)
to its sha256.  The change time cannot be set by a user and moves on every write, copy or rename, so a file that
changed is hashed (and read) again."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from parity import __version__
from parity.sources.base import file_identity

#: bumped whenever what an entry holds changes (the conversion of SAS values, the manifest)
CACHE_FORMAT = 1
#: files smaller than this are read into memory and not cached (reading them again costs less than a second)
MIN_BYTES = 32 * 1024 * 1024
_STALE_S = 24 * 3600
#: :data:`parity.sources.sas_fast.READER_ENV` (a test keeps them equal; the fast reader may be absent)
READER_ENV = "PARITY_SAS_READER"


def enabled(option: bool | None) -> bool:
    """Whether to use the cache: ``option`` when given, else on unless ``PARITY_NO_CACHE`` is set."""
    if option is not None:
        return option
    return os.environ.get("PARITY_NO_CACHE", "").strip().lower() in ("", "0", "false", "no")


def disabled_for() -> Callable[[], None]:
    """Switch the cache off (``--no-cache``) until the returned function is called."""
    saved = os.environ.get("PARITY_NO_CACHE")
    os.environ["PARITY_NO_CACHE"] = "1"

    def restore() -> None:
        if saved is None:
            os.environ.pop("PARITY_NO_CACHE", None)
        else:
            os.environ["PARITY_NO_CACHE"] = saved

    return restore


def root() -> Path:
    """The cache folder (not created)."""
    explicit = os.environ.get("PARITY_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "parity"


@functools.cache
def code_digest() -> str:
    """A digest of the code that reads SAS values into an entry (the readers, the streaming, the formats and kinds),
    so that a fix to how values are read never serves values read before it, even without a version bump."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for module in (*sorted(here.glob("*.py")), here.parent / "formats.py"):
        with contextlib.suppress(OSError):
            digest.update(module.name.encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()[:12]


def _versioned() -> Path:
    return root() / f"{__version__}-{CACHE_FORMAT}-{code_digest()}"


def identity(path: Path) -> str:
    """A digest of the file's identity (not its bytes: :func:`parity.sources.base.file_identity`)."""
    return hashlib.sha256(json.dumps(list(file_identity(path))).encode()).hexdigest()


def known_sha256(path: Path) -> str | None:
    """The sha256 a previous run computed for this very file (unchanged since), if any."""
    try:
        text = (_versioned() / "index" / identity(path)).read_text(encoding="ascii").strip()
    except OSError:
        return None
    return text if len(text) == 64 else None


def remember_sha256(path: Path, sha256: str) -> None:
    with contextlib.suppress(OSError):
        _write_atomic(_versioned() / "index" / identity(path), sha256.encode("ascii"))


def entry(sha256: str, reading: str) -> Path | None:
    """The complete entry for this file content read this way, if there is one."""
    folder = _versioned() / "sas" / f"{sha256}-{reading}"
    return folder if (folder / "manifest.json").is_file() else None


def reading_key(**options: Any) -> str:
    """A digest of how a file is read: the options that change values, and the reader a user forced
    (``PARITY_SAS_READER``), so that forcing the reference reader never reuses what the fast reader cached."""
    forced = os.environ.get(READER_ENV, "").strip().lower()
    return hashlib.sha256(json.dumps({**options, "reader": forced}, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def building() -> Iterator[Path]:
    """A fresh folder inside the cache to build an entry in; removed unless :func:`publish` moved it."""
    base = _versioned() / "sas"
    base.mkdir(parents=True, exist_ok=True)
    _remove_stale(base)
    folder = Path(tempfile.mkdtemp(prefix="tmp-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(folder: Path, sha256: str, reading: str, manifest: dict[str, Any]) -> Path:
    """Write the manifest last, then move the built entry into place in one rename.  When another run published
    the same entry meanwhile, keep theirs."""
    (folder / "manifest.json").write_text(json.dumps(manifest, sort_keys=True), encoding="utf-8")
    target = _versioned() / "sas" / f"{sha256}-{reading}"
    for attempt in (1, 2):
        try:
            os.rename(folder, target)
            break
        except OSError:
            if entry(sha256, reading) is not None:
                break  # another run published it meanwhile: keep theirs
            if attempt == 2 or not target.is_dir():
                raise
            # a folder without a manifest is never trusted (say, one whose manifest was deleted): replace it
            stale = Path(tempfile.mkdtemp(prefix="tmp-", dir=target.parent))
            os.rename(target, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
    return target


def read_manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return data


def _remove_stale(base: Path) -> None:
    now = time.time()
    for tmp in base.glob("tmp-*"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > _STALE_S:
                shutil.rmtree(tmp, ignore_errors=True)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
