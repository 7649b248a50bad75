"""The comparison engine: two loaded tables in, one :class:`Comparison` out.  Knows nothing of pytest or output.

One lazy polars plan per dataset:

1. single-side scans, collected together: key uniqueness (``n_unique`` on the key columns only; grouped only when
   a side has duplicates), ``sort_by`` order, string lengths;
2. one full join (by key, or by position without keys), collected with the streaming engine, that keeps only the
   rows that are unmatched or whose raw values differ.  Character columns travel through the join as 128-bit
   fingerprints, not as strings;
3. on those few rows: the real strings are fetched back, normalised under SAS rules, and every column is compared
   under its rule (PROC COMPARE METHOD=/CRITERION=, missing kinds) in one expression pass.

A pair whose raw values are identical is equal under every method and rule, so dropping it in step 2 loses
nothing but its difference of 0.  Measured by ``benchmarks/compare.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from parity.engine.normalize import (
    PRECISION_SECONDS,
    Collation,
    Conversion,
    normalize_string,
    plan_column,
    round_temporal,
    sas_units,
    truncate_to_width,
    truncation_width,
)
from parity.errors import InputError, SpecError
from parity.formats import Kind
from parity.sources.base import ColumnInfo, Table
from parity.spec import (
    TEMPORAL_KINDS,
    TOLERANCE_DEFAULT_KEYS,
    DatasetSpec,
    JobSpec,
    SortKey,
    Tolerance,
    temporal_tolerance,
)

#: polars engine for the join pass (its output is small: only unmatched and differing rows)
ENGINE: Literal["auto", "in-memory", "streaming"] = "streaming"
ROW_S = "#row_sas"
ROW_P = "#row_py"
DUP = "#dup"
#: the largest double: differences beyond it (1e308 - -1e308) are reported as this, never as inf
DBL_MAX = 1.7976931348623157e308
#: from this magnitude on, differences and sums of two doubles can overflow, so they are computed halved
_HALVE_FROM = 2.0 ** 1022
Role = Literal["key", "compare", "ignored", "sas_only", "python_only", "type_conflict"]


@dataclass
class ColumnPlan:
    """One column's fate: its role, kind, tolerance and internal column names."""

    name: str
    idx: int
    sas: ColumnInfo | None
    py: ColumnInfo | None
    role: Role
    kind: Kind
    tolerance: Tolerance | None = None
    conversion: Conversion | None = None
    has_tags: bool = False

    @property
    def s(self) -> str:
        return f"s{self.idx}"

    @property
    def p(self) -> str:
        return f"p{self.idx}"

    @property
    def st(self) -> str:
        return f"st{self.idx}"

    @property
    def pt(self) -> str:
        return f"pt{self.idx}"

    @property
    def neq(self) -> str:
        return f"neq{self.idx}"

    @property
    def numeric(self) -> bool:
        return self.kind != "string"


@dataclass
class ColumnStats:
    compared: int = 0
    mismatches: int = 0
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None


@dataclass
class DupInfo:
    rows: int = 0
    keys: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    key_set: dict[str, Any] | None = None  # the duplicated keys (parity.report.delta.key_set)
    groups_sha256: str | None = None  # the duplicated keys with their row counts: equal on both sides = same dupes


@dataclass
class Comparison:
    """Everything the checks need.  Internal: the frozen report model is built from it in :mod:`parity.checks.core`."""

    spec: DatasetSpec
    sas: Table
    py: Table
    plans: list[ColumnPlan]
    keys: list[ColumnPlan]
    rows_sas: int
    rows_py: int
    matched: int = 0
    only_sas: int = 0
    only_py: int = 0
    dup_sas: DupInfo = field(default_factory=DupInfo)
    dup_py: DupInfo = field(default_factory=DupInfo)
    stats: dict[str, ColumnStats] = field(default_factory=dict)
    diffs: pl.DataFrame = field(default_factory=pl.DataFrame)
    order_inversions: int | None = None
    order_first: tuple[int | None, int] | None = None  # (sas row, python row) of the first out-of-order pair
    sort_violations: dict[str, Any] | None = None
    sas_sort_violations: dict[str, Any] | None = None
    #: how character BY values were collated (the SAS file's encoding), when any BY variable is character
    collation: dict[str, Any] | None = None
    python_long_strings: dict[str, dict[str, int]] = field(default_factory=dict)
    sas_full_strings: dict[str, int] = field(default_factory=dict)

    @property
    def compared_plans(self) -> list[ColumnPlan]:
        return [p for p in self.plans if p.role == "compare"]


