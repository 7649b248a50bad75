#!/usr/bin/env python3
"""parity's Spark engine against datacompy's SparkSQLCompare, on the same data in the same local SparkSession.

    python benchmarks/spark.py --rows 200000
    python benchmarks/spark.py --rows 1000000 --master "local[2]"

1. Builds (with benchmarks/end_to_end.py) a real .sas7bdat and the Python side as parquet, from
   benchmarks/compare.py's deterministic generator with its injected differences (the ground truth).
2. In one SparkSession (loopback, UI off), times:
   - parity: the whole dataset on the Spark engine (the SAS file read by the executors through parity's
     DataSource in row ranges, the parquet read by Spark, the comparison, the report facts);
   - datacompy SparkSQLCompare on the same two tables as Spark DataFrames (the SAS table from the generator's
     parquet: datacompy cannot read a .sas7bdat), same key, same
     absolute tolerance, its matches() and report(); dates stay SAS day numbers on both sides (SparkSQLCompare
     cannot take the difference of two dates).
3. Checks that both report the ground truth's row counts and per-column mismatch counts: AGREE or DISAGREE
   (exit 1).  The last line is ``spark_speedup_vs_datacompy: X``.

Local mode on a laptop or a 2-core machine shows correctness and the per-row cost of each tool, not what a
cluster does: see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import compare  # noqa: E402  (the generator, its key and tolerance)
import end_to_end  # noqa: E402  (builds the .sas7bdat and the parquet)


def run_parity(spark: Any, folder: Path) -> tuple[float, dict[str, Any]]:
    from parity.engine.choice import EngineChoice
    from parity.run.runner import run_job
    from parity.spec import load_job

    job = load_job(folder)
    started = time.perf_counter()
    result = run_job(job, engine=EngineChoice("spark"))
    seconds = time.perf_counter() - started
    ds = result.datasets[0]
    return seconds, {"matched": ds.rows["matched"], "only_sas": ds.rows["only_in_sas"],
                     "only_py": ds.rows["only_in_python"],
                     "columns": {c.name.lower(): c.mismatches for c in ds.columns if c.status == "compared"}}


def run_datacompy(spark: Any, sas_parquet: Path, py_parquet: Path) -> tuple[float, dict[str, Any]]:
    from datacompy.spark import SparkSQLCompare
    started = time.perf_counter()
    sas = spark.read.parquet(str(sas_parquet))  # SAS dates stay SAS days on both sides: datacompy cannot diff dates
    sas = sas.toDF(*[c.lower() for c in sas.columns])
    py = spark.read.parquet(str(py_parquet))
    cmp = SparkSQLCompare(spark, sas, py, join_columns=[compare.KEY.lower()], abs_tol=compare.TOLERANCE)
    cmp.matches()
    cmp.report()
    counts = {"matched": cmp.intersect_rows.count(), "only_sas": cmp.df1_unq_rows.count(),
              "only_py": cmp.df2_unq_rows.count(),
              "columns": {s["column"]: int(s["unequal_cnt"]) for s in cmp.column_stats}}
    return time.perf_counter() - started, counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--columns", type=int, default=19)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    args = ap.parse_args(argv)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from parity.spark.session import get_session

    spark = get_session(args.master, {"spark.sql.shuffle.partitions": str(args.shuffle_partitions),
                                      "spark.driver.memory": "4g"})
    with tempfile.TemporaryDirectory(prefix="parity-spark-bench-") as tmp:
        root = Path(tmp)
        built = end_to_end.build_inputs(root, args.rows, args.seed, args.columns, "auto", end_to_end.CHUNK_ROWS,
                                        False)
        gen = root / "gen"
        compare.ensure_data(args.rows, args.seed, args.columns, regenerate=True, data_dir=gen)
        sas_parquet, py_parquet, _ = compare.data_paths(args.rows, args.seed, args.columns, gen)
        truth = built["manifest"]["expected"]
        p_s, p_counts = run_parity(spark, end_to_end.job_folder(root))
        d_s, d_counts = run_datacompy(spark, sas_parquet, py_parquet)
    expected = {"matched": truth["matched"], "only_sas": truth["only_sas"], "only_py": truth["only_py"],
                "columns": truth["columns"]}
    agree = True
    for tool, counts in (("parity (spark)", p_counts), ("datacompy SparkSQLCompare", d_counts)):
        cols = {k: v for k, v in counts["columns"].items() if k in expected["columns"]}
        ok = ({k: counts[k] for k in ("matched", "only_sas", "only_py")} ==
              {k: expected[k] for k in ("matched", "only_sas", "only_py")} and cols == expected["columns"])
        agree = agree and ok
        print(f"{tool:28} {'AGREE' if ok else 'DISAGREE'} with the injected differences")
        if not ok:
            rows = {k: (counts[k], expected[k]) for k in ("matched", "only_sas", "only_py") if counts[k] != expected[k]}
            cells = {k: (cols.get(k), v) for k, v in expected["columns"].items() if cols.get(k) != v}
            print(f"{'':28} (got, expected): rows {rows} columns {cells}")
    print(f"machine: {os.cpu_count()} cores; master {args.master}; {args.rows:,} rows x {args.columns} columns")
    print(f"{'parity --engine spark':28} {p_s:8.1f} s  ({p_s / args.rows * 1e6:.1f} us/row; reads the .sas7bdat)")
    print(f"{'datacompy SparkSQLCompare':28} {d_s:8.1f} s  ({d_s / args.rows * 1e6:.1f} us/row; reads parquet)")
    print("AGREE" if agree else "DISAGREE")
    print(f"spark_speedup_vs_datacompy: {d_s / p_s:.2f}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
