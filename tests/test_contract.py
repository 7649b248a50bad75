"""Data contracts ([datasets.<ds>.contract]): every constraint with positive and negative cases, the SAS output's
conformance (information only), spec errors, verdicts and exit codes, pytest items, HTML, schema and deltas."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.cli.main import main
from parity.engine.quality import RuleFact, evaluate
from parity.errors import SpecError
from parity.report.schema import first_error, report_schema
from parity.sources.base import ColumnInfo, SourceMeta, Table
from parity.sources.frames import table_from_frame
from parity.spec.contract_load import parse_contract, parse_quality
from tests.helpers import Column, make_job, write_sas7bdat

pytest_plugins = ["pytester"]

SPEC = Path("parity.toml")


# ---- helpers: the engine on in-memory tables


def py_table(frame: pl.DataFrame, fmt: str = "parquet") -> Table:
    return table_from_frame(frame, "py", None, fmt)


def sas_table(frame: pl.DataFrame, kinds: dict[str, str] | None = None) -> Table:
    """A SAS side as read_sas gives it: Float64 numbers in SAS units, String characters, kinds from formats."""
    kinds = kinds or {}
    cols = [ColumnInfo(n, "character" if t == pl.String else "numeric",
                       kinds.get(n, "string" if t == pl.String else "numeric"))  # type: ignore[arg-type]
            for n, t in frame.schema.items()]
    frame = frame.with_columns(pl.col(n).cast(pl.Float64) for n, t in frame.schema.items() if t != pl.String)
    return Table(frame, cols, SourceMeta("d.sas7bdat", None, frame.height, frame.width, "sas7bdat"))


def contract_of(toml: str) -> Any:
    raw = tomllib.loads(textwrap.dedent(toml))
    return parse_contract(SPEC, "datasets.d.contract", raw)


def facts(py: pl.DataFrame | Table, toml: str, sas: pl.DataFrame | Table | None = None,
          keys: tuple[str, ...] = (), blank_is_missing: bool = True, side: str = "python") -> dict[str, RuleFact]:
    """The contract facts by rule name (the Python output's, or the SAS output's with side='sas')."""
    py_t = py if isinstance(py, Table) else py_table(py)
    sas_frame = sas if sas is not None else (py if isinstance(py, pl.DataFrame) else py.frame)
    sas_t = sas_frame if isinstance(sas_frame, Table) else sas_table(
        sas_frame.select(pl.col(c).cast(pl.String) if sas_frame.schema[c] == pl.String else
                         pl.col(c).cast(pl.Float64, strict=False) if sas_frame.schema[c].is_numeric() else
                         pl.lit(None, pl.Float64).alias(c) for c in sas_frame.columns))
    got = evaluate(contract_of(toml), (), SPEC, "datasets.d", sas_t, py_t, {}, keys, blank_is_missing)
    return {f.name: f for f in (got.contract if side == "python" else got.contract_sas)}


# ---- decimal(p,s)


def test_decimal_on_float_allows_float_noise_and_flags_extra_decimals() -> None:
    values = [0.1 + 0.2, 1.005, 12.34, 1e-20, sum([0.01] * 1000), 1e8 + 0.12345, -7.5, None]
    f = facts(pl.DataFrame({"paid": values}), '[columns]\npaid = { type = "decimal(19,4)" }\n')["paid.decimal"]
    # 0.1+0.2, 12.34, 1e-20 (cancellation noise), the sum of 1000 cents and -7.5 fit 4 decimals; 1.005 does too
    # (3 decimals); 1e8 + 0.12345 has 5 decimals, which a double at 1e8 still resolves beyond its noise
    assert f.failing_rows == 1
    assert f.sample[0]["row"] == 6
    assert f.detail["too_many_decimals"] == 1 and f.detail["too_many_integer_digits"] == 0

    f2 = facts(pl.DataFrame({"paid": values}), '[columns]\npaid = { type = "decimal(9,2)" }\n')["paid.decimal"]
    # scale 2: 1.005 has 3 decimals, 1e8+0.12345 has 5 decimals and 9 integer digits (> 9-2 = 7)
    assert f2.failing_rows == 2
    assert [s["row"] for s in f2.sample] == [2, 6]
    assert f2.detail["too_many_integer_digits"] == 1


def test_decimal_integer_digits_and_non_finite_values() -> None:
    frame = pl.DataFrame({"x": [99999.99, 100000.0, -99999.99, -100000.0, float("inf"), float("nan"), 999.995]})
    f = facts(frame, '[columns]\nx = { type = "decimal(7,2)" }\n')["x.decimal"]
    # 100000 and -100000 have 6 integer digits (> 5); inf is not a decimal; NaN is missing (nullable judges it);
    # 999.995 has 3 decimals
    assert f.failing_rows == 4
    assert [s["row"] for s in f.sample] == [2, 4, 5, 7]
    assert f.sample[2]["x"] == "inf"


def test_decimal_scale_zero_and_scale_equal_to_precision() -> None:
    f = facts(pl.DataFrame({"x": [0.1234, 0.99995, 1.0, -0.5]}), '[columns]\nx = { type = "decimal(4,4)" }\n')
    assert f["x.decimal"].failing_rows == 2  # 0.99995 has 5 decimals; 1.0 has an integer digit (p - s = 0)
    g = facts(pl.DataFrame({"x": [12.0, 12.5, 1e10]}), '[columns]\nx = { type = "decimal(10,0)" }\n')
    assert g["x.decimal"].failing_rows == 2  # 12.5 has a decimal; 1e10 has 11 digits


def test_decimal_on_integer_column() -> None:
    frame = pl.DataFrame({"n": [9999, 10000, -9999, -10000, None]}, schema={"n": pl.Int64})
    f = facts(frame, '[columns]\nn = { type = "decimal(6,2)" }\n')
    assert f["n.type"].failing_rows == 0  # an integer column holds decimals with scale 0
    assert f["n.decimal"].failing_rows == 2
    assert f["n.decimal"].detail["too_many_integer_digits"] == 2
    big = facts(pl.DataFrame({"n": [2**62]}), '[columns]\nn = { type = "decimal(38,0)" }\n')
    assert big["n.decimal"].failing_rows == 0


def test_decimal_on_decimal_dtype_is_exact() -> None:
    frame = pl.DataFrame({"d": [Decimal("1.2300"), Decimal("1.235"), Decimal("12345.6"), None]},
                         schema={"d": pl.Decimal(12, 4)})
    f = facts(frame, '[columns]\nd = { type = "decimal(6,2)" }\n')
    assert f["d.type"].failing_rows == 0
    assert f["d.decimal"].failing_rows == 2  # 1.235 (3 decimals), 12345.6 (5 integer digits > 4)
    assert f["d.decimal"].sample[0]["d"] == "1.2350"


# ---- max_length


def test_max_length_counts_characters_not_bytes_and_not_trailing_blanks() -> None:
    frame = pl.DataFrame({"name": ["é" * 12, "abcdefghijklm", "abc         ", None, "x"]})
    f = facts(frame, '[columns]\nname = { type = "string", max_length = 12 }\n')["name.max_length"]
    assert f.failing_rows == 1  # 13 characters; 12 é (24 bytes) fit, trailing blanks do not count
    assert f.sample[0]["row"] == 2
    assert f.detail["longest"] == 13
    assert f.detail["over_in_utf8_bytes"] == 2  # the é value is 24 bytes: a UTF-8 SAS LENGTH $12 would cut it
    assert "SAS LENGTH $12" in f.detail["truncates"] and "VARCHAR(12)" in f.detail["truncates"]


# ---- nullable


def test_not_nullable_counts_null_nan_and_blank() -> None:
    frame = pl.DataFrame({"s": ["a", None, "", "   ", "b"], "x": [1.0, None, float("nan"), 2.0, 3.0]})
    toml = '[columns]\ns = { nullable = false }\nx = { nullable = false }\n'
    f = facts(frame, toml)
    assert f["s.nullable"].failing_rows == 3
    assert f["s.nullable"].detail["blank"] == 2 and f["s.nullable"].detail["null"] == 1
    assert f["s.nullable"].sample[1] == {"row": 3, "s": ""}  # the raw value, not the normalised one
    assert f["x.nullable"].failing_rows == 2
    assert f["x.nullable"].detail["nan"] == 1
    # with strings.blank_is_missing = false a blank string is a value
    g = facts(frame, toml, blank_is_missing=False)
    assert g["s.nullable"].failing_rows == 1


def test_nullable_true_makes_no_rule() -> None:
    f = facts(pl.DataFrame({"s": [None, "a"]}), '[columns]\ns = { type = "string" }\n')
    assert set(f) == {"s.type", "extra_columns"}


def test_sas_special_missing_is_missing(tmp_path: Path) -> None:
    from tests.helpers import SpecialMissing

    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.sas7bdat"
        keys = ["id"]
        [datasets.d.contract.columns]
        x = { nullable = false }
    """)
    for name in ("d", "py"):
        write_sas7bdat(folder / f"{name}.sas7bdat", [Column("id", "numeric", [1, 2, 3]),
                                                     Column("x", "numeric", [1.0, SpecialMissing("A"), None])])
    code, data = run(jobs, tmp_path / "out")
    assert code == 1
    rule = rules(data, "contract")["x.nullable"]
    assert rule["failing_rows"] == 2 and rule["status"] == "fail"


