"""Python outputs: polars or pandas frames, parquet/arrow/csv files."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from parity.errors import InputError
from parity.formats import Kind
from parity.sources.base import ColumnInfo, SourceMeta, Table, _reader_failure, sha256_file
from parity.sources.sas import read_sas


def _python_kind(dtype: pl.DataType) -> Kind:
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Time or isinstance(dtype, pl.Duration):
        return "time"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return "string"
    return "numeric"


def to_polars(obj: Any, where: str) -> pl.DataFrame:
    """Accept a polars or pandas DataFrame (or LazyFrame); pandas NaN becomes null."""
    if isinstance(obj, pl.LazyFrame):
        obj = obj.collect()
    if isinstance(obj, pl.DataFrame):
        return _usable(obj, where)
    module = type(obj).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(obj, pd.DataFrame):
            return _usable(_from_pandas(obj, where), where)
    what = type(obj).__name__
    hint = {"Series": "; wrap the column in a DataFrame (series.to_frame())", "NoneType": " (the function returned "
            "nothing: return the DataFrame, or a dict of them)"}.get(what, "")
    raise InputError(f"{where}: expected a polars or pandas DataFrame, got {what}{hint}")


def _from_pandas(frame: Any, where: str) -> pl.DataFrame:
    import pandas as pd

    if isinstance(frame.columns, pd.MultiIndex):
        raise InputError(f"{where}: the columns are a pandas MultiIndex; flatten them to single string names "
                         "(e.g. df.columns = ['_'.join(map(str, c)) for c in df.columns])")
    keep = [n for n in frame.index.names if n is not None]
    if keep or not isinstance(frame.index, pd.RangeIndex):  # a named index is data (set_index('id')), even 0..n-1
        clash = sorted(set(map(str, keep)) & set(map(str, frame.columns)))
        if clash:
            raise InputError(f"{where}: the index level {clash[0]!r} is also a column; drop one of them "
                             "(df.reset_index(drop=True)) or rename it")
        frame = frame.reset_index(drop=not keep)
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise InputError(f"{where}: column names must be strings; got {bad[:3]!r}")
    from collections import Counter

    dupes = sorted(name for name, n in Counter(frame.columns).items() if n > 1)
    if dupes:
        raise InputError(f"{where}: duplicate column names {dupes[:5]!r} (pd.concat(axis=1) or a repeated name in "
                         "the column list makes them); give every column a unique name")
    try:
        converted: pl.DataFrame = pl.from_pandas(frame, nan_to_null=True)
        # an object column holding no value (all None/NaN) has no type; String would be a false type conflict
        empty = [n for n in frame.columns if frame[n].dtype == object and len(frame) and frame[n].isna().all()]
        return converted.with_columns(pl.lit(None).alias(n) for n in empty) if empty else converted
    except Exception as exc:
        culprit = ""
        for name in frame.columns:
            try:
                pl.from_pandas(frame[[name]], nan_to_null=True)
            except Exception:
                kinds = sorted({type(v).__name__ for v in frame[name].dropna().tolist()[:10_000]})
                culprit = f"column {name!r} (holding {', '.join(kinds[:4]) or 'no values'})"
                break
        cause = (f"{culprit} cannot be converted: make it a single type" if culprit
                 else "make each column a single type")
        raise InputError(
            f"{where}: cannot convert the pandas DataFrame to polars ({type(exc).__name__}: {exc}); {cause}"
        ) from None


_UNUSABLE = (pl.Object, pl.List, pl.Array, pl.Struct)


def _usable(frame: pl.DataFrame, where: str) -> pl.DataFrame:
    """A frame parity can compare: flat columns of numbers, strings, booleans, dates and times."""
    bad = [f"{name} ({dtype})" for name, dtype in frame.schema.items() if isinstance(dtype, _UNUSABLE)]
    if bad:
        raise InputError(f"{where}: column(s) {', '.join(bad[:5])} hold Python objects, lists or structs, which a SAS "
                         "data set cannot hold; make each a number, string, date or time column")
    return frame


def spark_frame_table(frame: Any) -> Table:
    """A Spark DataFrame a port returned (:class:`parity.run.port.SparkFrame`), collected through Arrow for the
    polars engine; timestamps as their wall-clock time in the Spark session's time zone, as the Spark engine reads
    them."""
    df = frame.df
    try:
        arrow = df.toArrow()
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{frame.where}: the Spark DataFrame cannot be computed ({text})") from None
    polars = pl.from_arrow(arrow)
    assert isinstance(polars, pl.DataFrame)
    zone = df.sparkSession.conf.get("spark.sql.session.timeZone") or "UTC"
    polars = polars.with_columns(pl.col(n).dt.convert_time_zone(zone) for n, t in polars.schema.items()
                                 if isinstance(t, pl.Datetime) and t.time_zone is not None)
    return table_from_frame(_usable(polars, frame.where), frame.source, None, "spark")


def table_from_frame(frame: pl.DataFrame, source: str, sha256: str | None, fmt: str) -> Table:
    frame = frame.with_columns(
        pl.col(c).cast(pl.String) for c, t in frame.schema.items() if isinstance(t, pl.Categorical | pl.Enum)
    )
    columns = [ColumnInfo(name, str(dtype), _python_kind(dtype)) for name, dtype in frame.schema.items()]
    meta = SourceMeta(source=source, sha256=sha256, rows=frame.height, columns=frame.width, format=fmt)
    return Table(frame=frame, columns=columns, meta=meta)


def read_python_file(
    path: Path, *, encoding: str | None = None, sas: Table | None = None, rename: Mapping[str, str] | None = None
) -> Table:
    """A Python job's output written to a file (.parquet, .csv, .arrow/.feather/.ipc, or a SAS file).

    A CSV holds only text: given the SAS side (``sas``, with the dataset's ``rename``), each CSV column is read as
    text and converted to the type of its SAS column (:func:`read_csv_as_sas`), so ``"01234"`` stays a string for
    a character column; without it, types are inferred.
    """
    suffix = path.suffix.lower()
    if suffix in (".json", ".ndjson"):  # CDISC Dataset-JSON: ISO date text meets SAS numeric dates
        from parity.sources.datasetjson import read_datasetjson, refuse_sas_options

        refuse_sas_options(path, encoding)
        return read_datasetjson(path, like=sas.columns if sas is not None else None, rename=rename)
    if suffix in (".sas7bdat", ".xpt"):
        return read_sas(path, encoding=encoding)
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix == ".csv" and sas is not None:
            frame = pl.read_csv(path, infer_schema=False)
        elif suffix == ".csv":
            frame = pl.read_csv(path, try_parse_dates=True, infer_schema_length=10_000)
        elif suffix in (".arrow", ".feather", ".ipc"):
            frame = pl.read_ipc(path, memory_map=False)
        else:
            raise InputError(f"{path}: unsupported Python output type {suffix!r}")
    except InputError:
        raise
    except Exception as exc:
        raise _reader_failure(path, exc, what=f"{suffix[1:]} file") from None
    dupes = sorted({m[1] for c in frame.columns if (m := re.fullmatch(r"(.*)_duplicated_\d+", c))} & set(frame.columns))
    if dupes:  # polars renames a repeated header name to <name>_duplicated_<n>
        raise InputError(f"{path}: duplicate column names {dupes[:5]!r} in the header; give every column a unique "
                         "name")
    if suffix == ".csv" and sas is not None:
        from parity.sources.csv import read_csv_as_sas  # csv builds on this module

        return read_csv_as_sas(frame, sas, rename or {}, str(path), sha256_file(path))
    return table_from_frame(frame, str(path), sha256_file(path), suffix[1:])


# --------------------------------------------------------------------------------------------------------------
# CSV text in the types of the SAS columns

#: SAS's missing values as text: blank, ".", ".A"-".Z", "._" (and pandas' NaN)