# --------------------------------------------------------------------------------------------------------------
# planning


def _spec_file(spec: DatasetSpec, job: JobSpec | None) -> Path:
    """Where spec errors point: the job's parity.toml, or the API's arguments (a spec without a job)."""
    if job is not None:
        return job.spec_file
    from parity.api import ARGUMENTS

    return ARGUMENTS


def _match_columns(spec: DatasetSpec, job: JobSpec | None, sas: Table, py: Table) -> list[ColumnPlan]:
    spec_file = _spec_file(spec, job)
    where = f"datasets.{spec.name}"
    rename = {k.casefold(): v for k, v in spec.rename.items()}
    py_by_fold: dict[str, ColumnInfo] = {}
    for info in py.columns:
        fold = info.name.casefold()
        if fold in py_by_fold:  # the port's doing, not the spec's: an error of this dataset
            raise InputError(
                f"dataset {spec.name!r}: the Python output ({py.meta.source}) has columns {py_by_fold[fold].name!r} "
                f"and {info.name!r}, which are the same name to SAS (names are case-insensitive); rename one in the "
                "port"
            )
        py_by_fold[fold] = info
    sas_fold = {c.name.casefold(): c for c in sas.columns}
    for old, new in rename.items():
        if old not in sas_fold:
            raise SpecError(spec_file, f"renames {old!r}, which is not a column of {spec.sas.name}", key=f"{where}.rename")
        if new.casefold() not in py_by_fold:
            raise SpecError(
                spec_file, f"renames {old!r} to {new!r}, which is not a column of the Python output",
                key=f"{where}.rename",
            )
    used_py: set[str] = set()
    key_fold = [k.casefold() for k in spec.keys]
    ignore_fold = {c.casefold() for c in spec.ignore}
    plans: list[ColumnPlan] = []
    for info in sas.columns:
        fold = info.name.casefold()
        py_name = rename.get(fold, info.name).casefold()
        py_info = py_by_fold.get(py_name)
        idx = len(plans)
        if py_info is None:
            plans.append(ColumnPlan(info.name, idx, info, None, "sas_only", info.kind))
            continue
        used_py.add(py_name)
        conv = plan_column(info, py_info, py.frame.get_column(py_info.name), spec.numbers,
                           sas.frame.get_column(info.name))
        role: Role = "compare"
        if fold in ignore_fold:
            role = "ignored"
        elif conv.conflict:
            role = "type_conflict"
        if fold in key_fold:
            role = "key"
        tolerance = spec.tolerance_for(info.name, conv.kind)
        if conv.kind in TEMPORAL_KINDS and fold in spec.tolerance and role == "compare":
            temporal_tolerance(spec_file, f"{where}.tolerance.{fold}", tolerance, conv.kind,
                               f"{conv.kind} column {info.name!r}")
        plan = ColumnPlan(info.name, idx, info, py_info, role, conv.kind, tolerance, conv)
        plan.has_tags = info.name in sas.tags or py_info.name in py.tags
        plans.append(plan)
    for info in py.columns:
        if info.name.casefold() not in used_py:
            plans.append(ColumnPlan(info.name, len(plans), None, info, "python_only", info.kind))
    # every column the spec names must exist (on both sides for keys and sort_by)
    both = {p.name.casefold() for p in plans if p.sas and p.py}
    sas_names = sorted(c.name for c in sas.columns)
    for field_name, names in (("keys", spec.keys), ("sort_by", [k.column for k in spec.sort_by])):
        for name in names:
            if name.casefold() not in both:
                side, names_there = (("the SAS file", sas_names) if name.casefold() not in sas_fold else
                                     (f"the Python output {py.meta.source}", [c.name for c in py.columns]))
                raise SpecError(
                    spec_file, f"column {name!r} is not in {side} (its columns: {', '.join(names_there[:30])})",
                    key=f"{where}.{field_name}",
                )
    all_names = {p.name.casefold() for p in plans}
    for name in spec.ignore:
        if name.casefold() not in all_names:
            raise SpecError(spec_file, f"ignores {name!r}, which is on neither side", key=f"{where}.ignore")
    for name in spec.tolerance:
        if name not in sas_fold:
            hint = f" (the default is written {name!r} in lower case)" if name in TOLERANCE_DEFAULT_KEYS else ""
            raise SpecError(spec_file, f"sets a tolerance for {name!r}, which is not a SAS column{hint}",
                            key=f"{where}.tolerance.{name}")
        if sas_fold[name].type == "character":
            raise SpecError(spec_file, f"sets a numeric tolerance for character column {name!r}",
                            key=f"{where}.tolerance.{name}")
    for plan in plans:
        if plan.role == "key" and plan.conversion and plan.conversion.conflict:
            raise SpecError(spec_file, f"key {plan.name!r} has different types: {plan.conversion.conflict}",
                            key=f"{where}.keys")
    _check_column_rules(spec, spec_file, where, plans, sas_fold)
    _check_waiver_keys(spec, spec_file, where, {p.name.casefold(): p for p in plans})
    return plans


