"""`parity capture` (saspy) and the verification of capture.json by `parity run`.

There is no SAS here: a fake session object stands in for ``saspy.SASsession`` (the same method names and
signatures, checked below against saspy's own when saspy is importable)."""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from parity.cli.main import main
from parity.errors import InputError
from parity.run import capture as cap
from parity.spec import load_job
from tests.helpers import Column, make_job, write_sas7bdat

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())
PROGRAM = "data claims; set raw.claims; run;\nproc sort data=claims; by claim_id; run;\n"
LOG_OK = "1    data claims; set raw.claims; run;\nNOTE: The data set WORK.CLAIMS has 3 observations.\n"


def claims(paid: tuple[float, ...] = (10.5, 20.25, 30.0)) -> list[Column]:
    return [Column("claim_id", "string", ["C1", "C2", "C3"]),
            Column("paid", "numeric", list(paid), format="COMMA12.2")]


def summary() -> list[Column]:
    return [Column("n", "numeric", [3.0])]


class FakeSession:
    """A stand-in for saspy.SASsession: running a program 'creates' the member data sets in its WORK folder."""

    workpath: str
    hostsep: str

    def __init__(self, remote: Path, members: Mapping[str, list[Column]], log: str = LOG_OK,
                 fail_download: str | None = None, libs: Mapping[str, Path] | None = None) -> None:
        self.remote, self.members, self.log, self.fail_download = remote, members, log, fail_download
        self.libs = {k.upper(): v for k, v in (libs or {}).items()}
        self.workpath = str(remote / "work") + "/"
        self.hostsep = "/"
        self.submitted: list[str] = []
        self.downloads: list[tuple[str, str]] = []
        self.ended = False
        self.macros = {"SYSVLONG": "9.04.01M7P080520", "SYSSCPL": "LIN X64"}

    def submit(self, code: str, results: str = "", prompt: dict[str, Any] | None = None) -> dict[str, str]:
        self.submitted.append(code)
        if code.startswith("%let parity_libpath="):
            lib = code.split("pathname(", 1)[1].split(")", 1)[0].upper()
            self.macros["parity_libpath"] = str(self.libs[lib]) if lib in self.libs else ""
            return {"LOG": "", "LST": ""}
        target = next(iter(self.libs.values()), None) or Path(self.workpath)
        target.mkdir(parents=True, exist_ok=True)
        for member, columns in self.members.items():
            write_sas7bdat(target / f"{member}.sas7bdat", columns, table_name=member.upper())
        return {"LOG": self.log, "LST": ""}

    def symget(self, name: str) -> Any:
        return self.macros.get(name, "")

    def exist(self, table: str, libref: str = "") -> bool:
        folder = self.libs.get(libref.upper(), Path(self.workpath))
        return (folder / f"{table.lower()}.sas7bdat").is_file()

    def download(self, localfile: str, remotefile: str, overwrite: bool = True) -> dict[str, Any]:
        self.downloads.append((localfile, remotefile))
        if self.fail_download and remotefile.endswith(f"/{self.fail_download}.sas7bdat"):
            return {"Success": False, "LOG": "ERROR: Insufficient authorization to access the file."}
        if not Path(remotefile).is_file():
            return {"Success": False, "LOG": f"File {remotefile} does not exist."}
        shutil.copyfile(remotefile, localfile)
        return {"Success": True, "LOG": ""}

    def endsas(self) -> None:
        self.ended = True


def factory(session: FakeSession) -> cap.SessionFactory:
    def make(config: Mapping[str, str]) -> cap.SasSession:
        session.config = dict(config)  # type: ignore[attr-defined]
        return session
    return make


def job(tmp_path: Path, extra: str = "", python: bool = True) -> Path:
    port = ("import polars as pl\n"
            "def run():\n"
            "    return {'claims': pl.DataFrame({'claim_id': ['C1', 'C2', 'C3'], 'paid': [10.5, 20.25, 30.0]}),\n"
            "            'summary': pl.DataFrame({'n': [3.0]})}\n")
    return make_job(tmp_path / "jobs", "claims_job", f"""
        [job]
        python = "port:run"
        sas_program = "sas/job.sas"
        {extra}
        [datasets.claims]
        sas = "claims.sas7bdat"
        keys = ["claim_id"]
        [datasets.summary]
        sas = "out/summary.sas7bdat"
        """, files={"sas/job.sas": PROGRAM, **({"port.py": port} if python else {})})


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def do_capture(folder: Path, session: FakeSession, **kwargs: Any) -> cap.CaptureResult:
    return cap.capture_job(load_job(folder, check_files=False), session_factory=factory(session), **kwargs)