# ---- type conformance


@pytest.mark.parametrize(("ctype", "values", "dtype", "failing"), [
    ("integer", [1, 2, None], pl.Int64, 0),
    ("integer", [1.0, 2.0, None], pl.Float64, 2),  # float holding integers: the dtype is not integer
    ("integer", ["1"], pl.String, 1),
    ("float", [1.5, None], pl.Float64, 0),
    ("float", [1, 2], pl.Int32, 2),
    ("string", ["a", None], pl.String, 0),
    ("string", [1, 2, None], pl.Int64, 2),
    ("date", [dt.date(2024, 1, 1)], pl.Date, 0),
    ("date", [dt.datetime(2024, 1, 1)], pl.Datetime("us"), 1),  # date vs datetime
    ("datetime", [dt.date(2024, 1, 1)], pl.Date, 1),
    ("datetime", [dt.datetime(2024, 1, 1, 3)], pl.Datetime("ns"), 0),
    ("time", [dt.time(13, 45)], pl.Time, 0),
    ("time", [dt.timedelta(hours=1)], pl.Duration("us"), 0),
    ("boolean", [True, None], pl.Boolean, 0),
    ("boolean", [1, 0], pl.Int64, 2),
    ("decimal(5,2)", [1.25], pl.Float64, 0),
    ("decimal(5,2)", ["1.25"], pl.String, 1),
    ("string", [None, None], pl.Null, 0),  # no value at all: nothing of another type
])
def test_type_conformance_of_the_python_dtype(ctype: str, values: list[Any], dtype: Any, failing: int) -> None:
    frame = pl.DataFrame({"c": values}, schema={"c": dtype})
    f = facts(frame, f'[columns]\nc = {{ type = "{ctype}" }}\n', sas=pl.DataFrame({"c": [None] * len(values)}))
    assert f["c.type"].failing_rows == failing
    assert f["c.type"].detail["dtype"] == str(dtype)
    if failing:
        assert f["c.type"].detail["hint"]


