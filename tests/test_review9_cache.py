"""Review 9: the SAS cache as CI machines and users stress it (parity/sources/cache.py, sas_stream.py).

- A damaged entry (a manifest that is not JSON or not parity's, a part missing, cut short or garbled, a stray file
  in the entry's place) is never read and never fails the run: the file is read again and the entry replaced.
- An upgrade of the libraries that read SAS values (pyreadstat, polars-readstat) starts a fresh cache.
- A relative ``PARITY_CACHE_DIR`` stays where it was first used, whatever directory a port changes to.
- Ctrl-C while the reports are published leaves one whole run and nothing staged.
- A run killed (SIGKILL) while building an entry, or while reading a big file or a LazyFrame into a private temporary
  folder, leaves a folder that the next run removes once nothing was written in it for five minutes (not a day); a
  live run's folder is left alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from parity.sources import cache, sas_stream
from parity.sources.base import LazySource, materialize
from parity.sources.registry import OpenOptions
from parity.sources.sas import read_sas_whole
from parity.sources.sas_stream import open_streamed, wait_for_cache_writes
from tests.test_publish import assert_whole, runs  # noqa: F401  (the fixture)
from tests.test_sas_stream import _sample, assert_same

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("PARITY_CACHE_DIR", str(folder))
    monkeypatch.delenv("PARITY_NO_CACHE", raising=False)
    monkeypatch.setenv("PARITY_SAS_READER", "pyreadstat")
    return folder


def _entry(path: Path) -> Path:
    found = cache.entry(read_sas_whole(path).meta.digest() or "", cache.reading_key(encoding=None))
    assert found is not None
    return found


def _damage_manifest(folder: Path, how: str) -> None:
    manifest = folder / "manifest.json"
    data = json.loads(manifest.read_text())
    text = {"not json": "{not json", "empty": "", "binary": "\udcff", "a list": "[]",
            "no meta": json.dumps({k: v for k, v in data.items() if k != "meta"}),
            "another file's": json.dumps({**data, "sha256": "0" * 64})}[how]
    manifest.write_bytes(text.encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("how", ["not json", "empty", "binary", "a list", "no meta", "another file's"])
def test_a_damaged_manifest_is_no_entry_and_is_replaced(tmp_path: Path, how: str) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    folder = _entry(path)
    _damage_manifest(folder, how)
    source = open_streamed(path, OpenOptions(cache=True), chunk_rows=7)  # read again, not a traceback
    assert_same(read_sas_whole(path), materialize(source), path)
    assert _entry(path) == folder and cache.read_manifest(folder)["sha256"] == source.meta.digest()


@pytest.mark.parametrize("how", ["missing", "cut short", "garbled"])
def test_a_damaged_part_is_never_read_the_file_is(tmp_path: Path, how: str,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    path = _sample(tmp_path / "d.sas7bdat", rows=60)
    open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    folder = _entry(path)
    part = sorted(folder.glob("part-*.parquet"))[-1]
    data = part.read_bytes()
    if how == "missing":
        part.unlink()
    elif how == "cut short":
        part.write_bytes(data[: len(data) // 2])
    else:  # the same size, its footer garbled (bit rot, a bad restore)
        part.write_bytes(data[:-12] + b"\0" * 12)
    source = open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    assert_same(read_sas_whole(path), materialize(source), path)
    if how == "garbled":  # only reading the footer tells: said, and removed
        assert "damaged" in capfd.readouterr().err
    again = open_streamed(path, OpenOptions(cache=True), chunk_rows=7)  # the entry written again, and read
    assert isinstance(again, LazySource)
    assert_same(read_sas_whole(path), materialize(again), path)


def test_a_stray_file_where_the_entry_goes_is_replaced(tmp_path: Path) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    folder = _entry(path)
    cache.discard(folder)
    folder.write_text("junk")
    source = open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    assert_same(read_sas_whole(path), materialize(source), path)
    assert _entry(path) == folder and folder.is_dir()


def test_a_damaged_entry_in_a_run_gives_the_same_report(tmp_path: Path, cache_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from parity.cli.main import main

    folder = tmp_path / "job"
    folder.mkdir()
    path = _sample(folder / "d.sas7bdat")
    (folder / "py.sas7bdat").write_bytes(path.read_bytes())
    (folder / "parity.toml").write_text('[datasets.d]\nsas = "d.sas7bdat"\npython = "py.sas7bdat"\nkeys = ["id"]\n')
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    assert main(["run", str(folder), "--report-dir", str(tmp_path / "r1")]) == 0
    for manifest in cache_dir.rglob("manifest.json"):
        manifest.write_text("{")
    assert main(["run", str(folder), "--report-dir", str(tmp_path / "r2")]) == 0
    reports = [json.loads((tmp_path / r / "job" / "parity.json").read_text()) for r in ("r1", "r2")]
    assert [r["verdict"] for r in reports] == ["pass", "pass"]
    for report in reports:
        for dataset in report["datasets"]:
            dataset.pop("duration_s")
    assert reports[0]["datasets"] == reports[1]["datasets"]


def test_an_upgrade_of_the_sas_readers_starts_a_fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    before = cache._versioned()
    assert set(cache.reader_versions()) == {"pyreadstat", "polars-readstat", "polars", "pyarrow"}
    assert cache.reader_versions()["pyreadstat"]
    monkeypatch.setattr(cache, "reader_versions", lambda: {"pyreadstat": "99.0"})
    cache.code_digest.cache_clear()
    try:
        assert cache._versioned() != before
    finally:
        cache.code_digest.cache_clear()


def test_a_relative_cache_folder_stays_where_it_was_first_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache entry written by a background thread while the next job's port has changed directory."""
    work, elsewhere = tmp_path / "work", tmp_path / "port"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("PARITY_CACHE_DIR", f".cache-{tmp_path.name}")
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    monkeypatch.setattr(sas_stream, "BACKGROUND_MIN_BYTES", 0)
    monkeypatch.delenv("PARITY_SAS_READER")  # the fast path: its rows in memory, cached by a thread
    path = _sample(tmp_path / "d.sas7bdat", rows=500)
    open_streamed(path, OpenOptions(cache=True))
    os.chdir(elsewhere)
    wait_for_cache_writes()
    assert not list(elsewhere.rglob("*"))
    assert len(list((work / f".cache-{tmp_path.name}").rglob("manifest.json"))) == 1
    assert isinstance(open_streamed(path, OpenOptions(cache=True)), LazySource)  # found from here too