def _check_waiver_keys(spec: DatasetSpec, spec_file: Path, where: str, by_fold: dict[str, ColumnPlan]) -> None:
    """Every key value a waiver names must be a value of that key's kind (a missing key is '.', '.A', '._')."""
    from parity.values import missing_key_tag, sas_key_value

    for i, waiver in enumerate(spec.waivers):
        for key in waiver.keys:
            for name, value in key.items():
                plan = by_fold.get(name.casefold())
                if plan is None or missing_key_tag(plan.kind, value) is not None:
                    continue
                try:
                    sas_key_value(plan.kind, value)
                except (TypeError, ValueError, OverflowError):
                    what = {"string": "a string", "numeric": "a number", "date": "a TOML date (2024-03-01)",
                            "datetime": "a TOML datetime (2024-03-01T08:30:00)", "time": "a TOML time (08:30:00)"}
                    missing = "" if plan.kind == "string" else ", or '.', '.A'-'.Z', '._' for a missing key"
                    raise SpecError(spec_file, f"names {plan.name} = {value!r}, which is not a value of this "
                                    f"{plan.kind} key: write {what[plan.kind]}{missing}",
                                    key=f"{where}.waivers[{i}].keys") from None


def _check_column_rules(spec: DatasetSpec, spec_file: object, where: str, plans: list[ColumnPlan],
                        sas_fold: dict[str, ColumnInfo]) -> None:
    """Spec rules that only make sense for some columns: each mistake is a SpecError naming the key."""
    by_py: dict[str, ColumnPlan] = {}
    for plan in plans:
        if plan.sas is None or plan.py is None:
            continue
        other = by_py.setdefault(plan.py.name.casefold(), plan)
        if other is not plan:
            raise SpecError(spec_file, f"SAS columns {other.name!r} and {plan.name!r} would both be compared with "
                            f"Python column {plan.py.name!r} (a rename target that is another SAS column's own "
                            "name); rename the other one too, or ignore one", key=f"{where}.rename")
    for name in spec.formats:
        info = sas_fold.get(name)
        if info is None:
            raise SpecError(spec_file, f"sets a format for {name!r}, which is not a column of {spec.sas.name}",
                            key=f"{where}.formats.{name}")
        if info.type == "character":
            raise SpecError(spec_file, f"sets a format for character column {info.name!r}; a format override "
                            "applies to numeric columns (dates stored without a date format)",
                            key=f"{where}.formats.{name}")
    by_name = {p.name.casefold(): p for p in plans}
    for i, waiver in enumerate(spec.waivers):
        if waiver.column is None:
            continue
        w = f"{where}.waivers[{i}]"
        target = by_name.get(waiver.column.casefold())
        if target is None or target.sas is None or target.py is None:
            side = "on neither side" if target is None else f"only on one side ({target.role})"
            raise SpecError(spec_file, f"waives column {waiver.column!r}, which is {side}", key=f"{w}.column")
        if waiver.max_abs_diff is not None and target.kind == "string":
            raise SpecError(spec_file, f"max_abs_diff applies to numeric and date/time columns; {target.name!r} is "
                            "a character column (use keys to limit the waiver)", key=f"{w}.max_abs_diff")


