"""Data contracts and DQ rules computed by Spark: the facts of :mod:`parity.engine.quality`, rule for rule, from the
same definitions, with Spark Column expressions on the executors.

Each side is a :class:`SparkView` (the DataFrame the comparison reads, normalised as the polars view is: NaN and
blank strings missing, trailing blanks dropped, SAS dates, datetimes and times as DATE, TIMESTAMP_NTZ and
day-time intervals).  What reaches the driver: one row of counts per side for every row rule, the largest value of
each decimal float column (its cancellation noise), and for each failing rule at most
:data:`~parity.engine.quality.SAMPLE_ROWS` sample rows (the first by row number: a top-k on the executors), handed
over through Arrow and turned into JSON values by the polars code, so that both engines show the same samples.
Never a whole table.

A SQL rule is Spark SQL (``F.expr``) on this engine: a rule Spark cannot parse, a rule that is not one condition,
a rule whose result is not true/false or that names a column in neither output is a SpecError naming the rule and
saying that Spark SQL rejected it, raised before any comparison.  A Python output still on the driver (a polars or
pandas frame a port returned, a csv or arrow file) is handed to Spark with its own types for the rules; one with a
type Spark holds otherwise (times, durations, unsigned integers, ...) is judged where it is, by polars.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from parity.engine.quality import (
    DECIMAL_CANCEL_CAP,
    DECIMAL_FLOOR,
    DECIMAL_NOISE,
    EXACT_INTEGERS,
    POLARS_RULES,
    ROW,
    SAMPLE_ROWS,
    SAS_VALUED,
    VALUE_TYPED,
    RuleEngine,
    RuleFact,
    RuleFacts,
    _dtype_text,
    _is_string,
    _kind,
    _missing_fact,
    _plain,
    _sample_rows,
    column_of,
    distinct_fact,
    evaluate_views,
    extra_columns_fact,
    lookup_fact,
    lookup_kind_fact,
    resolve_columns,
    type_judgement,
    view_of,
)
from parity.errors import InputError, SpecError
from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS
from parity.model import TEMPORAL_KINDS
from parity.spark import normalize as sn
from parity.spark.datasource import ROW as POS
from parity.spec.contract import ColumnContract, Contract, QualityRule

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from parity.spark.sources import SparkSide
    from parity.spec import DatasetSpec

#: the raw (not normalised) copy of a column in a view's frame
_RAW = "\x1fraw:"
#: doubles of this size or more are whole numbers
_WHOLE_FROM = 2.0 ** 52
ENGINE_NAME = "Spark SQL"


@dataclass
class SparkView:
    """One side as the rules see it, in Spark: ``frame`` has every column under its Python name normalised, its raw
    value as ``_RAW + name``, and :data:`POS` (the 0-based row position)."""

    frame: DataFrame
    names: dict[str, str]  # casefold -> name in the frame
    schema: dict[str, pl.DataType]  # the polars dtype of each column (how the polars view would type it)
    rows: int
    by_value: bool
    label: str

    def col(self, name: str) -> str | None:
        return self.names.get(name.casefold())


def _c(name: str) -> Column:
    return sn.col(name)


def _raw(name: str) -> Column:
    return sn.col(_RAW + name)


def _sas_temporal(c: Column, kind: str) -> Column:
    """:func:`parity.engine.quality._sas_temporal`: a SAS date as a DATE, a datetime as a TIMESTAMP_NTZ, a time as
    a day-time interval; values polars' non-strict casts cannot hold (NaN, infinities, beyond 64 bits) null."""
    from pyspark.sql import functions as F

    if kind == "date":
        days = F.floor(c).cast("double") - F.lit(float(EPOCH_SHIFT_DAYS))
        fits = sn.is_finite(c) & (days >= F.lit(-719_162.0)) & (days <= F.lit(2_932_896.0))  # years 1 to 9999
        return F.when(fits, F.date_add(F.lit("1970-01-01").cast("date"), days.cast("int")))
    if kind == "datetime":
        micros = sn._round_half_even((c - F.lit(float(EPOCH_SHIFT_SECONDS))) * F.lit(1e6))
        fits = sn.is_finite(micros) & (F.abs(micros) < F.lit(2.0 ** 62))
        epoch = F.lit("1970-01-01 00:00:00").cast("timestamp_ntz")
        return F.when(fits, F.timestamp_add("MICROSECOND", micros.cast("long"), epoch))
    micros = sn._round_half_even(c * F.lit(1e6))
    fits = sn.is_finite(micros) & (F.abs(micros) < F.lit(1e18))  # the seconds fit decimal(18,6)
    seconds = (micros.cast("long").cast("decimal(38,0)") / F.lit(1_000_000).cast("decimal(38,0)"))
    return F.when(fits, F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), seconds.cast("decimal(18,6)")))


