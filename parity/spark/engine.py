"""The Spark engine: the comparison of :mod:`parity.engine.polars_engine`, computed by Spark.  Two
:class:`SparkSide` in, the same :class:`parity.engine.base.EngineResult` out, so that the checks and the renderers
cannot tell which engine ran.

Column planning is the shared one (:func:`parity.engine.plan.plan_columns`), fed with the value facts it needs
counted by Spark (:func:`spark_conversions`).  Then, with the DataFrame API only:

1. single-side passes: string lengths; duplicate keys (grouped: only the duplicated keys reach the driver);
   SAS BY order and key order (adjacent rows paired by a join on their positions, not a window over one partition);
2. one full outer join by key (null-safe, duplicates paired by their rank within the key, as PROC COMPARE does), or
   by position without keys;
3. one aggregation over the join: rows only on one side, and per column its mismatches (the PROC COMPARE rule of
   :mod:`parity.spark.normalize`) and largest differences;
4. the unmatched and unequal rows, in key order, brought to the driver as Arrow, at most ``max_diff_rows`` of them.

What the polars engine computes over its "kept" rows (rows unmatched or whose raw values differ in any column) is
computed over the same rows here, so that even its edge cases (a largest relative difference over rows that differ
only in another column) agree.
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING, Any

import polars as pl

from parity.engine.base import DUP, GROUP_ROWS, ROW_P, ROW_S, DupGroups, EngineResult, SortFacts
from parity.engine.normalize import CodePage, Collation, truncation_width
from parity.engine.plan import ColumnPlan, order_plan, plan_columns_deferred, require_sort_order
from parity.engine.polars_engine import collation_facts, column_stats, long_string_facts
from parity.formats import Kind
from parity.sources.base import Source, Table, tag_column
from parity.spark import normalize as sn
from parity.spark.datasource import ROW
from parity.spark.sources import SparkSide
from parity.spec import DatasetSpec, JobSpec, SortKey

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

#: unequal and unmatched rows brought to the driver at most (the counts and largest differences cover every row)
MAX_DIFF_ROWS = 2_000_000
#: duplicated keys brought to the driver at most
MAX_DUP_KEYS = 1_000_000


def _c(name: str) -> Column:
    return sn.col(name)


# --------------------------------------------------------------------------------------------------------------
# planning: the polars engine's, on what Spark measured


def plan_on_spark(spec: DatasetSpec, job: JobSpec | None, sas: SparkSide, py: SparkSide) -> list[ColumnPlan]:
    """The shared column planning (:func:`parity.engine.plan.plan_columns_deferred`), its value facts (the
    largest value of an unformatted SAS numeric, the Python values each conversion changes) counted by Spark, in
    one aggregation per side; a Python side still on the driver is counted by polars, as on the polars engine."""
    from pyspark.sql import functions as F

    plans, facts = plan_columns_deferred(spec, job, sas, py)
    frames: list[pl.DataFrame] = []
    if py.table is not None and facts.queries:  # the polars queries (the SAS one runs on no rows: see below)
        frames += pl.collect_all(facts.queries)
    s_aggs: list[Column] = []
    p_aggs: list[Column] = []
    p_schema = {f.name: f.dataType for f in py.df.schema.fields} if py.df is not None else {}
    for plan, changes, hint in facts.pending:
        assert plan.sas is not None and plan.py is not None
        if hint is not None:
            s_aggs.append(F.max(F.abs(sn.nan_to_null(_c(plan.sas.name).cast("double")))).alias(hint))
        if py.table is None:
            width = (truncation_width(plan.sas, plan.kind, py.dtypes[plan.py.name])
                     if spec.numbers.storage == "truncate" else None)
            p_aggs += [_spark_change(code, plan.py.name, p_schema, plan.kind, width).alias(name)
                       for code, _, name in changes]
    for side, aggs in ((py, p_aggs), (sas, s_aggs)):  # the SAS facts last: they replace the no-rows ones
        if aggs:
            frames.append(pl.DataFrame([side.sdf.agg(*aggs).collect()[0].asDict()]))
    facts.apply(frames)
    return plans


def _spark_change(code: str, name: str, schema: dict[str, Any], kind: Kind, width: int | None) -> Column:
    """The count of values a conversion changes (:func:`parity.engine.normalize.change_exprs`), in Spark."""
    from pyspark.sql import functions as F

    c = _c(name)
    if code == "storage_truncation":
        assert width is not None
        units = sn.sas_units(c, schema[name], kind)
        changed = units.isNotNull() & (sn.truncate_to_width(units, width) != units)
    elif code == "int_to_double":
        changed = c.isNotNull() & (c.cast("double").cast(schema[name]) != c)
    elif code == "nan_as_missing":
        changed = F.isnan(c)
    elif code == "timezone_to_wall_clock":
        changed = sn.wall_clock_micros(c) != F.unix_micros(c)
    else:  # date_dropped (nanoseconds never reach Spark, which keeps microseconds)
        changed = c.isNotNull()
    return F.sum(F.when(changed, 1).otherwise(0))


# --------------------------------------------------------------------------------------------------------------
# side frames


def _side(side: SparkSide, plans: list[ColumnPlan], which: str, spec: DatasetSpec) -> DataFrame:
    """One side projected onto the internal column names: keys normalised (and rounded), compared values raw
    in SAS units (strings raw: normalised after the join, as on polars), special missing tags, the row number."""
    from pyspark.sql import functions as F

    schema = {f.name: f.dataType for f in side.sdf.schema.fields}
    exprs: list[Column] = []
    strict = spec.numbers.special_missing == "strict"
    for plan in plans:
        info = plan.sas if which == "sas" else plan.py
        if info is None or plan.role not in ("key", "compare"):
            continue
        out = plan.s if which == "sas" else plan.p
        c = _c(info.name)
        if plan.kind == "string":
            raw = c.cast("string")
            expr = sn.normalize_string(raw, spec.strings) if plan.role == "key" else raw
        else:
            if which == "sas" and info.type == "numeric":
                expr = c.cast("double")
            else:
                expr = sn.sas_units(c, schema[info.name], plan.kind)
                width = (truncation_width(plan.sas, plan.kind, side.dtypes[info.name])
                         if spec.numbers.storage == "truncate" else None)
                if width:
                    expr = sn.truncate_to_width(expr, width)
            if plan.role == "key":
                expr = sn.round_temporal(expr, plan.kind, spec.dates)
        exprs.append(expr.alias(out))
        if plan.has_tags and strict:
            tag = (_c(tag_column(info.name)) if info.name in side.tagged
                   else F.lit(None).cast("string"))
            if plan.role == "key":
                tag = F.when(expr.isNull(), F.coalesce(tag, F.lit("."))).otherwise(F.lit(None).cast("string"))
            exprs.append(tag.alias(plan.st if which == "sas" else plan.pt))
    exprs.append(_c(ROW).alias(ROW_S if which == "sas" else ROW_P))
    return side.sdf.select(*exprs)


# --------------------------------------------------------------------------------------------------------------
# single-side passes


def _string_lengths(out: dict[str, Any], sas: SparkSide, py: SparkSide, compare: list[ColumnPlan],
                    page: CodePage | None) -> None:
    """Python strings longer than the SAS column (truncation risk) and SAS values that fill their length, in bytes
    of the SAS file's encoding (:func:`parity.engine.polars_engine._string_length_queries`)."""
    from pyspark.sql import functions as F

    s_aggs: list[Column] = []
    p_aggs: list[Column] = []
    lengths: dict[str, int] = {}
    for plan in compare:
        if plan.kind != "string" or not plan.sas or not plan.py or not plan.sas.length:
            continue
        width = plan.sas.length
        i = len(lengths)
        lengths[plan.name] = width
        s_len = _sas_byte_length(F.rtrim(_c(plan.sas.name)), page)
        s_aggs.append(F.sum(F.when(s_len >= width, 1).otherwise(0)).alias(f"s{i}"))
        p_col = _c(plan.py.name).cast("string")
        p_len = _sas_byte_length(F.rtrim(p_col), page)
        bad = F.sum(F.when(p_col.rlike(page.unencodable), 1).otherwise(0)) if page else F.lit(0)
        p_aggs += [F.sum(F.when(p_len > width, 1).otherwise(0)).alias(f"c{i}"),
                   F.max(F.when(p_len > width, p_len)).alias(f"m{i}"), bad.alias(f"u{i}")]
    if not s_aggs:
        return
    s_row = sas.sdf.agg(*s_aggs).collect()[0]
    p_row = py.sdf.agg(*p_aggs).collect()[0]
    out["sas_full_strings"] = {n: int(s_row[f"s{i}"]) for i, n in enumerate(lengths) if s_row[f"s{i}"]}
    facts = {n: long_string_facts(lengths[n], int(p_row[f"c{i}"] or 0), p_row[f"m{i}"], int(p_row[f"u{i}"] or 0))
             for i, n in enumerate(lengths)}
    out["python_long_strings"] = {n: v for n, v in facts.items() if v}