def run_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str, str]:
    reports = tmp_path / "reports"
    code = main(["run", "claims_job", "--jobs-dir", str(tmp_path / "jobs"), "--report-dir", str(reports)])
    out, err = capsys.readouterr()
    data = json.loads((reports / "claims_job" / "parity.json").read_text())
    return code, data, out, err


def test_capture_writes_outputs_log_and_capture_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = job(tmp_path)
    session = FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()})
    result = do_capture(folder, session)
    record = json.loads((folder / "capture.json").read_text())
    assert record == result.capture
    assert list(record) == ["schema_version", "captured_at", "program", "sas", "log", "datasets"]
    assert record["schema_version"] == 1
    assert record["program"] == {"path": "sas/job.sas", "sha256": sha(folder / "sas" / "job.sas")}
    assert record["sas"] == {"version": "9.04.01M7P080520", "host": "LIN X64"}
    assert record["log"] == "sas.log" and (folder / "sas.log").read_text() == LOG_OK
    assert record["datasets"] == {
        "claims": {"file": "claims.sas7bdat", "sha256": sha(folder / "claims.sas7bdat"), "rows": 3},
        "summary": {"file": "out/summary.sas7bdat", "sha256": sha(folder / "out" / "summary.sas7bdat"), "rows": 1},
    }
    assert session.submitted[0] == PROGRAM  # the program as written, through submit()
    assert [r for _, r in session.downloads] == [session.workpath + "claims.sas7bdat",
                                                 session.workpath + "summary.sas7bdat"]
    assert session.ended
    assert not [p for p in folder.rglob("*") if ".parity-" in p.name]  # no staging or journal left

    code, data, out, _ = run_job(tmp_path, capsys)
    assert code == 0 and data["verdict"] == "pass"
    capture = data["run"]["capture"]
    assert capture["status"] == "verified" and capture["warnings"] == []
    assert capture["datasets"] == record["datasets"] and capture["sas"]["host"] == "LIN X64"
    assert "stale" not in out
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, SCHEMA)
    html = (tmp_path / "reports" / "claims_job" / "parity.html").read_text()
    assert "SAS capture" in html and "9.04.01M7P080520" in html and "Stale capture" not in html


def test_error_in_log_fails_and_keeps_the_previous_capture(tmp_path: Path) -> None:
    folder = job(tmp_path)
    do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}))
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    bad_log = LOG_OK + "ERROR 22-322: Syntax error, expecting one of the following: ;.\nERROR: File RAW.X missing.\n"
    session = FakeSession(tmp_path / "remote2", {"claims": claims((1.0, 2.0, 3.0)), "summary": summary()},
                          log=bad_log)
    with pytest.raises(cap.CaptureError, match=r"logged 2 ERROR line\(s\): ERROR 22-322: Syntax error") as info:
        do_capture(folder, session)
    assert "sas-failed.log" in str(info.value) and info.value.exit_code == 2
    assert (folder / "sas-failed.log").read_text() == bad_log
    after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != "sas-failed.log"}
    assert after == before
    assert session.downloads == [] and session.ended


def test_a_failed_download_leaves_no_mix_of_old_and_new_files(tmp_path: Path) -> None:
    folder = job(tmp_path)
    do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}))
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    session = FakeSession(tmp_path / "remote2", {"claims": claims((1.0, 2.0, 3.0)), "summary": summary()},
                          fail_download="summary")
    with pytest.raises(cap.CaptureError, match=r"downloading WORK.SUMMARY .* failed: ERROR: Insufficient"):
        do_capture(folder, session)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # claims is the old one


