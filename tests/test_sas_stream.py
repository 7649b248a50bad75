"""The SAS side streams (issue 9, item 3 on the sources side): pyreadstat chunks (or spawned workers) into a parquet
cache keyed by the file's sha256, values identical to one whole-file read; a seam that chooses the reader."""

from __future__ import annotations

import csv
import os
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import polars as pl
import pyreadstat
import pytest

from parity.errors import InputError
from parity.sources import cache, sas_stream
from parity.sources.base import LazySource, Table, materialize, tag_column
from parity.sources.registry import OpenOptions
from parity.sources.sas import UnknownFormatColumn, read_sas, read_sas_whole
from parity.sources.sas_stream import open_streamed
from tests.helpers import Column, SpecialMissing, write_sas7bdat
from tests.test_runs_robust import zero_columns

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
#: corpus files up to this size are compared (the corpus test stays within a few seconds)
CORPUS_MAX_BYTES = 512 * 1024


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("PARITY_CACHE_DIR", str(folder))
    monkeypatch.delenv("PARITY_NO_CACHE", raising=False)
    monkeypatch.setenv("PARITY_SAS_READER", "pyreadstat")  # the fast path has its own tests
    return folder


def assert_same(whole: Table, streamed: Table, path: Path) -> None:
    """Values (bit for bit, nulls in place), special-missing tags, declared columns and provenance alike."""
    assert streamed.frame.schema == whole.frame.schema, path
    assert streamed.frame.equals(whole.frame, null_equal=True), path
    assert sorted(streamed.tags) == sorted(whole.tags), path
    for name, tags in whole.tags.items():
        assert streamed.tags[name].equals(tags, check_names=True), (path, name)
    assert streamed.columns == whole.columns, path
    def provenance(table: Table) -> dict[str, Any]:  # which reader read it aside
        return {k: v for k, v in table.meta.to_dict().items() if k not in ("reader", "reader_note")}

    assert provenance(streamed) == provenance(whole), path
    assert streamed.meta.rows == whole.frame.height


def _sample(path: Path, rows: int = 40) -> Path:
    write_sas7bdat(path, [
        Column("id", "numeric", list(range(rows))),
        Column("x", "numeric", [SpecialMissing("A") if i % 7 == 3 else (None if i % 5 == 1 else i * 1.25)
                                for i in range(rows)]),
        Column("y", "numeric", [SpecialMissing("_") if i == rows - 1 else float(i) for i in range(rows)]),
        Column("d", "numeric", [20000.0 + i for i in range(rows)], format="DATE9"),
        Column("s", "string", [None if i % 4 == 0 else f"v{i}é" for i in range(rows)], length=12),
    ], file_label="sample", compression="rows")
    return path


def test_streamed_chunks_equal_the_whole_read_cached_or_not(tmp_path: Path, cache_dir: Path) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    whole = read_sas_whole(path)
    assert whole.tags  # the sample has special missing values, in one chunk or another
    for chunk in (1, 7, 40, 1000):
        in_memory = open_streamed(path, OpenOptions(cache=False), chunk_rows=chunk)
        assert isinstance(in_memory, Table)
        assert_same(whole, in_memory, path)
        cached = open_streamed(path, OpenOptions(cache=True), chunk_rows=chunk)
        assert isinstance(cached, LazySource)
        assert cached.meta.extra["reader"] == "pyreadstat"
        assert_same(whole, materialize(cached), path)
    # the lazy scan carries the tag companion columns, like a Table's
    assert set(cached.scan().collect_schema()) >= {tag_column("x"), tag_column("y")}
    # the later runs found one entry (the first chunk size's), whatever their chunk size
    assert len(list((cache_dir).rglob("manifest.json"))) == 1


