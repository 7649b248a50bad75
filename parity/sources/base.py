"""What every source gives the engine: columns with their SAS metadata, provenance, the rows."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import struct
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl

from parity.errors import InputError
from parity.formats import Kind

SPECIAL_TAGS = frozenset([*"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "_"])


@dataclass(frozen=True)
class Change:
    """A conversion that changed values on their way to comparison, and how many (shown on the column)."""

    code: str  # e.g. "storage_truncation", "int_to_double", "timezone_to_wall_clock", "csv_utc_offset"
    text: str
    values: int

    def to_dict(self) -> dict[str, Any]:
        return {"conversion": self.code, "values": self.values, "text": self.text}


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the file (or the Python frame) declares it."""

    name: str
    type: str  # "numeric" / "character" for SAS; the polars dtype for Python
    kind: Kind
    length: int | None = None
    format: str | None = None
    label: str | None = None
    special_missing: tuple[str, ...] = ()
    informat: str | None = None
    #: why the column cannot be compared (a CSV column whose text does not convert to its SAS column's type)
    problem: str | None = None
    #: conversions made while loading that changed values (CSV text with a UTC offset, say)
    changes: tuple[Change, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "kind": self.kind, "length": self.length,
                               "format": self.format, "label": self.label}
        if self.informat:
            out["informat"] = self.informat
        if self.special_missing:
            out["special_missing"] = list(self.special_missing)
        return out


@dataclass(frozen=True)
class SourceMeta:
    """Where a side's data came from, for the report's provenance."""

    source: str
    sha256: str | None
    rows: int
    columns: int
    format: str
    label: str | None = None
    encoding: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: when ``sha256`` is None: gives it when asked (a file hashed by a low-priority thread while it is compared,
    #: see :func:`deferred_sha256`); raises InputError if the file changed since it was opened
    sha256_later: Callable[[], str] | None = field(default=None, compare=False, repr=False)

    def digest(self) -> str | None:
        """The sha256 of the source's bytes (waiting for it when it is still being computed)."""
        return self.sha256 if self.sha256 is not None or self.sha256_later is None else self.sha256_later()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source, "sha256": self.digest(), "rows": self.rows, "columns": self.columns,
            "format": self.format, "label": self.label, "encoding": self.encoding,
        }
        out.update(self.extra)
        return out


#: the companion column a source's :meth:`Source.scan` adds for a numeric column with special missing values: a
#: String column with the tag (``'A'``-``'Z'``, ``'_'``) where the value is a special missing, null elsewhere
TAG_SUFFIX = "\x1fsas_tag"


def tag_column(name: str) -> str:
    """The name of ``name``'s special-missing tag column in a source's scan."""
    return f"{name}{TAG_SUFFIX}"


@runtime_checkable
class Source(Protocol):
    """One side of a comparison, as the engine sees it: declared columns with their SAS metadata, provenance (with
    the exact row count in ``meta.rows``) and the rows as a polars LazyFrame.

    ``scan()`` gives the columns of ``columns`` under their names, with raw values (SAS numbers as Float64 in SAS
    units, dates/times as numbers; Python values in their polars dtypes), plus a :func:`tag_column` for every numeric
    column that has special missing values.  Scanning never needs the whole table in memory unless the source is a
    frame already in memory."""

    @property
    def columns(self) -> list[ColumnInfo]: ...

    @property
    def meta(self) -> SourceMeta: ...

    def scan(self) -> pl.LazyFrame: ...


@dataclass
class Table:
    """A side already in memory (a :class:`Source`).  ``tags`` holds, per numeric column with special missing
    values, a String series with the tag (``'A'``-``'Z'``, ``'_'``) where the value is a special missing and null
    elsewhere."""

    frame: pl.DataFrame
    columns: list[ColumnInfo]
    meta: SourceMeta
    tags: dict[str, pl.Series] = field(default_factory=dict)

    def scan(self) -> pl.LazyFrame:
        if not self.tags:
            return self.frame.lazy()
        return self.frame.with_columns([s.alias(tag_column(n)) for n, s in self.tags.items()]).lazy()