def test_a_dataset_the_program_did_not_create_is_named(tmp_path: Path) -> None:
    folder = job(tmp_path)
    with pytest.raises(cap.CaptureError, match=r"did not create WORK.SUMMARY \(dataset 'summary', file "
                                               r"out/summary.sas7bdat\)"):
        do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims()}))
    assert not (folder / "capture.json").exists() and not (folder / "claims.sas7bdat").exists()


def test_a_libref_downloads_from_its_folder(tmp_path: Path) -> None:
    folder = job(tmp_path, 'sas_libref = "out"')
    lib = tmp_path / "remote" / "outlib"
    session = FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}, libs={"OUT": lib})
    do_capture(folder, session)
    assert "%let parity_libpath=%sysfunc(pathname(OUT));" in session.submitted
    assert [r for _, r in session.downloads] == [f"{lib}/claims.sas7bdat", f"{lib}/summary.sas7bdat"]
    session2 = FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}, libs={"OUT": lib})
    with pytest.raises(cap.CaptureError, match="SAS library NOPE is not assigned"):
        do_capture(folder, session2, libref="nope")


@pytest.mark.parametrize(("toml_extra", "sas_file", "message"), [
    ("", "claims.xpt", r"\[datasets.claims.sas\] 'claims.xpt': parity capture writes .sas7bdat files"),
    ("", "my-claims.sas7bdat", "not a SAS data set name"),
])
def test_capture_spec_mistakes(tmp_path: Path, toml_extra: str, sas_file: str, message: str) -> None:
    folder = make_job(tmp_path, "j", f"""
        [job]
        python = "port:run"
        sas_program = "job.sas"
        [datasets.claims]
        sas = "{sas_file}"
        """, files={"job.sas": PROGRAM})
    with pytest.raises(cap.CaptureError, match=message):
        do_capture(folder, FakeSession(tmp_path / "remote", {}))


def test_capture_without_sas_program_says_what_to_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_job(tmp_path, "j", """
        [job]
        python = "port:run"
        [datasets.claims]
        sas = "claims.sas7bdat"
        """)
    assert main(["capture", "j", "--jobs-dir", str(tmp_path)]) == 2
    assert 'sas_program is not set' in capsys.readouterr().err


def test_without_saspy_capture_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    job(tmp_path)
    monkeypatch.setitem(sys.modules, "saspy", None)  # import saspy raises ImportError
    assert main(["capture", "claims_job", "--jobs-dir", str(tmp_path / "jobs")]) == 2
    err = capsys.readouterr().err
    assert "saspy, which is not installed" in err and 'pip install "parity-sas[sas]"' in err
    assert "sascfg_personal.py" in err and "[tool.parity.saspy] cfgname" in err
    assert not (tmp_path / "jobs" / "claims_job" / "capture.json").exists()


def test_saspy_that_cannot_start_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Saspy:
        @staticmethod
        def SASsession(**kwargs: Any) -> Any:
            raise EOFError("EOF when reading a line")  # saspy prompting for a configuration without a terminal

    monkeypatch.setitem(sys.modules, "saspy", Saspy)
    with pytest.raises(cap.CaptureError, match=r"saspy could not start a SAS session \(EOFError"):
        cap.saspy_session({"cfgname": "x"})


def test_cli_capture_uses_tool_parity_saspy_and_reports_warnings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = job(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.parity]\njobs_dir = "jobs"\n[tool.parity.saspy]\n'
                                             'cfgname = "winlocal"\n')
    monkeypatch.chdir(tmp_path)
    session = FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()},
                          log=LOG_OK + "WARNING: Multiple lengths were specified for the variable name.\n")
    monkeypatch.setattr(cap, "saspy_session", factory(session))
    assert main(["capture", "claims_job"]) == 0
    out, err = capsys.readouterr()
    assert session.config == {"cfgname": "winlocal"}  # type: ignore[attr-defined]
    assert "captured claims_job: sas/job.sas on SAS 9.04.01M7P080520 (LIN X64)" in out
    assert "claims: claims.sas7bdat (3 rows" in out
    assert "SAS warning: WARNING: Multiple lengths were specified" in err
    assert (folder / "capture.json").is_file()