def test_the_example_fixtures_stream_to_the_same_values() -> None:
    files = sorted(p for p in (ROOT / "fixtures").rglob("*") if p.suffix.lower() in (".sas7bdat", ".xpt"))
    assert files
    for path in files:
        whole = read_sas_whole(path)
        chunk = max(1, whole.frame.height // 3 + 1)
        assert_same(whole, materialize(open_streamed(path, OpenOptions(cache=True), chunk_rows=chunk)), path)
        assert_same(whole, read_sas(path), path)


def _corpus_files() -> list[Path]:
    """The corpus files pyreadstat reads, up to CORPUS_MAX_BYTES: every one with special missing values, a
    compression or an encoding other than Windows-1252/Latin-1/UTF-8/none, and every third of the rest."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh, delimiter="\t"), key=lambda r: r["local_path"])
    common = {"", "WINDOWS-1252", "ISO-8859-1", "latin1", "UTF-8", "US-ASCII", "unspecified (xpt has no encoding field)"}
    out = []
    for i, row in enumerate(rows):
        path = CORPUS / row["local_path"]
        if not (path.suffix.lower() in (".sas7bdat", ".xpt") and row.get("reads_pyreadstat") == "ok"
                and path.is_file() and path.stat().st_size <= CORPUS_MAX_BYTES):
            continue
        special = ("special missing" in row["special_features"] or row["encoding"] not in common
                   or row["compression"] not in ("", "none", "n/a (xport)"))
        if special or i % 3 == 0:
            out.append(path)
    return out


@pytest.mark.corpus
def test_every_readable_corpus_file_streams_to_the_same_values(tmp_path: Path) -> None:
    files = _corpus_files()
    if not files:
        pytest.skip(f"no SAS corpus at {CORPUS}")
    compared, errors = 0, 0
    for path in files:
        try:
            whole = read_sas_whole(path)
        except InputError as exc:  # a file pyreadstat reads only with help (an encoding, ...): the same error
            with pytest.raises(InputError) as streamed_error:
                materialize(open_streamed(path, OpenOptions(cache=False), chunk_rows=50))
            assert str(streamed_error.value) == str(exc), path
            errors += 1
            continue
        # at least two chunks, and a cached round trip through parquet
        chunk = max(1, whole.frame.height // 2 + 1)
        streamed = open_streamed(path, OpenOptions(cache=True), chunk_rows=chunk)
        assert_same(whole, materialize(streamed), path)
        compared += 1
    assert compared > 150, (compared, errors)


def test_the_cache_is_reused_without_reading_the_rows_again(tmp_path: Path, cache_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    first = open_streamed(path, OpenOptions(cache=True), chunk_rows=9)
    entries = list(cache_dir.rglob("manifest.json"))
    assert len(entries) == 1 and entries[0].parent.name.startswith(first.meta.digest() or "?")

    def no_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the rows were read again")

    monkeypatch.setattr(sas_stream, "_read_part", no_read)
    again = open_streamed(path, OpenOptions(cache=True), chunk_rows=9)
    assert materialize(again).frame.equals(materialize(first).frame, null_equal=True)
    assert again.meta == first.meta
    # formats overrides and a catalog are applied on top of the cached values
    assert open_streamed(path, OpenOptions(cache=True, formats={"X": "DATE9."})).columns[1].kind == "date"


def test_a_copy_is_recognised_by_its_hash_while_it_is_read(tmp_path: Path, cache_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "d.sas7bdat", rows=400)
    open_streamed(path, OpenOptions(cache=True), chunk_rows=10)
    copy = tmp_path / "fresh" / "checkout.sas7bdat"  # a new path and change time: the identity index misses
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    reads: list[int] = []
    real = sas_stream._read_part

    def counting(*args: Any) -> Any:
        reads.append(args[3])
        return real(*args)

    monkeypatch.setattr(sas_stream, "_read_part", counting)
    source = open_streamed(copy, OpenOptions(cache=True), chunk_rows=10)
    assert reads == [0]  # one small first chunk: then the hash matched the entry and the read stopped
    assert isinstance(source, LazySource)
    assert source.meta.source == str(copy)
    assert_same(read_sas_whole(copy), materialize(source), copy)


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    before = materialize(open_streamed(path, OpenOptions(cache=True), chunk_rows=8))
    write_sas7bdat(path, [Column("id", "numeric", [1.0, 2.0])])
    after = materialize(open_streamed(path, OpenOptions(cache=True), chunk_rows=8))
    assert after.frame.height == 2 and before.frame.height == 40
    assert after.meta.digest() != before.meta.digest()


def test_an_interrupted_read_leaves_no_entry_that_a_later_run_trusts(tmp_path: Path, cache_dir: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    real = sas_stream._read_part
    calls: list[int] = []

    def killed(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(sas_stream, "_read_part", killed)
    with pytest.raises(KeyboardInterrupt):
        open_streamed(path, OpenOptions(cache=True), chunk_rows=5)
    assert not list(cache_dir.rglob("manifest.json"))
    assert not list(cache_dir.rglob("*.parquet"))  # the half entry is gone
    # a run killed hard leaves its tmp folder: never trusted, and removed once stale
    monkeypatch.setattr(sas_stream, "_read_part", real)
    table = materialize(open_streamed(path, OpenOptions(cache=True), chunk_rows=5))
    sha = table.meta.digest() or ""
    entry = cache.entry(sha, cache.reading_key(encoding=None))
    assert entry is not None
    (entry / "manifest.json").unlink()  # as if the manifest were never written
    assert cache.entry(sha, cache.reading_key(encoding=None)) is None
    assert_same(read_sas_whole(path), materialize(open_streamed(path, OpenOptions(cache=True))), path)


def test_cache_location_and_switches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARITY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.root() == tmp_path / "xdg" / "parity"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.root() == tmp_path / "home" / ".cache" / "parity"
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.root() == tmp_path / "mine"
    assert cache.enabled(None)
    monkeypatch.setenv("PARITY_NO_CACHE", "1")
    assert not cache.enabled(None) and cache.enabled(True)
    path = _sample(tmp_path / "d.sas7bdat")
    monkeypatch.setattr(cache, "MIN_BYTES", 0)  # every file is big enough to cache
    assert isinstance(open_streamed(path, OpenOptions()), LazySource)  # streamed to a private folder
    assert not (tmp_path / "mine").exists()
    monkeypatch.delenv("PARITY_NO_CACHE")
    source = open_streamed(path, OpenOptions())
    assert list((tmp_path / "mine").rglob("manifest.json"))
    assert isinstance(source, LazySource)


def test_no_cache_on_the_command_line(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from parity.cli.main import main

    folder = tmp_path / "job"
    folder.mkdir()
    _sample(folder / "d.sas7bdat")
    shutil.copyfile(folder / "d.sas7bdat", folder / "py.sas7bdat")
    (folder / "parity.toml").write_text('[datasets.d]\nsas = "d.sas7bdat"\npython = "py.sas7bdat"\nkeys = ["id"]\n')
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    assert main(["run", str(folder), "--no-cache", "--report-dir", str(tmp_path / "r")]) == 0
    assert not cache_dir.exists()
    assert os.environ.get("PARITY_NO_CACHE") is None  # the switch does not leak out of the run
    assert main(["run", str(folder), "--report-dir", str(tmp_path / "r")]) == 0
    assert list(cache_dir.rglob("manifest.json"))


def test_parallel_workers_are_spawned_and_read_the_same_values(tmp_path: Path) -> None:
    path = _sample(tmp_path / "d.sas7bdat", rows=300)
    source = open_streamed(path, OpenOptions(cache=True), chunk_rows=70, workers=2)
    assert isinstance(source, LazySource)
    assert_same(read_sas_whole(path), materialize(source), path)


def test_errors_are_the_same_as_the_whole_read(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sas7bdat"
    empty.write_bytes(b"")
    damaged = tmp_path / "damaged.sas7bdat"
    good = _sample(tmp_path / "d.sas7bdat")
    damaged.write_bytes(good.read_bytes()[:-3000])
    for path in (empty, damaged, tmp_path / "missing.sas7bdat"):
        with pytest.raises(InputError) as whole:
            read_sas_whole(path)
        with pytest.raises(InputError) as streamed:
            materialize(open_streamed(path, OpenOptions(cache=True), chunk_rows=3))
        assert str(streamed.value) == str(whole.value)
        assert str(path) in str(streamed.value)
    with pytest.raises(UnknownFormatColumn, match="formats names 'nope'"):
        open_streamed(good, OpenOptions(formats={"nope": "DATE9."}))
    no_columns = tmp_path / "nocols.sas7bdat"
    zero_columns(no_columns)
    with pytest.raises(InputError) as whole:
        read_sas_whole(no_columns)
    with pytest.raises(InputError, match=r"no variables \(0 columns\)") as streamed:
        open_streamed(no_columns, OpenOptions())
    assert str(streamed.value) == str(whole.value)


def test_the_reader_seam_records_which_reader_read_the_file(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    whole = read_sas_whole(path)
    off = open_streamed(path, OpenOptions(cache=False)).meta.extra
    assert (off["reader"], off["reader_note"]) == ("pyreadstat", "fast path refused: PARITY_SAS_READER=pyreadstat")
    xpt = tmp_path / "d.xpt"
    pyreadstat.write_xport(whole.frame.select("id").to_pandas(), str(xpt))
    assert open_streamed(xpt, OpenOptions(cache=False)).meta.extra["reader"] == "pyreadstat"

    rows = whole.scan().collect()
    fake = types.ModuleType("parity.sources.sas_fast")

    class Scan:
        def __init__(self, frame: pl.DataFrame | None, reason: str | None) -> None:
            self.frame, self.reason, self.taken, self.sink = frame, reason, reason is None, None
            # the fast path's metadata is pyreadstat's (read with its first sampled rows), its row count proven
            self.meta = pyreadstat.read_sas7bdat(str(path), metadataonly=True)[1]
            self.found = {n: tuple(sorted(t.drop_nulls().unique().to_list())) for n, t in whole.tags.items()}

        def provenance(self) -> dict[str, Any]:
            if not self.taken:
                return {"reader": "pyreadstat", "reader_note": f"fast path refused: {self.reason}"}
            return {"reader": "polars-readstat"}

    def scan_sas_fast(p: Path, *, encoding: str | None = None, sink: Path | None = None,
                      memory_budget: int = 0) -> Scan:
        if encoding is not None:
            return Scan(None, "an encoding override")
        scan = Scan(rows, None)
        if sink is not None:  # streamed into the part file the source gives
            rows.write_parquet(sink)
            scan.frame, scan.sink = None, sink
        return scan

    fake.scan_sas_fast = scan_sas_fast  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "parity.sources.sas_fast", fake)
    fast = open_streamed(path, OpenOptions(cache=True))
    assert fast.meta.extra["reader"] == "polars-readstat"
    assert_same(whole, materialize(fast), path)
    refused = open_streamed(path, OpenOptions(cache=False, encoding="latin1"))
    assert refused.meta.extra["reader"] == "pyreadstat"
    assert refused.meta.extra["reader_note"] == "fast path refused: an encoding override"


def test_an_unwritable_cache_folder_reads_without_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("PARITY_CACHE_DIR", str(blocked))
    source = open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    assert_same(read_sas_whole(path), materialize(source), path)


def test_a_cache_that_cannot_be_published_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "d.sas7bdat")

    def full(*args: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "publish", full)
    with pytest.raises(InputError, match=r"d\.sas7bdat: cannot write parity's cache in .*No space left on device.*"
                                         r"--no-cache"):
        open_streamed(path, OpenOptions(cache=True))