def spark_view(side: SparkSide, label: str, rename: Mapping[str, str] | None = None,
               blank_is_missing: bool = True) -> SparkView:
    """:func:`parity.engine.quality.view_of` for a side in Spark."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    renamed = {k.casefold(): v for k, v in (rename or {}).items()}
    sas_file = side.meta.format in SAS_VALUED
    df = side.sdf
    spark_types = {f.name: f.dataType for f in df.schema.fields}
    raw: list[Column] = []
    norm: list[Column] = []
    names: dict[str, str] = {}
    schema: dict[str, pl.DataType] = {}
    for info in side.columns:
        name = renamed.get(info.name.casefold(), info.name)
        c = _c(info.name)
        dtype = side.dtypes[info.name]
        stype = spark_types[info.name]
        if sas_file and info.type == "numeric" and info.kind in TEMPORAL_KINDS:
            c = _sas_temporal(c, info.kind)
            dtype = {"date": pl.Date(), "datetime": pl.Datetime("us")}.get(info.kind, pl.Duration("us"))
            stype = None
        names[name.casefold()] = name
        schema[name] = dtype
        raw.append(c.alias(_RAW + name))
        n = _c(info.name) if stype is not None else c
        if isinstance(stype, T.FloatType | T.DoubleType):
            n = sn.nan_to_null(n)
        elif _is_string(dtype):
            stripped = F.rtrim(n.cast("string"))
            n = F.when(stripped == F.lit(""), F.lit(None).cast("string")).otherwise(stripped) if blank_is_missing \
                else stripped
        norm.append(n.alias(name))
    frame = df.select(*raw, *norm, _c(POS))
    return SparkView(frame, names, schema, side.rows, side.meta.format in VALUE_TYPED, label)


# --------------------------------------------------------------------------------------------------------------
# counts and samples


def _count(c: Column) -> Column:
    """How many rows ``c`` (a condition, null counting as false) holds on: 0 on no rows, as polars' sum."""
    from pyspark.sql import functions as F

    return F.coalesce(F.sum(F.when(F.coalesce(c, F.lit(False)), F.lit(1)).otherwise(F.lit(0))), F.lit(0))


def _to_polars(df: DataFrame) -> pl.DataFrame:
    """A few rows (samples, duplicate keys) through Arrow: the polars values the polars engine would hold
    (timestamps with a zone in the session's time zone, as :func:`parity.sources.frames.spark_frame_table`)."""
    out = pl.from_arrow(df.toArrow())
    assert isinstance(out, pl.DataFrame)
    zone = df.sparkSession.conf.get("spark.sql.session.timeZone") or "UTC"
    return out.with_columns(pl.col(n).dt.convert_time_zone(zone) for n, t in out.schema.items()
                            if isinstance(t, pl.Datetime) and t.time_zone is not None)


def _samples(view: SparkView, failing: Column, columns: Sequence[str], keys: Sequence[str],
             frame: DataFrame | None = None) -> tuple[dict[str, Any], ...]:
    """:func:`parity.engine.quality._samples`: the first rows by row number where ``failing`` holds, their row
    number (1-based), keys and the rule's columns, raw."""
    from pyspark.sql import functions as F

    wanted = list(dict.fromkeys([*(k for k in keys if k not in columns), *columns]))
    src = frame if frame is not None else view.frame
    rows = (src.filter(F.coalesce(failing, F.lit(False))).select((_c(POS) + F.lit(1)).alias(ROW), *map(_raw, wanted))
            .orderBy(ROW).limit(SAMPLE_ROWS))
    out = _to_polars(rows.select(_c(ROW), *[_raw(w).alias(w) for w in wanted]))
    return _sample_rows(out.with_columns(pl.col(ROW).cast(pl.UInt32)))


# --------------------------------------------------------------------------------------------------------------
# contract


@dataclass
class _Pending:
    name: str
    constraint: str
    column: str | None
    failing: Column
    columns: list[str]
    detail: dict[str, Any]
    extra: dict[str, Column]
    raw: bool = False  # judged on the raw values (nullable: NaN and blanks are what it counts)
    broken: bool = False  # RuleFact.broken: the column's type breaks the rule whatever its rows


def _not_whole(c: Column) -> Column:
    """:func:`parity.engine.quality._not_whole` (a double of 2^52 or more is whole: Spark's floor gives a long)."""
    from pyspark.sql import functions as F

    small = F.abs(c) < F.lit(_WHOLE_FROM)
    return c.isNotNull() & (~sn.is_finite(c) | (small & (c != F.floor(c).cast("double"))))


