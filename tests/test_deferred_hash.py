"""The inputs' sha256 for the report, hashed by low-priority threads while the rows are compared
(parity.sources.base.deferred_sha256, lower_priority): the report gets the digest of the bytes compared, or, when
a file changed since it was read, a clear error naming it; never the digest of other bytes."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.errors import InputError
from parity.sources import cache
from parity.sources.base import Table, deferred_sha256, lower_priority
from parity.sources.registry import OpenOptions, open_source
from parity.sources.sas_fast import fast_reader_available
from parity.sources.sas_stream import open_streamed
from tests.test_sas_fast_stream import fast  # noqa: F401  (the fixture)
from tests.test_sas_first_run import _file


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_parquet_sides_digest_is_of_the_file_opened_and_a_change_since_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "py.parquet"
    pl.DataFrame({"id": [1, 2, 3], "x": ["a", "b", "c"]}).write_parquet(path)
    opened = open_source(path, OpenOptions())
    assert opened.meta.sha256 is None  # not hashed when opened
    assert opened.meta.digest() == opened.meta.to_dict()["sha256"] == _sha(path)
    changed = open_source(path, OpenOptions())
    pl.DataFrame({"id": [9], "x": ["z"]}).write_parquet(path)  # rewritten after it was opened (and compared)
    with pytest.raises(InputError, match=r"py\.parquet: the file changed while parity read and compared it"):
        changed.meta.to_dict()


def test_a_digest_asked_for_twice_is_computed_once(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return _sha(path)

    digest = deferred_sha256(path, compute)
    assert digest() == digest() == _sha(path) and calls == [1]


def test_a_file_gone_before_its_digest_is_asked_for_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    digest = deferred_sha256(path, lambda: "0" * 64)
    path.unlink()
    with pytest.raises(InputError, match="the file changed"):
        digest()


@pytest.mark.skipif(not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"),
                    reason="per-thread priorities are a Linux feature")
def test_the_hashing_threads_run_at_the_lowest_priority() -> None:
    seen: list[int] = []
    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # (19 itself under nice -n 19)

    def run() -> None:
        lower_priority()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [19]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller  # the caller's thread is untouched


@pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")
def test_a_sas_file_kept_in_memory_is_hashed_for_the_report_and_the_index_learns_it(
        tmp_path: Path, fast: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    path = _file(tmp_path / "s.sas7bdat")
    table = open_streamed(path, OpenOptions())
    assert isinstance(table, Table) and table.meta.sha256 is None
    assert table.meta.to_dict()["sha256"] == _sha(path) == cache.known_sha256(path)
    again = open_streamed(path, OpenOptions())  # the file is known now: hashed at once (its entry is written)
    assert again.meta.sha256 == _sha(path)
    third = open_streamed(path, OpenOptions())
    assert json.dumps(third.meta.to_dict(), sort_keys=True) == json.dumps(table.meta.to_dict(), sort_keys=True)


@pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")
def test_a_sas_file_rewritten_after_it_was_read_gives_an_error_not_a_wrong_digest(
        tmp_path: Path, fast: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    path = _file(tmp_path / "s.sas7bdat")
    table = open_streamed(path, OpenOptions())
    _file(path, rows=10)  # rewritten by a job still running
    with pytest.raises(InputError, match=r"s\.sas7bdat: the file changed while parity read and compared it"):
        table.meta.to_dict()
    assert cache.known_sha256(path) is None  # nor does the index learn a digest of other bytes


def test_a_run_whose_python_file_changes_after_it_was_read_reports_an_error_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python output rewritten after parity read it (a job still writing it): the dataset is an error naming
    the file, not a report whose sha256 is that of bytes nobody compared."""
    import parity.sources.frames as frames
    from parity.cli.main import main

    job = tmp_path / "jobs" / "j"
    job.mkdir(parents=True)
    _file(job / "s.sas7bdat", rows=50)
    py = job / "p.parquet"
    pl.DataFrame({"id": [float(i) for i in range(50)]}).write_parquet(py)
    (job / "parity.toml").write_text('[datasets.d]\nsas = "s.sas7bdat"\npython = "p.parquet"\nkeys = ["id"]\n')
    real = frames.SourceMeta

    def rewritten_after_open(*args: Any, **kwargs: Any) -> Any:
        meta = real(*args, **kwargs)
        if str(meta.source).endswith("p.parquet"):
            pl.DataFrame({"id": [7.0]}).write_parquet(py)
        return meta

    monkeypatch.setattr(frames, "SourceMeta", rewritten_after_open)
    code = main(["run", "j", "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / "r")])
    report = json.loads((tmp_path / "r" / "j" / "parity.json").read_text())
    dataset = report["datasets"][0]
    assert code != 0 and dataset["verdict"] == "error", dataset["verdict"]
    assert "p.parquet: the file changed while parity read and compared it" in json.dumps(dataset)
