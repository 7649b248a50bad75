"""benchmarks/compare.py's generator: generated in parts (how 100M rows fit in memory), the manifest is still the
exact ground truth of the files, with the schema the one-piece generator writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import compare  # noqa: E402


def _truth(folder: Path, rows: int) -> tuple[dict[str, object], pl.DataFrame, pl.DataFrame]:
    sas_path, py_path, manifest_path = compare.data_paths(rows, 7, 19, folder)
    return json.loads(manifest_path.read_text()), pl.read_parquet(sas_path), pl.read_parquet(py_path)


def test_generated_in_parts_the_manifest_counts_what_the_files_hold(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare, "CHUNKED_ABOVE", 10_000)
    monkeypatch.setattr(compare, "PART_ROWS", 25_000)
    compare.generate(60_000, 7, 19, tmp_path)
    manifest, sas, py = _truth(tmp_path, 60_000)
    expected = manifest["expected"]
    assert isinstance(expected, dict)
    assert sas.height == manifest["sas_rows"] == 60_000 and py.height == manifest["python_rows"]
    assert sas.get_column("ID").is_sorted() and sas.get_column("ID").is_unique().all()
    assert py.get_column("id").is_unique().all()
    joined = sas.rename(str.lower).with_columns(pl.col("id").cast(pl.Int64)).join(py, on="id", suffix="_p")
    assert joined.height == expected["matched"]
    assert sas.height - joined.height == expected["only_sas"] and py.height - joined.height == expected["only_py"]
    for column in ("site", "comment", "status"):
        assert (joined[column] != joined[f"{column}_p"]).sum() == expected["columns"][column] > 0
    for column in ("val01", "val02"):
        assert ((joined[column] - joined[f"{column}_p"]).abs() > compare.TOLERANCE).sum() == expected["columns"][column]
    assert (joined["val03"].is_not_null() & joined["val03_p"].is_null()).sum() == expected["columns"]["val03"]


def test_the_parts_writer_writes_the_schema_of_the_one_piece_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compare.generate(30_000, 7, 19, tmp_path / "one")
    monkeypatch.setattr(compare, "CHUNKED_ABOVE", 10_000)
    monkeypatch.setattr(compare, "PART_ROWS", 30_000)  # one part, but through the parts writer and its own RNG
    compare.generate(30_000, 7, 19, tmp_path / "parts")
    one, parts = _truth(tmp_path / "one", 30_000), _truth(tmp_path / "parts", 30_000)
    assert one[0]["sas_rows"] == parts[0]["sas_rows"] and one[1].schema == parts[1].schema
    assert one[2].schema == parts[2].schema
