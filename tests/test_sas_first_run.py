"""A first run on a big .sas7bdat (parity/sources/sas_stream.py with the fast path): the verified rows are compared
from memory when they fit IN_MEMORY_BYTES (no parquet round trip); the cache entry is written meanwhile by a
background thread when the file is read a second time (or the cache was asked for), and a later run reads that
entry; either way the values are one whole pyreadstat read's."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from parity.sources import cache, sas_stream
from parity.sources.base import LazySource, Table, materialize
from parity.sources.registry import OpenOptions
from parity.sources.sas import read_sas_whole
from parity.sources.sas_fast import FAST_READER, fast_reader_available
from parity.sources.sas_stream import open_streamed, wait_for_cache_writes
from parity.testing.sas7bdat_writer import Column, SpecialMissing, write_sas7bdat
from tests.test_sas_fast_stream import fast  # noqa: F401  (the fixture)
from tests.test_sas_stream import assert_same

pytestmark = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")


@pytest.fixture(autouse=True)
def cache_dir(fast: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """test_sas_fast_stream's cache folder (the fast path on), where every file counts as big."""
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    return fast


def _file(path: Path, rows: int = 3000) -> Path:
    write_sas7bdat(path, [
        Column("id", "numeric", [float(i) for i in range(rows)]),
        Column("x", "numeric", [SpecialMissing("A") if i % 7 == 3 else (None if i % 5 == 1 else i * 1.25)
                                for i in range(rows)], length=5),
        Column("d", "numeric", [i / 4 - 100.0 for i in range(rows)], format="DATE9"),
        Column("s", "string", [f"v{i}é" if i % 4 else "" for i in range(rows)], length=12),
    ], file_label="first run")
    return path


def _entries(folder: Path) -> list[Path]:
    return list(folder.rglob("manifest.json"))


def test_a_first_run_compares_from_memory_and_caches_in_the_background(tmp_path: Path, cache_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path / "big.sas7bdat")
    monkeypatch.setattr(sas_stream, "BACKGROUND_MIN_BYTES", 0)  # every entry is written by the thread
    first = open_streamed(path, OpenOptions(cache=True))
    assert isinstance(first, Table)  # compared from memory
    assert first.meta.extra["reader"] == FAST_READER
    wait_for_cache_writes()
    assert len(_entries(cache_dir)) == 1
    whole = read_sas_whole(path)
    assert_same(whole, first, path)
    later = open_streamed(path, OpenOptions(cache=True))
    assert isinstance(later, LazySource)  # a later run reads the entry
    assert_same(whole, materialize(later), path)
    assert later.meta == first.meta  # the same provenance (so the same report) either way


def test_a_file_read_from_memory_is_cached_when_it_is_read_again(tmp_path: Path, cache_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """By default (the cache on, not asked for): a one-off run writes no entry, only the file's sha256 in the
    index (once the report asks for it: it is hashed by a low-priority thread while the rows are compared); the
    next run of the same file writes it while comparing from memory; the one after reads it."""
    path = _file(tmp_path / "big.sas7bdat")
    monkeypatch.setattr(sas_stream, "BACKGROUND_MIN_BYTES", 0)
    first = open_streamed(path, OpenOptions())
    wait_for_cache_writes()
    assert isinstance(first, Table) and not _entries(cache_dir)
    assert first.meta.sha256 is None and cache.known_sha256(path) is None  # not asked for yet
    digest = first.meta.digest()  # as the report asks for it
    assert cache.known_sha256(path) == digest == hashlib.sha256(path.read_bytes()).hexdigest()
    second = open_streamed(path, OpenOptions())
    wait_for_cache_writes()
    assert isinstance(second, Table) and len(_entries(cache_dir)) == 1
    third = open_streamed(path, OpenOptions())
    assert isinstance(third, LazySource)
    whole = read_sas_whole(path)
    for source in (first, second, third):
        assert_same(whole, materialize(source), path)
    assert first.meta.to_dict() == second.meta.to_dict() == third.meta.to_dict()


def test_rows_beyond_the_memory_budget_stream_into_the_cache(tmp_path: Path, cache_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path / "big.sas7bdat")
    monkeypatch.setattr(sas_stream, "IN_MEMORY_BYTES", 1000)
    source = open_streamed(path, OpenOptions(cache=True))
    assert isinstance(source, LazySource) and len(_entries(cache_dir)) == 1
    assert_same(read_sas_whole(path), materialize(source), path)


def test_without_the_cache_nothing_is_written(tmp_path: Path, cache_dir: Path) -> None:
    path = _file(tmp_path / "big.sas7bdat")
    source = open_streamed(path, OpenOptions(cache=False))
    assert isinstance(source, Table)
    wait_for_cache_writes()
    assert not cache_dir.exists() or not _entries(cache_dir)
    assert_same(read_sas_whole(path), source, path)


def test_a_background_cache_write_that_fails_only_warns(tmp_path: Path, cache_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path / "big.sas7bdat")
    monkeypatch.setattr(sas_stream, "BACKGROUND_MIN_BYTES", 0)

    def full(*args: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "publish", full)
    source = open_streamed(path, OpenOptions(cache=True))
    wait_for_cache_writes()
    assert "cannot write parity's cache" in capfd.readouterr().err
    assert not _entries(cache_dir) and not list(cache_dir.rglob("*.parquet"))
    assert_same(read_sas_whole(path), source, path)


def test_a_small_cache_write_that_fails_is_a_clear_error(tmp_path: Path, cache_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from parity.errors import InputError

    path = _file(tmp_path / "big.sas7bdat")

    def full(*args: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "publish", full)
    with pytest.raises(InputError, match="cannot write parity's cache"):
        open_streamed(path, OpenOptions(cache=True))


def test_the_sampled_rows_wait_until_polars_readstat_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyreadstat holds the GIL for a whole read: the sampling thread starts its reads only once the reading thread
    is about to run polars-readstat (which releases the GIL), but reads the raw date columns before that."""
    import threading

    import polars as pl

    from parity.sources import sas_fast

    calls: list[int] = []

    def reference(path: Path, **options: Any) -> tuple[pl.DataFrame, None]:
        calls.append(options["row_offset"])
        rows = min(options["row_limit"], 100 - options["row_offset"])  # a 100-row file
        return pl.DataFrame({"x": [0.0] * rows}), None

    monkeypatch.setattr(sas_fast, "_reference", reference)
    raw = threading.Event()

    def temporal() -> tuple[pl.DataFrame, str]:
        raw.set()
        return pl.DataFrame(), "the data pages"

    background = sas_fast._Background(tmp_path / "x.sas7bdat", [(0, 4), (10, 2), (96, 4)], 100, temporal)
    assert raw.wait(5) and background.temporal()[1] == "the data pages"
    threading.Event().wait(0.2)
    assert calls == []  # not before polars-readstat reads
    background.reading.set()
    samples = background.samples()
    assert calls == [10, 96] and [o for o, _ in samples] == [10, 96]
