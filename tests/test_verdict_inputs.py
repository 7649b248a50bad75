"""Inputs an approver's verdict rests on: XPORT special missing values, CSV Python outputs typed by their SAS
columns, conversions that change values said on the column, and every dataset setting honoured by the API."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from parity.api import compare_frames
from parity.assertion import assert_parity
from parity.errors import InputError, ParityError, SpecError
from parity.model import DatasetResult
from parity.run.runner import run_job_folder
from parity.sources.frames import read_python_file
from parity.sources.sas import read_sas
from parity.sources.sasheader import xport_missing_tags, xport_variables
from parity.testing.sas7bdat_writer import sas_date, sas_datetime
from tests.helpers import Column, SpecialMissing, make_job, write_sas7bdat

ROOT = Path(__file__).resolve().parents[1]
CORPUS = next((p for p in (ROOT.parent / "shared" / "corpus", ROOT.parents[1] / "shared" / "corpus") if p.is_dir()),
              ROOT.parent / "shared" / "corpus")
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())


def status(result: DatasetResult, name: str) -> str:
    check = result.check(name)
    assert check is not None, name
    return check.status


def details(result: DatasetResult, name: str) -> Any:
    check = result.check(name)
    assert check is not None, name
    return check.details


def column(result: DatasetResult, name: str) -> Any:
    return next(c for c in result.columns if c.name.casefold() == name.casefold())


# --------------------------------------------------------------------------------------------------------------
# item 2: XPORT keeps .A-.Z and ._


def write_xport_with_tags(path: Path, values: list[float | str | None], version: int = 8) -> None:
    """An XPORT file (pyreadstat's writer) whose numeric column X holds ``values``; a one-letter string is the
    special missing value with that tag, written as SAS does: the tag's byte followed by seven zero bytes."""
    import pyreadstat

    numbers = [np.nan if v is None or isinstance(v, str) else v for v in values]
    frame = pd.DataFrame({"X": numbers, "ID": [float(i) for i in range(1, len(values) + 1)]})
    pyreadstat.write_xport(frame, str(path), file_format_version=version)
    data = bytearray(path.read_bytes())
    assert [(v.name, v.position) for v in xport_variables(path)] == [("X", 0), ("ID", 8)]
    start = data.find(b"HEADER RECORD*******OBS") + 80  # the observations follow the OBS header record
    for row, value in enumerate(values):
        cell = start + row * 16
        assert data[cell:cell + 8] != b"", "row outside the file"
        if isinstance(value, str):
            assert data[cell:cell + 8] == b"." + bytes(7)
            data[cell] = ord(value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("version", [5, 8])
def test_xport_keeps_special_missing_values(tmp_path: Path, version: int) -> None:
    path = tmp_path / "d.xpt"
    write_xport_with_tags(path, [1.0, "A", None, "_", "Z", 6.0], version)
    table = read_sas(path)
    assert table.frame["X"].to_list() == [1.0, None, None, None, None, 6.0]
    assert table.tags["X"].to_list() == [None, "A", None, "_", "Z", None]
    assert {c.name: c.special_missing for c in table.columns}["X"] == ("A", "Z", "_")
    # strict (the default): .A is not the Python port's plain missing
    py = pl.DataFrame({"ID": [1, 2, 3, 4, 5, 6], "X": [1.0, None, None, None, None, 6.0]})
    strict = compare_frames(path, py, keys=["ID"])
    assert strict.verdict == "fail"
    assert column(strict, "X").mismatches == 3
    assert column(strict, "X").explanations[0]["code"] == "special_missing"
    assert compare_frames(path, py, keys=["ID"], numbers={"special_missing": "as_missing"}).verdict == "pass"


def test_xport_special_missing_against_sas7bdat_and_xport(tmp_path: Path) -> None:
    xpt = tmp_path / "d.xpt"
    write_xport_with_tags(xpt, [1.0, "A", None])
    same = tmp_path / "same.sas7bdat"
    write_sas7bdat(same, [Column("X", "numeric", [1.0, SpecialMissing("A"), None]),
                          Column("ID", "numeric", [1, 2, 3])])
    other = tmp_path / "other.sas7bdat"
    write_sas7bdat(other, [Column("X", "numeric", [1.0, SpecialMissing("B"), None]),
                           Column("ID", "numeric", [1, 2, 3])])
    assert compare_frames(same, xpt, keys=["ID"]).verdict == "pass"  # the Python side as .xpt keeps tags too
    assert compare_frames(xpt, same, keys=["ID"]).verdict == "pass"
    assert compare_frames(xpt, other, keys=["ID"]).verdict == "fail"  # .A is not .B


def test_xport_tag_scan_agrees_and_serves_as_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d.xpt"
    write_xport_with_tags(path, ["B", 2.0, "_", None, 0.0])
    tags, ids = xport_missing_tags(path, 5)
    assert ids is not None and tags is not None
    assert tags.tolist() == ["B", "", "_", "", ""]  # 0.0 (all zero bytes) and "." are not tags
    assert ids.tolist() == [""] * 5
    import pyreadstat._readstat_parser as parser

    def changed_api(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("parser_entry_point() got an unexpected keyword argument 'user_missing'")

    monkeypatch.setattr(parser, "parser_entry_point", changed_api)
    table = read_sas(path)  # pyreadstat's read_xport + the byte scan: the tags are still there
    assert table.tags["X"].to_list() == ["B", None, "_", None, None]
    assert table.frame["X"].to_list() == [None, 2.0, None, None, 0.0]


@pytest.mark.corpus
def test_xport_tag_scan_reads_every_corpus_xport() -> None:
    files = sorted(p for p in CORPUS.rglob("*.xpt")) if CORPUS.is_dir() else []
    if not files:
        pytest.skip(f"no SAS corpus at {CORPUS}")
    read = 0
    for path in files:
        try:
            table = read_sas(path)
        except InputError:
            continue
        scanned = xport_missing_tags(path, table.frame.height)
        assert len(scanned) == len(table.columns), path
        for info, tags in zip(table.columns, scanned, strict=True):
            expected = table.tags.get(info.name)
            got = [t or None for t in tags.tolist()] if tags is not None else None
            if expected is None:
                assert got is None or not any(got), (path, info.name)
            else:
                assert got == expected.to_list(), (path, info.name)
        read += 1
    assert read > 100


# --------------------------------------------------------------------------------------------------------------
# item 7: conversions that change values are said on the column, with how many values they changed


def test_length_3_truncation_is_reported_with_its_count(tmp_path: Path) -> None:
    path = tmp_path / "len.sas7bdat"
    write_sas7bdat(path, [Column("id", "numeric", [1, 2, 3]),
                          Column("x", "numeric", [8191.0, 1.5, 100.0], length=3)])
    py = pl.DataFrame({"id": [1, 2, 3], "x": [8191.9, 1.5, 100.0]})
    result = compare_frames(path, py, keys=["id"])
    assert result.verdict == "pass"  # SAS stored 8191.9 as 8191 in 3 bytes: a correct port
    note = column(result, "x").note
    assert "LENGTH 3" in note and "1 value changed" in note
    conversions = result.check("schema").details["conversions"]  # type: ignore[union-attr]
    assert conversions == [{"column": "x", "note": note, "changes": [
        {"conversion": "storage_truncation", "values": 1, "text": conversions[0]["changes"][0]["text"]}]}]
    assert "x: 1 value storage_truncation" in result.check("schema").summary  # type: ignore[union-attr]
    exact = compare_frames(path, py, keys=["id"], numbers={"storage": "exact"})
    assert exact.verdict == "fail" and column(exact, "x").note is None


@pytest.mark.parametrize(("dtype", "big"), [(pl.Int64, 2**53 + 1), (pl.UInt64, 2**63 + 1025)])
def test_integers_beyond_2_53_are_reported(dtype: pl.DataType, big: int) -> None:
    sas = pl.DataFrame({"id": [1.0, 2.0, 3.0], "n": [float(big), 5.0, float(2**53)]})
    py = pl.DataFrame({"id": [1, 2, 3], "n": [big, 5, 2**53]}, schema={"id": pl.Int64, "n": dtype})
    result = compare_frames(sas, py, keys=["id"])
    note = column(result, "n").note
    assert "2^53" in note and "1 value changed" in note, note
    small = compare_frames(sas.head(2).tail(1), py.head(2).tail(1), keys=["id"])
    assert column(small, "n").note is None


def test_timezone_aware_datetimes_are_reported() -> None:
    wall = [dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 7, 1, 10), None]
    sas = pl.DataFrame({"id": [1.0, 2.0, 3.0], "t": [sas_datetime(w) if w else None for w in wall]})
    paris = pl.DataFrame({"id": [1, 2, 3], "t": wall}).with_columns(pl.col("t").dt.replace_time_zone("Europe/Paris"))
    result = compare_frames(sas, paris, keys=["id"], formats={"t": "DATETIME20."})
    assert result.verdict == "pass"
    note = column(result, "t").note
    assert "Europe/Paris" in note and "2 values changed" in note
    utc = paris.with_columns(pl.col("t").dt.convert_time_zone("UTC").dt.replace_time_zone(None)
                             .dt.replace_time_zone("UTC"))
    assert "UTC" not in (column(compare_frames(sas, utc, keys=["id"], formats={"t": "DATETIME20."}), "t").note
                         or "")  # UTC wall clock is the instant: nothing changed, nothing said


def test_nanoseconds_and_nan_are_reported() -> None:
    base = dt.datetime(2024, 1, 1, 10)
    sas = pl.DataFrame({"id": [1.0, 2.0], "t": [sas_datetime(base), sas_datetime(base)], "v": [1.0, None]})
    stamps = pl.Series([base, base]).cast(pl.Datetime("ns")) + pl.Series([1, 0]).cast(pl.Duration("ns"))
    py = pl.DataFrame({"id": [1, 2], "t": stamps, "v": [1.0, float("nan")]})
    result = compare_frames(sas, py, keys=["id"], formats={"t": "DATETIME20."})
    assert "nanoseconds" in column(result, "t").note and "1 value changed" in column(result, "t").note
    assert "NaN" in column(result, "v").note and "1 value changed" in column(result, "v").note
    assert result.verdict == "pass"


# --------------------------------------------------------------------------------------------------------------
# item 11: a CSV Python output is read as text and converted to the types of the SAS columns


def sas_file(tmp_path: Path) -> Path:
    path = tmp_path / "sas.sas7bdat"
    write_sas7bdat(path, [
        Column("id", "string", ["01234", "00007", "x"], length=5),
        Column("amt", "numeric", [1234.5, SpecialMissing("A"), -12.0], format="COMMA10.2"),
        Column("d", "numeric", [sas_date(dt.date(2024, 1, 31))] * 3, format="DATE9."),
        Column("dd", "numeric", [sas_date(dt.date(2024, 2, 1)), None, None], format="DDMMYY10."),
        Column("ts", "numeric", [sas_datetime(dt.datetime(2024, 1, 31, 13, 45))] * 2
               + [sas_datetime(dt.datetime(2024, 1, 31, 13, 45, 0, 500000))], format="DATETIME22.1"),
        Column("t", "numeric", [13 * 3600 + 45 * 60, 13 * 3600 + 45 * 60, 25 * 3600], format="TIME8."),
    ])
    return path


CSV = """id,AMT,d,dd,ts,t
01234,"1,234.50",31JAN2024,01/02/2024,2024-01-31T13:45:00,13:45:00
00007,.A,2024-01-31,,31JAN2024:13:45:00,1:45 PM
x,(12),31JAN24,.,2024-01-31 13:45:00.5+02:00,25:00:00
"""


def test_csv_columns_take_the_types_of_their_sas_columns(tmp_path: Path) -> None:
    sas = sas_file(tmp_path)
    (tmp_path / "py.csv").write_text(CSV)
    table = read_python_file(tmp_path / "py.csv", sas=read_sas(sas))
    assert table.frame["id"].to_list() == ["01234", "00007", "x"]  # never 1234
    assert table.frame["AMT"].to_list() == [1234.5, None, -12.0]
    assert table.tags["AMT"].to_list() == [None, "A", None]
    assert table.frame["d"].to_list() == [dt.date(2024, 1, 31)] * 3
    assert table.frame["dd"].to_list() == [dt.date(2024, 2, 1), None, None]  # DDMMYY: day first
    assert table.frame["t"].dt.total_seconds().to_list() == [49500, 49500, 90000]
    result = compare_frames(sas, tmp_path / "py.csv", keys=["id"])
    assert result.verdict == "pass", [(c.name, c.summary) for c in result.checks]
    assert "UTC offset" in column(result, "ts").note and "1 value changed" in column(result, "ts").note


def test_csv_month_first_dates_and_number_forms(tmp_path: Path) -> None:
    sas = tmp_path / "s.sas7bdat"
    write_sas7bdat(sas, [Column("k", "numeric", [1, 2, 3, 4]),
                         Column("d", "numeric", [sas_date(dt.date(2024, 1, 2))] * 4, format="MMDDYY10."),
                         Column("p", "numeric", [0.125, 1e6, -3.0, None], format="PERCENT8.1"),
                         Column("flag", "numeric", [1, 0, 1, None])])
    (tmp_path / "p.csv").write_text('k,d,p,flag\n1,01/02/2024,12.5%,True\n2,2024-01-02,"$1,000,000",false\n'
                                    '3,20240102,-3,1\n4,23377,,\n')
    result = compare_frames(sas, tmp_path / "p.csv", keys=["k"])
    assert result.verdict == "pass", [(c.name, c.summary) for c in result.checks]


def test_csv_text_that_does_not_convert_is_a_column_finding(tmp_path: Path) -> None:
    sas = sas_file(tmp_path)
    (tmp_path / "bad.csv").write_text(CSV.replace("(12)", "twelve").replace("31JAN24", "2024-13-45"))
    result = compare_frames(sas, tmp_path / "bad.csv", keys=["id"])
    assert result.verdict == "fail" and status(result, "schema") == "fail"
    amt = column(result, "amt")
    assert amt.status == "type_conflict"
    assert "'twelve' in data row 3" in amt.note and "1 of 3 values" in amt.note
    assert "'2024-13-45'" in column(result, "d").note
    assert column(result, "ts").status == "compared"  # the other columns are still compared
    # as a key, text that does not convert is a spec error (exit 2), with the same message
    sas_num = tmp_path / "num.sas7bdat"
    write_sas7bdat(sas_num, [Column("id", "numeric", [1, 2]), Column("v", "numeric", [1, 2])])
    (tmp_path / "k.csv").write_text("id,v\n1,1\nB7,2\n")
    with pytest.raises(SpecError, match=r"key 'id'.*'B7' in data row 2"):
        compare_frames(sas_num, tmp_path / "k.csv", keys=["id"])


def test_csv_python_file_in_a_job_uses_rename_and_exits_cleanly(tmp_path: Path) -> None:
    folder = make_job(tmp_path, "j", """
        [datasets.d]
        sas = "sas.sas7bdat"
        python = "py.csv"
        keys = ["id"]
        rename = { amt = "amount" }
    """)
    write_sas7bdat(folder / "sas.sas7bdat", [Column("id", "string", ["01", "02"], length=2),
                                             Column("amt", "numeric", [1.0, 2.5])])
    (folder / "py.csv").write_text("id,amount\n01,1\n02,2.50\n")
    result = run_job_folder(folder)
    assert result.verdict == "pass", [(c.name, c.summary) for c in result.datasets[0].checks]
    (folder / "py.csv").write_text("id,amount\n01,1\n02,n/a\n")
    failed = run_job_folder(folder)
    assert failed.verdict == "fail"
    assert "'n/a'" in column(failed.datasets[0], "amt").note
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(failed.to_dict(), SCHEMA)


# --------------------------------------------------------------------------------------------------------------
# item 13: every dataset setting works through the API with a SAS path, or is refused clearly


def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "base.sas7bdat"
    write_sas7bdat(path, [
        Column("id", "numeric", [1, 2, 3]),
        Column("name", "string", ["ann", "bob", "cy"]),
        Column("amt", "numeric", [10.0, 20.0, 30.0]),
        Column("ts", "numeric", [sas_datetime(dt.datetime(2024, 1, 1, 8))] * 3, format="DATETIME26.6"),
        Column("day", "numeric", [sas_date(dt.date(2024, 1, 1))] * 3),
    ])
    return path


def python_frame(**changes: Any) -> pl.DataFrame:
    data: dict[str, Any] = {"id": [1, 2, 3], "name": ["ann", "bob", "cy"], "amt": [10.0, 20.0, 30.0],
                            "ts": [dt.datetime(2024, 1, 1, 8)] * 3, "day": [dt.date(2024, 1, 1)] * 3}
    data.update(changes)
    return pl.DataFrame(data)


WAIVER = {"column": "amt", "reason": "accepted", "approver": "A. Approver", "expires": dt.date(2999, 1, 1)}
SETTINGS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("keys", {"id": [3, 2, 1], "name": ["cy", "bob", "ann"], "amt": [30.0, 20.0, 10.0]}, {"keys": ["id"]}),
    ("ignore", {"amt": [10.0, 20.0, 99.0]}, {"ignore": ["amt"]}),
    ("tolerance", {"amt": [10.0, 20.0, 30.001]}, {"tolerance": {"amt": {"method": "absolute", "criterion": 0.01}}}),
    ("strings", {"name": ["ANN", "bob", "cy"]}, {"strings": {"ignore_case": True}}),
    ("numbers", {"amt": [10.0, 20.0, None]}, {"numbers": {"nomissing": True}}),
    ("nomissing", {"amt": [10.0, 20.0, None]}, {"nomissing": True}),
    ("dates", {"ts": [dt.datetime(2024, 1, 1, 8, 0, 0, 300)] * 3}, {"dates": {"datetime_precision": "ms"}}),
    ("severity", {"amt": [10.0, 20.0, 99.0]}, {"severity": {"numeric_tolerance": "warn"}}),
    ("waivers", {"amt": [10.0, 20.0, 99.0]}, {"waivers": [WAIVER]}),
]


@pytest.mark.filterwarnings("ignore::parity.assertion.ParityWarning")
@pytest.mark.parametrize(("setting", "changes", "options"), SETTINGS, ids=[s[0] for s in SETTINGS])
def test_each_setting_applies_to_a_sas_path(tmp_path: Path, setting: str, changes: dict[str, Any],
                                            options: dict[str, Any]) -> None:
    path = settings_file(tmp_path)
    py = python_frame(**changes)
    dated = {"formats": {"day": "DATE9."}}  # else the attributes check warns: day has no date format
    assert compare_frames(path, py, **dated).verdict == "fail", setting
    # a failure downgraded by severity is a warning (the warn verdict); every other setting makes it pass
    expected = "warn" if setting == "severity" else "pass"
    assert compare_frames(path, py, **dated, **options).verdict == expected, setting
    assert assert_parity(path, py, **dated, **options).verdict == expected


def test_every_dataset_setting_has_an_api_test() -> None:
    from parity.spec import DATASET_KEYS

    tested_elsewhere = {"sas", "python", "sort_by", "rename", "top_n", "formats", "encoding", "catalog",
                        "max_print", "table",  # max_print: tests/test_listing.py; table: tests/test_spark_*.py
                        "contract", "quality"}  # tests/test_contract.py, tests/test_quality.py (compare_frames too)
    assert {s[0] for s in SETTINGS} | tested_elsewhere == DATASET_KEYS


def test_sort_by_rename_and_top_n_apply_to_a_sas_path(tmp_path: Path) -> None:
    path = settings_file(tmp_path)
    reversed_rows = python_frame(id=[3, 2, 1])
    unordered = compare_frames(path, reversed_rows, keys=["id"], ignore=["name", "amt"])
    # without sort_by another order is information: the check passes and its details count the rows
    assert status(unordered, "sort_order") == "pass" and details(unordered, "sort_order")["inversions"] == 2
    assert status(compare_frames(path, reversed_rows, keys=["id"], ignore=["name", "amt"], sort_by=["id"]),
                  "sort_order") == "fail"
    renamed = python_frame().rename({"amt": "amount"})
    assert compare_frames(path, renamed).verdict == "fail"
    assert compare_frames(path, renamed, rename={"amt": "amount"}, formats={"day": "DATE9."}).verdict == "pass"
    many = python_frame(amt=[11.0, 21.0, 31.0])
    assert len(compare_frames(path, many, top_n=1).top_diffs["by_abs"]) == 1
    assert len(compare_frames(path, many).top_diffs["by_abs"]) == 3


def test_formats_apply_to_a_sas_path_and_to_a_dataframe(tmp_path: Path) -> None:
    path = settings_file(tmp_path)
    plain = compare_frames(path, python_frame())
    assert "no date/time format" in column(plain, "day").note
    with_format = compare_frames(path, python_frame(), formats={"day": "DATE9."})
    assert column(with_format, "day").kind == "date" and column(with_format, "day").note is None
    assert {c["name"]: c["format"] for c in with_format.sas["columns_meta"]}["day"] == "DATE9."
    frame = pl.DataFrame({"day": [sas_date(dt.date(2024, 1, 1))]})
    as_frame = compare_frames(frame, pl.DataFrame({"day": [dt.date(2024, 1, 1)]}), formats={"day": "DATE9."})
    assert as_frame.verdict == "pass" and column(as_frame, "day").note is None
    with pytest.raises(InputError, match="formats names 'nope'"):
        compare_frames(path, python_frame(), formats={"nope": "DATE9."})
    with pytest.raises(SpecError, match="formats= names 'nope'"):
        compare_frames(frame, frame, formats={"nope": "DATE9."})


def test_encoding_applies_to_a_sas_path(tmp_path: Path) -> None:
    path = tmp_path / "enc.sas7bdat"
    write_sas7bdat(path, [Column("s", "string", ["café"])])
    py = pl.DataFrame({"s": ["café"]})
    assert compare_frames(path, py).verdict == "pass"
    misread = compare_frames(path, py, encoding="latin1")  # UTF-8 bytes read as latin1: the setting took effect
    assert misread.verdict == "fail" and misread.sas["encoding"] == "latin1"
    with pytest.raises(SpecError, match="unknown encoding"):
        compare_frames(path, py, encoding="no-such-codec")


def test_catalog_applies_to_a_sas_path(tmp_path: Path) -> None:
    data = CORPUS / "pyreadstat" / "test_data" / "missing_data" / "missing_test.sas7bdat"
    catalog = CORPUS / "pyreadstat" / "test_data" / "missing_data" / "missing_formats.sas7bcat"
    if not (data.is_file() and catalog.is_file()):
        pytest.skip("corpus catalog not present")
    result = compare_frames(data, data, catalog=catalog)
    assert result.verdict == "pass"  # the values stay raw numbers: the catalog's labels are provenance only
    assert result.sas["catalog"] == str(catalog.resolve()) and result.sas["value_labels"] == {"var1": "A"}
    import pyreadstat  # an XPORT SAS side gets the catalog's value labels matched by format name too

    pyreadstat.write_xport(pd.DataFrame({"var1": [1.0], "x": [2.0]}), str(tmp_path / "c.xpt"),
                           variable_format={"var1": "A."})
    xpt = compare_frames(tmp_path / "c.xpt", pl.DataFrame({"var1": [1.0], "x": [2.0]}), catalog=catalog)
    assert xpt.verdict == "pass" and xpt.sas["value_labels"] == {"var1": "A"}


def test_catalog_is_refused_for_a_dataframe_sas_side(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1.0]})
    (tmp_path / "f.sas7bcat").write_bytes(b"x")
    with pytest.raises(SpecError, match=r"catalog= applies to a \.sas7bdat file"):
        compare_frames(frame, frame, catalog=str(tmp_path / "f.sas7bcat"))


