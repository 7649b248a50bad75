"""Hidden-variant regressions of issue 7 items 14-23, end to end through compare_frames (polars and pandas frames,
realistic port bugs) and parity run on SAS files: each diagnosis names the right cause and no wrong one, and the
numbers and listings shown are honest."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from parity.api import compare_frames
from parity.model import CheckResult, ColumnResult, DatasetResult, JobResult
from parity.report.html import render_job
from parity.report.text import check_text
from tests.helpers import Column, make_job, write_sas7bdat

INF = float("inf")
NAN = float("nan")


def job_of(result: DatasetResult) -> JobResult:
    return JobResult(job="job", verdict=result.verdict, description="", spec={}, datasets=(result,),
                     tool={"name": "parity", "version": "test"}, run={})


def column(result: DatasetResult, name: str) -> ColumnResult:
    return next(c for c in result.columns if c.name == name)


def check(result: DatasetResult, name: str) -> CheckResult:
    return next(c for c in result.checks if c.name == name)


def codes(result: DatasetResult, name: str) -> dict[str, int]:
    return {str(e["code"]): int(e["rows"]) for e in column(result, name).explanations}


def page_text(result: DatasetResult) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"\s+", " ", render_job(job_of(result))))


# ---- 16: numbers shown honestly


def test_a_numeric_column_unequal_only_by_missing_values_is_not_a_maximum_difference_of_0() -> None:
    """A numeric column whose unequal values are all missing/infinite on one side has no difference between two
    numbers: the summary, the HTML maximum difference and the hint must not read "max abs diff 0" (no difference),
    nor "only character values differ", nor suggest a tolerance of 0."""
    sas = pl.DataFrame({"id": range(6), "x": [None, None, None, 1.0, 2.0, 3.0], "s": list("abcdef")})
    py = pd.DataFrame({"id": range(6), "x": [0.0, INF, INF, NAN, 2.0, 3.0], "s": list("abcdeZ")})
    result = compare_frames(sas, py, keys=["id"])
    assert column(result, "x").mismatches == 4
    summary = check(result, "numeric_tolerance").summary
    assert "max abs diff" not in summary and "missing or infinite" in summary, summary
    text = page_text(result)
    start = text.index("Maximum difference")
    stat = text[start:start + 200]
    assert "only character values differ" not in stat and "missing or infinite" in stat, stat
    hints = check_text(result, check(result, "numeric_tolerance"))
    assert "criterion = 0 " not in hints and "widen the tolerance" not in hints, hints


# ---- 18: encoding, proven by a round trip in any code page a SAS session writes


CITIES = ["Москва", "Санкт-Петербург", "Київ", "北京", "上海市", "Zürich", "São Paulo", "Kraków"]


@pytest.mark.parametrize(("written", "shown"), [
    ("utf-8", "latin-1"), ("utf-8", "cp1252"),  # UTF-8 read as Latin-1
    ("cp1251", "latin-1"), ("koi8_r", "latin-1"),  # a wcyrillic / koi8-r SAS session read as Latin-1
    ("gbk", "latin-1"),  # an euc-cn/gbk SAS session read as Latin-1
    ("utf-8", "cp1251"),  # UTF-8 read as wcyrillic
])
def test_text_written_in_one_code_page_and_read_in_another_is_an_encoding_difference(written: str,
                                                                                     shown: str) -> None:
    names = [c for c in CITIES if _round_trips(c, written, shown)]
    assert len(names) >= 2, names
    sas = pl.DataFrame({"id": range(len(names)), "city": names})
    py = pd.DataFrame({"id": range(len(names)), "city": [c.encode(written).decode(shown) for c in names]})
    for a, b in ((sas, py), (pl.from_pandas(py), sas.to_pandas())):  # the misread text on either side
        result = compare_frames(a, b, keys=["id"])
        assert codes(result, "city") == {"encoding": len(names)}, column(result, "city").explanations


def _round_trips(text: str, written: str, shown: str) -> bool:
    try:
        return text.encode(written).decode(shown) != text
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False


def test_legitimate_accents_against_plain_letters_are_no_encoding_difference() -> None:
    sas = pl.DataFrame({"id": range(5), "city": ["SÃO PAULO", "MÜNCHEN", "KÖLN", "BOGOTÁ", "Москва"]})
    py = pd.DataFrame({"id": range(5), "city": ["SAO PAULO", "MUNCHEN", "KOLN", "BOGOTA", "Moskva"]})
    result = compare_frames(sas, py, keys=["id"])
    assert column(result, "city").mismatches == 5 and codes(result, "city") == {}


# ---- 22: missing patterns name the right cause for the column's kind


def test_a_missing_date_against_day_zero_is_not_sum_of_missing() -> None:
    """SAS SUM() of all-missing is a number rule: a missing date against 1960-01-01 (0) or a missing time against
    midnight is a value the port has where SAS has none, not SUM()."""
    import datetime as dt

    sas = pl.DataFrame({"id": [1, 2, 3], "d": [None, None, dt.date(2020, 1, 1)], "x": [None, None, 1.0]})
    py = pd.DataFrame({"id": [1, 2, 3], "d": [dt.date(1960, 1, 1)] * 2 + [dt.date(2020, 1, 1)], "x": [0.0, 0.0, 1.0]})
    result = compare_frames(sas, py, keys=["id"], formats={"d": "DATE9."})
    assert codes(result, "d") == {"missing_in_sas": 2}
    assert codes(result, "x") == {"sum_of_missing": 2}


def test_a_constant_date_or_datetime_offset_says_its_unit() -> None:
    import datetime as dt

    days = [dt.date(2020, 1, 1) + dt.timedelta(days=7 * i) for i in range(5)]
    times = [dt.datetime(2020, 1, 1, 8) + dt.timedelta(hours=5 * i) for i in range(5)]
    sas = pl.DataFrame({"id": range(5), "d": days, "t": times})
    py = pd.DataFrame({"id": range(5), "d": [d + dt.timedelta(days=1) for d in days],
                       "t": [t + dt.timedelta(seconds=90) for t in times]})
    result = compare_frames(sas, py, keys=["id"])
    assert [e["message"] for e in column(result, "d").explanations] == ["all 5 differences are exactly +1 days"]
    assert [e["message"] for e in column(result, "t").explanations] == ["all 5 differences are exactly +90 s"]


def test_a_pandas_column_of_only_none_is_missing_values_not_a_type_conflict() -> None:
    """A port that never fills a column leaves pandas an object column of None: that has no type, so against a
    SAS numeric it is every value missing in Python (missing_in_python), not 'SAS numeric vs Python String'."""
    sas = pl.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 3.0], "s": ["a", "b", "c"]})
    py = pd.DataFrame({"id": [1, 2, 3], "x": [None, None, None], "s": pd.Series([None, NAN, None], dtype=object)})
    result = compare_frames(sas, py, keys=["id"])
    assert check(result, "schema").status == "pass", check(result, "schema").summary
    assert column(result, "x").mismatches == 3 and codes(result, "x") == {"missing_in_python": 3}
    assert column(result, "s").mismatches == 3 and codes(result, "s") == {"missing_in_python": 3}


# ---- 16: a maximum difference beyond the criterion never reads as the criterion


def test_a_maximum_difference_just_beyond_the_criterion_shows_the_digits_that_exceed_it() -> None:
    sas = pl.DataFrame({"id": [1, 2], "x": [1.0, 2.0]})
    py = pd.DataFrame({"id": [1, 2], "x": [1.0050000001, 2.0]})
    result = compare_frames(sas, py, keys=["id"], tolerance={"x": {"method": "absolute", "criterion": 0.005}})
    assert "max abs diff 0.0050000001" in check(result, "numeric_tolerance").summary
    assert "0.0050000001" in page_text(result)
    wide = compare_frames(sas, py.assign(x=[1.25, 2.0]), keys=["id"],
                          tolerance={"x": {"method": "absolute", "criterion": 0.005}})
    assert "max abs diff 0.25" in check(wide, "numeric_tolerance").summary  # 6 digits when they suffice


# ---- end to end: parity run on a SAS file against a pandas port


def test_parity_run_names_each_columns_cause_and_no_wrong_one(tmp_path: Path) -> None:
    import json

    from parity.cli.main import main

    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "port", """
        [job]
        python = "port:run"
        [datasets.people]
        sas = "people.sas7bdat"
        keys = ["id"]
    """, files={"port.py": """
        import datetime as dt
        import math
        import pandas as pd

        def run():
            days = [23000, 23400, 23800, 24200]
            return {"people": pd.DataFrame({
                "id": [1, 2, 3, 4],
                "title": ["Mrs", "Mss", "Drs", "Mrs"],
                "city": [c.encode("utf-8").decode("latin-1") for c in ["Москва", "北京", "Zürich", "São Paulo"]],
                "amt": [0.0, math.inf, math.inf, 7.5],
                "visit": [dt.datetime(1960, 1, 1) + dt.timedelta(days=d) for d in days],
            })}
    """})
    write_sas7bdat(folder / "people.sas7bdat", [
        Column("ID", "numeric", [1, 2, 3, 4]),
        Column("TITLE", "string", ["Mr", "Ms", "Dr", "Mrs"], length=4),
        Column("CITY", "string", ["Москва", "北京", "Zürich", "São Paulo"]),
        Column("AMT", "numeric", [None, None, None, 7.5]),
        Column("VISIT", "numeric", [23000, 23400, 23800, 24200]),
    ])
    assert main(["run", "port", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "r")]) == 1
    data = json.loads((tmp_path / "r" / "port" / "parity.json").read_text())
    cols = {c["name"]: c for c in data["datasets"][0]["columns"]}
    found = {name: {e["code"]: e["rows"] for e in c["explanations"]} for name, c in cols.items()}
    assert cols["TITLE"]["mismatches"] == 3 and found["TITLE"] == {}  # 'Mr' (LENGTH 4) vs 'Mrs' is no truncation
    assert found["CITY"] == {"encoding": 4}
    assert found["AMT"] == {"division_by_zero": 2, "sum_of_missing": 1}
    assert found["VISIT"] == {"date_without_format": 4}
    assert 'formats = { VISIT = "DATE9." }' in cols["VISIT"]["explanations"][0]["hint"]
    attributes = next(c for c in data["datasets"][0]["checks"] if c["name"] == "attributes")
    assert attributes["status"] == "warn" and 'formats = { VISIT = "DATE9." }' in attributes["summary"]