def _decimal_rule(c: Column, dtype: pl.DataType, stype: Any, p: int, s: int,
                  largest: float | None) -> tuple[Column, dict[str, Column]] | None:
    """:func:`parity.engine.quality._decimal_rule`; ``largest`` is the column's largest finite |v * 10^s| (the
    polars expression's column aggregate, computed before)."""
    from decimal import Decimal

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if dtype.is_float():
        x = c.cast("double") * F.lit(10.0 ** s)
        frac = F.abs(x - sn._round_half_even(x))
        cancel = DECIMAL_CANCEL_CAP if largest is None else min(largest * DECIMAL_NOISE, DECIMAL_CANCEL_CAP)
        noise = F.greatest(F.abs(x) * F.lit(DECIMAL_NOISE), F.lit(DECIMAL_FLOOR), F.lit(cancel))
        decimals = c.isNotNull() & (~sn.is_finite(x) | (frac > noise))
        digits = c.isNotNull() & sn.is_finite(x) & (F.abs(sn._round_half_even(x)) >= F.lit(10.0 ** p))
    elif dtype.is_integer():
        limit = 10 ** (p - s)
        decimals = F.lit(False)
        digits = F.coalesce((c >= F.lit(limit)) | (c <= F.lit(-limit)), F.lit(False)) if limit <= 2 ** 63 - 1 \
            else F.lit(False)
    elif isinstance(stype, T.DecimalType):  # exact: digits after the point beyond s, before it beyond p - s
        decimals = c.isNotNull() & (F.bround(c, s) != c) if s < stype.scale else F.lit(False)
        whole = stype.precision - stype.scale
        digits = (c.isNotNull() & (F.abs(c) >= F.lit(Decimal(10) ** (p - s)))) if p - s < whole else F.lit(False)
    else:
        return None
    return decimals | digits, {"too_many_decimals": decimals, "too_many_integer_digits": digits}


def _column_rules(cc: ColumnContract, c: str, view: SparkView, blank_is_missing: bool,
                  largest: Mapping[str, float | None]) -> list[_Pending]:
    """:func:`parity.engine.quality._column_rules`, expression for expression."""
    from pyspark.sql import functions as F

    dtype = view.schema[c]
    stype = view.frame.schema[c].dataType
    out: list[_Pending] = []
    col = _c(c)
    if cc.type is not None:
        judged, detail = type_judgement(cc, dtype, view.by_value)
        if judged == "dtype":
            failing = F.lit(False)
        elif judged == "another":
            failing = col.isNotNull()
        elif judged == "whole":
            failing = _not_whole(col)
        else:
            failing = col.isNotNull() & ~col.isin(0, 1)
        extra = {"whole_values": col.isNotNull() & ~_not_whole(col)} if (
            cc.type == "integer" and dtype.is_float()) else {}
        out.append(_Pending(f"{cc.name}.type", "type", cc.name, failing, [c], detail, extra,
                            broken=judged == "another"))
    if cc.type == "decimal":
        assert cc.precision is not None and cc.scale is not None
        rule = _decimal_rule(col, dtype, stype, cc.precision, cc.scale, largest.get(c))
        if rule is not None:
            out.append(_Pending(f"{cc.name}.decimal", "decimal", cc.name, rule[0], [c],
                                {"precision": cc.precision, "scale": cc.scale}, rule[1]))
    if cc.max_length is not None and not _is_string(dtype) and dtype != pl.Null:
        out.append(_Pending(f"{cc.name}.max_length", "max_length", cc.name, col.isNotNull(), [c],
                            {"max_length": cc.max_length, "hint": f"max_length is a limit of character values; "
                             f"{cc.name} is {_dtype_text(dtype)}: write it as text or drop max_length"}, {}))
    elif cc.max_length is not None:
        n = cc.max_length
        text = col.cast("string")  # normalised: trailing blanks dropped
        out.append(_Pending(
            f"{cc.name}.max_length", "max_length", cc.name, F.char_length(text) > F.lit(n), [c],
            {"max_length": n, "truncates": f"a SAS LENGTH ${n} or a VARCHAR({n}) column would truncate these "
             "values (counted in characters, trailing blanks not counted)"},
            {"longest": F.max(F.char_length(text)), "over_in_utf8_bytes": F.octet_length(text) > F.lit(n)}))
    if not cc.nullable:
        raw = _raw(c)
        missing = raw.isNull()
        extra = {"null": raw.isNull()}
        if dtype.is_float():
            missing = missing | F.isnan(raw)
            extra["nan"] = F.isnan(raw)
        if _is_string(dtype):
            blank = F.rtrim(raw.cast("string")) == F.lit("")
            if blank_is_missing:
                missing = missing | blank
            extra["blank"] = raw.isNotNull() & blank
        out.append(_Pending(f"{cc.name}.nullable", "nullable", cc.name, missing, [c],
                            {"counts_as_missing": "null, NaN, a SAS missing value (. .A-.Z ._)"
                             + (" and a blank string (SAS blank = missing)" if blank_is_missing else "")},
                            extra, raw=True))
    return out


