#!/usr/bin/env python3
"""End-to-end benchmark: `parity run` on a real .sas7bdat and a parquet file, against pyreadstat + datacompy.

    python benchmarks/end_to_end.py --rows 200000
    python benchmarks/end_to_end.py --rows 5000000 --keep

1. Generates the SAS and Python tables with benchmarks/compare.py's deterministic generator (the same data and
   injected differences as that benchmark), then builds the inputs a real migration has:
   - the SAS side as a genuine .sas7bdat: the SAS table is streamed, in chunks, into a Stata 118 .dta which
     Debian's `readstat` CLI converts (streaming) to .sas7bdat; `VISITDT` carries the SAS format DATE9.
     Without the CLI, ReadStat's writer through ctypes (parity.testing.sas7bdat_writer) writes it directly
     (small tables only: it holds every value as a Python object);
   - the Python side as a parquet file, with `visitdt` as a date, as a Python port writes it.
2. Times, each in its own process and measured from outside it (wall clock, CPU, peak RSS):
   - `parity run` on a job folder (keys = id, absolute tolerance 1e-9), which writes the JSON and HTML reports;
   - pyreadstat.read_sas7bdat + polars conversion + parquet read + datacompy PolarsCompare (same key, same
     tolerance) + its text report.
3. Checks that both report the same row counts and per-column mismatch counts (parity's from its JSON report),
   equal to the injected ground truth: AGREE or DISAGREE (exit 1).
4. Prints a table; the last two lines are ``e2e_speedup_vs_datacompy: X`` and ``e2e_memory_ratio_vs_datacompy: Y``.

See benchmarks/README.md ("End to end") for what exactly is measured and the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import compare  # noqa: E402  (benchmarks/compare.py: the data generator, tolerance, key and the counts check)

E2E_VERSION = 1  # bump when the built files (.sas7bdat, parquet, job folder) change
SAS_NAME = "bench.sas7bdat"
PY_NAME = "python.parquet"
JOB_DATASET = "bench"
JOB_NAME = "bench"  # the job folder: <root>/jobs/bench; parity writes <root>/reports/bench/
DATE_COLUMNS = ("VISITDT",)  # SAS dates in the generated SAS table (days since 1960-01-01)
DATE_FORMAT = "DATE9"
SAS_EPOCH_OFFSET_DAYS = 3653  # 1960-01-01 -> 1970-01-01
CHUNK_ROWS = 250_000
LIB_WRITER_MAX = 1_000_000  # ReadStat-through-ctypes holds every value as a Python object: small tables only
RESULT_MARK = "@@E2E_RESULT@@ "

# --------------------------------------------------------------------------------------------------------------
# a streaming Stata 118 (.dta) writer: the header, then the fixed-width data section chunk by chunk
#
# Layout (Stata's dta_118 specification): <stata_dta><header>...</header><map>14 uint64 offsets</map>
# <variable_types> K uint16 <varnames> K x 129 <sortlist> (K+1) uint16 <formats> K x 57
# <value_label_names> K x 129 <variable_labels> K x 321 <characteristics/> <data> N fixed-width rows
# <strls/> <value_labels> <lbl>...</lbl> </value_labels></stata_dta>.  Every offset is known before the first
# row is written, because N and the row width are.

_DTA_DOUBLE = 65526  # type code of a double; str# has the code # (1..2045)
_DTA_STR_MAX = 2045
_DTA_MISSING_DOUBLE = struct.unpack("<d", struct.pack("<Q", 0x7FE0000000000000))[0]  # Stata's "." (2^1023)


@dataclass(frozen=True)
class DtaColumn:
    name: str
    width: int  # 0 for a double, else the str# width in bytes
    format: str  # Stata display format: %td for a date
    value_labels: str = ""  # the name of a value-label set; ReadStat's CLI writes it as the SAS format


def _fixed(text: str, size: int) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) >= size:
        raise ValueError(f"{text!r} does not fit in {size - 1} bytes")
    return raw + b"\0" * (size - len(raw))


def _dta_label_table(name: str) -> bytes:
    """One value-label set with one label, for a value the data never holds (-2147483647)."""
    text = b"(never used)\0"
    table = struct.pack("<ii", 1, len(text)) + struct.pack("<i", 0) + struct.pack("<i", -2147483647) + text
    return b"<lbl>" + struct.pack("<i", len(table)) + _fixed(name, 129) + b"\0\0\0" + table + b"</lbl>"


def write_dta(path: Path, columns: Sequence[DtaColumn], rows: int, chunks: Iterator[Any]) -> None:
    """Write a Stata 118 .dta of ``rows`` rows; ``chunks`` yields polars DataFrames with ``columns`` in order
    (doubles as Float64 with null for missing, strings as String)."""
    import numpy as np
    import polars as pl

    k = len(columns)
    if not 0 < k <= 32767:
        raise ValueError(f"a .dta holds 1..32767 variables, not {k}")
    dtype = np.dtype([(c.name, "<f8" if c.width == 0 else f"S{c.width}") for c in columns])
    stamp = b"01 Jan 2024 00:00"
    header = (b"<stata_dta><header><release>118</release><byteorder>LSF</byteorder><K>" + struct.pack("<H", k)
              + b"</K><N>" + struct.pack("<Q", rows) + b"</N><label>" + struct.pack("<H", 0)
              + b"</label><timestamp>" + bytes([len(stamp)]) + stamp + b"</timestamp></header>")
    sections = [
        (b"<variable_types>", b"".join(struct.pack("<H", c.width or _DTA_DOUBLE) for c in columns),
         b"</variable_types>"),
        (b"<varnames>", b"".join(_fixed(c.name, 129) for c in columns), b"</varnames>"),
        (b"<sortlist>", b"\0\0" * (k + 1), b"</sortlist>"),
        (b"<formats>", b"".join(_fixed(c.format, 57) for c in columns), b"</formats>"),
        (b"<value_label_names>", b"".join(_fixed(c.value_labels, 129) for c in columns), b"</value_label_names>"),
        (b"<variable_labels>", b"\0" * (321 * k), b"</variable_labels>"),
        (b"<characteristics>", b"", b"</characteristics>"),
    ]
    label_sets = sorted({c.value_labels for c in columns if c.value_labels})
    tail = [
        (b"<strls>", b"", b"</strls>"),
        (b"<value_labels>", b"".join(_dta_label_table(n) for n in label_sets), b"</value_labels>"),
    ]
    map_len = len(b"<map>") + 14 * 8 + len(b"</map>")
    offsets = [0, len(header)]
    pos = len(header) + map_len
    for open_tag, body, close_tag in sections:
        offsets.append(pos)
        pos += len(open_tag) + len(body) + len(close_tag)
    offsets.append(pos)  # <data>
    pos += len(b"<data>") + rows * dtype.itemsize + len(b"</data>")
    for open_tag, body, close_tag in tail:
        offsets.append(pos)
        pos += len(open_tag) + len(body) + len(close_tag)
    offsets.append(pos)  # </stata_dta>
    offsets.append(pos + len(b"</stata_dta>"))  # end of file
    written = 0
    with _removed_on_error(path), open(path, "wb") as fh:
        fh.write(header + b"<map>" + struct.pack("<14Q", *offsets) + b"</map>")
        for open_tag, body, close_tag in sections:
            fh.write(open_tag + body + close_tag)
        fh.write(b"<data>")
        for chunk in chunks:
            block = np.zeros(chunk.height, dtype=dtype)
            for c in columns:
                series = chunk.get_column(c.name)
                if c.width == 0:
                    values = series.cast(pl.Float64).to_numpy()  # null -> NaN
                    block[c.name] = np.where(np.isnan(values), _DTA_MISSING_DOUBLE, values)
                else:
                    block[c.name] = series.fill_null("").cast(pl.Binary).to_numpy()  # UTF-8, NUL-padded
            fh.write(block.tobytes())
            written += chunk.height
        if written != rows:
            raise RuntimeError(f"{path}: got {written} rows, the header says {rows}")
        fh.write(b"</data>")
        for open_tag, body, close_tag in tail:
            fh.write(open_tag + body + close_tag)
        fh.write(b"</stata_dta>")
        if fh.tell() != offsets[-1]:
            raise RuntimeError(f"{path}: wrote {fh.tell()} bytes, the map says {offsets[-1]}")


@contextlib.contextmanager
def _removed_on_error(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _dta_columns(parquet: Path) -> list[DtaColumn]:
    """The .dta layout of the SAS parquet: doubles, dates (%td, value labels named after the SAS date format)
    and str# columns as wide as their longest value."""
    import polars as pl

    schema = pl.read_parquet_schema(parquet)
    strings = [name for name, dtype in schema.items() if dtype == pl.String]
    widths = pl.scan_parquet(parquet).select(pl.col(strings).str.len_bytes().max()).collect().row(0) if strings else ()
    width_of = dict(zip(strings, widths, strict=True))
    columns = []
    for name, dtype in schema.items():
        if name in width_of:
            width = max(1, int(width_of[name] or 0))
            if width > _DTA_STR_MAX:
                raise ValueError(f"{parquet}: column {name} holds {width}-byte values; a .dta str# holds "
                                 f"{_DTA_STR_MAX}")
            columns.append(DtaColumn(name, width, f"%-{width}s"))
        elif dtype.is_numeric():
            if name in DATE_COLUMNS:
                columns.append(DtaColumn(name, 0, "%td", DATE_FORMAT))
            else:
                columns.append(DtaColumn(name, 0, "%10.0g"))
        else:
            raise ValueError(f"{parquet}: column {name} has type {dtype}; the SAS table holds doubles and strings")
    return columns