def _sas_byte_length(col: Column, page: CodePage | None) -> Column:
    """:func:`parity.engine.normalize.sas_byte_length` in Spark (the same character classes, Java regex)."""
    from pyspark.sql import functions as F

    if page is None:
        return F.octet_length(col)
    out = F.length(col)
    for extra, body in page.wider:
        out = out + F.length(F.regexp_replace(col, f"[^{body}]", "")) * extra
    return out


def _collation_udf(collation: Collation) -> Any:
    """Character values as collation strings of the SAS file's encoding (a pandas UDF: Spark has no step that
    re-encodes a string into a single-byte code page), and whether each held a character it lacks."""
    import pandas as pd
    from pyspark.sql.pandas.functions import pandas_udf

    codec = collation.codec
    assert codec is not None

    @pandas_udf("struct<v:string,bad:boolean>")  # type: ignore[call-overload,misc,untyped-decorator,unused-ignore]
    def collate(values: pd.Series) -> pd.DataFrame:
        out: list[str | None] = []
        bad: list[bool] = []
        for value in values:
            if value is None:
                out.append(None)
                bad.append(False)
                continue
            try:
                out.append(value.encode(codec).decode("latin-1"))
                bad.append(False)
            except UnicodeEncodeError:
                out.append("".join(collation._char(ch) for ch in value))
                bad.append(True)
        return pd.DataFrame({"v": out, "bad": bad})

    return collate


