"""The SAS side, streamed: a .sas7bdat/.xpt file read in chunks into parquet, in bounded memory, cached.

- **Reader**: :func:`choose_reader` is the one place a reader is chosen: the fast path
  (:mod:`parity.sources.sas_fast`, polars-readstat behind safeguards) when it is installed, not switched off
  (``PARITY_SAS_READER=pyreadstat``) and verifies the file; pyreadstat otherwise.  The provenance says which
  (``meta.extra["reader"]``).
- **Chunks**: pyreadstat reads ``row_offset``/``row_limit`` chunks of about :data:`CHUNK_BYTES` of row data, so
  memory follows the chunk, not the file.  A big file (:data:`PARALLEL_MIN_BYTES`) is read by worker processes
  started with *spawn* (fork and polars' thread pool deadlock), each writing its own parquet part.
- **Cache** (:mod:`parity.sources.cache`): the parts of a file of at least ``cache.MIN_BYTES`` are kept, keyed by
  the file's sha256 and the encoding, and scanned lazily by later runs.  The file is hashed by a thread *while*
  it is read, not in an extra pass; as soon as the hash is known and a previous run cached the same bytes (a copy,
  a fresh checkout), the read stops and the cache is used.  The fast path's rows kept in memory are cached when
  a run reads the same file again (a one-off run does not write an entry).  Smaller files are read into memory
  (a Table); without the cache a big file's parts go to a private temporary folder, removed when the source is
  dropped.

The values are exactly those of one whole-file pyreadstat read (:func:`parity.sources.sas.read_sas_whole`):
tests/test_sas_stream.py checks it on the example fixtures and the SAS corpus.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from parity.errors import InputError
from parity.sources import cache
from parity.sources.base import LazySource, Source, Table, deferred_sha256, lower_priority, tag_column
from parity.sources.registry import OpenOptions
from parity.sources.sas import (
    SasMeta,
    check_meta,
    convert_rows,
    read_raw,
    reader_encoding,
    sas_columns,
    sas_format,
    sas_meta,
)

if TYPE_CHECKING:
    from parity.sources.sas_fast import FastScan

#: row data per chunk (the file's row length times the rows); a chunk's frame is a few times this in memory
CHUNK_BYTES = 64 * 1024 * 1024
#: files at least this big are read by worker processes (a process costs about a second to start)
PARALLEL_MIN_BYTES = 256 * 1024 * 1024
MAX_WORKERS = 4
PYREADSTAT = "pyreadstat"
#: the fast path's verified rows are compared from memory when they take at most this (an upper bound,
#: :func:`parity.sources.sas_fast.frame_bytes`): no parquet round trip before the comparison; bigger files stream
#: into parquet parts in bounded memory
IN_MEMORY_BYTES = 2 << 30
#: a cache entry for rows read into memory is written by a background thread while the comparison runs when it is
#: at least this big (smaller ones are written at once)
BACKGROUND_MIN_BYTES = 64 << 20
#: the private folders (in the system's temporary folder) of big files read without the cache
PRIVATE_PREFIX = cache.PRIVATE_SAS


class _Hasher(threading.Thread):
    """The file's sha256, computed by a thread while the file is read (hashlib releases the GIL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True, name=f"parity-sha256-{path.name}")
        self.path = path
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self.start()

    def run(self) -> None:
        lower_priority()  # on the CPU time the read and the comparison leave idle
        digest = hashlib.sha256()
        try:
            with self.path.open("rb") as fh:
                while not self._cancelled.is_set() and (block := fh.read(1 << 22)):
                    digest.update(block)
        except BaseException as exc:  # reported by result()
            self._error = exc
            return
        self._digest = digest.hexdigest()

    def done(self) -> bool:
        return not self.is_alive()

    def result(self) -> str:
        self.join()
        if self._error is not None or self._digest is None:
            raise InputError(f"{self.path}: cannot read the file to hash it ({self._error})")
        return self._digest

    def cancel(self) -> None:
        self._cancelled.set()


