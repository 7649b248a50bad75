"""The CI gate: deltas that nothing can fool (per column and check), relaxed specs, waived counts, Markdown escaping."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from parity.checks.keysets import key_set
from parity.cli.main import main
from parity.model import KEY_DIGESTS_MAX, SCHEMA_VERSION
from parity.report.delta import Change, diff_reports, load_reports, markdown, new_keys
from parity.report.markdown import md_code, md_text, render_summary
from tests.helpers import Column, make_job, write_sas7bdat
from tests.test_waivers_and_delta import CSV_DIFF, FUTURE, run_report, waiver

pytest_plugins = ["pytester"]

GOOD = "id,amt,name\n1,1.0,a\n2,2.0,b\n3,3.0,c\n4,4.0,d\n"


def gate_job(tmp_path: Path, csv: str, extra: str = "", name: str = "j", keys: str = '["id"]') -> Path:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, name, f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.csv"
        keys = {keys}
        {extra}
    """, files={"py.csv": csv})
    write_sas7bdat(folder / "d.sas7bdat", [
        Column("ID", "numeric", [1, 2, 3, 4]), Column("AMT", "numeric", [1.0, 2.0, 3.0, 4.0]),
        Column("NAME", "string", ["a", "b", "c", "d"]),
    ])
    return jobs


def head_run(tmp_path: Path, jobs: Path, csv: str | None = None, spec: str | None = None,
             *extra: str) -> tuple[int, dict[str, Any]]:
    """Re-run job j after changing its Python output and/or its dataset rules, against the baseline in base/."""
    if csv is not None:
        (jobs / "j" / "py.csv").write_text(csv)
    if spec is not None:
        toml = jobs / "j" / "parity.toml"
        toml.write_text(toml.read_text() + "\n" + spec)
    out = tmp_path / f"head{len(list(tmp_path.glob('head*')))}"
    return run_report(jobs, out, "--baseline", str(tmp_path / "base"), *extra)


def changes(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in data["delta"]["changes"] if c["kind"] == kind]


def whats(data: dict[str, Any], kind: str) -> str:
    return "\n".join(f"{c['check']}/{c['column']}: {c['what']}" for c in changes(data, kind))


# ---- item 9: per column and per check, counts, largest differences and key sets


def test_column_dropped_by_the_port_is_worse(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, CSV_DIFF)
    assert run_report(jobs, tmp_path / "base")[0] == 1
    code, head = head_run(tmp_path, jobs, "id,name\n1,a\n2,b\n3,c\n4,d\n")
    assert code == 1
    text = whats(head, "worse")
    assert "None/AMT: column no longer compared: compared -> sas_only" in text
    assert "schema/None: new finding: column only in SAS: AMT" in text


def test_new_schema_entry_in_an_already_failing_check_is_worse(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, "id,amt,name,extra1\n1,1.0,a,x\n2,2.0,b,x\n3,3.0,c,x\n4,4.0,d,x\n")
    code, base = run_report(jobs, tmp_path / "base")
    assert code == 1 and {c["name"]: c["status"] for c in base["datasets"][0]["checks"]}["schema"] == "fail"
    code, head = head_run(tmp_path, jobs, "id,amt,name,extra1,extra2\n1,1.0,a,x,y\n2,2.0,b,x,y\n3,3.0,c,x,y\n"
                          "4,4.0,d,x,y\n")
    assert code == 1
    assert "schema/None: new finding: column only in Python: extra2" in whats(head, "worse")


def test_max_abs_diff_growth_with_the_same_count_is_worse(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, "id,amt,name\n1,1.0,a\n2,2.01,b\n3,3.0,c\n4,4.0,d\n")
    assert run_report(jobs, tmp_path / "base")[0] == 1
    code, head = head_run(tmp_path, jobs, "id,amt,name\n1,1.0,a\n2,2002.0,b\n3,3.0,c\n4,4.0,d\n")
    assert code == 1
    col = next(c for c in head["datasets"][0]["columns"] if c["name"] == "AMT")
    assert col["mismatches"] == 1
    assert re.search(r"AMT: max abs diff 0\.01\d* -> 2000", whats(head, "worse"))