@dataclass(frozen=True)
class LazySource:
    """A :class:`Source` whose rows stay where they are until scanned: a parquet or arrow file or dataset, a SAS
    file streamed into parity's cache, a LazyFrame a port returned.  ``where`` is the file or folder the rows are
    read from (a read error names it)."""

    columns: list[ColumnInfo]
    meta: SourceMeta
    scanner: Callable[[], pl.LazyFrame]
    where: Path | None = None
    #: the files of a folder or glob, each readable alone: which one a failed read came from (None: not known)
    files: tuple[Path, ...] = ()

    def scan(self) -> pl.LazyFrame:
        return self.scanner()

    def damaged_file(self) -> tuple[Path, str] | None:
        """After a read of a folder or glob failed: the first of its files that cannot be read whole, and why."""
        for file in self.files:
            try:
                scan = (pl.scan_parquet(file) if file.suffix.lower() == ".parquet"
                        else pl.scan_ipc(file, memory_map=False))
                scan.select(pl.all().null_count()).collect()  # every value decoded, none kept
            except Exception as exc:
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                return file, f"{type(exc).__name__}: {text}"
        return None


def materialize(source: Source) -> Table:
    """``source`` in memory, as the engine reads it until it scans sources lazily: its tag columns become
    :attr:`Table.tags`.  A read error names the file."""
    if isinstance(source, Table):
        return source
    try:
        frame = source.scan().collect()
    except Exception as exc:
        where = getattr(source, "where", None)
        if where is None:
            raise InputError(f"{source.meta.source}: cannot read it ({type(exc).__name__}: {exc})") from None
        what = "SAS file" if source.meta.format in ("sas7bdat", "xport") else f"{source.meta.format} file"
        raise _reader_failure(Path(where), exc, what=what) from None
    tags = {c.name: frame.get_column(tag_column(c.name)).alias(c.name) for c in source.columns
            if tag_column(c.name) in frame.columns}
    return Table(frame.select(c.name for c in source.columns), list(source.columns), source.meta, tags)


def sha256_files(paths: Iterable[Path], root: Path) -> str:
    """One digest for a dataset of several files: their paths relative to ``root`` and their sha256s."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """The file's sha256: the one :func:`prefetch_sha256` computed when the file has not changed since, else now."""
    key = _identity(path)
    with _PREFETCH_LOCK:
        pending = _PREFETCHED.pop(key, None) if key is not None else None
        if key is not None:  # prefetches of the file before it changed: of no use any more
            for stale in [k for k in _PREFETCHED if k[0] == key[0]]:
                del _PREFETCHED[stale]
    if pending is not None:
        with contextlib.suppress(Exception):  # a failed prefetch: hashed again here, with its error here
            digest = pending.result()
            if _identity(path) == key:  # and not changed while it was hashed: the bytes read from now on
                return digest
    return _sha256(path)


def deferred_sha256(path: Path, compute: Callable[[], str] | None = None,
                    verified: Callable[[str], None] | None = None, files: Sequence[Path] = ()) -> Callable[[], str]:
    """The sha256 of the file ``path`` as opened now, for the report: computed when first asked (by then, usually,
    by a prefetch thread on a core the comparison left idle), by ``compute`` if given (else
    :func:`sha256_file`), then handed to ``verified``.  The file must not have changed since it was opened, or the
    digest would not be that of the bytes compared: asking then raises InputError naming it (and ``verified`` is
    not called).  ``files``: the files of a dataset of several (``path`` their folder or glob), each of which must
    not have changed."""
    watched = list(files) or [path]
    keys = [_identity(p) for p in watched]  # before a byte is read (``compute`` may start reading at once)
    done: list[str] = []
    lock = threading.Lock()

    def digest() -> str:
        with lock:
            if not done:
                try:
                    value = compute() if compute is not None else sha256_file(path)
                except OSError as exc:  # gone or unreadable since: told as a change when it is one
                    failure: OSError | None = exc
                else:
                    failure = None
                for file, key in zip(watched, keys, strict=True):
                    if key is None or _identity(file) != key:
                        raise InputError(f"{file}: the file changed while parity read and compared it, so its "
                                         "sha256 would not be that of the bytes compared; run again once nothing "
                                         "writes it")
                if failure is not None:
                    raise InputError(f"{path}: cannot read the file to hash it ({failure})") from None
                if verified is not None:
                    verified(value)
                done.append(value)
            return done[0]

    return digest