def choose_reader(path: Path, fmt: str, encoding: str | None, sink: Path | None = None,
                  memory_budget: int = 0) -> tuple[FastScan | None, dict[str, Any]]:
    """The seam where a reader is chosen.  ``(rows, provenance)``: the fast path's verified rows
    (:func:`parity.sources.sas_fast.scan_sas_fast`: every column under its name, raw Float64/String values, a tag
    column per numeric column with special missing values; in memory when there is no ``sink`` or they fit
    ``memory_budget``, else streamed into the parquet file ``sink``) when it is installed, not switched off and
    verified this file; else ``None``, and pyreadstat reads the file in chunks.  ``provenance`` says which reader,
    and why the fast path was refused (``reader``, ``reader_note``)."""
    if fmt != "sas7bdat":
        return None, {"reader": PYREADSTAT}
    from parity.sources.sas_fast import scan_sas_fast

    scan = scan_sas_fast(path, encoding=encoding, sink=sink, memory_budget=memory_budget)
    return (scan if scan.taken else None), dict(scan.provenance())


#: encodings that iconv decodes with state carried from one value to the next (Vietnamese and Hebrew compose
#: diacritics; JIS X 0213 and HKSCS combine characters): ReadStat's values then depend on where a read starts, so
#: these files are read in one piece, as a whole-file read gives them
STATEFUL_ENCODINGS = frozenset({"WINDOWS-1258", "CP1258", "WINDOWS-1255", "CP1255", "TCVN", "TCVN5712-1",
                                "BIG5-HKSCS", "EUC-JISX0213", "SHIFT_JISX0213", "ISO-2022-JP", "ISO-2022-KR",
                                "ISO-2022-CN", "UTF-7"})


def _charset_key(name: str) -> str:
    """An iconv name compared without case, '-' and '_' (SHIFT_JISX0213, Shift-JISX0213 and BIG5HKSCS match)."""
    return name.upper().replace("-", "").replace("_", "")


_STATEFUL_KEYS = frozenset(map(_charset_key, STATEFUL_ENCODINGS))