def test_float_holding_integers_hint_counts_whole_values() -> None:
    f = facts(pl.DataFrame({"n": [1.0, 2.0, 2.5]}), '[columns]\nn = { type = "integer" }\n')
    assert f["n.type"].failing_rows == 3
    assert f["n.type"].detail["whole_values"] == 2
    assert "Int64" in f["n.type"].detail["hint"]


def test_types_of_a_csv_or_sas_output_are_judged_by_values() -> None:
    """A csv (or SAS file) holds no integer dtype: whole numbers are integers, 0/1 are booleans."""
    frame = pl.DataFrame({"n": [1.0, 2.0, 2.5, None], "b": [0.0, 1.0, 2.0, None]})
    got = facts(py_table(frame, "csv"), '[columns]\nn = { type = "integer" }\nb = { type = "boolean" }\n')
    assert got["n.type"].failing_rows == 1 and got["n.type"].sample[0]["n"] == 2.5
    assert got["b.type"].failing_rows == 1 and got["b.type"].detail["judged_by"] == "values"


# ---- unique, extra_columns, present


def test_unique_counts_rows_in_duplicate_groups_nulls_included() -> None:
    frame = pl.DataFrame({"id": ["A", "A", "B", None, None, "C", "A  "], "line": [1, 1, 1, 1, 1, 1, 1]})
    f = facts(frame, 'unique = ["id", "line"]\n[columns]\nid = { type = "string" }\n')["unique"]
    # (A,1) three times (a trailing blank does not count, as in SAS), (null,1) twice
    assert f.failing_rows == 5
    assert f.detail["duplicate_keys"] == 2
    assert f.sample == ({"id": None, "line": 1, "rows": 2}, {"id": "A", "line": 1, "rows": 3})


