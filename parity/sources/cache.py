"""parity's cache of SAS files streamed to parquet, reused by later runs.

Where: ``$PARITY_CACHE_DIR``, else ``$XDG_CACHE_HOME/parity``, else ``~/.cache/parity``.  Off with
``parity run --no-cache`` or ``PARITY_NO_CACHE=1``.

An entry is a folder ``<version>/sas/<sha256>-<reading>/`` (``reading``: a digest of the options that change values,
the encoding) holding the parquet parts and ``manifest.json``; it is built in a ``tmp-*`` folder and renamed into
place in one step, so a killed run never leaves a half entry that a later run trusts (its ``tmp-*`` folder is removed
by the next run that builds an entry once nothing was written in it for five minutes: a run building one holds a
lock on it, which the system releases when the run dies however it dies; a folder without a lock, once it is a day
old).  An entry that is damaged all the same (a
manifest that is not JSON, a part cut short: a full disk, a partly restored CI cache) is never read: it is removed
and the file read again.  The entry is found from the file's sha256; so that a later run need not hash
the file first, ``index/`` maps the file's identity (path, size, modification and change times in ns, inode, device)
to its sha256.  The change time cannot be set by a user and moves on every write, copy or rename, so a file that
changed is hashed (and read) again."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parity import __version__
from parity.errors import InputError
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


class NoCacheFolder(OSError):
    """No folder for the cache: no ``PARITY_CACHE_DIR`` nor ``XDG_CACHE_HOME``, and no home folder (a container run
    as a user the system does not know, without ``HOME``).  An OSError, so that the callers read without the cache,
    as they do when the folder cannot be written (never a shared temporary folder: another user could plant an
    entry there)."""


def root() -> Path:
    """The cache folder (not created); NoCacheFolder when there is none."""
    explicit = os.environ.get("PARITY_CACHE_DIR", "").strip()
    if explicit:
        try:
            return _anchored(Path(explicit).expanduser())
        except RuntimeError:  # '~' without a home folder
            raise NoCacheFolder(f"PARITY_CACHE_DIR={explicit} names a home folder this user has none of") from None
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return _anchored(Path(xdg) / "parity")
    try:
        home = Path.home()
    except RuntimeError:
        raise NoCacheFolder("no home folder to keep parity's cache in: set PARITY_CACHE_DIR") from None
    return _anchored(home / ".cache" / "parity")


def where() -> str:
    """The cache folder, for a message (whether or not there is one)."""
    try:
        return str(root())
    except NoCacheFolder as exc:
        return f"(none: {exc})"


@functools.cache
def _anchored(folder: Path) -> Path:
    """A relative cache folder (``PARITY_CACHE_DIR=.parity-cache``) anchored once, in the working directory where the
    process first asked for it: a port that changes directory (or a cache entry written by a thread meanwhile) never
    moves it."""
    return folder if folder.is_absolute() else Path.cwd() / folder


@functools.cache
def code_digest() -> str:
    """A digest of the code that reads SAS values into an entry (the readers, the streaming, the formats and kinds),
    so that a fix to how values are read never serves values read before it, even without a version bump."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for module in (*sorted(here.glob("*.py")), here.parent / "formats.py"):
        with contextlib.suppress(OSError):
            digest.update(module.name.encode() + b"\0" + module.read_bytes())
    digest.update(json.dumps(reader_versions(), sort_keys=True).encode())
    return digest.hexdigest()[:12]


#: the libraries whose reading of a SAS file an entry holds: an upgrade (a ReadStat fix to how values are decoded)
#: starts a fresh cache, as a change to parity's own reading code does
READER_LIBRARIES = ("pyreadstat", "polars-readstat", "polars", "pyarrow")


def reader_versions() -> dict[str, str | None]:
    """The installed version of each of :data:`READER_LIBRARIES` (None: not installed)."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in READER_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _versioned() -> Path:
    return root() / f"{__version__}-{CACHE_FORMAT}-{code_digest()}"


def identity(path: Path) -> str:
    """A digest of the file's identity (not its bytes: :func:`parity.sources.base.file_identity`)."""
    return _identity_key(file_identity(path))


def _identity_key(key: tuple[Any, ...]) -> str:
    return hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()


