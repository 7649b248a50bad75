"""The polars engine: two sources in, one :class:`~parity.engine.base.EngineResult` out.  Out of core.

It reads each side through :meth:`Source.scan` (a LazyFrame) and never needs a whole table in memory:

1. single-side aggregate passes, collected together on the streaming engine: row counts, string lengths, BY-order
   violations (row i against row i-1 in file order);
2. when the inputs are larger than the memory budget, each side is projected (keys normalised, numbers in SAS
   units, character values as 128-bit fingerprints) and written once as K parquet buckets by a hash of the key
   (by row number without keys), so that a key's rows on both sides land in the same bucket; small inputs are one
   bucket, never written;
3. per bucket: key uniqueness (and the duplicate groups), then one full join by key (duplicates paired by their
   order within the key, as PROC COMPARE does) that keeps only the rows that are unmatched or whose raw values
   differ;
4. on those rows only: the real strings are fetched back by row number, normalised under SAS rules, and every
   column is compared under its rule (PROC COMPARE METHOD=/CRITERION=, missing kinds) in one expression pass.

A pair whose raw values are identical is equal under every method and rule, so dropping it in step 3 loses
nothing but its difference of 0.  Peak memory follows one bucket and the kept differences, not the tables.
Measured by ``benchmarks/compare.py`` and ``benchmarks/end_to_end.py``.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import polars as pl

from parity.engine.base import DUP, GROUP_ROWS, ROW_P, ROW_S, ColumnStats, DupGroups, EngineResult, SortFacts
from parity.engine.core import ENGINE, abs_rel_diff, column_equal
from parity.engine.normalize import (
    CodePage,
    Collation,
    normalize_string,
    round_temporal,
    sas_byte_length,
    sas_units,
    truncate_expr,
    truncation_width,
)
from parity.engine.plan import ColumnPlan, order_plan, plan_columns_deferred, require_sort_order
from parity.errors import InputError
from parity.sources.base import LazySource, Source, Table, tag_column
from parity.spec import DatasetSpec, JobSpec, SortKey

Side = Literal["sas", "py"]
#: the memory one bucket of both sides may take, projected (bytes; PARITY_ENGINE_MEMORY overrides it: 512M, 2G)
MEMORY_BUDGET = 1 << 30
BUCKET = "bucket"


def _trace(stage: str, started: list[float]) -> None:
    """With PARITY_ENGINE_TRACE set: the seconds and peak RSS after each stage, on stderr (benchmarks)."""
    if os.environ.get("PARITY_ENGINE_TRACE"):
        import resource
        import sys
        import time

        now = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        print(f"parity engine: {stage}: {now - started[0]:.2f} s (CPU {cpu - started[1]:.2f} s), peak RSS "
              f"{usage.ru_maxrss / 1024:,.0f} MB", file=sys.stderr)
        started[0], started[1] = now, cpu


def _budget() -> int:
    text = os.environ.get("PARITY_ENGINE_MEMORY", "").strip().upper()
    if not text:
        return MEMORY_BUDGET
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
    try:
        return max(1, int(float(text.rstrip("KMGB") or "0") * scale))
    except ValueError:
        return MEMORY_BUDGET


class PolarsEngine:
    """The default engine.  ``buckets`` forces the number of buckets (tests); otherwise it follows the inputs'
    size and the memory budget (an in-memory :class:`Table` is never bucketed)."""

    name = "polars"

    def __init__(self, buckets: int | None = None, memory_budget: int | None = None,
                 workdir: Path | None = None) -> None:
        self.buckets = buckets
        self.memory_budget = memory_budget
        self.workdir = workdir

    def bucket_count(self, sas: Source, py: Source, plans: list[ColumnPlan]) -> int:
        if self.buckets is not None:
            return max(1, self.buckets)
        if isinstance(sas, Table) and isinstance(py, Table):
            return 1
        # the join's rows (:func:`_narrow`): row number, keys (numbers 8 bytes, strings ~24), fingerprint and flag
        per_row = 4 + 17 + sum(24 if p.kind == "string" else 9 for p in plans if p.role == "key")
        size = (sas.meta.rows + py.meta.rows) * per_row * 3  # a join holds about three times its inputs
        return max(1, math.ceil(size / (self.memory_budget or _budget())))

    def compare(self, spec: DatasetSpec, sas: Source, py: Source, job: JobSpec | None = None) -> EngineResult:
        try:
            return _Run(self, spec, sas, py, job).result()
        except (OSError, pl.exceptions.ComputeError) as exc:  # a file changed, vanished or is damaged mid-read
            for side in (py, sas):  # a folder's or glob's damaged file named (its footer was fine)
                found = side.damaged_file() if isinstance(side, LazySource) else None
                if found is not None:
                    raise InputError(f"{found[0]}: cannot read this file of {side.meta.source} ({found[1]}); the "
                                     "file is damaged: check that the port finished writing it") from None
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"dataset {spec.name!r}: reading {sas.meta.source} or {py.meta.source} failed while "
                             f"comparing ({type(exc).__name__}: {text}); check that both are complete and readable, "
                             "and that the temporary folder has room (PARITY_ENGINE_TMPDIR)") from None


# --------------------------------------------------------------------------------------------------------------
# projection: one side onto the internal column names, normalised to SAS units and rules


#: the row fingerprint (two 64-bit hashes of every compared raw value) and the flag of a row whose values need
#: the full comparison whatever its twin holds (NaN, infinities), per side
FINGERPRINT = {"sas": ("#sh0", "#sh1", "#sx"), "py": ("#ph0", "#ph1", "#px")}


def _column(plan: ColumnPlan, schema: pl.Schema, side: Side, spec: DatasetSpec, strict: bool,
            raw_strings: bool = False) -> list[pl.Expr]:
    """One key or compared column on one side, normalised to SAS units and rules, as ``plan.s`` (``plan.p``), and
    its special missing tag as ``plan.st`` (``plan.pt``) under strict rules.  ``raw_strings``: character values as
    stored (for the row fingerprint) instead of under the string rules."""
    info = plan.sas if side == "sas" else plan.py
    assert info is not None
    out = plan.s if side == "sas" else plan.p
    col = pl.col(info.name)
    dtype = schema[info.name]
    if plan.kind == "string":
        expr = col.cast(pl.String) if raw_strings and plan.role == "compare" else \
            normalize_string(col.cast(pl.String), spec.strings)
    else:
        if side == "sas" and info.type == "numeric":
            expr = col.cast(pl.Float64)
        else:
            expr = sas_units(col, dtype, plan.kind)
            width = truncation_width(plan.sas, plan.kind, dtype) if spec.numbers.storage == "truncate" else None
            if side == "py" and width:  # dates, datetimes and times too, in SAS units (LENGTH 7: ~0.1 ms)
                expr = truncate_expr(expr, width)
        if plan.role == "key":  # keys are matched exactly, so datetime and time keys are rounded first
            expr = round_temporal(expr, plan.kind, spec.dates)
    exprs = [expr.alias(out)]
    if plan.has_tags and strict:
        tag_name = tag_column(info.name)
        tag_expr = pl.col(tag_name) if tag_name in schema else pl.lit(None, dtype=pl.String)
        if plan.role == "key":  # a missing key's kind ('.', '_', 'A'-'Z') is part of the key, as in SAS
            tag_expr = pl.when(expr.is_null()).then(tag_expr.fill_null("."))
        exprs.append(tag_expr.alias(plan.st if side == "sas" else plan.pt))
    return exprs


def _narrow(lf: pl.LazyFrame, schema: pl.Schema, plans: list[ColumnPlan], side: Side, spec: DatasetSpec,
            strict: bool, row_index: bool = True) -> pl.LazyFrame:
    """One side as the join needs it: the row number, the normalised keys and a 128-bit fingerprint (two sums of
    the same 64-bit hashes) of the row's compared raw values (numbers in SAS units, character values as stored,
    special missing tags), so that the
    join carries about 30 bytes a row whatever the width of the table.  Rows whose fingerprints differ get their
    values back afterwards (:func:`_values`) and are compared under the rules.  Without ``row_index`` the caller
    numbers the rows of the collected frame (a row index in the query stops polars from sharing the scan with
    the first pass's aggregates)."""
    row = ROW_S if side == "sas" else ROW_P
    keys = [e for p in plans if p.role == "key" for e in _column(p, schema, side, spec, strict)]
    values = [e for p in plans if p.role == "compare"
              for e in _hashed(p, _column(p, schema, side, spec, strict, True))]
    h0, h1, force = FINGERPRINT[side]
    exprs = list(keys)
    if values:
        # each value hashed once (64 bits, its own seed), the hashes summed twice with two sets of odd multipliers
        # (wrapping): h0 and h1 differ for rows whose values' hashes differ in any way but one in 2**64 per sum
        # (a struct hash costs ten times more on wide rows).  A difference goes unseen only if a column's two
        # values have the same 64-bit hash (a chance of about 5e-20 for a pair of values); a second hash of every
        # value for h1 cost about 0.5 CPU s a side at 5M rows x 17 columns.  The multipliers are UInt64 literals: a
        # plain integer literal above 2**31 made polars take a path about twice as slow.
        if row_index:  # several buckets, streamed out: each sum hashes the values (hash columns of their own
            # held about 0.5 GB more while the buckets were written at 30M rows)
            hashes = [e.hash(seed=i) for i, e in enumerate(values)]
        else:  # one bucket: each hash computed once, as a column of its own (the streaming engine does not share
            # common subexpressions); the same values either way
            lf = lf.with_columns(e.hash(seed=i).alias(f"\x1fparity_fp{i}") for i, e in enumerate(values))
            hashes = [pl.col(f"\x1fparity_fp{i}") for i in range(len(values))]
        exprs += [pl.sum_horizontal([h * _u64(2 * i + 1) for i, h in enumerate(hashes)]).alias(h0),
                  pl.sum_horizontal([h * _u64(2 * i + 0x9E3779B1) for i, h in enumerate(hashes)]).alias(h1)]
        # a NaN (SAS side) or an infinity (Python side) is unequal whatever the other side holds: never skipped
        numbers = [e for p in plans if p.role == "compare" and p.numeric
                   for e in _column(p, schema, side, spec, strict)[:1]]
        flags = [(e.is_nan() | (e.is_infinite() if side == "py" else pl.lit(False))).fill_null(False)
                 for e in numbers]
        exprs.append((pl.any_horizontal(flags) if flags else pl.lit(False)).alias(force))
    return lf.select(exprs) if exprs and not row_index else lf.with_row_index(row).select([pl.col(row), *exprs])


def _hashed(plan: ColumnPlan, exprs: list[pl.Expr]) -> list[pl.Expr]:
    """A compared column's fingerprinted expressions (its value, and its tag under strict rules) as they are hashed.

    polars hashes a missing value as the hash of a number it derives from the seed (``hash(hash(3188347919))``),
    and a double as its bits: the double with the bits of ``hash(3188347919)`` hashes as a missing value does, and
    a row holding it on one side and a missing value on the other would never be compared.  A number's missing
    value is hashed as a NaN instead (the bits of no other double; a SAS side's NaN is compared whatever its twin
    holds, a Python side's NaN is already the missing value)."""
    value, *tags = exprs
    return [value if plan.kind == "string" else value.fill_null(float("nan")), *tags]


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


def _values(rows: pl.LazyFrame, schema: pl.Schema, plans: list[ColumnPlan], side: Side, spec: DatasetSpec,
            strict: bool) -> pl.LazyFrame:
    """The compared values of one side's ``rows`` (already picked, with their row number), normalised."""
    row = ROW_S if side == "sas" else ROW_P
    values = [e for p in plans if p.role == "compare" for e in _column(p, schema, side, spec, strict)]
    return rows.select([pl.col(row), *values])


def _order_frame(lf: pl.LazyFrame, schema: pl.Schema, side: Side, columns: list[ColumnPlan],
                 mappings: dict[int, dict[str, str]], spec_file: Path, where: str) -> pl.LazyFrame:
    """One side's BY values, raw (SAS sorts stored values: no strip, no case folding), as ``o<i>`` columns, with
    special missing tags as ``ot<i>``; character values as collation strings of the SAS file's encoding."""
    exprs: list[pl.Expr] = []
    for plan in columns:
        info = plan.sas if side == "sas" else plan.py
        assert info is not None
        dtype = schema[info.name]
        col = pl.col(info.name)
        if dtype == pl.String:
            # SAS compares blank-padded values: trailing blanks never count, a missing value is all blanks
            mapping = mappings.get(plan.idx) or {}
            expr = col.str.strip_chars_end(" ").fill_null("")
            if mapping:
                expr = expr.replace(list(mapping), list(mapping.values()))
            exprs.append(expr.alias(f"o{plan.idx}"))
            continue
        require_sort_order(dtype, info, spec_file, where)
        kind = plan.kind if plan.kind != "string" else "numeric"
        exprs.append(sas_units(col, dtype, kind).alias(f"o{plan.idx}"))
        if tag_column(info.name) in schema:
            exprs.append(pl.col(tag_column(info.name)).alias(f"ot{plan.idx}"))
    row = ROW_S if side == "sas" else ROW_P
    return lf.with_row_index(row).select([pl.col(row), *exprs])


def _sign(cur: pl.Expr, prev: pl.Expr) -> pl.Expr:
    return pl.when(cur > prev).then(1).when(cur < prev).then(-1).otherwise(0)


def _padded_sign(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Compare a with b as SAS compares character values: blank-padded to a common length (so 'a\t' < 'a',
    the tab being below the pad blank).  ``a`` and ``b`` carry no trailing blanks."""
    def below_blank(longer: pl.Expr, shorter: pl.Expr) -> pl.Expr:  # the longer value's first non-blank extra
        return longer.str.slice(shorter.str.len_chars()).str.strip_chars_start(" ").str.slice(0, 1) < " "

    return (pl.when(b.is_null() | (a == b)).then(0)
            .when(a.str.starts_with(b)).then(pl.when(below_blank(a, b)).then(-1).otherwise(1))
            .when(b.str.starts_with(a)).then(pl.when(below_blank(b, a)).then(1).otherwise(-1))
            .when(a > b).then(1).otherwise(-1))


def _sort_violations(frame: pl.LazyFrame, sort_by: tuple[SortKey, ...], plans: list[ColumnPlan],
                     side: Side) -> pl.LazyFrame:
    """Count adjacent pairs that break SAS BY order (missing lowest; DESCENDING reverses) in an order frame."""
    by_name = {p.name.casefold(): p for p in plans}
    schema = frame.collect_schema()
    cmp: pl.Expr | None = None
    parts: list[pl.Expr] = []
    for key in sort_by:
        plan = by_name[key.column.casefold()]
        col = pl.col(f"o{plan.idx}")
        if schema[f"o{plan.idx}"] == pl.String:
            signs = [_padded_sign(col, col.shift(1))]
        else:  # ._ < . < .A-.Z < numbers
            present = col.is_not_null()
            rank: pl.Expr = pl.when(present).then(pl.lit(28)).otherwise(pl.lit(1))
            if f"ot{plan.idx}" in schema:
                tag = pl.col(f"ot{plan.idx}")
                rank = (pl.when(present).then(pl.lit(28)).when(tag == "_").then(pl.lit(0)).when(tag.is_null())
                        .then(pl.lit(1)).otherwise(tag.str.to_integer(base=36, strict=False) - 8))  # 'A' -> 2
            value = col.fill_null(0.0)
            signs = [_sign(rank, rank.shift(1)), _sign(value, value.shift(1))]
        parts += [-sign if key.descending else sign for sign in signs]
    for part in reversed(parts):
        cmp = part if cmp is None else pl.when(part != 0).then(part).otherwise(cmp)
    assert cmp is not None
    row = ROW_S if side == "sas" else ROW_P
    bad = frame.select(pl.col(row), cmp.alias("#cmp")).filter(pl.col("#cmp") < 0)
    return bad.select(pl.len().alias("violations"), pl.col(row).first().alias("first_row"))


def _violations(frame: pl.DataFrame) -> SortFacts:
    row = frame.row(0, named=True)
    first = row["first_row"]
    return SortFacts(int(row["violations"]), None if first is None else int(first) + 1)


def _n_unique(cols: list[str]) -> pl.Expr:
    return pl.col(cols[0]).n_unique() if len(cols) == 1 else pl.struct(cols).n_unique()


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def collation_facts(collation: Collation, unencodable: dict[str, int]) -> dict[str, Any]:
    """How character BY values were collated, for the report (every engine's one wording)."""
    out: dict[str, Any] = {"encoding": collation.encoding, "unencodable_values": unencodable}
    if collation.note:
        out["note"] = collation.note
    if unencodable["sas"] or unencodable["py"]:
        out["note"] = (f"{unencodable['sas'] + unencodable['py']:,} character values hold characters that "
                       f"{collation.encoding} cannot encode: they were sorted after every encodable character")
    return out


def column_stats(compare: list[ColumnPlan], agg: Mapping[str, Any], matched: int) -> dict[str, ColumnStats]:
    """Each compared column's stats from the aggregates over the kept rows (``#mm<i>`` mismatches, ``#abs<i>``
    and ``#rel<i>`` largest differences): every engine's one rule."""
    stats: dict[str, ColumnStats] = {}
    for plan in compare:
        max_abs = _num(agg.get(f"#abs{plan.idx}"))
        max_rel = _num(agg.get(f"#rel{plan.idx}"))
        if max_abs is None and plan.numeric and matched:
            # no kept pair had two values: the matched pairs not in `kept` are identical, a difference of 0
            max_abs = max_rel = 0.0
        stats[plan.name] = ColumnStats(compared=matched, mismatches=int(agg[f"#mm{plan.idx}"] or 0),
                                       max_abs_diff=max_abs, max_rel_diff=max_rel)
    return stats


def _string_length_queries(s_lf: pl.LazyFrame, p_lf: pl.LazyFrame, compare: list[ColumnPlan],
                           page: CodePage | None) -> dict[str, pl.LazyFrame]:
    """Python strings longer than the SAS column (truncation risk) and SAS values that fill their length, in bytes
    of the SAS file's encoding (``page``; None: UTF-8), and Python values holding characters it cannot write."""
    s_exprs, p_exprs = [], []
    ratio = page.utf8_ratio if page else 1
    for plan in compare:
        if plan.kind != "string" or not plan.sas or not plan.py or not plan.sas.length:
            continue
        width = plan.sas.length
        # trailing blanks are stripped and lengths measured only for values long enough in UTF-8 bytes (times the
        # encoding's ratio) before stripping (the few that can count): stripping every value copies every string.
        # ``max_bytes`` is only read when ``count`` > 0, when the longest value is among those
        s_col = pl.col(plan.sas.name)
        s_len = sas_byte_length(s_col.filter(s_col.str.len_bytes() * ratio >= width).str.strip_chars_end(" "), page)
        s_exprs.append((s_len >= width).sum().alias(plan.name))
        p_col = pl.col(plan.py.name).cast(pl.String)
        p_len = sas_byte_length(p_col.filter(p_col.str.len_bytes() * ratio > width).str.strip_chars_end(" "), page)
        bad = pl.lit(0, pl.UInt32)
        if page:  # only non-ASCII values can hold a character the encoding lacks (when it writes all of ASCII)
            maybe = p_col.filter(p_col.str.len_bytes() != p_col.str.len_chars()) if page.ascii else p_col
            bad = maybe.str.contains(page.unencodable).sum()
        p_exprs.append(pl.struct((p_len > width).sum().alias("count"), p_len.max().alias("max_bytes"),
                                 bad.alias("unencodable")).alias(plan.name))
    if not s_exprs:
        return {}
    return {"len_sas": s_lf.select(s_exprs), "len_py": p_lf.select(p_exprs)}


def long_string_facts(width: int, count: int, max_bytes: int | None, unencodable: int) -> dict[str, int] | None:
    """One column's entry of ``python_long_strings`` (every engine's one shape), or None when it has nothing."""
    if not count and not unencodable:
        return None
    return {"count": count, "max_bytes": int(max_bytes or 0) if count else 0, "sas_length": width,
            "unencodable": unencodable}


def _bucket_hash(cols: list[str], schema: pl.Schema, k: int) -> pl.Expr:
    """A bucket number from the normalised key columns, equal on both sides for equal keys (-0.0 is 0.0, as in
    the join)."""
    fields = []
    for i, name in enumerate(cols):
        col = pl.col(name)
        if schema[name].is_float():
            col = pl.when(col == 0).then(pl.lit(0.0)).otherwise(col)
        fields.append(col.alias(str(i)))
    return (pl.struct(fields).hash(seed=20240601) % k).cast(pl.UInt32)


# --------------------------------------------------------------------------------------------------------------
# one dataset's run


class _Run:
    def __init__(self, engine: PolarsEngine, spec: DatasetSpec, sas: Source, py: Source,
                 job: JobSpec | None) -> None:
        self.engine, self.spec, self.sas, self.py, self.job = engine, spec, sas, py, job
        self.strict = spec.numbers.special_missing == "strict"
        self.schemas: dict[Side, pl.Schema] = {}
        self.k = 1

    def result(self) -> EngineResult:
        import time

        spec, sas, py = self.spec, self.sas, self.py
        clock = [time.perf_counter(), 0.0]
        _trace("start", clock)
        plans, facts = plan_columns_deferred(spec, self.job, sas, py)
        key_fold = [k.casefold() for k in spec.keys]
        keys = sorted((p for p in plans if p.role == "key"), key=lambda p: key_fold.index(p.name.casefold()))
        for plan in keys:  # under "strict", .A, ._ and . are distinct key values (as in a SAS MERGE or BY)
            plan.has_tags = plan.has_tags and self.strict
        # every query starts from a fresh scan: a scan whose schema was resolved made the streaming engine hold
        # the whole file in a later query (polars 1.44), so schemas come from scans of their own
        s_schema, p_schema = sas.scan().collect_schema(), py.scan().collect_schema()
        self.schemas = {"sas": s_schema, "py": p_schema}
        k = self.engine.bucket_count(sas, py, plans)
        # one bucket: the narrow rows are numbered once collected, so that they share their scans with the first
        # pass (one read of a parquet side instead of two)
        sas_proj = _narrow(sas.scan(), s_schema, plans, "sas", spec, self.strict, row_index=k > 1)
        py_proj = _narrow(py.scan(), p_schema, plans, "py", spec, self.strict, row_index=k > 1)
        narrow_schemas = (_narrow(sas.scan(), s_schema, plans, "sas", spec, self.strict).collect_schema(),
                          _narrow(py.scan(), p_schema, plans, "py", spec, self.strict).collect_schema())
        s_keys = [k.s for k in keys] + [k.st for k in keys if k.has_tags]
        p_keys = [k.p for k in keys] + [k.pt for k in keys if k.has_tags]
        compare = [p for p in plans if p.role == "compare"]
        out: dict[str, Any] = {"python_types": {name: str(dtype) for name, dtype in p_schema.items()
                                                if name in {c.name for c in py.columns}}}

        # 1. single-side passes: the plans' value facts, row counts and string lengths (one collect_all, sharing
        #    the scans), the sort order (BY columns only), and the join's narrow rows (kept in memory for one
        #    bucket, else written out as buckets)
        scans: dict[str, pl.LazyFrame] = {} if k == 1 else {"rows_sas": sas.scan().select(pl.len()),
                                                             "rows_py": py.scan().select(pl.len())}
        scans.update({f"#facts{i}": q for i, q in enumerate(facts.queries)})
        page = Collation.of(spec.encoding or sas.meta.encoding).code_page
        scans.update(_string_length_queries(sas.scan(), py.scan(), compare, page))
        order = order_plan(spec, self.job, plans, keys, sas)  # without sort_by: is each side in key order?
        if order is not None:
            mappings, unencodable = self._collations(order.collation, order.plans)
            s_order = _order_frame(sas.scan(), s_schema, "sas", order.plans, mappings["sas"], order.spec_file,
                                   order.where)
            p_order = _order_frame(py.scan(), p_schema, "py", order.plans, mappings["py"], order.spec_file,
                                   order.where)
            name = "sort" if spec.sort_by else "keyorder"
            # on their own: a shift falls back to the in-memory engine, which in a shared pass would hold every
            # column of the scan; alone it reads the BY columns only
            s_bad, p_bad = pl.collect_all([_sort_violations(s_order, order.by, plans, "sas"),
                                           _sort_violations(p_order, order.by, plans, "py")], engine=ENGINE)
            _trace("sort order", clock)
            scans[f"{name}_sas"], scans[f"{name}_py"] = s_bad.lazy(), p_bad.lazy()
            if order.strings:
                out["collation"] = collation_facts(order.collation, unencodable)
        self.k = k
        with self._workdir(k) as tmp:
            if tmp is None:
                # one pass: the narrow rows (no row index in the query: with one, polars reads the scan once for
                # them and again for the aggregates) and the aggregates, each scan read once
                s_narrow, p_narrow, *rest = pl.collect_all([sas_proj, py_proj, *scans.values()], engine=ENGINE)
                narrow = [s_narrow if ROW_S in s_narrow.columns else s_narrow.with_row_index(ROW_S),
                          p_narrow if ROW_P in p_narrow.columns else p_narrow.with_row_index(ROW_P)]
                scanned = dict(zip(scans, rest, strict=True))
                scanned["rows_sas"] = pl.DataFrame({"len": [s_narrow.height]})
                scanned["rows_py"] = pl.DataFrame({"len": [p_narrow.height]})
                del s_narrow, p_narrow, rest
            else:
                # the narrow rows in passes of their own: sharing a scan with the aggregates made polars hold all
                # of it (and, with a row index, fail to plan)
                self._sink(sas_proj, narrow_schemas[0], Path(tmp) / "sas", s_keys, k).collect(engine=ENGINE)
                self._sink(py_proj, narrow_schemas[1], Path(tmp) / "py", p_keys, k).collect(engine=ENGINE)
                _trace(f"{k} buckets written", clock)
                scanned = dict(zip(scans, pl.collect_all(list(scans.values()), engine=ENGINE), strict=True))
            facts.apply([scanned[f"#facts{i}"] for i in range(len(facts.queries))])
            _trace(f"first pass ({k} bucket{'s' if k > 1 else ''})", clock)
            if tmp is None:
                buckets = [(narrow[0].lazy(), narrow[1].lazy())]
                del narrow  # the bucket's frames, replaced in place when sorted for a merge join
            else:
                buckets = self._bucket_scans(Path(tmp), k, *narrow_schemas)
            result = self._rest(spec, plans, keys, s_keys, p_keys, compare, scanned, buckets, out, clock)
        return result

    def _rest(self, spec: DatasetSpec, plans: list[ColumnPlan], keys: list[ColumnPlan], s_keys: list[str],
              p_keys: list[str], compare: list[ColumnPlan], scanned: dict[str, pl.DataFrame],
              buckets: list[tuple[pl.LazyFrame, pl.LazyFrame]], out: dict[str, Any],
              clock: list[float]) -> EngineResult:
        sas, py = self.sas, self.py
        rows_sas, rows_py = int(scanned["rows_sas"].item()), int(scanned["rows_py"].item())
        if spec.sort_by:
            out["sort_violations"] = _violations(scanned["sort_py"])
            out["sas_sort_violations"] = _violations(scanned["sort_sas"])
        if "len_sas" in scanned:
            lengths = {p.name: p.sas.length for p in compare if p.sas}
            out["sas_full_strings"] = {c: int(v) for c, v in scanned["len_sas"].row(0, named=True).items() if v}
            facts = {c: long_string_facts(lengths[c] or 0, int(v["count"]), v["max_bytes"], int(v["unencodable"]))
                     for c, v in scanned["len_py"].row(0, named=True).items()}
            out["python_long_strings"] = {c: v for c, v in facts.items() if v}
        # without sort_by: are matched rows in the SAS output's own order?  Cheap when both sides are in key order
        need_pairs = False
        if keys and not spec.sort_by:
            need_pairs = _violations(scanned["keyorder_sas"]).violations != 0

        if self.k == 1 and len(s_keys) == 1:  # sorted first: a sorted key's distinct values are counted at once
            buckets[0] = _merge_ready(*buckets[0], s_keys[0], p_keys[0])
            _trace("sorted for a merge join", clock)
        # 2. duplicates: grouped only when a side has any (a key's rows are all in one bucket)
        s_groups: list[pl.DataFrame] = []
        p_groups: list[pl.DataFrame] = []
        if keys:
            for s_b, p_b in buckets:
                s_u, p_u = pl.collect_all([s_b.select(_n_unique(s_keys), pl.len()),
                                           p_b.select(_n_unique(p_keys), pl.len())],
                                          engine="in-memory" if self.k == 1 else ENGINE)  # in memory: 3x faster
                if s_u.item(0, 0) < s_u.item(0, 1) or p_u.item(0, 0) < p_u.item(0, 1):
                    s_one, p_one = self._groups(s_b, p_b, s_keys, p_keys)
                    s_groups.append(s_one)
                    p_groups.append(p_one)
        dup_sas = _dup_groups(s_groups, s_keys, s_keys)
        dup_py = _dup_groups(p_groups, p_keys, s_keys)
        dups = bool(dup_sas.keys or dup_py.keys)
        _trace("duplicates", clock)
        need_pairs = need_pairs or (bool(keys) and not spec.sort_by and dups)

        # 3. per bucket: one join keeping only the rows unmatched or whose fingerprints differ (by merging when
        #    sorted above and the keys are unique)
        parts: list[pl.DataFrame] = []
        pairs: list[pl.DataFrame] = []
        for s_b, p_b in buckets:
            kept_b, pairs_b = self._join(s_b, p_b, keys, s_keys, p_keys, compare, dups, need_pairs)
            parts.append(kept_b)
            if pairs_b is not None:
                pairs.append(pairs_b)
        kept = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
        del parts
        _trace(f"join ({kept.height:,} rows kept)", clock)

        # 4. on the kept rows: the real strings, then every column compared under its rule
        kept = self._fetch_values(kept, plans)
        _trace("values fetched", clock)
        matched = pl.col(ROW_S).is_not_null() & pl.col(ROW_P).is_not_null()
        neq_exprs = [(matched & ~column_equal(p, spec).fill_null(False)).alias(p.neq) for p in compare]
        any_neq = pl.any_horizontal([pl.col(p.neq) for p in compare]) if compare else pl.lit(False)
        kept = kept.with_columns(neq_exprs)
        only = kept.select(pl.col(ROW_P).is_null().sum().alias("sas"), pl.col(ROW_S).is_null().sum().alias("py"))
        only_sas, only_py = (int(v) for v in only.row(0))
        n_matched = rows_sas - only_sas
        aggs: list[pl.Expr] = []
        for plan in compare:
            aggs.append(pl.col(plan.neq).sum().alias(f"#mm{plan.idx}"))
            if plan.numeric:
                both = (matched & pl.col(plan.s).is_not_null() & pl.col(plan.p).is_not_null()
                        & pl.col(plan.p).is_finite())
                diff, rel = abs_rel_diff(pl.col(plan.s), pl.col(plan.p))
                aggs.append(pl.when(both).then(diff).max().alias(f"#abs{plan.idx}"))
                aggs.append(pl.when(both & (pl.col(plan.s) != 0)).then(rel).max().alias(f"#rel{plan.idx}"))
        stats = column_stats(compare, kept.select(aggs).row(0, named=True) if aggs else {}, n_matched)
        # diffs = kept.filter(...).sort(...), gathered one column at a time and releasing kept's columns as it
        # goes: when every row differs, filtering and sorting whole frames held three copies of them at once
        sort_cols = [ROW_S, ROW_P] if not keys else [*s_keys, *([DUP] if DUP in kept.columns else [])]
        order = (kept.lazy().with_row_index("#i").filter(~matched | any_neq).sort(sort_cols, nulls_last=False)
                 .select("#i").collect().to_series())
        columns = kept.get_columns()
        del kept
        for i in range(len(columns)):
            columns[i] = columns[i].gather(order)
        diffs = pl.DataFrame(columns)
        del columns, order

        _trace("compared", clock)
        # 5. order of matched rows against the SAS output's own order (without sort_by)
        if keys and not spec.sort_by:
            if not need_pairs:
                py_order = _violations(scanned["keyorder_py"])
                out["order_inversions"] = py_order.violations
                out["order_first"] = (None, py_order.first_row) if py_order.violations else None
            else:  # the SAS output is in some other order: compare positions through a join of keys only
                both_rows = pl.concat(pairs).lazy() if pairs else pl.LazyFrame(schema={ROW_S: pl.UInt32,
                                                                                       ROW_P: pl.UInt32})
                inv = both_rows.sort(ROW_S).filter(pl.col(ROW_P).cast(pl.Int64).diff() < 0).select(
                    pl.len().alias("#inv"), pl.col(ROW_S).first().alias("#s"), pl.col(ROW_P).first().alias("#p")
                ).collect().row(0, named=True)
                out["order_inversions"] = int(inv["#inv"])
                out["order_first"] = (int(inv["#s"]) + 1, int(inv["#p"]) + 1) if inv["#inv"] else None
        _trace("order", clock)
        return EngineResult(
            spec=spec, sas=sas, py=py, plans=tuple(plans), keys=tuple(keys), rows_sas=rows_sas, rows_py=rows_py,
            matched=n_matched, only_sas=only_sas, only_py=only_py, stats=stats, diffs=diffs,
            dup_sas=dup_sas, dup_py=dup_py, run_info={"engine": "polars", "buckets": self.k}, **out,
        )

    # ----------------------------------------------------------------------------------------------------------

    def _collations(self, collation: Collation, order_plans: list[ColumnPlan]
                    ) -> tuple[dict[Side, dict[int, dict[str, str]]], dict[str, int]]:
        """Per side and character BY column, the collation strings of its values (one pass for all)."""
        queries: list[tuple[Side, int, pl.LazyFrame]] = []
        sides: tuple[Side, ...] = ("sas", "py")
        for side in sides:
            schema = self.schemas[side]
            for plan in order_plans:
                info = plan.sas if side == "sas" else plan.py
                assert info is not None
                if schema[info.name] == pl.String:
                    query = collation.value_counts(self._scan(side), info.name)
                    if query is not None:
                        queries.append((side, plan.idx, query))
        mappings: dict[Side, dict[int, dict[str, str]]] = {"sas": {}, "py": {}}
        unencodable = {"sas": 0, "py": 0}
        counts = pl.collect_all([q for _, _, q in queries], engine=ENGINE) if queries else []
        for (side, idx, _), frame in zip(queries, counts, strict=True):
            mappings[side][idx], bad = collation.mapping(frame)
            unencodable[side] += bad
        return mappings, unencodable

    def _scan(self, side: Side) -> pl.LazyFrame:
        return (self.sas if side == "sas" else self.py).scan()

    def _workdir(self, k: int) -> contextlib.AbstractContextManager[str | None]:
        """A temporary folder for the buckets (removed afterwards), or None for one bucket."""
        if k == 1:
            return contextlib.nullcontext()
        base = self.engine.workdir or os.environ.get("PARITY_ENGINE_TMPDIR") or None
        return tempfile.TemporaryDirectory(prefix="parity-buckets-", dir=base)

    @staticmethod
    def _sink(proj: pl.LazyFrame, schema: pl.Schema, folder: Path, keys: list[str], k: int) -> pl.LazyFrame:
        """Write one side's narrow rows as ``k`` Arrow IPC buckets by a hash of the key (by row without keys)."""
        bucket = _bucket_hash(keys, schema, k) if keys else (pl.col(next(iter(schema))) % k).cast(pl.UInt32)
        sink = proj.with_columns(bucket.alias(BUCKET)).sink_ipc(
            pl.PartitionBy(folder, key=BUCKET, include_key=False), mkdir=True, lazy=True)
        assert sink is not None
        return sink

    @staticmethod
    def _bucket_scans(tmp: Path, k: int, s_schema: pl.Schema,
                      p_schema: pl.Schema) -> list[tuple[pl.LazyFrame, pl.LazyFrame]]:
        sides = []
        for name, schema in (("sas", s_schema), ("py", p_schema)):
            folder = tmp / name
            sides.append([pl.scan_ipc(folder / f"{BUCKET}={i}" / "*.ipc") if (folder / f"{BUCKET}={i}").is_dir()
                          else pl.LazyFrame(schema=schema) for i in range(k)])
        return list(zip(sides[0], sides[1], strict=True))

    def _groups(self, s_lf: pl.LazyFrame, p_lf: pl.LazyFrame, s_keys: list[str],
                p_keys: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
        s_groups = s_lf.group_by(s_keys).agg(pl.len().alias(GROUP_ROWS)).filter(pl.col(GROUP_ROWS) > 1)
        p_groups = p_lf.group_by(p_keys).agg(pl.len().alias(GROUP_ROWS)).filter(pl.col(GROUP_ROWS) > 1)
        s_dups, p_dups = pl.collect_all([s_groups, p_groups])
        return s_dups, p_dups

    def _join(self, s_b: pl.LazyFrame, p_b: pl.LazyFrame, keys: list[ColumnPlan], s_keys: list[str],
              p_keys: list[str], compare: list[ColumnPlan], dups: bool,
              need_pairs: bool) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """One bucket's rows unmatched or with raw values that differ, and (when needed) its matched row pairs."""
        on = list(s_keys)
        pairs = None
        if keys:
            if dups:  # pair duplicates by their order within the key, as PROC COMPARE does (no cartesian product)
                rank = pl.int_range(pl.len(), dtype=pl.UInt32)
                s_b = s_b.with_columns(rank.over(s_keys, order_by=ROW_S).alias(DUP))
                p_b = p_b.with_columns(rank.over(p_keys, order_by=ROW_P).alias(DUP))
                on.append(DUP)
            p_b = p_b.rename(dict(zip(p_keys, s_keys, strict=True)))
            joined = s_b.join(p_b, on=on, how="full", coalesce=True, nulls_equal=True, maintain_order="none")
            if need_pairs:
                pairs = (s_b.select([*on, ROW_S]).join(p_b.select([*on, ROW_P]), on=on, how="inner",
                                                       nulls_equal=True)
                         .select(ROW_S, ROW_P).collect(engine=ENGINE))
        else:
            joined = s_b.join(p_b, left_on=ROW_S, right_on=ROW_P, how="full", coalesce=False,
                              maintain_order="none")
        matched = pl.col(ROW_S).is_not_null() & pl.col(ROW_P).is_not_null()
        # raw inequality first: a pair whose raw values (and special missing tags) are identical is equal under
        # every method and rule, so only the other rows get the full comparison
        if compare:
            (sh0, sh1, sx), (ph0, ph1, px) = FINGERPRINT["sas"], FINGERPRINT["py"]
            differ = ((pl.col(sh0) != pl.col(ph0)) | (pl.col(sh1) != pl.col(ph1)) | pl.col(sx) | pl.col(px))
            candidates = joined.filter(~matched | differ).drop(sh0, sh1, sx, ph0, ph1, px)
        else:
            candidates = joined.filter(~matched)
        return candidates.collect(engine=ENGINE), pairs

    def _fetch_values(self, kept: pl.DataFrame, plans: list[ColumnPlan]) -> pl.DataFrame:
        """The compared values of the rows kept, by row number: gathered from a side in memory, else one pass over
        the side keeping those rows."""
        sides: tuple[tuple[str, Side], ...] = ((ROW_S, "sas"), (ROW_P, "py"))
        for row, side in sides:
            if not any(p.role == "compare" for p in plans):
                break
            wanted = kept.get_column(row).drop_nulls()
            scan = self._scan(side)
            frame = _frame_of(scan)
            if frame is not None:
                rows = frame[wanted].lazy().with_columns(wanted.alias(row))
            elif wanted.len():  # picked before the values are computed (a filter after them held the scan)
                rows = scan.with_row_index(row).filter(pl.col(row).is_in(wanted.implode()))
            else:
                rows = scan.with_row_index(row).clear()
            found = _values(rows, self.schemas[side], plans, side, self.spec, self.strict).collect(engine=ENGINE)
            kept = kept.join(found, on=row, how="left", maintain_order="left")
        return kept


def _frame_of(scan: pl.LazyFrame) -> pl.DataFrame | None:
    """The DataFrame a scan reads when it is one in memory (nothing to read: its rows can be gathered)."""
    plan = scan.explain(optimized=False)
    return scan.collect(engine="in-memory") if plan.startswith("DF [") and "\n" not in plan.strip() else None


def _merge_ready(s_lf: pl.LazyFrame, p_lf: pl.LazyFrame, s_key: str,
                 p_key: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """One bucket in memory, its sides sorted by their one key and flagged so, when one side is in key order
    already (SAS outputs usually are): polars then joins them by merging when the keys are unique, which costs a
    fraction of a hash join even with the other side sorted first (duplicated keys are paired by a hash join on
    the key and the rank within it, sorted or not).  Not when a key is missing, NaN or zero (a merge might tell
    -0.0 from 0.0, the hash join does not): the sides are returned as they are."""
    s, p = s_lf.collect(engine="in-memory"), p_lf.collect(engine="in-memory")
    ks, kp = s.get_column(s_key), p.get_column(p_key)
    if ks.dtype != kp.dtype or ks.dtype not in (pl.Float64, pl.String) or ks.null_count() or kp.null_count():
        return s_lf, p_lf
    if ks.dtype == pl.Float64 and any(k.is_nan().any() or (k == 0).any() for k in (ks, kp)):
        return s_lf, p_lf
    s_sorted, p_sorted = ks.is_sorted(), kp.is_sorted()
    if not s_sorted and not p_sorted:  # two sorts cost more than the hash join
        return s_lf, p_lf
    s = s.with_columns(ks.set_sorted()) if s_sorted else s.sort(s_key, multithreaded=False)
    p = p.with_columns(kp.set_sorted()) if p_sorted else p.sort(p_key, multithreaded=False)
    return _sorted_by_key_only(s, s_key).lazy(), _sorted_by_key_only(p, p_key).lazy()


def _sorted_by_key_only(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """``frame`` without the sorted flag of any column but ``key``: polars 1.44 joins two sides flagged sorted by
    their key five times slower when another column (the row number) is flagged sorted too."""
    flagged = [col for col in frame.get_columns() if col.name != key and any(col.flags.values())
               and col.dtype.is_integer() and not col.null_count()]  # the row numbers (UInt32, never missing)
    return frame.with_columns(pl.Series(col.name, col.to_numpy(), dtype=col.dtype) for col in flagged)


def _dup_groups(groups: list[pl.DataFrame], cols: list[str], names: list[str]) -> DupGroups:
    """The duplicate groups of one side, under the SAS key column names, sorted by key (missing first)."""
    frames = [g for g in groups if g.height]
    if not frames:
        return DupGroups()
    frame = pl.concat(frames, how="vertical").rename(dict(zip(cols, names, strict=True)))
    return DupGroups(frame.sort(names, nulls_last=False), tuple(names))
