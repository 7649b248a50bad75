"""Hostile variants of the issue-7 verdict items: each test is a false pass, false fail or crash found by trying
the items the way users hit them (parity run on job folders with real .sas7bdat files, compare_frames with polars
and pandas frames)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.api import compare_frames
from parity.cli.main import main
from parity.errors import SpecError
from parity.testing.sas7bdat_writer import sas_date, sas_datetime, sas_time
from tests.helpers import Column, SpecialMissing, make_job, write_sas7bdat
from tests.test_verdict_engine import column, status

FUTURE = (dt.date.today() + dt.timedelta(days=365)).isoformat()


def run_job(tmp_path: Path, toml: str, sas: list[Column], py: list[Column]) -> tuple[int, dict[str, Any]]:
    """`parity run` on a job folder whose SAS and Python sides are both .sas7bdat files."""
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", toml)
    write_sas7bdat(folder / "sas.sas7bdat", sas)
    write_sas7bdat(folder / "py.sas7bdat", py)
    out = tmp_path / "reports"
    code = main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(out)])
    report = out / "j" / "parity.json"
    return code, (json.loads(report.read_text()) if report.is_file() else {})


def report_column(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in data["datasets"][0]["columns"] if c["name"].casefold() == name.casefold())


# --------------------------------------------------------------------------------------------------------------
# 1. waivers keyed on special missing rows (crashed: float('.'))

A, B = SpecialMissing("A"), SpecialMissing("B")


@pytest.mark.parametrize(("special", "key", "waived"), [
    ("strict", '"."', 1),  # the '.' row only
    ("strict", '".A"', 1),  # the .A row only
    ("strict", '".a"', 1),  # tags are case-insensitive
    ("strict", '".B"', 0),  # no .B row differs: the waiver is stale
    ("strict", '"._"', 0),
    ("as_missing", '"."', 2),  # every missing kind is one key value
    ("as_missing", '".A"', 2),
])
def test_waiver_keyed_on_a_special_missing_row(tmp_path: Path, special: str, key: str, waived: int) -> None:
    toml = f"""
        [datasets.d]
        sas = "sas.sas7bdat"
        python = "py.sas7bdat"
        keys = ["id"]
        numbers.special_missing = "{special}"
        [[datasets.d.waivers]]
        column = "v"
        keys = [{{ id = {key} }}]
        reason = "accepted"
        approver = "R. Owner"
        expires = {FUTURE}
    """
    sas = [Column("ID", "numeric", [1, A, None]), Column("V", "numeric", [1, 2, 3])]
    py = [Column("ID", "numeric", [1, A, None]), Column("V", "numeric", [1, 20, 30])]
    code, data = run_job(tmp_path, toml, sas, py)
    v = report_column(data, "v")
    assert v["mismatches"] == 2 and v["waived"] == waived
    assert code == (0 if waived == 2 else 1)


def test_waiver_key_of_the_wrong_kind_is_a_spec_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = f"""
        [datasets.d]
        sas = "sas.sas7bdat"
        python = "py.sas7bdat"
        keys = ["id"]
        [[datasets.d.waivers]]
        column = "v"
        keys = [{{ id = "seventeen" }}]
        reason = "accepted"
        approver = "R. Owner"
        expires = {FUTURE}
    """
    cols = [Column("ID", "numeric", [1]), Column("V", "numeric", [1])]
    code, _ = run_job(tmp_path, toml, cols, cols)
    assert code == 2
    err = capsys.readouterr().err
    assert "waivers[0].keys" in err and "'seventeen'" in err and "Traceback" not in err


def test_waiver_keys_are_normalised_like_the_keys(tmp_path: Path) -> None:
    # a LENGTH 4 key holds a truncated double; date keys may be ISO text; string keys follow the string rules
    path = tmp_path / "s.sas7bdat"
    write_sas7bdat(path, [Column("ID", "numeric", [1234567.89, 2], length=4),
                          Column("D", "numeric", [sas_date(dt.date(2024, 3, 1))] * 2, format="DATE9"),
                          Column("S", "string", ["Ab", "c"]), Column("V", "numeric", [1, 2])])
    py = pl.DataFrame({"id": [1234567.89, 2.0], "d": [dt.date(2024, 3, 1)] * 2, "s": ["ab", "c"], "v": [9, 2]})

    def waived(key: dict[str, Any]) -> int:
        waiver = {"column": "v", "keys": [key], "reason": "r", "approver": "a", "expires": dt.date(2099, 1, 1)}
        result = compare_frames(path, py, keys=["id", "d", "s"], strings={"ignore_case": True}, waivers=[waiver])
        assert column(result, "v").mismatches == 1
        return column(result, "v").waived

    assert waived({"id": 1234567.89, "d": dt.date(2024, 3, 1), "s": "AB"}) == 1
    assert waived({"id": 1234567.89, "d": "2024-03-01", "s": "ab "}) == 1
    assert waived({"id": 1234567.89, "d": "2024-03-02", "s": "ab"}) == 0
    with pytest.raises(SpecError, match=r"waivers\[0\]\.keys"):
        waived({"id": 1234567.89, "d": "March 1st", "s": "ab"})


# --------------------------------------------------------------------------------------------------------------
# neighbour of 2/4: dates, datetimes and times stored with LENGTH 3-7 (false fail: only plain numbers were truncated)


def test_short_length_dates_datetimes_and_times_are_truncated_like_sas(tmp_path: Path) -> None:
    stamps = [dt.datetime(2024, 3, 1, 8, 0, 0, 123457), dt.datetime(2031, 12, 2, 9, 30, 59, 999999)]
    days = [dt.date(2024, 3, 1), dt.date(1985, 7, 4)]  # LENGTH 3 holds whole days only up to 1982-06-05
    times = [dt.time(8, 0, 0, 250001), dt.time(23, 59, 59, 999999)]
    path = tmp_path / "short.sas7bdat"
    write_sas7bdat(path, [
        Column("ID", "numeric", [1, 2]),
        Column("TS7", "numeric", [sas_datetime(t) for t in stamps], format="DATETIME26.6", length=7),
        Column("TS5", "numeric", [sas_datetime(t) for t in stamps], format="DATETIME20", length=5),
        Column("D3", "numeric", [sas_date(d) for d in days], format="DATE9", length=3),
        Column("T4", "numeric", [sas_time(t) for t in times], format="TIME15.6", length=4),
    ])
    py = pl.DataFrame({"id": [1, 2], "ts7": stamps, "ts5": stamps, "d3": days, "t4": times})
    result = compare_frames(path, py, keys=["id"])
    for name in ("TS7", "TS5", "D3", "T4"):
        assert column(result, name).mismatches == 0, name
    assert status(result, "date_equivalence") == "pass"
    # pandas datetime64 columns alike
    assert compare_frames(path, py.to_pandas(), keys=["id"]).verdict == "pass"
    # a shift larger than what the LENGTH keeps is still found
    moved = py.with_columns(pl.col("ts7") + pl.duration(seconds=1), pl.col("ts5") + pl.duration(minutes=1),
                            pl.col("d3") + pl.duration(days=8),
                            pl.Series("t4", [dt.time(8, 0, 1, 250001), dt.time(23, 59, 58, 999999)]))
    shifted = compare_frames(path, moved, keys=["id"])
    for name in ("TS7", "TS5", "D3", "T4"):
        assert column(shifted, name).mismatches == 2, name
    exact = compare_frames(path, py, keys=["id"], numbers={"storage": "exact"})
    assert column(exact, "TS7").mismatches == 2  # storage = "exact" compares the Python value as it is


# --------------------------------------------------------------------------------------------------------------
# 4. a time of day against a date or datetime: seconds since midnight are not days (false pass)


def test_time_against_date_or_datetime_is_a_type_conflict(tmp_path: Path) -> None:
    path = tmp_path / "t.sas7bdat"
    day = 23000  # 2022-12-21 as a SAS date; 23000 seconds is 06:23:20
    write_sas7bdat(path, [Column("ID", "numeric", [1]), Column("D", "numeric", [day], format="DATE9"),
                          Column("TS", "numeric", [23000.0], format="DATETIME20"),
                          Column("T", "numeric", [23000.0], format="TIME8")])
    six = dt.time(6, 23, 20)
    py = pl.DataFrame({"id": [1], "d": [six], "ts": [dt.timedelta(seconds=23000)], "t": [dt.date(2022, 12, 21)]})
    result = compare_frames(path, py, keys=["id"])
    assert status(result, "schema") == "fail" and result.verdict == "fail"
    for name in ("D", "TS", "T"):
        assert column(result, name).status == "type_conflict", name
        assert "not comparable" in (column(result, name).note or "")
    # a time of day taken from a Python datetime is still compared (SAS time vs Python Datetime)
    ok = compare_frames(path, pl.DataFrame({"id": [1], "t": [dt.datetime(2024, 1, 1, 6, 23, 20)]}), keys=["id"],
                        ignore=["d", "ts"])
    assert column(ok, "T").mismatches == 0 and column(ok, "T").status == "compared"
    with pytest.raises(SpecError, match="not comparable"):  # as a key it is a spec error
        compare_frames(path, py, keys=["d"])


def test_default_tolerance_key_in_another_case_says_so() -> None:
    sas = pl.DataFrame({"id": [1], "d": [dt.date(2024, 1, 1)]})
    with pytest.raises(SpecError, match="'default_date' in lower case"):
        compare_frames(sas, sas, keys=["id"], tolerance={"DEFAULT_DATE": {"method": "absolute", "criterion": 1}})


# --------------------------------------------------------------------------------------------------------------
# 1 and 5 with .xpt: special missing values were lost (read_xport has no user_missing), so .A equalled '.'


def write_xpt(path: Path, ids: list[float], values: list[float | str | None]) -> None:
    """An XPORT file with ID and X; a string in ``values`` is a special missing tag ('A'-'Z', '_')."""
    import pandas as pd
    import pyreadstat

    frame = pd.DataFrame({"ID": ids, "X": [v if isinstance(v, float) else float("nan") for v in values]})
    pyreadstat.write_xport(frame, str(path))
    data = bytearray(path.read_bytes())
    start = data.index(b"HEADER RECORD*******OBS") + 80
    for row, value in enumerate(values):  # rows of two 8-byte IBM doubles; a missing value is its tag + 7 zeros
        if isinstance(value, str):
            cell = start + row * 16 + 8
            assert data[cell:cell + 8] == b"." + bytes(7)
            data[cell] = ord(value)
    path.write_bytes(bytes(data))


def test_xpt_special_missing_values_are_kept(tmp_path: Path) -> None:
    sas = tmp_path / "sas.xpt"
    write_xpt(sas, [1.0, 2.0, 3.0, 4.0], ["A", None, "_", 5.0])
    py = pl.DataFrame({"id": [1, 2, 3, 4], "x": [None, None, None, 5.0]})
    strict = compare_frames(sas, py, keys=["id"])
    assert column(strict, "X").mismatches == 2  # .A and ._ vs null; . vs null is equal
    assert compare_frames(sas, py, keys=["id"], numbers={"special_missing": "as_missing"}).verdict == "pass"
    other = tmp_path / "py.xpt"  # both sides XPORT: .A vs .B differ, and they are distinct keys
    write_xpt(other, [1.0, 2.0, 3.0, 4.0], ["B", None, "_", 5.0])
    assert column(compare_frames(sas, other, keys=["id"]), "X").mismatches == 1
    keyed = compare_frames(sas, other, keys=["x"])
    assert keyed.rows["matched"] == 3 and keyed.rows["only_in_sas"] == 1 and keyed.rows["only_in_python"] == 1
    assert status(keyed, "key_uniqueness") == "pass"


# --------------------------------------------------------------------------------------------------------------
# neighbours: key semantics a SAS MERGE/BY would apply (locked down; all held)


def test_key_values_match_as_sas_matches_them(tmp_path: Path) -> None:
    path = tmp_path / "k.sas7bdat"
    write_sas7bdat(path, [
        Column("N", "numeric", [1, 2, 8193, 4]),  # LENGTH 3 stores 8193 as 8192
        Column("S", "string", ["a", " b", None, "d"]),  # a blank key is the character missing value
        Column("V", "numeric", [1, 2, 3, 4]),
    ])
    table = {"n": [1, 2, 8193, 4], "s": ["a  ", " b", "", "d"], "v": [1, 2, 3, 4]}
    path3 = tmp_path / "k3.sas7bdat"
    write_sas7bdat(path3, [Column("N", "numeric", [1, 2, 8193, 4], length=3),
                           Column("S", "string", ["a", " b", None, "d"]), Column("V", "numeric", [1, 2, 3, 4])])
    for sas in (path, path3):
        result = compare_frames(sas, pl.DataFrame(table), keys=["n", "s"])
        assert result.rows["matched"] == 4 and result.verdict == "pass"  # trailing blanks never count
        assert compare_frames(sas, pl.DataFrame({**table, "s": ["a", " b", None, "d"]}), keys=["n", "s"]).verdict \
            == "pass"  # None = '' (blank is missing)
    leading = compare_frames(path, pl.DataFrame({**table, "s": ["a", "b", "", "d"]}), keys=["n", "s"])
    assert leading.rows["only_in_sas"] == 1  # leading blanks count: ' b' is not 'b'
    fuzzy = compare_frames(path, pl.DataFrame({**table, "n": [1.0000000001, 2, 8193, 4]}), keys=["n", "s"])
    assert fuzzy.rows["only_in_sas"] == 1  # BY values match exactly: no fuzz on keys


def test_temporal_tolerance_error_names_the_right_origin() -> None:
    sas = pl.DataFrame({"id": [1], "t": [dt.time(1)], "d": [dt.date(2024, 1, 1)]})
    with pytest.raises(SpecError, match="distance from midnight") as info:
        compare_frames(sas, sas, keys=["id"], tolerance={"T": {"method": "percent", "criterion": 1}})
    assert str(info.value).startswith("<assert_parity arguments>: ")  # the API's errors name its arguments
    with pytest.raises(SpecError, match=r"distance from the SAS epoch.*in days"):
        compare_frames(sas, sas, keys=["id"], tolerance={"default_date": {"method": "relative", "criterion": 1e-5}})


# --------------------------------------------------------------------------------------------------------------
# 3. signed zeros, subnormals, pandas NaN and infinities under every method


@pytest.mark.parametrize("tolerance", [
    {}, {"method": "absolute", "criterion": 1e300}, {"method": "relative", "criterion": 0.9, "delta": 1.0},
    {"method": "percent", "criterion": 1e6}, {"method": "relative", "criterion": -1000},
])
def test_zeros_nan_and_infinities_from_pandas(tolerance: dict[str, Any]) -> None:
    import pandas as pd

    inf, nan = float("inf"), float("nan")
    sas = pd.DataFrame({"id": range(7), "x": [0.0, -0.0, nan, inf, -inf, 1e308, 5e-324]})
    py = pd.DataFrame({"id": range(7), "x": [-0.0, 0.0, nan, inf, -inf, inf, 5e-324]})
    result = compare_frames(sas, py, keys=["id"], tolerance={"default": tolerance} if tolerance else None)
    # 0 = -0 and NaN = NaN (both missing); an infinity equals nothing, not even the same infinity (SAS has none)
    assert column(result, "x").mismatches == 3
    assert result.verdict == "fail"
    json.dumps(result.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------------------------------------------
# 6 and 10 with .xpt: a wlatin1 XPORT file (no encoding recorded) read with an encoding override collates by cp1252


def test_wlatin1_xpt_with_an_encoding_override_sorts_by_cp1252_bytes(tmp_path: Path) -> None:
    import pandas as pd
    import pyreadstat

    path = tmp_path / "w.xpt"
    pyreadstat.write_xport(pd.DataFrame({"N": [1.0, 2.0, 3.0], "S": ["a", "X", "Y"]}), str(path))
    data = bytearray(path.read_bytes())
    start = data.index(b"HEADER RECORD*******OBS") + 80
    for row, byte in ((1, 0x80), (2, 0xE9)):  # rows of an 8-byte number and one character: '€' and 'é' in cp1252
        assert data[start + row * 9 + 8] in b"XY"
        data[start + row * 9 + 8] = byte
    path.write_bytes(bytes(data))
    in_sas_order = pl.DataFrame({"n": [1, 2, 3], "s": ["a", "€", "é"]})
    result = compare_frames(path, in_sas_order, sort_by=["s"], encoding="cp1252")
    # '€' and 'é' are one byte each in the cp1252 file: they fit its LENGTH 1 (no schema warning)
    assert result.verdict == "pass" and status(result, "sort_order") == "pass" and status(result, "schema") == "pass"
    code_points = pl.DataFrame({"n": [1, 3, 2], "s": ["a", "é", "€"]})
    assert status(compare_frames(path, code_points, sort_by=["s"], encoding="cp1252"), "sort_order") == "fail"


# --------------------------------------------------------------------------------------------------------------
# 1 and the gate: under strict, '.', '.A' and '._' keys are different rows in every key set (mismatch_keys,
# only-in keys), so a difference that moves from the '.' row to the '.A' row is a new regression, not the same one


def test_gate_tells_special_missing_keys_apart(tmp_path: Path) -> None:
    from tests.test_waivers_and_delta import run_report

    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.csv"
        keys = ["id"]
    """, files={"py.csv": "id,amt\n1,1\n.A,2\n.,30\n"})
    write_sas7bdat(folder / "d.sas7bdat", [Column("ID", "numeric", [1, A, None]),
                                           Column("AMT", "numeric", [1, 2, 3])])
    assert run_report(jobs, tmp_path / "base")[0] == 1  # the '.' row differs
    assert run_report(jobs, tmp_path / "same", "--baseline", str(tmp_path / "base"))[0] == 0  # not worse
    (folder / "py.csv").write_text("id,amt\n1,1\n.A,20\n.,3\n")  # now the '.A' row differs instead
    code, head = run_report(jobs, tmp_path / "head", "--baseline", str(tmp_path / "base"))
    said = "\n".join(c["what"] for c in head["delta"]["changes"] if c["kind"] == "worse")
    assert "1 mismatching key(s) that did not mismatch in the baseline" in said
    assert code == 1
