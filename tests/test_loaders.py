"""Loaders: SAS files (sas7bdat via ReadStat's writer, xpt via pyreadstat), Python outputs, and their errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import polars as pl
import pyreadstat
import pytest

from parity.errors import InputError
from parity.formats import kind_of_format, sas_value_text
from parity.run.port import run_job_callable
from parity.sources.frames import read_python_file
from parity.sources.sas import read_sas
from parity.testing.sas7bdat_writer import sas_date, sas_time
from tests.helpers import Column, SpecialMissing, write_sas7bdat


def test_sas7bdat_kinds_metadata_and_special_missing(tmp_path: Path) -> None:
    path = tmp_path / "d.sas7bdat"
    write_sas7bdat(path, [
        Column("ID", "numeric", [1, 2, 3]),
        Column("D", "numeric", [sas_date(dt.date(2024, 2, 29)), None, 0.0], format="DATE9.", label="Service date"),
        Column("M", "numeric", [sas_date(dt.date(2024, 2, 1)), 1.0, 2.0], format="MONYY7."),
        Column("T", "numeric", [sas_time(dt.time(23, 59, 59)), 90000.0, None], format="TIME8."),
        Column("X", "numeric", [SpecialMissing("N"), 2.5, None]),
        Column("S", "string", ["a  ", "", "c"], length=8),
    ], table_name="CLAIMS", file_label="Claims lines", compression="rows")
    table = read_sas(path)
    kinds = {c.name: c.kind for c in table.columns}
    assert kinds == {"ID": "numeric", "D": "date", "M": "date", "T": "time", "X": "numeric", "S": "string"}
    assert table.frame["D"].to_list()[0] == sas_date(dt.date(2024, 2, 29))  # raw SAS days, 1960 epoch
    assert table.frame["T"].to_list()[1] == 90000.0  # a time past 24h is kept, not wrapped
    assert table.tags["X"].to_list() == ["N", None, None]
    assert table.frame["X"].to_list() == [None, 2.5, None]
    assert next(c for c in table.columns if c.name == "X").special_missing == ("N",)
    assert next(c for c in table.columns if c.name == "S").length == 8
    assert next(c for c in table.columns if c.name == "D").label == "Service date"
    assert table.meta.label == "Claims lines" and table.meta.rows == 3 and table.meta.format == "sas7bdat"
    assert table.meta.extra["compression"] == "RLE"
    assert len(table.meta.digest() or "") == 64


def test_xpt(tmp_path: Path) -> None:
    path = tmp_path / "d.xpt"
    df = pd.DataFrame({"ID": [1.0, 2.0], "DT": [0.0, 86400.5], "NAME": ["x", "y"]})
    pyreadstat.write_xport(df, str(path), variable_format={"DT": "DATETIME20."}, table_name="D",
                           file_label="xpt data")
    table = read_sas(path)
    assert {c.name: c.kind for c in table.columns} == {"ID": "numeric", "DT": "datetime", "NAME": "string"}
    assert table.meta.format == "xport" and table.meta.rows == 2
    assert table.frame["DT"].to_list() == [0.0, 86400.5]


def test_formats_override_makes_a_date(tmp_path: Path) -> None:
    path = tmp_path / "d.sas7bdat"
    write_sas7bdat(path, [Column("D", "numeric", [23000.0])])
    assert read_sas(path).columns[0].kind == "numeric"
    assert read_sas(path, formats={"d": "YYMMDD10."}).columns[0].kind == "date"


@pytest.mark.parametrize(("content", "text"), [
    (b"", "cannot read"),
    (b"not a sas file at all" * 100, "cannot read"),
])
def test_unreadable_sas_file_names_the_file(tmp_path: Path, content: bytes, text: str) -> None:
    path = tmp_path / "bad.sas7bdat"
    path.write_bytes(content)
    with pytest.raises(InputError, match=text) as info:
        read_sas(path)
    assert str(path) in str(info.value)


def test_truncated_sas_file(tmp_path: Path) -> None:
    path = tmp_path / "d.sas7bdat"
    write_sas7bdat(path, [Column("X", "numeric", list(range(5000)))])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"d\.sas7bdat"):
        read_sas(path)


def test_python_files(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2], "d": [dt.date(2024, 1, 1), None], "s": ["a", "b"]})
    frame.write_parquet(tmp_path / "a.parquet")
    frame.write_ipc(tmp_path / "a.arrow")
    frame.write_csv(tmp_path / "a.csv")
    for name in ("a.parquet", "a.arrow", "a.csv"):
        table = read_python_file(tmp_path / name)
        assert table.frame["id"].to_list() == [1, 2]
        assert {c.name: c.kind for c in table.columns}["d"] == "date", name
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 nope")
    with pytest.raises(InputError, match=r"broken\.parquet"):
        read_python_file(tmp_path / "broken.parquet")


def test_job_callable_pandas_and_module_isolation(tmp_path: Path) -> None:
    for job, value in (("a", 1), ("b", 2)):
        folder = tmp_path / job
        folder.mkdir()
        (folder / "input.txt").write_text("x")
        (folder / "port.py").write_text(
            "import pandas as pd\n"
            "def run(path, n):\n"
            "    assert open(path).read() == 'x'\n"
            f"    return pd.DataFrame({{'v': [n, {value}], 'w': [1.5, float('nan')]}})\n"
        )
    tables_a = run_job_callable("port:run", {"path": "input.txt", "n": 0}, tmp_path / "a", "a", ["d"]).tables
    tables_b = run_job_callable("port:run", {"path": "input.txt", "n": 0}, tmp_path / "b", "b", ["d"]).tables
    assert tables_a["d"].frame["v"].to_list() == [0, 1]
    assert tables_b["d"].frame["v"].to_list() == [0, 2]  # two jobs' "port" modules never collide
    assert tables_a["d"].frame["w"].to_list() == [1.5, None]  # pandas NaN is missing


def test_job_callable_errors(tmp_path: Path) -> None:
    (tmp_path / "port.py").write_text("import polars as pl\ndef run():\n    return pl.DataFrame({'a': [1]})\n")
    with pytest.raises(InputError, match="declares 2 datasets"):
        run_job_callable("port:run", {}, tmp_path, "j", ["x", "y"])
    with pytest.raises(InputError, match="has no function 'nope'"):
        run_job_callable("port:nope", {}, tmp_path, "j", ["x"])
    with pytest.raises(InputError, match="cannot import 'missing_mod'"):
        run_job_callable("missing_mod:run", {}, tmp_path, "j", ["x"])
    with pytest.raises(InputError, match="cannot be called with params"):
        run_job_callable("port:run", {"month": 1}, tmp_path, "j", ["x"])
    (tmp_path / "bad.py").write_text("def run():\n    return [1, 2]\n")
    out = run_job_callable("bad:run", {}, tmp_path, "j", ["x"])
    assert "expected a polars or pandas DataFrame, got list" in out.errors["x"]


@pytest.mark.parametrize(("fmt", "kind"), [
    ("DATE9.", "date"), ("MMDDYY10.", "date"), ("YYMMDDN8.", "date"), ("E8601DA10.", "date"), ("MONYY7.", "date"),
    ("DATETIME20.", "datetime"), ("DTDATE9.", "datetime"), ("E8601DT19.3", "datetime"), ("TIME8.", "time"),
    ("HHMM5.", "time"), ("BEST12.", "numeric"), ("COMMA12.2", "numeric"), (None, "numeric"), ("8.2", "numeric"),
])
def test_format_kinds(fmt: str | None, kind: str) -> None:
    assert kind_of_format(fmt) == kind


def test_sas_value_text() -> None:
    assert sas_value_text("date", 0.0) == "1960-01-01"
    assert sas_value_text("date", -1.0) == "1959-12-31"
    assert sas_value_text("datetime", 86400.5) == "1960-01-02 00:00:00.500000"
    assert sas_value_text("time", 90000.0) == "25:00:00"
    assert sas_value_text("numeric", None, "A") == ".A"
    assert sas_value_text("numeric", None, "_") == "._"
    assert "out of Python's date range" in sas_value_text("date", 3e6)


def test_a_table_is_a_source_whose_scan_carries_the_special_missing_tags(tmp_path: Path) -> None:
    from parity.sources.base import Source, Table, tag_column

    path = tmp_path / "t.sas7bdat"
    write_sas7bdat(path, [Column("x", "numeric", [1.0, SpecialMissing("A"), None, SpecialMissing("_")])])
    table = read_sas(path)
    assert isinstance(table, Table) and isinstance(table, Source)
    scanned = table.scan().collect()
    assert scanned.get_column(tag_column("x")).to_list() == [None, "A", None, "_"]
    assert scanned.get_column("x").to_list()[0] == 1.0
    assert scanned.height == table.meta.rows == 4