def test_unknown_and_positional_settings_are_refused(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1.0]})
    with pytest.raises(SpecError, match="unknown key 'tolerence'"):
        compare_frames(frame, frame, tolerence={})
    with pytest.raises(TypeError):
        compare_frames(frame, frame, python="x.csv")  # type: ignore[misc]
    with pytest.raises(ParityError):
        assert_parity(frame, frame, catalog=str(tmp_path / "missing.sas7bcat"))


def test_a_parquet_sas_side_is_taken_in_sas_units(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2], "name": ["a", "b"], "day": [dt.date(2024, 1, 1), None]})
    frame.write_parquet(tmp_path / "sas.parquet")
    result = compare_frames(tmp_path / "sas.parquet", frame, keys=["id"])
    assert result.verdict == "pass"
    assert column(result, "name").status == "compared" and column(result, "day").kind == "date"


# --------------------------------------------------------------------------------------------------------------
# item 14: variable attributes, as PROC COMPARE's listing of common variables with differing attributes


def write_xpt(path: Path, frame: pd.DataFrame, formats: dict[str, str], informats: dict[str, str],
              labels: dict[str, str]) -> Path:
    import pyreadstat

    pyreadstat.write_xport(frame, str(path), variable_format=formats, variable_informat=informats,
                           column_labels=labels)
    return path


