"""benchmarks/end_to_end.py: a smoke run on a tiny table, and its streaming Stata .dta writer."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyreadstat
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import end_to_end  # noqa: E402


def test_end_to_end_smoke() -> None:
    # the .sas7bdat: Debian's `readstat` command from a streamed .dta when installed, else ReadStat's writer
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "end_to_end.py"), "--rows", "2000", "--timeout", "120"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\nAGREE: parity, datacompy report the same rows" in proc.stdout
    # the injected ground truth at 2000 rows: 1995 matched, 5 only in SAS, 8 only in Python
    assert "matched                          1,995           1,995           1,995" in proc.stdout
    lines = proc.stdout.strip().splitlines()
    assert lines[-2].startswith("e2e_speedup_vs_datacompy: ") and float(lines[-2].split(": ")[1]) > 0
    assert lines[-1].startswith("e2e_memory_ratio_vs_datacompy: ") and float(lines[-1].split(": ")[1]) > 0


def test_both_sas_writers_build_the_same_sas7bdat_content(tmp_path: Path) -> None:
    built = {}
    for writer in ("auto", "readstat-lib"):
        info = end_to_end.build_inputs(tmp_path / writer, 2000, 7, 19, writer, 700, reuse=False)
        job = end_to_end.job_folder(tmp_path / writer)
        df, meta = pyreadstat.read_sas7bdat(str(job / end_to_end.SAS_NAME),
                                            disable_datetime_conversion=True)
        assert meta.number_rows == info["manifest"]["sas_rows"] == 2000
        assert meta.original_variable_types["VISITDT"] == "DATE9"  # parity classifies dates by SAS format
        assert {k for k, v in meta.original_variable_types.items() if v} == {"VISITDT"}
        assert int(df["VAL03"].isna().sum()) == info["manifest"]["not_differences"]["val03_missing_both"]
        built[writer] = pl.from_pandas(df)
        assert (job / "parity.toml").exists() and (job / end_to_end.PY_NAME).exists()
    assert built["auto"].equals(built["readstat-lib"])


def test_write_dta_round_trips_through_pyreadstat(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "ID": [1.0, 2.0, 3.0, 4.0],
        "VISITDT": [0.0, 21915.0, None, -1.0],  # SAS days: 1960-01-01, 2020-01-01, missing, 1959-12-31
        "AMOUNT": [1.5, None, float("nan"), -2.25],
        "NAME": ["a", None, "ÄÖ café", "x" * 30],
    })
    path = tmp_path / "t.dta"
    parquet = tmp_path / "t.parquet"
    frame.write_parquet(parquet)
    columns = end_to_end._dta_columns(parquet)
    assert [(c.name, c.width, c.format, c.value_labels) for c in columns] == [
        ("ID", 0, "%10.0g", ""), ("VISITDT", 0, "%td", "DATE9"), ("AMOUNT", 0, "%10.0g", ""),
        ("NAME", 30, "%-30s", ""),
    ]
    # two chunks: the data section is written chunk by chunk after the header
    end_to_end.write_dta(path, columns, 4, end_to_end._parquet_chunks(parquet, 3))
    df, meta = pyreadstat.read_dta(str(path))
    assert meta.number_rows == 4
    assert meta.original_variable_types == {"ID": "%10.0g", "VISITDT": "%td", "AMOUNT": "%10.0g", "NAME": "%-30s"}
    assert meta.variable_to_label == {"VISITDT": "DATE9"}  # ReadStat's CLI writes it as the SAS format
    assert df["ID"].tolist() == [1.0, 2.0, 3.0, 4.0]
    visits = df["VISITDT"].tolist()
    assert visits[0] == dt.date(1960, 1, 1) and visits[1] == dt.date(2020, 1, 1) and visits[3] == dt.date(1959, 12, 31)
    assert visits[2] is None or (isinstance(visits[2], float) and math.isnan(visits[2]))
    amounts = df["AMOUNT"].tolist()
    assert amounts[0] == 1.5 and math.isnan(amounts[1]) and math.isnan(amounts[2]) and amounts[3] == -2.25
    assert df["NAME"].tolist() == ["a", "", "ÄÖ café", "x" * 30]


def test_write_dta_refuses_a_row_count_the_header_does_not_hold(tmp_path: Path) -> None:
    parquet = tmp_path / "t.parquet"
    pl.DataFrame({"ID": [1.0, 2.0]}).write_parquet(parquet)
    with pytest.raises(RuntimeError, match="got 2 rows, the header says 3"):
        end_to_end.write_dta(tmp_path / "t.dta", end_to_end._dta_columns(parquet), 3,
                             end_to_end._parquet_chunks(parquet, 10))
    assert not (tmp_path / "t.dta").exists()
