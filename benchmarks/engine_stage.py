#!/usr/bin/env python3
"""The comparison stage alone, on lazy sources: parity's engine reading two parquet files (the SAS side as SAS
numerics and characters, the Python side as a port writes it), as it reads a SAS file's parquet cache.

    python benchmarks/engine_stage.py --rows 5000000                 # the engine's own bucket choice
    python benchmarks/engine_stage.py --rows 5000000 --buckets 8     # forced buckets
    python benchmarks/engine_stage.py --rows 5000000 --memory 512M   # a smaller memory budget

Uses benchmarks/compare.py's generated data (generated once, cached).  Runs the engine and the building of the
report model in a fresh process and prints seconds, peak RSS, the buckets used and whether the counts equal the
injected ground truth (AGREE / DISAGREE, exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import compare  # noqa: E402

MARK = "@@ENGINE_STAGE@@ "


def child(sas_path: Path, py_path: Path, buckets: int | None, memory: str | None) -> dict[str, Any]:
    import polars as pl

    from parity.api import make_spec
    from parity.checks.core import build_result
    from parity.engine.polars_engine import PolarsEngine
    from parity.sources.base import ColumnInfo, LazySource, SourceMeta

    def source(path: Path, sas: bool) -> LazySource:
        lf = pl.scan_parquet(path)
        schema = lf.collect_schema()
        rows = int(lf.select(pl.len()).collect().item())
        cols = []
        for name, dtype in schema.items():
            if sas:
                kind = "date" if name.lower() == "visitdt" else ("string" if dtype == pl.String else "numeric")
                cols.append(ColumnInfo(name, "character" if dtype == pl.String else "numeric", kind,  # type: ignore[arg-type]
                                       length=8, format="DATE9." if kind == "date" else None))
            else:
                kind = "string" if dtype == pl.String else ("date" if dtype == pl.Date else "numeric")
                cols.append(ColumnInfo(name, str(dtype), kind))  # type: ignore[arg-type]
        meta = SourceMeta(str(path), None, rows, len(schema), "sas7bdat" if sas else "parquet")
        return LazySource(cols, meta, lambda: pl.scan_parquet(path), where=path)

    if memory:
        os.environ["PARITY_ENGINE_MEMORY"] = memory
    spec = make_spec("bench", keys=[compare.KEY],
                     tolerance={"default": {"method": "absolute", "criterion": compare.TOLERANCE}})
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    result = PolarsEngine(buckets=buckets).compare(spec, source(sas_path, True), source(py_path, False))
    engine_s = time.perf_counter() - started
    report = build_result(result)
    total_s = time.perf_counter() - started
    counts = {
        "matched": report.rows["matched"], "only_sas": report.rows["only_in_sas"],
        "only_py": report.rows["only_in_python"],
        "columns": {c.name.lower(): c.mismatches for c in report.columns if c.status == "compared"},
    }
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"engine_s": engine_s, "total_s": total_s, "cpu_s": usage.ru_utime + usage.ru_stime - cpu0, "buckets": result.run_info.get("buckets"),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "base_mb": base_kb / 1024,
            "counts": counts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--columns", type=int, default=19)
    ap.add_argument("--buckets", type=int, default=None)
    ap.add_argument("--memory", default=None, help="the engine's memory budget (PARITY_ENGINE_MEMORY): 512M, 2G")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sas_path, py_path, _ = compare.data_paths(args.rows, args.seed, args.columns)
    if args.child:
        print(MARK + json.dumps(child(sas_path, py_path, args.buckets, args.memory)), flush=True)
        return 0
    manifest = compare.ensure_data(args.rows, args.seed, args.columns, False)
    cmd = [sys.executable, __file__, "--child", "--rows", str(args.rows), "--seed", str(args.seed),
           "--columns", str(args.columns)]
    if args.buckets is not None:
        cmd += ["--buckets", str(args.buckets)]
    if args.memory:
        cmd += ["--memory", args.memory]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    line = next((x for x in proc.stdout.splitlines() if x.startswith(MARK)), None)
    if line is None:
        print(proc.stdout[-2000:], proc.stderr[-4000:])
        return 2
    out = json.loads(line[len(MARK):])
    agree = out["counts"] == {k: manifest["expected"][k] for k in ("matched", "only_sas", "only_py", "columns")}
    print(f"rows {args.rows:,}: buckets {out['buckets']}, engine {out['engine_s']:.2f} s, engine + report model "
          f"{out['total_s']:.2f} s (CPU {out['cpu_s']:.1f} s), process wall {wall:.1f} s, peak RSS {out['peak_mb']:,.0f} MB "
          f"(after imports {out['base_mb']:,.0f} MB); counts {'AGREE' if agree else 'DISAGREE'}")
    if not agree:
        print(json.dumps(out["counts"]), json.dumps(manifest["expected"]))
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