def _parquet_chunks(parquet: Path, chunk_rows: int) -> Iterator[Any]:
    import polars as pl
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(parquet).iter_batches(batch_size=chunk_rows):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield frame


# --------------------------------------------------------------------------------------------------------------
# building the inputs: the .sas7bdat, the Python parquet and the parity job folder


def _sas7bdat_via_cli(readstat: str, sas_parquet: Path, target: Path, rows: int, chunk_rows: int) -> None:
    dta = target.with_suffix(".dta")
    try:
        write_dta(dta, _dta_columns(sas_parquet), rows, _parquet_chunks(sas_parquet, chunk_rows))
        sas_parquet.unlink()  # a generated intermediate: the .dta holds it now
        proc = subprocess.run([readstat, "-f", str(dta), str(target)], capture_output=True, text=True)
        if proc.returncode != 0 or not target.exists():
            raise RuntimeError(f"readstat {dta.name} {target.name} failed (exit {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    finally:
        dta.unlink(missing_ok=True)  # an intermediate: as large as the .sas7bdat


def _sas7bdat_via_lib(sas_parquet: Path, target: Path) -> None:
    import polars as pl

    from parity.testing.sas7bdat_writer import Column, write_sas7bdat

    frame = pl.read_parquet(sas_parquet)
    columns = []
    for name, dtype in frame.schema.items():
        values = frame.get_column(name).to_list()
        if dtype == pl.String:
            columns.append(Column(name, "string", values))
        else:
            columns.append(Column(name, "numeric", values, format=DATE_FORMAT if name in DATE_COLUMNS else None))
    write_sas7bdat(target, columns, table_name="BENCH")


def _python_parquet(py_parquet: Path, target: Path) -> None:
    """compare.py's Python table, with ``visitdt`` as a date (it holds SAS days there), as a port writes it."""
    import polars as pl

    frame = pl.scan_parquet(py_parquet)  # streamed: 100M rows do not fit in memory at once
    frame = frame.with_columns((pl.col(c.lower()).cast(pl.Int32) - SAS_EPOCH_OFFSET_DAYS).cast(pl.Date)
                               for c in DATE_COLUMNS)
    frame.sink_parquet(target)


def _write_job(folder: Path, rows: int, columns: int) -> None:
    (folder / "parity.toml").write_text(
        "# Written by benchmarks/end_to_end.py\n"
        "[job]\n"
        f'description = "end-to-end benchmark: {rows:,} rows x {columns} columns"\n\n'
        f"[datasets.{JOB_DATASET}]\n"
        f'sas = "{SAS_NAME}"\n'
        f'python = "{PY_NAME}"\n'
        f'keys = ["{compare.KEY}"]\n\n'
        f"[datasets.{JOB_DATASET}.tolerance]\n"
        f'default = {{ method = "absolute", criterion = {compare.TOLERANCE!r} }}\n'
    )


def _resolve_writer(sas_writer: str, rows: int) -> tuple[str, str | None]:
    readstat = shutil.which("readstat")
    if sas_writer == "auto":
        sas_writer = "readstat-cli" if readstat else "readstat-lib"
    if sas_writer == "readstat-cli" and not readstat:
        raise SystemExit("error: the `readstat` command is not installed (Debian/Ubuntu: apt-get install "
                         "readstat); or use --sas-writer readstat-lib for small tables")
    if sas_writer == "readstat-lib" and rows > LIB_WRITER_MAX:
        raise SystemExit(f"error: --sas-writer readstat-lib holds every value in memory as a Python object: "
                         f"use it for at most {LIB_WRITER_MAX:,} rows; install the `readstat` command "
                         f"(apt-get install readstat) for {rows:,}")
    return sas_writer, readstat


def job_folder(root: Path) -> Path:
    return root / "jobs" / JOB_NAME


def build_inputs(root: Path, rows: int, seed: int, columns: int, sas_writer: str, chunk_rows: int,
                 reuse: bool) -> dict[str, Any]:
    """Build the job folder (SAS_NAME, PY_NAME, parity.toml) under ``root`` and write ``root/built.json`` last:
    what was built, with the generator's manifest (the injected ground truth). Returns that."""
    folder = job_folder(root)
    stamp = root / "built.json"
    key = {"e2e_version": E2E_VERSION, "generator_version": compare.GENERATOR_VERSION, "rows": rows, "seed": seed,
           "columns": columns}
    if reuse and stamp.exists():
        built: dict[str, Any] = json.loads(stamp.read_text())
        if (all(built.get(k) == v for k, v in key.items()) and (folder / SAS_NAME).exists()
                and sas_writer in ("auto", built.get("sas_writer"))):
            print(f"inputs: reusing {root} (built with the {built['sas_writer']} writer)")
            return built
    sas_writer, readstat = _resolve_writer(sas_writer, rows)
    folder.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gen-", dir=root) as gen:
        manifest = compare.ensure_data(rows, seed, columns, regenerate=True, data_dir=Path(gen))
        sas_parquet, py_parquet, _ = compare.data_paths(rows, seed, columns, Path(gen))
        # the Python side first, and each generated parquet dropped once used: at 100M rows the disk must hold the
        # .dta and the .sas7bdat (24 GB each) at the same time, and little else
        _python_parquet(py_parquet, folder / PY_NAME)
        py_parquet.unlink()
        started = time.perf_counter()
        if readstat and sas_writer == "readstat-cli":
            _sas7bdat_via_cli(readstat, sas_parquet, folder / SAS_NAME, manifest["sas_rows"], chunk_rows)
        else:
            _sas7bdat_via_lib(sas_parquet, folder / SAS_NAME)
        sas_s = time.perf_counter() - started
    _write_job(folder, rows, columns)
    size_mb = (folder / SAS_NAME).stat().st_size / 2**20
    print(f"inputs: {SAS_NAME} ({size_mb:,.0f} MB, {sas_writer}, {sas_s:.1f} s) and {PY_NAME} "
          f"({(folder / PY_NAME).stat().st_size / 2**20:,.0f} MB) in {folder}")
    built = {**key, "sas_writer": sas_writer, "sas7bdat_mb": round(size_mb, 1), "manifest": manifest}
    stamp.write_text(json.dumps(built, indent=2) + "\n")
    return built


# --------------------------------------------------------------------------------------------------------------
# measuring a process from outside


@dataclass(frozen=True)
class Measured:
    returncode: int | None  # None: killed at the timeout
    wall_s: float
    user_s: float
    sys_s: float
    peak_mb: float
    stdout: str
    stderr: str


# The wrapper: a small Python process that starts the tool, waits for it and reports the tool's resource use.
# Measuring from a separate small process keeps the measuring process's own memory out of the figures (a child
# forked from a large process starts with that process's RSS, which ru_maxrss would count).
_WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
rc = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as fh:
    json.dump({"rc": rc, "wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
               "maxrss_kb": usage.ru_maxrss}, fh)
"""


def run_measured(cmd: Sequence[str], cwd: Path, timeout: float | None) -> Measured:
    """Run ``cmd`` under the wrapper: wall time from just before the tool's fork to its exit (the wrapper's own
    start-up excluded), CPU seconds and ru_maxrss (RUSAGE_CHILDREN: the peak RSS of the largest single process
    of the tool's tree, not a sum).  At the timeout the whole process group is killed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory(prefix=".measure-", dir=cwd) as tmp:
        usage_path = Path(tmp) / "usage.json"
        proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, str(usage_path), *cmd], cwd=cwd, stdout=out,
                                stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if not usage_path.exists():  # killed at the timeout
            return Measured(None, float(timeout or 0), 0.0, 0.0, 0.0, stdout, stderr)
        usage = json.loads(usage_path.read_text())
        return Measured(returncode=usage["rc"], wall_s=usage["wall_s"], user_s=usage["user_s"],
                        sys_s=usage["sys_s"], peak_mb=usage["maxrss_kb"] / 1024,  # kB on Linux
                        stdout=stdout, stderr=stderr)