def test_same_count_at_other_keys_is_worse_and_a_subset_is_better(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, "id,amt,name\n1,1.0,a\n2,2.5,b\n3,3.5,c\n4,4.0,d\n")
    assert run_report(jobs, tmp_path / "base")[0] == 1
    # the same count and the same largest difference, but at another key: a new regression
    code, head = head_run(tmp_path, jobs, "id,amt,name\n1,1.0,a\n2,2.5,b\n3,3.0,c\n4,4.5,d\n")
    assert code == 1
    assert "AMT: 1 mismatching key(s) that did not mismatch in the baseline" in whats(head, "worse")
    # a strict subset of the baseline's mismatches: better, passes the gate
    code, head = head_run(tmp_path, jobs, "id,amt,name\n1,1.0,a\n2,2.5,b\n3,3.0,c\n4,4.0,d\n")
    assert code == 0, whats(head, "worse")
    assert "AMT: mismatches 2 (0 waived, 2 not) -> 1 (0 waived, 1 not)" in whats(head, "better")


def test_rows_only_in_one_side_at_other_keys_is_worse(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, "id,amt,name\n1,1.0,a\n2,2.0,b\n3,3.0,c\n")
    assert run_report(jobs, tmp_path / "base")[0] == 1
    code, head = head_run(tmp_path, jobs, "id,amt,name\n1,1.0,a\n2,2.0,b\n4,4.0,d\n")
    assert code == 1
    assert "key_match/None: rows only in SAS: 1 -> 1, 1 of them at keys that were not in the baseline" \
        in whats(head, "worse")
    code, head = head_run(tmp_path, jobs, "id,amt,name\n1,1.0,a\n2,2.0,b\n3,3.0,c\n9,9.0,z\n")
    assert code == 1 and "rows only in Python: 0 -> 1" in whats(head, "worse")


def test_duplicates_at_other_keys_are_worse(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, "id,amt,name\n1,1.0,a\n1,1.0,a\n2,2.0,b\n3,3.0,c\n4,4.0,d\n")
    assert run_report(jobs, tmp_path / "base")[0] == 1
    code, head = head_run(tmp_path, jobs, "id,amt,name\n1,1.0,a\n2,2.0,b\n3,3.0,c\n3,3.0,c\n4,4.0,d\n")
    assert code == 1
    text = whats(head, "worse")
    assert "key_uniqueness/None: Python rows with duplicate keys: 2 -> 2, 1 of them at keys" in text


def test_sort_violations_at_other_rows_are_worse(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, "id,amt,name\n1,1.0,a\n3,3.0,c\n2,2.0,b\n4,4.0,d\n", 'sort_by = ["id"]')
    assert run_report(jobs, tmp_path / "base")[0] == 1
    code, head = head_run(tmp_path, jobs, "id,amt,name\n1,1.0,a\n2,2.0,b\n4,4.0,d\n3,3.0,c\n")
    assert code == 1
    assert "sort_order/None: out-of-order rows 1 -> 1 (first at 3 -> 4)" in whats(head, "worse")


def test_key_sets_are_deterministic_and_in_the_report(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, CSV_DIFF)
    _, one = run_report(jobs, tmp_path / "one")
    _, two = run_report(jobs, tmp_path / "two")
    amt = [next(c for c in r["datasets"][0]["columns"] if c["name"] == "AMT") for r in (one, two)]
    assert amt[0]["mismatch_keys"] == amt[1]["mismatch_keys"]
    assert amt[0]["mismatch_keys"]["count"] == 2 and len(amt[0]["mismatch_keys"]["digests"]) == 32
    name = next(c for c in one["datasets"][0]["columns"] if c["name"] == "NAME")
    assert name["mismatch_keys"] is None


def test_key_set_subset_and_large_sets() -> None:
    import polars as pl

    base = key_set(pl.DataFrame({"k": [1.0, 2.0, 3.0]}), ["k"])
    sub = key_set(pl.DataFrame({"k": [3.0, 1.0]}), ["k"])
    other = key_set(pl.DataFrame({"k": [1.0, 4.0]}), ["k"])
    assert new_keys(base, sub) == 0 and new_keys(base, other) == 1 and new_keys(base, base) == 0
    assert key_set(pl.DataFrame({"k": []}, schema={"k": pl.Float64}), ["k"]) is None
    big = KEY_DIGESTS_MAX + 1
    large = key_set(pl.DataFrame({"k": list(range(big))}), ["k"])
    smaller = key_set(pl.DataFrame({"k": list(range(big - 1))}), ["k"])
    assert large is not None and large["digests"] is None
    assert new_keys(large, smaller) is None  # cannot tell a subset from a different set: the caller says worse


# ---- item 10: relaxed specs need approval


