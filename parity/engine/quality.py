"""Data contracts and DQ rules evaluated with lazy polars expressions: counts and a few sample rows per rule.

Input: a dataset's spec and its two sources (:class:`~parity.sources.base.Source`: columns, meta, ``scan()``).
Output: :class:`RuleFacts`, plain facts per rule (failing rows, rows judged, samples), for the ``contract`` and
``quality`` checks to judge.  Nothing here materialises a whole table or a whole failing set: each side is one
aggregate query for every row rule, then one ``filter().head()`` per failing rule for its samples (and one query
per unique/lookup/distinct rule).  Another engine (Spark) gives the same facts from the same definitions.

Values are judged as SAS sees them (the *view* of a side): a float NaN is missing, a character value's trailing
blanks do not count and a blank value is missing (with ``strings.blank_is_missing``, the default), SAS dates,
datetimes and times become polars Date, Datetime and Duration.  A column name the rules use that is in neither
output is a SpecError naming the key, raised before any comparison.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import polars as pl

from parity.errors import InputError, SpecError
from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS
from parity.model import TEMPORAL_KINDS
from parity.sources.base import Source

if TYPE_CHECKING:
    from parity.spec import DatasetSpec
from parity.spec.contract import ColumnContract, Contract, QualityRule
from parity.spec.contract_load import naming_rule

#: sample rows kept per failing rule
SAMPLE_ROWS = 5
#: the polars engine of every query here: streaming, so that memory follows the answer (counts, a few rows), not
#: the tables
ENGINE: Literal["auto", "in-memory", "streaming"] = "streaming"
ROW = "#row"
#: a float fits decimal(p,s) when v*10^s is within this relative distance of a whole number: float noise of 1,024
#: units in the last place (the rounding error of summing a thousand amounts), so 0.1+0.2 has 2 decimals and the
#: first 12.5 significant digits of a value are judged (a double holds 15.9) ...
DECIMAL_NOISE = 2.0 ** -42
#: ... or within this absolute distance (in units of the last decimal: cancellation noise such as 5.5e-17)
DECIMAL_FLOOR = 1e-9
#: ... or within the same relative noise of the column's largest value, up to a thousandth of the last decimal: a
#: net of amounts and their reversals (843.32 from partial sums of 1e5) carries the noise of its partial sums
DECIMAL_CANCEL_CAP = 1e-3
#: integer dtypes a lookup compares exactly (as Int64), not as doubles
EXACT_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)
#: Python output formats whose values (not dtypes) carry the type: text files and SAS files
#: sources that hold SAS values (numbers, and dates as days/seconds since 1960 by their format): SAS files and
#: CDISC Dataset-JSON, whose dataType/targetDataType are read back as SAS would read them
SAS_VALUED = ("sas7bdat", "xport", "datasetjson")
VALUE_TYPED = ("csv", *SAS_VALUED)


@dataclass(frozen=True)
class RuleFact:
    """What one rule found on one side."""

    name: str  # "claim_id.nullable", "unique", "extra_columns", or a quality rule's name
    constraint: str  # present, type, decimal, max_length, nullable, unique, extra_columns, rule, lookup, distinct
    column: str | None
    failing_rows: int
    judged_rows: int
    sample: tuple[dict[str, Any], ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    #: why the rule could not be judged on this side (a column it needs is not there); None when it was
    missing: str | None = None
    #: the table itself breaks the rule, whatever its rows (a column of another type, extra columns, a distinct
    #: count out of range): a violation even when no row is counted (an empty table, a column of nulls)
    broken: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"failing_rows": self.failing_rows, "judged_rows": self.judged_rows, "sample": list(self.sample),
                **dict(self.detail), **({"missing": self.missing} if self.missing else {})}


@dataclass(frozen=True)
class RuleFacts:
    """Per side, the facts of every contract rule and every DQ rule (in spec order)."""

    contract: tuple[RuleFact, ...] = ()
    contract_sas: tuple[RuleFact, ...] = ()
    quality: tuple[RuleFact, ...] = ()
    quality_sas: tuple[RuleFact, ...] = ()
    #: how the Python output's types were judged: "dtype" (a frame, parquet, arrow) or "values" (csv, SAS file)
    python_types: str = "dtype"
    sas_error: str | None = None  # a DQ rule that cannot run on the SAS view (informational)


@dataclass
class View:
    """One side as the rules see it: a LazyFrame of the columns under their Python names, normalised."""

    frame: pl.LazyFrame  # normalised: NaN -> null, trailing blanks dropped, blank -> null, SAS temporals converted
    raw: pl.LazyFrame  # the same columns before normalisation (NaN and blank still there)
    names: dict[str, str]  # casefold -> name in the frames
    schema: dict[str, pl.DataType]
    rows: int
    by_value: bool  # types are judged by values (SAS, csv), not dtypes
    label: str  # "the Python output" / "the SAS output"

    def col(self, name: str) -> str | None:
        return self.names.get(name.casefold())


# --------------------------------------------------------------------------------------------------------------
# views


def _sas_temporal(name: str, kind: str) -> pl.Expr:
    c = pl.col(name)
    if kind == "date":
        return (c.floor() - EPOCH_SHIFT_DAYS).cast(pl.Int32, strict=False).cast(pl.Date)
    if kind == "datetime":
        return ((c - EPOCH_SHIFT_SECONDS) * 1e6).round().cast(pl.Int64, strict=False).cast(pl.Datetime("us"))
    return (c * 1e6).round().cast(pl.Int64, strict=False).cast(pl.Duration("us"))


def view_of(source: Source, label: str, rename: Mapping[str, str] | None = None,
            blank_is_missing: bool = True) -> View:
    """``source`` as the rules judge it; ``rename`` (SAS name -> Python name) names the SAS side's columns as the
    Python output's."""
    renamed = {k.casefold(): v for k, v in (rename or {}).items()}
    sas_file = source.meta.format in SAS_VALUED
    raw_cols: list[pl.Expr] = []
    names: dict[str, str] = {}
    for info in source.columns:
        name = renamed.get(info.name.casefold(), info.name)
        expr = pl.col(info.name)
        if sas_file and info.type == "numeric" and info.kind in TEMPORAL_KINDS:
            expr = _sas_temporal(info.name, info.kind)
        raw_cols.append(expr.alias(name))
        names[name.casefold()] = name
    raw = source.scan().select(raw_cols) if raw_cols else source.scan().select([])
    schema = dict(raw.collect_schema())
    norm: list[pl.Expr] = []
    for name, dtype in schema.items():
        c = pl.col(name)
        if dtype.is_float():
            norm.append(c.fill_nan(None))
        elif dtype == pl.String:
            stripped = c.str.strip_chars_end(" ")
            norm.append(pl.when(stripped == "").then(None).otherwise(stripped).alias(name) if blank_is_missing
                        else stripped)
    frame = raw.with_columns(norm) if norm else raw
    return View(frame, raw, names, schema, source.meta.rows, source.meta.format in VALUE_TYPED, label)