def _dtype(table: Table, name: str) -> pl.DataType:
    return table.frame.schema[name]


def _side_frame(table: Table, plans: list[ColumnPlan], side: Literal["sas", "py"], spec: DatasetSpec) -> pl.LazyFrame:
    """Project one side onto the internal column names, normalised to SAS units and rules."""
    frame = table.frame
    if side == "py" and spec.numbers.storage == "truncate":
        updates = []
        for plan in plans:
            width = truncation_width(plan.sas, plan.kind, frame.schema[plan.py.name]) if plan.py else None
            if plan.py and width:  # dates, datetimes and times too, in SAS units (LENGTH 7 keeps about 0.1 ms)
                dtype = frame.schema[plan.py.name]
                units = frame.select(sas_units(pl.col(plan.py.name), dtype, plan.kind)).to_series()
                updates.append(truncate_to_width(units, width))
        if updates:
            frame = frame.with_columns(updates)
    exprs: list[pl.Expr] = []
    for plan in plans:
        info = plan.sas if side == "sas" else plan.py
        if info is None or plan.role not in ("key", "compare"):
            continue
        out = plan.s if side == "sas" else plan.p
        col = pl.col(info.name)
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
                expr = sas_units(col, frame.schema[info.name], plan.kind)
            if plan.role == "key":  # keys are matched exactly, so datetime and time keys are rounded first
                expr = round_temporal(expr, plan.kind, spec.dates)
        exprs.append(expr.alias(out))
        if plan.has_tags and spec.numbers.special_missing == "strict":
            tags = table.tags.get(info.name)
            tag_expr = pl.lit(tags) if tags is not None else pl.lit(None, dtype=pl.String)
            if plan.role == "key":  # a missing key's kind ('.', '_', 'A'-'Z') is part of the key, as in SAS
                tag_expr = pl.when(expr.is_null()).then(tag_expr.fill_null("."))
            exprs.append(tag_expr.alias(plan.st if side == "sas" else plan.pt))
    row = ROW_S if side == "sas" else ROW_P
    return frame.lazy().select(exprs).with_row_index(row)


# --------------------------------------------------------------------------------------------------------------
# comparison expressions (PROC COMPARE)