def _chunk_rows(meta: SasMeta, chunk_rows: int | None, encoding: str | None) -> int:
    """Rows per chunk; 0 (the whole file in one read) for a stateful encoding."""
    if _charset_key(reader_encoding(encoding) or meta.file_encoding or "") in _STATEFUL_KEYS:
        return 0
    if chunk_rows is not None:
        return max(1, chunk_rows)
    row_bytes = sum(w or 8 for w in meta.widths.values()) or 8 * max(1, len(meta.names))
    return max(1000, CHUNK_BYTES // row_bytes)


def _tagged(frame: pl.DataFrame, tags: Mapping[str, pl.Series]) -> pl.DataFrame:
    return frame.with_columns(t.alias(tag_column(n)) for n, t in tags.items()) if tags else frame


def _found_in(frame: pl.DataFrame, meta: SasMeta) -> dict[str, set[str]]:
    return {n: set(frame.get_column(tag_column(n)).drop_nulls().unique().to_list()) for n in meta.names
            if tag_column(n) in frame.columns}


def _read_part(path: str, fmt: str, encoding: str | None, offset: int, limit: int,
               out: str | None) -> tuple[int, dict[str, list[str]], dict[str, Any], pl.DataFrame | None]:
    """Rows ``offset`` .. ``offset + limit`` (to the end with ``limit=0``), converted; written to ``out`` when
    given (a worker process), else returned.  (rows, tags found, metadata, frame or None)."""
    raw, pmeta = read_raw(Path(path), fmt, encoding, offset=offset, limit=limit)
    meta = SasMeta.of(pmeta, fmt)
    frame, tags = convert_rows(raw, meta, Path(path))
    frame = _tagged(frame, tags)
    found = {n: sorted(v) for n, v in _found_in(frame, meta).items()}
    if out is None:
        return frame.height, found, meta.to_json(), frame
    frame.write_parquet(out, statistics=False)
    return frame.height, found, meta.to_json(), None


class _Parts:
    """Where the chunks go: parquet files in ``folder``, or frames in memory when there is no folder."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.files: list[str] = []
        self.frames: list[pl.DataFrame] = []
        self.rows = 0
        self.found: dict[str, set[str]] = {}
        self.meta: SasMeta | None = None

    def name(self) -> str:
        return f"part-{len(self.files):06d}.parquet"

    def add(self, rows: int, found: Mapping[str, list[str] | set[str]], meta: Mapping[str, Any],
            frame: pl.DataFrame | None, file: str | None = None) -> None:
        self.meta = self.meta or SasMeta.from_json(meta)
        self.rows += rows
        for name, tags in found.items():
            self.found.setdefault(name, set()).update(tags)
        if frame is not None and self.folder is not None:
            file = self.name()
            frame.write_parquet(self.folder / file, statistics=False)
        elif frame is not None:
            self.frames.append(frame)
        if file is not None:
            self.files.append(file)


def _sequential(path: Path, fmt: str, encoding: str | None, chunk: int, parts: _Parts, total: int,
                progress: Callable[[int], None], stop: Callable[[], bool]) -> bool:
    """Read chunk after chunk; False when ``stop()`` asked to stop early.  The first chunk is small, so that a
    copy of a cached file is recognised (its hash is known by then) before much of it is read."""
    offset = 0
    size = max(1, chunk // 16) if chunk else 0
    while True:
        rows, found, meta, frame = _read_part(str(path), fmt, encoding, offset, size, None)
        parts.add(rows, found, meta, frame)
        offset += rows
        progress(offset)
        if size == 0 or rows < size:
            return True
        if stop():
            return False
        size = chunk


def _parallel(path: Path, fmt: str, encoding: str | None, chunk: int, parts: _Parts, total: int, workers: int,
              progress: Callable[[int], None], stop: Callable[[], bool]) -> bool:
    """Contiguous ranges read by worker processes (spawned), each writing its part; the last range reads to the
    end, whatever the header's row count says."""
    assert parts.folder is not None
    n = max(workers, math.ceil(total / chunk))
    size = math.ceil(total / n) or 1
    names = [f"part-{i:06d}.parquet" for i in range(n)]
    ctx = multiprocessing.get_context("spawn")
    pool = ctx.Pool(workers)
    try:
        pending = [pool.apply_async(_read_part, (str(path), fmt, encoding, i * size,
                                                 0 if i == n - 1 else size, str(parts.folder / names[i])))
                   for i in range(n)]
        done = 0
        for name, result in zip(names, pending, strict=True):
            while not result.ready():
                result.wait(0.2)
                if stop():
                    return False
            rows, found, meta, _ = result.get()
            parts.add(rows, found, meta, None, name)
            done += rows
            progress(done)
        return True
    finally:
        pool.terminate()
        pool.join()


def open_streamed(path: Path, options: OpenOptions, *, chunk_rows: int | None = None,
                  workers: int | None = None) -> Source:
    """Open a SAS file: from the cache when a previous run read the same bytes, else streamed (see the module)."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    fmt = sas_format(path)
    encoding = options.encoding
    size = path.stat().st_size
    caching = cache.enabled(options.cache) and (options.cache is True or size >= cache.MIN_BYTES)
    reading = cache.reading_key(encoding=encoding)
    known = None
    if caching:  # the very file a previous run read: not a byte of it is read again
        known, trusted = cache.known(path)
        hit = cache.entry(known, reading) if known and trusted else None
        if hit is not None:
            try:
                return _cached(path, hit, options)
            except cache.DamagedEntry as exc:  # never read: removed, and the file read again (and cached again)
                _discard_damaged(path, hit, exc)
                caching = exc.definite  # (an entry only this run cannot read: this run reads without the cache)
    stage = f"reading {path.name}"
    options.progress(stage, 0, 0, "rows")
    # the file's digest, for the report and the cache: of the file as it is now, before the hasher or a reader
    # opens it (a file replaced, truncated or rewritten since is an InputError naming it, never the digest of
    # other bytes, and then neither the cache index nor an entry learns anything)
    opened = time.time_ns()  # (before the identity is taken: a change in the same tick as it is told racy)
    later = deferred_sha256(path, lambda: hasher.result(),
                            lambda sha: cache.remember_sha256(path, sha, opened) if caching else None)
    hasher = _Hasher(path)
    with contextlib.ExitStack() as stack:
        folder: Path | None = None
        if caching:
            try:
                folder = stack.enter_context(cache.building())
            except OSError:  # a cache folder that cannot be written (a read-only home in CI): read without it
                caching = False
        private = folder is None and size >= cache.MIN_BYTES
        if private:  # a big file without the cache: parts in a private folder
            folder = cache.new_held_folder(Path(tempfile.gettempdir()), PRIVATE_PREFIX)
        parts = _Parts(folder)

        def cached_meanwhile(wait: bool = False) -> bool:
            """Whether a previous run cached the same bytes.  ``wait``: for the hash to finish (pyreadstat holds
            the GIL while it reads, so in one process the hash runs between chunks: after the first, small,
            chunk the reader waits for it, so that a copy is not read whole)."""
            return (caching and (wait or hasher.done())
                    and cache.entry(hasher.result(), reading) is not None)

        try:
            # the fast path first (its metadata is pyreadstat's, read with its first sampled rows): its rows in
            # memory when they fit, else streamed into the first part file (bounded memory)
            fast, provenance = choose_reader(path, fmt, encoding, None if folder is None else folder / parts.name(),
                                             IN_MEMORY_BYTES)
            if fast is not None:
                head = SasMeta.of(fast.meta, fmt)
                check_meta(path, head, options.formats)
                parts.meta = head
                rows = total = fast.meta.number_rows
                if fast.frame is not None:  # kept in memory: the cache part is written from it below
                    parts.rows, parts.found = rows, {n: set(t) for n, t in fast.found.items()}
                    parts.frames.append(fast.frame)
                else:
                    parts.add(rows, {n: list(t) for n, t in fast.found.items()}, head.to_json(), None,
                              None if fast.sink is None else fast.sink.name)
                options.progress(stage, rows, total, "rows")
                complete = True
            else:
                _, pmeta = read_raw(path, fmt, encoding, metadataonly=True)
                head = SasMeta.of(pmeta, fmt)
                check_meta(path, head, options.formats)
                total = int(pmeta.number_rows or 0)
                options.progress(stage, 0, total, "rows")
                chunk = _chunk_rows(head, chunk_rows, encoding)
                n_workers = workers if workers is not None else (
                    min(os.cpu_count() or 1, MAX_WORKERS) if size >= PARALLEL_MIN_BYTES else 1)
                def report(done: int) -> None:
                    options.progress(stage, done, total, "rows")

                if n_workers > 1 and folder is not None and fmt == "sas7bdat" and 0 < chunk < total:
                    complete = _parallel(path, fmt, encoding, chunk, parts, total, n_workers, report,
                                         cached_meanwhile)
                else:
                    complete = _sequential(path, fmt, encoding, chunk, parts, total, report,
                                           lambda: cached_meanwhile(wait=True))
        except BaseException as exc:
            hasher.cancel()
            # an OSError is never a bug in parity: a folder gone or full, the file gone (told before the private
            # folder is removed: whether it is still there tells which)
            failure = (_read_failure(path, folder if caching else None, folder if private else None, exc)
                       if isinstance(exc, OSError) else None)
            if folder is not None and not caching:
                cache.release(folder)
            if failure is not None:
                raise failure from None
            raise
        if parts.frames and fast is not None:  # the fast path's rows, in memory: compared from there
            if private and folder is not None:
                cache.release(folder)
            memory = _Parts(None)
            memory.meta, memory.rows, memory.found, memory.frames = parts.meta, parts.rows, parts.found, parts.frames
            if not caching or (options.cache is not True and known is None):
                # no cache entry to write now: the hash (low priority) goes on while the rows are compared, and the
                # report asks for it at the end (the cache index learns it then)
                return _source(path, memory, None, provenance, options, later)
            sha = later()  # (and the index learns it)
            # written when a run reads the same file a second time (or the cache was asked for): a one-off run,
            # say a CI job on a fresh machine, does not pay for an entry no later run reads
            if cache.entry(sha, reading) is None and (options.cache is True or known == sha):
                _write_entry(path, memory, sha, reading, provenance)
            return _source(path, memory, sha, provenance, options)
        try:
            sha = later()  # (and the index learns it when caching)
        except InputError:
            if private and folder is not None:
                cache.release(folder)
            raise
        if caching:
            assert folder is not None
            published = cache.entry(sha, reading)
            try:
                if published is None and complete:
                    published = cache.publish(folder, sha, reading, _manifest(parts, sha, provenance))
            except OSError as exc:
                raise InputError(f"{path}: cannot write parity's cache in {cache.where()} ({exc}); free space there, "
                                 "set PARITY_CACHE_DIR to another folder, or run with --no-cache") from None
            if published is not None:
                return _cached(path, published, options)
        return _source(path, parts, sha, provenance, options)
    raise AssertionError("unreachable")  # pragma: no cover


def _read_failure(path: Path, cache_folder: Path | None, private: Path | None, exc: OSError) -> InputError:
    """An OSError while ``path`` was read: writing its rows into the cache (or a private temporary folder) failed
    (the folder was removed meanwhile, say by a cleanup of the cache or of the temporary folder, or it is full), or
    reading the file itself failed."""
    text = str(exc).strip() or type(exc).__name__

    def about(folder: Path | None) -> bool:  # (polars shortens a long path from its start: its folder's name stays)
        return folder is not None and (folder.name in text or folder.name in str(exc.filename)
                                       or not folder.is_dir())

    if about(cache_folder):
        return InputError(f"{path}: cannot write its rows into parity's cache in {cache.where()} ({text}); was the "
                          "cache folder removed or is it full? Run again, set PARITY_CACHE_DIR to another folder, "
                          "or run with --no-cache")
    if private is not None and about(private):
        return InputError(f"{path}: cannot write its rows into the temporary folder {private.parent} ({text}); was "
                          "it cleaned up meanwhile, or is it full? Run again, or set TMPDIR to a folder with room")
    return InputError(f"{path}: cannot read the file ({text}); check that it is complete and readable, and that "
                      "nothing removes or rewrites it while parity runs")


#: cache entries being written by background threads (joined by :func:`wait_for_cache_writes`)
_WRITERS: list[threading.Thread] = []


def _write_entry(path: Path, parts: _Parts, sha: str, reading: str, provenance: Mapping[str, Any]) -> None:
    """Write the cache entry of rows held in memory (one parquet part): at once when small, else by a (non-daemon)
    thread while the comparison runs, so that the first run does not wait for it; the process waits for the
    thread before it exits (:func:`wait_for_cache_writes` waits in-process).  A failed background write only says
    so on stderr: the run's values come from memory, and a later run reads the file again."""
    frame = parts.frames[0]
    entry = _Parts(None)
    entry.meta, entry.rows, entry.found, entry.files = parts.meta, parts.rows, parts.found, [parts.name()]

    def write() -> None:
        with cache.building() as folder:
            # uncompressed: 40% less CPU to write than lz4 and 35% less to read back (measured at 5M rows), for
            # about 1.5x the bytes (0.6x the .sas7bdat's, strings without their padding)
            frame.write_parquet(folder / entry.files[0], compression="uncompressed", statistics=False)
            cache.publish(folder, sha, reading, _manifest(entry, sha, provenance))

    if frame.estimated_size() < BACKGROUND_MIN_BYTES:
        try:
            write()
        except OSError as exc:
            raise InputError(f"{path}: cannot write parity's cache in {cache.where()} ({exc}); free space there, "
                             "set PARITY_CACHE_DIR to another folder, or run with --no-cache") from None
        return

    def background() -> None:
        try:
            write()
        except Exception as exc:  # the run goes on from memory
            print(f"parity: warning: {path}: cannot write parity's cache in {cache.where()} ({exc}); a later run "
                  "reads the file again", file=sys.stderr)

    thread = threading.Thread(target=background, name=f"parity-cache-{path.name}", daemon=False)
    _WRITERS.append(thread)
    thread.start()


def wait_for_cache_writes() -> None:
    """Wait until the cache entries being written in the background are written."""
    while _WRITERS:
        _WRITERS.pop().join()


def _manifest(parts: _Parts, sha: str, provenance: Mapping[str, Any]) -> dict[str, Any]:
    assert parts.meta is not None
    return {"sha256": sha, "meta": parts.meta.to_json(), "rows": parts.rows, "parts": parts.files,
            "found": {n: sorted(v) for n, v in sorted(parts.found.items())}, "provenance": dict(provenance)}


def _schema(meta: SasMeta, found: Mapping[str, Any]) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {n: pl.String() if meta.types.get(n) == "string" else pl.Float64()
                                      for n in meta.names}
    schema.update({tag_column(n): pl.String() for n in meta.names if n in found})
    return schema


def _cached(path: Path, folder: Path, options: OpenOptions) -> Source:
    """A cache entry, scanned lazily."""
    manifest = cache.read_manifest(folder)
    meta = SasMeta.from_json(manifest["meta"])
    check_meta(path, meta, options.formats)
    found = {n: tuple(v) for n, v in manifest["found"].items()}
    files = [folder / name for name in manifest["parts"]]
    if not all(f.is_file() for f in files):
        raise InputError(f"{path}: parity's cache entry for this file ({folder}) is incomplete; remove that folder "
                         "(or run with --no-cache)")
    _verify_parts(path, folder, files, meta.names, int(manifest["rows"]))
    schema = _schema(meta, found)
    smeta = sas_meta(path, meta, sha256=manifest["sha256"], rows=int(manifest["rows"]), encoding=options.encoding,
                     catalog=options.catalog, reader=manifest["provenance"])
    return LazySource(sas_columns(meta, found, options.formats), smeta,
                      lambda: pl.scan_parquet(files, schema=schema, missing_columns="insert", glob=False),
                      where=path)


def _discard_damaged(path: Path, folder: Path, exc: Exception) -> None:
    """A damaged cache entry found for ``path``: said on stderr and removed (a later run finds none); one this run
    merely cannot read (:attr:`parity.sources.cache.DamagedEntry.definite`) is left for the runs that can."""
    if not (isinstance(exc, cache.DamagedEntry) and not exc.definite):
        print(f"parity: warning: {path}: {exc}; removed it, reading the file again", file=sys.stderr)
        with contextlib.suppress(OSError):
            cache.discard(folder)
        return
    print(f"parity: warning: {exc}; reading the file instead", file=sys.stderr)


def _verify_parts(path: Path, folder: Path, files: list[Path], names: Sequence[str], rows: int) -> None:
    """A cache entry's parts must hold every data column and, together, the manifest's rows (read from the parquet
    footers, not the data): a damaged part would otherwise read as null values (``missing_columns="insert"`` is
    for the tag columns only, which a part holds only where it found special missing values)."""
    import pyarrow.parquet as pq

    total = 0
    try:
        for part in files:
            footer = pq.ParquetFile(part)
            missing = set(names) - set(footer.schema_arrow.names)
            if missing:
                raise ValueError(f"part {part.name} lacks column(s) {', '.join(sorted(missing))}")
            total += footer.metadata.num_rows
        if total != rows:
            raise ValueError(f"its parts hold {total:,} rows, its manifest says {rows:,}")
    except (OSError, ValueError) as exc:
        if not cache.definite_damage(exc):
            raise cache.DamagedEntry(f"{path}: cannot read parity's cache entry for this file ({folder}: {exc})",
                                     definite=False) from None
        raise cache.DamagedEntry(f"{path}: parity's cache entry for this file ({folder}) is damaged ({exc}); remove "
                                 "that folder (or run with --no-cache)") from None


def _source(path: Path, parts: _Parts, sha: str | None, provenance: Mapping[str, Any], options: OpenOptions,
            sha_later: Callable[[], str] | None = None) -> Source:
    """Parts read without the cache: a Table from frames in memory, or a LazySource over a private folder."""
    meta = parts.meta
    assert meta is not None
    found = {n: tuple(sorted(v)) for n, v in parts.found.items()}
    columns = sas_columns(meta, found, options.formats)
    smeta = sas_meta(path, meta, sha256=sha, rows=parts.rows, encoding=options.encoding, catalog=options.catalog,
                     reader=provenance, sha256_later=sha_later)
    schema = _schema(meta, found)
    if parts.folder is None:
        frame = pl.concat(parts.frames, how="diagonal") if len(parts.frames) > 1 else parts.frames[0]
        frame = frame.select(pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                             for c, t in schema.items())
        tags = {n: frame.get_column(tag_column(n)).alias(n) for n in found}
        return Table(frame.select(meta.names), columns, smeta, tags)
    files = [parts.folder / name for name in parts.files]
    source = LazySource(columns, smeta, lambda: pl.scan_parquet(files, schema=schema, missing_columns="insert",
                                                                 glob=False), where=path)
    weakref.finalize(source, cache.release, parts.folder)
    return source