def lower_priority() -> None:
    """Run the calling thread at the lowest priority (Linux: nice 19 for this thread only), so that it takes only
    CPU time the comparison leaves idle; where that cannot be done it runs as it is."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def prefetch_sha256(path: Path) -> None:
    """Start hashing the file ``path`` in a thread (hashlib releases the GIL), for :func:`sha256_file` later: so a
    Python side's file is hashed while the SAS side is read.  Only a kind in :data:`HASHED_WHEN_OPENED`."""
    if path.suffix.lower() not in HASHED_WHEN_OPENED:
        return
    key = _identity(path)
    if key is None or not path.is_file():
        return
    with _PREFETCH_LOCK:
        if key in _PREFETCHED:
            return
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        _PREFETCHED[key] = future

    def run() -> None:
        lower_priority()
        try:
            future.set_result(_sha256(path))
        except BaseException as exc:  # handed to sha256_file, which hashes again
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True, name=f"parity-sha256-{path.name}").start()


#: the kinds of file whose reader asks :func:`sha256_file` for the hash once it opens them; the others (SAS files,
#: Dataset-JSON) are hashed while they are read, or not read at all when the SAS cache knows the file: a prefetch
#: would hash them a second time, for nothing
HASHED_WHEN_OPENED = frozenset({".parquet", ".csv", ".arrow", ".feather", ".ipc"})
_PREFETCHED: dict[tuple[str, int, int, int, int, int], concurrent.futures.Future[str]] = {}
_PREFETCH_LOCK = threading.Lock()


def file_identity(path: Path) -> tuple[str, int, int, int, int, int]:
    """What tells the file apart from a changed one without reading it: its path, size, modification and change
    times in ns (the change time cannot be set by a user and moves on every write, copy or rename), inode and
    device.  Raises OSError when it cannot be looked at.  Taken from the file opened, where it can be: a network
    file system (NFS) may answer a bare stat from attributes cached for up to a minute, and revalidates them on an
    open (close-to-open consistency), so a file rewritten on another host is not taken for the one it was."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # not readable (its read fails later, naming it), or a platform that cannot open a folder
        st = path.stat()
    else:
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
    return str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


def _identity(path: Path) -> tuple[str, int, int, int, int, int] | None:
    try:
        return file_identity(path)
    except OSError:
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _reader_failure(path: Path, exc: BaseException, what: str = "SAS file") -> InputError:
    """The reader failed on ``path``: say why, with a hint that fits the file's format and the real cause."""
    text = str(exc).strip() or type(exc).__name__
    if what != "SAS file":  # polars' own advice ("Consider setting 'truncate_ragged_lines=True'") is for its API
        text = text.splitlines()[0].split(", hint: ")[0].strip()
    hint = _sas_failure_hint(path) if what == "SAS file" else _file_failure_hint(path, exc, text)
    lowered = text.lower()
    if what == "SAS file" and ("character set" in lowered or isinstance(exc, UnicodeDecodeError)
                               or "decode" in lowered or "encoding" in lowered):
        hint = "set encoding = '<codec>' for this dataset in parity.toml (e.g. 'latin1' or 'cp1252')"
    return InputError(f"{path}: cannot read this {what} ({type(exc).__name__}: {text}); {hint}")


