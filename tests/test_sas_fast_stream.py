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


def test_the_cache_is_not_shared_across_forced_readers_or_reading_code(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from parity.sources import cache
    from parity.sources.sas_fast import READER_ENV

    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))
    assert cache.READER_ENV == READER_ENV
    monkeypatch.delenv(READER_ENV, raising=False)
    default = cache.reading_key(encoding=None)
    monkeypatch.setenv(READER_ENV, "pyreadstat")
    assert cache.reading_key(encoding=None) != default
    assert cache.code_digest() in cache._versioned().name  # a fix to the reading code starts a fresh cache


def test_a_damaged_cache_part_is_an_error_not_null_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import polars as pl

    from parity.errors import InputError
    from parity.sources.sas_stream import _verify_parts

    part = tmp_path / "part-0.parquet"
    pl.DataFrame({"A": [1.0, 2.0]}).write_parquet(part)
    _verify_parts(tmp_path / "x.sas7bdat", tmp_path, [part], ["A"], 2)  # whole: no error
    with pytest.raises(InputError, match=r"lacks column\(s\) B.*remove that folder"):
        _verify_parts(tmp_path / "x.sas7bdat", tmp_path, [part], ["A", "B"], 2)
    with pytest.raises(InputError, match="hold 2 rows, its manifest says 3"):
        _verify_parts(tmp_path / "x.sas7bdat", tmp_path, [part], ["A"], 3)
    part.write_bytes(b"PAR1 not parquet")
    with pytest.raises(InputError, match="damaged"):
        _verify_parts(tmp_path / "x.sas7bdat", tmp_path, [part], ["A"], 2)