def _scaled(s: pl.Expr, p: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """(k, k·x, k·y, |k·y − k·x|) with k = 1/2 where a value is 2^1022 or more, else 1: halving is exact there,
    and then neither y − x nor |x| + |y| can overflow to inf (1.5e308 vs 1e308, 1e308 vs -1e308)."""
    k = pl.when((s.abs() >= _HALVE_FROM) | (p.abs() >= _HALVE_FROM)).then(0.5).otherwise(1.0)
    xs, ys = s * k, p * k
    return k, xs, ys, (ys - xs).abs()


def values_equal(s: pl.Expr, p: pl.Expr, tol: Tolerance) -> pl.Expr:
    """PROC COMPARE METHOD=/CRITERION= equality of two non-missing values (x = SAS/base, y = Python/compare).

    Computed without overflow: every formula is a ratio (or a bound scaled alike), evaluated on halved values
    near the top of the double range."""
    gamma = tol.gamma
    k, xs, ys, diff = _scaled(s, p)
    if tol.method == "exact":
        eq = p == s
    elif tol.method == "absolute":
        eq = diff <= gamma * k
    elif tol.method == "relative":
        denom = (xs.abs() + ys.abs()) / 2 + tol.delta * k
        eq = (diff == 0) | (diff / denom <= gamma)
    else:  # percent
        eq = pl.when(s == 0).then(p == 0).otherwise(100 * (diff / xs.abs()) <= gamma)
    return eq & p.is_finite()


def abs_rel_diff(s: pl.Expr, p: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """|y − x| and |y − x| / |x| without overflow; a difference beyond the largest double is the largest double."""
    k, xs, _, diff = _scaled(s, p)
    return (diff / k).clip(upper_bound=DBL_MAX), (diff / xs.abs()).clip(upper_bound=DBL_MAX)


def _within_precision(s: pl.Expr, p: pl.Expr, unit: float) -> pl.Expr:
    """Datetimes and times are equal when they differ by at most half a ``datetime_precision`` unit, or by one
    ulp of the larger double (all a SAS double resolves: 1.9 us in 1677 and 2262, so equal instants whose
    doubles were computed apart still compare equal)."""
    ulp = pl.lit(2.0).pow(pl.max_horizontal(s.abs(), p.abs()).log(2).floor() - 52)
    return (p - s).abs() <= pl.max_horizontal(pl.lit(unit / 2), ulp)


def column_equal(plan: ColumnPlan, spec: DatasetSpec) -> pl.Expr:
    s, p = pl.col(plan.s), pl.col(plan.p)
    if plan.kind == "string":  # NOMISSING: a blank (missing) character value equals anything
        missing = (s.is_null() | p.is_null()) if spec.numbers.nomissing else (s.is_null() & p.is_null())
        return missing | (s == p).fill_null(False)
    assert plan.tolerance is not None
    if spec.numbers.nomissing:  # a missing value equals anything but an infinity, which is never missing
        missing_eq = ~(s.is_infinite() | p.is_infinite()).fill_null(False)
    elif plan.has_tags and spec.numbers.special_missing == "strict":
        missing_eq = s.is_null() & p.is_null() & (
            pl.col(plan.st).fill_null(".") == pl.col(plan.pt).fill_null(".")
        )
    else:
        missing_eq = s.is_null() & p.is_null()
    equal = values_equal(s, p, plan.tolerance)
    if plan.kind in ("datetime", "time"):
        unit = PRECISION_SECONDS[spec.dates.datetime_precision]
        equal = equal | (_within_precision(s, p, unit) & p.is_finite())
    return pl.when(s.is_null() | p.is_null()).then(missing_eq).otherwise(equal)


# --------------------------------------------------------------------------------------------------------------
# running


def _order_frame(table: Table, side: Literal["sas", "py"], columns: list[ColumnPlan], collation: Collation,
                 spec_file: Path, where: str) -> tuple[pl.LazyFrame, int]:
    """One side's BY values, raw (SAS sorts stored values: no strip, no case folding), as ``o<i>`` columns, with
    special missing tags as ``ot<i>``; character values as collation strings of the SAS file's encoding.
    Also returns how many character values hold characters that encoding lacks."""
    exprs: list[pl.Expr] = []
    unencodable = 0
    frame = table.frame
    for plan in columns:
        info = plan.sas if side == "sas" else plan.py
        assert info is not None
        dtype = frame.schema[info.name]
        col = pl.col(info.name)
        if dtype == pl.String:
            # SAS compares blank-padded values: trailing blanks never count, a missing value is all blanks
            mapping, bad = collation.mapping(frame.get_column(info.name))
            unencodable += bad
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
        tags = table.tags.get(info.name)
        if tags is not None:
            exprs.append(pl.lit(tags).alias(f"ot{plan.idx}"))
    row = ROW_S if side == "sas" else ROW_P
    return frame.lazy().select(exprs).with_row_index(row), unencodable


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
                     side: str) -> pl.LazyFrame:
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


def _violations(frame: pl.DataFrame) -> dict[str, Any]:
    row = frame.row(0, named=True)
    first = row["first_row"]
    return {"violations": int(row["violations"]), "first_row": None if first is None else int(first) + 1}


def compare_tables(spec: DatasetSpec, sas: Table, py: Table, job: JobSpec | None = None) -> Comparison:
    """Compare one dataset.  Raises SpecError for spec/column mismatches found before comparing."""
    plans = _match_columns(spec, job, sas, py)
    key_fold = [k.casefold() for k in spec.keys]
    keys = sorted((p for p in plans if p.role == "key"), key=lambda p: key_fold.index(p.name.casefold()))
    for plan in keys:  # under "strict", .A, ._ and . are distinct key values (as in a SAS MERGE or BY)
        plan.has_tags = plan.has_tags and spec.numbers.special_missing == "strict"
    comp = Comparison(spec, sas, py, plans, keys, rows_sas=sas.frame.height, rows_py=py.frame.height)

    sas_lf = _side_frame(sas, plans, "sas", spec)
    py_lf = _side_frame(py, plans, "py", spec)
    s_keys = [k.s for k in keys] + [k.st for k in keys if k.has_tags]
    p_keys = [k.p for k in keys] + [k.pt for k in keys if k.has_tags]
    compare = comp.compared_plans

    # 1. single-side scans, all in one collect_all: key uniqueness, sort order, string lengths
    scans: dict[str, pl.LazyFrame] = _string_length_queries(comp, compare)
    key_order = tuple(SortKey(k.name) for k in keys)
    order_by = spec.sort_by or key_order  # without sort_by: is each side in key order?
    unencodable = {"sas": 0, "py": 0}
    if order_by:
        by_name = {p.name.casefold(): p for p in plans}
        order_plans = list({by_name[k.column.casefold()].idx: by_name[k.column.casefold()] for k in order_by}
                           .values())
        collation = Collation.of(spec.encoding or sas.meta.encoding)
        spec_file = _spec_file(spec, job)
        where = f"datasets.{spec.name}.{'sort_by' if spec.sort_by else 'keys'}"
        s_order, unencodable["sas"] = _order_frame(sas, "sas", order_plans, collation, spec_file, where)
        p_order, unencodable["py"] = _order_frame(py, "py", order_plans, collation, spec_file, where)
        name = "sort" if spec.sort_by else "keyorder"
        scans[f"{name}_sas"] = _sort_violations(s_order, order_by, plans, "sas")
        scans[f"{name}_py"] = _sort_violations(p_order, order_by, plans, "py")
        if any(p.kind == "string" or (p.py is not None and p.py.kind == "string") for p in order_plans):
            comp.collation = {"encoding": collation.encoding, "unencodable_values": unencodable}
            if collation.note:
                comp.collation["note"] = collation.note
            if unencodable["sas"] or unencodable["py"]:
                comp.collation["note"] = (
                    f"{unencodable['sas'] + unencodable['py']:,} character values hold characters that "
                    f"{collation.encoding} cannot encode: they were sorted after every encodable character")
    if keys:
        scans["unique_sas"] = sas_lf.select(_n_unique(s_keys).alias("n"))
        scans["unique_py"] = py_lf.select(_n_unique(p_keys).alias("n"))
    scanned = dict(zip(scans, pl.collect_all(list(scans.values())), strict=True)) if scans else {}
    if spec.sort_by:
        comp.sort_violations = _violations(scanned["sort_py"])
        if comp.collation:
            comp.sort_violations["collation"] = comp.collation
        comp.sas_sort_violations = _violations(scanned["sort_sas"])
    _string_length_results(comp, compare, scanned)

    # 2. duplicates: grouped only when a side has any
    on = list(s_keys)
    if keys:
        s_dupes = int(scanned["unique_sas"].item()) < comp.rows_sas
        p_dupes = int(scanned["unique_py"].item()) < comp.rows_py
        if s_dupes or p_dupes:
            s_groups = sas_lf.group_by(s_keys).agg(pl.len().alias("#n")).filter(pl.col("#n") > 1)
            p_groups = py_lf.group_by(p_keys).agg(pl.len().alias("#n")).filter(pl.col("#n") > 1)
            s_dups, p_dups = pl.collect_all([s_groups, p_groups])
            comp.dup_sas = _dups(s_dups, s_keys, keys)
            comp.dup_py = _dups(p_dups, p_keys, keys)
            # pair duplicates by their order within the key, as PROC COMPARE does, instead of a cartesian product
            sas_lf = sas_lf.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over(s_keys).alias(DUP))
            py_lf = py_lf.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over(p_keys).alias(DUP))
            on.append(DUP)
        py_lf = py_lf.rename(dict(zip(p_keys, s_keys, strict=True)))
        joined = sas_lf.join(py_lf, on=on, how="full", coalesce=True, nulls_equal=True, maintain_order="none")
    else:
        joined = sas_lf.join(py_lf, left_on=ROW_S, right_on=ROW_P, how="full", coalesce=False,
                             maintain_order="none")

    # 3. one streaming pass over the join: every column compared in one expression pass; only rows that are
    #    unmatched, mismatching, or differ at all (for the max differences within tolerance) are kept
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
            if plan.has_tags and spec.numbers.special_missing == "strict":
                differs = differs | pl.col(plan.st).ne_missing(pl.col(plan.pt))
        raw_neq.append(differs)
    candidates = joined.filter(~matched | pl.any_horizontal(raw_neq)) if raw_neq else joined.filter(~matched)
    strings = [p for p in compare if p.kind == "string"]
    fingerprints = [c + h for p in strings for c in (p.s, p.p) for h in ("#h0", "#h1")]  # used by the filter only
    kept = candidates.drop(fingerprints).collect(engine=ENGINE)
    if strings:  # the real values of the rows kept, fetched by row number and normalised one column at a time
        s_rows, p_rows = kept.get_column(ROW_S), kept.get_column(ROW_P)
        fetched: list[pl.Series] = []
        for plan in strings:
            assert plan.sas is not None and plan.py is not None
            raw = pl.DataFrame([sas.frame.get_column(plan.sas.name).cast(pl.String).gather(s_rows).alias(plan.s),
                                py.frame.get_column(plan.py.name).cast(pl.String).gather(p_rows).alias(plan.p)])
            fetched += (raw.select(normalize_string(pl.col(c), spec.strings).alias(c) for c in raw.columns)
                        .get_columns())
        kept = kept.with_columns(fetched)
        del fetched, raw, s_rows, p_rows
    neq_exprs = [(matched & ~column_equal(p, spec).fill_null(False)).alias(p.neq) for p in compare]
    any_neq = pl.any_horizontal([pl.col(p.neq) for p in compare]) if compare else pl.lit(False)
    kept = kept.with_columns(neq_exprs)

    only = kept.select(pl.col(ROW_P).is_null().sum().alias("sas"), pl.col(ROW_S).is_null().sum().alias("py"))
    comp.only_sas, comp.only_py = (int(v) for v in only.row(0))
    comp.matched = comp.rows_sas - comp.only_sas
    aggs: list[pl.Expr] = []
    for plan in compare:
        aggs.append(pl.col(plan.neq).sum().alias(f"#mm{plan.idx}"))
        if plan.numeric:
            both = matched & pl.col(plan.s).is_not_null() & pl.col(plan.p).is_not_null() & pl.col(plan.p).is_finite()
            diff, rel = abs_rel_diff(pl.col(plan.s), pl.col(plan.p))
            aggs.append(pl.when(both).then(diff).max().alias(f"#abs{plan.idx}"))
            aggs.append(pl.when(both & (pl.col(plan.s) != 0)).then(rel).max().alias(f"#rel{plan.idx}"))
    agg = kept.select(aggs).row(0, named=True) if aggs else {}
    for plan in compare:
        max_abs = _num(agg.get(f"#abs{plan.idx}"))
        max_rel = _num(agg.get(f"#rel{plan.idx}"))
        if max_abs is None and plan.numeric and comp.matched:
            # no kept pair had two values: the matched pairs not in `kept` are identical, a difference of 0
            max_abs = max_rel = 0.0
        comp.stats[plan.name] = ColumnStats(compared=comp.matched, mismatches=int(agg[f"#mm{plan.idx}"] or 0),
                                            max_abs_diff=max_abs, max_rel_diff=max_rel)
    # diffs = kept.filter(...).sort(...), gathered one column at a time and releasing kept's columns as it goes:
    # when every row differs, filtering and sorting whole frames held three copies of them at once
    sort_cols = [ROW_S, ROW_P] if not keys else [*s_keys, *([DUP] if DUP in kept.columns else [])]
    order = (kept.lazy().with_row_index("#i").filter(~matched | any_neq).sort(sort_cols, nulls_last=False)
             .select("#i").collect().to_series())
    columns = kept.get_columns()
    del kept
    for i in range(len(columns)):
        columns[i] = columns[i].gather(order)
    comp.diffs = pl.DataFrame(columns)
    del columns, order

    # 4. order of matched rows against the SAS output's own order (without sort_by)
    if keys and not spec.sort_by:
        sas_in_key_order = _violations(scanned["keyorder_sas"])["violations"] == 0
        if sas_in_key_order and not (comp.dup_sas.keys or comp.dup_py.keys):
            py_order = _violations(scanned["keyorder_py"])
            comp.order_inversions = py_order["violations"]
            comp.order_first = (None, py_order["first_row"]) if py_order["violations"] else None
        else:  # the SAS output is in some other order: compare positions through a join of keys only
            s_pos = sas_lf.select([*on, ROW_S])
            p_pos = py_lf.select([*on, ROW_P])
            pairs = s_pos.join(p_pos, on=on, how="inner", nulls_equal=True).select(ROW_S, ROW_P).sort(ROW_S)
            inv = pairs.filter(pl.col(ROW_P).diff() < 0).select(
                pl.len().alias("#inv"), pl.col(ROW_S).first().alias("#s"), pl.col(ROW_P).first().alias("#p")
            ).collect().row(0, named=True)
            comp.order_inversions = int(inv["#inv"])
            if comp.order_inversions:
                comp.order_first = (int(inv["#s"]) + 1, int(inv["#p"]) + 1)
    return comp