def test_extra_columns_setting() -> None:
    frame = pl.DataFrame({"a": [1], "b": [2], "c": [3]})
    assert facts(frame, '[columns]\na = { type = "integer" }\n')["extra_columns"].detail["columns"] == ["b", "c"]
    assert "extra_columns" not in facts(frame, 'extra_columns = "allow"\n[columns]\na = { type = "integer" }\n')
    ok = facts(frame, 'unique = ["b", "c"]\n[columns]\na = { type = "integer" }\n')["extra_columns"]
    assert ok.failing_rows == 0  # columns named in unique are part of the contract


def test_column_missing_from_python_but_in_sas_fails_present() -> None:
    f = facts(pl.DataFrame({"a": [1, 2]}), '[columns]\nb = { type = "integer" }\n',
              sas=pl.DataFrame({"a": [1, 2], "b": [1, 2]}))
    assert f["b.present"].failing_rows == 2 and f["b.present"].missing
    assert "b.type" not in f


def test_column_in_neither_output_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as err:
        facts(pl.DataFrame({"a": [1]}), '[columns]\nzzz = { type = "integer" }\n')
    assert err.value.key == "datasets.d.contract.columns.zzz"
    with pytest.raises(SpecError) as err2:
        facts(pl.DataFrame({"a": [1]}), 'unique = ["a", "nope"]\n')
    assert err2.value.key == "datasets.d.contract.unique"


def test_names_match_case_insensitively() -> None:
    f = facts(pl.DataFrame({"CLAIM_ID": ["x", None]}), '[columns]\nclaim_id = { nullable = false }\n')
    assert f["claim_id.nullable"].failing_rows == 1


# ---- the SAS output's conformance: reported, never judged


def test_sas_conformance_is_reported_for_information() -> None:
    py = pl.DataFrame({"id": [1, 2], "amt": [1.25, 2.5]}, schema={"id": pl.Int64, "amt": pl.Float64})
    sas = sas_table(pl.DataFrame({"id": [1.0, 2.0], "amt": [1.255, None]}))
    toml = '[columns]\nid = { type = "integer" }\namt = { type = "decimal(9,2)", nullable = false }\n'
    sas_facts = facts(py, toml, sas=sas, side="sas")
    assert sas_facts["id.type"].failing_rows == 0  # a SAS numeric holding whole numbers is an integer
    assert sas_facts["amt.decimal"].failing_rows == 1
    assert sas_facts["amt.nullable"].failing_rows == 1
    assert facts(py, toml, sas=sas)["amt.decimal"].failing_rows == 0


def test_sas_dates_are_dates_in_the_sas_view() -> None:
    py = pl.DataFrame({"d": [dt.date(2024, 1, 1)]})
    sas = sas_table(pl.DataFrame({"d": [23376.0]}), {"d": "date"})
    got = facts(py, '[columns]\nd = { type = "date" }\n', sas=sas, side="sas")
    assert got["d.type"].failing_rows == 0


# ---- spec errors (exit 2, naming the file and the key)