# --------------------------------------------------------------------------------------------------------------
# the tools


def _parity_command() -> list[str]:
    exe = Path(sys.executable).parent / "parity"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("parity")
    if not found:
        raise SystemExit("error: the `parity` command is not installed next to this Python or on PATH "
                         "(run ./dev test once, or pip install -e .)")
    return [found]


def _compiled_like_installed() -> None:
    """parity's modules compiled to bytecode, as pip compiles an installed wheel's: an editable checkout under
    PYTHONDONTWRITEBYTECODE=1 (as on the project VM) would compile them from source on every run (about 0.1 s),
    where the peers' modules, installed, are compiled once."""
    import compileall

    import parity

    compileall.compile_dir(str(Path(parity.__file__).parent), quiet=1)


def run_parity(root: Path, timeout: float | None) -> tuple[Measured, dict[str, Any] | None]:
    _compiled_like_installed()
    reports = root / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    cmd = [*_parity_command(), "run", JOB_NAME, "--jobs-dir", str(root / "jobs"), "--report-dir", str(reports)]
    measured = run_measured(cmd, root, timeout)
    report_path = reports / JOB_NAME / "parity.json"
    if measured.returncode not in (0, 1) or not report_path.exists():
        return measured, None
    report = json.loads(report_path.read_text())
    (dataset,) = report["datasets"]
    counts = {
        "matched": dataset["rows"]["matched"], "only_sas": dataset["rows"]["only_in_sas"],
        "only_py": dataset["rows"]["only_in_python"],
        "columns": {c["name"].lower(): c["mismatches"] for c in dataset["columns"] if c.get("status") == "compared"},
    }
    phases = {"in-process run": report["run"]["duration_s"], "dataset": dataset.get("duration_s")}
    return measured, {"counts": counts, "phases": phases, "verdict": report.get("verdict")}