def _n_unique(cols: list[str]) -> pl.Expr:
    return pl.col(cols[0]).n_unique() if len(cols) == 1 else pl.struct(cols).n_unique()


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _dups(groups: pl.DataFrame, cols: list[str], keys: list[ColumnPlan], sample: int = 10) -> DupInfo:
    if groups.height == 0:
        return DupInfo()
    ordered = groups.sort(cols, nulls_last=False)
    from parity.values import key_dict

    samples = [
        {"key": key_dict(keys, row, cols), "count": int(row["#n"])}
        for row in ordered.head(sample).iter_rows(named=True)
    ]
    from parity.report.delta import key_set

    with_counts = key_set(ordered, [*cols, "#n"])
    return DupInfo(rows=int(groups["#n"].sum()), keys=groups.height, sample=samples, key_set=key_set(ordered, cols),
                   groups_sha256=with_counts["sha256"] if with_counts else None)


def _string_length_queries(comp: Comparison, compare: list[ColumnPlan]) -> dict[str, pl.LazyFrame]:
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
    return {"len_sas": comp.sas.frame.lazy().select(s_exprs), "len_py": comp.py.frame.lazy().select(p_exprs)}


def _string_length_results(comp: Comparison, compare: list[ColumnPlan], results: dict[str, pl.DataFrame]) -> None:
    if "len_sas" not in results:
        return
    lengths = {p.name: p.sas.length for p in compare if p.sas}
    comp.sas_full_strings = {k: int(v) for k, v in results["len_sas"].row(0, named=True).items() if v}
    comp.python_long_strings = {
        k: {"count": int(v["count"]), "max_bytes": int(v["max_bytes"] or 0), "sas_length": lengths[k] or 0}
        for k, v in results["len_py"].row(0, named=True).items() if v["count"]
    }
