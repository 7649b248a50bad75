"""The DQ gate ([[datasets.<ds>.quality]]): SQL rules, lookups, distinct counts, severities, the SAS output's facts
(information only), spec errors, verdicts and exit codes, pytest items, HTML, schema and deltas."""

from __future__ import annotations

import json
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.cli.main import main
from parity.engine.quality import RuleFact, evaluate
from parity.errors import SpecError
from parity.spec.contract_load import parse_quality
from tests.helpers import Column, make_job, write_sas7bdat
from tests.test_contract import SPEC, inner_pytest, parquet_job, py_table, rules, run, sas_table, status

pytest_plugins = ["pytester"]


def qfacts(py: pl.DataFrame, toml: str, folder: Path = Path("."), sas: pl.DataFrame | None = None,
           keys: tuple[str, ...] = (), side: str = "python") -> dict[str, RuleFact]:
    raw = tomllib.loads(textwrap.dedent(toml))
    quality = parse_quality(SPEC, folder, "datasets.d.quality", raw["quality"])
    sas_frame = sas if sas is not None else py.select(
        pl.col(c).cast(pl.Float64) if py.schema[c].is_numeric() else pl.col(c).cast(pl.String) for c in py.columns)
    got = evaluate(None, quality, SPEC, "datasets.d", sas_table(sas_frame), py_table(py), {}, keys)
    return {f.name: f for f in (got.quality if side == "python" else got.quality_sas)}


CLAIMS = pl.DataFrame({"claim_id": ["C1", "C2", "C3", "C4", "C5"], "paid": [10.0, -1.0, None, float("nan"), 0.0],
                       "provider_id": ["P01", "P02", "P99", None, "  "], "member_id": ["M1", "M1", "M2", "M2", "M3"]})


# ---- SQL rules


def test_rule_counts_rows_where_it_is_not_true_null_included() -> None:
    f = qfacts(CLAIMS, '[[quality]]\nname = "paid_not_negative"\nrule = "paid >= 0"\n', keys=("claim_id",))
    rule = f["paid_not_negative"]
    # -1 fails, and so do NULL and NaN (NaN is missing): the rule is not true on them
    assert rule.failing_rows == 3 and rule.judged_rows == 5
    assert [s["row"] for s in rule.sample] == [2, 3, 4]
    assert rule.sample[0] == {"row": 2, "claim_id": "C2", "paid": -1.0}
    assert rule.sample[2]["paid"] == "NaN"  # the raw value in the sample
    ok = qfacts(CLAIMS, '[[quality]]\nname = "r"\nrule = "paid IS NULL OR paid >= 0"\n')["r"]
    assert ok.failing_rows == 1


def test_not_null_and_range_as_rules_blank_is_missing() -> None:
    f = qfacts(CLAIMS, """
        [[quality]]
        name = "provider_not_null"
        rule = "provider_id IS NOT NULL"
        [[quality]]
        name = "paid_range"
        rule = "paid BETWEEN 0 AND 100"
        [[quality]]
        name = "member_format"
        rule = "member_id LIKE 'M%'"
    """)
    assert f["provider_not_null"].failing_rows == 2  # None and a blank string (SAS blank = missing)
    assert f["paid_range"].failing_rows == 3
    assert f["member_format"].failing_rows == 0 and f["member_format"].sample == ()


def test_rule_names_columns_case_insensitively() -> None:
    f = qfacts(CLAIMS.rename({"paid": "PAID"}), '[[quality]]\nname = "r"\nrule = "Paid > 5"\n')
    assert f["r"].failing_rows == 4


def test_rule_trailing_blanks_do_not_count() -> None:
    frame = pl.DataFrame({"s": ["PAID   ", "PAID", "DENIED"]})
    assert qfacts(frame, """[[quality]]\nname = "r"\nrule = "s = 'PAID'"\n""")["r"].failing_rows == 1