def attribute_pair(tmp_path: Path) -> tuple[Path, Path]:
    frame = pd.DataFrame({"id": [1.0, 2.0], "d": [23406.0, 23407.0], "amt": [1.5, 2.5], "s": ["a", "b"]})
    base = write_xpt(tmp_path / "base.xpt", frame, {"d": "DATE9.", "amt": "COMMA10.2"},
                     {"d": "DATE9.", "amt": "COMMA10."}, {"d": "Visit date", "amt": "Amount"})
    other = write_xpt(tmp_path / "other.xpt", frame, {"d": "date9", "amt": "8.2"},
                      {"d": "ANYDTDTE10.", "amt": "COMMA10."}, {"d": "Visit date", "amt": "Paid amount"})
    return base, other


def test_attributes_of_two_sas_files_are_listed_and_warn(tmp_path: Path) -> None:
    from parity.model import JobResult
    from parity.report.html import render_job
    from parity.report.text import check_text
    from parity.run.runner import tool_info

    base, other = attribute_pair(tmp_path)
    assert compare_frames(base, base, keys=["id"]).check("attributes").status == "pass"  # type: ignore[union-attr]
    result = compare_frames(base, other, keys=["id"])
    assert result.verdict == "warn" and status(result, "attributes") == "warn"
    check = result.check("attributes")
    assert check is not None
    listing = {r["column"]: r for r in check.details["variables"]}
    assert sorted(listing) == ["amt", "d"]  # DATE9. = date9: formats compare without case and dot
    assert listing["d"]["differs"] == ["informat"]
    assert listing["amt"]["differs"] == ["format", "label"]
    assert listing["amt"]["sas"]["label"] == "Amount" and listing["amt"]["python"]["label"] == "Paid amount"
    assert "(d: informat DATE9 vs ANYDTDTE10; 1 more)" in check.summary
    text = check_text(result, check)
    assert "d: informat DATE9 vs ANYDTDTE10" in text and "amt: format COMMA10.2 vs 8.2; label Amount vs Paid amount" in text
    strict = compare_frames(base, other, keys=["id"], severity={"attributes": "fail"})
    assert strict.verdict == "fail" and status(strict, "attributes") == "fail"
    assert status(compare_frames(base, other, keys=["id"], severity={"attributes": "off"}), "attributes") == "skipped"
    job = JobResult(job="j", verdict="warn", description="", spec={}, datasets=(result,), tool=tool_info(), run={})
    html = render_job(job)
    assert "Listing of Common Variables with Differing Attributes" in html
    assert "<strong>Paid amount</strong>" in html and "<strong>8.2</strong>" in html
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads(json.dumps(job.to_dict(), default=str)), SCHEMA)


