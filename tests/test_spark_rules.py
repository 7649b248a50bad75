"""Contracts and DQ rules on the Spark engine (parity/spark/quality.py): computed by Spark on the executors, they
give the same report facts as on the polars engine (every constraint type passing, warning and failing; SAS missing
values and blanks; decimal float noise; unicode lengths; lookups against csv, parquet and SAS references; distinct
bounds; duplicated unique keys), the SQL dialect is the engine's (Spark SQL here), and no table is collected to the
driver.  A ``python = "x.parquet"`` output (file, folder, glob) is read by Spark with the polars source's rows and
types."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.cli.main import main
from parity.engine.choice import EngineChoice
from parity.errors import SpecError
from parity.model import JobResult
from parity.run.runner import run_job
from parity.spec import load_job
from tests.helpers import Column, SpecialMissing, make_job, write_sas7bdat
from tests.spark_support import SPARK_TEST_CONF, spark_fixture  # noqa: F401  (the session fixture)
from tests.test_spark_engine import assert_same_on_both_engines

pytestmark = pytest.mark.spark


def spark_engine() -> EngineChoice:
    return EngineChoice("spark", "local[2]", SPARK_TEST_CONF)


def rule_rows(result: JobResult, dataset: str, check: str) -> dict[str, dict[str, Any]]:
    ds = next(d for d in result.datasets if d.name == dataset)
    c = next(c for c in ds.checks if c.name == check)
    data = c.details.to_dict() if c.details is not None else {}
    return {r["name"]: r for r in data["rules"]}


# --------------------------------------------------------------------------------------------------------------
# every constraint, pass / warn / fail, on both engines

N = 12
IDS = list(range(1, N + 1))
# a net of amounts and reversals (cancellation noise), 0.1 + 0.2 (float noise), and one real third decimal
AMOUNTS = [10.5, 0.1 + 0.2, 1e5 + 843.32 - 1e5, 12.345, 7.0, 3.25, None, 8.75, 1.0, 2.0, 3.0, 123456789.12]
NAMES = ["Ann", "Zoë", "Łukasz ", "  ", "Bob", "", "Émilie", "Al", "Tâm", "Ed", "Ivy", "Jo"]  # blank is missing
CODES = ["A", "B", "C", "A", "B", "X", "A", "B", "C", "A", "B", "Q"]
QTY = [1.0, 2.0, 3.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
DAYS = [dt.date(2024, 1, d) for d in range(1, N + 1)]
DUP_KEY = [1, 1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9]
# exact decimals: 1.230 fits decimal(5,2) (trailing zeros), 1.234 has a third decimal, 1234.5 four integer digits
DECIMALS = ["1.230", "1.234", "1234.500", "-0.010", "0.000", "99.990", "-999.990", None, "5.000", "6.000", "7.000",
            "8.000"]
STAMPS = [dt.datetime(2024, 1, 1, 8, 30) + dt.timedelta(hours=7 * i, microseconds=250 * i) for i in range(N)]
SECONDS = [3600.0 * i + 0.5 for i in range(N)]


def _sas_columns() -> list[Column]:
    sas_days = [(d - dt.date(1960, 1, 1)).days for d in DAYS]
    return [
        Column("id", "numeric", IDS),
        Column("name", "string", NAMES),
        Column("code", "string", CODES),
        Column("amount", "numeric", [SpecialMissing("A") if v is None else v for v in AMOUNTS]),
        Column("qty", "numeric", QTY),
        Column("day", "numeric", sas_days, format="DATE9"),
        Column("grp", "numeric", DUP_KEY),
        Column("missing_col", "string", ["only in SAS"] * N),  # in the contract, not in the Python output
        Column("dec", "numeric", [None if v is None else float(v) for v in DECIMALS]),
        Column("ts", "numeric", [(t - dt.datetime(1960, 1, 1)).total_seconds() for t in STAMPS], format="DATETIME26.6"),
        Column("t", "numeric", [SpecialMissing("B") if i == 3 else v for i, v in enumerate(SECONDS)], format="TIME8"),
    ]


def _python_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "id": pl.Series(IDS, dtype=pl.Int64), "name": NAMES, "code": CODES,
        "amount": pl.Series(AMOUNTS, dtype=pl.Float64), "qty": QTY, "day": DAYS,
        "grp": pl.Series(DUP_KEY, dtype=pl.Int32), "extra_col": ["x"] * N,
        "dec": pl.Series(DECIMALS).cast(pl.Decimal(10, 3)), "ts": pl.Series(STAMPS, dtype=pl.Datetime("us")),
    })


RULES_TOML = """
[datasets.d.contract]
unique = ["grp"]
extra_columns = "warn"