@pytest.mark.parametrize(("body", "key", "text"), [
    ('[datasets.d.contract.columns]\nx = { type = "varchar" }', "datasets.d.contract.columns.x.type", "unknown type"),
    ('[datasets.d.contract.columns]\nx = { type = "decimal(2,3)" }', "datasets.d.contract.columns.x.type",
     "cannot exceed the precision"),
    ('[datasets.d.contract.columns]\nx = { type = "decimal" }', "datasets.d.contract.columns.x.type", "decimal(p,s)"),
    ('[datasets.d.contract.columns]\nx = { type = "decimal(0,0)" }', "datasets.d.contract.columns.x.type", "1 to 38"),
    ('[datasets.d.contract.columns]\nx = { type = "integer", max_length = 3 }',
     "datasets.d.contract.columns.x.max_length", "string columns"),
    ('[datasets.d.contract.columns]\nx = { max_length = 0 }', "datasets.d.contract.columns.x.max_length", ">= 1"),
    ('[datasets.d.contract.columns]\nx = { nullable = "no" }', "datasets.d.contract.columns.x.nullable",
     "true or false"),
    ('[datasets.d.contract.columns]\nx = { typ = "string" }', "datasets.d.contract.columns.x.typ", "Did you mean"),
    ('[datasets.d.contract.columns]\nx = {}', "datasets.d.contract.columns.x", "states nothing"),
    ('[datasets.d.contract.columns]\nx = { type = "string" }\nX = { type = "string" }',
     "datasets.d.contract.columns.X", "twice"),
    ('[datasets.d.contract]\nextra_columns = "ignore"\nunique = ["id"]', "datasets.d.contract.extra_columns",
     "fail, warn, allow"),
    ('[datasets.d.contract]\nunique = []', "datasets.d.contract.unique", "non-empty"),
    ('[datasets.d.contract]\nextra_columns = "warn"', "datasets.d.contract", "declares nothing"),
    ('[datasets.d.contract.columns]\nnope = { type = "string" }', "datasets.d.contract.columns.nope",
     "neither output"),
])
def test_spec_errors_exit_2_naming_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
                                                key: str, text: str) -> None:
    jobs = job(tmp_path, "id,x\n1,a\n", body)
    assert main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "parity.toml" in err and f"[{key}]" in err and text in err
    report = tmp_path / "out" / "j" / "parity.json"
    if report.exists():  # a name checked against the data: the job's error report, with nothing compared
        data = json.loads(report.read_text())
        assert data["verdict"] == "error" and data["datasets"] == [] and f"[{key}]" in data["error"]


# ---- end to end: verdicts, exit codes, JSON schema, HTML, terminal


def job(tmp_path: Path, csv: str, extra: str = "", python: str = "py.csv") -> Path:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "{python}"
        keys = ["id"]
    """, files={"py.csv": csv})
    (folder / "parity.toml").write_text((folder / "parity.toml").read_text() + "\n" + extra + "\n")
    write_sas7bdat(folder / "d.sas7bdat", [Column("id", "numeric", [1]), Column("x", "string", ["a"])])
    return jobs


def parquet_job(tmp_path: Path, py: pl.DataFrame, sas: list[Column], extra: str) -> Path:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.parquet"
        keys = ["id"]
    """)
    (folder / "parity.toml").write_text((folder / "parity.toml").read_text() + "\n" + textwrap.dedent(extra))
    py.write_parquet(folder / "py.parquet")
    write_sas7bdat(folder / "d.sas7bdat", sas)
    return jobs


def run(jobs: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(out), *extra])
    data = json.loads((out / "j" / "parity.json").read_text())
    validate(data)
    return code, data


def validate(data: dict[str, Any]) -> None:
    """Against the report schema, with parity's validator and with the jsonschema package."""
    assert first_error(data) is None, first_error(data)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, report_schema())


def rules(data: dict[str, Any], check: str) -> dict[str, dict[str, Any]]:
    c = next(c for c in data["datasets"][0]["checks"] if c["name"] == check)
    return {r["name"]: r for r in c["details"]["rules"]}


def status(data: dict[str, Any], check: str) -> str:
    return str(next(c for c in data["datasets"][0]["checks"] if c["name"] == check)["status"])


CLAIMS = pl.DataFrame({"id": [1, 2, 3], "claim_id": ["C1", "C2", None], "paid": [10.5, 0.125, 3.0]})
CLAIMS_SAS = [Column("id", "numeric", [1, 2, 3]), Column("claim_id", "string", ["C1", "C2", ""]),
              Column("paid", "numeric", [10.5, 0.125, 3.0])]
GOOD = CLAIMS.with_columns(pl.col("claim_id").fill_null("C3"), pl.Series("paid", [10.5, 0.25, 3.0]))
GOOD_SAS = [CLAIMS_SAS[0], Column("claim_id", "string", ["C1", "C2", "C3"]),
            Column("paid", "numeric", [10.5, 0.25, 3.0])]
CONTRACT = """
    [datasets.d.contract]
    unique = ["id"]
    extra_columns = "warn"
    [datasets.d.contract.columns]
    id = { type = "integer", nullable = false }
    claim_id = { type = "string", max_length = 12, nullable = false }
    paid = { type = "decimal(19,2)", nullable = false }
"""