def _order_frame(side: SparkSide, which: str, columns: list[ColumnPlan], collation: Collation,
                 spec_file: Any, where: str) -> tuple[DataFrame, Column | None]:
    """:func:`parity.engine.polars_engine._order_frame`: BY values raw (``o<i>``, tags ``ot<i>``), strings as collation
    strings; and a count of values the encoding lacks (a Column to aggregate), or None."""
    from pyspark.sql import functions as F


    schema = {f.name: f.dataType for f in side.sdf.schema.fields}
    exprs: list[Column] = []
    bad: list[Column] = []
    for plan in columns:
        info = plan.sas if which == "sas" else plan.py
        assert info is not None
        dtype = side.dtypes[info.name]
        c = _c(info.name)
        if dtype == pl.String:
            expr = F.coalesce(F.rtrim(c), F.lit(""))
            if collation.codec is not None:
                mapped = _collation_udf(collation)(expr)
                ascii_only = ~expr.rlike(r"[^\x00-\x7F]")
                bad.append(F.when(ascii_only, F.lit(False)).otherwise(mapped["bad"]) & (expr != F.lit("")))
                expr = F.when(ascii_only, expr).otherwise(mapped["v"])
            exprs.append(expr.alias(f"o{plan.idx}"))
            continue
        require_sort_order(dtype, info, spec_file, where)
        kind = plan.kind if plan.kind != "string" else "numeric"
        if which == "sas" and info.type == "numeric":
            exprs.append(c.cast("double").alias(f"o{plan.idx}"))
        else:
            exprs.append(sn.sas_units(c, schema[info.name], kind).alias(f"o{plan.idx}"))
        if info.name in side.tagged:
            exprs.append(_c(tag_column(info.name)).alias(f"ot{plan.idx}"))
    exprs.append(_c(ROW).alias("#row"))
    count = reduce(lambda a, b: a + b, [F.when(b, 1).otherwise(0) for b in bad]) if bad else None
    return side.sdf.select(*exprs, *([count.alias("#bad")] if count is not None else [])), count


def _sign(cur: Column, prev: Column) -> Column:
    from pyspark.sql import functions as F

    return F.when(cur > prev, 1).when(cur < prev, -1).otherwise(0)