[datasets.d.contract.columns]
id = { type = "integer", nullable = false }
name = { type = "string", max_length = 5, nullable = false }
code = { type = "string", max_length = 1 }
amount = { type = "decimal(11,2)", nullable = false }
qty = { type = "integer" }
day = { type = "date", nullable = false }
grp = { type = "string" }
missing_col = { type = "string" }
dec = { type = "decimal(5,2)", nullable = false }
ts = { type = "datetime", nullable = false }
t = { type = "time", nullable = false }

[[datasets.d.quality]]
name = "amount_positive"
rule = "amount IS NULL OR amount > 0"
[[datasets.d.quality]]
name = "qty_small"
rule = "qty <= 10"
severity = "warn"
[[datasets.d.quality]]
name = "day_in_january"
rule = "day >= DATE '2024-01-01' AND day <= DATE '2024-01-31'"
[[datasets.d.quality]]
name = "ts_in_2024"
rule = "ts >= TIMESTAMP '2024-01-01 00:00:00' AND ts < TIMESTAMP '2024-01-03 12:00:00'"
[[datasets.d.quality]]
name = "dec_small"
rule = "dec < 100"
[[datasets.d.quality]]
name = "name_case"
rule = "UPPER(name) <> name"
[[datasets.d.quality]]
name = "code_known_csv"
lookup = { column = "code", file = "ref/codes.csv", key = "code" }
severity = "warn"
[[datasets.d.quality]]
name = "code_known_parquet"
lookup = { column = "code", file = "ref/codes.parquet", key = "CODE" }
[[datasets.d.quality]]
name = "id_known_csv"
lookup = { column = "id", file = "ref/ids.csv", key = "id" }
[[datasets.d.quality]]
name = "grp_known_sas"
lookup = { column = "grp", file = "ref/grps.sas7bdat", key = "grp" }
[[datasets.d.quality]]
name = "codes_min"
distinct = { column = "code", min = 6 }
[[datasets.d.quality]]
name = "codes_max"
distinct = { column = "code", max = 10 }
[[datasets.d.quality]]
name = "names_distinct"
distinct = { column = "name", min = 1, max = 3 }
severity = "warn"
"""


def _rules_job(root: Path, python: str = "py.parquet") -> Path:
    folder = make_job(root, "rules", f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "{python}"
        keys = ["id"]
        [datasets.d.numbers]
        special_missing = "as_missing"
    """ + RULES_TOML, files={"ref/codes.csv": "code,label\nA,a\nB,b\nC,c\n", "ref/ids.csv": "id\n1\n2\n3\n04\n5\n"})
    write_sas7bdat(folder / "d.sas7bdat", _sas_columns())
    _python_frame().write_parquet(folder / "py.parquet")
    pl.DataFrame({"CODE": ["A", "B", "C", "Q "]}).write_parquet(folder / "ref" / "codes.parquet")
    write_sas7bdat(folder / "ref" / "grps.sas7bdat", [Column("GRP", "numeric", [1, 2, 3, 4, 5])])
    return folder