def test_attribute_type_and_length_differences_between_sas_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.sas7bdat", tmp_path / "b.sas7bdat"
    write_sas7bdat(a, [Column("id", "numeric", [1]), Column("s", "string", ["x"], length=5),
                       Column("n", "numeric", [1.0])])
    write_sas7bdat(b, [Column("id", "numeric", [1]), Column("s", "string", ["x"], length=8),
                       Column("n", "string", ["1"])])
    result = compare_frames(a, b, keys=["id"])
    listing = {r["column"]: r["differs"] for r in result.check("attributes").details["variables"]}  # type: ignore[union-attr]
    assert listing == {"s": ["length"], "n": ["type", "length"]}


def test_attributes_against_python_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "d.sas7bdat"
    write_sas7bdat(path, [Column("id", "numeric", [1, 2]),
                          Column("ts", "numeric", [sas_datetime(dt.datetime(2024, 1, 31))] * 2, format="DATETIME20."),
                          Column("day", "numeric", [sas_date(dt.date(2024, 1, 31))] * 2, format="DATE9."),
                          Column("n", "numeric", [1.0, 2.0])])
    py = pl.DataFrame({"id": [1, 2], "ts": [dt.date(2024, 1, 31)] * 2, "day": [dt.date(2024, 1, 31)] * 2,
                       "n": [1.0, 2.0]})
    result = compare_frames(path, py, keys=["id"])
    check = result.check("attributes")
    assert check is not None and check.status == "warn"
    assert [r["column"] for r in check.details["variables"]] == ["ts"]
    assert "ts: SAS DATETIME20 (datetime) vs Python Date" in check.summary
    same = compare_frames(path, py.with_columns(pl.col("ts").cast(pl.Datetime("us"))), keys=["id"])
    assert status(same, "attributes") == "pass"


