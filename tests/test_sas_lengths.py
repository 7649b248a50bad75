"""A SAS character LENGTH counts bytes of the SAS file's encoding: '€' and 'é' are one byte in a wlatin1 file,
two Shift_JIS bytes hold '日', GB18030 writes 'ß' in four.  The schema check's over-length warning, the SAS values
that fill their length, the truncation diagnosis and characters the encoding cannot write, on both engines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parity.api import compare_frames
from parity.engine.normalize import Collation, code_page, sas_byte_length
from parity.model import JobResult
from parity.report.json import dumps, strip_runtime
from parity.report.text import hints
from parity.run.runner import run_job
from parity.spec import load_job
from tests.helpers import Column, make_job, write_sas7bdat
from tests.spark_support import spark_fixture  # noqa: F401  (the session fixture of the spark tests)

#: the header byte ReadStat maps to the file's encoding (readstat_sas.c)
ENCODING_BYTE = {"UTF-8": 20, "WINDOWS-1252": 62, "ISO-8859-1": 29, "CP932": 138, "GB18030": 125}


def sas_file(path: Path, encoding: str, values: list[str], length: int) -> Path:
    """A .sas7bdat in ``encoding`` with a numeric ID (1, 2, ...) and a character S of ``length`` bytes holding
    ``values`` as that encoding's bytes (ReadStat writes UTF-8: each value is written as an ASCII placeholder of
    its encoded length, then the placeholder's bytes are replaced)."""
    codec = Collation.of(encoding).codec or "utf-8"
    encoded = [v.encode(codec) for v in values]
    holders = [raw if raw.isascii() else b"Q" + bytes([65 + i]) + b"#" * (len(raw) - 2) for i, raw in enumerate(encoded)]
    write_sas7bdat(path, [Column("ID", "numeric", [float(i + 1) for i in range(len(values))]),
                          Column("S", "string", [h.decode("ascii") for h in holders], length=length)])
    data = bytearray(path.read_bytes())
    data[70] = ENCODING_BYTE[encoding]
    for holder, raw in zip(holders, encoded, strict=True):
        if holder != raw:
            assert len(holder) >= 3 and data.count(holder) == 1, holder
            data = data.replace(holder, raw)
    path.write_bytes(bytes(data))
    return path


def job(root: Path, name: str, encoding: str, sas: list[str], py: list[str], length: int,
        override: str | None = None) -> Path:
    folder = make_job(root, name, f"""
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.parquet"
        keys = ["id"]
        {f'encoding = "{override}"' if override else ''}
    """)
    sas_file(folder / "d.sas7bdat", encoding, sas, length)
    pl.DataFrame({"id": [float(i + 1) for i in range(len(py))], "s": py}).write_parquet(folder / "py.parquet")
    return folder


def schema(result: JobResult) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The schema check's status, Python strings SAS could not hold, and SAS values filling their length."""
    check = next(c for c in result.datasets[0].checks if c.name == "schema")
    details = check.details.to_dict()
    return check.status, dict(details["python_longer_than_sas_length"]), dict(details["sas_values_filling_length"])


def run(folder: Path, engine: Any = None) -> JobResult:
    return run_job(load_job(folder), engine=engine) if engine else run_job(load_job(folder))


def long(count: int, max_bytes: int, length: int, unencodable: int = 0) -> dict[str, int]:
    return {"count": count, "max_bytes": max_bytes, "sas_length": length, "unencodable": unencodable}


# --------------------------------------------------------------------------------------------------------------
# the cases: (encoding, SAS values, Python values, LENGTH, override) -> schema status, long strings, full strings

