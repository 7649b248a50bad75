"""CDISC Dataset-JSON v1.1 (.json, .ndjson) as a source on either side: every dataType, missing values, the
metadata (lengths, formats, labels, keys), bad input, `parity inspect`, and jobs that name a Dataset-JSON file."""

from __future__ import annotations

import gc
import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.api import compare_frames, make_spec
from parity.cli.main import main
from parity.errors import InputError
from parity.sources import datasetjson
from parity.sources.datasetjson import datasetjson_keys, read_datasetjson
from tests.helpers import Column, SpecialMissing, make_job, write_sas7bdat

COLUMNS: list[dict[str, Any]] = [
    {"itemOID": "IT.T.USUBJID", "name": "USUBJID", "label": "Subject", "dataType": "string", "length": 8,
     "keySequence": 1},
    {"itemOID": "IT.T.SEQ", "name": "SEQ", "label": "Sequence", "dataType": "integer", "keySequence": 2},
    {"itemOID": "IT.T.URL", "name": "URL", "label": "Link", "dataType": "URI", "length": 30},
    {"itemOID": "IT.T.DEC", "name": "DEC", "label": "Decimal", "dataType": "decimal", "targetDataType": "decimal",
     "length": 20},
    {"itemOID": "IT.T.FLT", "name": "FLT", "label": "Float", "dataType": "float"},
    {"itemOID": "IT.T.DBL", "name": "DBL", "label": "Double", "dataType": "double"},
    {"itemOID": "IT.T.FLAG", "name": "FLAG", "label": "Flag", "dataType": "boolean"},
    {"itemOID": "IT.T.ADT", "name": "ADT", "label": "Analysis Date", "dataType": "date", "targetDataType": "integer",
     "displayFormat": "DATE9."},
    {"itemOID": "IT.T.ADTM", "name": "ADTM", "label": "Analysis Datetime", "dataType": "datetime",
     "targetDataType": "integer", "displayFormat": "DATETIME20."},
    {"itemOID": "IT.T.ATM", "name": "ATM", "label": "Analysis Time", "dataType": "time", "targetDataType": "integer",
     "displayFormat": "TIME8."},
    {"itemOID": "IT.T.ASTDT", "name": "ASTDT", "label": "No display format", "dataType": "date",
     "targetDataType": "integer"},
    {"itemOID": "IT.T.AESTDTC", "name": "AESTDTC", "label": "Start Date/Time", "dataType": "datetime"},
    {"itemOID": "IT.T.NDAY", "name": "NDAY", "label": "Date as number", "dataType": "integer",
     "displayFormat": "E8601DA."},
]
ROWS: list[list[Any]] = [
    ["S-1", 1, "https://x.org/a", "30.8983333232059", 1.5, 2.25, True, "2014-01-02", "2014-01-02T10:11:12",
     "10:11:12", "1960-01-01", "2014-01-02T10:11", 0],
    ["S-1", 2, None, "1,234.5", 0.1, -3.0, False, "1959-12-31", "1960-01-01T00:00:00.25", "23:59:59.5", None,
     "2014-01", -1],
    ["S-2", 1, "", None, None, None, None, None, None, None, "2000-02-29", "", None],
]
META: dict[str, Any] = {
    "datasetJSONCreationDateTime": "2025-01-01T00:00:00", "datasetJSONVersion": "1.1.0", "fileOID": "f.t",
    "dbLastModifiedDateTime": "2024-12-31T23:59:59", "originator": "Parity tests",
    "sourceSystem": {"name": "SAS on X64_10PRO", "version": "9.0401M7"}, "itemGroupOID": "IG.T", "records": 3,
    "name": "T", "label": "Test data", "columns": COLUMNS,
}


