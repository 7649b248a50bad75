#!/usr/bin/env python3
"""Benchmark parity's comparison engine against datacompy (PolarsCompare and PandasCompare).

    python benchmarks/compare.py --rows 100000
    python benchmarks/compare.py --rows 5000000 --repeat 3

1. Generates (once, cached under benchmarks/data/, which is git-ignored) a deterministic "SAS" table and a
   "Python" table of --rows rows x --columns columns, with a known set of injected differences, as parquet.
2. Times each tool in a fresh subprocess (load time measured separately; only the compare is timed; median of
   --repeat runs in that process) and reads the process's peak RSS.
3. Checks that every tool reports the same row counts (matched / only in SAS / only in Python) and per-column
   mismatch counts, and that they equal the injected ground truth: prints AGREE or DISAGREE (exit 1).
4. Prints a table of seconds, peak RSS and ratios; the last two lines are
   ``memory_ratio_vs_datacompy_polars: Y`` and ``speedup_vs_datacompy_polars: X``.

See benchmarks/README.md for what exactly is measured and the figures measured so far.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
GENERATOR_VERSION = 1
RESULT_MARK = "@@BENCH_RESULT@@ "
TOLERANCE = 1e-9  # absolute, for every numeric column, in every tool
KEY = "id"
MIN_COLUMNS = 12  # id, 4 strings, a date, a count and at least 5 float columns

# --------------------------------------------------------------------------------------------------------------
# data


def data_paths(rows: int, seed: int, columns: int, data_dir: Path = DATA_DIR) -> tuple[Path, Path, Path]:
    stem = f"bench_n{rows}_s{seed}_c{columns}"
    return data_dir / f"{stem}_sas.parquet", data_dir / f"{stem}_py.parquet", data_dir / f"{stem}.json"


def _generate_part(rng: Any, first_id: int, part_rows: int, extra_id: int, columns: int) -> tuple[Any, Any, dict[str, Any]]:
    """``part_rows`` SAS rows with keys ``first_id``.. and their Python rows (rows only in Python get keys from
    ``extra_id`` on); returns (sas, python, counts): the counts are this part's injected ground truth."""
    import numpy as np
    import polars as pl

    n_float = columns - 7
    n = part_rows
    ids = np.arange(first_id, first_id + n, dtype=np.int64)

    # ---- the SAS table: every numeric is a double (as read from a .sas7bdat), sorted by the key, upper-case names
    sas: dict[str, Any] = {"ID": ids.astype(np.float64)}
    site_pool = np.array([f"SITE-{i:03d}" for i in range(1, 61)], dtype=object)
    sas["SITE"] = site_pool[rng.integers(0, len(site_pool), n)]
    statuses = np.array(["COMPLETED", "ONGOING", "WITHDRAWN", "SCREEN FAILURE", "LOST TO FOLLOW-UP"], dtype=object)
    sas["STATUS"] = statuses[rng.choice(len(statuses), n, p=[0.55, 0.25, 0.1, 0.06, 0.04])]
    words = ["dose", "adjusted", "per", "protocol", "visit", "missed", "lab", "repeat", "within", "range",
             "sample", "haemolysed", "patient", "reported", "mild", "headache", "no", "action", "taken", "query"]
    phrase_pool = np.array(
        [" ".join(rng.choice(words, int(rng.integers(2, 9)))).capitalize() for _ in range(4000)], dtype=object)
    sas["COMMENT"] = phrase_pool[rng.integers(0, len(phrase_pool), n)]
    sas["VISITDT"] = (21915 + rng.integers(0, 1500, n)).astype(np.float64)  # SAS date: days since 1960-01-01
    sas["NVISIT"] = rng.poisson(6, n).astype(np.float64)
    for j in range(n_float):
        kind = j % 4
        if kind == 0:
            v = np.round(rng.lognormal(6, 1.5, n), 2)  # amounts, in cents
        elif kind == 1:
            v = rng.normal(0, 1, n)  # full-precision scores
        elif kind == 2:
            v = rng.uniform(0, 1, n)  # rates
        else:
            v = np.round(rng.normal(120, 15, n), 1)  # measurements
        sas[f"VAL{j + 1:02d}"] = v
    sas_df = pl.DataFrame(sas).with_columns(
        pl.format("SUBJ-{}", pl.col("ID").cast(pl.Int64).cast(pl.String).str.zfill(9)).alias("SUBJID"))
    # SAS missing values in two float columns (the same rows on both sides: equal, not a difference)
    miss3 = rng.random(n) < 0.01
    miss4 = rng.random(n) < 0.01
    sas_df = sas_df.with_columns(
        pl.when(pl.Series(miss3)).then(None).otherwise(pl.col("VAL03")).alias("VAL03"),
        pl.when(pl.Series(miss4)).then(None).otherwise(pl.col("VAL04")).alias("VAL04"),
    )
    order = ["ID", "SUBJID", "SITE", "VISITDT", "NVISIT", *[f"VAL{j + 1:02d}" for j in range(n_float)],
             "STATUS", "COMMENT"]
    sas_df = sas_df.select(order)

    # ---- which rows are on one side only
    k_sas_only = max(5, n // 50_000)
    k_py_only = k_sas_only + 3
    sas_only_pos = np.sort(rng.choice(n, k_sas_only, replace=False))
    keep = np.ones(n, dtype=bool)
    keep[sas_only_pos] = False
    py = sas_df.filter(pl.Series(keep))
    m = py.height  # matched rows; positions below index into py (the matched rows, in key order)

    def pick(count: int, among: Any = None) -> Any:
        pool = np.arange(m) if among is None else among
        return np.sort(rng.choice(pool, count, replace=False))

    # ---- injected differences (all on matched rows)
    n_num = max(1, round(0.001 * m))  # 0.1% of rows in VAL01 and VAL02, off by far more than the tolerance
    n_null = max(5, n // 200_000)  # Python missing where SAS has a value (VAL03)
    n_str = max(10, n // 100_000)  # different strings in SITE and COMMENT
    n_case = max(5, n // 200_000)  # upper/lower case differences in STATUS
    n_noise = max(10, m // 100)  # 1% of VAL05 off by ~1e-11: below the tolerance, NOT a difference
    val01 = py.get_column("VAL01").to_numpy().copy()
    pos = pick(n_num)
    val01[pos] += rng.choice([-1.0, 1.0], n_num) * rng.uniform(0.01, 5.0, n_num)
    val02 = py.get_column("VAL02").to_numpy().copy()
    pos = pick(n_num)
    val02[pos] += rng.choice([-1.0, 1.0], n_num) * rng.uniform(0.01, 5.0, n_num)
    val05 = py.get_column("VAL05").to_numpy().copy()
    pos = pick(n_noise)
    val05[pos] += rng.choice([-1.0, 1.0], n_noise) * rng.uniform(1e-12, 1e-10, n_noise)
    val03_present = np.flatnonzero(py.get_column("VAL03").is_not_null().to_numpy())
    null_pos = pick(n_null, val03_present)
    null_mask = np.zeros(m, dtype=bool)
    null_mask[null_pos] = True
    site = py.get_column("SITE").to_numpy().copy()
    site[pick(n_str)] = "SITE-999"
    comment = py.get_column("COMMENT").to_numpy().copy()
    pos = pick(n_str)
    comment[pos] = np.array([c + " (edited)" for c in comment[pos]], dtype=object)
    status = py.get_column("STATUS").to_numpy().copy()
    pos = pick(n_case)
    status[pos] = np.array([s.title() for s in status[pos]], dtype=object)
    py = py.with_columns(
        pl.Series("VAL01", val01), pl.Series("VAL02", val02), pl.Series("VAL05", val05),
        pl.when(pl.Series(null_mask)).then(None).otherwise(pl.col("VAL03")).alias("VAL03"),
        pl.Series("SITE", site, dtype=pl.String), pl.Series("COMMENT", comment, dtype=pl.String),
        pl.Series("STATUS", status, dtype=pl.String),
    )
    # ---- rows only in Python: copies of random rows under new keys
    extra = py[pick(k_py_only).tolist()].with_columns(
        pl.Series("ID", np.arange(extra_id, extra_id + k_py_only, dtype=np.float64)))
    extra = extra.with_columns(
        pl.format("SUBJ-{}", pl.col("ID").cast(pl.Int64).cast(pl.String).str.zfill(9)).alias("SUBJID"))
    py = pl.concat([py, extra])
    # ---- Python dtypes and names, as a pandas/polars job writes them; then shuffled
    py = py.with_columns(
        pl.col("ID").cast(pl.Int64),
        pl.col("VISITDT").cast(pl.Int32),
        pl.col("NVISIT").cast(pl.Int64),
        pl.col("VAL04").fill_null(float("nan")),  # pandas-style NaN for a missing value: equal to SAS missing
    ).rename(str.lower)
    py = py[rng.permutation(py.height)]

    order_lower = [c.lower() for c in order if c != "ID"]
    counts = {"matched": m, "only_sas": k_sas_only, "only_py": k_py_only,
              "columns": {c: {"val01": n_num, "val02": n_num, "val03": n_null, "site": n_str, "comment": n_str,
                              "status": n_case}.get(c, 0) for c in order_lower},
              "not_differences": {"val05_noise_below_tolerance": n_noise, "val03_missing_both": int(miss3.sum()),
                                  "val04_sas_missing_python_nan": int(miss4.sum())}}
    return sas_df, py, counts


#: above this many rows the tables are generated in parts of PART_ROWS (bounded memory; each part has its own RNG
#: stream, its own injected differences and is shuffled within itself); at or below it, in one part, as always
CHUNKED_ABOVE = 10_000_000
PART_ROWS = 5_000_000


def generate(rows: int, seed: int, columns: int, data_dir: Path = DATA_DIR) -> dict[str, Any]:
    """Write the SAS and Python parquet files to ``data_dir``; return the manifest (the injected ground truth)."""
    import numpy as np
    import pyarrow.parquet as pq

    data_dir.mkdir(parents=True, exist_ok=True)
    sas_path, py_path, manifest_path = data_paths(rows, seed, columns, data_dir)
    if rows <= CHUNKED_ABOVE:
        parts = [(np.random.default_rng(seed), 1, rows)]
    else:
        parts = [(np.random.default_rng([seed, i]), lo + 1, min(PART_ROWS, rows - lo))
                 for i, lo in enumerate(range(0, rows, PART_ROWS))]
    total: dict[str, Any] = {}
    sas_rows = python_rows = 0
    extra_id = rows + 1
    writers: dict[str, Any] = {}
    try:
        for rng, first_id, part_rows in parts:
            sas_df, py, counts = _generate_part(rng, first_id, part_rows, extra_id, columns)
            extra_id += counts["only_py"]
            sas_rows += sas_df.height
            python_rows += py.height
            for path, frame in ((sas_path, sas_df), (py_path, py)):
                if len(parts) == 1:
                    frame.write_parquet(path)
                    continue
                table = frame.to_arrow()
                if str(path) not in writers:
                    writers[str(path)] = pq.ParquetWriter(path, table.schema)
                writers[str(path)].write_table(table)
            total = _add_counts(total, counts)
    finally:
        for writer in writers.values():
            writer.close()
    manifest = {
        "generator_version": GENERATOR_VERSION, "rows": rows, "seed": seed, "columns": columns,
        "sas_rows": sas_rows, "python_rows": python_rows,
        "expected": {k: total[k] for k in ("matched", "only_sas", "only_py", "columns")},
        "not_differences": total["not_differences"],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _add_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Counts summed key by key (nested dicts too)."""
    out = dict(b)
    for key, value in a.items():
        out[key] = _add_counts(value, b[key]) if isinstance(value, dict) else value + b[key]
    return out


def ensure_data(rows: int, seed: int, columns: int, regenerate: bool, data_dir: Path = DATA_DIR) -> dict[str, Any]:
    sas_path, py_path, manifest_path = data_paths(rows, seed, columns, data_dir)
    if not regenerate and sas_path.exists() and py_path.exists() and manifest_path.exists():
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        if manifest.get("generator_version") == GENERATOR_VERSION:
            print(f"data: reusing {sas_path.name}, {py_path.name} ({data_dir})")
            return manifest
    started = time.perf_counter()
    manifest = generate(rows, seed, columns, data_dir)
    print(f"data: generated {sas_path.name} ({manifest['sas_rows']:,} rows) and {py_path.name} "
          f"({manifest['python_rows']:,} rows) in {time.perf_counter() - started:.1f} s")
    return manifest


# --------------------------------------------------------------------------------------------------------------
# the child: one tool, one fresh process


def _status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _reset_peak() -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _find(columns: list[str], name: str) -> str:
    return next(c for c in columns if c.lower() == name)


def _run_parity(sas: Any, py: Any, engine: str | None) -> tuple[Any, dict[str, Any]]:
    import parity.engine.core
    from parity.api import compare_frames

    if engine:
        parity.engine.core.ENGINE = engine  # type: ignore[assignment]
    result = compare_frames(sas, py, keys=[KEY], tolerance={"default": {"method": "absolute", "criterion": TOLERANCE}})
    counts = {
        "matched": result.rows["matched"], "only_sas": result.rows["only_in_sas"],
        "only_py": result.rows["only_in_python"],
        "columns": {c.name.lower(): c.mismatches for c in result.columns if c.status == "compared"},
    }
    return result, counts


def _datacompy_counts(cmp: Any) -> dict[str, Any]:
    return {
        "matched": len(cmp.intersect_rows), "only_sas": len(cmp.df1_unq_rows), "only_py": len(cmp.df2_unq_rows),
        "columns": {str(s["column"]): int(s["unequal_cnt"]) for s in cmp.column_stats
                    if s["column"] not in cmp.join_columns},
        "rows_all_equal": int(cmp.count_matching_rows()),
    }


def _run_datacompy_polars(sas: Any, py: Any) -> tuple[Any, dict[str, Any]]:
    import datacompy
    import polars as pl

    # datacompy refuses to join a Float64 key with an Int64 one (polars SchemaError), so the SAS key is cast
    # to Int64 first; the cast is part of the timed work (parity normalises the key itself, also timed)
    key = _find(sas.columns, KEY)
    sas = sas.with_columns(pl.col(key).cast(pl.Int64))
    cmp = datacompy.PolarsCompare(sas, py, join_columns=[KEY], abs_tol=TOLERANCE)
    cmp.matches()  # every comparison is eager in __init__; matches() adds the all-columns row check
    return cmp, _datacompy_counts(cmp)


def _run_datacompy_pandas(sas: Any, py: Any) -> tuple[Any, dict[str, Any]]:
    import datacompy

    key = _find(list(sas.columns), KEY)  # PandasCompare lower-cases the column names of its inputs in place
    sas[key] = sas[key].astype("int64")  # the same key normalisation as for PolarsCompare (timed)
    cmp = datacompy.PandasCompare(sas, py, join_columns=[KEY], abs_tol=TOLERANCE)
    cmp.matches()
    return cmp, _datacompy_counts(cmp)


def child(tool: str, sas_path: Path, py_path: Path, repeat: int) -> dict[str, Any]:
    import polars as pl

    if tool.startswith("parity"):
        # imported before the load, as datacompy is for its tools
        import parity.api
        import parity.checks.core
        import parity.engine.core
    else:
        import datacompy  # noqa: F401  (imports pandas too)
    base_kb = _status_kb("VmRSS")  # after the imports, before the load
    started = time.perf_counter()
    sas: Any
    py: Any
    if tool == "datacompy-pandas":
        import pandas as pd

        sas, py = pd.read_parquet(sas_path), pd.read_parquet(py_path)
    else:
        sas, py = pl.read_parquet(sas_path), pl.read_parquet(py_path)
    load_s = time.perf_counter() - started
    loaded_kb = _status_kb("VmRSS")
    load_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    reset = _reset_peak()

    times: list[float] = []
    counts: dict[str, Any] = {}
    first_peak_kb: int | None = None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        if tool == "parity":
            out, counts = _run_parity(sas, py, None)
        elif tool.startswith("parity["):
            out, counts = _run_parity(sas, py, tool[len("parity["):-1])
        elif tool == "datacompy-polars":
            out, counts = _run_datacompy_polars(sas, py)
        elif tool == "datacompy-pandas":
            out, counts = _run_datacompy_pandas(sas, py)
        else:
            raise SystemExit(f"unknown tool {tool!r}")
        times.append(time.perf_counter() - started)
        del out
        if first_peak_kb is None and reset:
            first_peak_kb = _status_kb("VmHWM")  # the peak of one compare in a fresh process (the figure reported)
    compare_peak_kb = _status_kb("VmHWM") if reset else None  # over all the runs: allocator retention adds to it
    all_peak_kb = max(load_peak_kb, compare_peak_kb or 0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    # without /proc/self/clear_refs the first run's peak cannot be isolated: fall back to the peak over all runs
    peak_kb = max(load_peak_kb, first_peak_kb) if first_peak_kb is not None else all_peak_kb
    engine = None
    if tool == "parity":
        import parity.engine.core

        engine = parity.engine.core.ENGINE
    return {
        "tool": tool, "engine": engine, "load_s": load_s, "times_s": times, "median_s": statistics.median(times),
        "rss_base_mb": (base_kb or 0) / 1024, "rss_loaded_mb": (loaded_kb or 0) / 1024,
        "peak_mb": peak_kb / 1024, "peak_all_runs_mb": all_peak_kb / 1024,
        "compare_peak_mb": None if first_peak_kb is None else first_peak_kb / 1024,
        "counts": counts,
    }


# --------------------------------------------------------------------------------------------------------------
# the parent


def run_tool(tool: str, sas_path: Path, py_path: Path, repeat: int, timeout: float | None) -> dict[str, Any] | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", tool, "--sas", str(sas_path), "--py",
           str(py_path), "--repeat", str(repeat)]
    print(f"running {tool} ({repeat} run{'s' if repeat != 1 else ''}) ...", flush=True)
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  {tool}: timed out after {timeout:.0f} s")
        return None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARK):])
            print(f"  {tool}: compare {', '.join(f'{t:.2f}' for t in result['times_s'])} s; peak RSS "
                  f"{result['peak_mb']:,.0f} MB after one compare, {result['peak_all_runs_mb']:,.0f} MB after all "
                  f"(wall {time.perf_counter() - started:.1f} s incl. start-up and load)", flush=True)
            return result
    print(f"  {tool}: FAILED (exit {proc.returncode})\n{proc.stderr[-4000:]}")
    return None


def _fmt(value: float | None, spec: str) -> str:
    """``spec`` is a format spec, optionally followed by a space and a suffix ('.2f x' -> '1.23x')."""
    spec, _, suffix = spec.partition(" ")
    return "-" if value is None else format(value, spec) + suffix


def check_counts(expected: dict[str, Any], results: dict[str, dict[str, Any]]) -> bool:
    tools = list(results)
    names = ["expected", *tools]
    rows = [("matched", "matched"), ("only in SAS", "only_sas"), ("only in Python", "only_py")]
    columns = sorted(set(expected["columns"]).union(*(r["counts"]["columns"] for r in results.values())))
    width = max(14, *(len(n) for n in names))
    print(f"\n{'counts':<22}" + "".join(f"{n:>{width + 2}}" for n in names))
    ok = True
    lines: list[tuple[str, list[Any]]] = [(label, [expected[k], *(results[t]["counts"][k] for t in tools)])
                                          for label, k in rows]
    lines += [(f"  {c} mismatches", [expected["columns"].get(c), *(results[t]["counts"]["columns"].get(c)
                                                                    for t in tools)]) for c in columns]
    for label, values in lines:
        same = len(set(values)) == 1
        ok &= same
        cells = "".join(f"{'-' if v is None else f'{v:,}':>{width + 2}}" for v in values)
        print(f"{label:<22}{cells}{'' if same else '   <-- differs'}")
    for tool in tools:
        rows_equal = results[tool]["counts"].get("rows_all_equal")
        if rows_equal is not None:
            print(f"({tool}: {rows_equal:,} matched rows equal in every column)")
    return ok


def print_verdict(expected: dict[str, Any], results: dict[str, dict[str, Any]], failed: list[str]) -> bool:
    """Print the counts table and AGREE or DISAGREE; True when every tool ran and reported the injected counts."""
    agree = check_counts(expected, results) if results else False
    if failed:
        agree = False
    compared = ", ".join(results) or "nothing"
    if agree:
        print(f"\nAGREE: {compared} report the same rows and per-column mismatch counts as the injected differences")
    else:
        print(f"\nDISAGREE: {compared} do not all report the injected counts"
              + (f" (failed: {', '.join(failed)})" if failed else ""))
    return agree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000, help="rows of the SAS table (default 100000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per tool; the median is reported (default 3)")
    ap.add_argument("--seed", type=int, default=20240601, help="numpy RNG seed of the generated data")
    ap.add_argument("--columns", type=int, default=19, help=f"columns per table (default 19, at least {MIN_COLUMNS})")
    ap.add_argument("--pandas-max", type=int, default=2_000_000,
                    help="largest --rows for which datacompy's PandasCompare runs (default 2000000; it takes minutes)")
    ap.add_argument("--parity-engines", default="in-memory,streaming",
                    help="polars engines to time parity with, besides its configured default "
                         "(comma-separated from in-memory,streaming,auto; '' for none; default in-memory,streaming)")
    ap.add_argument("--tools", default="", help="comma-separated subset of tools to run (default: all)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per tool process (default: none)")
    ap.add_argument("--regenerate", action="store_true", help="rewrite the data files even if cached")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--sas", help=argparse.SUPPRESS)
    ap.add_argument("--py", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if args.rows < 1000:
        ap.error("--rows must be at least 1000")
    if args.columns < MIN_COLUMNS:
        ap.error(f"--columns must be at least {MIN_COLUMNS} (id, 4 strings, a date, a count, 5+ float columns)")

    if args.child:
        result = child(args.child, Path(args.sas), Path(args.py), args.repeat)
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0

    import parity.engine.core

    default_engine = parity.engine.core.ENGINE
    manifest = ensure_data(args.rows, args.seed, args.columns, args.regenerate)
    sas_path, py_path, _ = data_paths(args.rows, args.seed, args.columns)
    tools = ["parity"]
    for engine in filter(None, (e.strip() for e in args.parity_engines.split(","))):
        if engine not in ("in-memory", "streaming", "auto"):
            ap.error(f"--parity-engines: unknown engine {engine!r}")
        if engine != default_engine:
            tools.append(f"parity[{engine}]")
    tools.append("datacompy-polars")
    if args.rows <= args.pandas_max:
        tools.append("datacompy-pandas")
    else:
        print(f"note: datacompy-pandas skipped: --rows {args.rows:,} > --pandas-max {args.pandas_max:,} "
              f"(PandasCompare takes minutes at this size; raise --pandas-max to run it)")
    if args.tools:
        wanted = {t.strip() for t in args.tools.split(",")}
        tools = [t for t in tools if t in wanted]
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; tables: SAS {manifest['sas_rows']:,} "
          f"x {args.columns}, Python {manifest['python_rows']:,} x {args.columns}; "
          f"parity's configured polars engine: {default_engine}")

    results: dict[str, dict[str, Any]] = {}
    failed = []
    for tool in tools:
        res = run_tool(tool, sas_path, py_path, args.repeat, args.timeout)
        if res is None:
            failed.append(tool)
        else:
            results[tool] = res

    agree = print_verdict(manifest["expected"], results, failed)

    base = results.get("datacompy-polars")
    par = results.get("parity")
    print(f"\n{'tool':<22}{'load s':>8}{'compare s':>11}{'1st run s':>11}{'peak RSS MB':>13}{'RSS imports MB':>16}"
          f"{'RSS loaded MB':>15}{'compare +MB':>13}{'speed vs dc-polars':>20}{'mem vs dc-polars':>18}   runs (s)")
    for tool, res in results.items():
        extra = None if res["compare_peak_mb"] is None else res["compare_peak_mb"] - res["rss_loaded_mb"]
        speed = base["median_s"] / res["median_s"] if base else None
        mem = base["peak_mb"] / res["peak_mb"] if base else None
        label = tool if tool != "parity" else f"parity ({res['engine']})"
        runs = " ".join(f"{t:.2f}" for t in res["times_s"])
        print(f"{label:<22}{res['load_s']:>8.2f}{res['median_s']:>11.3f}{res['times_s'][0]:>11.3f}{res['peak_mb']:>13,.0f}"
              f"{res['rss_base_mb']:>16,.0f}{res['rss_loaded_mb']:>15,.0f}{_fmt(extra, ',.0f'):>13}"
              f"{_fmt(speed, '.2f x'):>20}{_fmt(mem, '.2f x'):>18}   {runs}")
    print("(compare s: median of the runs; 1st run s: the first compare in the fresh process, which also pays the "
          "kernel's page faults for the memory it touches; peak RSS: the tool's process through the load and its first compare; "
          "RSS imports/loaded: after the imports / after loading both tables; compare +MB: first compare's peak above "
          "RSS loaded; ratios: datacompy-polars / tool, >1 = the tool is faster / smaller)")
    if base and par:
        print(f"memory_ratio_vs_datacompy_polars: {base['peak_mb'] / par['peak_mb']:.2f}")
        print(f"speedup_vs_datacompy_polars: {base['median_s'] / par['median_s']:.2f}")
    else:
        print("memory_ratio_vs_datacompy_polars: n/a")
        print("speedup_vs_datacompy_polars: n/a")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