def test_run_refuses_a_sas_file_changed_after_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = job(tmp_path)
    do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}))
    write_sas7bdat(folder / "claims.sas7bdat", claims((10.5, 20.25, 31.0)), table_name="CLAIMS")
    code, data, _, err = run_job(tmp_path, capsys)
    assert code == 2 and data["verdict"] == "error"
    assert f"{folder / 'claims.sas7bdat'}: the evidence changed after capture" in data["error"]
    assert "evidence changed after capture" in err
    shutil.copyfile(tmp_path / "remote" / "work" / "claims.sas7bdat", folder / "claims.sas7bdat")
    code, data, _, _ = run_job(tmp_path, capsys)
    assert code == 0 and data["run"]["capture"]["status"] == "verified"  # the captured file is back
    (folder / "out" / "summary.sas7bdat").unlink()
    with pytest.raises(InputError, match=r"captured SAS file out/summary.sas7bdat of dataset 'summary' is gone"):
        cap.verify_capture(load_job(folder, check_files=False))


def test_a_changed_program_makes_a_stale_capture_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = job(tmp_path)
    do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}))
    (folder / "sas" / "job.sas").write_text(PROGRAM + "/* tweak */\n")
    code, data, out, _ = run_job(tmp_path, capsys)
    assert code == 0 and data["verdict"] == "warn"  # a stale capture warns the job (its datasets pass)
    assert [d["verdict"] for d in data["datasets"]] == ["pass", "pass"]
    capture = data["run"]["capture"]
    assert capture["status"] == "stale"
    assert capture["warnings"] == [
        f"stale capture: the SAS program sas/job.sas changed since the capture of {capture['captured_at']}; "
        "run parity capture claims_job to capture its outputs again"]
    assert capture["program"]["current_sha256"] == sha(folder / "sas" / "job.sas") != capture["program"]["sha256"]
    assert "WARN  claims_job: stale capture: the SAS program sas/job.sas changed" in out
    html = (tmp_path / "reports" / "claims_job" / "parity.html").read_text()
    assert "Stale capture" in html and "changed since the capture" in html
    summary_md = (tmp_path / "reports" / "summary.md").read_text()
    assert "### Stale SAS capture" in summary_md and "sas/job.sas changed since the capture" in summary_md
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, SCHEMA)


def test_stale_when_a_dataset_is_not_captured_or_the_program_moved(tmp_path: Path) -> None:
    folder = job(tmp_path)
    do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}))
    toml = (folder / "parity.toml").read_text()
    (folder / "sas" / "other.sas").write_text(PROGRAM)
    write_sas7bdat(folder / "extra.sas7bdat", summary(), table_name="EXTRA")
    (folder / "parity.toml").write_text(toml.replace("sas/job.sas", "sas/other.sas")
                                        + '[datasets.extra]\nsas = "extra.sas7bdat"\n')
    facts = cap.verify_capture(load_job(folder))
    assert facts is not None and facts["status"] == "stale"
    assert facts["warnings"] == [
        "stale capture: [job] sas_program is sas/other.sas, but the capture ran sas/job.sas",
        "stale capture: dataset 'extra' (extra.sas7bdat) is not in capture.json"]
    (folder / "sas" / "job.sas").unlink()
    facts = cap.verify_capture(load_job(folder))
    assert facts is not None and "stale capture: the captured program sas/job.sas is gone" in facts["warnings"]
    (folder / "parity.toml").write_text(toml.replace('[datasets.summary]\nsas = "out/summary.sas7bdat"\n', ""))
    (folder / "out" / "summary.sas7bdat").unlink()  # not compared any more: its capture is not evidence of this run
    facts = cap.verify_capture(load_job(folder))
    assert facts is not None and facts["warnings"][-1] == (
        "stale capture: the captured dataset 'summary' (out/summary.sas7bdat) is not compared: the spec no longer "
        "names its file")


@pytest.mark.parametrize("text", ["{not json", '{"schema_version": 7}', '{"schema_version": 1, "program": {}}', "[]"])
def test_a_broken_capture_json_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    folder = job(tmp_path)
    do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}))
    (folder / "capture.json").write_text(text)
    with pytest.raises(InputError, match=r"capture.json: .*run parity capture again"):
        cap.verify_capture(load_job(folder))