# --------------------------------------------------------------------------------------------------------------
# JSON-safe sample values


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _samples(view: View, failing: pl.Expr, columns: Sequence[str], keys: Sequence[str],
             frame: pl.LazyFrame | None = None) -> tuple[dict[str, Any], ...]:
    """The first rows (by row number) where ``failing`` holds: row number, keys and the rule's columns, raw."""
    wanted = list(dict.fromkeys([*(k for k in keys if k not in columns), *columns]))
    src = (frame if frame is not None else view.frame).with_row_index(ROW, offset=1)
    raw_cols = [pl.col(c) for c in wanted]
    rows = src.filter(failing).head(SAMPLE_ROWS)
    # the raw values (a blank shows as blank, NaN as NaN), joined back by row number
    raw = view.raw.with_row_index(ROW, offset=1).select([pl.col(ROW), *raw_cols])
    out = rows.select(ROW).join(raw, on=ROW, how="left").sort(ROW).collect(engine=ENGINE)
    return _sample_rows(out)


def _sample_rows(frame: pl.DataFrame) -> tuple[dict[str, Any], ...]:
    """Sample rows as JSON values, the row number (1-based) first as ``row``."""
    return tuple({("row" if k == ROW else k): _plain(v) for k, v in row.items()} for row in frame.iter_rows(named=True))


# --------------------------------------------------------------------------------------------------------------
# contract


def _dtype_text(dtype: pl.DataType) -> str:
    return str(dtype)


def _is_string(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _missing(name: str, dtype: pl.DataType, blank_is_missing: bool) -> pl.Expr:
    """A missing value as SAS sees it, on the raw view: null, NaN, and a blank string (spaces only)."""
    c = pl.col(name)
    expr = c.is_null()
    if dtype.is_float():
        expr = expr | c.is_nan()
    if _is_string(dtype) and blank_is_missing:
        expr = expr | (c.cast(pl.String).str.strip_chars_end(" ") == "")
    return expr


def _type_ok(ctype: str, dtype: pl.DataType) -> bool | None:
    """Does the dtype conform to the contract type?  None: it depends on the values (a float judged by value)."""
    if dtype == pl.Null:
        return True  # no value at all: nothing of another type
    if ctype == "string":
        return _is_string(dtype)
    if ctype == "integer":
        return True if dtype.is_integer() else None if dtype.is_float() else False
    if ctype == "decimal":
        return dtype.is_integer() or dtype.is_float() or isinstance(dtype, pl.Decimal)
    if ctype == "float":
        return dtype.is_float()
    if ctype == "date":
        return dtype == pl.Date
    if ctype == "datetime":
        return isinstance(dtype, pl.Datetime)
    if ctype == "time":
        return dtype == pl.Time or isinstance(dtype, pl.Duration)
    if ctype == "boolean":
        return True if dtype == pl.Boolean else None if (dtype.is_float() or dtype.is_integer()) else False
    raise AssertionError(ctype)


def _type_hint(ctype: str, dtype: pl.DataType) -> str:
    if ctype == "integer" and dtype.is_float():
        return ("a float column: cast it to an integer dtype (pandas turns an int column with missing values into "
                "float64; use the nullable 'Int64' dtype)")
    if ctype == "date" and isinstance(dtype, pl.Datetime):
        return "a datetime column: keep the date only (.dt.date()); pandas has no date dtype, polars and parquet do"
    if ctype == "datetime" and dtype == pl.Date:
        return "a date column: the contract wants a datetime"
    if ctype == "boolean":
        return "write True/False (a boolean dtype)"
    return f"convert the column to {ctype}"


def _not_whole(c: pl.Expr) -> pl.Expr:
    return c.is_not_null() & (~c.is_finite() | (c != c.floor()))


@dataclass
class _Pending:
    """A row rule waiting for its count: its fact's fields and the expression true on a failing row."""

    name: str
    constraint: str
    column: str | None
    failing: pl.Expr
    columns: list[str]
    detail: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, pl.Expr] = field(default_factory=dict)  # more counts for the detail, in the same pass
    where: str = ""  # a SQL rule's key in parity.toml
    ok: pl.Expr | None = None  # a SQL rule as written (true on a good row)
    broken: bool = False  # RuleFact.broken: the column's type breaks the rule whatever its rows