RELAXATIONS = [
    ("", 'ignore = ["amt"]', "column AMT now ignored"),
    ("", '[datasets.d.tolerance]\namt = { method = "absolute", criterion = 0.1 }',
     "tolerance for AMT widened: exact -> absolute 0.1"),
    ('[datasets.d.tolerance]\namt = { method = "absolute", criterion = 0.001 }',
     '[datasets.d.tolerance]\namt = { method = "absolute", criterion = 0.5 }',
     "tolerance for AMT widened: absolute 0.001 -> absolute 0.5"),
    ("", '[datasets.d.tolerance]\ndefault = { method = "relative", criterion = 0.1 }',
     "default tolerance widened"),
    ("", '[datasets.d.tolerance]\ndefault_date = { method = "absolute", criterion = 1 }',
     "default_date tolerance widened: exact -> absolute 1"),
    ("", '[datasets.d.severity]\nnumeric_tolerance = "off"', "severity of numeric_tolerance lowered: fail -> off"),
    ("", '[datasets.d.severity]\nnumeric_tolerance = "warn"', "severity of numeric_tolerance lowered: fail -> warn"),
    ("", '[datasets.d.strings]\nignore_case = true', "strings.ignore_case loosened"),
    ("", '[datasets.d.strings]\nstrip = "both"', "strings.strip loosened: trailing -> both"),
    ('[datasets.d.strings]\nblank_is_missing = false', '[datasets.d.strings]\nblank_is_missing = true',
     "strings.blank_is_missing loosened"),
    ("", '[datasets.d.numbers]\nspecial_missing = "as_missing"', "numbers.special_missing loosened"),
    ("", '[datasets.d.numbers]\nnomissing = true', "numbers.nomissing loosened"),
    ('[datasets.d.numbers]\nstorage = "exact"', '[datasets.d.numbers]\nstorage = "truncate"',
     "numbers.storage loosened: exact -> truncate"),
    ("", '[datasets.d.dates]\ndatetime_precision = "s"', "dates.datetime_precision loosened: us -> s"),
    ("", "WAIVER", "waiver added for column AMT"),
    ("WAIVER_SHORT", "WAIVER", "waiver extended for column AMT"),
    ('sort_by = ["id"]', "", "sort_by loosened"),
]


def _spec_text(text: str) -> str:
    if text == "WAIVER":
        return waiver(column="amt", expires=FUTURE)
    if text == "WAIVER_SHORT":
        return waiver(column="amt", expires=FUTURE, max_abs_diff=0.001)
    return text


@pytest.mark.parametrize(("base_rule", "head_rule", "what"), RELAXATIONS, ids=[r[2].split(":")[0] for r in RELAXATIONS])
def test_relaxed_spec_needs_approval(tmp_path: Path, base_rule: str, head_rule: str, what: str) -> None:
    jobs = gate_job(tmp_path, CSV_DIFF, _spec_text(base_rule))
    run_report(jobs, tmp_path / "base")
    gate_job(tmp_path, CSV_DIFF, _spec_text(head_rule))
    code, head = head_run(tmp_path, jobs)
    assert code == 1, head["delta"]
    assert head["delta"]["relaxed"] >= 1 and head["delta"]["gate"] == "fail"
    assert what in whats(head, "relaxed")
    assert "better" not in {c["kind"] for c in head["delta"]["changes"] if c["check"] == "numeric_tolerance"}
    code, accepted = head_run(tmp_path, jobs, None, None, "--accept-relaxed")
    assert code == 0, whats(accepted, "worse")
    assert accepted["delta"]["accept_relaxed"] is True and accepted["delta"]["gate"] == "pass"


def test_tightened_spec_is_not_relaxed(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, CSV_DIFF, '[datasets.d.tolerance]\namt = { method = "absolute", criterion = 0.5 }')
    assert run_report(jobs, tmp_path / "base")[0] == 0
    toml = jobs / "j" / "parity.toml"
    toml.write_text(toml.read_text().replace("criterion = 0.5", "criterion = 0.05"))
    code, head = head_run(tmp_path, jobs)
    assert code == 0 and head["delta"]["relaxed"] == 0


def test_report_keeps_the_spec_sha_and_rules(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, CSV_DIFF, 'ignore = ["NAME"]\n[datasets.d.tolerance]\nAmt = "exact"')
    _, data = run_report(jobs, tmp_path / "r")
    rules = data["spec"]["rules"]["datasets"]["d"]
    assert len(data["spec"]["sha256"]) == 64
    assert rules["ignore"] == ["name"] and rules["keys"] == ["id"] and rules["sas"] == "d.sas7bdat"
    assert rules["tolerance"]["amt"] == {"method": "exact", "criterion": 0.0, "delta": 0.0}
    assert rules["severity"]["numeric_tolerance"] == "fail"