def datacompy_child(sas_path: Path, py_path: Path, report_path: Path) -> dict[str, Any]:
    """What a user without parity runs: read the .sas7bdat with pyreadstat, convert it to polars, read the
    parquet, PolarsCompare with the same key and tolerance, and write datacompy's report."""
    phases: dict[str, float] = {}
    started = time.perf_counter()
    import datacompy
    import polars as pl
    import pyreadstat

    phases["imports"] = time.perf_counter() - started
    mark = time.perf_counter()
    pdf, _ = pyreadstat.read_sas7bdat(str(sas_path))  # DATE9 columns become datetime.date objects
    phases["read_sas7bdat"] = time.perf_counter() - mark
    mark = time.perf_counter()
    sas = pl.from_pandas(pdf)
    del pdf
    phases["to_polars"] = time.perf_counter() - mark
    mark = time.perf_counter()
    py = pl.read_parquet(py_path)
    phases["read_parquet"] = time.perf_counter() - mark
    mark = time.perf_counter()
    # datacompy refuses to join a Float64 key with an Int64 one (polars SchemaError): cast the SAS key, as
    # benchmarks/compare.py does; datacompy lower-cases the column names itself
    key = next(c for c in sas.columns if c.lower() == compare.KEY)
    sas = sas.with_columns(pl.col(key).cast(pl.Int64))
    cmp = datacompy.PolarsCompare(sas, py, join_columns=[compare.KEY], abs_tol=compare.TOLERANCE)
    cmp.matches()
    phases["compare"] = time.perf_counter() - mark
    mark = time.perf_counter()
    report_path.write_text(cmp.report())
    phases["report"] = time.perf_counter() - mark
    return {"counts": compare._datacompy_counts(cmp), "phases": phases}