def test_failing_contract_fails_the_dataset_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run(parquet_job(tmp_path, CLAIMS, CLAIMS_SAS, CONTRACT), tmp_path / "out")
    assert code == 1 and data["verdict"] == "fail"
    assert status(data, "contract") == "fail"
    r = rules(data, "contract")
    assert list(r) == ["id.type", "id.nullable", "claim_id.type", "claim_id.max_length", "claim_id.nullable",
                       "paid.type", "paid.decimal", "paid.nullable", "unique", "extra_columns"]
    assert r["claim_id.nullable"]["failing_rows"] == 1 and r["claim_id.nullable"]["status"] == "fail"
    assert r["claim_id.nullable"]["sample"] == [{"row": 3, "id": 3, "claim_id": None}]
    assert r["paid.decimal"]["failing_rows"] == 1 and r["paid.decimal"]["sample"][0]["paid"] == 0.125
    assert r["id.type"]["status"] == "pass" and r["id.type"]["failing_rows"] == 0
    # the SAS output breaks the same rules: reported, never judged
    assert r["claim_id.nullable"]["sas"] == {"status": "fail", "failing_rows": 1}
    assert r["id.type"]["sas"] == {"status": "pass", "failing_rows": 0}
    summary = next(c for c in data["datasets"][0]["checks"] if c["name"] == "contract")["summary"]
    assert "claim_id.nullable: 1 row" in summary and "SAS output breaks 2" in summary
    out = capsys.readouterr().out
    assert "contract" in out and "claim_id.nullable" in out


def test_passing_contract_and_warning_extra_columns_exit_0(tmp_path: Path) -> None:
    py = GOOD.with_columns(pl.lit(1).alias("extra"))
    sas = [*GOOD_SAS, Column("extra", "numeric", [1, 1, 1])]
    code, data = run(parquet_job(tmp_path, py, sas, CONTRACT), tmp_path / "out")
    assert code == 0 and data["verdict"] == "warn"
    assert status(data, "contract") == "warn"
    assert rules(data, "contract")["extra_columns"]["columns"] == ["extra"]
    code2, data2 = run(parquet_job(tmp_path, py, sas, CONTRACT.replace('"warn"', '"fail"')), tmp_path / "out2")
    assert code2 == 1 and status(data2, "contract") == "fail"


def test_contract_severity_warn_downgrades(tmp_path: Path) -> None:
    code, data = run(parquet_job(tmp_path, CLAIMS, CLAIMS_SAS, CONTRACT + "\n[datasets.d.severity]\ncontract = "
                                 '"warn"\n'), tmp_path / "out")
    assert code == 0 and status(data, "contract") == "warn"


def test_no_contract_is_skipped(tmp_path: Path) -> None:
    code, data = run(job(tmp_path, "id,x\n1,a\n"), tmp_path / "out")
    assert code == 0 and status(data, "contract") == "skipped" and status(data, "quality") == "skipped"


def test_contract_rules_in_the_spec_rules(tmp_path: Path) -> None:
    _, data = run(parquet_job(tmp_path, CLAIMS, CLAIMS_SAS, CONTRACT), tmp_path / "out")
    rules_ = data["spec"]["rules"]["datasets"]["d"]["contract"]
    assert rules_["columns"]["paid"] == {"name": "paid", "type": "decimal(19,2)", "max_length": None,
                                         "nullable": False}
    assert rules_["unique"] == ["id"] and rules_["extra_columns"] == "warn"


def test_html_has_a_readable_rules_table(tmp_path: Path) -> None:
    run(parquet_job(tmp_path, CLAIMS, CLAIMS_SAS, CONTRACT), tmp_path / "out")
    html = (tmp_path / "out" / "j" / "parity.html").read_text()
    assert "Data contract" in html
    table = html[html.index("Data contract"):]
    table = table[:table.index("</table>")]
    for text in ("claim_id.nullable", "no missing value", "fits decimal(19,2)", "at most 12 characters",
                 "row 3: id=3, claim_id=null", "fail: 1 rows", "unique (id)"):
        assert text in table, text


def test_report_is_deterministic(tmp_path: Path) -> None:
    jobs = parquet_job(tmp_path, CLAIMS, CLAIMS_SAS, CONTRACT)
    _, a = run(jobs, tmp_path / "a")
    _, b = run(jobs, tmp_path / "b")
    assert a["datasets"][0]["checks"] == b["datasets"][0]["checks"]


