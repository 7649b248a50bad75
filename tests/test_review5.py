"""Adversarial review of the SAS fast path's split read (parity/sources/sas_fast.py, sas_raw.py) and of the
prefetched sha256 (parity/sources/base.py): each test is a way found to make the fast path read other values than
pyreadstat (the reference), or to misbehave around its sampling process, with the fix it needed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from parity.errors import InputError
from parity.sources.sas import read_sas
from parity.sources.sas_fast import FAST_READER, READER_ENV, fast_reader_available, scan_sas_fast
from parity.testing.sas7bdat_writer import Column, write_sas7bdat
from tests.test_sas_fast import _assert_same, _reference, _unsampled_row

needs_fast = pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed")
STAMP = dt.datetime(2024, 3, 1, 9, 30)
ROWS = 3000
#: the header's encoding byte (offset 70): UTF-8, Latin-1, Windows-1252
ENCODINGS = {"utf-8": 20, "latin1": 29, "windows-1252": 62}


def _write(path: Path, columns: list[Column], **options: Any) -> Path:
    write_sas7bdat(path, columns, timestamp=STAMP, **options)
    return path


def _with_value(path: Path, rows: int, value: bytes, *, encoding: int = 20, layout: str = "plain") -> Path:
    """A file whose character column holds ``value`` (raw bytes) in a row no sampled block holds; ``layout``:
    "plain" (a plain numeric: the split read), "strings" (character columns only) or "dates" (a date column: the
    date/time columns from the data pages, polars-readstat reads the rest)."""
    marker = [f"mk{i:05d}QQQQQQQQQQQQQ" for i in range(rows)]
    numbers = {"plain": [Column("x", "numeric", [i * 0.5 for i in range(rows)])],
               "dates": [Column("d", "numeric", [i * 1.5 for i in range(rows)], format="DATE9")],
               "strings": [Column("t", "string", [f"t{i % 7}" for i in range(rows)])]}[layout]
    _write(path, [*numbers, Column("s", "string", marker, length=20)])
    data = bytearray(path.read_bytes())
    data[70] = encoding
    at = data.index(marker[_unsampled_row(rows)].encode())
    data[at:at + 20] = value.ljust(20, b" ")[:20]
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------------------------------------------
# 1. a character value that starts with a byte-order mark: polars-readstat's decoder sniffs it (drops a UTF-8
#    one, decodes the value after a UTF-16 one as UTF-16) where pyreadstat decodes the bytes in the file's encoding


@needs_fast
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("mark", [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"], ids=["utf8", "utf16le", "utf16be"])
@pytest.mark.parametrize("layout", ["plain", "strings", "dates"])
def test_a_value_starting_with_a_byte_order_mark_is_never_read_by_polars_readstat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str, mark: bytes, layout: str) -> None:
    monkeypatch.delenv(READER_ENV, raising=False)
    path = _with_value(tmp_path / "bom.sas7bdat", ROWS, mark + b"ab", encoding=ENCODINGS[encoding], layout=layout)
    scan = scan_sas_fast(path)
    assert not scan.taken and scan.reason == (f"row {_unsampled_row(ROWS) + 1} of column 's' starts with a "
                                              "byte-order mark, which polars-readstat decodes otherwise")
    if encoding == "utf-8" and mark != b"\xef\xbb\xbf":  # not UTF-8: pyreadstat refuses the file, and so do we
        with pytest.raises(InputError, match=r"bom\.sas7bdat"):
            read_sas(path)
        return
    table = read_sas(path)
    assert table.meta.extra["reader"] == "pyreadstat"
    expected = mark.decode("utf-8" if encoding == "utf-8" else encoding) + "ab"
    assert table.frame["s"][_unsampled_row(ROWS)] == expected
    _assert_same(table, _reference(path, monkeypatch))


@needs_fast
@pytest.mark.parametrize("value", [b"x\xef\xbb\xbfy", b" \xef\xbb\xbfx", b"\xef\xbb", b"ab\0cd", b"\0abc", b"a\tb"])
def test_marks_not_at_the_start_and_other_odd_bytes_keep_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: bytes) -> None:
    """Only a mark at a value's very start is decoded otherwise: elsewhere (or cut short), and NULs, blanks and
    controls, both readers read alike and the fast path is kept."""
    monkeypatch.delenv(READER_ENV, raising=False)
    path = _with_value(tmp_path / "v.sas7bdat", ROWS, value, encoding=ENCODINGS["windows-1252"])
    table = read_sas(path)
    assert table.meta.extra["reader"] == FAST_READER, table.meta.extra
    _assert_same(table, _reference(path, monkeypatch))


@needs_fast
def test_a_two_byte_column_is_checked_for_utf16_marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(READER_ENV, raising=False)
    rows = ROWS
    values = ["ab"] * rows
    path = _write(tmp_path / "two.sas7bdat", [Column("x", "numeric", [float(i) for i in range(rows)]),
                                              Column("s", "string", values, length=2)])
    data = bytearray(path.read_bytes())
    data[70] = ENCODINGS["windows-1252"]
    path.write_bytes(bytes(data))
    assert read_sas(path).meta.extra["reader"] == FAST_READER
    # the unsampled row's 2 bytes: rows are 10 bytes (x, then s), find the row by its x value
    import struct

    row = _unsampled_row(rows)
    at = bytes(data).index(struct.pack("<d", float(row))) + 8
    assert bytes(data[at:at + 2]) == b"ab"
    data[at:at + 2] = b"\xff\xfe"
    path.write_bytes(bytes(data))
    scan = scan_sas_fast(path)
    assert not scan.taken and scan.reason is not None and f"row {row + 1} of column 's'" in scan.reason
    assert read_sas(path).frame["s"][row] == "\u00ff\u00fe"


# --------------------------------------------------------------------------------------------------------------
# 3. found by the full suite while landing (tests/test_explain.py's property test): a blank that regex
#    whitespace holds and float() does not strip made the number-text diagnosis raise


@pytest.mark.parametrize("python", ["0\x1f", "\x1c1", "1\x1d ", "\x1e2.5"])
def test_a_number_text_with_control_blanks_is_no_crash(python: str) -> None:
    from parity.checks.explain import Pair, explain

    out = explain([Pair("0", python), Pair("1", "1.0")], "string", None)
    assert out == explain([Pair("0", python), Pair("1", "1.0")], "string", None)


# --------------------------------------------------------------------------------------------------------------
# 4. the probe: the plain numeric polars-readstat reads beside the character columns, whose two readings must be
#    equal in every row, proves the rows line up only where its values change from row to row


@needs_fast
@pytest.mark.parametrize("first", ["constant", "missing", "two values"])
def test_the_probe_is_a_numeric_whose_values_change_so_a_shifted_row_is_caught(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    """The first plain numeric was the probe: a flag that holds one value (or none) lets polars-readstat's rows
    shift against the data pages unseen outside the sampled rows (simulated here: one row read twice, the next
    dropped), and the character values came out of the wrong rows."""
    import polars as pl

    from parity.sources import sas_fast

    rows = ROWS
    flag: list[Any] = {"constant": [1.0] * rows, "missing": [None] * rows,
                       "two values": [float(i // 1000) for i in range(rows)]}[first]
    path = _write(tmp_path / "p.sas7bdat", [Column("flag", "numeric", flag),
                                            Column("id", "numeric", [float(i) for i in range(rows)]),
                                            Column("s", "string", [f"v{i}" for i in range(rows)])])
    monkeypatch.delenv(READER_ENV, raising=False)
    row = _unsampled_row(rows)
    real = sas_fast._SplitRead.result

    def shifted(self: Any) -> pl.DataFrame:
        frame = real(self)
        order = list(range(rows))
        order[row + 1:row + 6] = range(row, row + 5)  # row read twice, row + 5 dropped
        return frame[order]

    monkeypatch.setattr(sas_fast._SplitRead, "result", shifted)
    scan = scan_sas_fast(path)
    assert not scan.taken and scan.reason == (f"row {row + 2}: polars-readstat's values do not match the values "
                                              "read from the data pages (the readers' rows do not line up)")


@pytest.mark.parametrize("little", [True, False])
@pytest.mark.parametrize("width", [2, 3])
def test_marks_are_found_in_either_byte_order(little: bool, width: int) -> None:
    """The check on the words the raw reader gathers (8 bytes ending with a value's first ``width`` bytes, read
    in the file's byte order), for a big-endian file as for a little-endian one."""
    import numpy as np

    from parity.sources.sas_raw import _starts_with_a_mark

    values = [b"\xef\xbb\xbf", b"\xff\xfeA", b"\xfe\xffA", b"\xef\xbbA", b"A\xef\xbb", b"\xfe\xfe\xff", b"abc"]
    cells = b"".join(b"\x55" * (8 - width) + v[:width] for v in values)  # a neighbour's bytes, then the value's
    words = np.frombuffer(cells, dtype="<u8" if little else ">u8").astype(np.uint64)
    expected = [0, 1, 2] if width == 3 else [1, 2]  # a 2-byte value holds no UTF-8 mark
    assert _starts_with_a_mark(words, width, little).tolist() == expected


# --------------------------------------------------------------------------------------------------------------
# 5. the Python side's sha256, hashed while the SAS side is read (parity.sources.base.prefetch_sha256)


def test_a_file_changed_while_its_prefetched_hash_was_computed_is_hashed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file unchanged when its hash was asked for, changed while the prefetch thread still read it: the
    prefetched digest (of the old bytes, or of a mix) was returned, not the digest of the bytes read afterwards."""
    import hashlib
    import threading

    from parity.sources import base

    path = tmp_path / "py.parquet"
    path.write_bytes(b"old" * 1000)
    asked = threading.Event()
    real = base._sha256

    def slow(p: Path) -> str:
        if not threading.current_thread().name.startswith("parity-sha256"):
            return real(p)
        asked.wait(10)  # sha256_file has looked at the file and waits for this digest
        digest = real(p)
        with p.open("r+b") as fh:  # rewritten in place while (just after) it was read
            fh.write(b"new")
        return digest

    monkeypatch.setattr(base, "_sha256", slow)
    base.prefetch_sha256(path)
    threading.Timer(0.3, asked.set).start()
    assert base.sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.read_bytes().startswith(b"new")


def test_prefetches_of_a_file_that_changed_since_are_dropped(tmp_path: Path) -> None:
    """Each changed version of a file prefetched and never asked for stayed in the table for the process's life
    (a pytest session, a service)."""
    from parity.sources import base

    path = tmp_path / "py.parquet"
    for version in range(3):
        path.write_bytes(b"v%d" % version * 1000)
        base.prefetch_sha256(path)
    base.sha256_file(path)
    assert not [k for k in base._PREFETCHED if k[0] == str(path.resolve())]


@pytest.mark.parametrize("suffix", [".sas7bdat", ".xpt", ".json", ".ndjson"])
def test_a_file_that_is_hashed_while_it_is_read_is_not_prefetched(tmp_path: Path, suffix: str) -> None:
    """A SAS or Dataset-JSON file as the Python side is hashed by its reader while it reads it (or, in the SAS
    cache, not read at all): the prefetch hashed it a second time, its digest never asked for."""
    from parity.sources import base

    path = tmp_path / f"py{suffix}"
    path.write_bytes(b"x" * 100_000)
    base.prefetch_sha256(path)
    assert not [k for k in base._PREFETCHED if k[0] == str(path.resolve())]
    other = tmp_path / "py.parquet"
    other.write_bytes(b"x" * 100_000)
    base.prefetch_sha256(other)  # a parquet file's reader asks for its hash once it opens it
    assert [k for k in base._PREFETCHED if k[0] == str(other.resolve())]
    base.sha256_file(other)


@needs_fast
@pytest.mark.parametrize("layout", ["plain", "strings", "dates"])
def test_a_byte_order_mark_refuses_a_file_streamed_into_parquet_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   layout: str) -> None:
    """Rows that do not fit memory are streamed into a parquet sink by polars-readstat reading every column: the
    data pages are looked at for marks there as well, and a refused sink is not left behind."""
    monkeypatch.delenv(READER_ENV, raising=False)
    path = _with_value(tmp_path / "bom.sas7bdat", ROWS, b"\xef\xbb\xbfab", layout=layout)
    sink = tmp_path / "rows.parquet"
    scan = scan_sas_fast(path, sink=sink, memory_budget=0)
    assert not scan.taken and scan.reason is not None and "byte-order mark" in scan.reason
    assert not sink.exists()
    clean = _with_value(tmp_path / "clean.sas7bdat", ROWS, b"ab", layout=layout)
    kept = scan_sas_fast(clean, sink=sink, memory_budget=0)
    assert kept.taken and kept.sink == sink and kept.frame is None


def _run_job(tmp_path: Path, python: str, files: dict[str, str]) -> tuple[int, dict[str, Any], Path]:
    import json

    from parity.cli.main import main
    from tests.helpers import make_job

    folder = make_job(tmp_path / "jobs", "j", f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "{python}"
        keys = ["id"]
    """, files=files)
    _write(folder / "d.sas7bdat", [Column("id", "numeric", [1.0, 2.0]), Column("x", "numeric", [2.5, 3.5])])
    code = main(["run", "j", "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / "r")])
    return code, json.loads((tmp_path / "r" / "j" / "parity.json").read_text()), folder


def test_a_python_file_rewritten_while_the_sas_side_is_read_is_compared_and_hashed_as_rewritten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replaced by a new file, or rewritten in place with the same size and modification time, after the
    prefetch started: the report's sha256 is of the bytes compared (the new ones), and so is the verdict."""
    import hashlib
    import os

    from parity.sources import sas

    real = sas.open_sas
    rewrites = {"replaced": "id,x\n1,2.5\n2,9.5\n", "in place": "id,x\n1,2.5\n2,8.5\n"}
    for how, new in rewrites.items():
        folder = tmp_path / how.replace(" ", "_")
        folder.mkdir()

        def rewrite(location: str, options: Any, how: str = how, new: str = new,
                    path: Path = folder / "jobs" / "j" / "py.csv") -> Any:
            stamp = path.stat().st_mtime_ns
            if how == "replaced":
                (path.parent / "tmp.csv").write_text(new)
                os.replace(path.parent / "tmp.csv", path)
            else:
                path.write_text(new)
            os.utime(path, ns=(stamp, stamp))  # the same size and modification time as before
            return real(location, options)

        monkeypatch.setattr(sas, "open_sas", rewrite)
        code, data, _ = _run_job(folder, "py.csv", {"py.csv": "id,x\n1,2.5\n2,3.5\n"})
        ds = data["datasets"][0]
        assert code == 1 and ds["verdict"] == "fail", (how, ds["verdict"])
        assert ds["python"]["sha256"] == hashlib.sha256(new.encode()).hexdigest(), how


@pytest.mark.parametrize("python", ["missing.csv", "missing.parquet", "out/*.parquet"])
def test_a_missing_python_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                python: str) -> None:
    """Found before anything is read (no prefetch of a file that is not there), named with where it was looked
    for; exit status 2."""
    from parity.cli.main import main
    from tests.helpers import make_job

    folder = make_job(tmp_path / "jobs", "j", f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "{python}"
        keys = ["id"]
    """)
    _write(folder / "d.sas7bdat", [Column("id", "numeric", [1.0])])
    code = main(["run", "j", "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    told = f"no file matches '{python}'" if "*" in python else f"file '{python}' not found"
    assert code == 2 and told in err and "Traceback" not in err