def _decimal_rule(c: str, dtype: pl.DataType, p: int, s: int) -> tuple[pl.Expr, dict[str, pl.Expr]] | None:
    """(failing, {too_many_decimals, too_many_integer_digits}) for a value that does not fit decimal(p,s)."""
    col = pl.col(c)
    if dtype.is_float():
        x = col.cast(pl.Float64) * (10.0 ** s)
        frac = (x - x.round()).abs()
        cancel = pl.min_horizontal(x.filter(x.is_finite()).abs().max() * DECIMAL_NOISE, pl.lit(DECIMAL_CANCEL_CAP))
        noise = pl.max_horizontal(x.abs() * DECIMAL_NOISE, pl.lit(DECIMAL_FLOOR), cancel.fill_null(DECIMAL_FLOOR))
        decimals = col.is_not_null() & (~x.is_finite() | (frac > noise))
        digits = col.is_not_null() & x.is_finite() & (x.round().abs() >= 10.0 ** p)
    elif dtype.is_integer():
        limit = 10 ** (p - s)
        decimals = pl.lit(False)
        digits = (col >= limit) | (col <= -limit) if limit <= 2 ** 63 - 1 else pl.lit(False)
        digits = digits.fill_null(False)
    elif isinstance(dtype, pl.Decimal):
        text = col.cast(pl.String)
        frac_digits = text.str.extract(r"\.(\d*)$", 1).str.strip_chars_end("0").str.len_chars().fill_null(0)
        int_digits = text.str.extract(r"^[-+]?0*(\d*)", 1).str.len_chars().fill_null(0)
        decimals = col.is_not_null() & (frac_digits > s)
        digits = col.is_not_null() & (int_digits > p - s)
    else:
        return None
    return decimals | digits, {"too_many_decimals": decimals, "too_many_integer_digits": digits}


def type_judgement(cc: ColumnContract, dtype: pl.DataType, by_value: bool
                   ) -> tuple[Literal["dtype", "another", "whole", "boolean"], dict[str, Any]]:
    """How a ``type`` rule judges a column (both engines): "dtype" (the dtype is the type: no value fails),
    "another" (the dtype is another type: every value fails, and the table breaks the rule), "whole" (a number
    column standing for integers: values must be whole), "boolean" (numbers standing for booleans: 0 and 1); with
    the rule's detail."""
    assert cc.type is not None
    ok = _type_ok(cc.type, dtype)
    detail: dict[str, Any] = {"expected": cc.type_text(), "dtype": _dtype_text(dtype)}
    if ok is True:
        return "dtype", detail
    if ok is False or not by_value:
        detail["hint"] = _type_hint(cc.type, dtype)
        if ok is None and cc.type == "integer":
            detail["judged_by"] = "dtype"
        return "another", detail
    detail["judged_by"] = "values"
    return ("whole" if cc.type == "integer" else "boolean"), detail


