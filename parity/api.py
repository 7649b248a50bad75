"""The programmatic API: compare two tables (paths or DataFrames) without a parity.toml."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parity.errors import InputError
from parity.model import DatasetResult
from parity.spec import DatasetSpec, Tolerance, parse_tolerance

TableLike = Any  # str | os.PathLike | polars.DataFrame | pandas.DataFrame


def _as_sas_table(obj: TableLike, where: str) -> Any:
    from parity.loaders import ColumnInfo, read_python_file, read_sas, table_from_frame, to_polars

    if isinstance(obj, str | os.PathLike):
        path = Path(obj)
        if path.suffix.lower() in (".sas7bdat", ".xpt"):
            return read_sas(path)
        return read_python_file(path)
    frame = to_polars(obj, where)
    table = table_from_frame(frame, f"<{type(obj).__module__.split('.')[0]} DataFrame>", None, "dataframe")
    # a DataFrame standing for the SAS side: numeric columns are SAS numerics in SAS units
    import polars as pl

    from parity.normalize import sas_units

    cols, exprs = [], []
    for info in table.columns:
        dtype = frame.schema[info.name]
        if info.kind == "string":
            cols.append(ColumnInfo(info.name, "character", "string"))
            exprs.append(pl.col(info.name).cast(pl.String))
        else:
            cols.append(ColumnInfo(info.name, "numeric", info.kind))
            exprs.append(sas_units(pl.col(info.name), dtype, info.kind).alias(info.name))
    table.frame = frame.select(exprs)
    table.columns = cols
    return table


def _as_python_table(obj: TableLike, where: str) -> Any:
    from parity.loaders import read_python_file, table_from_frame, to_polars

    if isinstance(obj, str | os.PathLike):
        return read_python_file(Path(obj))
    frame = to_polars(obj, where)
    return table_from_frame(frame, f"<{type(obj).__module__.split('.')[0]} DataFrame>", None, "dataframe")


def make_spec(
    name: str = "data",
    *,
    keys: Sequence[str] = (),
    tolerance: Mapping[str, Tolerance | Mapping[str, Any] | str] | None = None,
    sort_by: Sequence[str] = (),
    ignore: Sequence[str] = (),
    rename: Mapping[str, str] | None = None,
    top_n: int = 20,
    **rules: Any,
) -> DatasetSpec:
    """A DatasetSpec from keyword arguments, validated like parity.toml (errors name the argument)."""
    from parity.spec import _dataset  # the one validator of dataset settings

    raw: dict[str, Any] = {"sas": "<api>", "keys": list(keys), "sort_by": list(sort_by), "ignore": list(ignore),
                           "rename": dict(rename or {}), "top_n": top_n, **rules}
    tol: dict[str, Any] = {}
    for col, value in (tolerance or {}).items():
        if isinstance(value, Tolerance):
            tol[col] = {"method": value.method, "criterion": value.criterion,
                        **({"delta": value.delta} if value.method == "relative" else {})}
        else:
            tol[col] = value
    raw["tolerance"] = tol
    spec = _dataset(Path("<assert_parity arguments>"), Path.cwd(), name, raw, python_job=True, check_files=False)
    return spec


def compare_frames(sas: TableLike, python: TableLike, *, name: str = "data", **options: Any) -> DatasetResult:
    """Compare a SAS output (a .sas7bdat/.xpt path, or a DataFrame in SAS units) with a Python output.

    ``options`` are the dataset settings of parity.toml: ``keys``, ``tolerance`` (column -> Tolerance or
    ``{"method": ..., "criterion": ...}``; ``"default"`` for every other numeric column), ``sort_by``, ``ignore``,
    ``rename``, ``top_n``, ``strings``, ``numbers``, ``dates``, ``severity``.
    """
    from parity.checks import build_result
    from parity.engine import compare_tables

    spec = make_spec(name, **options)
    started = time.perf_counter()
    sas_table = _as_sas_table(sas, "sas")
    py_table = _as_python_table(python, "python")
    if sas_table is None or py_table is None:  # pragma: no cover - defensive
        raise InputError("nothing to compare")
    comp = compare_tables(spec, sas_table, py_table)
    return build_result(comp, duration_s=round(time.perf_counter() - started, 3))


__all__ = ["Tolerance", "compare_frames", "make_spec", "parse_tolerance"]