def test_rule_on_dates() -> None:
    import datetime as dt

    frame = pl.DataFrame({"d": [dt.date(2024, 1, 5), dt.date(2023, 12, 31), None]})
    f = qfacts(frame, """[[quality]]\nname = "r"\nrule = "d >= DATE '2024-01-01'"\n""",
               sas=pl.DataFrame({"d": [23380.0, 23375.0, None]}))
    assert f["r"].failing_rows == 2


# ---- lookups


def test_lookup_csv_keeps_leading_zeros_and_skips_missing(tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "providers.csv").write_text("provider_id,name\nP01,a\nP02,b\n007,c\n")
    frame = CLAIMS.with_columns(pl.Series("provider_id", ["P01", "P02", "P99", None, "7"]))
    f = qfacts(frame, '[[quality]]\nname = "p"\nlookup = { column = "provider_id", file = "ref/providers.csv" }\n',
               folder=tmp_path, keys=("claim_id",))["p"]
    assert f.failing_rows == 2  # P99, and "7" (the register has "007"); a missing value is not looked up
    assert f.sample == ({"row": 3, "claim_id": "C3", "provider_id": "P99"},
                        {"row": 5, "claim_id": "C5", "provider_id": "7"})


def test_lookup_numeric_keys_against_csv_and_parquet(tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text("id\n1\n2\n3.0\n")
    pl.DataFrame({"ID": [1, 2, 3]}).write_parquet(tmp_path / "ref.parquet")
    frame = pl.DataFrame({"k": [1, 2, 3, 4, None]})
    for file in ("ref.csv", "ref.parquet"):
        f = qfacts(frame, f'[[quality]]\nname = "p"\nlookup = {{ column = "k", file = "{file}", key = "id" }}\n',
                   folder=tmp_path)["p"]
        assert f.failing_rows == 1 and f.sample[0]["k"] == 4, file


def test_lookup_against_a_sas_file(tmp_path: Path) -> None:
    write_sas7bdat(tmp_path / "ref.sas7bdat", [Column("CODE", "string", ["A  ", "B"]),
                                               Column("N", "numeric", [1, 2])])
    frame = pl.DataFrame({"code": ["A", "B", "C"]})
    f = qfacts(frame, '[[quality]]\nname = "p"\nlookup = { column = "code", file = "ref.sas7bdat" }\n',
               folder=tmp_path)["p"]
    assert f.failing_rows == 1 and f.detail["file"] == "ref.sas7bdat"


def test_lookup_key_column_missing_or_of_another_kind_is_a_spec_error(tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text("code\nA\n")
    pl.DataFrame({"k": ["a"]}).write_parquet(tmp_path / "ref.parquet")
    with pytest.raises(SpecError) as err:
        qfacts(pl.DataFrame({"k": ["A"]}), '[[quality]]\nname = "p"\nlookup = { column = "k", file = "ref.csv" }\n',
               folder=tmp_path)
    assert err.value.key == "datasets.d.quality[0].lookup.key" and "no column 'k'" in str(err.value)
    with pytest.raises(SpecError) as err2:
        qfacts(pl.DataFrame({"k": [1]}), '[[quality]]\nname = "p"\nlookup = { column = "k", file = "ref.parquet" }\n',
               folder=tmp_path)
    assert "never match" in str(err2.value)


# ---- distinct


@pytest.mark.parametrize(("bounds", "failing"), [
    ("min = 3", 0), ("min = 4", 5), ("max = 2", 5), ("min = 1, max = 3", 0),
])
def test_distinct_counts_non_missing_values(bounds: str, failing: int) -> None:
    frame = CLAIMS.with_columns(pl.Series("member_id", ["M1", "M1", "M2", None, "M3"]))
    f = qfacts(frame, f'[[quality]]\nname = "d"\ndistinct = {{ column = "member_id", {bounds} }}\n')["d"]
    assert f.detail["distinct"] == 3 and f.failing_rows == failing


# ---- columns and the SAS side


def test_column_only_in_sas_fails_the_rule_not_the_spec() -> None:
    sas = pl.DataFrame({"a": [1.0], "b": [2.0]})
    f = qfacts(pl.DataFrame({"a": [1]}), '[[quality]]\nname = "r"\nrule = "b > 0"\n', sas=sas)["r"]
    assert f.missing and "'b'" in f.missing and f.failing_rows == 1


def test_column_in_neither_output_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as err:
        qfacts(pl.DataFrame({"a": [1]}), '[[quality]]\nname = "r"\nrule = "nope > 0"\n')
    assert err.value.key == "datasets.d.quality[0].rule" and "'nope'" in str(err.value)
    with pytest.raises(SpecError) as err2:
        qfacts(pl.DataFrame({"a": [1]}), '[[quality]]\nname = "r"\ndistinct = { column = "zz", min = 1 }\n')
    assert err2.value.key == "datasets.d.quality[0].distinct.column"


def test_sas_side_facts() -> None:
    sas = pl.DataFrame({"paid": [-1.0, -2.0, 3.0]})
    f = qfacts(pl.DataFrame({"paid": [1.0, 2.0, 3.0]}), '[[quality]]\nname = "r"\nrule = "paid >= 0"\n', sas=sas,
               side="sas")
    assert f["r"].failing_rows == 2


def test_rule_that_does_not_give_booleans_or_cannot_run_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as err:
        qfacts(pl.DataFrame({"paid": [1.0]}), '[[quality]]\nname = "r"\nrule = "paid + 1"\n')
    assert "not true/false" in str(err.value) and err.value.key == "datasets.d.quality[0].rule"
    import datetime as dt

    with pytest.raises(SpecError) as err2:
        qfacts(pl.DataFrame({"d": [dt.date(2024, 1, 1)]}), """[[quality]]\nname = "r"\nrule = "d > 'x'"\n""",
               sas=pl.DataFrame({"d": [1.0]}))
    assert "cannot run" in str(err2.value)


# ---- spec errors through parity run (exit 2, naming the file and the key)


@pytest.mark.parametrize(("body", "key", "text"), [
    ('[[datasets.d.quality]]\nname = "r"\nrule = "paid >="', "datasets.d.quality[0].rule", "does not parse"),
    ('[[datasets.d.quality]]\nname = "r"\nrule = ""', "datasets.d.quality[0].rule", "SQL expression"),
    ('[[datasets.d.quality]]\nrule = "x > 0"', "datasets.d.quality[0].name", "needs a name"),
    ('[[datasets.d.quality]]\nname = "r"', "datasets.d.quality[0]", "exactly one of"),
    ('[[datasets.d.quality]]\nname = "r"\nrule = "x > 0"\ndistinct = { column = "x", min = 1 }',
     "datasets.d.quality[0]", "exactly one of"),
    ('[[datasets.d.quality]]\nname = "r"\nrule = "x > 0"\nseverity = "high"', "datasets.d.quality[0].severity",
     "critical or warn"),
    ('[[datasets.d.quality]]\nname = "r"\nrule = "x > 0"\n[[datasets.d.quality]]\nname = "R"\nrule = "x > 1"',
     "datasets.d.quality[1].name", "unique"),
    ('[[datasets.d.quality]]\nname = "r"\nlookup = { column = "x", file = "nope.csv" }',
     "datasets.d.quality[0].lookup.file", "not found"),
    ('[[datasets.d.quality]]\nname = "r"\nlookup = { column = "x", file = "ref.txt" }',
     "datasets.d.quality[0].lookup.file", "must be one of"),
    ('[[datasets.d.quality]]\nname = "r"\nlookup = { file = "ref.csv" }', "datasets.d.quality[0].lookup",
     "needs 'column'"),
    ('[[datasets.d.quality]]\nname = "r"\ndistinct = { column = "x" }', "datasets.d.quality[0].distinct",
     "min and/or max"),
    ('[[datasets.d.quality]]\nname = "r"\ndistinct = { column = "x", min = 5, max = 1 }',
     "datasets.d.quality[0].distinct", "greater than max"),
    ('[[datasets.d.quality]]\nname = "r"\nrul = "x > 0"', "datasets.d.quality[0].rul", "Did you mean 'rule'"),
    ('[datasets.d.quality]\nname = "r"', "datasets.d.quality", "array of tables"),
    ('[[datasets.d.quality]]\nname = "r"\nrule = "nope > 0"', "datasets.d.quality[0].rule", "neither output"),
    ('[[datasets.d.quality]]\nname = "r"\nrule = "x + 1"', "datasets.d.quality[0].rule", "not true/false"),
])
def test_spec_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, key: str,
                            text: str) -> None:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", '[datasets.d]\nsas = "d.sas7bdat"\npython = "py.csv"\nkeys = ["id"]\n' + body,
                      files={"py.csv": "id,x\n1,2\n", "ref.csv": "x\n2\n", "ref.txt": "x"})
    write_sas7bdat(folder / "d.sas7bdat", [Column("id", "numeric", [1]), Column("x", "numeric", [2])])
    assert main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "parity.toml" in err and f"[{key}]" in err and text in err, err
    report = tmp_path / "out" / "j" / "parity.json"
    if report.exists():  # a name checked against the data: nothing was compared
        assert json.loads(report.read_text())["datasets"] == []