def test_dataset_removed_from_the_spec_is_relaxed(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, GOOD, '[datasets.e]\nsas = "d.sas7bdat"\npython = "py.csv"\nkeys = ["id"]')
    assert run_report(jobs, tmp_path / "base")[0] == 0
    toml = jobs / "j" / "parity.toml"
    toml.write_text(toml.read_text().split("[datasets.e]")[0])
    code, head = head_run(tmp_path, jobs)
    assert code == 1 and "dataset removed from the spec" in whats(head, "relaxed")
    assert head_run(tmp_path, jobs, None, None, "--accept-relaxed")[0] == 0


def test_job_removed_from_the_jobs_folder_needs_approval(tmp_path: Path) -> None:
    jobs = gate_job(tmp_path, GOOD)
    gate_job(tmp_path, GOOD, name="k")
    args = ["run", "--all", "--jobs-dir", str(jobs)]
    assert main([*args, "--report-dir", str(tmp_path / "base")]) == 0
    shutil.rmtree(jobs / "k")
    assert main([*args, "--report-dir", str(tmp_path / "h1"), "--baseline", str(tmp_path / "base")]) == 1
    assert main([*args, "--report-dir", str(tmp_path / "h2"), "--baseline", str(tmp_path / "base"),
                 "--accept-relaxed"]) == 0
    # naming jobs runs a subset on purpose: the others are not "removed"
    assert main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "h3"), "--baseline",
                 str(tmp_path / "base")]) == 0
    assert main(["diff", str(tmp_path / "base"), str(tmp_path / "h3")]) == 1
    assert main(["diff", str(tmp_path / "base"), str(tmp_path / "h3"), "--accept-relaxed"]) == 0


def test_diff_command_gates_relaxed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = gate_job(tmp_path, CSV_DIFF)
    run_report(jobs, tmp_path / "base")
    head_run(tmp_path, jobs, None, '[datasets.d.severity]\nnumeric_tolerance = "warn"')
    capsys.readouterr()
    assert main(["diff", str(tmp_path / "base"), str(tmp_path / "head0")]) == 1
    assert "relaxed (needs approval)" in capsys.readouterr().out
    assert main(["diff", str(tmp_path / "base"), str(tmp_path / "head0"), "--accept-relaxed"]) == 0


def test_pytest_gate_fails_relaxed_unless_accepted(pytester: pytest.Pytester) -> None:
    jobs = gate_job(pytester.path, CSV_DIFF)
    assert main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(pytester.path / "base")]) == 1
    toml = jobs / "j" / "parity.toml"
    toml.write_text(toml.read_text() + '\n[datasets.d.severity]\nnumeric_tolerance = "off"\n')
    args = ["--parity", "j", "--parity-jobs-dir", str(jobs), "--parity-baseline=base", "-p", "no:cacheprovider"]
    result = pytester.runpytest(*args)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*RELAXED*numeric_tolerance*severity of numeric_tolerance lowered*"])
    result = pytester.runpytest(*args, "--parity-accept-relaxed")
    assert result.ret == 0


# ---- item 11: waived and unwaived counts, everywhere