def _padded_sign(a: Column, b: Column) -> Column:
    """:func:`parity.engine.polars_engine._padded_sign`."""
    from pyspark.sql import functions as F

    def below_blank(longer: Column, shorter: Column) -> Column:
        rest = F.ltrim(F.substring(longer, F.length(shorter) + 1, 1 << 30))
        return F.substring(rest, 1, 1) < F.lit(" ")

    return (F.when(b.isNull() | (a == b), 0)
            .when(a.startswith(b), F.when(below_blank(a, b), -1).otherwise(1))
            .when(b.startswith(a), F.when(below_blank(b, a), 1).otherwise(-1))
            .when(a > b, 1).otherwise(-1))


def _adjacent(frame: DataFrame, position: str) -> DataFrame:
    """Each row with the previous row's columns (``prev#<name>``), paired by a join on positions (no window over
    one partition); the first row has no previous row and is left out, as polars' shift leaves it at 0."""
    from pyspark.sql import functions as F

    prev = frame.select(*[_c(n).alias(f"prev#{n}") for n in frame.columns])
    return frame.join(prev, F.col(position) == F.col(f"`prev#{position}`") + 1, "inner")


def _sort_violations(frame: DataFrame, sort_by: tuple[SortKey, ...], plans: list[ColumnPlan]) -> SortFacts:
    """:func:`parity.engine.polars_engine._sort_violations` and ``_violations`` in one."""
    from pyspark.sql import functions as F

    by_name = {p.name.casefold(): p for p in plans}
    names = set(frame.columns)
    pairs = _adjacent(frame, "#row")
    parts: list[Column] = []
    string_cols = {f.name for f in frame.schema.fields if f.dataType.typeName() == "string"}
    for key in sort_by:
        plan = by_name[key.column.casefold()]
        o = f"o{plan.idx}"
        cur, prev = _c(o), _c(f"prev#{o}")
        if o in string_cols:
            signs = [_padded_sign(cur, prev)]
        else:
            def rank(value: Column, tag: Column | None) -> Column:
                present = value.isNotNull()
                if tag is None:
                    return F.when(present, F.lit(28)).otherwise(F.lit(1))
                letter = F.conv(tag, 36, 10).cast("int") - F.lit(8)
                return (F.when(present, F.lit(28)).when(tag == F.lit("_"), F.lit(0)).when(tag.isNull(), F.lit(1))
                        .otherwise(letter))
            ot = f"ot{plan.idx}"
            has_tag = ot in names
            r_cur = rank(cur, _c(ot) if has_tag else None)
            r_prev = rank(prev, _c(f"prev#{ot}") if has_tag else None)
            signs = [_sign(r_cur, r_prev), _sign(F.coalesce(cur, F.lit(0.0)), F.coalesce(prev, F.lit(0.0)))]
        parts += [-sign if key.descending else sign for sign in signs]
    cmp: Column | None = None
    for part in reversed(parts):
        cmp = part if cmp is None else F.when(part != 0, part).otherwise(cmp)
    assert cmp is not None
    row = pairs.filter(cmp < 0).agg(F.count(F.lit(1)).alias("n"), F.min("#row").alias("first")).collect()[0]
    first = row["first"]
    return SortFacts(int(row["n"]), None if first is None else int(first) + 1)


def _dup_groups(frame: DataFrame, cols: list[str], names: list[str]) -> DupGroups:
    """The duplicated keys of one side (only they reach the driver, at most MAX_DUP_KEYS of them) under the SAS
    key column names, sorted by key (missing first), typed as on the polars engine."""
    from pyspark.sql import functions as F

    groups = (frame.groupBy(*[_c(c) for c in cols]).agg(F.count(F.lit(1)).alias(GROUP_ROWS))
              .filter(_c(GROUP_ROWS) > 1).limit(MAX_DUP_KEYS))
    found = pl.from_arrow(groups.toArrow())
    assert isinstance(found, pl.DataFrame)
    if found.height == 0:
        return DupGroups()
    types = _internal_types()
    found = found.with_columns(*[pl.col(c).cast(types(c)) for c in cols], pl.col(GROUP_ROWS).cast(pl.UInt32))
    found = found.rename(dict(zip(cols, names, strict=True)))
    return DupGroups(found.sort(names, nulls_last=False), tuple(names))


# --------------------------------------------------------------------------------------------------------------
# the comparison