def write_json(path: Path, meta: dict[str, Any] | None = None, rows: list[Any] | None = None) -> Path:
    doc = {**(META if meta is None else meta), "rows": ROWS if rows is None else rows}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_ndjson(path: Path, meta: dict[str, Any] | None = None, rows: list[Any] | None = None) -> Path:
    lines = [json.dumps(META if meta is None else meta)] + [json.dumps(r) for r in (ROWS if rows is None else rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(params=["json", "ndjson"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def write(path: Path, kind: str, meta: dict[str, Any] | None = None, rows: list[Any] | None = None) -> Path:
    target = path.with_suffix(f".{kind}")
    return write_json(target, meta, rows) if kind == "json" else write_ndjson(target, meta, rows)


def test_every_datatype_reads_as_sas_holds_it(tmp_path: Path, kind: str) -> None:
    table = read_datasetjson(write(tmp_path / "t", kind))
    f = table.frame
    assert f.height == table.meta.rows == 3
    assert f["USUBJID"].to_list() == ["S-1", "S-1", "S-2"]
    assert f["SEQ"].dtype == pl.Float64 and f["SEQ"].to_list() == [1.0, 2.0, 1.0]
    assert f["URL"].to_list() == ["https://x.org/a", "", ""]  # null character = SAS blank
    assert f["DEC"].to_list() == [30.8983333232059, 1234.5, None]  # decimal text, thousands comma allowed
    assert f["DEC"][0] == float("30.8983333232059")  # the nearest double, exactly
    assert f["FLT"].to_list() == [1.5, 0.1, None]
    assert f["DBL"].to_list() == [2.25, -3.0, None]
    assert f["FLAG"].to_list() == [1.0, 0.0, None]
    assert f["ADT"].to_list() == [19725.0, -1.0, None]  # days since 1960-01-01
    assert f["ADTM"].to_list() == [19725 * 86400 + 36672.0, 0.25, None]  # seconds since 1960
    assert f["ATM"].to_list() == [36672.0, 86399.5, None]
    assert f["ASTDT"].to_list() == [0.0, None, 14669.0]
    assert f["AESTDTC"].to_list() == ["2014-01-02T10:11", "2014-01", ""]  # SDTM --DTC: ISO text stays text
    assert f["NDAY"].to_list() == [0.0, -1.0, None]
    cols = {c.name: c for c in table.columns}
    assert [(c.type, c.kind) for c in table.columns] == [
        ("character", "string"), ("numeric", "numeric"), ("character", "string"), ("numeric", "numeric"),
        ("numeric", "numeric"), ("numeric", "numeric"), ("numeric", "numeric"), ("numeric", "date"),
        ("numeric", "datetime"), ("numeric", "time"), ("numeric", "date"), ("character", "string"),
        ("numeric", "date")]  # an integer with a date displayFormat is a SAS date, as in a SAS file
    assert cols["USUBJID"].length == 8 and cols["USUBJID"].label == "Subject"
    assert cols["DEC"].length is None  # a numeric's JSON length is its text width, not SAS bytes: not stated
    assert cols["ADT"].format == "DATE9." and cols["ASTDT"].format is None
    assert table.meta.format == "datasetjson" and table.meta.label == "Test data"
    extra = table.meta.extra
    assert extra["keys"] == ["USUBJID", "SEQ"] and extra["table_name"] == "T"
    assert extra["representation"] == kind and extra["source_system"] == "SAS on X64_10PRO 9.0401M7"


def test_ndjson_and_json_read_the_same_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [[f"S-{i}", i, None, f"{i}.5", i / 7, None, i % 2 == 0, "2020-02-29", None, None, None, "", i]
            for i in range(1, 12)]
    meta = {**META, "records": len(rows)}
    whole = read_datasetjson(write_json(tmp_path / "a.json", meta, rows))
    monkeypatch.setattr(datasetjson, "BATCH_VALUES", 4 * len(COLUMNS))  # streamed 4 rows at a time
    lines = read_datasetjson(write_ndjson(tmp_path / "a.ndjson", meta, rows))
    batched = read_datasetjson(tmp_path / "a.json")
    assert whole.frame.equals(lines.frame) and whole.frame.equals(batched.frame)
    assert whole.columns == lines.columns
    assert lines.frame["SEQ"].to_list() == [float(i) for i in range(1, 12)]


def test_ndjson_tolerates_crlf_and_a_trailing_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "t.ndjson"
    text = "\r\n".join([json.dumps(META)] + [json.dumps(r) for r in ROWS]) + "\r\n\r\n"
    path.write_bytes(text.encode())
    assert read_datasetjson(path).frame.height == 3


def test_a_datetime_with_a_zone_is_its_wall_clock_and_says_so(tmp_path: Path) -> None:
    rows = [list(r) for r in ROWS]
    rows[0][8] = "2014-01-02T10:11:12Z"
    rows[1][8] = "1960-01-01T00:00:00.25+02:00"
    table = read_datasetjson(write_json(tmp_path / "t.json", rows=rows))
    assert table.frame["ADTM"].to_list() == [19725 * 86400 + 36672.0, 0.25, None]
    change = next(c for c in table.columns if c.name == "ADTM").changes
    assert [(c.code, c.values) for c in change] == [("timezone_to_wall_clock", 2)]


def test_empty_dataset_and_metadata_only(tmp_path: Path, kind: str) -> None:
    meta = {**META, "records": 0}
    table = read_datasetjson(write(tmp_path / "t", kind, meta, []))
    assert table.frame.height == 0 and table.frame.width == len(COLUMNS)
    assert table.frame.schema["ADT"] == pl.Float64 and table.frame.schema["USUBJID"] == pl.String
    doc = dict(meta)
    (tmp_path / "m.json").write_text(json.dumps(doc))  # rows is optional when records is 0
    assert read_datasetjson(tmp_path / "m.json").frame.height == 0


# ------------------------------------------------------------------------------------------------ bad input


def _error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_datasetjson(path)
    message = str(info.value)
    assert message.startswith(str(path)), message  # every error names the file
    return message


def _rows_with(row: int, col: int, value: Any) -> list[list[Any]]:
    rows = [list(r) for r in ROWS]
    rows[row][col] = value
    return rows


@pytest.mark.parametrize(("col", "value", "expected"), [
    (1, 1.5, "a whole JSON number"),
    (1, "2", "a whole JSON number"),
    (1, True, "a whole JSON number"),
    (4, "1.5", "a JSON number"),
    (6, 1, "true or false"),
    (3, "1.2.3", "decimal text"),
    (3, "1e999", "decimal text"),
    (4, 10**309, "a JSON number"),
    (1, 10**309, "a whole JSON number"),
    (3, "12,34", "decimal text"),
    (3, [1], "decimal text"),
    (0, 42, "a JSON string"),
    (11, 20140102, "a JSON string"),
    (7, "2014-01", "YYYY-MM-DD"),  # a partial date cannot be a SAS date
    (7, "2014-02-30", "YYYY-MM-DD"),
    (7, "02JAN2014", "YYYY-MM-DD"),
    (7, 19725, "YYYY-MM-DD"),
    (8, "2014-01-02", "YYYY-MM-DDThh:mm"),  # a date alone is not a datetime
    (8, "2014-01-02T25:00:00", "YYYY-MM-DDThh:mm"),
    (9, "24:30:00", "hh:mm[:ss[.f]]"),
    (9, "10:11:12Z", "hh:mm[:ss[.f]]"),
])
def test_a_value_that_does_not_fit_its_datatype_names_row_and_column(
        tmp_path: Path, kind: str, col: int, value: Any, expected: str) -> None:
    message = _error(write(tmp_path / "t", kind, rows=_rows_with(1, col, value)))
    assert f"row 2{' (line 3)' if kind == 'ndjson' else ''}, column {COLUMNS[col]['name']!r}" in message
    assert json.dumps(value)[:50] in message and expected in message


def test_a_row_whose_length_does_not_match_the_columns(tmp_path: Path, kind: str) -> None:
    rows = [list(r) for r in ROWS]
    rows[2] = rows[2][:-1]
    message = _error(write(tmp_path / "t", kind, rows=rows))
    assert "row 3" in message and "has 12 values but the file declares 13 columns" in message
    rows[2] = {"USUBJID": "S-2"}
    assert "row 3" in _error(write(tmp_path / "t", kind, rows=rows))


@pytest.mark.parametrize(("change", "expected"), [
    ({"datasetJSONVersion": "1.0.0"}, "version '1.0.0' is not supported"),
    ({"datasetJSONVersion": "2.0"}, "version '2.0' is not supported"),
    ({"datasetJSONVersion": None}, "not a Dataset-JSON file (no datasetJSONVersion)"),
    ({"records": 5}, "records says 5 rows but the file holds 3"),
    ({"records": "3"}, "records is '3'"),
    ({"columns": []}, "no columns array"),
    ({"columns": [*COLUMNS, {**COLUMNS[0], "name": "usubjid"}]}, "'usubjid' is declared twice"),
    ({"columns": [{**COLUMNS[0], "dataType": "text"}, *COLUMNS[1:]]}, "dataType 'text'"),
    ({"columns": [{**COLUMNS[0], "targetDataType": "integer"}, *COLUMNS[1:]]}, "targetDataType 'integer'"),
    ({"columns": [{**COLUMNS[0], "length": 0}, *COLUMNS[1:]]}, "length 0"),
    ({"columns": [COLUMNS[0], {**COLUMNS[1], "keySequence": 1}, *COLUMNS[2:]]}, "share a keySequence"),
])
def test_bad_metadata_is_a_clear_error(tmp_path: Path, kind: str, change: dict[str, Any], expected: str) -> None:
    meta = {k: v for k, v in {**META, **change}.items() if v is not None}
    assert expected in _error(write(tmp_path / "t", kind, meta))


def test_not_dataset_json(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[1, 2]")
    assert "not a Dataset-JSON file" in _error(tmp_path / "a.json")
    (tmp_path / "b.json").write_text('{"datasetJSONVersion": "1.1.0", "columns": [')  # truncated
    assert "the JSON does not parse" in _error(tmp_path / "b.json")
    (tmp_path / "c.json").write_text(json.dumps({"clinicalData": {}, "creationDateTime": "x"}))
    assert "v1.0 is not supported" in _error(tmp_path / "c.json")
    (tmp_path / "d.ndjson").write_text("")
    assert "the file is empty" in _error(tmp_path / "d.ndjson")
    write_ndjson(tmp_path / "e.ndjson")
    text = (tmp_path / "e.ndjson").read_text().splitlines()
    text[2] = text[2][:-3]
    (tmp_path / "e.ndjson").write_text("\n".join(text))
    assert "line 3 is not valid JSON" in _error(tmp_path / "e.ndjson")
    write_json(tmp_path / "f.json", rows=_rows_with(0, 4, float("nan")))  # json.dumps writes NaN
    assert "NaN is not a JSON value" in _error(tmp_path / "f.json")
    assert "file not found" in _error(tmp_path / "nope.json")


# --------------------------------------------------------------------------------------------- inspect


def test_inspect_shows_it_as_a_sas_file(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "t", kind)
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "datasetjson" and info["representation"] == kind
    assert info["dataset_json_version"] == "1.1.0"
    assert (info["dataset"], info["label"], info["rows"], info["variables"]) == ("T", "Test data", 3, 13)
    assert info["keys"] == ["USUBJID", "SEQ"] and info["originator"] == "Parity tests"
    cols = {c["name"]: c for c in info["columns"]}
    assert cols["USUBJID"] | {} == {**cols["USUBJID"], "number": 1, "type": "Char", "length": 8, "label": "Subject",
                                    "key_sequence": 1, "data_type": "string"}
    assert (cols["ADT"]["type"], cols["ADT"]["format"], cols["ADT"]["kind"]) == ("Num", "DATE9.", "date")
    assert cols["ADTM"]["target_data_type"] == "integer" and cols["ADTM"]["kind"] == "datetime"
    assert cols["AESTDTC"]["type"] == "Char" and cols["AESTDTC"]["kind"] == "string"
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Alphabetic List of Variables" in out and "USUBJID, SEQ" in out and "Analysis Datetime" in out


def test_inspect_of_bad_dataset_json_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_json(tmp_path / "t.json", rows=_rows_with(0, 1, "x"))
    assert main(["inspect", str(path)]) == 2
    assert "row 1, column 'SEQ'" in capsys.readouterr().err
    assert main(["inspect", str(write_json(tmp_path / "u.json")), "--encoding", "latin1"]) == 2


def test_keys_from_key_sequence(tmp_path: Path, kind: str) -> None:
    assert datasetjson_keys(write(tmp_path / "t", kind)) == ["USUBJID", "SEQ"]
    meta = {**META, "columns": [{k: v for k, v in c.items() if k != "keySequence"} for c in COLUMNS]}
    assert datasetjson_keys(write(tmp_path / "u", kind, meta)) == []


# ------------------------------------------------------------------------------- against the SAS file it came from


def _sas_twin(path: Path) -> Path:
    """The SAS data set the test Dataset-JSON would have been written from."""
    write_sas7bdat(path, [
        Column("USUBJID", "string", ["S-1", "S-1", "S-2"], label="Subject", length=8),
        Column("SEQ", "numeric", [1, 2, 1], label="Sequence"),
        Column("URL", "string", ["https://x.org/a", None, None], label="Link", length=30),
        Column("DEC", "numeric", [30.8983333232059, 1234.5, None], label="Decimal"),
        Column("FLT", "numeric", [1.5, 0.1, None], label="Float"),
        Column("DBL", "numeric", [2.25, -3.0, None], label="Double", format="8.2"),
        Column("FLAG", "numeric", [1, 0, None], label="Flag"),
        Column("ADT", "numeric", [19725, -1, None], format="DATE9", label="Analysis Date"),
        Column("ADTM", "numeric", [19725 * 86400 + 36672.0, 0.25, None], format="DATETIME20",
               label="Analysis Datetime"),
        Column("ATM", "numeric", [36672.0, 86399.5, None], format="TIME8", label="Analysis Time"),
        Column("ASTDT", "numeric", [0, None, 14669], format="YYMMDD10", label="No display format"),
        Column("AESTDTC", "string", ["2014-01-02T10:11", "2014-01", None], label="Start Date/Time", length=19),
        Column("NDAY", "numeric", [0, -1, None], format="E8601DA", label="Date as number"),
    ], table_name="T", file_label="Test data")
    return path


def test_a_job_naming_a_dataset_json_file_passes_against_its_sas_file(tmp_path: Path, kind: str) -> None:
    folder = make_job(tmp_path / "jobs", "dj", f"""
        [datasets.py_side]
        sas = "t.sas7bdat"
        python = "t.{kind}"
        keys = ["USUBJID", "SEQ"]
        [datasets.py_side.tolerance]
        default = {{ method = "relative", criterion = 1e-10 }}
        [datasets.sas_side]
        sas = "t.{kind}"
        python = "t.sas7bdat"
        """)
    _sas_twin(folder / "t.sas7bdat")
    write(folder / "t", kind)
    code = main(["run", "dj", "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / "out")])
    data = json.loads((tmp_path / "out" / "dj" / "parity.json").read_text())
    assert code == 0, [(d["name"], [(c["name"], c["summary"]) for c in d["checks"] if c["status"] != "pass"])
                       for d in data["datasets"]]
    for ds in data["datasets"]:
        assert ds["verdict"] == "pass"
        attrs = next(c for c in ds["checks"] if c["name"] == "attributes")
        assert attrs["status"] == "pass", attrs  # informats, numeric lengths, absent displayFormats: not stated
    py_side = data["datasets"][0]
    assert py_side["python"]["format"] == "datasetjson" and py_side["python"]["keys"] == ["USUBJID", "SEQ"]
    assert data["datasets"][1]["sas"]["format"] == "datasetjson"


@pytest.mark.parametrize(("col", "value", "check"), [
    (4, 1.5000001, "numeric_tolerance"),
    (3, "30.89833332", "numeric_tolerance"),  # 1e-10 relative: a real difference beyond 12 significant digits
    (7, "2014-01-03", "date_equivalence"),
    (8, "2014-01-02T10:11:13", "date_equivalence"),
    (9, None, "date_equivalence"),
    (0, "S-9", "key_match"),
    (2, "https://x.org/b", "string_equality"),
    (11, "2014-01-02T10:12", "string_equality"),
    (6, False, "numeric_tolerance"),
])
def test_an_altered_value_fails(tmp_path: Path, col: int, value: Any, check: str) -> None:
    sas = _sas_twin(tmp_path / "t.sas7bdat")
    path = write_json(tmp_path / "t.json", rows=_rows_with(0, col, value))
    tolerance = {"default": {"method": "relative", "criterion": 1e-10}}
    result = compare_frames(sas, path, keys=["USUBJID", "SEQ"], tolerance=tolerance)
    assert result.verdict == "fail", [(c.name, c.status, c.summary) for c in result.checks]
    assert check in {c.name for c in result.checks if c.status == "fail"}


def test_label_and_length_differences_are_listed(tmp_path: Path) -> None:
    sas = _sas_twin(tmp_path / "t.sas7bdat")
    columns = [dict(c) for c in COLUMNS]
    columns[0]["label"] = "Unique Subject"
    columns[2]["length"] = 200
    columns[7]["displayFormat"] = "E8601DA."
    path = write_json(tmp_path / "t.json", {**META, "columns": columns})
    result = compare_frames(sas, path, keys=["USUBJID", "SEQ"])
    attrs = result.check("attributes")
    assert attrs is not None and attrs.status == "warn"
    rows = {r["column"]: r["differs"] for r in attrs.details["variables"]}
    assert rows == {"USUBJID": ["label"], "URL": ["length"], "ADT": ["format"]}


def test_special_missing_values_are_null_in_dataset_json(tmp_path: Path) -> None:
    """Dataset-JSON has one missing value (null): SAS .A against it differs under PROC COMPARE's strict rule,
    and equals it with numbers.special_missing = "as_missing"."""
    write_sas7bdat(tmp_path / "s.sas7bdat", [Column("ID", "numeric", [1, 2]),
                                             Column("X", "numeric", [SpecialMissing("A"), 3.0])])
    meta = {**META, "records": 2, "columns": [
        {"itemOID": "IT.ID", "name": "ID", "label": "", "dataType": "integer", "keySequence": 1},
        {"itemOID": "IT.X", "name": "X", "label": "", "dataType": "float"}]}
    path = write_json(tmp_path / "s.json", meta, [[1, None], [2, 3.0]])
    assert compare_frames(tmp_path / "s.sas7bdat", path, keys=["ID"]).verdict == "fail"
    relaxed = compare_frames(tmp_path / "s.sas7bdat", path, keys=["ID"], numbers={"special_missing": "as_missing"})
    assert relaxed.verdict == "pass"


def test_formats_override_and_settings_that_do_not_apply(tmp_path: Path) -> None:
    path = write_json(tmp_path / "t.json")
    table = read_datasetjson(path, formats={"seq": "DATE9."})
    assert next(c for c in table.columns if c.name == "SEQ").kind == "date"
    from parity.sources.sas import UnknownFormatColumn, read_sas

    with pytest.raises(UnknownFormatColumn):
        read_datasetjson(path, formats={"nope": "DATE9."})
    with pytest.raises(InputError, match="encoding does not apply to a Dataset-JSON file"):
        read_sas(path, encoding="latin1")


def test_a_byte_order_mark_is_allowed(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path / "t", kind)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_datasetjson(path).frame.height == 3


def test_dataset_json_as_the_sas_side_of_a_python_frame(tmp_path: Path, kind: str) -> None:
    """A Dataset-JSON SAS side against a port's polars frame: dates, datetimes and times in SAS units meet Python
    Date/Datetime/Duration values."""
    import datetime as dt

    path = write(tmp_path / "t", kind)
    frame = pl.DataFrame({
        "USUBJID": ["S-1", "S-1", "S-2"], "SEQ": [1, 2, 1], "URL": ["https://x.org/a", None, ""],
        "DEC": [30.8983333232059, 1234.5, None], "FLT": [1.5, 0.1, None], "DBL": [2.25, -3.0, None],
        "FLAG": [True, False, None],
        "ADT": [dt.date(2014, 1, 2), dt.date(1959, 12, 31), None],
        "ADTM": [dt.datetime(2014, 1, 2, 10, 11, 12), dt.datetime(1960, 1, 1, 0, 0, 0, 250000), None],
        "ATM": [dt.timedelta(hours=10, minutes=11, seconds=12), dt.timedelta(seconds=86399.5), None],
        "ASTDT": [dt.date(1960, 1, 1), None, dt.date(2000, 2, 29)],
        "AESTDTC": ["2014-01-02T10:11", "2014-01", None],
        "NDAY": [dt.date(1960, 1, 1), dt.date(1959, 12, 31), None],
    })
    result = compare_frames(path, frame, keys=["USUBJID", "SEQ"])
    assert result.verdict == "pass", [(c.name, c.summary) for c in result.checks if c.status != "pass"]
    changed = frame.with_columns(pl.when(pl.col("SEQ") == 2).then(dt.date(1960, 1, 1)).otherwise(pl.col("ADT"))
                                 .alias("ADT"))
    late = compare_frames(path, changed, keys=["USUBJID", "SEQ"])
    assert late.verdict == "fail" and late.check("date_equivalence").status == "fail"  # type: ignore[union-attr]


def test_blank_text_in_a_numeric_text_column_is_missing(tmp_path: Path) -> None:
    rows = _rows_with(0, 3, "")  # decimal
    rows[0][7] = ""  # date, targetDataType integer
    rows[0][8] = " "  # datetime, targetDataType integer
    table = read_datasetjson(write_json(tmp_path / "t.json", rows=rows))
    assert table.frame.row(0, named=True) | {} == {**table.frame.row(0, named=True), "DEC": None, "ADT": None,
                                                   "ADTM": None}


def _iso_pair(tmp_path: Path, aestdtc: list[str | None]) -> tuple[Path, Path]:
    """A SAS numeric date column against a Dataset-JSON date column written without targetDataType."""
    write_sas7bdat(tmp_path / "d.sas7bdat", [Column("ID", "numeric", [1, 2, 3]),
                                             Column("ADT", "numeric", [19725, -1, None], format="DATE9")])
    meta = {**META, "records": 3, "columns": [
        {"itemOID": "IT.ID", "name": "ID", "label": "", "dataType": "integer", "keySequence": 1},
        {"itemOID": "IT.ADT", "name": "adt", "label": "", "dataType": "date"}]}
    rows: list[list[Any]] = [[i + 1, v] for i, v in enumerate(aestdtc)]
    return tmp_path / "d.sas7bdat", write_json(tmp_path / "d.json", meta, rows)


def test_iso_text_without_target_type_meets_a_sas_numeric_date(tmp_path: Path) -> None:
    sas, path = _iso_pair(tmp_path, ["2014-01-02", "1959-12-31", ""])
    result = compare_frames(sas, path, keys=["ID"])
    assert result.verdict == "pass", [(c.name, c.summary) for c in result.checks if c.status != "pass"]
    schema = result.check("schema")
    assert schema is not None and "iso_text_as_sas" in json.dumps(schema.details)
    sas, path = _iso_pair(tmp_path, ["2014-01-03", "1959-12-31", ""])
    assert compare_frames(sas, path, keys=["ID"]).verdict == "fail"
    as_sas_side = read_datasetjson(path)  # alone (or as the SAS side) it stays the text SAS would hold
    assert as_sas_side.frame["adt"].to_list() == ["2014-01-03", "1959-12-31", ""]


def test_iso_text_that_is_no_full_date_is_a_type_conflict_naming_the_value(tmp_path: Path) -> None:
    sas, path = _iso_pair(tmp_path, ["2014-01-02", "2014-01", None])
    result = compare_frames(sas, path, keys=["ID"])
    schema = result.check("schema")
    assert result.verdict == "fail" and schema is not None and schema.status == "fail"
    text = json.dumps(schema.details)
    assert "'2014-01' in row 2" in text and "1 of 2 values" in text


def test_registry_opener(tmp_path: Path) -> None:
    """The sources registry's entry point takes the reading options of a SAS file and the SAS side's columns."""
    from types import SimpleNamespace

    from parity.sources.datasetjson import open_datasetjson

    sas, path = _iso_pair(tmp_path, ["2014-01-02", "1959-12-31", None])
    from parity.sources.sas import read_sas

    like = tuple(read_sas(sas).columns)
    opened = open_datasetjson(str(path), SimpleNamespace(encoding=None, catalog=None, formats={}, like=like,
                                                         rename={}))
    assert opened.frame["adt"].to_list() == [19725.0, -1.0, None]
    assert opened.scan().collect().equals(opened.frame)
    with pytest.raises(InputError, match="catalog does not apply"):
        open_datasetjson(str(path), SimpleNamespace(encoding=None, catalog=tmp_path / "f.sas7bcat", formats={},
                                                    like=None, rename={}))


def test_a_big_ndjson_file_is_spilled_to_parquet_and_scanned_lazily(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Above SPILL_BYTES an .ndjson file streams batch by batch into parquet parts in a temporary folder: the
    engine scans it lazily, with the same values, columns and provenance as the in-memory read."""
    from types import SimpleNamespace

    from parity.checks.core import build_result
    from parity.engine.core import compare_tables
    from parity.sources.datasetjson import SpilledDatasetJson, open_datasetjson
    from parity.sources.sas import read_sas

    sas = _sas_twin(tmp_path / "t.sas7bdat")
    path = write_ndjson(tmp_path / "t.ndjson")
    options = SimpleNamespace(encoding=None, catalog=None, formats={}, like=None, rename={})
    whole = open_datasetjson(str(path), options)
    monkeypatch.setattr(datasetjson, "SPILL_BYTES", 0)
    monkeypatch.setattr(datasetjson, "BATCH_VALUES", len(COLUMNS))  # a part per row
    spilled = open_datasetjson(str(path), options)
    assert isinstance(spilled, SpilledDatasetJson) and not isinstance(whole, SpilledDatasetJson)
    folder = Path(spilled.folder.name)
    assert len(list(folder.glob("*.parquet"))) == 3
    assert spilled.scan().collect().equals(whole.frame)
    assert spilled.columns == whole.columns and spilled.meta == whole.meta
    assert spilled.meta.digest() == hashlib.sha256(path.read_bytes()).hexdigest()
    spec = make_spec("t", keys=["USUBJID", "SEQ"], tolerance={"default": {"method": "relative", "criterion": 1e-10}})
    result = build_result(compare_tables(spec, read_sas(sas), spilled))
    assert result.verdict == "pass", [(c.name, c.summary) for c in result.checks if c.status != "pass"]
    del spilled, result
    gc.collect()
    assert not folder.exists()  # the temporary parts go with the source


def test_iso_text_meets_a_sas_date_in_a_spilled_file_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from parity.sources.datasetjson import open_datasetjson
    from parity.sources.sas import read_sas

    monkeypatch.setattr(datasetjson, "SPILL_BYTES", 0)
    monkeypatch.setattr(datasetjson, "BATCH_VALUES", 2)
    for values, expected in ((["2014-01-02", "1959-12-31", ""], [19725.0, -1.0, None]),
                             (["2014-01-02", "1959-12", ""], None)):
        sas, path = _iso_pair(tmp_path, values)
        doc = json.loads(path.read_text())
        rows = doc.pop("rows")
        nd = write_ndjson(tmp_path / "d.ndjson", doc, rows)
        source = open_datasetjson(str(nd), SimpleNamespace(encoding=None, catalog=None, formats={},
                                                           like=tuple(read_sas(sas).columns), rename={}))
        info = next(c for c in source.columns if c.name == "adt")
        if expected is None:
            assert info.problem is not None and "'1959-12' in row 2" in info.problem
        else:
            assert source.scan().collect()["adt"].to_list() == expected and info.kind == "date"


def test_a_port_writing_plain_json_is_told_what_to_write(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text(json.dumps([{"ID": 1, "X": 2.5}]))  # pandas to_json(orient="records")
    message = _error(tmp_path / "out.json")
    assert "not a Dataset-JSON file" in message and "write other data as parquet" in message
    (tmp_path / "cols.json").write_text(json.dumps({"ID": {"0": 1}, "X": {"0": 2.5}}))  # pandas to_json()
    assert "no datasetJSONVersion" in _error(tmp_path / "cols.json")


def test_a_job_naming_a_bad_dataset_json_file_is_an_error_of_that_dataset(tmp_path: Path) -> None:
    folder = make_job(tmp_path / "jobs", "bad", """
        [datasets.good]
        sas = "t.sas7bdat"
        python = "t.json"
        [datasets.bad]
        sas = "t.sas7bdat"
        python = "bad.ndjson"
        """)
    _sas_twin(folder / "t.sas7bdat")
    write_json(folder / "t.json")
    write_ndjson(folder / "bad.ndjson", rows=_rows_with(2, 7, "2014-13-01"))
    code = main(["run", "bad", "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / "out")])
    data = json.loads((tmp_path / "out" / "bad" / "parity.json").read_text())
    verdicts = {d["name"]: (d["verdict"], d["error"]) for d in data["datasets"]}
    assert code == 2 and verdicts["good"] == ("pass", None)
    assert verdicts["bad"][0] == "error"
    assert str(folder / "bad.ndjson") in verdicts["bad"][1] and "row 3 (line 4), column 'ADT'" in verdicts["bad"][1]


@pytest.mark.parametrize("text", ["0.1", "2.2250738585072011e-308", "9007199254740993", "1.7976931348623157e308",
                                  "4.9e-324", "123456789012345678901234567890.5", "-0.000000000000000000001",
                                  "30.8983333232059", ".5", "5.", "+7", "1,234,567.891"])
def test_decimal_text_is_the_nearest_double(tmp_path: Path, text: str) -> None:
    meta = {**META, "records": 1, "columns": [
        {"itemOID": "IT.D", "name": "D", "label": "", "dataType": "decimal", "targetDataType": "decimal"}]}
    value = read_datasetjson(write_json(tmp_path / "d.json", meta, [[text]])).frame["D"][0]
    assert value == float(text.replace(",", ""))
