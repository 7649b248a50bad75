"""How differences are listed and shown: a listing for every unequal column (max_print), numbers with the digits
that tell a pair apart, rankings within a kind, long values cut, summary.md within a GitHub comment, and the cost
of building the report (no per-column query over the whole diffs frame)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from parity.api import compare_frames
from parity.errors import SpecError
from parity.model import CheckResult, ColumnResult, DatasetResult, JobResult
from parity.report.html import num, render_job
from parity.report.json import dumps
from parity.report.markdown import MAX_CHARS, ReportEntry, render_summary
from parity.report.text import check_text, dataset_text, format_number, key_figures
from parity.spec import load_job
from parity.values import TEXT_CAP, diff_text, number_text, pair_texts, short_number, string_pair
from tests.helpers import make_job

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())


def validate(result: DatasetResult) -> dict[str, Any]:
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads(dumps(job_of(result)))
    jsonschema.validate(data, SCHEMA)
    return data


def job_of(*datasets: DatasetResult, name: str = "job") -> JobResult:
    verdict = "fail" if any(d.verdict == "fail" for d in datasets) else "pass"
    return JobResult(job=name, verdict=verdict, description="", spec={}, datasets=datasets,
                     tool={"name": "parity", "version": "test"}, run={})


def col(result: DatasetResult, name: str) -> ColumnResult:
    return next(c for c in result.columns if c.name == name)


def check(result: DatasetResult, name: str) -> CheckResult:
    found = result.check(name)
    assert found is not None
    return found


def wide_frames(columns: int, rows: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every value of every column differs; the numeric columns' differences grow with the column number."""
    ids = [float(i) for i in range(1, rows + 1)]
    sas: dict[str, Any] = {"id": ids}
    py: dict[str, Any] = {"ID": [int(i) for i in ids]}
    for j in range(columns):
        if j % 2:
            sas[f"s{j}"] = [f"v{i}" for i in range(rows)]
            py[f"S{j}"] = [f"V{i}" for i in range(rows)]
        else:
            sas[f"n{j}"] = [float(i) for i in range(rows)]
            py[f"N{j}"] = [float(i) + j + 1 for i in range(rows)]
    return pl.DataFrame(sas), pl.DataFrame(py)


# --------------------------------------------------------------------------------------------------------------
# 7.15: a listing for every unequal column


def test_every_unequal_column_has_its_own_listing_beyond_top_n() -> None:
    sas, py = wide_frames(40)
    result = compare_frames(sas, py, keys=["id"], top_n=5)
    unequal = [c for c in result.columns if c.mismatches]
    assert len(unequal) == 40
    assert len(result.top_diffs["first_by_key"]) == 5  # the dataset-wide view stays top_n
    for c in unequal:
        first = c.listing["first_by_key"]
        assert [cell["key"] for cell in first] == [{"id": 1}, {"id": 2}, {"id": 3}], c.name
        assert all(cell["column"] == c.name for cell in first)
        if c.kind == "numeric":
            assert c.listing["largest"] == []  # all 3 unequal values are listed already: never twice
        else:
            assert "largest" not in c.listing
    page = render_job(job_of(result))
    assert "No values are listed" not in page
    assert page.count("listed in key order") == 40
    validate(result)


def test_max_print_limits_each_columns_listing_and_largest_adds_the_others() -> None:
    n = 30
    sas = pl.DataFrame({"id": [float(i) for i in range(n)], "x": [100.0] * n, "t": ["a"] * n})
    py = pl.DataFrame({"ID": list(range(n)), "X": [100.0 + i for i in range(n)], "T": ["b"] * n})
    result = compare_frames(sas, py, keys=["id"], max_print=4)
    x = col(result, "x")
    assert x.mismatches == n - 1  # row 0 is equal
    assert [c["key"]["id"] for c in x.listing["first_by_key"]] == [1, 2, 3, 4]
    assert [c["key"]["id"] for c in x.listing["largest"]] == [29, 28, 27, 26]
    assert [c["key"]["id"] for c in col(result, "t").listing["first_by_key"]] == [0, 1, 2, 3]
    assert check(result, "top_n_diffs").details == {"top_n": 20, "max_print": 4}
    default = compare_frames(sas, py, keys=["id"])
    assert len(col(default, "x").listing["first_by_key"]) == 10  # the default max_print
    none = compare_frames(sas, py, keys=["id"], max_print=0)
    assert col(none, "x").listing == {"first_by_key": [], "largest": []}
    assert "No values are listed for this column" in render_job(job_of(none))