_HOLDER = """
import sys, time
from pathlib import Path
from parity.sources import cache
folder = cache.new_held_folder(Path(sys.argv[1]), sys.argv[2])
(folder / "part-000000.parquet").write_bytes(b"x" * 1000)
print(folder, flush=True)
time.sleep(60)
"""


def _holder(base: Path, prefix: str) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(base), prefix], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def _age(folder: Path, seconds: float) -> None:
    """Nothing written in ``folder`` for ``seconds``."""
    when = time.time() - seconds
    for item in [*folder.iterdir(), folder]:
        os.utime(item, (when, when), follow_symlinks=False)


@pytest.mark.parametrize("prefix", ["tmp-", cache.PRIVATE_SAS, cache.PRIVATE_LAZY])
def test_a_killed_runs_folder_is_removed_by_the_next_run_a_live_runs_is_not(tmp_path: Path, prefix: str) -> None:
    base = tmp_path / "base"
    killed, dead_folder = _holder(base, prefix)
    live, live_folder = _holder(base, prefix)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert dead_folder.is_dir()
        with cache.held_folder(base, prefix):  # unlocked, but written a moment ago: as on an NFS mount without
            assert dead_folder.is_dir()          # shared locks, where another host's live build looks unlocked
        _age(dead_folder, cache._IDLE_S + 1)
        _age(live_folder, 2 * 24 * 3600)
        with cache.held_folder(base, prefix) as mine:
            assert mine.is_dir()
            assert not dead_folder.exists()  # its run is gone: removed after minutes, not a day
            assert live_folder.is_dir()  # its run is building it (locked), however long ago it wrote
        assert not mine.exists()
        assert live_folder.is_dir()
    finally:
        live.kill()
        live.wait()