def _largest(contract: Contract, view: SparkView) -> dict[str, float | None]:
    """The largest finite |v * 10^s| of each float column a decimal(p,s) rule judges (one aggregation)."""
    from pyspark.sql import functions as F

    aggs: dict[str, Column] = {}
    for cc in contract.columns:
        c = view.col(cc.name)
        if cc.type == "decimal" and c is not None and view.schema[c].is_float():
            x = _c(c).cast("double") * F.lit(10.0 ** (cc.scale or 0))
            aggs[c] = F.max(F.when(sn.is_finite(x), F.abs(x)))
    if not aggs:
        return {}
    names = list(aggs)
    row = view.frame.agg(*[a.alias(f"m{i}") for i, a in enumerate(aggs.values())]).collect()[0]
    return {c: (float(row[f"m{i}"]) if row[f"m{i}"] is not None else None) for i, c in enumerate(names)}


def _count_pending(view: SparkView, pending: list[_Pending], keys: Sequence[str]) -> list[RuleFact]:
    """One aggregation for every row rule, then samples of the failing ones."""
    from pyspark.sql import functions as F

    if not pending:
        return []
    aggs: list[Column] = []
    for i, p in enumerate(pending):
        aggs.append(_count(p.failing).alias(f"f{i}"))
        for k, e in p.extra.items():
            aggs.append((e if k == "longest" else _count(e)).alias(f"x{i}_{k}"))
    counts = view.frame.agg(*aggs).collect()[0].asDict()
    out = []
    for i, p in enumerate(pending):
        n = int(counts[f"f{i}"] or 0)
        detail = {**p.detail, **{k: (int(counts[f"x{i}_{k}"]) if counts[f"x{i}_{k}"] is not None else None)
                                 for k in p.extra}}
        sample = _samples(view, F.coalesce(p.failing, F.lit(False)), p.columns, keys) if n else ()
        out.append(RuleFact(p.name, p.constraint, p.column, n, view.rows, sample, detail, broken=p.broken))
    return out


def contract_facts(contract: Contract, view: SparkView, keys: Sequence[str],
                   blank_is_missing: bool) -> list[RuleFact]:
    """:func:`parity.engine.quality.contract_facts` in Spark."""
    largest = _largest(contract, view)
    pending: list[_Pending] = []
    order: list[RuleFact | int] = []
    for cc in contract.columns:
        c = view.col(cc.name)
        if c is None:
            order.append(_missing_fact(f"{cc.name}.present", "present", cc.name, view, f"column {cc.name!r}"))  # type: ignore[arg-type]
            continue
        for item in _column_rules(cc, c, view, blank_is_missing, largest):
            order.append(len(pending))
            pending.append(item)
    counted = _count_pending(view, pending, keys)
    facts = [counted[x] if isinstance(x, int) else x for x in order]
    if contract.unique:
        facts.append(_unique_fact(contract.unique, view))
    if contract.extra_columns != "allow":
        facts.append(extra_columns_fact(contract, view.names, view.rows))
    return facts


def _unique_fact(unique: Sequence[str], view: SparkView) -> RuleFact:
    """:func:`parity.engine.quality._unique_fact`: the duplicated key groups (grouped on the executors), their
    counts, and the first few groups in key order (missing first)."""
    from pyspark.sql import functions as F

    cols = [view.col(u) for u in unique]
    if any(c is None for c in cols):
        gone = [u for u, c in zip(unique, cols, strict=True) if c is None]
        return _missing_fact("unique", "unique", None, view, f"column {gone[0]!r}")  # type: ignore[arg-type]
    names = [c for c in cols if c is not None]
    groups = view.frame.groupBy(*map(_c, names)).agg(F.count(F.lit(1)).alias("#n")).filter(F.col("`#n`") > 1)
    stats = groups.agg(F.sum("`#n`").alias("rows"), F.count(F.lit(1)).alias("keys")).collect()[0]
    n = int(stats["rows"] or 0)
    sample: tuple[dict[str, Any], ...] = ()
    if n:
        top = _to_polars(groups.orderBy(*[_c(c).asc_nulls_first() for c in names]).limit(SAMPLE_ROWS))
        sample = tuple({**{k: _plain(v) for k, v in row.items() if k != "#n"}, "rows": row["#n"]}
                       for row in top.iter_rows(named=True))
    return RuleFact("unique", "unique", None, n, view.rows, sample,
                    {"columns": names, "duplicate_keys": int(stats["keys"] or 0),
                     "nulls": "a missing value is a value: two rows with the same missing key are duplicates"})


# --------------------------------------------------------------------------------------------------------------
# DQ rules


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _polars_names(rule: str) -> list[str] | None:
    """The column names polars SQL reads in ``rule`` (its root names), or None when polars SQL refuses it."""
    try:
        return pl.sql_expr(rule).meta.root_names()
    except Exception:
        return None


