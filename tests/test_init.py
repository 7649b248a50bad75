"""`parity init`: a scaffolded job (guessed keys, tolerances from formats, port.py stub, README) that runs."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.cli.main import main
from parity.scaffold import guess_keys, suggest_tolerance
from parity.sources.sas import read_sas
from tests.helpers import Column, write_sas7bdat

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "claims_monthly"
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())
CORPUS = ROOT.parent / "shared" / "corpus"
PRODUCTSALES = CORPUS / "pandas" / "pandas" / "tests" / "io" / "sas" / "data" / "productsales.sas7bdat"


def spec(folder: Path) -> dict[str, Any]:
    return tomllib.loads((folder / "parity.toml").read_text())


def run_job(tmp_path: Path, job: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["run", job, "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / "reports")])
    data = json.loads((tmp_path / "reports" / job / "parity.json").read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, SCHEMA)
    return code, data


def test_init_from_the_example_sas_files_makes_a_job_that_runs(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["init", "claims", "--jobs-dir", str(tmp_path / "jobs"), "--sas", str(FIXTURE / "claims.sas7bdat"),
                 "--sas", str(FIXTURE / "summary.sas7bdat"), "--input", f"claims={FIXTURE / 'input' / 'claims.csv'}"])
    out = capsys.readouterr().out
    assert code == 0, out
    folder = tmp_path / "jobs" / "claims"
    assert "created job claims" in out and "claims: claims.sas7bdat (125 rows), keys claim_id, line_no" in out
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "claims.sas7bdat", "input", "parity.toml",
                                                        "port.py", "summary.sas7bdat"]
    assert (folder / "claims.sas7bdat").read_bytes() == (FIXTURE / "claims.sas7bdat").read_bytes()
    data = spec(folder)
    assert data["job"]["python"] == "port:run" and data["job"]["params"] == {"claims": "input/claims.csv"}
    claims = data["datasets"]["claims"]
    assert claims["sas"] == "claims.sas7bdat" and claims["keys"] == ["claim_id", "line_no"]
    assert claims["tolerance"]["paid_amount"] == {"method": "absolute", "criterion": 0.005}  # COMMA12.2
    assert "units" not in claims["tolerance"]  # format 4.: whole numbers, compared exactly
    assert data["datasets"]["summary"]["keys"] == ["MEMBER_ID"]
    assert data["datasets"]["summary"]["tolerance"]["AVG_PAID_PER_CLAIM"]["criterion"] == 0.005  # format 8.2
    text = (folder / "parity.toml").read_text()
    assert "# sort_by = [\"claim_id\", \"line_no\"]" in text  # the SAS rows are sorted by the key
    assert "# date columns, compared as dates (a difference in days): service_date (DATE9)" in text
    assert "# datetime columns, compared as datetimes (a difference in seconds): run_ts (DATETIME20)" in text
    port = (folder / "port.py").read_text()
    assert "def run(claims: str)" in port and "claims_df = pl.read_csv(claims)" in port
    assert "parity run claims" in (folder / "README.md").read_text()

    code, report = run_job(tmp_path, "claims", capsys)
    assert code == 1 and report["verdict"] == "fail"  # a real verdict: the stub returns no rows
    for ds in report["datasets"]:
        assert ds["error"] is None and ds["verdict"] == "fail"
        assert {c["name"]: c["status"] for c in ds["checks"]}["row_count"] == "fail"
        assert {c["name"]: c["status"] for c in ds["checks"]}["schema"] == "pass"  # the stub has the SAS columns


def test_init_with_the_ports_output_file_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_sas7bdat(data / "premiums.sas7bdat", [
        Column("policy", "string", ["P2", "P1", "P3"]), Column("premium", "numeric", [10.25, 7.5, 3.0],
                                                               format="DOLLAR12.2")])
    pl.DataFrame({"policy": ["P1", "P2", "P3"], "premium": [7.5, 10.251, 3.0]}).write_parquet(data / "premiums.parquet")
    assert main(["init", "prem", "--jobs-dir", str(tmp_path / "jobs"), "--sas", str(data / "premiums.sas7bdat"),
                 "--python", str(data / "premiums.parquet")]) == 0
    folder = tmp_path / "jobs" / "prem"
    assert not (folder / "port.py").exists()
    ds = spec(folder)["datasets"]["premiums"]
    assert ds["python"] == "python/premiums.parquet" and ds["keys"] == ["policy"]
    assert "sort_by" not in (folder / "parity.toml").read_text()  # the SAS rows are not sorted by policy
    assert ds["tolerance"]["premium"] == {"method": "absolute", "criterion": 0.005}
    code, report = run_job(tmp_path, "prem", capsys)
    assert code == 0 and report["verdict"] == "pass"  # 10.251 against 10.25: within half a cent


def test_init_refuses_to_overwrite_a_job_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["init", "claims", "--jobs-dir", str(tmp_path / "jobs"), "--sas", str(FIXTURE / "summary.sas7bdat")]
    assert main(args) == 0
    (tmp_path / "jobs" / "claims" / "port.py").write_text("# my port\n")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already holds parity.toml, README.md, port.py" in err and "--force" in err
    assert (tmp_path / "jobs" / "claims" / "port.py").read_text() == "# my port\n"
    assert main([*args, "--force"]) == 0
    assert "def run()" in (tmp_path / "jobs" / "claims" / "port.py").read_text()


def test_init_takes_the_sas_files_already_in_the_job_folder(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "jobs" / "monthly"
    folder.mkdir(parents=True)
    shutil.copyfile(FIXTURE / "summary.sas7bdat", folder / "summary.sas7bdat")
    assert main(["init", str(folder), "--python", "mymod:build"]) == 0
    data = spec(folder)
    assert data["job"]["python"] == "mymod:build" and list(data["datasets"]) == ["summary"]
    assert not (folder / "port.py").exists()
    (folder / "mymod.py").write_text("import polars as pl\nfrom parity.sources.sas import read_sas\n"
                                     "from pathlib import Path\n"
                                     "def build():\n"
                                     "    return {'summary': read_sas(Path(__file__).parent / 'summary.sas7bdat')"
                                     ".frame.with_columns((pl.col('MONTH_START') * 0).cast(pl.Date))}\n")
    code, report = run_job(tmp_path, "monthly", capsys)
    assert code == 1 and report["datasets"][0]["error"] is None  # a real comparison of the given port


@pytest.mark.parametrize(("args", "message"), [
    (["--sas", "missing.sas7bdat"], "--sas missing.sas7bdat: file not found"),
    ([], "no SAS outputs for job j: give them with --sas FILE"),
    (["--sas", "{sas}", "--python", "{txt}"], "give MODULE:FUNCTION (the port) or the port's output file"),
    (["--sas", "{sas}", "--python", "port:"], "--python port:: give MODULE:FUNCTION, e.g. port:run"),
    (["--sas", "{sas}", "--input", "claims"], "--input claims: give NAME=FILE"),
    (["--sas", "{sas}", "--input", "2x={txt}"], "'2x' must be a Python name"),
    (["--sas", "{txt}"], "not a SAS output parity reads"),
    (["--sas", "{bad}"], "--sas {bad}: "),
    (["--sas", "{sas}", "--sas", "{sas2}"], "two SAS outputs would both be dataset 'summary'"),
])
def test_init_mistakes_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                        message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    files = {"sas": str(FIXTURE / "summary.sas7bdat"), "sas2": str(tmp_path / "sub" / "SUMMARY.sas7bdat"),
             "txt": str(tmp_path / "notes.txt"), "bad": str(tmp_path / "broken.sas7bdat")}
    shutil.copyfile(FIXTURE / "summary.sas7bdat", files["sas2"])
    Path(files["txt"]).write_text("x")
    Path(files["bad"]).write_bytes(b"not a sas file" * 100)
    assert main(["init", "j", "--jobs-dir", str(tmp_path / "jobs"), *(a.format(**files) for a in args)]) == 2
    err = capsys.readouterr().err
    assert message.format(**files) in err and "Traceback" not in err
    assert not (tmp_path / "jobs" / "j" / "parity.toml").exists()


@pytest.mark.parametrize(("fmt", "criterion"), [
    ("COMMA12.2", 0.005), ("DOLLAR12.2", 0.005), ("8.2", 0.005), ("8.3", 0.0005), ("F10.4", 0.00005),
    ("NLNUM12.2", 0.005), ("Z8.2", 0.005), ("COMMAX10.1", 0.05), ("PERCENT8.1", 0.0005), ("PERCENT8", 0.005),
    ("percentn9.2", 0.00005), ("COMMA12.", None), ("DOLLAR9", None), ("BEST12.", None), ("8", None),
    (None, None), ("", None), ("DATE9", None), ("$CHAR10", None), ("E8601DA10.", None),
])
def test_tolerance_suggested_from_the_format(fmt: str | None, criterion: float | None) -> None:
    got = suggest_tolerance(fmt)
    assert (got[0] if got else None) == criterion


def table(tmp_path: Path, columns: list[Column]) -> Any:
    write_sas7bdat(tmp_path / "t.sas7bdat", columns)
    return read_sas(tmp_path / "t.sas7bdat")


def test_keys_are_the_smallest_unique_never_missing_combination(tmp_path: Path) -> None:
    t = table(tmp_path, [
        Column("amount", "numeric", [1.5, 2.5, 3.5, 4.5]),  # unique, but an amount, not a key
        Column("region", "string", ["E", "E", "W", "W"]),
        Column("code", "string", ["a", "b", "a", "b"]),
        Column("seq", "numeric", [1, 2, 3, None]),  # unique but missing once
        Column("note", "string", ["x", "", "y", "z"]),  # unique but blank (missing) once
    ])
    guess = guess_keys(t)
    assert guess.columns == ("region", "code") and guess.sorted_rows
    assert "sorted by it" in guess.why


def test_keys_prefer_the_order_the_rows_are_sorted_by(tmp_path: Path) -> None:
    t = table(tmp_path, [Column("a", "string", ["x", "y", "x", "y"]), Column("b", "numeric", [1, 1, 2, 2])])
    guess = guess_keys(t)
    assert guess.columns == ("b", "a") and guess.sorted_rows  # rows sorted by b, then a


def test_keys_found_greedily_beyond_three_columns(tmp_path: Path) -> None:
    import itertools

    combos = list(itertools.product("ab", "cd", "ef", "gh"))
    t = table(tmp_path, [Column(f"c{i}", "string", [c[i] for c in combos]) for i in range(4)]
              + [Column("v", "numeric", [0.5] * len(combos))])
    assert guess_keys(t).columns == ("c0", "c1", "c2", "c3")


def test_no_key_when_nothing_is_unique(tmp_path: Path) -> None:
    t = table(tmp_path, [Column("a", "string", ["x", "x"]), Column("v", "numeric", [1.25, 2.5])])
    guess = guess_keys(t)
    assert guess.columns == () and "rows are matched by position" in guess.why
    one = table(tmp_path, [Column("a", "string", ["x"])])
    assert guess_keys(one).columns == ()


def test_no_jobs_says_where_it_looked_and_how_to_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "jobs").mkdir()
    assert main(["list", "--jobs-dir", str(tmp_path / "jobs")]) == 0
    out = capsys.readouterr().out
    assert f"no jobs (folders with parity.toml) in {tmp_path / 'jobs'}" in out and "parity init JOB --sas" in out
    assert main(["run", "--all", "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "jobs") in err and "parity init JOB --sas" in err
    assert main(["list", "--jobs-dir", str(tmp_path / "nope")]) == 2
    assert "parity init" in capsys.readouterr().err


@pytest.mark.corpus
def test_init_on_a_corpus_file_makes_a_job_that_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not PRODUCTSALES.is_file():
        pytest.skip(f"no SAS corpus at {CORPUS}")
    assert main(["init", "sales", "--jobs-dir", str(tmp_path / "jobs"), "--sas", str(PRODUCTSALES)]) == 0
    ds = spec(tmp_path / "jobs" / "sales")["datasets"]["productsales"]
    keys = ds["keys"]
    frame = read_sas(PRODUCTSALES).frame
    assert keys and frame.select(keys).n_unique() == frame.height == 1440  # a real key of the 1,440 rows
    assert ds["tolerance"]["ACTUAL"] == {"method": "absolute", "criterion": 0.005}  # DOLLAR12.2
    assert "MONTH (MONNAME3)" in (tmp_path / "jobs" / "sales" / "parity.toml").read_text()
    code, report = run_job(tmp_path, "sales", capsys)
    assert code == 1 and report["verdict"] == "fail" and report["datasets"][0]["error"] is None


def dataset_json(path: Path, rows: list[list[Any]]) -> None:
    path.write_text(json.dumps({
        "datasetJSONCreationDateTime": "2024-11-11T15:09:18", "datasetJSONVersion": "1.1.0", "itemGroupOID": "IG.TA",
        "records": len(rows), "name": "TA", "label": "Trial Arms", "columns": [
            {"itemOID": "IT.STUDYID", "name": "STUDYID", "label": "Study", "dataType": "string", "length": 8,
             "keySequence": 1},
            {"itemOID": "IT.ARMCD", "name": "ARMCD", "label": "Arm", "dataType": "string", "length": 8,
             "keySequence": 2},
            {"itemOID": "IT.DOSE", "name": "DOSE", "label": "Dose", "dataType": "double",
             "displayFormat": "8.2"}],
        "rows": rows}))


def test_init_takes_the_keys_a_dataset_json_file_declares(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "ta.json"
    dataset_json(source, [["S1", "B", 1.5], ["S1", "A", 2.25], ["S1", "C", 3.0]])  # DOSE alone would be unique
    assert main(["init", "trial", "--jobs-dir", str(tmp_path / "jobs"), "--sas", str(source)]) == 0
    ds = spec(tmp_path / "jobs" / "trial")["datasets"]["ta"]
    assert ds["sas"] == "ta.json" and ds["keys"] == ["STUDYID", "ARMCD"]
    assert ds["tolerance"]["DOSE"] == {"method": "absolute", "criterion": 0.005}  # displayFormat 8.2
    assert "# keys: the Dataset-JSON keySequence\n" in (tmp_path / "jobs" / "trial" / "parity.toml").read_text()
    code, report = run_job(tmp_path, "trial", capsys)
    assert code == 1 and report["verdict"] == "fail" and report["datasets"][0]["error"] is None
    dataset_json(source, [["S1", "A", 1.5], ["S1", "A", 2.25]])
    assert main(["init", "trial2", "--jobs-dir", str(tmp_path / "jobs"), "--sas", str(source)]) == 0
    assert "not unique in the SAS rows: 1 row(s) repeat a key" in (
        tmp_path / "jobs" / "trial2" / "parity.toml").read_text()


@pytest.mark.corpus
def test_init_on_a_corpus_dataset_json_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = CORPUS / "cdisc-datasetjson" / "examples" / "adam" / "adsl.json"
    if not source.is_file():
        pytest.skip(f"no Dataset-JSON corpus at {source.parent}")
    assert main(["init", "adsl", "--jobs-dir", str(tmp_path / "jobs"), "--sas", str(source), "--no-copy"]) == 0
    ds = spec(tmp_path / "jobs" / "adsl")["datasets"]["adsl"]
    assert ds["keys"] == ["USUBJID"] and ds["sas"].endswith("cdisc-datasetjson/examples/adam/adsl.json")
    assert not (tmp_path / "jobs" / "adsl" / "adsl.json").exists()  # referenced where it is
    code, report = run_job(tmp_path, "adsl", capsys)
    assert code == 1 and report["verdict"] == "fail" and report["datasets"][0]["error"] is None


def test_trailing_blanks_do_not_make_a_key_unique(tmp_path: Path) -> None:
    t = table(tmp_path, [Column("a", "string", ["x", "x  ", "y"]), Column("b", "string", ["1", "2", "3"])])
    assert guess_keys(t).columns == ("b",)


def test_init_on_an_xpt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd
    import pyreadstat

    pyreadstat.write_xport(pd.DataFrame({"SUBJ": ["A", "B", "C"], "RATE": [0.125, 0.5, 0.75]}),
                           str(tmp_path / "rates.xpt"), variable_format={"RATE": "PERCENT8.1"})
    assert main(["init", "rates", "--jobs-dir", str(tmp_path / "jobs"), "--sas", str(tmp_path / "rates.xpt")]) == 0
    ds = spec(tmp_path / "jobs" / "rates")["datasets"]["rates"]
    assert ds["keys"] == ["SUBJ"] and ds["tolerance"]["RATE"] == {"method": "absolute", "criterion": 0.0005}
    code, report = run_job(tmp_path, "rates", capsys)
    assert code == 1 and report["verdict"] == "fail" and report["datasets"][0]["error"] is None