def test_a_capture_stopped_after_its_commit_point_is_completed(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    folder = job(tmp_path)
    do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}))
    old = (folder / "claims.sas7bdat").read_bytes()
    real = cap.recover
    calls = []

    def killed(folder: Path, targets: list[Path] | None = None) -> bool:
        calls.append(folder)
        if len(calls) == 2:  # the recover() right after the journal was written: the process "dies"
            raise KeyboardInterrupt
        return real(folder, targets)

    monkeypatch.setattr(cap, "recover", killed)
    with pytest.raises(KeyboardInterrupt):
        do_capture(folder, FakeSession(tmp_path / "remote2", {"claims": claims((1.0, 2.0, 3.0)),
                                                              "summary": summary()}))
    monkeypatch.setattr(cap, "recover", real)
    assert (folder / cap.JOURNAL_FILE).is_file() and (folder / "claims.sas7bdat").read_bytes() == old
    facts = cap.verify_capture(load_job(folder))  # the next run completes the committed capture first
    assert facts is not None and facts["status"] == "verified"
    assert (folder / "claims.sas7bdat").read_bytes() != old
    assert not (folder / cap.JOURNAL_FILE).exists()
    assert not [p for p in folder.rglob("*") if ".parity-" in p.name]


def test_a_capture_stopped_before_its_commit_point_changes_nothing(tmp_path: Path) -> None:
    folder = job(tmp_path)
    do_capture(folder, FakeSession(tmp_path / "remote", {"claims": claims(), "summary": summary()}))
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    class Interrupted(FakeSession):
        def download(self, localfile: str, remotefile: str, overwrite: bool = True) -> dict[str, Any]:
            if remotefile.endswith("summary.sas7bdat"):
                raise KeyboardInterrupt
            return super().download(localfile, remotefile, overwrite)

    with pytest.raises(KeyboardInterrupt):
        do_capture(folder, Interrupted(tmp_path / "remote2", {"claims": claims((1.0, 2.0, 3.0)),
                                                              "summary": summary()}))
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


#: saspy.SASsession's signatures of the methods parity calls (saspy 5.x, sasbase.py)
SASPY_SIGNATURES = {
    "submit": ["self", "code", "results", "prompt"],
    "symget": ["self", "name", "outtype"],
    "exist": ["self", "table", "libref"],
    "download": ["self", "localfile", "remotefile", "overwrite", "kwargs"],
    "endsas": ["self"],
}


def test_the_session_protocol_matches_saspy() -> None:
    for name, params in SASPY_SIGNATURES.items():
        ours = list(inspect.signature(getattr(cap.SasSession, name)).parameters)
        assert ours == params[:len(ours)], name  # parity passes a prefix of saspy's parameters, by name
    try:
        import saspy
    except ImportError:
        return  # saspy is an optional extra; the recorded signatures above are checked anyway
    for name, params in SASPY_SIGNATURES.items():
        real = list(inspect.signature(getattr(saspy.SASsession, name)).parameters)
        assert real[:len(params)] == params, name


def test_pytest_parity_shows_a_stale_capture(pytester: pytest.Pytester) -> None:
    folder = job(pytester.path)
    shutil.move(pytester.path / "jobs", pytester.path / "fixtures")
    folder = pytester.path / "fixtures" / folder.name
    do_capture(folder, FakeSession(pytester.path / "remote", {"claims": claims(), "summary": summary()}))
    (folder / "sas" / "job.sas").write_text(PROGRAM + "/* tweak */\n")
    result = pytester.runpytest_subprocess("--parity", "claims_job", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*WARN stale capture: the SAS program sas/job.sas changed since the capture*"])


def test_a_broken_sas_session_is_a_capture_error(tmp_path: Path) -> None:
    class Broken(FakeSession):
        def submit(self, code: str, results: str = "", prompt: dict[str, Any] | None = None) -> dict[str, str]:
            raise ConnectionResetError("connection to the workspace server was reset")

    folder = job(tmp_path)
    session = Broken(tmp_path / "remote", {})
    with pytest.raises(cap.CaptureError, match=r"the SAS session failed \(ConnectionResetError: connection to"):
        do_capture(folder, session)
    assert session.ended and not (folder / "capture.json").exists()
