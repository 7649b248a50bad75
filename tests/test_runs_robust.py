"""A parity run is evidence: nothing a port, a job name, user text or a bug in parity does may fake or lose it.

Every command keeps to 0 pass / 1 parity failed / 2 error; a port that exits, raises anything or returns garbage,
a helper module left over from another job, a port that changes the working directory, a job named ``..``, user
text that looks like rich markup and an internal error while comparing one dataset all end as an ``error`` dataset
(or a usage error), never as a silent exit 0, a lost report or a report written somewhere else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from parity.cli.main import main
from parity.model import CHECK_NAMES
from tests.helpers import Column, make_job, write_sas7bdat

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
CORPUS_ZERO = Path("/work/shared/corpus/pandas/pandas/tests/io/sas/data/zero_variables.sas7bdat")
CHECKS = len(CHECK_NAMES)  # items per dataset

TOML = """
    [job]
    python = "port:run"
    [datasets.d]
    sas = "d.sas7bdat"
    keys = ["id"]
"""
GOOD_PORT = "import polars as pl\ndef run():\n    return pl.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]})\n"


def sas_file(path: Path) -> None:
    write_sas7bdat(path, [Column("ID", "numeric", [1, 2]), Column("X", "numeric", [1.5, 2.5])])


def job(jobs: Path, name: str, port: str, toml: str = TOML, files: dict[str, str] | None = None) -> Path:
    folder = make_job(jobs, name, toml, files={"port.py": port, **(files or {})})
    sas_file(folder / "d.sas7bdat")
    return folder


def listing(folder: Path) -> list[str]:
    """What a report folder shows (its lock file aside)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def two_datasets(jobs: Path, name: str, datasets: tuple[str, str], body: str) -> Path:
    """A job whose port (``import polars as pl; def run(): <body>``) feeds two datasets keyed by id."""
    toml = "[job]\npython = 'port:run'\n" + "".join(
        f"[datasets.{ds}]\nsas = 'd.sas7bdat'\nkeys = ['id']\n" for ds in datasets)
    folder = make_job(jobs, name, toml, files={"port.py": "import polars as pl\ndef run():\n" + body})
    sas_file(folder / "d.sas7bdat")
    return folder


def report(report_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report_dir / name / "parity.json").read_text(encoding="utf-8"))
    return data


def run(*args: str) -> int:
    return main(["run", *args])


# --------------------------------------------------------------------------------------------------------------
# 1. user code that exits, raises anything or returns garbage is an error dataset; the other jobs still run


BAD_PORTS = {
    "sys_exit_0": "import sys\ndef run():\n    sys.exit(0)\n",
    "sys_exit_3": "import sys\ndef run():\n    sys.exit(3)\n",
    "raise_system_exit": "def run():\n    raise SystemExit\n",
    "generator_exit": "def run():\n    raise GeneratorExit('closed')\n",
    "base_exception": "class Stop(BaseException):\n    pass\ndef run():\n    raise Stop('custom')\n",
    "exit_at_import": "import sys\nsys.exit(0)\ndef run():\n    pass\n",
    "raise_at_import": "raise RuntimeError('broken module')\ndef run():\n    pass\n",
    "returns_none": "def run():\n    return None\n",
    "returns_list": "def run():\n    return [1, 2]\n",
    "returns_series": "import polars as pl\ndef run():\n    return pl.Series('id', [1, 2])\n",
    "dict_of_garbage": "def run():\n    return {'d': 'not a frame'}\n",
    "lazy_frame_fails": "import polars as pl\ndef run():\n"
                        "    return pl.LazyFrame({'id': ['a']}).select(pl.col('id').cast(pl.Int64, strict=True))\n",
    "object_column": "import polars as pl\ndef run():\n"
                     "    return pl.DataFrame({'id': [1, 2], 'x': [object(), object()]}, "
                     "schema={'id': pl.Int64, 'x': pl.Object})\n",
    "list_column": "import polars as pl\ndef run():\n    return pl.DataFrame({'id': [1, 2], 'x': [[1], [2]]})\n",
    "mapping_that_raises": "from collections.abc import Mapping\n"
                           "class M(Mapping):\n"
                           "    def __getitem__(self, k): raise SystemExit(1)\n"
                           "    def __iter__(self): return iter(['d'])\n"
                           "    def __len__(self): return 1\n"
                           "def run():\n    return M()\n",
}