def test_pytest_item_per_check_fails_with_the_rules(pytester: pytest.Pytester, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = parquet_job(tmp_path, CLAIMS, CLAIMS_SAS, CONTRACT)
    result = inner_pytest(pytester, monkeypatch, "--parity", "j", "--parity-jobs-dir", str(jobs), "--parity-report-dir",
                                str(tmp_path / "out"), "-p", "no:cacheprovider")
    text = result.stdout.str()
    assert "j/parity.toml::d::contract FAILED" in text or "::d::contract" in text
    result.assert_outcomes(failed=1, passed=pytester_count(result, "passed"), skipped=pytester_count(result,
                                                                                                    "skipped"))
    assert "FAIL claim_id.nullable: 1 of 3 rows" in text
    assert "row 3" in text


def inner_pytest(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    """A plain pytest run in its own process (an in-process run drops the modules it imported, and numpy cannot
    be loaded twice), also when this suite runs under pytest-xdist."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    return pytester.runpytest_subprocess(*args)


def pytester_count(result: pytest.RunResult, outcome: str) -> int:
    return int(result.parseoutcomes().get(outcome, 0))


# ---- deltas


def test_delta_rule_newly_failing_or_more_rows_is_worse(tmp_path: Path) -> None:
    jobs = parquet_job(tmp_path, GOOD, GOOD_SAS, CONTRACT)
    code, _ = run(jobs, tmp_path / "base")
    assert code == 0
    CLAIMS.write_parquet(jobs / "j" / "py.parquet")
    code, head = run(jobs, tmp_path / "head", "--baseline", str(tmp_path / "base"))
    assert code == 1
    worse = [c["what"] for c in head["delta"]["changes"] if c["kind"] == "worse" and c["check"] == "contract"]
    assert any("rule claim_id.nullable: pass -> fail, failing rows 0 -> 1" in w for w in worse), worse
    # more failing rows in an already failing rule is worse too; fewer is better
    more = CLAIMS.with_columns(pl.lit(None, pl.String).alias("claim_id"))
    more.write_parquet(jobs / "j" / "py.parquet")
    _, head2 = run(jobs, tmp_path / "head2", "--baseline", str(tmp_path / "head"))
    worse2 = [c["what"] for c in head2["delta"]["changes"] if c["kind"] == "worse"]
    assert any("claim_id.nullable: fail -> fail, failing rows 1 -> 3" in w for w in worse2), worse2
    assert head2["delta"]["gate"] == "fail"
    CLAIMS.write_parquet(jobs / "j" / "py.parquet")
    _, head3 = run(jobs, tmp_path / "head3", "--baseline", str(tmp_path / "head2"))
    better = [c["what"] for c in head3["delta"]["changes"] if c["kind"] == "better"]
    assert any("claim_id.nullable: fail -> fail, failing rows 3 -> 1" in w for w in better), better


def test_delta_loosened_contract_is_relaxed(tmp_path: Path) -> None:
    jobs = parquet_job(tmp_path, GOOD, GOOD_SAS, CONTRACT)
    run(jobs, tmp_path / "base")
    toml = jobs / "j" / "parity.toml"
    toml.write_text(toml.read_text().replace("max_length = 12, nullable = false", "max_length = 20")
                    .replace('"warn"', '"allow"'))
    code, head = run(jobs, tmp_path / "head", "--baseline", str(tmp_path / "base"))
    assert code == 1
    relaxed = [c["what"] for c in head["delta"]["changes"] if c["kind"] == "relaxed"]
    assert any("max_length of claim_id loosened: 12 -> 20" in w for w in relaxed), relaxed
    assert any("claim_id may now be missing" in w for w in relaxed), relaxed
    assert any("extra_columns loosened: warn -> allow" in w for w in relaxed), relaxed


def test_parse_quality_and_contract_are_independent() -> None:
    assert parse_contract(SPEC, "c", None) is None
    assert parse_quality(SPEC, Path("."), "q", None) == ()


def test_max_length_on_a_non_character_column_fails_with_a_hint() -> None:
    f = facts(pl.DataFrame({"n": [1, None, 3]}), '[columns]\nn = { max_length = 5 }\n')["n.max_length"]
    assert f.failing_rows == 2 and "character values" in f.detail["hint"]