@pytest.mark.parametrize(("values", "python", "fmt"), [
    ([sas_date(dt.date(2024, 1, 31)), sas_date(dt.date(1950, 6, 1))],
     [dt.datetime(2024, 1, 31), dt.datetime(1950, 6, 1)], "DATE9."),
    ([sas_datetime(dt.datetime(2024, 1, 31)), sas_datetime(dt.datetime(1950, 6, 1))],
     [dt.date(2024, 1, 31), dt.date(1950, 6, 1)], "DATETIME20."),
])
def test_unformatted_sas_dates_get_a_format_hint(tmp_path: Path, values: list[float], python: list[Any],
                                                 fmt: str) -> None:
    from parity.report.text import check_text

    path = tmp_path / "u.sas7bdat"
    write_sas7bdat(path, [Column("id", "numeric", [1, 2]), Column("visit", "numeric", values)])
    py = pl.DataFrame({"id": [1, 2], "visit": python})
    result = compare_frames(path, py, keys=["id"])
    assert result.verdict == "fail"  # days against seconds (or seconds against days): never a false pass
    hint = f'formats = {{ visit = "{fmt}" }}'
    assert hint in column(result, "visit").note
    check = result.check("attributes")
    assert check is not None and hint in check.summary
    assert f"formats={{'visit': '{fmt}'}}" in check_text(result, check, style="api")
    fixed = compare_frames(path, py, keys=["id"], formats={"visit": fmt})
    assert fixed.verdict == ("pass" if fmt == "DATE9." else "warn")  # warn: the attributes listing below
    # a SAS date against a Python datetime is fine (pandas has no dates); a SAS datetime against a date is listed
    assert status(fixed, "attributes") == ("pass" if fmt == "DATE9." else "warn")
