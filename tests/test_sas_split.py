"""The fast path's split read of an uncompressed .sas7bdat kept in memory (parity/sources/sas_fast.py): every
numeric from the data pages (parity/sources/sas_raw.py), the character columns and one numeric by polars-readstat
(checked against the pages in every row), the sampled rows by pyreadstat in a process of its own for a big file.
Bit for bit what pyreadstat reads, or a refusal."""

from __future__ import annotations

import datetime as dt
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from parity.sources import sas_fast
from parity.sources.sas import read_sas
from parity.sources.sas_fast import (
    READER_ENV,
    _Refused,
    _sampled,
    _Sampler,
    fast_reader_available,
    sample_blocks,
)
from parity.testing.sas7bdat_writer import Column, SpecialMissing, sas_datetime, write_sas7bdat
from tests.test_sas_fast import _assert_same, _reference

needs_fast = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")
ROWS = 3000
SPLIT_NOTE = ("numeric columns read from the data pages (every row checked against polars-readstat, sampled rows "
              "against pyreadstat)")


def _mixed(path: Path, rows: int = ROWS, **options: Any) -> Path:
    """Plain numerics of every storage length with special missing values, a date, a datetime and a time with
    fractions outside what polars-readstat converts, and character columns with blanks, empty values and UTF-8."""
    tags = [SpecialMissing(t) for t in "ABZ_"]
    columns = [Column("id", "numeric", [float(i) for i in range(rows)]),
               *(Column(f"n{w}", "numeric", [tags[i % 4] if i % 17 == 3 else (None if i % 13 == 5 else i * 0.1 - 7)
                                             for i in range(rows)], length=w) for w in (3, 5, 8)),
               Column("d", "numeric", [i * 1.5 - 700.25 if i % 11 else SpecialMissing("D") for i in range(rows)],
                      format="DATE9"),
               Column("dt", "numeric", [sas_datetime(dt.datetime(2020, 1, 1)) + i * 3600.0000004
                                        for i in range(rows)], format="DATETIME20"),
               Column("t", "numeric", [i * 61.5 - 3000.0 for i in range(rows)], format="TIME8"),
               Column("s", "string", [f"  v{i} " if i % 5 else "" for i in range(rows)]),
               Column("u", "string", ["caf\u00e9 \u65e5\u672c" if i % 7 == 0 else f"x{i}" for i in range(rows)])]
    write_sas7bdat(path, columns, timestamp=dt.datetime(2024, 3, 1, 9, 30), **options)
    return path


@needs_fast
@pytest.mark.parametrize("process", [False, True])
def test_the_split_read_is_pyreadstat_bit_for_bit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  process: bool) -> None:
    path = _mixed(tmp_path / "m.sas7bdat")
    monkeypatch.delenv(READER_ENV, raising=False)
    if process:  # as for a big file: the sampled rows read by a process of its own, started from another folder
        monkeypatch.setattr(sas_fast, "SAMPLER_BYTES", 0)
        monkeypatch.chdir(tmp_path)
    fast = read_sas(path)
    assert fast.meta.extra["reader"] == "polars-readstat" and fast.meta.extra["reader_note"] == SPLIT_NOTE
    _assert_same(fast, _reference(path, monkeypatch))


@needs_fast
def test_the_sampling_process_reads_what_this_one_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _mixed(tmp_path / "m.sas7bdat")
    blocks = sample_blocks(ROWS)
    monkeypatch.setattr(sas_fast, "SAMPLER_BYTES", 0)
    sampler = _Sampler(path, blocks, ROWS)
    assert sampler.process is not None
    got = sampler.result()
    expected = _sampled(path, blocks, ROWS)
    assert [o for o, _ in got] == [o for o, _ in expected] == [o for o, _ in blocks[1:]]
    for (_, a), (_, b) in zip(got, expected, strict=True):  # special missing values make Object columns
        assert a.schema == b.schema and a.rows() == b.rows()
    small = _Sampler(path, blocks, ROWS)  # under the size: read here when asked
    monkeypatch.setattr(sas_fast, "SAMPLER_BYTES", 1 << 40)
    assert _Sampler(path, blocks, ROWS).process is None
    small.close()


