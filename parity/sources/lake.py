"""Lake outputs named in parity.toml: ``python = "parquet:<path>"`` (a parquet file or a folder of them) and
``python = "delta:<path>"`` (a Delta table), read by polars for the polars engine; the Spark engine reads them with
Spark (:mod:`parity.spark.sources`).  ``table = "db.table"`` needs a Spark catalog: the Spark engine only.

A Delta table is read from its transaction log: the last checkpoint, then every later JSON commit, gives the data
files of the current version (``add`` actions not ``remove``\\ d since).  A table that needs more than that to be
read right (deletion vectors, column mapping, newer reader features) is an error that says so.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from parity.errors import InputError
from parity.sources.base import Source, Table, materialize
from parity.sources.registry import OpenOptions

#: reader features parity's own log reader supports (beyond the basic protocol)
_SUPPORTED_FEATURES: frozenset[str] = frozenset({"timestampNtz", "typeWidening", "vacuumProtocolCheck"})


def lake_path(ref: str, folder: Path) -> tuple[str, Path]:
    """(kind, path) of a ``delta:``/``parquet:`` reference, the path relative to the job folder."""
    kind, _, rel = ref.partition(":")
    path = Path(rel)
    return kind, path if path.is_absolute() else (folder / path).resolve()


def open_lake(ref: str, folder: Path, where: str, options: OpenOptions | None = None) -> Source:
    """A lake output for the polars engine: ``parquet:<path>`` scanned lazily as any parquet file or folder is
    (:func:`parity.sources.frames.open_parquet`: files whose schemas differ, hive partitions typed by the SAS
    side), a Delta table read into memory."""
    kind, path = lake_path(ref, folder)
    if kind == "parquet":
        from parity.sources.frames import open_parquet

        if not path.exists():
            raise InputError(f"{where}: parquet path {path} not found")
        if path.is_dir() and not any(path.rglob("*.parquet")):
            raise InputError(f"{where}: no parquet files in {path}")
        source = open_parquet(str(path), options or OpenOptions())
        return dataclasses.replace(source, meta=dataclasses.replace(source.meta, source=f"parquet:{path}"))
    return read_lake(ref, folder, where)


def read_lake(ref: str, folder: Path, where: str) -> Table:
    """A lake output as a Table (the polars engine)."""
    import polars as pl

    from parity.sources.frames import table_from_frame

    kind, path = lake_path(ref, folder)
    if kind == "table":
        raise InputError(f"{where}: table = {ref[6:]!r} is a Spark catalog table: run with --engine spark")
    if kind == "parquet":
        return materialize(open_lake(ref, folder, where))
    found, _schema, partitions = active_files(path, where)
    if partitions:
        raise InputError(f"{where}: Delta table {path} is partitioned by {', '.join(partitions)}: read it with "
                         "--engine spark")
    frame = pl.read_parquet(found) if found else pl.DataFrame()
    return table_from_frame(frame, f"delta:{path}", None, "delta")


def active_files(root: Path, where: str) -> tuple[list[str], str, list[str]]:
    """The data files of the table's current version, its schema (Spark JSON) and partition columns."""
    log = root / "_delta_log"
    if not log.is_dir():
        raise InputError(f"{where}: {root} is not a Delta table (it has no _delta_log folder)")
    start = -1
    actions: list[dict[str, Any]] = []
    last = log / "_last_checkpoint"
    if last.is_file():
        info = json.loads(last.read_text())
        start = int(info["version"])
        actions += _checkpoint_actions(log, start, info.get("parts"))
    commits = sorted(p for p in log.glob("*.json") if p.stem.isdigit() and int(p.stem) > start)
    if not commits and start < 0:
        raise InputError(f"{where}: {root} is not a Delta table (its _delta_log holds no commit)")
    for commit in commits:
        for line in commit.read_text(encoding="utf-8").splitlines():
            if line.strip():
                actions.append(json.loads(line))
    live: dict[str, None] = {}
    schema = None
    partitions: list[str] = []
    for action in actions:
        if action.get("protocol"):
            features = set(action["protocol"].get("readerFeatures") or []) - _SUPPORTED_FEATURES
            if features or int(action["protocol"].get("minReaderVersion", 1)) > 3:
                raise InputError(f"{where}: Delta table {root} uses reader features {sorted(features)} that need "
                                 "Spark's own Delta support: configure the session with delta-spark (or run on "
                                 "Databricks)")
        if action.get("metaData"):
            meta = action["metaData"]
            schema = meta["schemaString"]
            partitions = list(meta.get("partitionColumns") or [])
            if (meta.get("configuration") or {}).get("delta.columnMapping.mode", "none") != "none":
                raise InputError(f"{where}: Delta table {root} uses column mapping, which needs Spark's own Delta "
                                 "support: configure the session with delta-spark (or run on Databricks)")
        if action.get("add"):
            add = action["add"]
            if add.get("deletionVector"):
                raise InputError(f"{where}: Delta table {root} has deletion vectors, which need Spark's own Delta "
                                 "support: configure the session with delta-spark (or run on Databricks)")
            live[add["path"]] = None
        elif action.get("remove"):
            live.pop(action["remove"]["path"], None)
    if schema is None:
        raise InputError(f"{where}: Delta table {root} has no metaData in its log")
    return [str(root / unquote(p)) for p in live], schema, partitions


def _checkpoint_actions(log: Path, version: int, parts: int | None) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    names = ([f"{version:020d}.checkpoint.parquet"] if not parts else
             [f"{version:020d}.checkpoint.{i:010d}.{parts:010d}.parquet" for i in range(1, parts + 1)])
    out: list[dict[str, Any]] = []
    for name in names:
        table = pq.read_table(log / name)
        for row in table.to_pylist():
            out.append({k: v for k, v in row.items() if v is not None})
    return out
