"""Review 9: the Python side's sources as a user porting SAS jobs names them (parity/sources/): folders and globs of
parquet files whose schemas differ, hive partitions typed by the SAS side, damaged files among good ones, CSV
blank lines and separators, Arrow's stream format and Feather v1, lake outputs, a port's dict without a dataset.

Every case is a real run (``run_job_folder``) or a real open, with its verdict and counts."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.feather as feather
import pytest

from parity.cli.main import main
from parity.errors import InputError
from parity.model import DatasetResult
from parity.run.runner import run_job_folder
from parity.sources.registry import OpenOptions, open_source
from tests.helpers import Column, make_job, write_sas7bdat


def _sas(path: Path, region: list[str] | None = None) -> None:
    cols = [Column("id", "numeric", [1.0, 2.0, 3.0, 4.0]), Column("x", "numeric", [1.5, 2.5, 3.5, 4.5]),
            Column("s", "string", ["a", "b", "c", "d"])]
    if region is not None:
        cols.append(Column("region", "string", region))
    write_sas7bdat(path, cols)


def _job(tmp_path: Path, python: str, name: str = "j", region: list[str] | None = None) -> Path:
    folder = make_job(tmp_path, name, f"""
        [datasets.t]
        sas = "t.sas7bdat"
        python = "{python}"
        keys = ["id"]
        """)
    _sas(folder / "t.sas7bdat", region)
    return folder


def _port_job(tmp_path: Path, port: str, name: str = "j") -> Path:
    """A job whose port (``port.py``'s ``run``) returns the dataset ``t``, against the SAS sample."""
    folder = make_job(tmp_path, name, """
        [job]
        python = "port:run"
        [datasets.t]
        sas = "t.sas7bdat"
        keys = ["id"]
        """, files={"port.py": port})
    _sas(folder / "t.sas7bdat")
    return folder


def _one(folder: Path) -> DatasetResult:
    (result,) = run_job_folder(folder).datasets
    return result


def _parts(folder: Path, *frames: pl.DataFrame) -> None:
    (folder / "out").mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        frame.write_parquet(folder / "out" / f"part-{i}.parquet")


# ---------------------------------------------------------------------------------------------------------------
# files of one folder or glob whose schemas differ


def test_parts_whose_number_types_differ_are_read_in_one_type_and_compared(tmp_path: Path) -> None:
    """Int32 in one part, Int64 or Float64 in another, a part with no rows whose columns are all Null, a
    categorical in one and a string in another: one type holds them all (it was an internal error)."""
    for name, x, ok in (("same", 4.5, True), ("differs", 4.75, False)):
        folder = _job(tmp_path, "out", name)
        _parts(folder,
               pl.DataFrame({"id": [], "x": [], "s": []}),  # a part with no rows: every column Null
               pl.DataFrame({"id": [1, 2], "x": [1.5, 2.5], "s": ["a", "b"]},
                            schema_overrides={"id": pl.Int32, "s": pl.Categorical}),
               pl.DataFrame({"s": ["c", "d"], "id": [3.0, 4.0], "x": [3.5, x]}))  # another order, floats
        result = _one(folder)
        assert result.verdict == ("pass" if ok else "fail"), result.error
        assert result.rows["python"] == 4 and result.rows["matched"] == 4
        assert result.python["files"] == 3
        if not ok:
            (check,) = [c for c in result.checks if c.name == "numeric_tolerance"]
            assert check.status == "fail" and "1 mismatch" in check.summary


@pytest.mark.parametrize(("second", "message"), [
    (pl.DataFrame({"id": ["3", "4"], "x": [3.5, 4.5], "s": ["c", "d"]}),
     r"column 'id' is Int64 in part-0\.parquet but String in part-1\.parquet; the files of one dataset must hold "
     r"each column in one type"),
    (pl.DataFrame({"id": [3, 4], "s": ["c", "d"]}),
     r"column 'x' is in part-0\.parquet but not in part-1\.parquet; the files of one dataset must have the same "
     r"columns"),
    (pl.DataFrame({"ID": [3, 4], "x": [3.5, 4.5], "s": ["c", "d"]}),
     r"column 'ID' in part-1\.parquet is 'id' in part-0\.parquet; the files of one dataset must spell their "
     r"column names alike"),
])
def test_parts_that_disagree_otherwise_are_an_error_naming_both_files(tmp_path: Path, second: pl.DataFrame,
                                                                      message: str) -> None:
    folder = _job(tmp_path, "out/part-*.parquet")
    _parts(folder, pl.DataFrame({"id": [1, 2], "x": [1.5, 2.5], "s": ["a", "b"]}), second)
    result = _one(folder)
    assert result.verdict == "error"
    assert result.error is not None and "internal error" not in result.error
    assert result.error.startswith(f"{folder / 'out'}/part-*.parquet: ")
    import re
    assert re.search(message, result.error), result.error


def test_a_damaged_part_among_good_ones_is_named(tmp_path: Path) -> None:
    folder = _job(tmp_path, "out")
    good = pl.DataFrame({"id": [1, 2], "x": [1.5, 2.5], "s": ["a", "b"]})
    _parts(folder, good, good)
    data = (folder / "out" / "part-1.parquet").read_bytes()
    (folder / "out" / "part-1.parquet").write_bytes(data[: len(data) // 2])
    (folder / "out" / "part-2.parquet").write_bytes(b"")
    result = _one(folder)
    assert result.verdict == "error" and result.error is not None
    assert result.error.startswith(f"{folder / 'out' / 'part-1.parquet'}: cannot read this parquet file"), result.error
    assert "the file is not a complete parquet file" in result.error
    (folder / "out" / "part-1.parquet").unlink()
    error = _one(folder).error
    assert error is not None and error.startswith(f"{folder / 'out' / 'part-2.parquet'}: ")
    assert "the file is empty" in error


def test_inspect_tells_parts_that_disagree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _parts(tmp_path, pl.DataFrame({"id": [1]}), pl.DataFrame({"id": ["2"]}))
    assert main(["inspect", str(tmp_path / "out")]) == 2
    assert "column 'id' is Int64 in part-0.parquet but String in part-1.parquet" in capsys.readouterr().err
    _parts(tmp_path / "b", pl.DataFrame({"id": [], "x": []}), pl.DataFrame({"id": [1], "x": [2.5]}))
    assert main(["inspect", str(tmp_path / "b" / "out")]) == 0
    out = capsys.readouterr().out
    assert "Int64" in out and "Float64" in out and "Null" not in out  # not the empty first part's Null columns


def test_a_lake_parquet_folder_is_read_like_any_parquet_folder(tmp_path: Path) -> None:
    folder = _job(tmp_path, "parquet:out")
    _parts(folder, pl.DataFrame({"id": [1, 2], "x": [1.5, 2.5], "s": ["a", "b"]}),
           pl.DataFrame({"id": [3.0, 4.0], "x": [3.5, 4.5], "s": ["c", "d"]}))
    result = _one(folder)
    assert result.verdict == "pass", result.error
    assert result.python["source"] == f"parquet:{(folder / 'out').resolve()}" and result.python["rows"] == 4


# ---------------------------------------------------------------------------------------------------------------
# hive partitions


def test_a_partition_of_a_sas_character_column_stays_text(tmp_path: Path) -> None:
    """``region=01/``: polars infers the number 1, a type conflict with the SAS key "01" (a spurious error)."""
    folder = make_job(tmp_path, "j", """
        [datasets.t]
        sas = "t.sas7bdat"
        python = "out"
        keys = ["region", "id"]
        """)
    _sas(folder / "t.sas7bdat", ["01", "01", "02", ""])
    for region, ids in (("01", [1, 2]), ("02", [3]), ("__HIVE_DEFAULT_PARTITION__", [4])):
        (folder / "out" / f"region={region}").mkdir(parents=True)
        pl.DataFrame({"id": ids, "x": [i + 0.5 for i in ids], "s": ["abcd"[i - 1] for i in ids]}).write_parquet(
            folder / "out" / f"region={region}" / "part.parquet")
    result = _one(folder)
    assert result.verdict == "pass", (result.error, [c.summary for c in result.checks if c.status != "pass"])
    assert result.rows["matched"] == 4
    region = open_source(folder / "out", OpenOptions(like=tuple(_like(folder)))).scan().collect()
    assert sorted(region["region"].to_list(), key=str) == ["01", "01", "02", None]
    # without the SAS side (inspect), polars' inference stands
    assert open_source(folder / "out").scan().collect_schema()["region"] == pl.Int64
    (folder / "out" / "region=02" / "part.parquet").rename(folder / "out" / "region=02" / "p.parquet")
    wrong = folder / "out" / "region=2"
    (folder / "out" / "region=02").rename(wrong)
    result = _one(folder)
    assert result.verdict == "fail" and result.rows["matched"] == 3  # "2" is not "02"


@pytest.mark.parametrize(("inside", "agrees"), [
    ({"01": ["01", "01"], "02": ["02"], "__HIVE_DEFAULT_PARTITION__": [None]}, True),  # the values as written
    ({"01": [1, 1], "02": [2], "__HIVE_DEFAULT_PARTITION__": [None]}, True),  # numbers in region=01: the same
    ({"01": ["01", "01"], "02": ["03"], "__HIVE_DEFAULT_PARTITION__": [None]}, False),  # 03 in region=02
    ({"01": ["01", "02"], "02": ["02"], "__HIVE_DEFAULT_PARTITION__": [None]}, False),  # one row of another
    ({"01": ["01", "01"], "02": ["02"], "__HIVE_DEFAULT_PARTITION__": ["02"]}, False),  # a value in the default
    ({"01": ["01", None], "02": ["02"], "__HIVE_DEFAULT_PARTITION__": [None]}, False),  # missing in region=01
])
def test_a_partition_column_the_files_hold_too_must_hold_its_folders_value(
        tmp_path: Path, inside: dict[str, list[object]], agrees: bool) -> None:
    """polars and Spark read a partition column from the folder's name even when the files hold it too: a file
    whose own value is another (a port's wrong region hidden by the layout) would pass unseen. Such a file is an
    error naming it; files that agree with their folders are compared as usual."""
    folder = make_job(tmp_path, "j", """
        [datasets.t]
        sas = "t.sas7bdat"
        python = "out"
        keys = ["region", "id"]
        """)
    _sas(folder / "t.sas7bdat", ["01", "01", "02", ""])
    for (region, values), ids in zip(inside.items(), ([1, 2], [3], [4]), strict=True):
        (folder / "out" / f"region={region}").mkdir(parents=True)
        pl.DataFrame({"id": ids, "x": [i + 0.5 for i in ids], "s": ["abcd"[i - 1] for i in ids],
                      "region": values}).write_parquet(folder / "out" / f"region={region}" / "part.parquet")
    result = _one(folder)
    if agrees:
        assert result.verdict == "pass", (result.error, [c.summary for c in result.checks if c.status != "pass"])
        assert result.rows["matched"] == 4
    else:
        assert result.verdict == "error"
        assert result.error is not None and "holds region = " in result.error and "part.parquet" in result.error
        assert "in the folder region=" in result.error


def _like(folder: Path) -> list:  # type: ignore[type-arg]
    from parity.sources.sas import open_sas

    return open_sas(str(folder / "t.sas7bdat"), OpenOptions()).columns


# ---------------------------------------------------------------------------------------------------------------
# CSV


@pytest.mark.parametrize("text", [
    'id,x,s\n1,1.5,a\n2,2.5,b\n3,3.5,c\n4,4.5,d\n\n\n',  # blank lines at the end
    'id,x,s\r\n1,1.5,a\r\n\r\n2,2.5,b\r\n3,3.5,c\r\n4,4.5,d\r\n  \r\n',  # in the middle, blanks only, CRLF
    '\ufeffid,x,s\n1,1.5,a\n2,2.5,b\n\n3,3.5,c\n4,4.5,d',  # a BOM, no last newline
])
def test_blank_lines_of_a_csv_are_no_rows(tmp_path: Path, text: str) -> None:
    folder = _job(tmp_path, "out.csv")
    (folder / "out.csv").write_text(text, newline="")
    result = _one(folder)
    assert result.verdict == "pass", [c.summary for c in result.checks if c.status != "pass"]
    assert result.rows["python"] == 4


def test_a_csv_row_of_missing_values_and_a_quoted_blank_line_are_kept(tmp_path: Path) -> None:
    folder = _job(tmp_path, "out.csv")
    (folder / "out.csv").write_text('id,x,s\n1,1.5,a\n,,\n2,2.5,b\n3,3.5,c\n4,4.5,d\n\n')
    result = _one(folder)
    assert result.verdict == "fail" and result.rows["python"] == 5 and result.rows["only_in_python"] == 1
    (folder / "out.csv").write_text('id,x,s\n1,1.5,"a\n\nz"\n2,2.5,b\n3,3.5,c\n4,4.5,d\n\n')
    table = open_source(folder / "out.csv", OpenOptions())
    assert table.meta.rows == 4
    assert table.scan().collect()["s"].to_list() == ["a\n\nz", "b", "c", "d"]
    # one column: a blank line is a missing value, as polars and pandas write it
    (folder / "one.csv").write_text("s\na\n\nb\n")
    assert open_source(folder / "one.csv", OpenOptions()).scan().collect()["s"].to_list() == ["a", None, "b"]


@pytest.mark.parametrize(("data", "message"), [
    (b"id;x;s\n1;1.5;a\n2;2.5;b\n3;3.5;c\n4;4.5;d\n", "its header 'id;x;s' is separated by semicolons, not commas"),
    (b"id;x;s\n1;1,5;a\n2;2,5;b\n3;3,5;c\n4;4,5;d\n", "its header is separated by semicolons, not commas"),
    (b'id\tx\ts\n1\t1.5\t"a\nb"\n', "its header is separated by tabs, not commas"),
    ("id,x,s\n1,1.5,a\n".encode("utf-16"), "the file is UTF-16"),
])
def test_a_csv_in_another_dialect_is_a_clear_error(tmp_path: Path, data: bytes, message: str) -> None:
    folder = _job(tmp_path, "out.csv")
    (folder / "out.csv").write_bytes(data)
    result = _one(folder)
    assert result.verdict == "error" and result.error is not None
    assert result.error.startswith(f"{folder / 'out.csv'}: ") and message in result.error, result.error
    assert "truncate_ragged_lines" not in result.error  # polars' advice is for its API, not for a parity user


# ---------------------------------------------------------------------------------------------------------------
# Arrow


FRAME = pl.DataFrame({"id": [1, 2, 3, 4], "x": [1.5, 2.5, 3.5, 4.5], "s": ["a", "b", "c", "d"]})


@pytest.mark.parametrize("kind", ["stream", "feather1"])
def test_arrow_stream_format_and_feather_v1_are_read(tmp_path: Path, kind: str) -> None:
    folder = _job(tmp_path, "out.arrow")
    if kind == "stream":
        FRAME.write_ipc_stream(folder / "out.arrow")
    else:
        with pytest.warns(DeprecationWarning):
            feather.write_feather(FRAME.to_arrow(), str(folder / "out.arrow"), version=1)
    result = _one(folder)
    assert result.verdict == "pass", result.error
    assert result.rows["python"] == 4 and result.python["sha256"]
    FRAME.with_columns(x=pl.col("x") * 2).write_ipc_stream(folder / "out.arrow")
    assert _one(folder).verdict == "fail"


def test_arrow_streams_of_a_glob_are_read_in_one_schema(tmp_path: Path) -> None:
    folder = _job(tmp_path, "out/*.arrow")
    (folder / "out").mkdir()
    FRAME[:2].write_ipc_stream(folder / "out" / "a.arrow")
    FRAME[2:].with_columns(pl.col("id").cast(pl.Float64)).write_ipc(folder / "out" / "b.arrow")
    result = _one(folder)
    assert result.verdict == "pass" and result.rows["python"] == 4 and result.python["files"] == 2, result.error


def test_a_file_of_another_format_says_what_it_holds(tmp_path: Path) -> None:
    folder = _job(tmp_path, "out.arrow")
    FRAME.write_parquet(folder / "out.arrow")
    error = _one(folder).error
    assert error == f"{folder / 'out.arrow'}: this is a parquet file, not Arrow IPC (.arrow): rename it to out.parquet"
    folder = _job(tmp_path, "out.parquet", "k")
    FRAME.write_ipc(folder / "out.parquet")
    error = _one(folder).error
    assert error is not None and "it is an Arrow IPC file, not parquet" in error


# ---------------------------------------------------------------------------------------------------------------
# a port's outputs


def test_a_dict_without_the_dataset_names_what_it_holds(tmp_path: Path) -> None:
    folder = _port_job(tmp_path, "import polars as pl\n\ndef run():\n    return {'other': pl.DataFrame({'id': [1]})}\n")
    result = _one(folder)
    assert result.verdict == "error"
    assert result.error == "job 'j': port:run returned no dataset 't' (it returned 'other'); return a dict with a 't' key"


def test_a_port_returning_a_path_is_told_to_name_the_file(tmp_path: Path) -> None:
    folder = _port_job(tmp_path, "def run():\n    return 'out.parquet'\n")
    error = _one(folder).error
    assert error is not None and "got str ('out.parquet': to compare a file the port writes, name it" in error


def test_opening_a_glob_that_fails_as_a_whole_gives_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "out" / "b.parquet").write_bytes(b"PAR1 nor this")
    with pytest.raises(InputError, match=r"a\.parquet: cannot read this parquet file"):
        open_source(f"{tmp_path}/out/*.parquet")


# ---------------------------------------------------------------------------------------------------------------
# files pandas wrote


def test_a_pandas_index_kept_only_in_parquet_metadata_is_a_column(tmp_path: Path) -> None:
    """``df.set_index("id").to_parquet()`` with ids 1, 2, 3, ... stores the index as metadata only: pandas reads it
    back, polars dropped it, and the key ``id`` was "not in the Python output"."""
    import pandas as pd

    folder = _job(tmp_path, "out.parquet")
    frame = pd.DataFrame({"id": [1, 2, 3, 4], "x": [1.5, 2.5, 3.5, 4.5], "s": list("abcd")})
    frame.set_index("id").to_parquet(folder / "out.parquet")
    result = _one(folder)
    assert result.verdict == "pass", result.error
    assert result.rows["matched"] == 4
    frame.assign(id=[1, 2, 3, 5]).set_index("id").to_parquet(folder / "out.parquet")  # not a range: a column
    result = _one(folder)
    assert result.verdict == "fail" and result.rows["matched"] == 3
    frame.assign(id=[2, 4, 6, 8]).set_index("id").to_parquet(folder / "out.parquet")  # a range of step 2
    assert open_source(folder / "out.parquet").scan().collect()["id"].to_list() == [2, 4, 6, 8]
    frame.to_parquet(folder / "out.parquet")  # an unnamed index is no data
    assert open_source(folder / "out.parquet").scan().collect_schema().names() == ["id", "x", "s"]


def test_the_index_pandas_writes_to_a_csv_is_no_column(tmp_path: Path) -> None:
    import pandas as pd

    folder = _job(tmp_path, "out.csv")
    frame = pd.DataFrame({"id": [9, 1, 2, 3, 4], "x": [0, 1.5, 2.5, 3.5, 4.5], "s": list("zabcd")})
    frame[frame.id < 9].to_csv(folder / "out.csv")  # index 1..4, written first under an empty name
    result = _one(folder)
    assert result.verdict == "pass", [c.summary for c in result.checks if c.status != "pass"]
    assert result.python["columns"] == 3 and "pandas index" in result.python["dropped"]
    # an unnamed column that is not an index stays, under its own (empty) name
    (folder / "out.csv").write_text(",id,x,s\nq,1,1.5,a\nr,2,2.5,b\ns,3,3.5,c\nt,4,4.5,d\n")
    result = _one(folder)
    assert result.verdict == "fail"
    (schema,) = [c for c in result.checks if c.name == "schema"]
    assert schema.details["python_only"] == [""]


def test_unclear_reader_failures_say_what_to_do(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _job(tmp_path, "out.parquet")
    pq.write_table(pa.table([[1, 2], [1.5, 2.5], [1, 1]], names=["id", "x", "x"]), folder / "out.parquet")
    error = _one(folder).error
    assert error is not None and "the file has two columns of one name: give every column a unique name" in error
    folder = _port_job(tmp_path, """
            import os, tempfile
            import polars as pl

            def run():
                with tempfile.TemporaryDirectory() as tmp:
                    pl.DataFrame({"id": [1]}).write_parquet(os.path.join(tmp, "x.parquet"))
                    return pl.scan_parquet(os.path.join(tmp, "x.parquet"))
            """, "lazy")
    error = _one(folder).error
    assert error is not None and "the LazyFrame reads a file that was gone once the port returned" in error


def test_an_absolute_glob_in_parity_toml_is_read_and_one_that_matches_nothing_says_so(tmp_path: Path) -> None:
    """An absolute glob crashed the spec's check (pathlib's glob takes no absolute pattern): an internal error."""
    from parity.errors import SpecError
    from parity.spec import load_job

    out = tmp_path / "elsewhere"
    out.mkdir()
    FRAME.write_parquet(out / "part-0.parquet")
    folder = _job(tmp_path, f"{out}/part-*.parquet")
    result = _one(folder)
    assert result.verdict == "pass" and result.python["files"] == 1, result.error
    folder = _job(tmp_path, f"{out}/nothing-*.parquet", "none")
    with pytest.raises(SpecError, match=r"\[datasets\.t\.python\] no file matches '.*/elsewhere/nothing-\*\.parquet'"):
        load_job(folder)
    folder = _job(tmp_path, "out/**/*.parquet", "rel")
    with pytest.raises(SpecError, match=r"no file matches 'out/\*\*/\*\.parquet'"):
        load_job(folder)


@pytest.mark.parametrize(("column", "message"), [
    ("pd.period_range('2024-01', periods=4, freq='M')", "column 's' holds pandas Periods (period[M]), which polars "
     "reads as period numbers; convert it"),
    ("pd.arrays.SparseArray(['a', 'b', 'c', 'd'])", "column 's' is a sparse pandas column"),
])
def test_pandas_columns_polars_cannot_read_as_they_are_say_how_to_convert_them(tmp_path: Path, column: str,
                                                                             message: str) -> None:
    folder = _port_job(tmp_path, f"""
            import pandas as pd

            def run():
                return pd.DataFrame({{"id": [1, 2, 3, 4], "x": [1.5, 2.5, 3.5, 4.5], "s": {column}}})
            """)
    result = _one(folder)
    assert result.verdict == "error" and result.error is not None and message in result.error, result.error


# ---------------------------------------------------------------------------------------------------------------
# parity init with a folder or glob of the port's outputs


@pytest.mark.parametrize(("python", "copy", "named", "rows"), [
    ("t", True, "python/t", 4), ("t/*.parquet", True, "python/t/*.parquet", 2),
    ("t/**/*.parquet", True, "python/t/**/*.parquet", 4), ("t/**/*.parquet", False, "../../data/t/**/*.parquet", 4),
    ("t", False, "../../data/t", 4),
])
def test_init_takes_a_folder_or_glob_of_the_ports_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch, python: str, copy: bool,
                                                          named: str, rows: int) -> None:
    """``parity init --python out/`` said "file not found": a folder or glob is what parity run reads."""
    import tomllib

    data = tmp_path / "data"
    (data / "t" / "sub").mkdir(parents=True)
    _sas(data / "t.sas7bdat")
    FRAME[:2].write_parquet(data / "t" / "part-0.parquet")
    FRAME[2:].with_columns(pl.col("id").cast(pl.Float64)).write_parquet(data / "t" / "sub" / "part-1.parquet")
    (data / "t" / "_SUCCESS").write_text("")
    jobs = tmp_path / "jobs"
    monkeypatch.chdir(data)  # the outputs named as a port's run leaves them: relative to where it ran
    assert main(["init", "j", "--jobs-dir", str(jobs), "--sas", "t.sas7bdat", "--python", python,
                 *([] if copy else ["--no-copy"])]) == 0, capsys.readouterr().err
    spec = tomllib.loads((jobs / "j" / "parity.toml").read_text())
    assert spec["datasets"]["t"]["python"] == named
    result = _one(jobs / "j")
    assert result.error is None and result.verdict == ("pass" if rows == 4 else "fail")
    assert result.rows["python"] == rows


def test_init_tells_a_folder_or_glob_that_holds_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _sas(tmp_path / "t.sas7bdat")
    (tmp_path / "t").mkdir()
    args = ["init", "j", "--jobs-dir", str(tmp_path / "jobs"), "--sas", str(tmp_path / "t.sas7bdat"), "--python"]
    assert main([*args, str(tmp_path / "t")]) == 2
    assert "a folder that holds no dataset parity reads" in capsys.readouterr().err
    assert main([*args, f"{tmp_path}/t/*.parquet"]) == 2
    assert "no file matches this pattern" in capsys.readouterr().err


def test_a_recursive_glob_skips_what_a_folder_skips(tmp_path: Path) -> None:
    """``out/**/*.parquet`` read a failed Spark job's ``_temporary`` part and dot files (the folder ``out`` did
    not): a spurious extra row."""
    folder = _job(tmp_path, "out/**/*.parquet")
    _parts(folder, FRAME[:2], FRAME[2:])
    for leftover in ("_temporary/0/part-9.parquet", ".staging/part-8.parquet"):
        (folder / "out" / leftover).parent.mkdir(parents=True)
        FRAME[:1].with_columns(id=pl.lit(9)).write_parquet(folder / "out" / leftover)
    result = _one(folder)
    assert result.verdict == "pass" and result.python["files"] == 2 and result.rows["python"] == 4, result.error
    explicit = _job(tmp_path, "out/_temporary/*/*.parquet", "explicit")
    (explicit / "out" / "_temporary" / "0").mkdir(parents=True)
    FRAME.write_parquet(explicit / "out" / "_temporary" / "0" / "p.parquet")
    assert _one(explicit).verdict == "pass"


def test_a_glob_of_csv_files_is_read_and_one_of_a_kind_read_one_file_at_a_time_is_a_clear_error(
        tmp_path: Path) -> None:
    """``out/*.csv`` was read by polars as one CSV, then hashed as a file named ``*.csv``: an internal error."""
    from parity.errors import SpecError

    folder = _job(tmp_path, "out/*.csv")
    (folder / "out").mkdir()
    (folder / "out" / "a.csv").write_text("id,x,s\n1,1.5,a\n2,2.5,b\n\n")
    (folder / "out" / "b.csv").write_text("s,id,x\nc,3,3.5\nd,4,4.5\n")  # another order
    result = _one(folder)
    assert result.verdict == "pass" and result.python["files"] == 2 and result.rows["python"] == 4, result.error
    (folder / "out" / "b.csv").write_text("s,id,y\nc,3,3.5\nd,4,4.5\n")
    error = _one(folder).error
    assert error is not None and "b.csv has the columns s, id, y but a.csv has id, x, s" in error
    (folder / "out" / "b.csv").write_text("3,3.5,c\n4,4.5,d\n")  # no header row (Spark's header=false)
    error = _one(folder).error
    assert error is not None and "the files of one dataset must have the same columns (each file its own header" \
        in error
    sas_glob = _job(tmp_path, "sas/*.xpt", "xpt")
    (sas_glob / "sas").mkdir()
    (sas_glob / "sas" / "a.xpt").write_bytes(b"")
    with pytest.raises(SpecError, match=r"\[datasets\.t\.python\] .*sas/\*\.xpt: parity reads a glob of files only "
                                        r"for \*\.parquet, \*\.csv, \*\.arrow, \*\.feather, \*\.ipc files; name one "
                                        r"xport file"):
        run_job_folder(sas_glob)


def test_a_folder_of_arrow_files_is_told_to_use_a_glob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    FRAME.write_ipc(tmp_path / "out" / "a.arrow")
    assert main(["inspect", str(tmp_path / "out")]) == 2
    assert f"its .arrow files are read with a glob ({tmp_path / 'out'}/*.arrow)" in capsys.readouterr().err
    assert main(["inspect", f"{tmp_path}/out/*.arrow"]) == 0


def test_a_part_damaged_past_its_footer_is_named_when_the_comparison_reads_it(tmp_path: Path) -> None:
    """Its footer is fine (the schema and row count read), its pages are not: the error named only the folder."""
    folder = make_job(tmp_path, "j", """
        [datasets.t]
        sas = "t.sas7bdat"
        python = "out"
        """)
    n = 1000
    write_sas7bdat(folder / "t.sas7bdat", [Column("id", "numeric", [float(i) for i in range(n)])])
    frame = pl.DataFrame({"id": list(range(n))})
    (folder / "out").mkdir()
    frame[:500].write_parquet(folder / "out" / "a.parquet")
    frame[500:].write_parquet(folder / "out" / "b.parquet", compression="snappy")
    data = bytearray((folder / "out" / "b.parquet").read_bytes())
    data[100:400] = b"\xab" * 300
    (folder / "out" / "b.parquet").write_bytes(bytes(data))
    result = _one(folder)
    assert result.verdict == "error" and result.error is not None
    assert result.error.startswith(f"{folder / 'out' / 'b.parquet'}: cannot read this file of {folder / 'out'} ("), \
        result.error


def test_unnamed_csv_columns_without_a_value_are_no_columns(tmp_path: Path) -> None:
    """Trailing commas (a spreadsheet's export) made a column named "" that only the Python side has: a FAIL."""
    folder = _job(tmp_path, "out.csv")
    (folder / "out.csv").write_text("id,x,s,,\n1,1.5,a,,\n2,2.5,b,,\n3,3.5,c,,\n4,4.5,d,,\n")
    result = _one(folder)
    assert result.verdict == "pass", [c.summary for c in result.checks if c.status != "pass"]
    assert result.python["columns"] == 3 and "2 unnamed columns without a value" in result.python["dropped"]
    # a row of commas is a row of missing values, told as such
    (folder / "out.csv").write_text("id,x,s,\n1,1.5,a,\n2,2.5,b,\n3,3.5,c,\n4,4.5,d,\n,,,\n")
    result = _one(folder)
    assert result.verdict == "fail" and result.rows["python"] == 5 and result.rows["only_in_python"] == 1


def test_a_delta_table_named_as_a_folder_of_parquet_files_is_told_to_use_delta(tmp_path: Path) -> None:
    """Every parquet file of a Delta table's folder is not its current version: the removed files of older
    versions were read too (stale and duplicate rows)."""
    folder = _job(tmp_path, "out")
    _parts(folder, FRAME, FRAME.with_columns(x=pl.lit(0.0)))  # the second: an older version's file
    (folder / "out" / "_delta_log").mkdir()
    (folder / "out" / "_delta_log" / "00000000000000000000.json").write_text("{}\n")
    result = _one(folder)
    assert result.verdict == "error" and result.error is not None
    assert (f"{folder / 'out'} is a Delta table (it has a _delta_log folder), whose current version is not every "
            "parquet file in it") in result.error and "python = 'delta:<its path>'" in result.error
    with pytest.raises(InputError, match="is a Delta table"):
        open_source(f"{folder}/out/*.parquet")
    assert open_source(folder / "out" / "part-0.parquet").meta.rows == 4  # one file named: read as it is
