"""Follow-ups found in review: duplicate groups compared as a whole set, honest maximum differences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from parity.api import compare_frames
from tests.helpers import Column, write_sas7bdat


def _dups(counts: dict[int, int]) -> pl.DataFrame:
    ids = [k for k, n in sorted(counts.items()) for _ in range(n)]
    return pl.DataFrame({"id": [float(i) for i in ids], "x": [1.0] * len(ids)})


def test_duplicates_that_differ_beyond_the_sample_fail_key_uniqueness() -> None:
    # 12 duplicated keys on both sides with the same totals; the first ten (the sample) are identical,
    # keys 11 and 12 swap their counts: not "the same duplicates on both sides"
    base = {i: 2 for i in range(1, 11)}
    sas = _dups({**base, 11: 3, 12: 2})
    py = _dups({**base, 11: 2, 12: 3})
    result = compare_frames(sas, py, keys=["id"])
    check = result.check("key_uniqueness")
    assert check is not None and check.status == "fail", check
    assert result.verdict == "fail"


def test_identical_duplicates_only_warn() -> None:
    counts = {i: 2 for i in range(1, 13)} | {13: 4}
    result = compare_frames(_dups(counts), _dups(counts), keys=["id"])
    check = result.check("key_uniqueness")
    assert check is not None and check.status == "warn", check
    assert result.verdict == "warn"


def test_summary_says_how_many_mismatches_have_no_difference_to_measure() -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0, 3.0, 4.0], "x": [1.0, None, None, 5.0]})
    py = pl.DataFrame({"id": [1, 2, 3, 4], "x": [1.0, 0.0, float("inf"), 5.5]})
    result = compare_frames(sas, py, keys=["id"])
    check = result.check("numeric_tolerance")
    assert check is not None and check.status == "fail"
    assert "max abs diff 0.5 among pairs of two values" in check.summary, check.summary
    assert "2 of its mismatches are a missing or infinite value" in check.summary, check.summary
    # only missing/infinite differences: never "max abs diff 0"
    only = compare_frames(sas, py.with_columns(pl.col("x").replace(5.5, 5.0)), keys=["id"])
    summary = only.check("numeric_tolerance").summary  # type: ignore[union-attr]
    assert "max abs diff 0" not in summary and "every unequal value is missing or infinite" in summary, summary


def test_summary_of_value_differences_has_no_missing_note() -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0], "x": [1.0, 2.0]})
    py = pl.DataFrame({"id": [1, 2], "x": [1.5, 2.0]})
    check = compare_frames(sas, py, keys=["id"]).check("numeric_tolerance")
    assert check is not None and check.status == "fail"
    assert "missing or infinite" not in check.summary and "max abs diff 0.5" in check.summary, check.summary


def test_changing_how_the_sas_file_is_read_is_a_relaxation_needing_approval(tmp_path: Path) -> None:
    from parity.report.delta import dataset_relaxations
    from parity.spec import dataset_rules, load_job

    def rules(extra: str) -> dict[str, Any]:
        folder = tmp_path / f"job{abs(hash(extra))}"
        folder.mkdir()
        cols = [Column("id", "numeric", [1.0, 2.0]), Column("dt", "numeric", [100.0, 200.0])]
        write_sas7bdat(folder / "d.sas7bdat", cols)
        pl.DataFrame({"id": [1, 2], "dt": [100.0, 200.0]}).write_parquet(folder / "d.parquet")
        (folder / "parity.toml").write_text(
            f'[datasets.d]\nsas = "d.sas7bdat"\npython = "d.parquet"\nkeys = ["id"]\n{extra}\n', encoding="utf-8")
        job = load_job(folder)
        return dataset_rules(job.datasets[0], folder)

    plain = rules("")
    with_encoding = rules('encoding = "latin-1"')
    with_format = rules('formats = { dt = "DATE9." }')
    assert dataset_relaxations("j", "d", plain, plain) == []
    enc = dataset_relaxations("j", "d", plain, with_encoding)
    assert [c.kind for c in enc] == ["relaxed"] and "encoding" in enc[0].what
    fmt = dataset_relaxations("j", "d", plain, with_format)
    assert [c.kind for c in fmt] == ["relaxed"] and "format override of dt" in fmt[0].what
    assert [c.kind for c in dataset_relaxations("j", "d", with_format, plain)] == ["relaxed"]