@pytest.mark.parametrize("kind", sorted(BAD_PORTS))
def test_any_port_failure_is_an_error_dataset_and_later_jobs_run(tmp_path: Path, kind: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    job(jobs, "a_bad", BAD_PORTS[kind])
    job(jobs, "b_good", GOOD_PORT)
    assert run("--all", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 2
    bad = report(reports, "a_bad")
    assert bad["verdict"] == "error"
    (ds,) = bad["datasets"]
    assert ds["verdict"] == "error" and ds["error"], ds
    assert report(reports, "b_good")["verdict"] == "pass"  # the later job ran
    assert (reports / "index.html").is_file() and (reports / "summary.md").is_file()
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err


def test_sys_exit_message_says_what_happened(tmp_path: Path) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    job(jobs, "exits", BAD_PORTS["sys_exit_0"])
    assert run("exits", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 2
    error = report(reports, "exits")["datasets"][0]["error"]
    assert "SystemExit" in error and "sys.exit(0)" in error and "port.py:3" in error


def test_good_dataset_survives_a_bad_sibling_frame(tmp_path: Path) -> None:
    """A port returning one usable and one unusable frame: only the unusable dataset is an error."""
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    two_datasets(jobs, "mixed", ("good", "bad"),
                 "    good = pl.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]})\n"
                 "    bad = pl.LazyFrame({'id': ['a']}).select(pl.col('id').cast(pl.Int64, strict=True))\n"
                 "    return {'good': good, 'bad': bad}\n")
    assert run("mixed", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 2
    good, bad = report(reports, "mixed")["datasets"]
    assert good["verdict"] == "pass"
    assert bad["verdict"] == "error" and "dataset 'bad'" in bad["error"]


def test_keyboard_interrupt_is_not_swallowed(tmp_path: Path) -> None:
    from parity.run.runner import run_job
    from parity.spec import load_job

    folder = job(tmp_path, "ctrl_c", "def run():\n    raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        run_job(load_job(folder))


def test_pytest_runs_an_exiting_port_once_and_fails_its_items(pytester: pytest.Pytester) -> None:
    log = pytester.path / "runs.log"
    job(pytester.path / "fixtures", "exits", f"import sys\ndef run():\n"
                                             f"    open({str(log)!r}, 'a').write('run\\n')\n    sys.exit(0)\n")
    result = pytester.runpytest_subprocess("--parity", "exits")
    result.assert_outcomes(failed=CHECKS)
    assert log.read_text().count("run") == 1  # once for the job, not once per item
    result.stdout.fnmatch_lines(["*SystemExit*sys.exit(0)*"])
    assert result.ret == 2  # an errored dataset: exit 2, as parity run
    assert report(pytester.path / "reports", "exits")["verdict"] == "error"


# --------------------------------------------------------------------------------------------------------------
# 2. helper modules never leak from one job to the next


def helper_jobs(jobs: Path) -> None:
    """a and c import their own helpers (c lazily, inside run); b imports helpers but has none."""
    port = "def run():\n    import helpers\n    return helpers.frame()\n"
    job(jobs, "a", "import helpers\ndef run():\n    return helpers.frame()\n", files={
        "helpers.py": "import polars as pl\ndef frame():\n    return pl.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]})\n"})
    job(jobs, "b", port)
    job(jobs, "c", port, files={
        "helpers.py": "import polars as pl\ndef frame():\n    return pl.DataFrame({'id': [1, 2], 'x': [1.5, 9.5]})\n"})


def test_a_job_that_fails_alone_fails_under_all(tmp_path: Path) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    helper_jobs(jobs)
    assert run("b", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "alone")) == 2
    assert run("--all", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 2
    assert report(reports, "a")["verdict"] == "pass"
    b = report(reports, "b")["datasets"][0]
    assert b["verdict"] == "error" and "helpers" in b["error"]  # a's helpers are gone when b runs
    assert report(reports, "c")["verdict"] == "fail"  # c got its own helpers (x = 9.5), not a's
    assert "helpers" not in sys.modules


def test_job_folder_modules_win_over_modules_imported_before(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    impostor = types.ModuleType("helpers")
    monkeypatch.setitem(sys.modules, "helpers", impostor)
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    helper_jobs(jobs)
    assert run("a", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 0
    assert sys.modules["helpers"] is impostor  # put back afterwards


def test_namespace_packages_of_two_jobs_do_not_mix(tmp_path: Path) -> None:
    """Code in a folder without __init__.py (a namespace package) is the job's own too."""
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    port = "from lib.rows import frame\ndef run():\n    return frame()\n"
    for name, x in (("a", "2.5"), ("b", "9.5")):
        job(jobs, name, port, files={"lib/rows.py": "import polars as pl\ndef frame():\n"
                                                    f"    return pl.DataFrame({{'id': [1, 2], 'x': [1.5, {x}]}})\n"})
    assert run("--all", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 1
    assert report(reports, "a")["verdict"] == "pass" and report(reports, "b")["verdict"] == "fail"


def test_a_port_named_like_a_stdlib_module_is_the_jobs_own(tmp_path: Path) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    job(jobs, "stdlib_name", "", toml=TOML.replace("port:run", "code:run"), files={"code.py": GOOD_PORT})
    assert run("stdlib_name", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 0
    import code

    assert hasattr(code, "interact")  # the stdlib module is untouched


def test_pytest_all_isolates_helpers_too(pytester: pytest.Pytester) -> None:
    helper_jobs(pytester.path / "fixtures")
    result = pytester.runpytest_subprocess("--parity", "all", "-q")
    data = {n: report(pytester.path / "reports", n)["verdict"] for n in "abc"}
    assert data == {"a": "pass", "b": "error", "c": "fail"}
    assert result.ret == 2  # an errored job: exit 2, as parity run


def test_port_state_is_restored(tmp_path: Path) -> None:
    """sys.path, sys.argv, os.environ and the working directory are as before the port ran."""
    import polars  # noqa: F401  (its first import sets _RJEM_MALLOC_CONF: not the port's doing, whatever the test order)

    from parity.run.runner import run_job
    from parity.spec import load_job

    before = (list(sys.path), list(sys.argv), dict(os.environ), os.getcwd())
    folder = job(tmp_path, "messy", "import os, sys\nimport polars as pl\ndef run():\n"
                                    "    sys.path.append('/nowhere'); sys.argv[:] = ['x']\n"
                                    "    os.environ['PARITY_TEST_LEAK'] = '1'; os.chdir('/')\n"
                                    "    return pl.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]})\n")
    assert run_job(load_job(folder)).verdict == "pass"
    assert (list(sys.path), list(sys.argv), dict(os.environ), os.getcwd()) == before


# --------------------------------------------------------------------------------------------------------------
# 3. a port that changes the working directory cannot move the reports


def test_chdir_in_a_port_does_not_move_relative_report_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    work = tmp_path / "work"
    jobs = work / "jobs"
    port = (f"import os\nimport polars as pl\ndef run():\n    os.chdir({str(elsewhere)!r})\n"
            "    return pl.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]})\n")
    job(jobs, "a_moves", port)
    job(jobs, "b_after", GOOD_PORT)
    monkeypatch.chdir(work)
    assert run("--all", "--jobs-dir", "jobs", "--report-dir", "out") == 0
    assert Path.cwd() == work
    for name in ("a_moves", "b_after"):
        assert report(work / "out", name)["verdict"] == "pass"
    assert (work / "out" / "index.html").is_file()
    assert not list(elsewhere.iterdir())


# --------------------------------------------------------------------------------------------------------------
# 4. a job is one plain folder name, or a path to a job folder or its parity.toml


@pytest.mark.parametrize("arg", ["..", ".", "jobs/claims/", "jobs/claims/parity.toml", "JOBS/claims",
                                 "parity.toml"])
def test_job_given_as_a_path_is_named_after_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       arg: str) -> None:
    jobs = tmp_path / "jobs"
    folder = job(jobs, "claims", GOOD_PORT)
    (folder / "sub").mkdir()
    cwd = {"..": folder / "sub", ".": folder, "parity.toml": folder}.get(arg, tmp_path)
    arg = arg.replace("JOBS", str(jobs))
    monkeypatch.chdir(cwd)
    reports = tmp_path / "deep" / "r"
    assert run(arg, "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 0
    assert report(reports, "claims")["job"] == "claims"
    assert listing(reports) == ["claims", "index.html", "summary.md"]
    assert not (tmp_path / "deep" / "parity.json").exists()


def test_bad_job_arguments_are_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs"
    job(jobs, "claims", GOOD_PORT)
    job(tmp_path / "other", "claims", GOOD_PORT)
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "r"
    job(jobs, ".hidden", GOOD_PORT)
    for args in (["..", "--jobs-dir", str(jobs)], ["jobs/nope/", "--jobs-dir", str(jobs)],
                 ["claims", "other/claims", "--jobs-dir", str(jobs)], [".hidden", "--jobs-dir", str(jobs)],
                 ["jobs/.hidden/parity.toml", "--jobs-dir", str(jobs)]):
        assert run(*args, "--report-dir", str(reports)) == 2, args
    err = capsys.readouterr().err
    assert "not a job folder" in err and "two jobs named 'claims'" in err
    assert err.count("'.hidden' cannot name a job") == 2
    assert not (reports / "claims").exists() and not list(tmp_path.rglob("parity.json"))
    assert run("--all", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 0  # hidden folders are no jobs
    assert listing(reports) == ["claims", "index.html", "summary.md"]


def test_pytest_job_paths(pytester: pytest.Pytester) -> None:
    folder = job(pytester.path / "fixtures", "claims", GOOD_PORT)
    (folder / "sub").mkdir()
    for arg in ("fixtures/claims/", "fixtures/claims/parity.toml"):
        result = pytester.runpytest_subprocess("--parity", arg)
        result.assert_outcomes(passed=CHECKS - 5, skipped=5)
    result = pytester.runpytest_subprocess("--parity", "..", "--rootdir", str(pytester.path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # the project folder is not a job
    assert listing(pytester.path / "reports") == ["claims", "index.html", "summary.md"]


# --------------------------------------------------------------------------------------------------------------
# 5. user text is printed literally, never as rich markup


MARKUP = "[/x] [link=https://example.invalid]click[/link] [bold]b :smile:"


def test_markup_in_names_descriptions_and_labels_is_printed_literally(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "[/x]" / "jobs"
    folder = make_job(jobs, "j[bold]", f"""
        [job]
        description = "{MARKUP}"
        python = "port:run"
        [datasets."[/x]"]
        sas = "d.sas7bdat"
        keys = ["id"]
    """, files={"port.py": "import polars as pl\ndef run():\n"
                           "    return {'[/x]': pl.DataFrame({'id': [1, 2], 'x': [1.5, 9.5]})}\n"})
    write_sas7bdat(folder / "d.sas7bdat", [Column("ID", "numeric", [1, 2], label=MARKUP),
                                          Column("X", "numeric", [1.5, 2.5], label="[/x]")], file_label="[/x]")
    reports = tmp_path / "r"
    assert run("--all", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 1
    out = capsys.readouterr().out
    assert "[/x]" in out and "j[bold]" in out and "Traceback" not in out
    assert report(reports, "j[bold]")["datasets"][0]["name"] == "[/x]"
    assert main(["list", "--jobs-dir", str(jobs)]) == 0
    out = capsys.readouterr().out
    assert MARKUP in out and "\x1b]8;" not in out  # no hyperlink escape: [link=...] is text
    assert main(["inspect", str(folder / "d.sas7bdat")]) == 0
    out = capsys.readouterr().out
    assert MARKUP in out and "[/x]" in out


def test_list_shows_every_job_and_names_a_broken_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs"
    job(jobs, "a_broken", GOOD_PORT, toml=TOML + "tolerence = 1\n")
    job(jobs, "b_fine", GOOD_PORT)
    assert main(["list", "--jobs-dir", str(jobs)]) == 2
    captured = capsys.readouterr()
    assert "a_broken" in captured.out and "b_fine" in captured.out
    assert "tolerence" in captured.err and "Traceback" not in captured.err


def test_markup_in_an_error_message_is_printed_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("[bold]nope", "--jobs-dir", str(tmp_path)) == 2
    assert "no job '[bold]nope'" in capsys.readouterr().err


def test_markup_in_a_delta_is_printed_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "d[red]", """
        [job]
        python = "port:run"
        [datasets."[/x]"]
        sas = "d.sas7bdat"
        keys = ["id"]
    """, files={"port.py": "import polars as pl\ndef run():\n"
                           "    return {'[/x]': pl.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]})}\n"})
    sas_file(folder / "d.sas7bdat")
    assert run("--all", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "base")) == 0
    (folder / "port.py").write_text((folder / "port.py").read_text().replace("2.5]", "7.5]"))
    assert run("--all", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "head")) == 1
    capsys.readouterr()
    assert main(["diff", str(tmp_path / "base"), str(tmp_path / "head")]) == 1
    out = capsys.readouterr().out
    assert "d[red]" in out and "[/x]" in out


# --------------------------------------------------------------------------------------------------------------
# issue 7 item 9: an internal error while comparing one dataset is that dataset's error; everything else runs


def test_internal_error_is_an_error_dataset_and_the_run_goes_on(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import polars as pl

    import parity.engine.core

    real = parity.engine.core.compare_tables

    def flaky(spec: Any, *args: Any, **kwargs: Any) -> Any:
        if spec.name == "boom":
            raise pl.exceptions.ComputeError("simulated polars failure")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(parity.engine.core, "compare_tables", flaky)
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    two_datasets(jobs, "a_job", ("boom", "fine"), "    f = pl.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]})\n"
                                                  "    return {'boom': f, 'fine': f}\n")
    job(jobs, "b_job", GOOD_PORT)
    assert run("--all", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 2
    boom, fine = report(reports, "a_job")["datasets"]
    assert boom["verdict"] == "error"
    assert "internal error" in boom["error"] and "ComputeError: simulated polars failure" in boom["error"]
    assert "comparing dataset 'boom'" in boom["error"]
    assert fine["verdict"] == "pass"
    assert report(reports, "b_job")["verdict"] == "pass"
    assert (reports / "index.html").is_file() and (reports / "summary.md").is_file()
    assert "Traceback" not in capsys.readouterr().err


def test_spec_error_found_while_comparing_stops_only_its_job(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    jobs, reports = tmp_path / "jobs", tmp_path / "r"
    job(jobs, "a_badkey", GOOD_PORT, toml=TOML.replace('["id"]', '["nope"]'))
    job(jobs, "b_good", GOOD_PORT)
    assert run("--all", "--jobs-dir", str(jobs), "--report-dir", str(reports)) == 2
    assert "[datasets.d.keys] column 'nope'" in capsys.readouterr().err
    bad = report(reports, "a_badkey")
    assert bad["verdict"] == "error" and "column 'nope'" in json.dumps(bad)
    assert report(reports, "b_good")["verdict"] == "pass"
    assert (reports / "index.html").is_file() and (reports / "summary.md").is_file()


# --------------------------------------------------------------------------------------------------------------
# 16. hints name the real cause


def python_error(tmp_path: Path, port: str) -> str:
    folder = job(tmp_path / "jobs", "hint", port)
    assert run("hint", "--jobs-dir", str(folder.parent), "--report-dir", str(tmp_path / "r")) == 2
    error: str = report(tmp_path / "r", "hint")["datasets"][0]["error"]
    return error


def test_duplicate_pandas_columns_are_named_as_such(tmp_path: Path) -> None:
    error = python_error(tmp_path, "import pandas as pd\ndef run():\n"
                                   "    return pd.DataFrame([[1, 2.0, 3.0]], columns=['id', 'x', 'x'])\n")
    assert "duplicate column names ['x']" in error and "mixing numbers and strings" not in error


def test_mixed_object_column_is_named(tmp_path: Path) -> None:
    error = python_error(tmp_path, "import pandas as pd\ndef run():\n"
                                   "    return pd.DataFrame({'id': [1, 2], 'x': [1.5, 'a']})\n")
    assert "column 'x'" in error and "float, str" in error


def test_index_that_is_also_a_column_is_named(tmp_path: Path) -> None:
    error = python_error(tmp_path, "import pandas as pd\ndef run():\n"
                                   "    df = pd.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]})\n"
                                   "    return df.set_index('id', drop=False)\n")
    assert "index level 'id' is also a column" in error


def test_named_index_is_kept_as_a_column(tmp_path: Path) -> None:
    """set_index('id') with ids 1, 2 (pandas may keep it as a named RangeIndex): the id column is not lost."""
    folder = job(tmp_path / "jobs", "idx", "import pandas as pd\ndef run():\n"
                                           "    return pd.DataFrame({'id': [1, 2], 'x': [1.5, 2.5]}).set_index('id')\n")
    assert run("idx", "--jobs-dir", str(folder.parent), "--report-dir", str(tmp_path / "r")) == 0


def test_missing_package_in_port_is_named(tmp_path: Path) -> None:
    error = python_error(tmp_path, "import no_such_package_xyz\ndef run():\n    pass\n")
    assert "'no_such_package_xyz', which is not installed" in error and "put port.py" not in error


def test_missing_param_is_named(tmp_path: Path) -> None:
    error = python_error(tmp_path, "def run(month):\n    pass\n")
    assert "cannot be called with params []" in error and "month" in error


@pytest.mark.parametrize(("content", "cause"), [
    ("id,x\n1,2.5\n3,4.5,9\n", "more fields than the header"),
    (b"id,x\n1,\xe9\n", "must be UTF-8"),
    ("", "the file is empty"),
])
def test_bad_csv_hint_is_about_csv(tmp_path: Path, content: str | bytes, cause: str) -> None:
    folder = make_job(tmp_path / "jobs", "csv", '[datasets.d]\nsas = "d.sas7bdat"\npython = "d.csv"\n')
    sas_file(folder / "d.sas7bdat")
    path = folder / "d.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert run("csv", "--jobs-dir", str(folder.parent), "--report-dir", str(tmp_path / "r")) == 2
    error = report(tmp_path / "r", "csv")["datasets"][0]["error"]
    assert cause in error and "SAS dataset" not in error and "d.csv" in error


def test_broken_parquet_hint_is_about_parquet(tmp_path: Path) -> None:
    folder = make_job(tmp_path / "jobs", "pq", '[datasets.d]\nsas = "d.sas7bdat"\npython = "d.parquet"\n')
    sas_file(folder / "d.sas7bdat")
    (folder / "d.parquet").write_bytes(b"PAR1 not really")
    assert run("pq", "--jobs-dir", str(folder.parent), "--report-dir", str(tmp_path / "r")) == 2
    error = report(tmp_path / "r", "pq")["datasets"][0]["error"]
    assert "parquet file" in error and "SAS" not in error


def zero_columns(path: Path) -> None:
    """A one-column sas7bdat whose column-size subheader is rewritten to declare zero variables."""
    import struct

    write_sas7bdat(path, [Column("ID", "numeric", [1])])
    data = bytearray(path.read_bytes())
    u64 = data[32] == 0x33
    signature = b"\xf6\xf6\xf6\xf6" + (b"\x00\x00\x00\x00" if u64 else b"")
    at = data.index(signature) + len(signature)
    struct.pack_into("<Q" if u64 else "<I", data, at, 0)
    path.write_bytes(bytes(data))


def test_zero_column_sas_file_is_not_called_corrupt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid data set without variables: inspect shows it, run says there is nothing to compare."""
    folder = make_job(tmp_path / "jobs", "zero", '[datasets.d]\nsas = "d.sas7bdat"\npython = "d.csv"\n',
                      files={"d.csv": "id\n1\n"})
    zero_columns(folder / "d.sas7bdat")
    assert main(["inspect", str(folder / "d.sas7bdat")]) == 0
    assert "Variables" in capsys.readouterr().out
    assert run("zero", "--jobs-dir", str(folder.parent), "--report-dir", str(tmp_path / "r")) == 2
    error = report(tmp_path / "r", "zero")["datasets"][0]["error"]
    assert "no variables (0 columns)" in error and "corrupt" not in error


def test_zero_column_file_the_reader_rejects_is_not_called_corrupt(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    if not CORPUS_ZERO.is_file():
        pytest.skip(f"SAS corpus not present at {CORPUS_ZERO}")
    assert main(["inspect", str(CORPUS_ZERO)]) == 2
    err = capsys.readouterr().err
    assert "no variables (0 columns)" in err and "corrupt" not in err


@pytest.mark.parametrize(("content", "cause", "not_said"), [
    (b"id,x\n1,2.5\n" * 100, "not another kind of file renamed to .sas7bdat", "truncated"),
    (bytes.fromhex("000000000000000000000000c2ea8163b31411cfbd92080009c7318c181f1011") + b"\0" * 2000,
     "is a SAS format catalog", "export"),
])
def test_not_a_sas_data_set_hint(tmp_path: Path, content: bytes, cause: str, not_said: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.sas7bdat"
    path.write_bytes(content)
    assert main(["inspect", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert cause in err and not_said not in err


def test_truncated_sas_file_hint_says_truncated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.sas7bdat"
    sas_file(path)
    path.write_bytes(path.read_bytes()[:3000])
    assert main(["inspect", str(path)]) == 2
    assert "truncated" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# 17. pytest --parity collects parity items only, unless test paths are given


def test_parity_collects_only_parity_items_without_test_paths(pytester: pytest.Pytester) -> None:
    job(pytester.path / "fixtures", "claims", GOOD_PORT)
    pytester.makeini("[pytest]\ntestpaths = mytests\n")
    pytester.mkdir("mytests").joinpath("test_mine.py").write_text("def test_mine():\n    pass\n")
    pytester.mkdir("other").joinpath("test_other.py").write_text("raise SystemExit('collected!')\n")
    result = pytester.runpytest("--parity", "claims", "--co", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert len(ids) == CHECKS and all(i.startswith("fixtures/claims/parity.toml::d::") for i in ids)
    result = pytester.runpytest("--parity", "claims", "mytests", "--co", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids[0] == "mytests/test_mine.py::test_mine" and len(ids) == 1 + CHECKS
    result = pytester.runpytest("mytests", "--co", "-q")  # without --parity nothing changes
    assert [line for line in result.outlines if "::" in line] == ["mytests/test_mine.py::test_mine"]


def test_parity_inside_a_job_folder_collects_the_job(pytester: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = job(pytester.path / "fixtures", "claims", GOOD_PORT)
    monkeypatch.chdir(folder)
    result = pytester.runpytest("--parity", ".", "--rootdir", str(pytester.path))
    result.assert_outcomes(passed=CHECKS - 5, skipped=5)


# --------------------------------------------------------------------------------------------------------------
# 18. no PytestAssertRewriteWarning when parity was imported before pytest (an editable install, another cwd)


def test_no_assert_rewrite_warning_when_parity_is_imported_first(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    code = textwrap.dedent("""
        import sys
        import parity, parity.pytest_plugin.plugin
        import pytest
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-W", "error::pytest.PytestAssertRewriteWarning",
                              "test_x.py"]))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PytestAssertRewriteWarning" not in proc.stdout + proc.stderr