# ---- verdicts and exit codes


PY = pl.DataFrame({"id": [1, 2, 3], "paid": [10.0, -5.0, 2.0], "provider_id": ["P1", "P2", "P9"]})
SAS = [Column("id", "numeric", [1, 2, 3]), Column("paid", "numeric", [10.0, -5.0, 2.0]),
       Column("provider_id", "string", ["P1", "P2", "P9"])]


def dq_job(tmp_path: Path, rules_toml: str) -> Path:
    jobs = parquet_job(tmp_path, PY, SAS, rules_toml)
    (jobs / "j" / "providers.csv").write_text("provider_id\nP1\nP2\n")
    return jobs


CRITICAL = """
    [[datasets.d.quality]]
    name = "paid_not_negative"
    rule = "paid >= 0"
    severity = "critical"
"""
WARN = """
    [[datasets.d.quality]]
    name = "provider_exists"
    lookup = { column = "provider_id", file = "providers.csv", key = "provider_id" }
    severity = "warn"
"""


def test_critical_failure_fails_the_dataset_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run(dq_job(tmp_path, CRITICAL + WARN), tmp_path / "out")
    assert code == 1 and data["verdict"] == "fail" and status(data, "quality") == "fail"
    r = rules(data, "quality")
    assert r["paid_not_negative"]["status"] == "fail" and r["paid_not_negative"]["failing_rows"] == 1
    assert r["paid_not_negative"]["severity"] == "critical" and r["paid_not_negative"]["definition"] == "paid >= 0"
    assert r["paid_not_negative"]["sample"] == [{"row": 2, "id": 2, "paid": -5.0}]
    assert r["paid_not_negative"]["sas"] == {"status": "fail", "failing_rows": 1}
    assert r["provider_exists"]["status"] == "warn" and r["provider_exists"]["failing_rows"] == 1
    out = capsys.readouterr().out
    assert "quality" in out and "paid_not_negative" in out


