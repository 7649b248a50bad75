"""The fast SAS path behind the streamed SAS source: with a folder (the cache, or a big file's parts) the
polars-readstat rows are streamed into the part file in bounded memory; the values equal one whole-file pyreadstat
read either way, and the provenance (kept in the cache's manifest) names the reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.sources.base import materialize
from parity.sources.registry import OpenOptions
from parity.sources.sas import read_sas_whole
from parity.sources.sas_fast import FAST_READER, READER_ENV, fast_reader_available
from parity.sources.sas_stream import open_streamed
from tests.test_sas_stream import _sample, assert_same

pytestmark = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")


@pytest.fixture(autouse=True)
def fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("PARITY_CACHE_DIR", str(folder))
    monkeypatch.delenv("PARITY_NO_CACHE", raising=False)
    monkeypatch.delenv(READER_ENV, raising=False)
    return folder


def test_the_fast_path_streams_into_the_cache_and_is_reused(tmp_path: Path, fast: Path) -> None:
    path = _sample(tmp_path / "s.sas7bdat", rows=500)
    whole = read_sas_whole(path)
    first = open_streamed(path, OpenOptions(cache=True))
    assert first.meta.extra["reader"] == FAST_READER, first.meta.extra
    assert first.meta.extra["reader_note"] == "date/time columns read by pyreadstat: d"
    assert_same(whole, materialize(first), path)
    assert [p.name for p in fast.rglob("*.parquet")] == ["part-000000.parquet"]
    again = open_streamed(path, OpenOptions(cache=True))
    assert again.meta.extra["reader"] == FAST_READER
    assert_same(whole, materialize(again), path)


def test_without_a_folder_the_fast_path_reads_into_memory(tmp_path: Path) -> None:
    path = _sample(tmp_path / "s.sas7bdat", rows=300)
    source = open_streamed(path, OpenOptions(cache=False))
    assert source.meta.extra["reader"] == FAST_READER
    assert_same(read_sas_whole(path), materialize(source), path)
