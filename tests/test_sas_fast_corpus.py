"""Corpus agreement: for every .sas7bdat of ../shared/corpus, what the SAS source yields through the fast path
(polars-readstat behind its safeguards) is identical to what pyreadstat alone yields: values bit for bit,
special-missing tags, row counts and column metadata.  Files the fast path refuses are read by pyreadstat, so they
agree trivially; the test also asserts the fast path is really taken on most files (it is not a guard that always
refuses).  Every file is read whole (the largest is 2.3 MB); skipped when the corpus is absent."""

from __future__ import annotations

import math
import struct
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from parity.errors import InputError
from parity.sources.base import Table
from parity.sources.sas import read_sas
from parity.sources.sas_fast import FAST_READER, READER_ENV, fast_reader_available, scan_sas_fast
from tests.test_corpus import CORPUS
from tests.test_corpus import _files as corpus_files

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not fast_reader_available(), reason="polars-readstat is not installed"),
]


def _read(path: Path, monkeypatch: pytest.MonkeyPatch, reader: str) -> Table | str:
    with monkeypatch.context() as m:
        if reader == "pyreadstat":
            m.setenv(READER_ENV, "pyreadstat")
        else:
            m.delenv(READER_ENV, raising=False)
        try:
            return read_sas(path)
        except InputError as exc:
            return f"error: {exc}"


def _bits(value: object) -> object:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else struct.pack("<d", value)
    return value


def disagreement(fast: Table, ref: Table) -> str | None:
    """How ``fast`` differs from ``ref`` (None when identical, ignoring which reader read them)."""
    if [c.to_dict() for c in fast.columns] != [c.to_dict() for c in ref.columns]:
        return f"columns: {[c.to_dict() for c in fast.columns]} vs {[c.to_dict() for c in ref.columns]}"
    strip = ("reader", "reader_note")
    left = {k: v for k, v in fast.meta.to_dict().items() if k not in strip}
    right = {k: v for k, v in ref.meta.to_dict().items() if k not in strip}
    if left != right:
        return f"meta: {left} vs {right}"
    if fast.frame.columns != ref.frame.columns or fast.frame.height != ref.frame.height:
        return f"shape {fast.frame.shape} vs {ref.frame.shape}"
    for name in ref.frame.columns:
        a, b = fast.frame.get_column(name), ref.frame.get_column(name)
        if a.dtype != b.dtype and not (a.dtype == pl.Null or b.dtype == pl.Null):
            return f"{name}: dtype {a.dtype} vs {b.dtype}"
        for i, (x, y) in enumerate(zip(a.to_list(), b.to_list(), strict=True)):
            if _bits(x) != _bits(y):
                return f"{name} row {i + 1}: {x!r} vs {y!r}"
    if set(fast.tags) != set(ref.tags):
        return f"tag columns {sorted(fast.tags)} vs {sorted(ref.tags)}"
    for name, tags in ref.tags.items():
        if fast.tags[name].to_list() != tags.to_list():
            return f"{name}: tags differ"
    return None


def _refusal_class(note: str) -> str:
    for needle, name in (("release", "written before SAS 9"), ("not one both readers", "unverified encoding"),
                         ("deleted rows", "deleted rows"), ("differs", "a sampled row differs")):
        if needle in note:
            return name
    return note.removeprefix("fast path refused: ")[:60]


@pytest.fixture(scope="module")
def files() -> list[Path]:
    """The corpus' .sas7bdat files (the fast path reads no XPORT)."""
    return [p for p in corpus_files() if p.suffix.lower() == ".sas7bdat"] or pytest.skip(f"no SAS corpus at {CORPUS}")


def test_fast_path_agrees_with_pyreadstat_on_the_corpus(files: list[Path], monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """In memory (through read_sas) and streamed into parquet (``sink``), for every file."""
    taken, refused, differ = 0, Counter[str](), []
    for path in files:
        ref = _read(path, monkeypatch, "pyreadstat")
        fast = _read(path, monkeypatch, "auto")
        if isinstance(ref, str) or isinstance(fast, str):
            # a file pyreadstat cannot read is not read by the fast path either (it would hide the error)
            if isinstance(ref, str) != isinstance(fast, str):
                differ.append((path, f"{ref if isinstance(ref, str) else 'read'} vs "
                                     f"{fast if isinstance(fast, str) else 'read'}"))
            continue
        if fast.meta.extra.get("reader") == FAST_READER:
            taken += 1
            monkeypatch.delenv(READER_ENV, raising=False)
            streamed = scan_sas_fast(path, sink=tmp_path / "part.parquet")
            if not streamed.taken or not streamed.scan().collect().equals(ref.scan().collect(), null_equal=True):
                differ.append((path, f"streamed into parquet: {streamed.reason or 'other rows'}"))
        else:
            refused[_refusal_class(str(fast.meta.extra.get("reader_note", "")))] += 1
        problem = disagreement(fast, ref)
        if problem is not None:
            differ.append((path, problem))
    print(f"\nfast path taken on {taken} files; refused: {refused.most_common()}")
    assert not differ, "\n".join(f"{p}: {m}" for p, m in differ[:20])
    assert taken >= 0.5 * len(files), (taken, refused.most_common())


def test_fast_scan_refuses_what_the_evaluation_found_wrong(files: list[Path]) -> None:
    """The classes polars-readstat reads wrong are refused with a reason that names the class."""
    cases = {
        "parso/src/test/resources/sas7bdat/data_page_with_deleted.sas7bdat": "deleted rows",
        "pandas/pandas/tests/io/sas/data/load_log.sas7bdat": "deleted rows",
    }
    for rel, reason in cases.items():
        path = CORPUS / rel
        if not path.is_file():
            continue
        scan = scan_sas_fast(path)
        assert scan.frame is None and scan.reason is not None and reason in scan.reason, (rel, scan.reason)
