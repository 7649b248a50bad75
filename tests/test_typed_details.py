"""Typed check details: every check builds its own frozen details type, the report's JSON of it is what the
details write (``to_dict``), reading a report back gives the same types and the same JSON, and details of another
shape (a check this parity does not know, a hand-edited report) are kept as they are, never lost."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from parity.api import compare_frames
from parity.checks.details import (
    DETAILS,
    KeyUniquenessDetails,
    RowOrderDetails,
    SortByDetails,
    ValueDetails,
    WaiversDetails,
)
from parity.model import CHECK_NAMES, CheckResult, DatasetResult, JobResult, RawDetails
from parity.report.json import dumps, load_report, result_from_dict
from parity.run.runner import run_job
from parity.spec import load_job

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _datasets() -> list[DatasetResult]:
    """Results that between them give every check each of its shapes (sort_by and key order, waivers active and
    expired, duplicates, dates, strings, rows only on one side)."""
    sas = pl.DataFrame({"id": [1, 2, 2, 3, 4], "x": [1.0, 2.0, 2.0, 3.0, 4.0], "s": ["a", "b", "b", "c", "d"],
                        "d": [0.0, 1.0, 1.0, 2.0, 3.0]})
    py = pl.DataFrame({"id": [1, 2, 2, 3, 5], "x": [1.0, 2.5, 2.0, 3.0, 4.0], "s": ["a", "B", "b", "c", "d"],
                       "d": [0.0, 1.0, 1.0, 9.0, 3.0]})
    waiver = {"column": "x", "reason": "known", "approver": "me", "expires": dt.date(2099, 1, 1)}
    expired = {"check": "sort_order", "reason": "old", "approver": "me", "expires": dt.date(2000, 1, 1)}
    return [
        compare_frames(sas, py, keys=["id"], formats={"d": "DATE9."}, waivers=[waiver, expired]),
        compare_frames(sas, py.reverse(), keys=["id"], sort_by=["id"]),
        compare_frames(sas, py.reverse(), keys=["id"]),
        compare_frames(sas, py),  # paired by position: no keys
    ]


def test_every_check_registers_its_details() -> None:
    assert set(CHECK_NAMES) <= set(DETAILS), sorted(set(CHECK_NAMES) - set(DETAILS))


def test_checks_build_typed_details_that_read_back_to_the_same_json() -> None:
    seen: set[type] = set()
    for ds in _datasets():
        for check in ds.checks:
            data = check.details.to_dict()
            if data:  # a skipped check without details writes {}
                assert not isinstance(check.details, RawDetails), check.name
                assert type(check.details) in DETAILS[check.name]
            seen.add(type(check.details))
            back = CheckResult(check.name, check.status, check.summary, json.loads(json.dumps(data)))
            assert type(back.details) is type(check.details), check.name
            assert json.dumps(back.details.to_dict()) == json.dumps(data), check.name  # key order too
    assert {SortByDetails, RowOrderDetails, KeyUniquenessDetails, WaiversDetails, ValueDetails} <= seen


@pytest.mark.parametrize("job", ["premium_rounding", "claims_monthly"])
def test_a_report_reads_back_typed_and_writes_the_same_bytes(tmp_path: Path, job: str) -> None:
    result = run_job(load_job(FIXTURES / job))
    text = dumps(result)
    (tmp_path / "parity.json").write_text(text, encoding="utf-8")
    loaded = load_report(tmp_path / "parity.json")
    assert dumps(loaded) == text
    assert dumps(result_from_dict(json.loads(text))) == text
    for ds_before, ds_after in zip(result.datasets, loaded.datasets, strict=True):
        for before, after in zip(ds_before.checks, ds_after.checks, strict=True):
            assert type(after.details) is type(before.details), before.name
            assert after.details == before.details
            if before.details:
                assert not isinstance(after.details, RawDetails), before.name  # contract and quality too


def test_renderers_read_typed_fields() -> None:
    ds = _datasets()[0]
    numeric = ds.check("numeric_tolerance")
    assert numeric is not None and isinstance(numeric.details, ValueDetails)
    assert numeric.details.worst == "x" and numeric.details.unequal()[0].column == "x"
    waivers = ds.check("waivers")
    assert waivers is not None and isinstance(waivers.details, WaiversDetails)
    assert [w.state for w in waivers.details.waivers] == ["active", "expired"]
    assert waivers.details["waivers"][0]["state"] == "active"  # the JSON view


@pytest.mark.parametrize("data", [
    {"why": "a check of a newer parity"},
    {"columns": [{"column": "x"}], "a_newer_key": 1},  # a key this parity does not know: kept as is
])
def test_details_of_another_shape_are_kept_as_they_are(data: dict[str, object]) -> None:
    for name in ("numeric_tolerance", "a_newer_check"):
        check = CheckResult(name, "fail", "s", data)
        assert isinstance(check.details, RawDetails)
        assert check.details.to_dict() == data
        assert check.to_dict()["details"] == data


def test_a_partial_hand_written_result_reads_with_empty_values() -> None:
    check = CheckResult("numeric_tolerance", "fail", "s", {"columns": [{"column": "amt", "mismatches": 2}]})
    assert isinstance(check.details, ValueDetails)
    col = check.details.columns[0]
    assert (col.column, col.mismatches, col.waived, col.max_abs_diff, col.explanations) == ("amt", 2, 0, None, ())


def test_a_job_result_round_trips_through_the_xdist_payload() -> None:
    from parity.pytest_plugin.plugin import JobRun

    result = run_job(load_job(FIXTURES / "premium_rounding"))
    back = JobRun.from_payload("premium_rounding", JobRun("premium_rounding", result=result).payload()).result
    assert back is not None and dumps(back) == dumps(result)
    assert JobResult.from_dict(result.to_dict()).to_dict() == result.to_dict()


def test_details_read_as_the_json_object_they_write() -> None:
    import copy
    import pickle

    ds = _datasets()[0]
    for check in ds.checks:
        d = check.details
        assert json.loads(json.dumps(d)) == json.loads(json.dumps(d.to_dict()))  # json.dumps(details) as before
        assert dict(d) == d.to_dict() and d == d.to_dict()
        assert copy.deepcopy(d) == d and type(pickle.loads(pickle.dumps(d))) is type(d)
    ku = ds.check("key_uniqueness")
    assert ku is not None and isinstance(ku.details, KeyUniquenessDetails)
    assert ku.details.key_columns == ("id",) and ku.details["keys"] == ["id"]  # "keys" is a dict method's name
    assert list(ku.details.keys()) == ["keys", "sas", "python"]
    with pytest.raises(TypeError, match="frozen"):
        ku.details["keys"] = []  # type: ignore[index]