def test_warnings_alone_warn_and_exit_0(tmp_path: Path) -> None:
    code, data = run(dq_job(tmp_path, WARN), tmp_path / "out")
    assert code == 0 and data["verdict"] == "warn"
    assert status(data, "quality") == "warn"
    summary = next(c for c in data["datasets"][0]["checks"] if c["name"] == "quality")["summary"]
    assert "1 warning of 1 DQ rule" in summary and "provider_exists: 1 row" in summary


def test_all_rules_pass(tmp_path: Path) -> None:
    code, data = run(dq_job(tmp_path, CRITICAL.replace("paid >= 0", "paid >= -10")), tmp_path / "out")
    assert code == 0 and status(data, "quality") == "pass"
    assert rules(data, "quality")["paid_not_negative"]["failing_rows"] == 0
    assert data["spec"]["rules"]["datasets"]["d"]["quality"] == [
        {"name": "paid_not_negative", "severity": "critical", "kind": "rule", "rule": "paid >= -10"}]


def test_html_rules_table(tmp_path: Path) -> None:
    run(dq_job(tmp_path, CRITICAL + WARN), tmp_path / "out")
    html = (tmp_path / "out" / "j" / "parity.html").read_text()
    table = html[html.index("Data quality rules"):]
    table = table[:table.index("</table>")]
    for text in ("paid_not_negative", "paid &gt;= 0 (critical)", "provider_id in providers.csv:provider_id (warn)",
                 "row 2: id=2, paid=-5.0", "row 3: id=3, provider_id=&#34;P9&#34;"):
        assert text in table, text