class SparkEngine:
    """The Spark engine (:mod:`parity.engine.base`).  Its sides are :class:`SparkSide`\\ s (a SAS file read on the
    executors, a Spark-side output); any other Source is handed to Spark from the driver."""

    name = "spark"

    def __init__(self, spark: SparkSession | None = None, max_diff_rows: int = MAX_DIFF_ROWS) -> None:
        self.spark = spark
        self.max_diff_rows = max_diff_rows

    def compare(self, spec: DatasetSpec, sas: Source, py: Source, job: JobSpec | None = None) -> EngineResult:
        from parity.spark.session import get_session
        from parity.spark.sources import table_python_side

        spark = self.spark or get_session()
        sides: list[SparkSide] = []
        for side in (sas, py):
            if isinstance(side, SparkSide):
                sides.append(side)
                continue
            table = side if isinstance(side, Table) else Table(side.scan().collect(), list(side.columns), side.meta)
            sides.append(table_python_side(table))
        return _Run(spark, spec, sides[0], sides[1], job, self.max_diff_rows).result()


def compare_spark(spec: DatasetSpec, sas: SparkSide, py: SparkSide, job: JobSpec | None = None, *,
                  spark: SparkSession, max_diff_rows: int = MAX_DIFF_ROWS) -> EngineResult:
    """Compare one dataset on Spark (see the module docstring)."""
    return _Run(spark, spec, sas, py, job, max_diff_rows).result()