def _rule_columns(rule: str, view: SparkView) -> list[str]:
    """The columns a SQL rule reads, in the order polars names them (its root names) when polars SQL takes the
    rule too, else in order of first mention (samples show these columns)."""
    written = _polars_names(rule)
    if written is not None:
        return list(dict.fromkeys(c for w in written if (c := view.col(w)) is not None))
    found: list[tuple[int, str]] = []
    for name in view.schema:
        m = re.search(r"(?<![\w.])`?" + re.escape(name) + r"`?(?![\w])", rule, re.IGNORECASE)
        if m:
            found.append((m.start(), name))
    return [n for _, n in sorted(found)]


def _unresolved(exc: BaseException) -> str | None:
    """The column name an AnalysisException says Spark cannot resolve, else None."""
    cls = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    kind = cls() if callable(cls) else None
    if not kind or not str(kind).startswith("UNRESOLVED_COLUMN"):
        return None
    params = exc.getMessageParameters() or {}  # type: ignore[attr-defined]
    name = str(params.get("objectName", ""))
    parts = re.findall(r"`((?:[^`]|``)*)`", name)
    return ".".join(p.replace("``", "`") for p in parts) if parts else name or None


@contextmanager
def _quiet_analysis() -> Iterator[None]:
    """pyspark logs every analysis error it raises (loggers SQLQueryContextLogger, DataFrameQueryContextLogger) on
    stderr with a JVM stack; the errors a rule's resolution meets here are handled (or become a SpecError)."""
    import logging

    loggers = [logging.getLogger(n) for n in ("SQLQueryContextLogger", "DataFrameQueryContextLogger")]
    saved = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, saved, strict=True):
            lg.disabled = was


def _parse_rule(rule: QualityRule, view: SparkView, other: Any, file: Path,
                where: str) -> tuple[Column | None, DataFrame, list[str]]:
    with _quiet_analysis():
        return _parse_rule_loudly(rule, view, other, file, where)


def _parse_rule_loudly(rule: QualityRule, view: SparkView, other: Any, file: Path,
                       where: str) -> tuple[Column | None, DataFrame, list[str]]:
    """The rule as a Spark Column on ``view.frame`` (with aliases for names written in another case), or None
    and the names this side lacks; a SpecError when Spark SQL rejects it or it names a column in neither output."""
    from pyspark.errors import AnalysisException, ParseException
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    assert rule.rule is not None
    text = rule.rule
    frame = view.frame
    lacking: list[str] = []
    for _attempt in range(len(view.names) + 50):
        try:
            ok = F.expr(text)
            dtype = frame.select(ok.alias("r")).schema["r"].dataType
            break
        except ParseException as exc:
            raise SpecError(file, f"the SQL expression {text!r} does not parse in Spark SQL, the Spark engine's "
                            f"dialect ({_first_line(exc)}); write a condition that is true on every good row, e.g. "
                            "\"paid >= 0\"", key=where) from None
        except AnalysisException as exc:
            name = _unresolved(exc)
            if name is None:
                raise SpecError(file, f"the rule cannot run on {view.label} in Spark SQL: {_first_line(exc)}",
                                key=where) from None
            found = view.col(name)
            if found is not None and found != name:  # another case (a case-sensitive session): an alias
                frame = frame.withColumn(name, _c(found))
                continue
            resolve_columns(view, other, [name], file, where, "; Spark SQL found no such column")
            lacking.append(name)
            frame = frame.withColumn(name, F.lit(None))
    else:  # pragma: no cover - every attempt resolves one more name
        raise SpecError(file, f"the rule cannot run on {view.label} in Spark SQL", key=where)
    try:  # one condition: "a >= 0, b >= 0", "a >= 0 AS x" or a trailing word would be refused in parentheses
        _ = frame.select(F.expr(f"({text}\n)").alias("r")).schema
    except ParseException:
        raise SpecError(file, f"the SQL expression {text!r} is not one condition in Spark SQL, the Spark engine's "
                        "dialect (a list, a second statement, an alias or trailing words); join conditions with AND",
                        key=where) from None
    if lacking:
        return None, frame, lacking
    if not isinstance(dtype, T.BooleanType | T.NullType):
        raise SpecError(file, f"the rule gives {dtype.simpleString()} values, not true/false: write a condition "
                        "that is true on every good row, e.g. \"paid >= 0\"", key=where)
    return ok, frame, []