def test_every_constraint_gives_the_same_facts_on_both_engines(spark: Any, tmp_path: Path) -> None:
    result = assert_same_on_both_engines(_rules_job(tmp_path))
    contract = rule_rows(result, "d", "contract")
    # ground truth, so that two engines that agree on a wrong answer do not pass
    assert contract["id.type"]["status"] == "pass"
    assert contract["name.max_length"]["failing_rows"] == 2  # "Łukasz" (6 characters) and "Émilie"
    assert contract["name.max_length"]["over_in_utf8_bytes"] == 2  # the same two (Zoë and Tâm: 4 bytes)
    assert contract["name.nullable"]["failing_rows"] == 2 and contract["name.nullable"]["blank"] == 2
    assert contract["amount.decimal"]["failing_rows"] == 1  # 12.345 (not 0.1 + 0.2, not the net)
    assert [s["row"] for s in contract["amount.decimal"]["sample"]] == [4]
    assert contract["amount.nullable"]["failing_rows"] == 1
    assert contract["qty.type"]["failing_rows"] == 12 and contract["qty.type"]["whole_values"] == 11
    assert contract["grp.type"]["status"] == "fail"
    assert contract["unique"]["failing_rows"] == 5 and contract["unique"]["duplicate_keys"] == 2
    assert [s["rows"] for s in contract["unique"]["sample"]] == [2, 3]
    assert contract["missing_col.present"]["status"] == "fail"
    assert contract["dec.decimal"] == {**contract["dec.decimal"], "failing_rows": 2, "too_many_decimals": 1,
                                       "too_many_integer_digits": 1}
    assert contract["dec.nullable"]["failing_rows"] == 1 and contract["ts.type"]["status"] == "pass"
    assert contract["t.present"]["status"] == "fail"  # only in SAS (its SAS facts: the next test)
    assert contract["extra_columns"]["status"] == "warn"
    quality = rule_rows(result, "d", "quality")
    assert quality["amount_positive"]["status"] == "pass"
    assert quality["qty_small"] == {**quality["qty_small"], "status": "warn", "failing_rows": 2}
    assert quality["day_in_january"]["status"] == "pass"
    assert quality["ts_in_2024"]["failing_rows"] == 4  # from 2024-01-03 12:00 on
    assert quality["dec_small"]["failing_rows"] == 2  # 1234.5 and the missing value
    assert quality["name_case"]["failing_rows"] == 2  # the two missing names: NULL is not true
    assert quality["code_known_csv"]["failing_rows"] == 2 and quality["code_known_csv"]["status"] == "warn"
    assert quality["code_known_parquet"]["failing_rows"] == 1  # X ("Q " is Q: trailing blanks do not count)
    assert quality["id_known_csv"]["failing_rows"] == 7  # 6..12 (csv "04" is the number 4)
    assert quality["grp_known_sas"]["failing_rows"] == 4  # 6, 7, 8, 9
    assert quality["codes_min"]["status"] == "fail" and quality["codes_min"]["distinct"] == 5  # A B C X Q
    assert quality["codes_max"]["status"] == "pass"
    assert quality["names_distinct"]["status"] == "warn"


def test_rule_facts_of_both_sides_are_equal(spark: Any, tmp_path: Path) -> None:
    """Every fact of both sides (the SAS output's too, samples included), as the engines hand them to the checks."""
    from parity.engine.quality import evaluate_spec
    from parity.sources.registry import OpenOptions, open_source
    from parity.spark.quality import evaluate_spark
    from parity.spark.sources import parquet_side, sas_side

    job = load_job(_rules_job(tmp_path))
    ds = job.datasets[0]
    assert ds.python is not None
    sas = open_source(ds.sas, OpenOptions(), sas_side=True)
    on_polars = evaluate_spec(ds, job.spec_file, sas, open_source(ds.python, OpenOptions(like=tuple(sas.columns))))
    on_spark = evaluate_spark(ds, job.spec_file, sas_side(spark, ds.sas), parquet_side(spark, str(ds.python), "d"))
    assert on_polars is not None and on_spark is not None
    for part in ("contract", "contract_sas", "quality", "quality_sas"):
        for p, s in zip(getattr(on_polars, part), getattr(on_spark, part), strict=True):
            assert s == p, part
    assert on_spark == on_polars
    sas_facts = {f.name: f for f in on_spark.contract_sas}
    assert sas_facts["t.nullable"].failing_rows == 1 and sas_facts["t.type"].failing_rows == 0  # .B is missing
    assert sas_facts["name.nullable"].detail["blank"] == 2  # SAS blanks are missing
    assert sas_facts["amount.nullable"].failing_rows == 1  # .A is missing
    assert sas_facts["ts.nullable"].failing_rows == 0