class _Run:
    def __init__(self, spark: SparkSession, spec: DatasetSpec, sas: SparkSide, py: SparkSide,
                 job: JobSpec | None, max_diff_rows: int) -> None:
        self.spark, self.spec, self.sas, self.py, self.job = spark, spec, sas, py, job
        self.max_diff_rows = max_diff_rows
        self.strict = spec.numbers.special_missing == "strict"

    def result(self) -> EngineResult:
        """The comparison; a side cached on the executors for its passes (a SAS file, read once) is released
        afterwards."""
        try:
            return self._result()
        finally:
            for side in (self.sas, self.py):
                if side.cached is not None:
                    side.cached.unpersist()
                    side.cached = None

    def _result(self) -> EngineResult:
        from pyspark.sql import functions as F

        from parity.spark.sources import to_spark

        spec, sas, py, strict = self.spec, self.sas, self.py, self.strict
        plans = plan_on_spark(spec, self.job, sas, py)
        key_fold = [k.casefold() for k in spec.keys]
        keys = sorted((p for p in plans if p.role == "key"), key=lambda p: key_fold.index(p.name.casefold()))
        for plan in keys:  # under "strict", .A, ._ and . are distinct key values (as in a SAS MERGE or BY)
            plan.has_tags = plan.has_tags and strict
        for side in (sas, py):
            if side.df is None:
                kinds = {(p.sas if side is sas else p.py).name: p.kind for p in plans  # type: ignore[union-attr]
                         if (p.sas if side is sas else p.py) is not None}
                side.df = to_spark(self.spark, side, kinds)
        out: dict[str, Any] = {"python_types": {c.name: str(py.dtypes[c.name]) for c in py.columns}}
        sas_df = _side(sas, plans, "sas", spec)
        py_df = _side(py, plans, "py", spec)
        s_keys = [k.s for k in keys] + [k.st for k in keys if k.has_tags]
        p_keys = [k.p for k in keys] + [k.pt for k in keys if k.has_tags]
        compare = [p for p in plans if p.role == "compare"]

        # 1. single-side passes: string lengths, BY order (sort_by, else key order), duplicate keys
        _string_lengths(out, sas, py, compare, Collation.of(spec.encoding or sas.meta.encoding).code_page)
        order = order_plan(spec, self.job, plans, keys, sas)
        keyorder: dict[str, SortFacts] = {}
        if order is not None:
            unencodable = {"sas": 0, "py": 0}
            for which, side in (("sas", sas), ("py", py)):
                frame, bad = _order_frame(side, which, order.plans, order.collation, order.spec_file, order.where)
                if bad is not None:
                    unencodable[which] = int(frame.agg(F.sum("`#bad`")).collect()[0][0] or 0)
                    frame = frame.drop("#bad")
                keyorder[which] = _sort_violations(frame, order.by, plans)
            if spec.sort_by:
                out["sort_violations"] = keyorder["py"]
                out["sas_sort_violations"] = keyorder["sas"]
            if order.strings:
                out["collation"] = collation_facts(order.collation, unencodable)
        dup_sas, dup_py = DupGroups(), DupGroups()
        if keys:
            dup_sas = _dup_groups(sas_df, s_keys, s_keys)
            dup_py = _dup_groups(py_df, p_keys, s_keys)
        dup = bool(dup_sas.keys or dup_py.keys)

        # 2. the join: by key (null-safe; duplicates paired by their rank within the key), else by position
        if keys:
            if dup:
                from pyspark.sql import Window

                sas_df = sas_df.withColumn(DUP, F.row_number().over(
                    Window.partitionBy(*[_c(k) for k in s_keys]).orderBy(_c(ROW_S))) - 1)
                py_df = py_df.withColumn(DUP + "p", F.row_number().over(
                    Window.partitionBy(*[_c(k) for k in p_keys]).orderBy(_c(ROW_P))) - 1)
            cond = [_c(s).eqNullSafe(_c(p)) for s, p in zip(s_keys, p_keys, strict=True)]
            if dup:
                cond.append(_c(DUP) == _c(DUP + "p"))
            joined = sas_df.join(py_df, reduce(lambda a, b: a & b, cond), "full")
            coalesced = [F.coalesce(_c(s), _c(p)).alias(s) for s, p in zip(s_keys, p_keys, strict=True)]
            if dup:
                coalesced.append(F.coalesce(_c(DUP), _c(DUP + "p")).alias(DUP))
            drop = set(s_keys) | set(p_keys) | ({DUP, DUP + "p"} if dup else set())
            joined = joined.select(*coalesced, *[_c(n) for n in joined.columns if n not in drop])
        else:
            joined = sas_df.join(py_df, _c(ROW_S) == _c(ROW_P), "full")

        # 3. every column compared under its rule; the polars engine's kept rows (unmatched, or any raw value
        #    differs) are what its largest differences are taken over, so they are here too
        matched = _c(ROW_S).isNotNull() & _c(ROW_P).isNotNull()
        raw_neq: list[Column] = []
        for plan in compare:
            differs = ~_c(plan.s).eqNullSafe(_c(plan.p))
            if plan.numeric:
                differs = differs | F.coalesce(sn.is_infinite(_c(plan.p)), F.lit(False))
                if plan.has_tags and strict:
                    differs = differs | ~_c(plan.st).eqNullSafe(_c(plan.pt))
            raw_neq.append(differs)
        strings = {c for p in compare if p.kind == "string" for c in (p.s, p.p)}
        normalised = [sn.normalize_string(_c(n), spec.strings).alias(n) for n in sorted(strings)]
        joined = joined.select(*[_c(n) for n in joined.columns if n not in strings], *normalised,
                               *[c.alias(f"#raw{i}") for i, c in enumerate(raw_neq)])
        kept = reduce(lambda a, b: a | b, [_c(f"#raw{i}") for i in range(len(raw_neq))], ~matched)
        neq_exprs = []
        for plan in compare:
            tags = (_c(plan.st), _c(plan.pt)) if plan.has_tags and strict and plan.kind != "string" else None
            equal = sn.column_equal(plan.kind, _c(plan.s), _c(plan.p), plan.tolerance, spec.numbers.nomissing,
                                    tags, spec.dates.datetime_precision)
            neq_exprs.append((matched & ~F.coalesce(equal, F.lit(False))).alias(plan.neq))
        joined = joined.select("*", *neq_exprs, kept.alias("#kept")).persist()
        try:
            only_sas, only_py, agg = _aggregate(joined, compare)
            n_matched = sas.rows - only_sas
            stats = column_stats(compare, agg, n_matched)
            # 4. the unequal and unmatched rows, in key order, to the driver (bounded)
            any_neq = reduce(lambda a, b: a | b, [_c(p.neq) for p in compare], F.lit(False))
            sort_cols = [ROW_S, ROW_P] if not keys else [*s_keys, *([DUP] if dup else [])]
            wanted = [n for n in joined.columns if not n.startswith("#raw") and n != "#kept"]
            diffs = (joined.filter(~matched | any_neq).select(*[_c(n) for n in wanted])
                     .orderBy(*[_c(c).asc_nulls_first() for c in sort_cols]).limit(self.max_diff_rows))
            kept_rows = _to_polars(diffs)
        finally:
            joined.unpersist()
        # 5. order of matched rows against the SAS output's own order (without sort_by)
        if keys and not spec.sort_by:
            out.update(_key_order(keyorder, sas_df, py_df, s_keys, p_keys, dup))
        return EngineResult(
            spec=spec, sas=sas, py=py, plans=tuple(plans), keys=tuple(keys), rows_sas=sas.rows, rows_py=py.rows,
            matched=n_matched, only_sas=only_sas, only_py=only_py, stats=stats, diffs=kept_rows, dup_sas=dup_sas,
            dup_py=dup_py, run_info={"engine": "spark", "master": self.spark.sparkContext.master}, **out)