#: a file changed this shortly before parity opened it ("racily clean", as git says) may have changed again since
#: without its identity changing: a file system takes its times from a coarse clock (a few ms on Linux, 1-2 s on
#: FAT, HFS+ and some network shares), so a rewrite of the same size in the same tick keeps its times.  Its digest
#: is remembered (a later run knows it read the file before) but never trusted to skip reading the file: the
#: later run reads and hashes it again (and trusts it from then on)
RACY_NS = 2_000_000_000
_RACY = " racy"


def known(path: Path) -> tuple[str | None, bool]:
    """The sha256 a previous run computed for this very file (unchanged since), if any, and whether it may be
    trusted without reading the file again (not when the file had changed just before that run opened it)."""
    try:
        text = (_versioned() / "index" / identity(path)).read_text(encoding="ascii").strip()
    except (OSError, ValueError):  # (an index file that is not ASCII)
        return None, False
    sha, racy = text.removesuffix(_RACY), text.endswith(_RACY)
    if len(sha) != 64 or sha.strip("0123456789abcdef"):
        return None, False
    return sha, not racy


def known_sha256(path: Path) -> str | None:
    """The sha256 a previous run computed for this very file (unchanged since), if any."""
    return known(path)[0]


def remember_sha256(path: Path, sha256: str, opened_ns: int | None = None) -> None:
    """Remember the file's sha256 by its identity now; ``opened_ns``: when the run took the identity it checked
    (before hashing the file), by which the entry is told racy (:data:`RACY_NS`)."""
    with contextlib.suppress(OSError):
        key = file_identity(path)
        racy = opened_ns is not None and max(key[2], key[3]) > opened_ns - RACY_NS
        _write_atomic(_versioned() / "index" / _identity_key(key), (sha256 + (_RACY if racy else "")).encode("ascii"))


def entry(sha256: str, reading: str) -> Path | None:
    """The complete entry for this file content read this way, if there is one: a folder whose manifest is one
    parity wrote for these bytes (a damaged one is no entry; :func:`publish` replaces it)."""
    try:
        folder = _versioned() / "sas" / f"{sha256}-{reading}"
        manifest = read_manifest(folder)
    except (DamagedEntry, NoCacheFolder):
        return None
    if manifest["sha256"] != sha256:
        return None
    for name, size in manifest["sizes"].items():  # a part missing or cut short (cheap: no part is read)
        try:
            if (folder / name).stat().st_size != size:
                return None
        except OSError:
            return None
    return folder


class DamagedEntry(InputError):
    """A cache entry that cannot be what parity wrote (its manifest unreadable, a part missing or cut short).
    ``definite``: damaged for every run, so it may be removed; not when this run merely cannot read it (a
    permission, too many open files, an I/O error): then it is only not used, since another run may be reading it."""

    def __init__(self, message: str, *, definite: bool = True) -> None:
        super().__init__(message)
        self.definite = definite


def definite_damage(exc: BaseException) -> bool:
    """Whether an error reading an entry's file says the entry is damaged (rather than unreadable to this run)."""
    return isinstance(exc, ValueError | FileNotFoundError | NotADirectoryError | IsADirectoryError) or (
        isinstance(exc, OSError) and exc.errno is None)


#: what every manifest holds (:func:`read_manifest` checks them)
MANIFEST_KEYS = frozenset({"sha256", "meta", "rows", "parts", "found", "provenance", "sizes"})