@pytest.mark.parametrize("frame", ["polars", "pandas"])
def test_driver_frame_rules_agree_and_are_spark_sql(spark: Any, tmp_path: Path, frame: str) -> None:
    """A port returning a polars or pandas frame: on Spark its rules run in Spark SQL too (the frame is handed to
    Spark with its own types), with the same facts as on polars."""
    folder = _rules_job(tmp_path, python="x")
    text = (folder / "parity.toml").read_text().replace('python = "x"\n', "")
    (folder / "parity.toml").write_text('[job]\npython = "port:run"\n' + text)
    convert = ".to_pandas()" if frame == "pandas" else ""
    (folder / "port.py").write_text("import polars as pl\n"
                                    f"def run():\n    return {{'d': pl.read_parquet(__file__.replace('port.py', 'py.parquet')){convert}}}\n")
    result = assert_same_on_both_engines(folder)
    assert rule_rows(result, "d", "contract")["unique"]["failing_rows"] == 5
    (folder / "parity.toml").write_text((folder / "parity.toml").read_text().replace(
        'rule = "qty <= 10"', 'rule = "isnotnull(qty) AND qty <= 10"'))
    result = run_job(load_job(folder), engine=spark_engine())  # polars SQL does not know isnotnull
    assert rule_rows(result, "d", "quality")["qty_small"]["failing_rows"] == 2


def test_driver_frame_of_types_spark_holds_otherwise_is_judged_by_polars(spark: Any, tmp_path: Path) -> None:
    folder = _dialect_job(tmp_path, "id > 1")
    text = (folder / "parity.toml").read_text().replace('python = "py.parquet"\n', "")
    (folder / "parity.toml").write_text('[job]\npython = "port:run"\n' + text)
    (folder / "port.py").write_text(
        "import datetime as dt\nimport polars as pl\n"
        "def run():\n    return {'d': pl.DataFrame({'id': [1, 2], 'name': ['Ab', 'c'],\n"
        "                                  'at': [dt.time(1, 2), dt.time(3, 4)]})}\n")
    result = assert_same_on_both_engines(folder)
    assert rule_rows(result, "d", "quality")["r"]["failing_rows"] == 1


def test_spark_port_rules_agree(spark: Any, tmp_path: Path) -> None:
    """A port that returns a Spark DataFrame: its rules are judged in Spark, the same facts as on polars."""
    folder = _rules_job(tmp_path, python="x")
    text = (folder / "parity.toml").read_text().replace('python = "x"\n', "")
    (folder / "parity.toml").write_text('[job]\npython = "port:run"\n' + text)
    (folder / "port.py").write_text(
        "import polars as pl\n"
        "from pyspark.sql import SparkSession\n"
        "def run():\n"
        "    spark = SparkSession.builder.getOrCreate()\n"
        "    frame = pl.read_parquet(__file__.replace('port.py', 'py.parquet')).drop('ts')\n"  # TIMESTAMP_LTZ
        "    return {'d': spark.createDataFrame(frame.to_arrow()).repartition(3).orderBy('id')}\n")
    result = assert_same_on_both_engines(folder)
    assert rule_rows(result, "d", "contract")["unique"]["failing_rows"] == 5


# --------------------------------------------------------------------------------------------------------------
# the SQL dialect is the engine's