def _fake_python(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@needs_fast
def test_a_refusal_in_the_sampling_process_refuses_and_a_broken_process_reads_here(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _mixed(tmp_path / "m.sas7bdat")
    blocks = sample_blocks(ROWS)
    monkeypatch.setattr(sas_fast, "SAMPLER_BYTES", 0)
    monkeypatch.setattr(sys, "executable", _fake_python(tmp_path, "echo 'parity sampler refused: the header counts 9 rows' >&2; exit 3"))
    with pytest.raises(_Refused, match="the header counts 9 rows"):
        _Sampler(path, blocks, ROWS).result()
    # a process that cannot do it (no parity on its path, killed): the rows are read here instead
    monkeypatch.setattr(sys, "executable", _fake_python(tmp_path, "echo 'ModuleNotFoundError' >&2; exit 1"))
    got = _Sampler(path, blocks, ROWS).result()
    assert [o for o, _ in got] == [o for o, _ in blocks[1:]]
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    assert [o for o, _ in _Sampler(path, blocks, ROWS).result()] == [o for o, _ in blocks[1:]]


@needs_fast
def test_deleted_rows_found_by_the_sampling_process_refuse_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sampling process's last block proves the row count: one row short (as pyreadstat reads a file whose
    last row was deleted) refuses the whole fast path, with pyreadstat's reading of the file instead."""
    path = _mixed(tmp_path / "m.sas7bdat")
    monkeypatch.delenv(READER_ENV, raising=False)
    monkeypatch.setattr(sas_fast, "SAMPLER_BYTES", 0)
    hook = tmp_path / "hook"
    hook.mkdir()
    # the process imports sitecustomize from PYTHONPATH: there pyreadstat reads one row fewer at the end
    (hook / "sitecustomize.py").write_text(
        "import pyreadstat\n"
        "_real = pyreadstat.read_sas7bdat\n"
        "def _fewer(*a, **k):\n"
        "    frame, meta = _real(*a, **k)\n"
        f"    if k.get('row_offset', 0) + k.get('row_limit', 0) > {ROWS - 1}:\n"
        f"        frame = frame.head(max(0, {ROWS - 1} - k.get('row_offset', 0)))\n"
        "    return frame, meta\n"
        "pyreadstat.read_sas7bdat = _fewer\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    scan = sas_fast.scan_sas_fast(path)
    assert not scan.taken and scan.reason is not None and "(deleted rows)" in scan.reason


@needs_fast
def test_a_file_without_plain_numerics_or_compressed_is_read_by_polars_readstat_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(READER_ENV, raising=False)
    dates = tmp_path / "d.sas7bdat"
    write_sas7bdat(dates, [Column("d", "numeric", [1.5, 2.0], format="DATE9"), Column("c", "string", ["a", "b"])])
    assert read_sas(dates).meta.extra["reader_note"] == ("date/time columns read from the data pages, checked "
                                                         "against pyreadstat: d")
    packed = _mixed(tmp_path / "c.sas7bdat", rows=500, compression="rows")
    fast = read_sas(packed)
    assert fast.meta.extra["reader_note"] == "date/time columns read by pyreadstat: d, dt, t"
    _assert_same(fast, _reference(packed, monkeypatch))


def test_a_prefetched_sha256_is_the_files_and_a_changed_file_is_hashed_again(tmp_path: Path) -> None:
    import hashlib

    from parity.sources import base

    path = tmp_path / "py.parquet"
    path.write_bytes(b"a" * 3_000_000)
    base.prefetch_sha256(path)
    base.prefetch_sha256(path)  # once per file
    assert base.sha256_file(path) == hashlib.sha256(b"a" * 3_000_000).hexdigest()
    base.prefetch_sha256(path)
    path.write_bytes(b"b" * 10)  # changed after the prefetch: its own bytes, not the prefetched digest
    assert base.sha256_file(path) == hashlib.sha256(b"b" * 10).hexdigest()
    base.prefetch_sha256(tmp_path / "missing.parquet")  # nothing to hash: no error, and none later either
    base.prefetch_sha256(tmp_path)  # a folder: hashed file by file when opened
    assert not any(key[0] == str(tmp_path.resolve()) for key in base._PREFETCHED)