def quality_facts(rules: Sequence[QualityRule], view: SparkView, other: Any, keys: Sequence[str], file: Path,
                  refs: dict[str, Any]) -> list[RuleFact]:
    """:func:`parity.engine.quality.quality_facts` in Spark (SQL rules in Spark SQL)."""
    out: list[RuleFact | int] = []
    pending: list[tuple[QualityRule, Column, DataFrame, list[str], str]] = []
    for rule in rules:
        if rule.rule is not None:
            where = f"{rule.where}.rule"
            ok, frame, lacking = _parse_rule(rule, view, other, file, where)
            columns = _rule_columns(rule.rule, view)
            if lacking:
                written = _polars_names(rule.rule)
                order = {c.casefold(): i for i, c in enumerate(written or columns)}
                lacking.sort(key=lambda n: order.get(n.casefold(), len(order)))
                one = written[0] if written is not None and len(written) == 1 else None  # as polars names it
                out.append(_missing_fact(rule.name, "rule", one, view, f"column {lacking[0]!r}"))  # type: ignore[arg-type]
                continue
            assert ok is not None
            out.append(len(pending))
            pending.append((rule, ok, frame, columns, where))
            continue
        written, where = column_of(rule)
        found, lacking_names = resolve_columns(view, other, written, file, where)
        if lacking_names:
            out.append(_missing_fact(rule.name, rule.kind, written[0], view, f"column {lacking_names[0]!r}"))  # type: ignore[arg-type]
        elif rule.lookup is not None:
            out.append(_lookup_fact(rule, view, found[written[0]], keys, file, refs))
        else:
            out.append(_distinct_fact(rule, view, found[written[0]]))
    counted = _count_rules(view, pending, keys, file) if pending else []
    return [counted[x] if isinstance(x, int) else x for x in out]


def _count_rules(view: SparkView, pending: list[tuple[QualityRule, Column, DataFrame, list[str], str]],
                 keys: Sequence[str], file: Path) -> list[RuleFact]:
    """One aggregation for every SQL rule on the view's frame (a rule with aliases counts on its own frame), then
    the samples of the failing ones; a rule that fails at run time (ANSI mode: a cast, a division by zero) is a
    SpecError naming it."""
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    failing = [F.coalesce(~ok, F.lit(True)) for _, ok, _, _, _ in pending]
    shared = [i for i, (_, _, frame, _, _) in enumerate(pending) if frame is view.frame]
    counts: dict[int, int] = {}
    with _quiet_analysis():
        if shared:
            try:
                row = view.frame.agg(*[_count(failing[i]).alias(f"f{i}") for i in shared]).collect()[0]
                counts.update({i: int(row[f"f{i}"] or 0) for i in shared})
            except PySparkException:
                pass  # counted one by one below, to name the rule that cannot run
        out = []
        for i, (rule, _, frame, columns, where) in enumerate(pending):
            try:
                if i not in counts:
                    counts[i] = int(frame.agg(_count(failing[i]).alias("n")).collect()[0]["n"] or 0)
                n = counts[i]
                sample = _samples(view, failing[i], columns, keys, frame) if n else ()
            except PySparkException as exc:
                raise SpecError(file, f"the rule cannot run on {view.label} in Spark SQL: {_first_line(exc)}",
                                key=where) from None
            out.append(RuleFact(rule.name, "rule", None, n, view.rows, sample, {}))
    return out


def _key_expr(c: Column, dtype: pl.DataType) -> Column:
    """:func:`parity.engine.quality._key_expr`: numbers as doubles, text without trailing blanks, datetimes as
    TIMESTAMP_NTZ (their wall-clock time)."""
    from pyspark.sql import functions as F

    kind = _kind(dtype)
    if kind == "numeric":
        return c.cast("bigint") if dtype in EXACT_INTEGERS else c.cast("double")
    if kind == "string":
        return F.rtrim(c.cast("string"))
    if kind == "datetime":
        return c.cast("timestamp_ntz")
    return c