def _dialect_job(root: Path, rule: str) -> Path:
    folder = make_job(root, "j", f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.parquet"
        keys = ["id"]
        [[datasets.d.quality]]
        name = "r"
        rule = "{rule}"
    """)
    write_sas7bdat(folder / "d.sas7bdat", [Column("id", "numeric", [1, 2]), Column("name", "string", ["Ab", "c"])])
    pl.DataFrame({"id": [1, 2], "name": ["Ab", "c"]}).write_parquet(folder / "py.parquet")
    return folder


def _run(folder: Path, *extra: str) -> int:
    return main(["run", "j", "--jobs-dir", str(folder.parent), "--report-dir", str(folder.parent / "out"), *extra])


@pytest.mark.parametrize(("rule", "polars_ok", "spark_ok"), [
    ("name ~ '^A'", True, False),          # polars' regex operator; in Spark SQL ~ is a bitwise NOT
    ("isnotnull(name) AND id DIV 1 >= 1", False, True),  # Spark's functions and integer division
])
def test_each_engine_parses_in_its_own_dialect(spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               rule: str, polars_ok: bool, spark_ok: bool) -> None:
    import polars as pl_

    try:
        pl_.sql_expr(rule)
        parses = True
    except Exception:
        parses = False
    if parses != polars_ok:
        pytest.skip(f"this polars version {'takes' if parses else 'refuses'} {rule!r}")
    folder = _dialect_job(tmp_path, rule)
    assert (_run(folder) != 2) == polars_ok
    err = capsys.readouterr().err
    if not polars_ok:
        assert "polars SQL" in err and "[datasets.d.quality[0].rule]" in err, err
    assert (_run(folder, "--engine", "spark") != 2) == spark_ok
    err = capsys.readouterr().err
    if not spark_ok:
        assert "Spark SQL" in err and "[datasets.d.quality[0].rule]" in err, err


@pytest.mark.parametrize(("rule", "text"), [
    ("nope > 0", "neither output"),
    ("id >", "does not parse in Spark SQL"),
    ("id > 0, name = 'c'", "Spark SQL"),
    ("id > 0 AS ok", "not one condition in Spark SQL"),
    ("id + 1", "not true/false"),
    ("no_such_function(id)", "cannot run on the Python output in Spark SQL"),
    ("CAST(name AS INT) > 0", "cannot run on the Python output in Spark SQL"),  # ANSI mode: a failed cast
])
def test_rule_spark_rejects_is_a_spec_error_before_any_comparison(spark: Any, tmp_path: Path, rule: str,
                                                                  text: str) -> None:
    folder = _dialect_job(tmp_path, rule)
    job = load_job(folder)
    with pytest.raises(SpecError) as err:
        run_job(job, engine=spark_engine())
    assert text in str(err.value) and err.value.key == "datasets.d.quality[0].rule", str(err.value)


def test_column_only_on_the_sas_side_fails_the_rule_on_both_engines(spark: Any, tmp_path: Path) -> None:
    folder = _dialect_job(tmp_path, "sas_only > 0")
    write_sas7bdat(folder / "d.sas7bdat", [Column("id", "numeric", [1, 2]), Column("name", "string", ["Ab", "c"]),
                                           Column("sas_only", "numeric", [1, 2])])
    result = assert_same_on_both_engines(folder)
    row = rule_rows(result, "d", "quality")["r"]
    assert row["status"] == "fail" and "sas_only" in row["missing"]


# --------------------------------------------------------------------------------------------------------------
# nothing but counts and samples reach the driver


def test_rules_collect_no_table_to_the_driver(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rule fails on every row of a 20,000-row table: the rules bring back counts and at most 5 sample rows
    per rule, never the table (DataFrame.collect/toArrow/toPandas are counted while the rules run)."""
    from parity.spark.quality import evaluate_spark
    from parity.spark.sources import parquet_side, sas_side

    n = 20_000
    folder = make_job(tmp_path, "big", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.parquet"
        keys = ["id"]
        [datasets.d.contract]
        unique = ["grp"]
        [datasets.d.contract.columns]
        id = { type = "string" }
        name = { type = "string", max_length = 1, nullable = false }
        amount = { type = "decimal(5,1)" }
        [[datasets.d.quality]]
        name = "never"
        rule = "amount < 0"
        [[datasets.d.quality]]
        name = "lookup"
        lookup = { column = "name", file = "ref.csv", key = "name" }
        [[datasets.d.quality]]
        name = "distinct"
        distinct = { column = "amount", max = 1 }
    """, files={"ref.csv": "name\nnone\n"})
    frame = pl.DataFrame({"id": range(n), "name": ["long name"] * n, "amount": [i + 0.125 for i in range(n)],
                          "grp": [i // 2 for i in range(n)]})
    frame.write_parquet(folder / "py.parquet")
    write_sas7bdat(folder / "d.sas7bdat", [Column("id", "numeric", list(range(3))),
                                           Column("name", "string", ["a", "b", "c"]),
                                           Column("amount", "numeric", [1.0, 2.0, 3.0]),
                                           Column("grp", "numeric", [1, 2, 3])])
    job = load_job(folder)
    ds = job.datasets[0]
    sas = sas_side(spark, ds.sas)
    py = parquet_side(spark, str(ds.python), "d")
    seen: list[int] = []
    DataFrame = type(py.sdf)  # the session's DataFrame class (classic or connect)
    for method in ("collect", "toArrow", "toPandas"):
        original = getattr(DataFrame, method)

        def counted(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            out = _original(self, *args, **kwargs)
            seen.append(out.num_rows if hasattr(out, "num_rows") else len(out))
            return out

        monkeypatch.setattr(DataFrame, method, counted)
    facts = evaluate_spark(ds, job.spec_file, sas, py)
    monkeypatch.undo()
    assert facts is not None
    by_name = {f.name: f for f in facts.contract}
    assert by_name["name.max_length"].failing_rows == n and by_name["amount.decimal"].failing_rows == n
    assert by_name["unique"].failing_rows == n and len(by_name["unique"].sample) == 5
    assert {f.name: f.failing_rows for f in facts.quality} == {"never": n, "lookup": n, "distinct": n}
    assert seen and max(seen) <= 5, seen
    assert sum(seen) < 200, seen


# --------------------------------------------------------------------------------------------------------------
# python = "x.parquet" (a file, a folder, a glob) is read by Spark


def _parquet_parts(folder: Path, frame: pl.DataFrame) -> None:
    """Three files of very different sizes (Spark packs big files first: the order must still be the files')."""
    out = folder / "out"
    out.mkdir()
    frame.slice(0, 5).write_parquet(out / "part-0.parquet")
    frame.slice(5, 300).write_parquet(out / "part-1.parquet")
    frame.slice(305).write_parquet(out / "part-2.parquet")


@pytest.mark.parametrize("python", ["out", "out/*.parquet", "whole.parquet", "parquet:out"])
def test_parquet_output_is_read_by_spark_in_the_polars_order(spark: Any, tmp_path: Path, python: str) -> None:
    from parity.run.spark import _spark_read

    n = 400
    frame = pl.DataFrame({"x": [float(i % 7) for i in range(n)], "s": [f"v{i}" for i in range(n)]})
    folder = make_job(tmp_path, "j", f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "{python}"
        sort_by = ["x"]
        [[datasets.d.quality]]
        name = "x_small"
        rule = "x < 6"
    """)
    _parquet_parts(folder, frame)
    frame.write_parquet(folder / "whole.parquet")
    # no keys: rows are paired by position, so a row order that differs shows as differences
    shifted = frame.with_columns(pl.when(pl.int_range(n) == 350).then(99.0).otherwise(pl.col("x")).alias("x"))
    write_sas7bdat(folder / "d.sas7bdat", [Column("x", "numeric", shifted["x"].to_list()),
                                           Column("s", "string", shifted["s"].to_list())])
    job = load_job(folder)
    if job.datasets[0].python is not None:
        side = _spark_read(spark, job.datasets[0].python, "d")
        assert side is not None and side.table is None  # in Spark, not on the driver
    result = assert_same_on_both_engines(folder)
    ds = result.datasets[0]
    assert {c.name: c.mismatches for c in ds.columns}["x"] == 1
    assert rule_rows(result, "d", "quality")["x_small"]["failing_rows"] == n // 7 + (1 if n % 7 > 6 else 0)


def test_hive_partitioned_parquet_output_has_the_polars_types(spark: Any, tmp_path: Path) -> None:
    folder = make_job(tmp_path, "j", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "lake"
        keys = ["id"]
        [datasets.d.contract]
        extra_columns = "allow"
        [datasets.d.contract.columns]
        year = { type = "integer", nullable = false }
    """)
    for year in (2023, 2024):
        part = folder / "lake" / f"year={year}"
        part.mkdir(parents=True)
        pl.DataFrame({"id": [year * 10 + i for i in range(3)], "v": [1.5, 2.5, 3.5]}).write_parquet(
            part / "data.parquet")
    ids = [y * 10 + i for y in (2023, 2024) for i in range(3)]
    write_sas7bdat(folder / "d.sas7bdat", [Column("id", "numeric", ids), Column("v", "numeric", [1.5, 2.5, 3.5] * 2),
                                           Column("year", "numeric", [2023] * 3 + [2024] * 3)])
    result = assert_same_on_both_engines(folder)
    assert result.verdict == "pass", json.dumps([c.summary for c in result.datasets[0].checks])


def test_csv_reference_that_does_not_convert_is_the_same_spec_error(spark: Any, tmp_path: Path) -> None:
    folder = _rules_job(tmp_path)
    (folder / "ref" / "ids.csv").write_text("id\n1\n2\nabc\n.\n4x\n")
    job = load_job(folder)
    with pytest.raises(SpecError) as on_polars:
        run_job(job)
    with pytest.raises(SpecError) as on_spark:
        run_job(job, engine=spark_engine())
    assert str(on_spark.value) == str(on_polars.value)
    assert "2 of 5 values" in str(on_spark.value) and "'abc' in data row 3" in str(on_spark.value)


@pytest.mark.parametrize("variant", ["rename", "blanks_kept", "empty"])
def test_variants_agree(spark: Any, tmp_path: Path, variant: str) -> None:
    """Renamed SAS columns, strings.blank_is_missing = false, and an empty Python output: the same facts."""
    rows = 0 if variant == "empty" else 6
    sas_name = "CODE_SAS" if variant == "rename" else "code"
    settings = {"rename": '[datasets.d.rename]\nCODE_SAS = "code"\n',
                "blanks_kept": "[datasets.d.strings]\nblank_is_missing = false\n", "empty": ""}[variant]
    folder = make_job(tmp_path, "j", f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.parquet"
        keys = ["id"]
        {settings}
        [datasets.d.contract]
        unique = ["code"]
        [datasets.d.contract.columns]
        code = {{ type = "string", max_length = 2, nullable = false }}
        v = {{ type = "decimal(4,1)", nullable = false }}
        [[datasets.d.quality]]
        name = "code_set"
        rule = "code IN ('A', 'BB', ' ') OR code IS NULL"
        [[datasets.d.quality]]
        name = "v_distinct"
        distinct = {{ column = "v", min = 2 }}
        [[datasets.d.quality]]
        name = "code_lookup"
        lookup = {{ column = "code", file = "ref.csv" }}
    """, files={"ref.csv": "code\nA\nBB\n"})
    codes = ["A", "BB", "  ", "A", "CCC", ""][:rows]
    values = [1.5, 2.25, None, 1.5, 100.0, 3.0][:rows]
    pl.DataFrame({"id": pl.Series(range(rows), dtype=pl.Int64), "code": pl.Series(codes, dtype=pl.String),
                  "v": pl.Series(values, dtype=pl.Float64)}).write_parquet(folder / "py.parquet")
    write_sas7bdat(folder / "d.sas7bdat", [Column("id", "numeric", list(range(rows))),
                                           Column(sas_name, "string", codes),
                                           Column("v", "numeric", values)])
    result = assert_same_on_both_engines(folder)
    quality = rule_rows(result, "d", "quality")
    if variant == "empty":
        assert quality["code_set"]["failing_rows"] == 0 and quality["v_distinct"]["distinct"] == 0
    else:
        contract = rule_rows(result, "d", "contract")
        blanks = 0 if variant == "blanks_kept" else 2
        assert contract["code.nullable"]["failing_rows"] == blanks
        assert contract["code.nullable"]["sas"]["failing_rows"] == blanks
        assert quality["code_lookup"]["failing_rows"] == (3 if variant == "blanks_kept" else 1)