CASES: dict[str, tuple[tuple[str, list[str], list[str], int, str | None], tuple[str, dict[str, Any], dict[str, Any]]]] = {
    # wlatin1: '€', 'é' and 'ï' are one byte each, so these fit LENGTH 4 exactly (5-12 bytes in UTF-8)
    "cp1252_fits": (("WINDOWS-1252", ["café", "€€€€", "naïf", "ab"], ["café", "€€€€", "naïf", "ab"], 4, None),
                    ("pass", {}, {"S": 3})),
    # one byte over: 'cafés' is 5 cp1252 bytes, '€€€€€' too
    "cp1252_over_by_one": (("WINDOWS-1252", ["café", "€€€€", "naïf", "ab"], ["cafés", "€€€€€", "naïf", "ab"], 4,
                            None), ("warn", {"S": long(2, 5, 4)}, {"S": 3})),
    # trailing blanks never count, on either side
    "cp1252_trailing_blanks": (("WINDOWS-1252", ["café", "ab", "€€€"], ["café   ", "ab  ", "€€€   "], 4, None),
                               ("pass", {}, {"S": 1})),
    # characters wlatin1 cannot write: SAS would lose them (reported apart; each counts one byte)
    "cp1252_unencodable": (("WINDOWS-1252", ["café", "ab"], ["caf中", "ab"], 4, None),
                           ("warn", {"S": long(0, 0, 4, 1)}, {"S": 1})),
    # latin1 has no '€' (wlatin1 has): the same values in an ISO-8859-1 file
    "latin1_no_euro": (("ISO-8859-1", ["café", "ab"], ["café", "€"], 4, None),
                       ("warn", {"S": long(0, 0, 4, 1)}, {"S": 1})),
    # UTF-8 file: bytes are UTF-8 bytes, 'café' is 5 of them (over) though 4 characters; '€' (3 bytes) fits
    "utf8_multibyte": (("UTF-8", ["caf", "ab"], ["café", "€"], 4, None), ("warn", {"S": long(1, 5, 4)}, {})),
    "utf8_fits": (("UTF-8", ["café", "€"], ["café", "€"], 5, None), ("pass", {}, {"S": 1})),
    # Shift_JIS (CP932): '日本' is 4 bytes (6 in UTF-8), half-width katakana one byte each (three in UTF-8)
    "cp932_fits": (("CP932", ["日本", "ｱｲｳｴ", "ab"], ["日本", "ｱｲｳｴ", "ab"], 4, None), ("pass", {}, {"S": 2})),
    "cp932_over": (("CP932", ["日本", "ｱｲｳｴ", "ab"], ["日本a", "ｱｲｳｴｵ", "日"], 4, None),
                   ("warn", {"S": long(2, 5, 4)}, {"S": 2})),
    # GB18030 writes 'ß' in 4 bytes (2 in UTF-8): over LENGTH 4 though its UTF-8 fits
    "gb18030_wider_than_utf8": (("GB18030", ["中文", "ab"], ["ßß", "中文"], 4, None),
                                ("warn", {"S": long(1, 8, 4)}, {"S": 1})),
    # the user's encoding override decides (a file whose header says UTF-8, its bytes cp1252)
    "override_cp1252": (("WINDOWS-1252", ["café", "ab"], ["café", "ab"], 4, "cp1252"), ("pass", {}, {"S": 1})),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lengths_are_bytes_of_the_files_encoding(tmp_path: Path, case: str) -> None:
    (encoding, sas, py, length, override), expected = CASES[case]
    result = run(job(tmp_path, case, encoding, sas, py, length, override))
    assert schema(result) == expected
    check = next(c for c in result.datasets[0].checks if c.name == "schema")
    if expected[1]:
        file_encoding = override or encoding
        assert file_encoding in check.summary
        assert ("SAS would truncate" in check.summary) is bool(expected[1]["S"]["count"])
        assert ("SAS would lose" in check.summary) is bool(expected[1]["S"]["unencodable"])
        tips = " ".join(hints(result.datasets[0], check))
        assert ("truncate the Python strings" in tips) is bool(expected[1]["S"]["count"])
        assert ("encoding lacks" in tips) is bool(expected[1]["S"]["unencodable"])
    if [v.rstrip(" ") for v in sas] == [v.rstrip(" ") for v in py]:  # the values agree: the schema decides
        assert result.datasets[0].verdict == expected[0]


def test_xpt_with_an_encoding_override_measures_cp1252_bytes(tmp_path: Path) -> None:
    """An XPORT file records no encoding: with encoding = 'cp1252' a one-byte '€' fills LENGTH 1 exactly."""
    import pandas as pd
    import pyreadstat

    path = tmp_path / "w.xpt"
    pyreadstat.write_xport(pd.DataFrame({"N": [1.0, 2.0], "S": ["a", "X"]}), str(path))
    data = bytearray(path.read_bytes())
    start = data.index(b"HEADER RECORD*******OBS") + 80
    assert data[start + 9 + 8] == ord("X")
    data[start + 9 + 8] = 0x80  # '€' in cp1252
    path.write_bytes(bytes(data))
    fits = compare_frames(path, pl.DataFrame({"n": [1, 2], "s": ["a", "€"]}), keys=["n"], encoding="cp1252")
    assert fits.verdict == "pass"
    over = compare_frames(path, pl.DataFrame({"n": [1, 2], "s": ["a", "€é"]}), keys=["n"], encoding="cp1252")
    check = next(c for c in over.checks if c.name == "schema")
    assert check.status == "warn"
    assert check.details.to_dict()["python_longer_than_sas_length"] == {"S": long(1, 2, 1)}


def _explanations(result: JobResult) -> list[str]:
    col = next(c for c in result.datasets[0].columns if c.name.casefold() == "s")
    return [e["code"] for e in col.explanations]


def test_truncation_diagnosis_counts_the_files_bytes(tmp_path: Path) -> None:
    """In a wlatin1 file 'cafés' cut to LENGTH 4 is 'café' (SAS truncated it); 'caf' is no truncation of 'café',
    which fits there (its UTF-8 cut to 4 bytes would be 'caf')."""
    truncated = run(job(tmp_path, "cut", "WINDOWS-1252", ["café", "naïf", "€uro"], ["cafés", "naïfs", "€uros"], 4))
    assert "length_truncation" in _explanations(truncated)
    not_cut = run(job(tmp_path, "nocut", "WINDOWS-1252", ["caf", "naï", "ab"], ["café", "naïf", "abc"], 4))
    assert "length_truncation" not in _explanations(not_cut)
    utf8 = run(job(tmp_path, "utf8", "UTF-8", ["caf", "naï", "abcd"], ["café", "naïf", "abcde"], 4))
    assert "length_truncation" in _explanations(utf8)  # in UTF-8 'café' is 5 bytes: cut inside 'é'
    sjis = run(job(tmp_path, "sjis", "CP932", ["日本", "ab日"], ["日本語", "ab日本"], 4))
    assert "length_truncation" in _explanations(sjis)


def test_the_gate_names_a_new_string_sas_could_not_hold(tmp_path: Path) -> None:
    """Against a baseline, a column whose Python strings SAS can no longer hold is a new schema finding."""
    from tests.test_gate import whats
    from tests.test_waivers_and_delta import run_report

    jobs = tmp_path / "jobs"
    job(jobs, "j", "WINDOWS-1252", ["café", "€€€€"], ["café", "€€€€"], 4)
    assert run_report(jobs, tmp_path / "base")[0] == 0
    pl.DataFrame({"id": [1.0, 2.0], "s": ["café", "€€€中"]}).write_parquet(jobs / "j" / "py.parquet")
    code, head = run_report(jobs, tmp_path / "head", "--baseline", str(tmp_path / "base"))
    assert code == 1
    assert ("schema/None: new finding: Python strings SAS could not hold (longer than the SAS length, or "
            "characters its encoding lacks): S") in whats(head, "worse")


@pytest.mark.parametrize("codec", ["cp1252", "latin-1", "cp932", "euc_jp", "gb18030", "euc_kr", "big5", "cp037"])
def test_the_vectorised_length_is_the_encoded_length(codec: str) -> None:
    """The character-class rule gives every value's encoded length (unencodable characters one byte each) and
    flags exactly the values the codec cannot encode."""
    chars = [chr(c) for c in [*range(32, 0x250), *range(0x3040, 0x3100), *range(0x4E00, 0x4E80), 0x20AC, 0x2019,
                              0xAC00, 0xFF71, 0x1F600]]
    values = ["".join(chars[(i * 7919 + j * 104729) % len(chars)] for j in range(i % 13)) for i in range(4000)]
    page = code_page(codec)
    got = pl.DataFrame({"s": values}).select(sas_byte_length(pl.col("s"), page).alias("n"),
                                              pl.col("s").str.contains(page.unencodable).alias("bad"))

    def unencodable(value: str) -> bool:
        try:
            value.encode(codec)
        except UnicodeEncodeError:
            return True
        return False

    assert got["n"].to_list() == [len(v.encode(codec, "replace")) for v in values]
    assert got["bad"].to_list() == [unencodable(v) for v in values]
    utf8 = [len(v.encode()) for v in values]
    assert all(n <= page.utf8_ratio * u for n, u in zip(got["n"].to_list(), utf8, strict=True))


# --------------------------------------------------------------------------------------------------------------
# the Spark mirror: the same facts, in the same report


@pytest.mark.spark
def test_spark_measures_like_polars(spark: Any, tmp_path: Path) -> None:
    from tests.test_spark_engine import spark_engine

    for case, ((encoding, sas, py, length, override), expected) in sorted(CASES.items()):
        folder = job(tmp_path, case, encoding, sas, py, length, override)
        on_spark, on_polars = run(folder, spark_engine()), run(folder)
        assert schema(on_spark) == schema(on_polars) == expected, case
        assert (strip_runtime(json.loads(dumps(on_spark)))["datasets"][0]["checks"]
                == strip_runtime(json.loads(dumps(on_polars)))["datasets"][0]["checks"]), case


@pytest.mark.spark
def test_spark_length_rule_is_the_polars_rule(spark: Any) -> None:
    from pyspark.sql import functions as F

    from parity.spark.engine import _sas_byte_length
    from tests.spark_support import collect, to_spark

    values = ["café", "€€€€€", "日本a", "ｱｲｳ", "ßß", "中文", "ab  ", "", "x\U0001F600", None]
    frame = pl.DataFrame({"s": values}, schema={"s": pl.String})
    sdf = to_spark(spark, frame)
    for codec in ("cp1252", "cp932", "gb18030", "euc_jp"):
        page = code_page(codec)
        expected = frame.select(sas_byte_length(pl.col("s"), page).alias("n"),
                                pl.col("s").str.contains(page.unencodable).alias("bad"))
        got = collect(sdf, _sas_byte_length(F.col("s"), page), F.col("s").rlike(page.unencodable))
        assert got == [expected.to_series(0).to_list(), expected.to_series(1).to_list()], codec