def _aggregate(joined: DataFrame, compare: list[ColumnPlan]) -> tuple[int, int, dict[str, Any]]:
    """Rows only in one side, and per compared column its mismatches and (over the kept rows) its largest
    differences: one aggregation over the join."""
    from pyspark.sql import functions as F

    matched = _c(ROW_S).isNotNull() & _c(ROW_P).isNotNull()
    kept = _c("#kept")
    aggs = [F.sum(F.when(_c(ROW_P).isNull(), 1).otherwise(0)).alias("#only_sas"),
            F.sum(F.when(_c(ROW_S).isNull(), 1).otherwise(0)).alias("#only_py")]
    for plan in compare:
        aggs.append(F.sum(F.when(_c(plan.neq), 1).otherwise(0)).alias(f"#mm{plan.idx}"))
        if plan.numeric:
            s, p = _c(plan.s), _c(plan.p)
            both = kept & matched & s.isNotNull() & p.isNotNull() & sn.is_finite(p)
            diff, rel = sn.abs_rel_diff(s, p)
            aggs.append(F.max(F.when(both, diff)).alias(f"#abs{plan.idx}"))
            aggs.append(F.max(F.when(both & (s != F.lit(0)), rel)).alias(f"#rel{plan.idx}"))
    row = joined.agg(*aggs).collect()[0].asDict()
    return int(row["#only_sas"] or 0), int(row["#only_py"] or 0), row


def _internal_types() -> Any:
    """The polars type of an internal column of the kept rows, as the polars engine has it."""
    def of(name: str) -> pl.DataType:
        if name in (ROW_S, ROW_P, DUP):
            return pl.UInt32()
        if name.startswith("neq"):
            return pl.Boolean()
        return pl.String() if name.startswith(("st", "pt")) else pl.Float64()
    return of


def _to_polars(diffs: DataFrame) -> pl.DataFrame:
    """The unequal rows as the polars engine's kept rows (same names and types; strings stay strings)."""
    frame = pl.from_arrow(diffs.toArrow())
    assert isinstance(frame, pl.DataFrame)
    types = _internal_types()
    return frame.with_columns(pl.col(c).cast(pl.String if t == pl.String else types(c))
                              for c, t in frame.schema.items())


def _key_order(scanned: dict[str, SortFacts], sas_df: DataFrame, py_df: DataFrame, s_keys: list[str],
               p_keys: list[str], dup: bool) -> dict[str, Any]:
    """Order of matched rows against the SAS output's own order (the polars engine's step 5)."""
    from pyspark.sql import functions as F

    from parity.spark.sources import with_positions

    if scanned["sas"].violations == 0 and not dup:
        py_order = scanned["py"]
        return {"order_inversions": py_order.violations,
                "order_first": (None, py_order.first_row) if py_order.violations else None}
    on_s = [*s_keys, *([DUP] if dup else [])]
    on_p = [*p_keys, *([DUP + "p"] if dup else [])]
    cond = reduce(lambda a, b: a & b, [_c(s).eqNullSafe(_c(p)) for s, p in zip(on_s, on_p, strict=True)])
    pairs = sas_df.select(*[_c(c) for c in on_s], _c(ROW_S)).join(
        py_df.select(*[_c(c) for c in on_p], _c(ROW_P)), cond, "inner").select(ROW_S, ROW_P)
    ordered = with_positions(pairs.orderBy(ROW_S))
    adjacent = _adjacent(ordered, ROW)
    inv = (adjacent.filter(_c(ROW_P) < _c(f"prev#{ROW_P}"))
           .agg(F.count(F.lit(1)).alias("n"), F.min_by(_c(ROW_S), _c(ROW)).alias("s"),
                F.min_by(_c(ROW_P), _c(ROW)).alias("p")).collect()[0])
    n = int(inv["n"])
    return {"order_inversions": n, "order_first": (int(inv["s"]) + 1, int(inv["p"]) + 1) if n else None}