def _column_rules(cc: ColumnContract, c: str, dtype: pl.DataType, view: View,
                  blank_is_missing: bool) -> list[_Pending]:
    out: list[_Pending] = []
    col = pl.col(c)
    if cc.type is not None:
        judged, detail = type_judgement(cc, dtype, view.by_value)
        if judged == "dtype":
            failing = pl.lit(False)
        elif judged == "another":
            failing = col.is_not_null()  # every value is of another type
        elif judged == "whole":  # values of a SAS/csv numeric: whole numbers
            failing = _not_whole(col)
        else:  # boolean held as numbers in a SAS/csv output: 0 and 1
            failing = col.is_not_null() & ~col.is_in([0, 1])
        extra = {"whole_values": col.is_not_null() & ~_not_whole(col)} if (
            cc.type == "integer" and dtype.is_float()) else {}
        out.append(_Pending(f"{cc.name}.type", "type", cc.name, failing, [c], detail, extra,
                            broken=judged == "another"))
    if cc.type == "decimal":
        assert cc.precision is not None and cc.scale is not None
        rule = _decimal_rule(c, dtype, cc.precision, cc.scale)
        if rule is not None:
            out.append(_Pending(f"{cc.name}.decimal", "decimal", cc.name, rule[0], [c],
                                {"precision": cc.precision, "scale": cc.scale}, rule[1]))
    if cc.max_length is not None and not _is_string(dtype) and dtype != pl.Null:
        out.append(_Pending(f"{cc.name}.max_length", "max_length", cc.name, col.is_not_null(), [c],
                            {"max_length": cc.max_length, "hint": f"max_length is a limit of character values; "
                             f"{cc.name} is {_dtype_text(dtype)}: write it as text or drop max_length"}))
    elif cc.max_length is not None:
        n = cc.max_length
        text = col.cast(pl.String)  # normalised: trailing blanks dropped
        out.append(_Pending(
            f"{cc.name}.max_length", "max_length", cc.name, text.str.len_chars() > n, [c],
            {"max_length": n, "truncates": f"a SAS LENGTH ${n} or a VARCHAR({n}) column would truncate these "
             "values (counted in characters, trailing blanks not counted)"},
            {"longest": text.str.len_chars().max(), "over_in_utf8_bytes": text.str.len_bytes() > n}))
    if not cc.nullable:
        raw = _missing(c, dtype, blank_is_missing)
        extra = {"null": pl.col(c).is_null()}
        if dtype.is_float():
            extra["nan"] = pl.col(c).is_nan()
        if _is_string(dtype):
            extra["blank"] = pl.col(c).is_not_null() & (pl.col(c).cast(pl.String).str.strip_chars_end(" ") == "")
        out.append(_Pending(f"{cc.name}.nullable", "nullable", cc.name, raw, [c],
                            {"counts_as_missing": "null, NaN, a SAS missing value (. .A-.Z ._)"
                             + (" and a blank string (SAS blank = missing)" if blank_is_missing else "")},
                            extra))
        out[-1].detail["_raw"] = True
    return out


def _count_pending(view: View, pending: list[_Pending], keys: Sequence[str]) -> list[RuleFact]:
    """One aggregate query for every row rule, then samples of the failing ones."""
    if not pending:
        return []
    norm_aggs: list[pl.Expr] = []
    raw_aggs: list[pl.Expr] = []
    for i, p in enumerate(pending):
        target = raw_aggs if p.detail.get("_raw") else norm_aggs
        target.append(p.failing.fill_null(False).sum().alias(f"f{i}"))
        for k, e in p.extra.items():
            agg = e.fill_null(False).sum() if k != "longest" else e
            target.append(agg.alias(f"x{i}_{k}"))
    counts: dict[str, Any] = {}
    if norm_aggs:
        counts.update(view.frame.select(norm_aggs).collect(engine=ENGINE).row(0, named=True))
    if raw_aggs:
        counts.update(view.raw.select(raw_aggs).collect(engine=ENGINE).row(0, named=True))
    out = []
    for i, p in enumerate(pending):
        n = int(counts[f"f{i}"] or 0)
        is_raw = bool(p.detail.pop("_raw", False))
        detail = {**p.detail, **{k: (int(counts[f"x{i}_{k}"]) if counts[f"x{i}_{k}"] is not None else None)
                                 for k in p.extra}}
        sample = _samples(view, p.failing.fill_null(False), p.columns, keys,
                          view.raw if is_raw else None) if n else ()
        out.append(RuleFact(p.name, p.constraint, p.column, n, view.rows, sample, detail, broken=p.broken))
    return out


def _missing_fact(name: str, constraint: str, column: str | None, view: View, what: str) -> RuleFact:
    return RuleFact(name, constraint, column, view.rows, view.rows, (), {}, missing=f"{what} is not in {view.label}")


def contract_facts(contract: Contract, view: View, keys: Sequence[str], blank_is_missing: bool) -> list[RuleFact]:
    pending: list[_Pending] = []
    order: list[RuleFact | int] = []  # facts known now, or the index of a pending rule, in report order

    def add_pending(items: list[_Pending]) -> None:
        for item in items:
            order.append(len(pending))
            pending.append(item)

    for cc in contract.columns:
        c = view.col(cc.name)
        if c is None:
            order.append(_missing_fact(f"{cc.name}.present", "present", cc.name, view, f"column {cc.name!r}"))
            continue
        add_pending(_column_rules(cc, c, view.schema[c], view, blank_is_missing))
    counted = _count_pending(view, pending, keys)
    facts = [counted[x] if isinstance(x, int) else x for x in order]
    if contract.unique:
        facts.append(_unique_fact(contract.unique, view, keys))
    if contract.extra_columns != "allow":
        facts.append(extra_columns_fact(contract, view.names, view.rows))
    return facts


