"""The programmatic API: compare two tables (paths or DataFrames) without a parity.toml."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parity.errors import InputError, SpecError
from parity.model import DatasetResult
from parity.spec import ARGUMENTS, DatasetSpec, Tolerance, parse_tolerance

TableLike = Any  # str | os.PathLike | polars.DataFrame | pandas.DataFrame
#: what errors in the keyword arguments of compare_frames / assert_parity name as their "file"


def _as_sas_table(obj: TableLike, where: str, spec: DatasetSpec) -> Any:
    """The SAS side: a .sas7bdat/.xpt file read with the spec's encoding, catalog and formats, or any other table
    (a DataFrame or a parquet/arrow/csv file) taken as SAS values in SAS units."""
    from parity.sources.base import ColumnInfo, materialize
    from parity.sources.registry import OpenOptions, open_source, opener_for

    if isinstance(obj, str | os.PathLike):
        if opener_for(obj)[0].sas_side:  # a SAS file (or another SAS-side format): read with the spec's options
            return open_source(obj, OpenOptions(encoding=spec.encoding, catalog=spec.catalog, formats=spec.formats))
        table = materialize(open_source(obj))
    else:
        table = materialize(_frame_source(obj, where))
    if spec.catalog is not None:  # (encoding= still applies: the encoding SAS collates these values in)
        raise SpecError(ARGUMENTS, f"catalog= applies to a .sas7bdat file, but the SAS side is {table.meta.source}; "
                        "drop it", key="catalog")
    # a table standing for the SAS side: numeric columns are SAS numerics in SAS units, kinds from formats=
    import polars as pl

    from parity.engine.normalize import sas_units
    from parity.formats import kind_of_format

    frame = table.frame
    formats = {k.casefold(): v for k, v in spec.formats.items()}
    unknown = sorted(set(formats) - {c.casefold() for c in frame.columns})
    if unknown:
        raise SpecError(ARGUMENTS, f"formats= names {unknown[0]!r}, which is not a column "
                        "of the SAS side", key=f"formats.{unknown[0]}")
    cols, exprs = [], []
    for info in table.columns:
        dtype = frame.schema[info.name]
        fmt = formats.get(info.name.casefold())
        if info.kind == "string":
            if fmt is not None and not fmt.startswith("$"):
                raise SpecError(ARGUMENTS, f"formats= gives character column "
                                f"{info.name!r} the numeric format {fmt!r}", key=f"formats.{info.name}")
            cols.append(ColumnInfo(info.name, "character", "string", format=fmt))
            exprs.append(pl.col(info.name).cast(pl.String))
        else:
            kind = kind_of_format(fmt) if fmt is not None and info.kind == "numeric" else info.kind
            cols.append(ColumnInfo(info.name, "numeric", kind, format=fmt))
            exprs.append(sas_units(pl.col(info.name), dtype, kind).alias(info.name))
    table.frame = frame.select(exprs)
    table.columns = cols
    return table


def _as_python_table(obj: TableLike, where: str, sas: Any, spec: DatasetSpec) -> Any:
    from parity.sources.registry import OpenOptions, open_source

    if isinstance(obj, str | os.PathLike):
        return open_source(obj, OpenOptions(like=tuple(sas.columns), rename=spec.rename))
    return _frame_source(obj, where)


def _frame_source(obj: TableLike, where: str) -> Any:
    """A polars/pandas DataFrame (in memory) or a polars LazyFrame (kept out of memory) given to the API."""
    from parity.sources.frames import source_from_object

    return source_from_object(obj, where, f"<{type(obj).__module__.split('.')[0]} DataFrame>", None, "dataframe")


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
    from parity.spec.load import parse_dataset  # the one validator of dataset settings

    if isinstance(rules.get("catalog"), os.PathLike):
        rules["catalog"] = os.fspath(rules["catalog"])
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
    spec = parse_dataset(ARGUMENTS, Path.cwd(), name, raw, python_job=True, check_files=False)
    return spec


def compare_frames(sas: TableLike, python: TableLike, *, name: str = "data", **options: Any) -> DatasetResult:
    """Compare a SAS output (a .sas7bdat/.xpt path, or a DataFrame in SAS units) with a Python output.

    ``options`` are the dataset settings of parity.toml: ``keys``, ``tolerance`` (column -> Tolerance or
    ``{"method": ..., "criterion": ...}``; ``"default"`` for every other numeric column), ``sort_by``, ``ignore``,
    ``rename``, ``top_n``, ``strings``, ``numbers``, ``dates``, ``severity``, ``waivers`` (a list of tables as in
    parity.toml), ``contract`` (a table) and ``quality`` (a list of tables), and for a .sas7bdat/.xpt SAS side ``encoding``, ``catalog`` and ``formats`` (``formats`` also
    gives a DataFrame's numeric column its kind, e.g. ``{"visit": "DATE9."}``).  A setting that cannot apply is
    refused with a SpecError, never ignored.
    """
    from parity.checks.core import build_result
    from parity.engine.core import compare_tables

    spec = make_spec(name, **options)
    started = time.perf_counter()
    sas_table = _as_sas_table(sas, "sas", spec)
    py_table = _as_python_table(python, "python", sas_table, spec)
    if sas_table is None or py_table is None:  # pragma: no cover - defensive
        raise InputError("nothing to compare")
    from parity.engine.quality import evaluate_spec

    rules = evaluate_spec(spec, ARGUMENTS, sas_table, py_table)  # contract and quality: names checked first
    comp = compare_tables(spec, sas_table, py_table)
    return build_result(comp, duration_s=round(time.perf_counter() - started, 3), rules=rules)


__all__ = ["Tolerance", "compare_frames", "make_spec", "parse_tolerance"]