def _lookup_values(rule: QualityRule, dtype: pl.DataType, file: Path, spark: SparkSession) -> tuple[DataFrame,
                                                                                                       pl.DataType]:
    """:func:`parity.engine.quality._lookup_values` read by Spark: the reference's distinct key values (column
    ``#key``) and their polars dtype.  A csv is read as text and converted to the Python column's kind on the
    executors by parity's own csv conversion; parquet and SAS files are read by the Spark sources; an Arrow file
    (which Spark cannot read) by polars on the driver."""
    from pyspark.sql import functions as F

    from parity.engine.quality import _common_kind as check_kinds  # the same error for the same kinds

    assert rule.lookup is not None
    lk = rule.lookup
    where = f"{rule.where}.lookup.key"
    path = lk.file
    suffix = path.suffix.lower()
    if suffix == ".csv":
        head = _csv_header(path)
        name = {c.casefold(): c for c in head}.get(lk.key.casefold())
        if name is None:
            raise SpecError(file, f"{path.name} has no column {lk.key!r} (columns: {', '.join(head[:20])})",
                            key=where)
        read = (spark.read.option("header", True).option("inferSchema", False).option("multiLine", True)
                .option("escape", '"').csv(str(path)))
        text = read.select(_c(read.columns[head.index(name)]).alias("#key"))  # by position (a BOM in the header)
        whole = _whole_numbers(text) if dtype.is_integer() else None
        if _is_string(dtype):
            ref_dtype: pl.DataType = pl.String()
            values = text
        elif whole is not None:  # exact: a double would match 9007199254740993 with ...992
            values, ref_dtype = whole, pl.Int64()
        else:
            values, ref_dtype = _csv_converted(text, name, _kind(dtype), path, file, where)
    else:
        side: SparkSide
        if suffix in (".sas7bdat", ".xpt"):
            from parity.spark.sources import sas_side

            side = sas_side(spark, path)
        else:
            from parity.spark.sources import NotSparkReadable, parquet_side

            try:
                if suffix != ".parquet":
                    raise NotSparkReadable("Spark has no Arrow file reader")
                side = parquet_side(spark, str(path), f"{file.name} [{rule.where}.lookup.file]")
            except NotSparkReadable:  # the distinct keys, read by polars on the driver
                from parity.engine.quality import _lookup_values as polars_values
                from parity.spark.sources import create_dataframe

                keys = polars_values(rule, dtype, file).collect()
                return create_dataframe(spark, keys), keys.schema["#key"]
        info = {c.name.casefold(): c for c in side.columns}.get(lk.key.casefold())
        if info is None:
            raise SpecError(file, f"{path.name} has no column {lk.key!r} (columns: "
                            f"{', '.join(c.name for c in side.columns[:20])})", key=where)
        ref = spark_view(side, path.name)
        key = ref.names[info.name.casefold()]
        ref_dtype = ref.schema[key]
        values = ref.frame.select(_c(key).alias("#key"))
    # the kinds must meet (the polars check and error), then the values in their comparable form
    check_kinds(pl.LazyFrame(schema={"#key": ref_dtype}), "#key", ref_dtype, dtype, file, where, path.name)
    keys = values.select(_key_expr(_c("#key"), ref_dtype).alias("#key")).filter(F.col("`#key`").isNotNull())
    return keys.distinct(), ref_dtype


def _csv_header(path: Path) -> list[str]:
    try:
        return pl.read_csv(path, infer_schema=False, n_rows=0).columns
    except Exception as exc:
        raise InputError(f"{path}: cannot read this lookup file ({exc})") from None


def _whole_numbers(text: DataFrame) -> DataFrame | None:
    """:func:`parity.engine.quality._whole_numbers`: a csv column of whole numbers (up to 18 digits) as bigint,
    or None when a value is anything else."""
    from pyspark.sql import functions as F

    trimmed = F.trim(_c("#key"))
    given = _c("#key").isNotNull() & (trimmed != "")
    whole = trimmed.rlike(r"^[+-]?[0-9]{1,18}$")
    if text.filter(given & ~whole).limit(1).count():
        return None
    return text.select(F.when(given, trimmed).cast("bigint").alias("#key"))