def extra_columns_fact(contract: Contract, names: Mapping[str, str], rows: int) -> RuleFact:
    """The extra_columns rule on one side: its columns (``names``: casefold -> name) the contract does not declare.
    Broken by the columns themselves, so an empty table with an extra column breaks it too."""
    declared = {c.name.casefold() for c in contract.columns} | {u.casefold() for u in contract.unique}
    extra = [name for fold, name in names.items() if fold not in declared]
    return RuleFact("extra_columns", "extra_columns", None, rows if extra else 0, rows, (),
                    {"columns": extra, "setting": contract.extra_columns}, broken=bool(extra))


def _unique_fact(unique: Sequence[str], view: View, keys: Sequence[str]) -> RuleFact:
    cols = [view.col(u) for u in unique]
    if any(c is None for c in cols):
        gone = [u for u, c in zip(unique, cols, strict=True) if c is None]
        return _missing_fact("unique", "unique", None, view, f"column {gone[0]!r}")
    names = [c for c in cols if c is not None]
    groups = view.frame.group_by(names).agg(pl.len().alias("#n")).filter(pl.col("#n") > 1)
    stats = groups.select(pl.col("#n").sum().alias("rows"), pl.len().alias("keys")).collect(engine=ENGINE).row(0, named=True)
    n = int(stats["rows"] or 0)
    sample: tuple[dict[str, Any], ...] = ()
    if n:
        top = groups.sort(names, nulls_last=False).head(SAMPLE_ROWS).collect(engine=ENGINE)
        sample = tuple({**{k: _plain(v) for k, v in row.items() if k != "#n"}, "rows": row["#n"]}
                       for row in top.iter_rows(named=True))
    return RuleFact("unique", "unique", None, n, view.rows, sample,
                    {"columns": names, "duplicate_keys": int(stats["keys"] or 0),
                     "nulls": "a missing value is a value: two rows with the same missing key are duplicates"})


# --------------------------------------------------------------------------------------------------------------
# DQ rules