NO_VARIABLES = ("the data set has no variables (0 columns): a valid SAS data set, but with nothing to compare; check "
                "that the SAS step that wrote it kept its variables (KEEP=/DROP=), or remove it from parity.toml")


def _sas_failure_hint(path: Path) -> str:
    """Why pyreadstat could not read a SAS file, from what its header says."""
    from parity.sources.sasheader import read_header, sas7bdat_column_count

    try:
        header = read_header(path)
    except (ValueError, OSError) as exc:  # not SAS at all, truncated, a catalog, CPORT, ...
        reason = str(exc).removeprefix(f"{path}: ")
        if "truncated" in reason or "corrupt" in reason or "empty file" in reason:
            return f"{reason}; copy or export the data set again from SAS"
        if "not a SAS file" in reason:
            return (f"{reason}; check that sas = names the SAS output itself, not another kind of file renamed to "
                    f"{path.suffix}")
        return reason  # a catalog or a CPORT file: the reason says what it is and what to do
    if header.format == "sas7bdat":
        try:
            columns = sas7bdat_column_count(path)
        except (ValueError, OSError, struct.error):
            columns = None
        if columns == 0:
            return NO_VARIABLES
    return (f"its {header.format} header is valid (written by SAS {header.sas_release or '?'} on "
            f"{header.host or '?'}), so the data pages are damaged or use a feature the reader does not support; "
            "export it again from SAS (e.g. with COMPRESS=NO, or as XPORT)")


def _file_failure_hint(path: Path, exc: BaseException, text: str) -> str:
    """Why a Python output file (.csv, .parquet, .arrow) could not be read."""
    lowered = text.lower()
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size if path.is_file() else None
        with (path.open("rb") if size else contextlib.nullcontext(None)) as fh:
            head = fh.read(4096) if fh is not None else b""
    except OSError:
        size, head = None, b""
    if size == 0 or "empty csv" in lowered:
        return "the file is empty: check that the port finished writing it"
    if "more than one occurrence" in lowered or type(exc).__name__ == "DuplicateError":
        return "the file has two columns of one name: give every column a unique name"
    if size is None:  # a folder or a glob: the error names no one file
        return ("check that every file in it is complete (the port finished writing it) and was written with "
                "polars/pyarrow")
    if suffix == ".csv":
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return ("the file is UTF-16 (it starts with a UTF-16 byte-order mark); CSV files must be UTF-8: write "
                    "it with encoding='utf-8' (or write parquet instead)")
        if "utf-8" in lowered or "utf8" in lowered or isinstance(exc, UnicodeDecodeError):
            return "CSV files must be UTF-8: write it with encoding='utf-8' (or write parquet instead)"
        header = head.split(b"\n", 1)[0]
        other = next((name for sep, name in ((b";", "semicolons"), (b"\t", "tabs"), (b"|", "'|'"))
                      if sep in header and b"," not in header), None)
        if other is not None:
            return (f"its header is separated by {other}, not commas: parity reads comma-separated files (write it "
                    "with the default separator, or write parquet instead)")
        if "more fields" in lowered or "ragged" in lowered:
            return "a row has more fields than the header: check quoting and the delimiter (parity reads ',')"
        if "could not parse" in lowered or "dtype" in lowered:
            return ("a column mixes types (e.g. numbers and text): quote text columns, or write parquet so the "
                    "types are kept")
        return "check that it is a comma-separated file with one header row (or write parquet instead)"
    kind = next((what for magic, what, ext in ((b"PAR1", "a parquet file", ".parquet"),
                                                (b"ARROW1", "an Arrow IPC file", ".arrow"))
                 if head.startswith(magic) and suffix != ext and not (ext == ".arrow" and suffix in (".feather", ".ipc"))),
                None)
    if kind is not None:
        return f"it is {kind}, not {suffix[1:]}: name it with the suffix of what it holds"
    return (f"the file is not a complete {suffix[1:]} file: check that the port finished writing it and wrote it "
            f"with polars/pyarrow ({'write_parquet' if suffix == '.parquet' else 'write_ipc'})")


