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
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import polars as pl

from parity.engine.base import DUP, GROUP_ROWS, ROW_P, ROW_S, ColumnStats, DupGroups, EngineResult, SortFacts
from parity.engine.core import ENGINE, abs_rel_diff, column_equal
from parity.engine.normalize import (
    Collation,
    normalize_string,
    round_temporal,
    sas_units,
    truncate_expr,
    truncation_width,
)
from parity.engine.plan import ColumnPlan, plan_columns, spec_file_of
from parity.errors import SpecError
from parity.sources.base import Source, Table, tag_column
from parity.spec import DatasetSpec, JobSpec, SortKey

Side = Literal["sas", "py"]
#: the memory one bucket of both sides may take, projected (bytes; PARITY_ENGINE_MEMORY overrides it: 512M, 2G)
MEMORY_BUDGET = 1 << 30
BUCKET = "bucket"


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
        per_row = 8 + sum(16 if p.kind == "string" else 8 for p in plans if p.role in ("key", "compare"))
        size = (sas.meta.rows + py.meta.rows) * per_row * 3  # a join holds about three times its inputs
        return max(1, math.ceil(size / (self.memory_budget or _budget())))

    def compare(self, spec: DatasetSpec, sas: Source, py: Source, job: JobSpec | None = None) -> EngineResult:
        return _Run(self, spec, sas, py, job).result()


# --------------------------------------------------------------------------------------------------------------
# projection: one side onto the internal column names, normalised to SAS units and rules


def _project(lf: pl.LazyFrame, schema: pl.Schema, plans: list[ColumnPlan], side: Side, spec: DatasetSpec,
             strict: bool) -> pl.LazyFrame:
    exprs: list[pl.Expr] = []
    for plan in plans:
        info = plan.sas if side == "sas" else plan.py
        if info is None or plan.role not in ("key", "compare"):
            continue
        out = plan.s if side == "sas" else plan.p
        col = pl.col(info.name)
        dtype = schema[info.name]
        if plan.kind == "string" and plan.role == "compare":
            # compared strings travel through the join as two 64-bit hashes (a 128-bit fingerprint of the raw
            # value): carrying the strings themselves was most of the run time on string-heavy data.  Rows
            # whose fingerprints differ get their real values back afterwards and are compared under the rules.
            raw = col.cast(pl.String)
            exprs += [raw.hash(seed=0).alias(out + "#h0"), raw.hash(seed=1, seed_1=7, seed_2=11, seed_3=13)
                      .alias(out + "#h1")]
            continue
        if plan.kind == "string":
            expr = normalize_string(col.cast(pl.String), spec.strings)  # keys join on normalised values
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
        exprs.append(expr.alias(out))
        if plan.has_tags and strict:
            tag_name = tag_column(info.name)
            tag_expr = pl.col(tag_name) if tag_name in schema else pl.lit(None, dtype=pl.String)
            if plan.role == "key":  # a missing key's kind ('.', '_', 'A'-'Z') is part of the key, as in SAS
                tag_expr = pl.when(expr.is_null()).then(tag_expr.fill_null("."))
            exprs.append(tag_expr.alias(plan.st if side == "sas" else plan.pt))
    row = ROW_S if side == "sas" else ROW_P
    return lf.with_row_index(row).select([pl.col(row), *exprs])


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
        if not (dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.Boolean, pl.Null)
                or isinstance(dtype, pl.Decimal)):
            raise SpecError(spec_file, f"column {info.name!r} has Python type {dtype}, which has no SAS sort order",
                            key=where)
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