@pytest.mark.parametrize("bad", [-1, 1001, 2.5, True, "10"])
def test_max_print_is_validated_with_a_clear_error(tmp_path: Path, bad: Any) -> None:
    folder = make_job(tmp_path, "j", f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "d.parquet"
        max_print = {json.dumps(bad)}
    """)
    (folder / "d.sas7bdat").write_bytes(b"")
    (folder / "d.parquet").write_bytes(b"")
    with pytest.raises(SpecError, match=r"datasets\.d\.max_print.*0 to 1000"):
        load_job(folder)
    with pytest.raises(SpecError, match="max_print"):
        compare_frames(pl.DataFrame({"a": [1.0]}), pl.DataFrame({"a": [1.0]}), max_print=bad)


def test_pytest_message_shows_every_unequal_column_up_to_a_cap() -> None:
    sas, py = wide_frames(4)
    result = compare_frames(sas, py, keys=["id"], top_n=1)
    numeric = check(result, "numeric_tolerance")
    text = check_text(result, numeric)
    for name in ("n0", "n2"):  # top_n = 1 lists one value in top_diffs; each column still shows its own
        assert sum(1 for line in text.splitlines() if re.match(rf"\s+\d+\s+{name}\s", line)) == 3, text
    assert "up to 3 per column" in text
    strings = check_text(result, check(result, "string_equality"))
    assert "'v0'" in strings and "'V0'" in strings and " s3 " in strings
    many = compare_frames(*wide_frames(30), keys=["id"])
    text = check_text(many, check(many, "numeric_tolerance"))
    assert "  ... and 7 more columns with differences: n16, n18, n20, n22, n24, n26, n28 (see the full report)" \
        in text.splitlines()
    assert len(text.splitlines()) < 60
    assert dataset_text(many).count("worst differences") == 2


# --------------------------------------------------------------------------------------------------------------
# 7.16: numbers shown honestly


def test_pair_texts_show_the_digits_that_tell_the_values_apart() -> None:
    assert pair_texts("numeric", 2917.46, 2917.4700000000003) == ("2917.46", "2917.47")
    assert pair_texts("numeric", 0.3, 0.1 + 0.2) == ("0.3", "0.30000000000000004")
    assert pair_texts("numeric", 2917.47, 2917.4700000000003) == ("2917.47", "2917.4700000000003")
    assert pair_texts("numeric", 1e20, 1.0000000000000002e20) == ("1e+20", "1.0000000000000002e+20")
    assert pair_texts("numeric", 2917.465, 2917.47) == ("2917.465", "2917.47")  # never rounded to look alike
    assert pair_texts("numeric", 1234567.5, 1234568.5) == ("1234567.5", "1234568.5")
    assert pair_texts("numeric", None, 3.0, "A", None) == (".A", "3")
    assert pair_texts("date", 0.0, 365.0) == ("1960-01-01", "1960-12-31")
    for _ in range(300):  # property: two different doubles never show the same text
        a = random.uniform(-1e6, 1e6)
        b = a + random.choice([1, -1]) * abs(a) * random.choice([1e-16, 3e-16, 1e-12, 1e-3])
        if a != b:
            ta, tb = pair_texts("numeric", a, b)
            assert ta != tb and float(ta) == pytest.approx(a, rel=1e-14) and float(tb) == pytest.approx(b, rel=1e-14)


def test_number_texts_and_the_one_short_formatter() -> None:
    assert number_text(2917.4700000000003) == "2917.47"
    assert number_text(123456789.123456789) == "123456789.123457"
    assert number_text(1.5e-9) == "1.5e-09" and number_text(-0.0) == "0" and number_text(3.0) == "3"
    assert diff_text("numeric", "2917.46", "2917.47", 0.010000000000218279) == "+0.01"
    assert diff_text("numeric", "0.3", "0.30000000000000004", 5.551115123125783e-17) == "+4e-17"
    assert diff_text("date", "", "", -365.0) == "-365 days"
    assert diff_text("datetime", "", "", 3600.0) == "+3600 s"
    for value, text in ((0.010000000000218279, "0.01"), (123456, "123,456"), (1234567.5, "1,234,568"),
                        (float("nan"), "nan"), (float("-inf"), "-inf"), (2.5, "2.5"), (-12345.678, "-12,345.7")):
        assert short_number(value) == num(value) == format_number(value) == text
    assert num(None) == "" and format_number(None) == "-"


def test_listed_values_are_consistent_in_json_html_and_text() -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0], "amt": [2917.46, 5.0]})
    py = pl.DataFrame({"ID": [1, 2], "AMT": [2917.4700000000003, 5.0]})
    result = compare_frames(sas, py, keys=["id"])
    cell = col(result, "amt").listing["first_by_key"][0]
    assert (cell["sas_text"], cell["python_text"], cell["diff_text"]) == ("2917.46", "2917.47", "+0.01")
    assert cell["python"] == 2917.4700000000003  # the JSON value keeps full precision
    page = render_job(job_of(result))
    assert "2917.47" in page and "2917.4700000000003" not in page and "+0.01" in page
    text = check_text(result, check(result, "numeric_tolerance"))
    assert "2917.47" in text and "2917.4700000000003" not in text and "+0.01" in text
    assert "max abs diff 0.01" in check(result, "numeric_tolerance").summary


def test_maximum_difference_is_never_a_bare_zero_when_only_strings_differ() -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0], "amt": [1.0, 2.0], "name": ["a", "b"]})
    py = pl.DataFrame({"ID": [1, 2], "AMT": [1.0, 2.0], "NAME": ["a", "B"]})
    page = render_job(job_of(compare_frames(sas, py, keys=["id"])))
    start = page.index("Maximum difference")
    assert "only character values differ" in page[start:start + 300]


# --------------------------------------------------------------------------------------------------------------
# 7.23: rank within a kind


def test_date_summary_names_the_largest_shift_not_the_most_mismatches() -> None:
    n = 50
    base = dt.datetime(2024, 1, 1, 12)
    sas = pl.DataFrame({"id": [float(i) for i in range(n)],
                        "ts": [base + dt.timedelta(minutes=i) for i in range(n)],
                        "d": [dt.date(2024, 1, 1)] * n})
    py = pl.DataFrame({"ID": list(range(n)),
                       "TS": [base + dt.timedelta(minutes=i, seconds=1) for i in range(n)],  # 1 s on every row
                       "D": [dt.date(2025, 1, 1) if i == 7 else dt.date(2024, 1, 1) for i in range(n)]})  # 366 d
    result = compare_frames(sas, py, keys=["id"])
    dates = check(result, "date_equivalence")
    assert dates.details["worst"] == "d"
    assert "worst d: 1 of 50, largest shift 366 days" in dates.summary
    assert {c["column"]: c["unit"] for c in dates.details["columns"]} == {"ts": "s", "d": "days"}
    figures = dict(key_figures(result, "date_equivalence"))
    assert figures["max_abs_diff_days"] == 366 and figures["max_abs_diff_s"] == 1
    ranked = result.top_diffs["by_abs"]
    assert [c["kind"] for c in ranked][:1] == ["date"] and {c["kind"] for c in ranked} == {"date", "datetime"}
    assert ranked[0]["diff_text"] == "+366 days" and ranked[1]["diff_text"] == "+1 s"
    assert len([c for c in ranked if c["kind"] == "datetime"]) == 20  # top_n within its kind


def test_top_diffs_rank_amounts_days_and_seconds_separately() -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0, 3.0], "amt": [10.0, 20.0, 30.0],
                        "d": [dt.date(2024, 1, 1)] * 3})
    py = pl.DataFrame({"ID": [1, 2, 3], "AMT": [10.5, 20.0, 1030.0],
                       "D": [dt.date(2024, 1, 2), dt.date(2024, 1, 1), dt.date(2024, 3, 1)]})
    top = compare_frames(sas, py, keys=["id"]).top_diffs
    assert [(c["column"], c["key"]["id"]) for c in top["by_abs"]] == [("amt", 3), ("amt", 1), ("d", 3), ("d", 1)]
    assert [c["kind"] for c in top["by_rel"]] == ["numeric", "numeric", "date", "date"]


# --------------------------------------------------------------------------------------------------------------
# 8.15: long values are cut


def test_long_strings_are_cut_around_their_first_difference_with_length_and_sha256() -> None:
    big = "x" * 300_000
    sas_value, py_value = big + "A" + "y" * 200_000, big + "B" + "y" * 200_000
    sas = pl.DataFrame({"id": [1.0], "memo": [sas_value], "k": ["k" * 1000]})
    py = pl.DataFrame({"ID": [1], "MEMO": [py_value], "K": ["k" * 1000]})
    result = compare_frames(sas, py, keys=["id", "k"])
    data = validate(result)
    cell = col(result, "memo").listing["first_by_key"][0]
    assert cell["truncated"] is True and cell["excerpt_start"] == 300_000 - 20 + 1
    assert len(cell["sas"]) == len(cell["python"]) == TEXT_CAP
    assert cell["sas"].startswith("x" * 20 + "A") and cell["python"].startswith("x" * 20 + "B")
    assert cell["sas_length"] == cell["python_length"] == 500_001
    assert cell["sas_sha256"] == hashlib.sha256(sas_value.encode()).hexdigest()
    assert "500,001 characters" in cell["sas_text"] and len(cell["sas_text"]) < TEXT_CAP + 80
    assert len(cell["key"]["k"]) < TEXT_CAP + 40
    assert len(json.dumps(data)) < 50_000  # not 20 MB
    assert len(render_job(job_of(result))) < 100_000
    one_side = string_pair(None, "z" * 1000)
    assert one_side["sas"] is None and "sas_length" not in one_side and one_side["python_length"] == 1000
    assert string_pair("abc", "abd") == {"sas": "abc", "python": "abd", "sas_text": "'abc'",
                                         "python_text": "'abd'"}


def test_summary_stays_within_a_github_comment_and_points_to_the_index() -> None:
    ok = compare_frames(pl.DataFrame({"id": [1.0]}), pl.DataFrame({"ID": [1]}), keys=["id"])
    bad = compare_frames(pl.DataFrame({"id": [1.0], "a": [1.0]}), pl.DataFrame({"ID": [1], "A": [2.0]}),
                         keys=["id"])
    entries = [ReportEntry(Path(f"r/job_with_a_long_name_{i:04d}/parity.json"),
                           job_of(*([bad] if i % 50 == 0 else [ok]), name=f"job_with_a_long_name_{i:04d}"))
               for i in range(700)]
    text = render_summary(entries)
    assert len(text) <= MAX_CHARS < 65_536
    assert "index.html" in text
    assert text.count("job\\_with\\_a\\_long\\_name\\_0050") + text.count("job_with_a_long_name_0050") >= 1
    small = render_summary(entries[:3])
    assert "index.html" not in small and small.count("✅ pass |") == 2  # small runs list everything
    tiny = render_summary(entries, max_chars=2_000)
    assert len(tiny) <= 2_000 and "Summary cut at 2,000 characters" in tiny


# --------------------------------------------------------------------------------------------------------------
# 8.14: the cost of building the report


def test_building_the_report_runs_no_query_per_column(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-column filters/sorts over the whole diffs frame made wide reports O(columns x rows): 64 s at 2,000
    columns.  Listings now come from one pass over each column's arrays."""
    from parity.checks import core as checks

    calls = {"n": 0, "on": False, "built": 0}
    for name in ("filter", "sort", "select", "with_columns", "with_row_index", "head", "iter_rows"):
        original = getattr(pl.DataFrame, name)

        def counted(self: pl.DataFrame, *a: Any, _original: Any = original, **k: Any) -> Any:
            calls["n"] += calls["on"]
            return _original(self, *a, **k)

        monkeypatch.setattr(pl.DataFrame, name, counted)
    build = checks.build_result

    def counting_build(*a: Any, **k: Any) -> DatasetResult:
        calls["on"] = True
        calls["built"] += 1
        try:
            return build(*a, **k)
        finally:
            calls["on"] = False

    monkeypatch.setattr(checks, "build_result", counting_build)
    result = compare_frames(*wide_frames(120), keys=["id"])
    assert sum(1 for c in result.columns if c.mismatches) == 120
    assert calls["built"] == 1 and calls["n"] < 10, calls


def test_top_k_matches_a_full_sort_with_ties_nan_inf_and_nulls() -> None:
    from parity.checks.core import _top

    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(0, 60))
        values = rng.choice([0.0, 1.0, 2.0, 2.0, 3.0, math.nan, math.inf, -math.inf], n).astype(float)
        positions = np.sort(rng.choice(10_000, n, replace=False))
        k = int(rng.integers(0, 12))
        expected = sorted(((v, p) for v, p in zip(values.tolist(), positions.tolist(), strict=True)
                           if math.isfinite(v)), key=lambda t: (-t[0], t[1]))[:k]
        assert _top(values, positions, k) == expected