def reading_key(**options: Any) -> str:
    """A digest of how a file is read: the options that change values, and the reader a user forced
    (``PARITY_SAS_READER``), so that forcing the reference reader never reuses what the fast reader cached."""
    forced = os.environ.get(READER_ENV, "").strip().lower()
    return hashlib.sha256(json.dumps({**options, "reader": forced}, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def building() -> Iterator[Path]:
    """A fresh folder inside the cache to build an entry in; removed unless :func:`publish` moved it."""
    with held_folder(_versioned() / "sas", "tmp-") as folder:
        yield folder


def publish(folder: Path, sha256: str, reading: str, manifest: dict[str, Any]) -> Path:
    """Write the manifest last, then move the built entry into place in one rename.  When another run published
    the same entry meanwhile, keep theirs."""
    sizes = {name: (folder / name).stat().st_size for name in manifest["parts"]}
    (folder / "manifest.json").write_text(json.dumps({**manifest, "sizes": sizes}, sort_keys=True), encoding="utf-8")
    with contextlib.suppress(OSError):  # (the lock stays held until the build ends: the file is only unnamed)
        (folder / BUILDING_LOCK).unlink()
    target = _versioned() / "sas" / f"{sha256}-{reading}"
    for attempt in (1, 2):
        try:
            os.rename(folder, target)
            break
        except OSError:
            if entry(sha256, reading) is not None:
                break  # another run published it meanwhile: keep theirs
            if attempt == 2 or not (target.is_dir() or target.is_file() or target.is_symlink()) or \
                    not _replaceable(target):
                raise
            # anything else in its place is never trusted (a folder without a valid manifest, a stray file): replaced
            discard(target)
    return target


def _replaceable(target: Path) -> bool:
    """Whether what is in an entry's place is damaged for every run (not an entry this run merely cannot read, such
    as another user's, which is left alone)."""
    if not target.is_dir():
        return True  # a stray file
    try:
        read_manifest(target)
    except DamagedEntry as exc:
        return exc.definite
    return True  # a manifest of other bytes, or parts of other sizes


def discard(target: Path) -> None:
    """Remove an entry (or whatever is in its place) that is not to be trusted: first moved aside in one rename, so
    that no run finds it half removed."""
    stale = Path(tempfile.mkdtemp(prefix="tmp-", dir=target.parent))
    try:
        with contextlib.suppress(FileNotFoundError):  # another run discarded it first
            os.rename(target, stale / "old")
    finally:
        shutil.rmtree(stale, ignore_errors=True)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The entry's manifest; DamagedEntry when it is missing, not JSON or not one parity writes."""
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        raise DamagedEntry(f"parity's cache entry {folder} has no readable manifest ({exc})",
                           definite=definite_damage(exc)) from None
    if not isinstance(data, dict) or not data.keys() >= MANIFEST_KEYS or not isinstance(data["sizes"], dict):
        raise DamagedEntry(f"parity's cache entry {folder} has a manifest parity did not write")
    return data


#: the file a run building an entry holds a lock on (POSIX ``flock``), released by the system when the run ends
BUILDING_LOCK = ".building"


def _hold(folder: Path) -> int | None:
    """Lock ``folder`` as being built by this process (the lock file is named only once it is locked, so that no
    other run ever finds it unlocked while its builder lives); None where locks are not to be had."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: abandoned folders go once they are a day old
        return None
    fd, name = tempfile.mkstemp(prefix=".lock-", dir=folder)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(name, folder / BUILDING_LOCK)
    except OSError:  # a file system without locks
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)
        return None
    return fd


#: a folder whose builder's lock is free is removed once nothing in it was written for this long: a file system
#: whose locks are only local (NFS mounted ``nolock``) shows another host's live build as unlocked, but that build
#: keeps writing its parts
_IDLE_S = 300


def _idle(folder: Path, now: float) -> float:
    """How long since anything in ``folder`` (or the folder itself) was written."""
    latest = folder.stat().st_mtime
    with os.scandir(folder) as found:
        for item in found:
            with contextlib.suppress(OSError):
                latest = max(latest, item.stat(follow_symlinks=False).st_mtime)
    return now - latest


def _abandoned(folder: Path, now: float) -> bool:
    """Whether ``folder`` (a ``tmp-*`` folder) belongs to no live run: its builder's lock is free (the run died)
    and nothing was written in it for :data:`_IDLE_S`, or it has no lock and is a day old."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        try:
            fd = os.open(folder / BUILDING_LOCK, os.O_RDONLY)
        except OSError:
            pass  # no lock (published meanwhile, or a folder of an older parity): by its age
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return False  # its run is building it
            finally:
                os.close(fd)
            try:
                return _idle(folder, now) > _IDLE_S
            except OSError:
                return False
    try:
        return now - folder.stat().st_mtime > _STALE_S
    except OSError:
        return False


def remove_abandoned(base: Path, pattern: str = "tmp-*") -> None:
    """Remove the folders matching ``pattern`` in ``base`` that runs killed while building them left behind."""
    now = time.time()
    for tmp in base.glob(pattern):
        if tmp.is_dir() and _abandoned(tmp, now):
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def held_folder(base: Path, prefix: str) -> Iterator[Path]:
    """A fresh folder in ``base`` locked by this process until the block ends (and then removed), after removing
    the folders of the same ``prefix`` that killed runs left there."""
    folder = new_held_folder(base, prefix)
    try:
        yield folder
    finally:
        release(folder)


#: the lock of each folder this process holds (:func:`new_held_folder`), closed by :func:`release`
_HELD: dict[Path, int] = {}


#: the prefixes of parity's private folders in the system's temporary folder: a big SAS file's parts read without
#: the cache (:mod:`parity.sources.sas_stream`), a port's LazyFrame spilled (:mod:`parity.sources.frames`)
PRIVATE_SAS = "parity-sas-"
PRIVATE_LAZY = "parity-lazy-"


@functools.cache
def _sweep_temporary() -> None:
    """Once a process: remove the private folders that killed runs left in the system's temporary folder (whichever
    kind this run makes: a run killed while reading without the cache is followed by runs that use it)."""
    base = Path(tempfile.gettempdir())
    for prefix in (PRIVATE_SAS, PRIVATE_LAZY):
        remove_abandoned(base, f"{prefix}*")


def new_held_folder(base: Path, prefix: str) -> Path:
    """A fresh folder in ``base``, locked by this process until :func:`release` (or its end), after removing the
    folders of the same ``prefix`` that killed runs left there (and, once a process, those of every kind of private
    folder in the system's temporary folder)."""
    with contextlib.suppress(OSError):
        _sweep_temporary()
    base.mkdir(parents=True, exist_ok=True)
    remove_abandoned(base, f"{prefix}*")
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        fd = _hold(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if fd is not None:
        _HELD[folder] = fd
    return folder


def release(folder: Path) -> None:
    """Remove a folder from :func:`new_held_folder`, then let its lock go."""
    shutil.rmtree(folder, ignore_errors=True)
    fd = _HELD.pop(folder, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


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


# --------------------------------------------------------------------------------------------------------------
# what the cache holds, and clearing it (``parity cache info`` / ``parity cache clear``)

#: the name of a folder of one parity version, cache format and reading code: ``0.1.0-1-216a01b5b919``
_VERSION_FOLDER = re.compile(r"^[0-9][0-9A-Za-z.+!_-]*-[0-9]+-[0-9a-f]{12}$")


@dataclass(frozen=True)
class CacheFolder:
    """One version's folder of the cache: its entries (SAS files read into parquet) and their bytes on disk."""

    path: Path
    current: bool  # this parity's (version, cache format, reading code and reader libraries)
    entries: int
    size: int


def folders() -> list[CacheFolder]:
    """The version folders in the cache (this parity's and those earlier versions or other installations left), by
    name; nothing else in the cache folder (the compiled report templates, a user's own files) is one."""
    base, current = root(), _versioned().name
    found: list[CacheFolder] = []
    with contextlib.suppress(OSError):
        for child in sorted(base.iterdir()):
            if child.is_dir() and not child.is_symlink() and (child.name == current
                                                               or _VERSION_FOLDER.match(child.name)):
                sas = child / "sas"
                entries = sum(1 for e in sas.iterdir() if e.is_dir() and not e.name.startswith("tmp-")) \
                    if sas.is_dir() else 0
                found.append(CacheFolder(child, child.name == current, entries, _size(child)))
    return found


def _size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


def clear(everything: bool = False) -> tuple[list[CacheFolder], list[Path]]:
    """Remove the folders of other versions (``everything``: this version's entries and index too).  A folder a
    live run is building an entry in is kept (it is returned as such); each removal is one rename first, so that a
    run finds an entry whole or not at all.  Returns what was removed and what was kept because a run uses it."""
    now = time.time()
    removed: list[CacheFolder] = []
    kept: list[Path] = []
    for folder in folders():
        if folder.current and not everything:
            continue
        sas = folder.path / "sas"
        building = [t for t in sas.glob("tmp-*") if t.is_dir() and not _abandoned(t, now)] if sas.is_dir() else []
        if folder.current or building:  # entry by entry, a live build left in place
            kept.extend(building)
            children = [c for c in sas.iterdir() if c not in building] if sas.is_dir() else []
            for child in [*children, folder.path / "index"]:
                if child.exists():
                    with contextlib.suppress(OSError):
                        discard(child)
        else:
            with contextlib.suppress(OSError):
                discard(folder.path)
        removed.append(folder)
    return removed, kept
