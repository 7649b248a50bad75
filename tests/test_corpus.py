"""Every SAS file of the shared corpus loads, or fails with parity's own clear error, in bounded time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from parity.errors import InputError
from parity.sources.sas import read_sas

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
pytestmark = pytest.mark.corpus


def _files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.suffix.lower() in (".sas7bdat", ".xpt") and p.is_file())


@pytest.fixture(scope="module")
def files() -> list[Path]:
    found = _files()
    if not found:
        pytest.skip(f"no SAS corpus at {CORPUS}")
    return found


def test_every_corpus_file_loads_or_fails_cleanly(files: list[Path]) -> None:
    loaded, failed, slow = 0, [], []
    for path in files:
        started = time.perf_counter()
        try:
            table = read_sas(path)
        except InputError as exc:
            message = str(exc)
            assert str(path) in message, message  # the error names the file
            failed.append((path, message))
        else:
            assert table.frame.height == table.meta.rows
            assert len(table.columns) == table.frame.width
            loaded += 1
        elapsed = time.perf_counter() - started
        if elapsed > 30:
            slow.append((path, elapsed))
    assert not slow, slow
    assert loaded > 0.95 * len(files), f"only {loaded} of {len(files)} loaded"
    reasons = {m.split("(")[1].split(":")[0] if "(" in m else m for _, m in failed}
    print(f"\ncorpus: {loaded} loaded, {len(failed)} clean errors ({sorted(reasons)})")


def test_special_missing_values_are_kept(files: list[Path]) -> None:
    path = CORPUS / "pyreadstat/test_data/missing_data/missing_test.sas7bdat"
    table = read_sas(path)
    assert table.tags["var1"].to_list() == ["A"]
    assert table.tags["var7"].to_list() == ["_"]
    assert table.frame["var8"].to_list() == [None]
    assert table.frame["var9"].to_list() == [1.0]


def test_dates_beyond_9999_do_not_overflow(files: list[Path]) -> None:
    candidates = [p for p in files if "date_format_dtdate" in p.name]
    if not candidates:
        pytest.skip("date_format_dtdate not in this corpus")
    table = read_sas(candidates[0])
    assert any(c.kind == "datetime" for c in table.columns)  # DTDATE is a datetime format


def test_unsupported_encoding_is_a_clear_error(files: list[Path]) -> None:
    import csv

    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if "character set" in (r.get("reads_pyreadstat") or "")]
    if not rows:
        pytest.skip("no unsupported-encoding file in the manifest")
    with pytest.raises(InputError, match="encoding"):
        read_sas(CORPUS / rows[0]["local_path"])


def test_real_cross_language_parity_case(files: list[Path]) -> None:
    """SAS 9.4's ADSL against its R re-derivation: 48 of 49 columns equal, BMIBLGR1 differs in one row."""
    from parity.api import compare_frames

    sas = CORPUS / "phuse-scripts/data/adam/TDF_ADaM_v1.0/adsl.xpt"
    other = CORPUS / "submissions-pilot3-adam/submission/adam/adsl.xpt"
    if not (sas.is_file() and other.is_file()):
        pytest.skip("the ADSL pair is not in this corpus")
    result = compare_frames(sas, other, keys=["USUBJID"])
    assert result.verdict == "fail"
    assert result.rows["matched"] == 254 and result.rows["only_in_sas"] == 0
    unequal = {c.name: c.mismatches for c in result.columns if c.mismatches}
    assert unequal == {"BMIBLGR1": 1}
    diff = result.top_diffs["first_by_key"][0]
    assert diff["key"] == {"USUBJID": "01-702-1082"} and diff["sas"] == "<25" and diff["python"] is None
    assert {c.name: c.status for c in result.checks}["date_equivalence"] == "pass"