def _resolve(view: View, written: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Written names -> names in the view (case-insensitively), and the written names the view lacks."""
    found = {w: c for w in written if (c := view.col(w)) is not None}
    return found, [w for w in written if w not in found]


def resolve_columns(view: Any, other: Any, written: Sequence[str], file: Path, where: str,
                    also: str = "") -> tuple[dict[str, str], list[str]]:
    """:func:`_resolve`, with a SpecError for a name in neither output (``other`` is the other side's view)."""
    found, lacking = _resolve(view, written)
    for w in lacking:
        if other is None or other.col(w) is None:
            known = ", ".join(sorted(view.names.values())[:30])
            raise SpecError(file, f"names column {w!r}, which is in neither output (Python output columns: "
                            f"{known}){also}", key=where)
    return found, lacking


def column_of(rule: QualityRule) -> tuple[list[str], str]:
    """The column a lookup or distinct rule names (as a list of written names) and its key in parity.toml."""
    if rule.lookup is not None:
        return [rule.lookup.column], f"{rule.where}.lookup.column"
    assert rule.distinct is not None
    return [rule.distinct.column], f"{rule.where}.distinct.column"


def _rule_expr(rule: QualityRule) -> pl.Expr:
    assert rule.rule is not None
    return pl.sql_expr(rule.rule)


def _lookup_values(rule: QualityRule, dtype: pl.DataType, file: Path) -> pl.LazyFrame:
    """The reference key values (unique, normalised like the view), read through parity's source readers."""
    from parity.sources.frames import read_python_file

    assert rule.lookup is not None
    lk = rule.lookup
    where = f"{rule.where}.lookup.key"
    path = lk.file
    if path.suffix.lower() == ".csv":  # text, converted to the Python column's kind (leading zeros kept)
        try:
            head = pl.read_csv(path, infer_schema=False, n_rows=0)
        except Exception as exc:
            raise InputError(f"{path}: cannot read this lookup file ({exc})") from None
        name = {c.casefold(): c for c in head.columns}.get(lk.key.casefold())
        if name is None:
            raise SpecError(file, f"{path.name} has no column {lk.key!r} (columns: {', '.join(head.columns[:20])})",
                            key=where)
        values = pl.scan_csv(path, infer_schema=False).select(pl.col(name).alias("#key"))
        if not _is_string(dtype):
            from parity.sources.base import ColumnInfo
            from parity.sources.csv import _csv_column

            kind = _kind(dtype)
            text = values.collect(engine=ENGINE).get_column("#key").alias(name)
            whole = _whole_numbers(text) if dtype.is_integer() else None
            if whole is not None:  # exact: a double would match 9007199254740993 with ...992
                values = whole.alias("#key").to_frame().lazy()
            else:
                conv, _, problem, _ = _csv_column(text, ColumnInfo(name, "numeric", kind))  # type: ignore[arg-type]
                if problem:
                    raise SpecError(file, f"{path.name} column {name!r}: {problem}", key=where)
                values = conv.alias("#key").to_frame().lazy()
    else:
        table = read_python_file(path)
        info = {c.name.casefold(): c for c in table.columns}.get(lk.key.casefold())
        if info is None:
            raise SpecError(file, f"{path.name} has no column {lk.key!r} (columns: "
                            f"{', '.join(c.name for c in table.columns[:20])})", key=where)
        ref = view_of(table, path.name)
        values = ref.frame.select(pl.col(ref.names[info.name.casefold()]).alias("#key"))
    ref_dtype = values.collect_schema()["#key"]
    return _common_kind(values, "#key", ref_dtype, dtype, file, where, path.name)


def _whole_numbers(text: pl.Series) -> pl.Series | None:
    """A csv column of whole numbers as Int64 (blank = null), or None when a value is anything else."""
    stripped = text.str.strip_chars()
    stripped = pl.Series(text.name, stripped).set(stripped == "", None)
    ints = stripped.cast(pl.Int64, strict=False)
    return ints if ints.null_count() == stripped.null_count() else None


def _kind(dtype: pl.DataType) -> str:
    """string, numeric (booleans too), date, datetime, time, or null (no value at all)."""
    from parity.sources.frames import _python_kind

    return "null" if dtype == pl.Null else _python_kind(dtype)


def _key_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """A lookup key in its comparable form: numbers as Float64 (integers as Int64, exact), text stripped of
    trailing blanks."""
    c = pl.col(name)
    kind = _kind(dtype)
    if kind == "numeric":
        return c.cast(pl.Int64) if dtype in EXACT_INTEGERS else c.cast(pl.Float64)
    if kind == "string":
        return c.cast(pl.String).str.strip_chars_end(" ")
    if kind == "datetime":
        return c.cast(pl.Datetime("us"))
    return c


def _common_kind(values: pl.LazyFrame, name: str, ref_dtype: pl.DataType, dtype: pl.DataType, file: Path,
                 where: str, ref_name: str) -> pl.LazyFrame:
    if _kind(ref_dtype) != _kind(dtype) and "null" not in (_kind(ref_dtype), _kind(dtype)):
        raise SpecError(file, f"the lookup compares {_kind(dtype)} values of the Python output with "
                        f"{_kind(ref_dtype)} values of {ref_name}: they can never match; name columns of one kind",
                        key=where)
    return values.select(_key_expr(name, ref_dtype).alias(name)).drop_nulls().unique()


def quality_facts(rules: Sequence[QualityRule], view: View, other: View | None, keys: Sequence[str], file: Path,
                  refs: dict[str, pl.LazyFrame] | None = None) -> list[RuleFact]:
    """Facts of every DQ rule on ``view``; ``other`` is the other side, to tell a column missing from this side
    (the rule fails here) from a name in neither output (a SpecError).  ``refs`` caches lookup values by rule."""
    refs = refs if refs is not None else {}
    out: list[RuleFact | int] = []
    pending: list[_Pending] = []
    frame = view.frame
    aliases: dict[str, str] = {}
    for rule in rules:
        if rule.rule is not None and rule.polars_error is not None:  # the polars engine's dialect rejects it
            raise SpecError(file, rule.polars_error, key=f"{rule.where}.rule")
        if rule.rule is not None:
            written = _rule_expr(rule).meta.root_names()
            where = f"{rule.where}.rule"
        else:
            written, where = column_of(rule)
        found, lacking = resolve_columns(view, other, written, file, where)
        if lacking:
            out.append(_missing_fact(rule.name, rule.kind, written[0] if len(written) == 1 else None, view,
                                     f"column {lacking[0]!r}"))
            continue
        if rule.rule is not None:
            for w, c in found.items():
                if w != c:
                    aliases[w] = c
            out.append(len(pending))
            ok = _rule_expr(rule)
            pending.append(_Pending(rule.name, "rule", None, ~ok, list(found.values()), where=where, ok=ok))
        elif rule.lookup is not None:
            c = found[written[0]]
            out.append(_lookup_fact(rule, view, c, keys, file, refs))
        else:
            out.append(_distinct_fact(rule, view, found[written[0]]))
    if aliases:
        frame = frame.with_columns(pl.col(c).alias(w) for w, c in aliases.items())
    counted = _count_rules(view, frame, pending, keys, file)
    return [counted[x] if isinstance(x, int) else x for x in out]


def _count_rules(view: View, frame: pl.LazyFrame, pending: list[_Pending], keys: Sequence[str],
                 file: Path) -> list[RuleFact]:
    """One aggregate query for every SQL rule (a row fails unless the rule is true: null fails too)."""
    if not pending:
        return []
    wheres = [p.where for p in pending]
    for p, where in zip(pending, wheres, strict=True):
        assert p.ok is not None
        try:
            dtype = frame.select(p.ok.alias("r")).collect_schema()["r"]
        except Exception as exc:
            raise SpecError(file, f"the rule cannot run on {view.label} in polars SQL: {_polars_message(exc)}",
                           key=where) from None
        if dtype not in (pl.Boolean, pl.Null):
            raise SpecError(file, f"the rule gives {dtype} values, not true/false: write a condition that is true "
                            "on every good row, e.g. \"paid >= 0\"", key=where)
    aggs = [p.failing.fill_null(True).sum().alias(f"f{i}") for i, p in enumerate(pending)]
    try:
        counts = frame.select(aggs).collect(engine=ENGINE).row(0)
    except Exception:
        counts = ()
        for p, where in zip(pending, wheres, strict=True):  # find the rule that cannot run
            try:
                frame.select(p.failing.fill_null(True).sum()).collect(engine=ENGINE)
            except Exception as exc:
                raise SpecError(file, f"the rule cannot run on {view.label} in polars SQL: "
                                f"{_polars_message(exc)}", key=where) from None
        raise
    out = []
    for p, n in zip(pending, counts, strict=True):
        n = int(n or 0)
        sample = _samples(view, p.failing.fill_null(True), p.columns, keys, frame) if n else ()
        out.append(RuleFact(p.name, "rule", None, n, view.rows, sample, p.detail))
    return out


def _polars_message(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _lookup_fact(rule: QualityRule, view: View, c: str, keys: Sequence[str], file: Path,
                 refs: dict[str, pl.LazyFrame]) -> RuleFact:
    assert rule.lookup is not None
    dtype = view.schema[c]
    if rule.name not in refs:
        refs[rule.name] = _lookup_values(rule, dtype, file).collect(engine=ENGINE).lazy()
    ref = refs[rule.name]
    ref_dtype = ref.collect_schema()["#key"]
    if _kind(ref_dtype) != _kind(dtype) and "null" not in (_kind(ref_dtype), _kind(dtype)):
        return lookup_kind_fact(rule, dtype, view)
    probe = view.frame.with_row_index(ROW, offset=1).filter(pl.col(c).is_not_null()).with_columns(
        _key_expr(c, dtype).alias("#key"))
    probe_dtype = probe.collect_schema()["#key"]
    if probe_dtype != ref_dtype and _kind(probe_dtype) == _kind(ref_dtype) == "numeric":  # integers vs decimals
        probe_dtype = pl.Float64()
        probe = probe.with_columns(pl.col("#key").cast(pl.Float64))
    unmatched = probe.join(ref.select(pl.col("#key").cast(probe_dtype)), on="#key", how="anti")
    n = int(unmatched.select(pl.len()).collect(engine=ENGINE).item())
    sample: tuple[dict[str, Any], ...] = ()
    if n:
        rows = unmatched.select(ROW).sort(ROW).head(SAMPLE_ROWS)
        wanted = list(dict.fromkeys([*(k for k in keys if k != c), c]))
        raw = view.raw.with_row_index(ROW, offset=1).select([pl.col(ROW), *map(pl.col, wanted)])
        sample = _sample_rows(rows.join(raw, on=ROW, how="left").sort(ROW).collect(engine=ENGINE))
    return lookup_fact(rule, n, view.rows, sample)


def lookup_fact(rule: QualityRule, n: int, rows: int, sample: tuple[dict[str, Any], ...]) -> RuleFact:
    """A lookup's fact: ``n`` values not in the reference, of ``rows`` judged."""
    assert rule.lookup is not None
    return RuleFact(rule.name, "lookup", rule.lookup.column, n, rows, sample,
                    {"file": rule.lookup.file.name, "key": rule.lookup.key,
                     "nulls": "a missing value is not looked up (add a rule 'col IS NOT NULL' to forbid it)"})


def lookup_kind_fact(rule: QualityRule, dtype: pl.DataType, view: Any) -> RuleFact:
    """The fact of a lookup whose column on this side holds values of another kind than the reference's."""
    assert rule.lookup is not None
    return RuleFact(rule.name, "lookup", rule.lookup.column, view.rows, view.rows, (),
                    {"file": rule.lookup.file.name, "key": rule.lookup.key},
                    missing=f"column {rule.lookup.column!r} holds {_kind(dtype)} values in {view.label}")


def _distinct_fact(rule: QualityRule, view: View, c: str) -> RuleFact:
    n = int(view.frame.select(pl.col(c).drop_nulls().n_unique()).collect(engine=ENGINE).item())
    return distinct_fact(rule, n, view.rows)


def distinct_fact(rule: QualityRule, n: int, rows: int) -> RuleFact:
    """A distinct rule's fact: ``n`` distinct values (missing not counted) in ``rows``."""
    assert rule.distinct is not None
    d = rule.distinct
    bad = (d.min is not None and n < d.min) or (d.max is not None and n > d.max)
    return RuleFact(rule.name, "distinct", d.column, rows if bad else 0, rows, (),
                    {"distinct": n, "min": d.min, "max": d.max}, broken=bad)


# --------------------------------------------------------------------------------------------------------------
# the whole dataset


def evaluate_spec(spec: DatasetSpec, file: Path, sas: Source, py: Source) -> RuleFacts | None:
    """The facts of a dataset's contract and DQ rules (None when it declares neither), as :func:`evaluate`."""
    if spec.contract is None and not spec.quality:
        return None
    return evaluate(spec.contract, spec.quality, file, f"datasets.{spec.name}", sas, py, spec.rename, spec.keys,
                    spec.strings.blank_is_missing)


def evaluate(contract: Contract | None, quality: Sequence[QualityRule], file: Path, where: str, sas: Source,
             py: Source, rename: Mapping[str, str], keys: Sequence[str], blank_is_missing: bool = True) -> RuleFacts:
    """The facts of a dataset's contract and DQ rules on both sides (the Python output is judged; the SAS
    output's facts are for information).  Raises SpecError for a name in neither output, before any comparison."""
    if contract is None and not quality:
        return RuleFacts()
    import warnings

    with warnings.catch_warnings():  # polars SQL's own DATE '...' literal casts a string; not the user's doing
        warnings.filterwarnings("ignore", message="Casting from String to", category=DeprecationWarning)
        return _evaluate(contract, quality, file, where, sas, py, rename, keys, blank_is_missing)


def _evaluate(contract: Contract | None, quality: Sequence[QualityRule], file: Path, where: str, sas: Source,
              py: Source, rename: Mapping[str, str], keys: Sequence[str], blank_is_missing: bool) -> RuleFacts:
    pv = view_of(py, "the Python output", blank_is_missing=blank_is_missing)
    sv = view_of(sas, "the SAS output", rename, blank_is_missing)
    return evaluate_views(contract, quality, file, where, pv, sv, rename, keys, blank_is_missing)


class RuleEngine(NamedTuple):
    """How one side's facts are computed: by polars on a :class:`View` (:data:`POLARS_RULES`), or by another engine
    on its own view (:mod:`parity.spark.quality`), which has the same ``names``, ``rows``, ``label`` and ``col()``:
    its :func:`contract_facts` and :func:`quality_facts`."""

    contract_facts: Callable[[Contract, Any, Sequence[str], bool], list[RuleFact]]
    quality_facts: Callable[[Sequence[QualityRule], Any, Any, Sequence[str], Path, dict[str, Any]], list[RuleFact]]


def evaluate_views(contract: Contract | None, quality: Sequence[QualityRule], file: Path, where: str, pv: Any,
                   sv: Any, rename: Mapping[str, str], keys: Sequence[str], blank_is_missing: bool,
                   engine_of: Callable[[Any], RuleEngine] | None = None) -> RuleFacts:
    """:func:`evaluate` on the two sides' views (``pv`` the Python output's, ``sv`` the SAS output's), each
    judged by the :class:`RuleEngine` ``engine_of(view)`` gives: the checks of names against both outputs and the
    order of the facts are the same whichever engine computes them."""
    engine_of = engine_of or (lambda view: POLARS_RULES)
    fold_rename = {k.casefold(): v for k, v in rename.items()}
    py_keys = [c for k in keys if (c := pv.col(fold_rename.get(k.casefold(), k))) is not None]
    sas_keys = [c for k in keys if (c := sv.col(fold_rename.get(k.casefold(), k))) is not None]
    contract_py: list[RuleFact] = []
    contract_sas: list[RuleFact] = []
    if contract is not None:
        known = ", ".join(sorted(pv.names.values())[:30])
        for cc in contract.columns:
            if pv.col(cc.name) is None and sv.col(cc.name) is None:
                raise SpecError(file, f"the contract names column {cc.name!r}, which is in neither output (Python "
                                f"output columns: {known})", key=f"{where}.contract.columns.{cc.name}")
        for u in contract.unique:
            if pv.col(u) is None and sv.col(u) is None:
                raise SpecError(file, f"unique names column {u!r}, which is in neither output (Python output "
                                f"columns: {known})", key=f"{where}.contract.unique")
        contract_py = engine_of(pv).contract_facts(contract, pv, py_keys, blank_is_missing)
        contract_sas = engine_of(sv).contract_facts(contract, sv, sas_keys, blank_is_missing)
    refs_py: dict[str, Any] = {}
    try:
        quality_py = engine_of(pv).quality_facts(quality, pv, sv, py_keys, file, refs_py)
    except SpecError as exc:  # name the rule, not only its key
        raise naming_rule(exc, quality) from None
    quality_sas: list[RuleFact] = []
    sas_error = None
    # lookup values are shared by the two sides when one engine judges both (each engine caches its own kind)
    refs_sas = refs_py if engine_of(pv) is engine_of(sv) else {}
    try:
        quality_sas = engine_of(sv).quality_facts(quality, sv, pv, sas_keys, file, refs_sas)
    except SpecError as exc:  # a rule that runs on the Python output but not on the SAS view: information only
        sas_error = str(naming_rule(exc, quality))
    return RuleFacts(tuple(contract_py), tuple(contract_sas), tuple(quality_py), tuple(quality_sas),
                     "values" if pv.by_value else "dtype", sas_error)


#: the polars :class:`RuleEngine`
POLARS_RULES = RuleEngine(contract_facts, quality_facts)