def test_many_unequal_rows_list_the_same_as_few(monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns with more unequal rows than GATHER_FROM are read with one gather: the listing is the same."""
    from parity.checks import core as checks

    n = 500
    sas = pl.DataFrame({"id": [float(i) for i in range(n)], "x": [float(i % 7) for i in range(n)],
                        "t": [f"a{i}" for i in range(n)]})
    py = pl.DataFrame({"ID": list(range(n)), "X": [float(i % 7) + (i % 5) for i in range(n)],
                       "T": [f"b{i}" for i in range(n)]})
    gathered = compare_frames(sas, py, keys=["id"])
    monkeypatch.setattr(checks, "GATHER_FROM", 10**9)
    indexed = compare_frames(sas, py, keys=["id"])
    assert [c.to_dict() for c in gathered.columns] == [c.to_dict() for c in indexed.columns]
    assert gathered.top_diffs == indexed.top_diffs
    largest = col(gathered, "x").listing["largest"]
    assert [c["abs_diff"] for c in largest] == [4] * 10 and [c["key"]["id"] for c in largest][:3] == [14, 19, 24]


def test_same_inputs_same_json() -> None:
    sas, py = wide_frames(12, rows=40)
    texts = []
    for _ in range(2):
        result = compare_frames(sas, py, keys=["id"])
        texts.append(dumps(job_of(DatasetResult(**{**result.__dict__, "duration_s": None}))))
    assert texts[0] == texts[1]


def test_max_print_applies_to_sas_files_and_special_missing_keys_are_listed(tmp_path: Path) -> None:
    from tests.helpers import Column, SpecialMissing, write_sas7bdat

    base, other = tmp_path / "base.sas7bdat", tmp_path / "other.sas7bdat"
    ids: list[Any] = [SpecialMissing("A"), 1.0, 2.0, 3.0, 4.0]
    write_sas7bdat(base, [Column("id", "numeric", ids), Column("amt", "numeric", [1.0, 2.0, 3.0, 4.0, 5.0])])
    write_sas7bdat(other, [Column("id", "numeric", ids), Column("amt", "numeric", [9.0, 9.0, 9.0, 9.0, 9.0])])
    result = compare_frames(base, other, keys=["id"], max_print=2)
    listing = col(result, "amt").listing
    assert [c["key"]["id"] for c in listing["first_by_key"]] == [".A", 1]  # SAS order: .A before numbers
    assert [c["key"]["id"] for c in listing["largest"]] == [2, 3]
    validate(result)


def test_mismatch_key_sets_equal_the_naive_key_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key sets come from every row's key text sorted once and shared by columns unequal on the same rows: the
    same sets delta.key_set gives from each column's unequal rows (small sets indexed, large ones gathered)."""
    from parity.checks import core as checks
    from parity.checks.keysets import key_set

    n = 400
    sas = pl.DataFrame({"id": [float(i) for i in range(n)], "k2": [f"k{i % 7}" for i in range(n)],
                        "a": [1.0] * n, "b": [1.0] * n, "c": [1.0] * n, "t": ["x"] * n})
    py = pl.DataFrame({"ID": list(range(n)), "K2": [f"k{i % 7}" for i in range(n)],
                       "A": [2.0 if i % 3 == 0 else 1.0 for i in range(n)],
                       "B": [2.0 if i % 3 == 0 else 1.0 for i in range(n)],  # the same rows as a
                       "C": [2.0 if i == 5 else 1.0 for i in range(n)], "T": ["y" if i % 2 else "x" for i in range(n)]})
    captured: dict[str, Any] = {}
    build = checks.build_result

    def capture(comp: Any, *a: Any, **k: Any) -> DatasetResult:
        captured["comp"] = comp
        return build(comp, *a, **k)

    monkeypatch.setattr(checks, "build_result", capture)
    result = compare_frames(sas, py, keys=["id", "k2"])
    comp = captured["comp"]
    cols = [k.s for k in comp.keys]
    for plan in comp.compared_plans:
        naive = key_set(comp.diffs.filter(pl.col(plan.neq)), cols) if comp.stats[plan.name].mismatches else None
        assert col(result, plan.name).mismatch_keys == naive, plan.name
    assert col(result, "a").mismatch_keys == col(result, "b").mismatch_keys
    assert col(result, "c").mismatch_keys["count"] == 1 and col(result, "t").mismatch_keys["count"] == 200


def test_explanations_share_a_pair_budget_when_many_columns_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    from parity.checks import core as checks

    n = 100
    sas = pl.DataFrame({"id": [float(i) for i in range(n)], **{f"x{j}": [float(i) for i in range(n)] for j in range(4)}})
    py = pl.DataFrame({"ID": list(range(n)), **{f"X{j}": [float(i) + 1 for i in range(n)] for j in range(4)}})
    monkeypatch.setattr(checks, "PAIR_BUDGET", 100)
    monkeypatch.setattr(checks, "MIN_PAIRS", 10)
    result = compare_frames(sas, py, keys=["id"])
    for j in range(4):
        exp = col(result, f"x{j}").explanations
        assert exp and all(e["analysed"] == 25 for e in exp), exp
    monkeypatch.setattr(checks, "MIN_PAIRS", 40)  # never fewer than MIN_PAIRS per column
    assert col(compare_frames(sas, py, keys=["id"]), "x0").explanations[0]["analysed"] == 40