def _csv_converted(text: DataFrame, name: str, kind: str, path: Path, file: Path,
                   where: str) -> tuple[DataFrame, pl.DataType]:
    """A csv reference column (text) converted to ``kind`` by :func:`parity.sources.csv._csv_column`, batch by
    batch on the executors; a value that does not convert is the polars engine's SpecError (counted over the
    whole column, the first by row)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from parity.sources.base import ColumnInfo
    from parity.sources.csv import _csv_column
    from parity.spark.sources import with_positions

    target = {"numeric": (T.DoubleType(), pl.Float64()), "date": (T.DateType(), pl.Date()),
              "datetime": (T.TimestampNTZType(), pl.Datetime("us")), "time": (T.DoubleType(), pl.Float64())}
    stype, ptype = target.get(kind, (T.DoubleType(), pl.Float64()))
    schema = T.StructType([T.StructField("#key", stype), T.StructField("#bad", T.BooleanType()),
                           T.StructField("#text", T.StringType()), T.StructField(POS, T.LongType())])

    def convert(batches: Any) -> Any:
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            series = frame.get_column("#key").cast(pl.String).alias(name)
            conv, _, _, _ = _csv_column(series, ColumnInfo(name, "numeric", kind))  # type: ignore[arg-type]
            conv = conv.cast(ptype) if conv.dtype != ptype else conv
            bad = series.is_not_null() & conv.is_null() & ~_csv_missing(series)
            out = pl.DataFrame([conv.alias("#key"), bad.alias("#bad"), series.alias("#text"),
                                frame.get_column(POS)])
            if isinstance(ptype, pl.Datetime):
                out = out.with_columns(pl.col("#key").cast(pl.Datetime("us")))
            yield from out.to_arrow(compat_level=pl.CompatLevel.oldest()).to_batches()

    converted = with_positions(text).mapInArrow(convert, schema)
    stats = converted.agg(_count(F.col("`#bad`")).alias("bad"), F.count(F.col("`#text`")).alias("n"),
                          F.min(F.when(F.col("`#bad`"), _c(POS))).alias("first")).collect()[0]
    if stats["bad"]:
        first = converted.filter(_c(POS) == F.lit(stats["first"])).select("`#text`").collect()[0][0]
        from parity.sources.csv import _TEXT_FORMS

        problem = (f"{int(stats['bad']):,} of {int(stats['n']):,} values of the CSV column {name!r} are not SAS "
                   f"{kind} values (first: {first!r} in data row {int(stats['first']) + 1:,}); parity reads "
                   f"{_TEXT_FORMS[kind]}, blank, '.' and '.A'-'.Z' for missing")
        raise SpecError(file, f"{path.name} column {name!r}: {problem}", key=where)
    return converted.select("`#key`"), ptype


def _csv_missing(series: pl.Series) -> pl.Series:
    """The csv texts parity reads as missing (blank, '.', NaN, '.A'-'.Z'): not conversion failures."""
    from parity.sources.csv import _TAG_RE

    t = series.str.strip_chars()
    return (t.is_in(["", ".", "NaN", "nan"]) | t.str.extract(_TAG_RE, 1).is_not_null()).fill_null(True)


def _lookup_fact(rule: QualityRule, view: SparkView, c: str, keys: Sequence[str], file: Path,
                 refs: dict[str, Any]) -> RuleFact:
    """:func:`parity.engine.quality._lookup_fact`: a left anti join of the side's values against the reference's
    distinct keys, on the executors."""
    from pyspark.sql import functions as F

    assert rule.lookup is not None
    dtype = view.schema[c]
    if rule.name not in refs:
        refs[rule.name] = _lookup_values(rule, dtype, file, view.frame.sparkSession)
    ref, ref_dtype = refs[rule.name]
    if _kind(ref_dtype) != _kind(dtype) and "null" not in (_kind(ref_dtype), _kind(dtype)):
        return lookup_kind_fact(rule, dtype, view)
    probe = view.frame.filter(_c(c).isNotNull()).withColumn("#key", _key_expr(_c(c), dtype))
    key_type = probe.schema["#key"].dataType
    if key_type != ref.schema["#key"].dataType and _kind(ref_dtype) == _kind(dtype) == "numeric":
        probe = probe.withColumn("#key", F.col("`#key`").cast("double"))  # integers vs decimals: as doubles
        key_type = probe.schema["#key"].dataType
    unmatched = probe.join(ref.select(F.col("`#key`").cast(key_type).alias("#key")), on="#key", how="left_anti")
    n = int(unmatched.count())
    sample: tuple[dict[str, Any], ...] = ()
    if n:
        sample = _samples(view, F.lit(True), [c], keys, unmatched)
    return lookup_fact(rule, n, view.rows, sample)


def _distinct_fact(rule: QualityRule, view: SparkView, c: str) -> RuleFact:
    """:func:`parity.engine.quality._distinct_fact`: the exact number of distinct values (missing not counted)."""
    from pyspark.sql import functions as F

    n = int(view.frame.agg(F.countDistinct(_c(c)).alias("n")).collect()[0]["n"] or 0)
    return distinct_fact(rule, n, view.rows)


# --------------------------------------------------------------------------------------------------------------
# the whole dataset


#: the Spark :class:`~parity.engine.quality.RuleEngine`
SPARK_RULES = RuleEngine(contract_facts, quality_facts)


def _engine_of(view: Any) -> RuleEngine:
    return SPARK_RULES if isinstance(view, SparkView) else POLARS_RULES


def evaluate_spark(spec: DatasetSpec, file: Path, sas: SparkSide, py: SparkSide) -> RuleFacts | None:
    """The facts of a dataset's contract and DQ rules on the Spark engine (None when it declares neither), as
    :func:`parity.engine.quality.evaluate_spec`: SpecError for a name in neither output or a rule Spark SQL
    rejects, before any comparison."""
    if spec.contract is None and not spec.quality:
        return None
    blank = spec.strings.blank_is_missing
    sv = spark_view(sas, "the SAS output", spec.rename, blank)
    pv: Any
    if py.table is None:
        pv = spark_view(py, "the Python output", blank_is_missing=blank)
    else:  # on the driver: in Spark if Spark holds its types, else judged there by polars
        from parity.spark.sources import table_in_spark

        in_spark = table_in_spark(sas.sdf.sparkSession, py)
        pv = (spark_view(in_spark, "the Python output", blank_is_missing=blank) if in_spark is not None
              else view_of(py.table, "the Python output", blank_is_missing=blank))
    return evaluate_views(spec.contract, spec.quality, file, f"datasets.{spec.name}", pv, sv, spec.rename,
                          spec.keys, blank, _engine_of)
