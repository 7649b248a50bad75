"""One registry of sources by suffix, URI scheme or folder (issue 9, item 1): every place that opens a table asks it;
parquet files, globs, folders and hive datasets, arrow files and a port's LazyFrame stay lazy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from parity.api import compare_frames
from parity.cli.main import main
from parity.errors import InputError, SpecError
from parity.run.runner import run_job_folder
from parity.sources import registry
from parity.sources.base import LazySource, Source, Table, materialize
from parity.sources.registry import Opener, OpenOptions, check_location, open_source, opener_for, register
from parity.spec import load_job
from tests.helpers import Column, make_job, write_sas7bdat

FRAME = pl.DataFrame({"id": [1, 2, 3, 4], "region": ["N", "S", "N", "S"], "amount": [1.5, 2.5, 3.5, 4.5]})


def _sas(path: Path) -> Path:
    write_sas7bdat(path, [Column("id", "numeric", [1.0, 2.0, 3.0, 4.0]), Column("region", "string", ["N", "S", "N", "S"]),
                          Column("amount", "numeric", [1.5, 2.5, 3.5, 4.5])])
    return path


def test_the_opener_follows_the_suffix_scheme_or_folder(tmp_path: Path) -> None:
    FRAME.write_parquet(tmp_path / "a.PARQUET")
    (tmp_path / "ds").mkdir()
    FRAME.write_parquet(tmp_path / "ds" / "part-0.parquet")
    assert opener_for(tmp_path / "a.PARQUET")[0].name == "parquet"  # case-insensitive
    assert opener_for(tmp_path / "x.sas7bdat")[0].name == "sas7bdat"
    assert opener_for(tmp_path / "x.XPT")[0].name == "xport"
    assert opener_for(tmp_path / "x.feather")[0].name == "ipc"
    assert opener_for(tmp_path / "ds")[0].name == "parquet"
    assert opener_for(f"{tmp_path}/*.parquet")[0].name == "parquet"
    opener, rest = opener_for(f"parquet:{tmp_path / 'ds'}")
    assert (opener.name, rest) == ("parquet", str(tmp_path / "ds"))
    assert opener_for(f"parquet://{tmp_path / 'ds'}")[1] == str(tmp_path / "ds")
    with pytest.raises(InputError, match=r"x\.txt: parity does not read \.txt files; expected one of .*\.parquet"):
        opener_for(tmp_path / "x.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: a folder that holds no dataset parity reads"):
        opener_for(tmp_path / "empty")
    with pytest.raises(InputError, match=r"a\.PARQUET: a parquet input cannot stand for the SAS side here; the "
                                         r"SAS side must be one of \.sas7bdat, \.xpt"):
        opener_for(tmp_path / "a.PARQUET", sas_side=True)
    assert check_location(tmp_path / "nope.parquet") == f"{tmp_path / 'nope.parquet'}: file not found"
    assert check_location(f"{tmp_path}/*.csv") == f"{tmp_path}/*.csv: no file matches this pattern"
    assert "parity reads a glob of files only for *.parquet" in str(check_location(f"{tmp_path}/*.xpt"))
    assert check_location(tmp_path / "ds") is None


def test_parquet_file_glob_folder_and_hive_dataset_are_lazy_with_exact_counts(tmp_path: Path) -> None:
    FRAME.write_parquet(tmp_path / "one.parquet")
    parts = tmp_path / "parts"
    parts.mkdir()
    FRAME.slice(0, 2).write_parquet(parts / "p0.parquet")
    FRAME.slice(2, 2).write_parquet(parts / "p1.parquet")
    (parts / "_SUCCESS").write_text("")  # Spark's marker is not data
    hive = tmp_path / "hive"
    for region in ("N", "S"):
        (hive / f"region={region}").mkdir(parents=True)
        FRAME.filter(pl.col("region") == region).drop("region").write_parquet(hive / f"region={region}" / "0.parquet")

    one = open_source(tmp_path / "one.parquet")
    assert isinstance(one, LazySource) and isinstance(one, Source)
    assert (one.meta.rows, one.meta.columns, one.meta.format) == (4, 3, "parquet")
    assert [c.name for c in one.columns] == ["id", "region", "amount"]
    assert [c.kind for c in one.columns] == ["numeric", "string", "numeric"]
    assert one.scan().collect().equals(FRAME)

    for location in (f"{parts}/*.parquet", str(parts), f"parquet:{parts}"):
        source = open_source(location)
        assert source.meta.rows == 4, location
        assert source.scan().collect().equals(FRAME), location
        assert source.meta.extra["files"] == 2
    # the dataset's digest covers every file: a changed part changes it
    before = open_source(parts).meta.digest()
    FRAME.slice(2, 2).with_columns(pl.col("amount") + 1).write_parquet(parts / "p1.parquet")
    assert open_source(parts).meta.digest() not in (before, None)

    spark = tmp_path / "out.parquet"  # Spark writes a folder named like a file
    spark.mkdir()
    FRAME.write_parquet(spark / "part-00000-abc.snappy.parquet")
    (spark / "_SUCCESS").write_text("")
    (spark / ".part-00000-abc.snappy.parquet.crc").write_text("")
    assert check_location(spark) is None
    assert open_source(spark).scan().collect().equals(FRAME)

    dataset = open_source(hive)
    assert dataset.meta.rows == 4
    got = dataset.scan().collect().sort("id")
    assert got.select("id", "region", "amount").equals(FRAME)
    assert {c.name: c.kind for c in dataset.columns}["region"] == "string"


def test_a_folder_or_glob_of_parquet_stands_for_the_python_side_in_parity_toml(tmp_path: Path) -> None:
    folder = make_job(tmp_path, "hive_job", """
        [job]
        [datasets.d]
        sas = "d.sas7bdat"
        python = "out"
        keys = ["id"]
        [datasets.g]
        sas = "d.sas7bdat"
        python = "out/*/*.parquet"
        keys = ["id"]
        """)
    _sas(folder / "d.sas7bdat")
    for region in ("N", "S"):
        (folder / "out" / f"region={region}").mkdir(parents=True)
        FRAME.filter(pl.col("region") == region).drop("region").write_parquet(
            folder / "out" / f"region={region}" / "part.parquet")
    result = run_job_folder(folder)
    d = {ds.name: ds for ds in result.datasets}
    assert d["d"].verdict == "pass", d["d"]
    assert d["d"].python["rows"] == 4 and d["d"].python["files"] == 2
    # the glob has no hive folder names: the region column is missing on the Python side
    assert d["g"].verdict != "pass"

    bad = make_job(tmp_path, "bad_job", """
        [job]
        [datasets.d]
        sas = "d.parquet"
        python = "py.parquet"
        """)
    FRAME.write_parquet(bad / "d.parquet")
    FRAME.write_parquet(bad / "py.parquet")
    with pytest.raises(SpecError, match=r"\[datasets\.d\.sas\] 'd\.parquet' must be one of \.sas7bdat, \.xpt"):
        load_job(bad)
    missing = make_job(tmp_path, "missing_job", """
        [job]
        [datasets.d]
        sas = "d.sas7bdat"
        python = "out/*.parquet"
        """)
    _sas(missing / "d.sas7bdat")
    with pytest.raises(SpecError, match=r"no file matches 'out/\*\.parquet'"):
        load_job(missing)


def test_arrow_files_are_lazy_and_categoricals_compare_as_strings(tmp_path: Path) -> None:
    frame = FRAME.with_columns(pl.col("region").cast(pl.Categorical))
    frame.write_ipc(tmp_path / "d.arrow")
    source = open_source(tmp_path / "d.arrow")
    assert isinstance(source, LazySource)
    assert (source.meta.rows, source.meta.format) == (4, "arrow")
    assert {c.name: c.type for c in source.columns}["region"] == "String"
    table = materialize(source)
    assert table.frame.equals(FRAME)


def test_a_damaged_parquet_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    FRAME.write_parquet(path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(InputError, match=r"d\.parquet: cannot read this parquet file .*check that the port "
                                         r"finished writing it"):
        open_source(path)


def test_the_spec_knows_the_sas_side_kinds_the_registry_reads() -> None:
    from parity.spec.model import SAS_EXTENSIONS

    assert set(SAS_EXTENSIONS) == set(registry.suffixes(sas_side=True))


def test_a_python_side_of_no_known_kind_stops_the_job_before_any_work(tmp_path: Path) -> None:
    folder = make_job(tmp_path, "txt_job", '[datasets.d]\nsas = "d.sas7bdat"\npython = "d.txt"\n')
    _sas(folder / "d.sas7bdat")
    (folder / "d.txt").write_text("id\n1\n")
    with pytest.raises(SpecError, match=r"\[datasets\.d\.python\] .*d\.txt: parity does not read \.txt files"):
        run_job_folder(folder)


def test_one_register_call_adds_a_kind_of_input_everywhere(tmp_path: Path) -> None:
    def open_tsv(location: str, options: OpenOptions) -> Table:
        from parity.sources.frames import table_from_frame

        return table_from_frame(pl.read_csv(location, separator="\t"), location, None, "tsv")

    saved = list(registry.openers())
    try:
        register(Opener("tsv", open_tsv, suffixes=(".tsv",), what="a tab-separated file"))
        (tmp_path / "d.tsv").write_text("id\tregion\tamount\n1\tN\t1.5\n2\tS\t2.5\n3\tN\t3.5\n4\tS\t4.5\n")
        assert ".tsv" in registry.suffixes()
        assert check_location(tmp_path / "d.tsv") is None
        result = compare_frames(_sas(tmp_path / "d.sas7bdat"), tmp_path / "d.tsv", keys=["id"])
        assert result.verdict == "pass"
        assert result.python["format"] == "tsv"
    finally:
        registry._OPENERS[:] = saved
    assert ".tsv" not in registry.suffixes()


def _port_job(root: Path, name: str, port: str) -> Path:
    """A job whose port ``port.py`` returns datasets d and e, both compared with the same SAS file."""
    folder = make_job(root, name, """
        [job]
        python = "port:run"
        [datasets.d]
        sas = "d.sas7bdat"
        keys = ["id"]
        [datasets.e]
        sas = "d.sas7bdat"
        keys = ["id"]
        """, {"port.py": port})
    _sas(folder / "d.sas7bdat")
    return folder


def test_a_port_lazyframe_stays_lazy_and_runs_in_the_port_folder(tmp_path: Path) -> None:
    folder = _port_job(tmp_path, "lazy_job", """
        import os
        from pathlib import Path

        import pandas as pd
        import polars as pl

        def run():
            os.chdir(Path(__file__).parent)  # parity restores the working directory after the port
            # a relative path, scanned lazily: it must be read while the port's working directory is in place
            return {"d": pl.scan_parquet("inputs/d.parquet").filter(pl.col("id") > 0),
                    "e": pd.read_parquet("inputs/d.parquet")}
        """)
    (folder / "inputs").mkdir()
    FRAME.write_parquet(folder / "inputs" / "d.parquet")
    result = run_job_folder(folder)
    assert [ds.verdict for ds in result.datasets] == ["pass", "pass"], result.datasets
    assert result.datasets[0].python["rows"] == 4

    from parity.run.port import run_job_callable

    out = run_job_callable("port:run", {}, folder, "lazy_job", ["d", "e"])
    lazy = out.tables["d"]
    assert isinstance(lazy, LazySource) and lazy.meta.rows == 4
    assert isinstance(out.tables["e"], Table)
    assert lazy.scan().collect().equals(FRAME)


def test_a_failing_lazy_plan_is_an_error_of_that_dataset_only(tmp_path: Path) -> None:
    folder = _port_job(tmp_path, "lazy_bad", """
        import polars as pl

        def run():
            return {"d": pl.scan_parquet("nope/*.parquet"),
                    "e": pl.DataFrame({"id": [1, 2, 3, 4], "region": ["N", "S", "N", "S"],
                                       "amount": [1.5, 2.5, 3.5, 4.5]}).lazy()}
        """)
    result = run_job_folder(folder)
    d, e = result.datasets
    assert d.verdict == "error" and "dataset 'd'" in (d.error or "")
    assert e.verdict == "pass"


def test_api_reads_any_registered_kind_on_either_side(tmp_path: Path) -> None:
    FRAME.write_parquet(tmp_path / "d.parquet")
    FRAME.write_ipc(tmp_path / "d.feather")
    FRAME.to_pandas().to_csv(tmp_path / "d.csv", index=False)
    sas = _sas(tmp_path / "d.sas7bdat")
    for python in ("d.parquet", "d.feather", "d.csv"):
        assert compare_frames(sas, tmp_path / python, keys=["id"]).verdict == "pass", python
    assert compare_frames(tmp_path / "d.parquet", FRAME.lazy(), keys=["id"]).verdict == "pass"
    assert compare_frames(str(tmp_path), pd.DataFrame(FRAME.to_dict(as_series=False)), keys=["id"]).verdict == "pass"


def test_inspect_uses_the_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sas = _sas(tmp_path / "d.sas7bdat")
    assert main(["inspect", str(sas), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["rows"], info["variables"]) == (4, 3)
    FRAME.write_parquet(tmp_path / "d.parquet")  # any other input: its rows and columns as parity reads them
    assert main(["inspect", str(tmp_path / "d.parquet"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["format"], info["rows"], info["variables"]) == ("parquet", 4, 3)
    assert [(c["name"], c["kind"]) for c in info["columns"]] == [("id", "numeric"), ("region", "string"),
                                                                  ("amount", "numeric")]
    assert main(["inspect", str(tmp_path)]) == 0  # a folder of parquet files
    assert "amount" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "d.parquet"), "--encoding", "latin1"]) == 2
    assert "--encoding applies to SAS files, not to a parquet file" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "nope.sas7bdat")]) == 2
    assert "nope.sas7bdat: file not found" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "d.txt")]) == 2
    assert "parity does not read .txt files" in capsys.readouterr().err
