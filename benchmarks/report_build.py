#!/usr/bin/env python3
"""Benchmark building the report (result model, JSON, HTML) against the comparison itself.

    python benchmarks/report_build.py                      # both shapes at their default sizes
    python benchmarks/report_build.py --shape wide --columns 2000 --rows 3
    python benchmarks/report_build.py --shape tall --rows 1000000 --columns 20

Two shapes, each run in a fresh subprocess (so each has its own peak memory):

- ``wide``: many columns (default 2,000) and a few rows (default 3), every value of every row differing;
- ``tall``: many rows (default 1,000,000) and 20 columns (a key, numeric, date, datetime and string columns),
  every value of every row differing.

For each it prints the seconds of the comparison (``compare_tables``), of building the result model
(``build_result``: checks, explanations, listings), of the JSON and of the HTML, the process's peak RSS, and the
ratio of the report's time (result + JSON + HTML) to the comparison's, and what building the report adds to the
memory the comparison left (``report +MB``: the peak RSS while building, minus the RSS after comparing; Linux
only). The data is generated in memory, deterministically; nothing is written but a temporary report file.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULT_MARK = "@@REPORT_BENCH@@ "


def frames(shape: str, rows: int, columns: int) -> tuple[Any, Any]:
    """The SAS frame and the Python frame, every non-key value differing (dates a year off, datetimes an hour)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(20261130)
    ids = np.arange(1, rows + 1, dtype=np.float64)
    sas: dict[str, Any] = {"ID": ids}
    py: dict[str, Any] = {"id": ids.astype(np.int64)}
    n_other = columns - 1
    for j in range(n_other):
        name = f"C{j:04d}"
        kind = j % 5 if shape == "tall" else j % 3
        if kind in (0, 1):  # amounts; full-precision scores
            v = np.round(rng.lognormal(6, 1.5, rows), 2) if kind == 0 else rng.normal(0, 1, rows)
            sas[name] = v
            py[name.lower()] = v + (0.01 if kind == 0 else 1e-6)
        elif kind == 2:  # strings (made by polars: no Python string objects)
            base = pl.select(pl.format("value {}", pl.int_range(rows) % 997)).to_series()
            sas[name] = base
            py[name.lower()] = base.str.to_uppercase()
        elif kind == 3:  # dates (SAS days)
            d = 21915 + rng.integers(0, 1500, rows)  # the port is a year off
            sas[name] = pl.Series(d - 3653, dtype=pl.Int32).cast(pl.Date)  # polars dates count from 1970
            py[name.lower()] = pl.Series(d + 365 - 3653, dtype=pl.Int32).cast(pl.Date)
        else:  # datetimes (SAS seconds); the port is one hour off
            s = 1.9e9 + rng.integers(0, 86400 * 30, rows)
            t = (np.datetime64("1960-01-01T00:00:00", "s") + s.astype("timedelta64[s]")).astype("datetime64[ms]")
            sas[name] = t
            py[name.lower()] = t + np.timedelta64(3600, "s")
    return pl.DataFrame(sas), pl.DataFrame(py)


def measure(shape: str, rows: int, columns: int) -> dict[str, Any]:
    """Run in the child: compare, build, render; return the timings."""
    import tempfile

    import polars as pl

    from parity.api import _as_python_table, _as_sas_table, make_spec
    from parity.checks.core import build_result
    from parity.engine.core import compare_tables
    from parity.model import JobResult
    from parity.report.html import render_job
    from parity.report.json import dumps

    sas_frame, py_frame = frames(shape, rows, columns)
    spec = make_spec("bench", keys=["ID"])
    sas_table = _as_sas_table(sas_frame, "sas", spec)
    py_table = _as_python_table(py_frame, "python", sas_table, spec)
    del sas_frame, py_frame
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    comp = compare_tables(spec, sas_table, py_table)
    t1 = time.perf_counter()
    rss_compared = _proc_mb("VmRSS")
    reset = _reset_peak()
    result = build_result(comp)
    t2 = time.perf_counter()
    job = JobResult(job="bench", verdict=result.verdict, description="", spec={}, datasets=(result,),
                    tool={"name": "parity"}, run={})
    text = dumps(job)
    t3 = time.perf_counter()
    page = render_job(job)
    t4 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "parity.json").write_text(text, encoding="utf-8")
    compare_s, build_s, json_s, html_s = t1 - t0, t2 - t1, t3 - t2, t4 - t3
    report_peak = _proc_mb("VmHWM") if reset else None
    return {
        "shape": shape, "rows": rows, "columns": columns, "polars": pl.__version__,
        "mismatches": sum(c.mismatches for c in result.columns),
        "compare_s": round(compare_s, 3), "build_s": round(build_s, 3), "json_s": round(json_s, 3),
        "html_s": round(html_s, 3), "report_s": round(build_s + json_s + html_s, 3),
        "ratio": round((build_s + json_s + html_s) / compare_s, 2) if compare_s else None,
        "json_mb": round(len(text.encode()) / 1e6, 2), "html_mb": round(len(page.encode()) / 1e6, 2),
        "rss_loaded_mb": round(rss_loaded),
        "report_extra_mb": None if report_peak is None or rss_compared is None else report_peak - rss_compared,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _proc_mb(field: str) -> int | None:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the peak RSS (VmHWM) so that the report's own peak can be read; False where Linux does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def run_child(shape: str, rows: int, columns: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", "--shape", shape, "--rows", str(rows),
                           "--columns", str(columns)], capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            out: dict[str, Any] = json.loads(line[len(RESULT_MARK):])
            return out
    raise SystemExit(f"the {shape} benchmark failed:\n{proc.stdout}\n{proc.stderr}")


DEFAULTS = {"wide": (3, 2000), "tall": (1_000_000, 20)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=["wide", "tall", "both"], default="both")
    ap.add_argument("--rows", type=int, help="rows (default: 3 wide, 1,000,000 tall)")
    ap.add_argument("--columns", type=int, help="columns including the key (default: 2,000 wide, 20 tall)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(RESULT_MARK + json.dumps(measure(args.shape, args.rows, args.columns)), flush=True)
        return 0
    shapes = ["wide", "tall"] if args.shape == "both" else [args.shape]
    header = ("shape", "rows", "cols", "unequal", "compare s", "result s", "json s", "html s", "report s",
              "report/compare", "json MB", "html MB", "peak RSS MB", "report +MB")
    print(" | ".join(header))
    for shape in shapes:
        rows = args.rows or DEFAULTS[shape][0]
        columns = args.columns or DEFAULTS[shape][1]
        r = run_child(shape, rows, columns)
        print(" | ".join(str(x) for x in (
            r["shape"], f"{r['rows']:,}", r["columns"], f"{r['mismatches']:,}", r["compare_s"], r["build_s"],
            r["json_s"], r["html_s"], r["report_s"], f"{r['ratio']}x", r["json_mb"], r["html_mb"],
            r["peak_rss_mb"], r["report_extra_mb"])), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