def test_a_run_killed_while_it_builds_an_entry_leaves_nothing_after_the_next(tmp_path: Path, cache_dir: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "d.sas7bdat", rows=400)
    base = cache._versioned() / "sas"
    killed, folder = _holder(base, "tmp-")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    _age(folder, cache._IDLE_S + 1)
    source = open_streamed(path, OpenOptions(cache=True), chunk_rows=10)
    assert_same(read_sas_whole(path), materialize(source), path)
    assert not folder.exists()
    assert [p.name for p in base.iterdir() if p.name.startswith("tmp-")] == []


def test_a_big_file_read_without_the_cache_cleans_up_after_a_killed_run(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    killed, folder = _holder(temp, sas_stream.PRIVATE_PREFIX)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    _age(folder, cache._IDLE_S + 1)
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    path = _sample(tmp_path / "d.sas7bdat")
    source = open_streamed(path, OpenOptions(cache=False), chunk_rows=7)
    assert isinstance(source, LazySource)  # its parts in a private folder
    assert not folder.exists()
    assert_same(read_sas_whole(path), materialize(source), path)
    del source
    import gc

    gc.collect()
    assert list(temp.iterdir()) == []


def test_a_run_using_the_cache_removes_the_private_folders_killed_runs_left(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed while it read a big file without the cache (or spilled a port's LazyFrame), followed by runs
    that use the cache: the first of them removes the killed run's private folder."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    folders = []
    for prefix in (cache.PRIVATE_SAS, cache.PRIVATE_LAZY):
        killed, folder = _holder(temp, prefix)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        _age(folder, cache._IDLE_S + 1)
        folders.append(folder)
    cache._sweep_temporary.cache_clear()
    path = _sample(tmp_path / "d.sas7bdat")
    assert_same(read_sas_whole(path), materialize(open_streamed(path, OpenOptions(cache=True), chunk_rows=7)), path)
    assert not any(folder.exists() for folder in folders)
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize(("point", "expected"), [("staged", "OLD"), ("committed", "NEW")])
def test_ctrl_c_while_reports_are_published_leaves_one_whole_run_and_no_staging(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: dict[str, list[Any]], point: str,  # noqa: F811
        expected: str) -> None:
    """Ctrl-C before the publication's commit point: the previous reports, whole; after it: the new run, whole;
    either way nothing staged is left in the folder for a later run to sweep."""
    import parity.report.publish as pub

    report_dir = tmp_path / "reports"
    pub.publish(report_dir, runs["OLD"])

    def interrupt(at: str) -> None:
        if at == point:
            raise KeyboardInterrupt

    monkeypatch.setattr(pub, "_checkpoint", interrupt)
    with pytest.raises(KeyboardInterrupt):
        pub.publish(report_dir, runs["NEW"])
    assert_whole(report_dir, expected)


@pytest.mark.parametrize("where", ["cache", "private"])
def test_a_folder_removed_while_rows_are_written_into_it_is_a_clear_error(
        tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """``rm -rf ~/.cache/parity`` (or a cleanup of the temporary folder) while a run writes a big file's rows
    there: an error naming the file, the folder and what to do, not an internal error of parity."""
    from parity.errors import InputError

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    path = _sample(tmp_path / "d.sas7bdat")
    real = sas_stream._Parts.add

    def add_then_clean_up(parts: Any, *args: Any, **kwargs: Any) -> None:
        real(parts, *args, **kwargs)
        import shutil

        shutil.rmtree(cache_dir if where == "cache" else parts.folder)

    monkeypatch.setattr(sas_stream._Parts, "add", add_then_clean_up)
    expected = r"cannot write its rows into parity's cache in .*--no-cache" if where == "cache" else \
        r"cannot write its rows into the temporary folder .*TMPDIR"
    with pytest.raises(InputError, match=rf"d\.sas7bdat: {expected}"):
        open_streamed(path, OpenOptions(cache=where == "cache"), chunk_rows=7)
    monkeypatch.setattr(sas_stream._Parts, "add", real)
    source = open_streamed(path, OpenOptions(cache=where == "cache"), chunk_rows=7)  # the next run reads it
    assert_same(read_sas_whole(path), materialize(source), path)


def test_a_file_changed_just_before_it_was_read_is_read_again_not_taken_by_its_identity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rewrite of the same size in the same tick of the file system's clock (a few ms on Linux, 1-2 s on FAT,
    HFS+ and some shares) keeps the file's identity: a file changed just before a run opened it is remembered in
    the index but never trusted to skip reading it, so the next run sees the new values (no stale entry, no false
    PASS); once the file is older than the window, its identity is trusted."""
    import datetime as dt

    from tests.helpers import Column, write_sas7bdat

    monkeypatch.setattr(cache, "RACY_NS", 2_000_000_000)
    real = cache.file_identity

    tick: list[int] = []

    def same_tick(p: Path) -> tuple[str, int, int, int, int, int]:  # a coarse clock: the rewrite keeps the times
        name, size, _, changed, inode, device = real(p)
        tick.append(changed)  # (the times of the first write: the one tick)
        return name, size, tick[0], tick[0], inode, device

    monkeypatch.setattr(cache, "file_identity", same_tick)
    stamp = dt.datetime(2024, 1, 2, 3, 4, 5)

    def write(target: Path, offset: float) -> None:
        aside = tmp_path / "aside.sas7bdat"
        write_sas7bdat(aside, [Column("id", "numeric", [float(i) for i in range(50)]),
                               Column("x", "numeric", [i * 1.5 + offset for i in range(50)])], timestamp=stamp)
        with target.open("r+b" if target.exists() else "wb") as fh:  # in place: the same inode
            fh.write(aside.read_bytes())

    path = tmp_path / "d.sas7bdat"
    write(path, 0.0)
    first = materialize(open_streamed(path, OpenOptions(cache=True), chunk_rows=7))
    assert cache.known(path) == (first.meta.digest(), False)  # remembered, not trusted
    size = path.stat().st_size
    write(path, 0.25)
    assert path.stat().st_size == size  # the same identity: without the window, the entry of the old bytes
    second = materialize(open_streamed(path, OpenOptions(cache=True), chunk_rows=7))
    assert second.frame["x"].to_list() == [i * 1.5 + 0.25 for i in range(50)]
    assert second.meta.digest() != first.meta.digest()
    assert_same(read_sas_whole(path), second, path)
    monkeypatch.setattr(cache, "RACY_NS", -(10**18))  # the file is older than the window now
    cache.remember_sha256(path, second.meta.digest() or "", time.time_ns())
    assert cache.known(path) == (second.meta.digest(), True)
    third = open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    assert isinstance(third, LazySource)  # trusted: not read again
    assert_same(read_sas_whole(path), materialize(third), path)


@pytest.mark.parametrize("text", ["", "x" * 64, "../" * 21 + "x", "\xff" * 64, "0" * 63])
def test_an_index_file_that_is_not_a_digest_is_ignored(tmp_path: Path, text: str) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    index = cache._versioned() / "index" / cache.identity(path)
    index.parent.mkdir(parents=True)
    index.write_bytes(text.encode("latin-1"))
    assert cache.known(path) == (None, False)
    source = open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    assert_same(read_sas_whole(path), materialize(source), path)
    assert cache.known_sha256(path) == source.meta.digest()


def test_without_a_home_folder_big_files_are_read_without_the_cache(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI container run as a user the system does not know, without HOME: no cache (never a shared temporary
    folder, where another user could plant an entry), no error; the HTML templates are compiled each run."""
    from parity.report import html

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    for name in ("PARITY_CACHE_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    with pytest.raises(cache.NoCacheFolder, match="PARITY_CACHE_DIR"):
        cache.root()
    assert cache.where().startswith("(none: ")
    path = _sample(tmp_path / "d.sas7bdat")
    for option in (None, True):
        source = open_streamed(path, OpenOptions(cache=option), chunk_rows=7)
        assert_same(read_sas_whole(path), materialize(source), path)
        assert source.meta.digest() == read_sas_whole(path).meta.digest()
    monkeypatch.delenv("PARITY_SAS_READER")  # the fast path's rows in memory, an entry asked for
    assert_same(read_sas_whole(path), materialize(open_streamed(path, OpenOptions(cache=True))), path)
    assert html._template_cache() is None


def test_two_runs_discarding_the_same_damaged_entry(tmp_path: Path) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    folder = _entry(path)
    cache.discard(folder)
    cache.discard(folder)  # the other run was first: nothing to do
    assert not folder.exists()
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith("tmp-")] == []


def test_an_entry_this_run_cannot_read_is_left_for_the_runs_that_can(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    """A part this run cannot open (a permission, too many open files, an I/O error) says nothing of the entry:
    another run may be reading it, so it is not removed; this run reads the file, without the cache."""
    import errno

    import pyarrow.parquet as pq

    path = _sample(tmp_path / "d.sas7bdat")
    open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    folder = _entry(path)
    real = pq.ParquetFile

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(args[0]))

    monkeypatch.setattr(pq, "ParquetFile", denied)
    source = open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    assert_same(read_sas_whole(path), materialize(source), path)
    assert "reading the file instead" in capfd.readouterr().err
    assert cache.entry(source.meta.digest() or "", cache.reading_key(encoding=None)) == folder  # left in place
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith("tmp-")] == []
    monkeypatch.setattr(pq, "ParquetFile", real)
    again = open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    assert isinstance(again, LazySource)
    assert_same(read_sas_whole(path), materialize(again), path)


def test_an_entry_this_run_cannot_read_is_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "d.sas7bdat")
    open_streamed(path, OpenOptions(cache=True), chunk_rows=7)
    folder = _entry(path)
    manifest = cache.read_manifest(folder)
    real = cache.read_manifest

    def unreadable(where: Path) -> dict[str, Any]:
        if where == folder:
            raise cache.DamagedEntry(f"{where}: Permission denied", definite=False)
        return real(where)

    monkeypatch.setattr(cache, "read_manifest", unreadable)
    with cache.building() as built, pytest.raises(OSError):
        (built / "part-000000.parquet").write_bytes((folder / "part-000000.parquet").read_bytes())
        cache.publish(built, manifest["sha256"], cache.reading_key(encoding=None),
                      {k: v for k, v in manifest.items() if k != "sizes"})
    monkeypatch.setattr(cache, "read_manifest", real)
    assert cache.read_manifest(folder) == manifest  # another user's entry, left as it was


_SIGTERM_PORT = """
import time
from pathlib import Path
def run():
    Path({marker!r}).write_text("running")
    time.sleep(60)
"""


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path: Path) -> None:
    """A CI job cancelled or timed out (``timeout``, Kubernetes) sends SIGTERM: the run stops at once as Ctrl-C
    stops it, cleaning up after itself (no report half published, no folder being written left behind), exit 143."""
    from tests.test_runs_robust import job

    marker = tmp_path / "marker"
    folder = job(tmp_path / "jobs", "slow", _SIGTERM_PORT.format(marker=str(marker)))
    reports = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from parity.cli import main; sys.exit(main())",
                             "run", str(folder), "--report-dir", str(reports)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert [p.name for p in reports.iterdir() if not p.name.startswith(".parity.lock")] == []