def test_pytest_items(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = dq_job(tmp_path, CRITICAL + WARN)
    result = inner_pytest(pytester, monkeypatch, "--parity", "j", "--parity-jobs-dir", str(jobs), "--parity-report-dir",
                                str(tmp_path / "out"), "-p", "no:cacheprovider", "-rA")
    text = result.stdout.str()
    assert result.parseoutcomes().get("failed") == 1
    assert "::d::quality" in text and "FAIL paid_not_negative: 1 of 3 rows" in text


# ---- deltas


def test_delta_new_failure_and_more_rows_worse_relaxed_severity(tmp_path: Path) -> None:
    jobs = dq_job(tmp_path, CRITICAL.replace("paid >= 0", "paid >= -10"))
    assert run(jobs, tmp_path / "base")[0] == 0
    toml = jobs / "j" / "parity.toml"
    pl.DataFrame({"id": [1, 2, 3], "paid": [10.0, -50.0, 2.0], "provider_id": ["P1", "P2", "P9"]}).write_parquet(
        jobs / "j" / "py.parquet")
    code, head = run(jobs, tmp_path / "head", "--baseline", str(tmp_path / "base"))
    assert code == 1
    worse = [c for c in head["delta"]["changes"] if c["kind"] == "worse"]
    assert any(c["check"] == "quality" and "rule paid_not_negative: pass -> fail, failing rows 0 -> 1" in c["what"]
               for c in worse), worse
    # a critical rule lowered to warn is a relaxation that needs approval
    toml.write_text(toml.read_text().replace('severity = "critical"', 'severity = "warn"'))
    code, head2 = run(jobs, tmp_path / "head2", "--baseline", str(tmp_path / "head"))
    relaxed = [c["what"] for c in head2["delta"]["changes"] if c["kind"] == "relaxed"]
    assert any("DQ rule paid_not_negative lowered from critical to warn" in w for w in relaxed), relaxed
    assert head2["delta"]["gate"] == "fail" and code == 1
    # removing the rule is a relaxation too
    toml.write_text(toml.read_text().split("[[datasets.d.quality]]")[0])
    _, head3 = run(jobs, tmp_path / "head3", "--baseline", str(tmp_path / "head"))
    assert any("DQ rule paid_not_negative removed" in c["what"] for c in head3["delta"]["changes"]
               if c["kind"] == "relaxed")


def test_delta_more_failing_rows_worse_fewer_better(tmp_path: Path) -> None:
    jobs = dq_job(tmp_path, CRITICAL)
    run(jobs, tmp_path / "base")
    pl.DataFrame({"id": [1, 2, 3], "paid": [-1.0, -5.0, 2.0], "provider_id": ["P1", "P2", "P9"]}).write_parquet(
        jobs / "j" / "py.parquet")
    _, head = run(jobs, tmp_path / "head", "--baseline", str(tmp_path / "base"))
    assert any("failing rows 1 -> 2" in c["what"] for c in head["delta"]["changes"] if c["kind"] == "worse")
    PY.write_parquet(jobs / "j" / "py.parquet")
    _, head2 = run(jobs, tmp_path / "head2", "--baseline", str(tmp_path / "head"))
    assert any("failing rows 2 -> 1" in c["what"] for c in head2["delta"]["changes"] if c["kind"] == "better")


# ---- the example job


def test_claims_monthly_example_declares_both_and_passes(tmp_path: Path) -> None:
    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    code = main(["run", "claims_monthly", "--jobs-dir", str(fixtures), "--report-dir", str(tmp_path)])
    data: dict[str, Any] = json.loads((tmp_path / "claims_monthly" / "parity.json").read_text())
    assert code == 0 and data["verdict"] == "pass"
    claims = data["datasets"][0]
    checks = {c["name"]: c for c in claims["checks"]}
    assert checks["contract"]["status"] == "pass" and checks["quality"]["status"] == "pass"
    assert len(checks["contract"]["details"]["rules"]) > 20
    assert {r["kind"] for r in checks["quality"]["details"]["rules"]} == {"rule", "lookup", "distinct"}


def test_description_is_reported_and_shown(tmp_path: Path) -> None:
    rules_toml = CRITICAL + 'description = "a refund is a separate claim line"\n'
    _, data = run(dq_job(tmp_path, rules_toml), tmp_path / "out")
    assert rules(data, "quality")["paid_not_negative"]["description"] == "a refund is a separate claim line"
    assert "paid &gt;= 0 (critical): a refund is a separate claim line" in (tmp_path / "out" / "j" /
                                                                           "parity.html").read_text()


# ---- the API, and a caller that forgets the rules


def test_compare_frames_takes_contract_and_quality() -> None:
    from parity.api import compare_frames

    sas = pl.DataFrame({"id": [1.0, 2.0], "paid": [1.0, -2.0]})
    py = pl.DataFrame({"id": [1, 2], "paid": [1.0, -2.0]})
    result = compare_frames(sas, py, keys=["id"], contract={"columns": {"id": {"type": "integer"}}, "extra_columns": "allow"},
                            quality=[{"name": "p", "rule": "paid >= 0", "severity": "warn"}])
    assert result.verdict == "warn"
    contract, quality = result.check("contract"), result.check("quality")
    assert contract is not None and contract.status == "pass"
    assert quality is not None and quality.status == "warn"
    assert quality.details["rules"][0]["failing_rows"] == 1
    with pytest.raises(SpecError) as err:
        compare_frames(sas, py, keys=["id"], quality=[{"name": "p", "rule": "nope > 0"}])
    assert err.value.key == "datasets.data.quality[0].rule"


def test_declared_rules_never_pass_unjudged() -> None:
    """A caller (an engine path) that compares without evaluating the rules gets an error, not a skipped check."""
    from parity.api import make_spec
    from parity.checks.core import build_result
    from parity.engine.core import compare_tables

    spec = make_spec("d", keys=["id"], contract={"columns": {"id": {"nullable": False}}},
                     quality=[{"name": "p", "rule": "id > 0"}])
    frame = pl.DataFrame({"id": [1.0]})
    result = build_result(compare_tables(spec, sas_table(frame), py_table(frame)))
    assert result.verdict == "error"
    assert {c.name: c.status for c in result.checks if c.name in ("contract", "quality")} == {
        "contract": "error", "quality": "error"}


def test_delta_of_table_level_rules_ignores_the_table_size() -> None:
    """A distinct rule (or extra_columns) breaks on every row: a larger table is not a worse rule; its distance
    outside the bounds (or a new extra column) is."""
    from parity.report.delta import _rule_changes

    def details(distinct: int, rows: int, extra: list[str]) -> dict[str, Any]:
        return {"rules": [
            {"name": "members", "kind": "distinct", "status": "fail", "failing_rows": rows, "distinct": distinct,
             "min": 50, "max": None},
            {"name": "extra_columns", "kind": "extra_columns", "status": "warn", "failing_rows": rows,
             "columns": extra}]}

    same = _rule_changes("j", "d", "quality", details(40, 1000, ["a"]), details(40, 2000, ["a"]))
    assert same == []
    closer = _rule_changes("j", "d", "quality", details(40, 1000, ["a"]), details(45, 2000, ["a"]))
    assert [(c.kind, c.what) for c in closer] == [
        ("better", "rule members (fail): 40 distinct values (10 outside the bounds) -> 45 distinct values (5 "
         "outside the bounds)")]
    farther = _rule_changes("j", "d", "quality", details(40, 1000, ["a"]), details(30, 900, ["b"]))
    assert [c.kind for c in farther] == ["worse", "worse"]