def run_datacompy(root: Path, timeout: float | None) -> tuple[Measured, dict[str, Any] | None]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--datacompy-child", str(root)]
    measured = run_measured(cmd, root, timeout)
    for line in measured.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARK):])
            return measured, result
    return measured, None


# --------------------------------------------------------------------------------------------------------------
# the parent


def _ratio(base: Measured | None, tool: Measured | None, field: str) -> str:
    if base is None or tool is None:
        return "n/a"
    return f"{getattr(base, field) / getattr(tool, field):.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000, help="rows of the SAS table (default 100000)")
    ap.add_argument("--seed", type=int, default=20240601, help="numpy RNG seed of the generated data")
    ap.add_argument("--columns", type=int, default=19,
                    help=f"columns per table (default 19, at least {compare.MIN_COLUMNS})")
    ap.add_argument("--tools", default="parity,datacompy", help="comma-separated: parity, datacompy (default both)")
    ap.add_argument("--datacompy-max", type=int, default=10_000_000,
                    help="largest --rows for which datacompy runs (default 10000000: it needs about 1.2 GB per "
                         "million rows)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds allowed for each tool's process")
    ap.add_argument("--keep", action="store_true",
                    help="keep the built inputs in benchmarks/data/ (git-ignored) and reuse them on the next run "
                         "with the same --rows/--seed/--columns")
    ap.add_argument("--sas-writer", choices=["auto", "readstat-cli", "readstat-lib"], default="auto",
                    help="how the .sas7bdat is written: the `readstat` command from a streamed .dta, or ReadStat's "
                         "library through ctypes (small tables); auto: the command when installed")
    ap.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help=argparse.SUPPRESS)
    ap.add_argument("--datacompy-child", help=argparse.SUPPRESS)
    ap.add_argument("--build-into", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.build_into:
        build_inputs(Path(args.build_into), args.rows, args.seed, args.columns, args.sas_writer, args.chunk_rows,
                     reuse=args.keep)
        return 0

    if args.datacompy_child:
        root = Path(args.datacompy_child)
        result = datacompy_child(job_folder(root) / SAS_NAME, job_folder(root) / PY_NAME,
                                 root / "datacompy_report.txt")
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0

    if args.rows < 1000:
        ap.error("--rows must be at least 1000")
    if args.columns < compare.MIN_COLUMNS:
        ap.error(f"--columns must be at least {compare.MIN_COLUMNS}")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - {"parity", "datacompy"}
    if unknown or not tools:
        ap.error(f"--tools: choose from parity, datacompy (got {args.tools!r})")
    skipped_note = None
    if "datacompy" in tools and args.rows > args.datacompy_max:
        tools.remove("datacompy")
        skipped_note = (f"datacompy skipped: --rows {args.rows:,} > --datacompy-max {args.datacompy_max:,} "
                        f"(pyreadstat + PolarsCompare need about 1.2 GB per million rows)")
        print(f"note: {skipped_note}")

    compare.DATA_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"e2e_n{args.rows}_s{args.seed}_c{args.columns}"
    with contextlib.ExitStack() as stack:
        if args.keep:
            root = compare.DATA_DIR / stem
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f".{stem}-", dir=compare.DATA_DIR)))
        # built in a child process, so that this one stays small and the generator's memory is returned
        started = time.perf_counter()
        build = subprocess.run([sys.executable, str(Path(__file__).resolve()), *(argv or sys.argv[1:]),
                                "--build-into", str(root)])
        if build.returncode != 0:
            print(f"error: building the inputs failed (exit {build.returncode})")
            return 2
        built = json.loads((root / "built.json").read_text())
        print(f"inputs ready in {time.perf_counter() - started:.1f} s")
        manifest = built["manifest"]
        load = os.getloadavg()
        print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, python "
              f"{sys.version.split()[0]}; SAS {manifest['sas_rows']:,} x {args.columns} "
              f"({built['sas7bdat_mb']:,.0f} MB .sas7bdat), Python {manifest['python_rows']:,} x {args.columns} "
              f"(parquet)")

        measured: dict[str, Measured] = {}
        results: dict[str, dict[str, Any]] = {}
        failed: list[str] = []
        for tool in tools:
            print(f"running {tool} ...", flush=True)
            if tool == "parity":
                m, res = run_parity(root, args.timeout)
            else:
                m, res = run_datacompy(root, args.timeout)
            measured[tool] = m
            if m.returncode is None:
                print(f"  {tool}: timed out after {args.timeout:.0f} s")
            if res is None:
                failed.append(tool)
                if m.returncode is not None:
                    print(f"  {tool}: FAILED (exit {m.returncode})\n{(m.stderr or m.stdout)[-4000:]}")
                continue
            results[tool] = res
            phases = ", ".join(f"{k} {v:.2f}" for k, v in res["phases"].items() if v is not None)
            print(f"  {tool}: {m.wall_s:.2f} s wall, peak RSS {m.peak_mb:,.0f} MB, exit {m.returncode} "
                  f"({phases} s)", flush=True)

        agree = compare.print_verdict(manifest["expected"], results, failed)

        base = measured.get("datacompy") if "datacompy" in results else None
        par = measured.get("parity") if "parity" in results else None
        print(f"\n{'tool':<24}{'wall s':>9}{'user s':>9}{'sys s':>8}{'peak RSS MB':>13}{'exit':>6}"
              f"{'speed vs dc':>13}{'mem vs dc':>11}")
        labels = {"parity": "parity run", "datacompy": "pyreadstat+datacompy"}
        for tool, m in measured.items():
            if m.returncode is None:
                print(f"{labels[tool]:<24}{'> ' + format(m.wall_s, '.0f'):>9}  (killed at the --timeout)")
                continue
            ok = tool in results
            print(f"{labels[tool]:<24}{m.wall_s:>9.2f}{m.user_s:>9.2f}{m.sys_s:>8.2f}{m.peak_mb:>13,.0f}"
                  f"{m.returncode:>6}{_ratio(base, m if ok else None, 'wall_s'):>13}"
                  f"{_ratio(base, m if ok else None, 'peak_mb'):>11}")
        print("(each tool is one process, measured from outside: wall = fork to exit, including interpreter "
              "start-up, imports, reading both files, the compare and writing the reports; user/sys = CPU "
              "seconds; peak RSS = ru_maxrss (RUSAGE_CHILDREN of a small wrapper process): the largest single "
              "process of the tool's tree; "
              "ratios = datacompy / tool, >1: the tool is faster / smaller)")
        if skipped_note:
            print(f"note: {skipped_note}")
        speed = "n/a" if base is None or par is None else f"{base.wall_s / par.wall_s:.2f}"
        memory = "n/a" if base is None or par is None else f"{base.peak_mb / par.peak_mb:.2f}"
        print(f"e2e_speedup_vs_datacompy: {speed}")
        print(f"e2e_memory_ratio_vs_datacompy: {memory}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