def _string_length_queries(s_lf: pl.LazyFrame, p_lf: pl.LazyFrame,
                           compare: list[ColumnPlan]) -> dict[str, pl.LazyFrame]:
    """Python strings longer than the SAS column (truncation risk) and SAS values that fill their length."""
    s_exprs, p_exprs = [], []
    for plan in compare:
        if plan.kind != "string" or not plan.sas or not plan.py or not plan.sas.length:
            continue
        width = plan.sas.length
        s_exprs.append((pl.col(plan.sas.name).str.strip_chars_end(" ").str.len_bytes() >= width).sum()
                       .alias(plan.name))
        p_len = pl.col(plan.py.name).cast(pl.String).str.strip_chars_end(" ").str.len_bytes()
        p_exprs.append(pl.struct((p_len > width).sum().alias("count"), p_len.max().alias("max_bytes"))
                       .alias(plan.name))
    if not s_exprs:
        return {}
    return {"len_sas": s_lf.select(s_exprs), "len_py": p_lf.select(p_exprs)}


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

    def result(self) -> EngineResult:
        spec, sas, py = self.spec, self.sas, self.py
        plans = plan_columns(spec, self.job, sas, py)
        key_fold = [k.casefold() for k in spec.keys]
        keys = sorted((p for p in plans if p.role == "key"), key=lambda p: key_fold.index(p.name.casefold()))
        for plan in keys:  # under "strict", .A, ._ and . are distinct key values (as in a SAS MERGE or BY)
            plan.has_tags = plan.has_tags and self.strict
        s_lf, p_lf = sas.scan(), py.scan()
        s_schema, p_schema = s_lf.collect_schema(), p_lf.collect_schema()
        sas_proj = _project(s_lf, s_schema, plans, "sas", spec, self.strict)
        py_proj = _project(p_lf, p_schema, plans, "py", spec, self.strict)
        s_keys = [k.s for k in keys] + [k.st for k in keys if k.has_tags]
        p_keys = [k.p for k in keys] + [k.pt for k in keys if k.has_tags]
        compare = [p for p in plans if p.role == "compare"]
        k = self.engine.bucket_count(sas, py, plans)
        out: dict[str, Any] = {"python_types": {name: str(dtype) for name, dtype in p_schema.items()
                                                if name in {c.name for c in py.columns}}}

        # 1. single-side scans, all in one collect_all: row counts, key uniqueness, sort order, string lengths
        scans: dict[str, pl.LazyFrame] = {"rows_sas": s_lf.select(pl.len()), "rows_py": p_lf.select(pl.len())}
        scans.update(_string_length_queries(s_lf, p_lf, compare))
        key_order = tuple(SortKey(kp.name) for kp in keys)
        order_by = spec.sort_by or key_order  # without sort_by: is each side in key order?
        if order_by:
            by_name = {p.name.casefold(): p for p in plans}
            order_plans = list({by_name[o.column.casefold()].idx: by_name[o.column.casefold()] for o in order_by}
                               .values())
            collation = Collation.of(spec.encoding or sas.meta.encoding)
            spec_file = spec_file_of(spec, self.job)
            where = f"datasets.{spec.name}.{'sort_by' if spec.sort_by else 'keys'}"
            mappings, unencodable = self._collations(collation, order_plans, s_lf, s_schema, p_lf, p_schema)
            s_order = _order_frame(s_lf, s_schema, "sas", order_plans, mappings["sas"], spec_file, where)
            p_order = _order_frame(p_lf, p_schema, "py", order_plans, mappings["py"], spec_file, where)
            name = "sort" if spec.sort_by else "keyorder"
            scans[f"{name}_sas"] = _sort_violations(s_order, order_by, plans, "sas")
            scans[f"{name}_py"] = _sort_violations(p_order, order_by, plans, "py")
            if any(p.kind == "string" or (p.py is not None and p.py.kind == "string") for p in order_plans):
                coll: dict[str, Any] = {"encoding": collation.encoding, "unencodable_values": unencodable}
                if collation.note:
                    coll["note"] = collation.note
                if unencodable["sas"] or unencodable["py"]:
                    coll["note"] = (
                        f"{unencodable['sas'] + unencodable['py']:,} character values hold characters that "
                        f"{collation.encoding} cannot encode: they were sorted after every encodable character")
                out["collation"] = coll
        if keys and k == 1:
            scans["unique_sas"] = sas_proj.select(_n_unique(s_keys).alias("n"))
            scans["unique_py"] = py_proj.select(_n_unique(p_keys).alias("n"))
        scanned = dict(zip(scans, pl.collect_all(list(scans.values()), engine=ENGINE), strict=True))
        rows_sas, rows_py = int(scanned["rows_sas"].item()), int(scanned["rows_py"].item())
        if spec.sort_by:
            out["sort_violations"] = _violations(scanned["sort_py"])
            out["sas_sort_violations"] = _violations(scanned["sort_sas"])
        if "len_sas" in scanned:
            lengths = {p.name: p.sas.length for p in compare if p.sas}
            out["sas_full_strings"] = {c: int(v) for c, v in scanned["len_sas"].row(0, named=True).items() if v}
            out["python_long_strings"] = {
                c: {"count": int(v["count"]), "max_bytes": int(v["max_bytes"] or 0), "sas_length": lengths[c] or 0}
                for c, v in scanned["len_py"].row(0, named=True).items() if v["count"]
            }
        # without sort_by: are matched rows in the SAS output's own order?  Cheap when both sides are in key order
        need_pairs = False
        if keys and not spec.sort_by:
            need_pairs = _violations(scanned["keyorder_sas"]).violations != 0

        with self._buckets(k, sas_proj, py_proj, s_keys, p_keys) as buckets:
            # 2. duplicates: grouped only when a side has any
            s_groups: list[pl.DataFrame] = []
            p_groups: list[pl.DataFrame] = []
            if keys:
                if k == 1:
                    if int(scanned["unique_sas"].item()) < rows_sas or int(scanned["unique_py"].item()) < rows_py:
                        s_one, p_one = self._groups(sas_proj, py_proj, s_keys, p_keys)
                        s_groups, p_groups = [s_one], [p_one]
                else:
                    for s_b, p_b in buckets:
                        s_u, p_u = pl.collect_all([s_b.select(_n_unique(s_keys), pl.len()),
                                                   p_b.select(_n_unique(p_keys), pl.len())], engine=ENGINE)
                        if s_u.item(0, 0) < s_u.item(0, 1) or p_u.item(0, 0) < p_u.item(0, 1):
                            s_one, p_one = self._groups(s_b, p_b, s_keys, p_keys)
                            s_groups.append(s_one)
                            p_groups.append(p_one)
            dup_sas = _dup_groups(s_groups, s_keys, s_keys)
            dup_py = _dup_groups(p_groups, p_keys, s_keys)
            dups = bool(dup_sas.keys or dup_py.keys)
            need_pairs = need_pairs or (bool(keys) and not spec.sort_by and dups)

            # 3. per bucket: one streaming join keeping only the rows unmatched or with raw values that differ
            parts: list[pl.DataFrame] = []
            pairs: list[pl.DataFrame] = []
            for s_b, p_b in buckets:
                kept_b, pairs_b = self._join(s_b, p_b, keys, s_keys, p_keys, compare, dups, need_pairs, k > 1)
                parts.append(kept_b)
                if pairs_b is not None:
                    pairs.append(pairs_b)
        kept = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
        del parts

        # 4. on the kept rows: the real strings, then every column compared under its rule
        kept = self._fetch_strings(kept, compare)
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
        agg = kept.select(aggs).row(0, named=True) if aggs else {}
        stats: dict[str, ColumnStats] = {}
        for plan in compare:
            max_abs = _num(agg.get(f"#abs{plan.idx}"))
            max_rel = _num(agg.get(f"#rel{plan.idx}"))
            if max_abs is None and plan.numeric and n_matched:
                # no kept pair had two values: the matched pairs not in `kept` are identical, a difference of 0
                max_abs = max_rel = 0.0
            stats[plan.name] = ColumnStats(compared=n_matched, mismatches=int(agg[f"#mm{plan.idx}"] or 0),
                                           max_abs_diff=max_abs, max_rel_diff=max_rel)
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
        return EngineResult(
            spec=spec, sas=sas, py=py, plans=tuple(plans), keys=tuple(keys), rows_sas=rows_sas, rows_py=rows_py,
            matched=n_matched, only_sas=only_sas, only_py=only_py, stats=stats, diffs=diffs,
            dup_sas=dup_sas, dup_py=dup_py, run_info={"engine": "polars", "buckets": k}, **out,
        )

    # ----------------------------------------------------------------------------------------------------------

    def _collations(self, collation: Collation, order_plans: list[ColumnPlan], s_lf: pl.LazyFrame,
                    s_schema: pl.Schema, p_lf: pl.LazyFrame, p_schema: pl.Schema
                    ) -> tuple[dict[Side, dict[int, dict[str, str]]], dict[str, int]]:
        """Per side and character BY column, the collation strings of its values (one pass for all)."""
        queries: list[tuple[Side, int, pl.LazyFrame]] = []
        for side, lf, schema in (("sas", s_lf, s_schema), ("py", p_lf, p_schema)):
            for plan in order_plans:
                info = plan.sas if side == "sas" else plan.py
                assert info is not None
                if schema[info.name] == pl.String:
                    query = collation.value_counts(lf, info.name)
                    if query is not None:
                        queries.append((side, plan.idx, query))  # type: ignore[arg-type]
        mappings: dict[Side, dict[int, dict[str, str]]] = {"sas": {}, "py": {}}
        unencodable = {"sas": 0, "py": 0}
        counts = pl.collect_all([q for _, _, q in queries], engine=ENGINE) if queries else []
        for (side, idx, _), frame in zip(queries, counts, strict=True):
            mappings[side][idx], bad = collation.mapping(frame)
            unencodable[side] += bad
        return mappings, unencodable

    @contextlib.contextmanager
    def _buckets(self, k: int, sas_proj: pl.LazyFrame, py_proj: pl.LazyFrame, s_keys: list[str],
                 p_keys: list[str]) -> Iterator[list[tuple[pl.LazyFrame, pl.LazyFrame]]]:
        """The (sas, python) bucket pairs: the projections themselves for one bucket, else parquet buckets written
        once to a temporary folder (removed afterwards)."""
        if k == 1:
            yield [(sas_proj, py_proj)]
            return
        base = self.engine.workdir or os.environ.get("PARITY_ENGINE_TMPDIR") or None
        with tempfile.TemporaryDirectory(prefix="parity-buckets-", dir=base) as tmp:
            sides = []
            for name, proj, cols in (("sas", sas_proj, s_keys), ("py", py_proj, p_keys)):
                schema = proj.collect_schema()
                cols = cols or [ROW_S if name == "sas" else ROW_P]
                folder = Path(tmp) / name
                bucket = _bucket_hash(cols, schema, k) if cols[0] not in (ROW_S, ROW_P) else \
                    (pl.col(cols[0]) % k).cast(pl.UInt32)
                proj.with_columns(bucket.alias(BUCKET)).sink_parquet(
                    pl.PartitionBy(folder, key=BUCKET, include_key=False), mkdir=True, engine="streaming",
                    compression="lz4")
                sides.append([pl.scan_parquet(folder / f"{BUCKET}={i}" / "*.parquet")
                              if (folder / f"{BUCKET}={i}").is_dir() else pl.LazyFrame(schema=schema)
                              for i in range(k)])
            yield list(zip(sides[0], sides[1], strict=True))

    def _groups(self, s_lf: pl.LazyFrame, p_lf: pl.LazyFrame, s_keys: list[str],
                p_keys: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
        s_groups = s_lf.group_by(s_keys).agg(pl.len().alias(GROUP_ROWS)).filter(pl.col(GROUP_ROWS) > 1)
        p_groups = p_lf.group_by(p_keys).agg(pl.len().alias(GROUP_ROWS)).filter(pl.col(GROUP_ROWS) > 1)
        s_dups, p_dups = pl.collect_all([s_groups, p_groups])
        return s_dups, p_dups

    def _join(self, s_b: pl.LazyFrame, p_b: pl.LazyFrame, keys: list[ColumnPlan], s_keys: list[str],
              p_keys: list[str], compare: list[ColumnPlan], dups: bool, need_pairs: bool,
              bucketed: bool) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """One bucket's rows unmatched or with raw values that differ, and (when needed) its matched row pairs."""
        on = list(s_keys)
        pairs = None
        if keys:
            if dups:  # pair duplicates by their order within the key, as PROC COMPARE does (no cartesian product)
                rank = pl.int_range(pl.len(), dtype=pl.UInt32)
                s_b = s_b.with_columns((rank.over(s_keys, order_by=ROW_S) if bucketed else rank.over(s_keys))
                                       .alias(DUP))
                p_b = p_b.with_columns((rank.over(p_keys, order_by=ROW_P) if bucketed else rank.over(p_keys))
                                       .alias(DUP))
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
        raw_neq = []
        for plan in compare:
            if plan.kind == "string":
                raw_neq.append((pl.col(plan.s + "#h0") != pl.col(plan.p + "#h0"))
                               | (pl.col(plan.s + "#h1") != pl.col(plan.p + "#h1")))
                continue
            differs = pl.col(plan.s).ne_missing(pl.col(plan.p))
            if plan.numeric:
                differs = differs | pl.col(plan.p).is_infinite().fill_null(False)
                if plan.has_tags and self.strict:
                    differs = differs | pl.col(plan.st).ne_missing(pl.col(plan.pt))
            raw_neq.append(differs)
        candidates = joined.filter(~matched | pl.any_horizontal(raw_neq)) if raw_neq else joined.filter(~matched)
        fingerprints = [c + h for p in compare if p.kind == "string" for c in (p.s, p.p) for h in ("#h0", "#h1")]
        return candidates.drop(fingerprints).collect(engine=ENGINE), pairs

    def _fetch_strings(self, kept: pl.DataFrame, compare: list[ColumnPlan]) -> pl.DataFrame:
        """The real values of the compared character columns of the rows kept, by row number, normalised."""
        strings = [p for p in compare if p.kind == "string"]
        if not strings:
            return kept
        fetched: list[pl.Series] = []
        for side, row, source in (("sas", ROW_S, self.sas), ("py", ROW_P, self.py)):
            rows = kept.get_column(row)
            names = [((p.sas if side == "sas" else p.py), p.s if side == "sas" else p.p) for p in strings]
            if isinstance(source, Table):
                raw = pl.DataFrame([source.frame.get_column(info.name).cast(pl.String).gather(rows).alias(out)
                                    for info, out in names if info is not None])
            else:  # one pass over the source's character columns, keeping the rows wanted
                wanted = rows.drop_nulls().unique()
                found = (source.scan().with_row_index("#r").filter(pl.col("#r").is_in(wanted.implode()))
                         .select(pl.col("#r"), *[pl.col(info.name).cast(pl.String).alias(out)
                                                  for info, out in names if info is not None])
                         .collect(engine=ENGINE))
                raw = (rows.to_frame("#r").join(found, on="#r", how="left", maintain_order="left")
                       .drop("#r"))
            fetched += raw.select(normalize_string(pl.col(c), self.spec.strings).alias(c)
                                  for c in raw.columns).get_columns()
        return kept.with_columns(fetched)


def _dup_groups(groups: list[pl.DataFrame], cols: list[str], names: list[str]) -> DupGroups:
    """The duplicate groups of one side, under the SAS key column names, sorted by key (missing first)."""
    frames = [g for g in groups if g.height]
    if not frames:
        return DupGroups()
    frame = pl.concat(frames, how="vertical").rename(dict(zip(cols, names, strict=True)))
    return DupGroups(frame.sort(names, nulls_last=False), tuple(names))