def test_waiver_delta_shows_waived_counts_and_index_shows_pass_waived(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = gate_job(tmp_path, CSV_DIFF)
    run_report(jobs, tmp_path / "base")
    code, head = head_run(tmp_path, jobs, None, waiver(column="amt", expires=FUTURE), "--accept-relaxed")
    assert code == 0
    col = next(c for c in head["datasets"][0]["columns"] if c["name"] == "AMT")
    assert col["mismatches"] == 2 and col["waived"] == 2
    text = whats(head, "relaxed")
    assert "AMT: relaxed (needs approval): more mismatches waived: mismatches 2 (0 waived, 2 not) -> " \
           "2 (2 waived, 0 not)" in text
    assert "-> 0" not in json.dumps(head["delta"])  # never "mismatches 2 -> 0"
    out = capsys.readouterr().out
    assert "PASS (WAIVED)" in out
    index = (tmp_path / "head0" / "index.html").read_text()
    assert "pass (waived)" in index
    summary = (tmp_path / "head0" / "summary.md").read_text()
    assert "pass (waived)" in summary and "2 (2 waived, 0 not)" in summary


# ---- item 12: one escaping for every Markdown output

EVIL = ("<img src=x onerror=alert(1)> <details><summary>x</summary> <script>alert(1)</script> "
        "@octocat see https://evil.example/a and www.evil.example, `broken span | cell")


def _assert_inert(md: str) -> None:
    for raw in ("<img", "<details", "<script", "<summary"):
        assert raw not in md
    assert "@octocat" not in md and "https://" not in md and "www.evil" not in md
    assert re.search(r"(?<![@\u200b\\])@(?!\u200b)", md) is None


def test_delta_markdown_is_escaped() -> None:
    change = Change("worse", "job@octocat", EVIL, "schema", "a`b|c", EVIL)
    md = markdown([change], EVIL, "head @octocat")
    _assert_inert(md)
    row = next(line for line in md.splitlines() if line.startswith("| worse"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 4  # the cell pipes only
    assert row.count("`") == len(re.findall(r"\\`", row))  # every backtick escaped: no broken spans


def test_summary_and_diff_markdown_are_escaped_end_to_end(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", f"""
        [datasets."{EVIL.replace('"', "'")}"]
        sas = "d.sas7bdat"
        python = "py.csv"
    """, files={"py.csv": "ID,@octocat https://evil.example/x\n1,2\n"})
    write_sas7bdat(folder / "d.sas7bdat", [Column("ID", "numeric", [1])])
    assert main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "base")]) == 1
    _assert_inert((tmp_path / "base" / "summary.md").read_text())
    (folder / "py.csv").write_text("ID,@octocat https://evil.example/x,<img src=y>\n1,2,3\n")
    assert main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "head")]) == 1
    md = tmp_path / "delta.md"
    assert main(["diff", str(tmp_path / "base"), str(tmp_path / "head"), "--markdown", str(md)]) == 1
    text = md.read_text()
    assert "column only in Python" in text
    _assert_inert(text)
    entries = load_reports(tmp_path / "head")
    _assert_inert(render_summary([]) + "".join(markdown(diff_reports(entries, entries))))


def test_md_text_and_md_code() -> None:
    assert md_text("rounding_half_even") == "rounding_half_even"
    assert md_text("a\nb\tc") == "a b c"
    assert md_code("premiums") == "`premiums`"
    assert md_code("a`b") == md_text("a`b") == "a\\`b"
    assert "\u200b" in md_text("mail me@example.com") and "@" in md_text("@x")
    assert "\u202e" not in md_text("x\u202ey")


# ---- schema 2: an older baseline is refused with how to regenerate it


def test_v1_baseline_is_refused_with_how_to_regenerate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = gate_job(tmp_path, CSV_DIFF)
    run_report(jobs, tmp_path / "base")
    path = tmp_path / "base" / "j" / "parity.json"
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    data["schema_version"] = 1
    path.write_text(json.dumps(data))
    capsys.readouterr()
    code = main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "h"), "--baseline",
                 str(tmp_path / "base")])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "schema_version 1 is not supported" in err and "Regenerate it" in err and "parity run --all" in err
    assert not (tmp_path / "h" / "j" / "parity.json").exists()
    assert main(["diff", str(path), str(path)]) == 2


def test_pytest_gate_fails_a_removed_job_unless_accepted(pytester: pytest.Pytester) -> None:
    jobs = gate_job(pytester.path, GOOD)
    gate_job(pytester.path, GOOD, name="k")
    assert main(["run", "--all", "--jobs-dir", str(jobs), "--report-dir", str(pytester.path / "base")]) == 0
    shutil.rmtree(jobs / "k")
    args = ["--parity", "all", "--parity-jobs-dir", str(jobs), "--parity-baseline=base", "-p", "no:cacheprovider"]
    result = pytester.runpytest(*args)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*REMOVED k: a job of the baseline no longer runs*"])
    assert pytester.runpytest(*args, "--parity-accept-relaxed").ret == 0
    assert pytester.runpytest("--parity", "j", *args[2:]).ret == 0  # naming jobs runs a subset on purpose


def test_fewer_sort_violations_but_an_earlier_one_is_worse() -> None:
    from parity.model import CheckResult
    from parity.report.delta import _check_findings

    def sort_check(violations: int, first: int) -> CheckResult:
        return CheckResult("sort_order", "fail", "", {"python": {"violations": violations, "first_row": first}})

    worse = _check_findings("j", "d", sort_check(5, 100), sort_check(1, 9))
    assert [c.kind for c in worse] == ["worse"] and "first at 100 -> 9" in worse[0].what
    better = _check_findings("j", "d", sort_check(5, 9), sort_check(1, 100))
    assert [c.kind for c in better] == ["better"]
