"""``parity cache info`` and ``parity cache clear``: the cache's version folders (this parity's and those other
versions left), what they hold, and clearing them without touching what a running parity is building or anything
in the cache folder that is not a version folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.cli.main import main
from parity.sources import cache
from parity.sources.registry import OpenOptions
from parity.sources.sas_stream import open_streamed, wait_for_cache_writes
from tests.test_review9_cache import cache_dir  # noqa: F401  (the autouse fixture: a cache folder of its own)
from tests.test_sas_stream import _sample


def _cached(tmp_path: Path, name: str) -> None:
    """A real entry of this parity: a small .sas7bdat read into the cache."""
    open_streamed(_sample(tmp_path / name), OpenOptions(cache=True), chunk_rows=7)
    wait_for_cache_writes()


def _old_version(folder: Path, name: str = "0.0.9-1-0123456789ab") -> Path:
    old = folder / name
    (old / "sas" / ("a" * 64 + "-x")).mkdir(parents=True)
    (old / "sas" / ("a" * 64 + "-x") / "part-0.parquet").write_bytes(b"\0" * 3000)
    (old / "index").mkdir()
    (old / "index" / "k").write_text("a" * 64)
    return old


def test_info_lists_each_version_folder_with_its_entries_and_size(
        tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _cached(tmp_path, "a.sas7bdat")
    (tmp_path / "b.sas7bdat").write_bytes((tmp_path / "a.sas7bdat").read_bytes())  # the same bytes: one entry
    open_streamed(tmp_path / "b.sas7bdat", OpenOptions(cache=True), chunk_rows=7)
    open_streamed(_sample(tmp_path / "c.sas7bdat", rows=41), OpenOptions(cache=True), chunk_rows=7)
    wait_for_cache_writes()
    _old_version(cache_dir)
    found = {f.path.name: f for f in cache.folders()}
    current = [f for f in found.values() if f.current]
    assert len(current) == 1 and current[0].entries == 2 and current[0].size > 0
    assert found["0.0.9-1-0123456789ab"].entries == 1 and found["0.0.9-1-0123456789ab"].size == 3000 + 64
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "this parity" in out and "another version" in out and "0.0.9-1-0123456789ab" in out
    assert "`parity cache clear` removes them" in out


def test_clear_removes_other_versions_only_and_all_removes_this_ones_entries(
        tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _cached(tmp_path, "a.sas7bdat")
    old = _old_version(cache_dir)
    mine = (cache_dir / "my-notes")  # not a version folder: never touched
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    (cache_dir / "templates").mkdir(exist_ok=True)
    assert main(["cache", "clear"]) == 0
    assert "removed 1 folder" in capsys.readouterr().out
    assert not old.exists() and (mine / "keep.txt").is_file() and (cache_dir / "templates").is_dir()
    (current,) = cache.folders()
    assert current.current and current.entries == 1
    # a run building an entry meanwhile (a live lock) keeps its folder; every finished entry and the index go
    with cache.building() as live:
        (live / "part-0.parquet").write_bytes(b"x")
        assert main(["cache", "clear", "--all"]) == 0
        out = capsys.readouterr().out
        assert "removed 1 folder" in out and "kept 1 entry a running parity is building" in out
        assert live.is_dir()
        (after,) = cache.folders()
        assert after.entries == 0 and not (after.path / "index").exists()
    # the next run reads the file again and caches it anew
    _cached(tmp_path, "a.sas7bdat")
    assert cache.folders()[0].entries == 1


def test_an_empty_or_missing_cache_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "info"]) == 0
    assert "empty" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "removed 0 folders" in capsys.readouterr().out


def test_no_cache_folder_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PARITY_CACHE_DIR", "~/x")
    monkeypatch.delenv("HOME")
    import pwd

    monkeypatch.setattr(pwd, "getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    cache._anchored.cache_clear()
    assert main(["cache", "info"]) == 2
    assert "no cache folder" in capsys.readouterr().err
