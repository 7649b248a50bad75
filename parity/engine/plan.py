"""Column planning, shared by every engine: which columns pair up, their roles, kinds, tolerances and
conversions, and the spec's column rules (each mistake a SpecError naming the parity.toml key).

Engine-agnostic: it reads the sources' declared columns, and the few value facts a plan needs (the conversions
that change Python values, the format an unformatted SAS numeric's values fit) come from one aggregate pass over
each side's :meth:`~parity.sources.base.Source.scan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from parity.engine.normalize import (
    Collation,
    Conversion,
    change_exprs,
    finish_conversion,
    largest_abs,
    plan_conversion,
    truncation_width,
)
from parity.errors import InputError, SpecError
from parity.formats import Kind
from parity.sources.base import Change, ColumnInfo, Source, tag_column
from parity.spec import (
    TEMPORAL_KINDS,
    TOLERANCE_DEFAULT_KEYS,
    DatasetSpec,
    JobSpec,
    SortKey,
    Tolerance,
    temporal_tolerance,
)

Role = Literal["key", "compare", "ignored", "sas_only", "python_only", "type_conflict"]


@dataclass
class ColumnPlan:
    """One column's fate: its role, kind, tolerance and conversion, and the names of its columns in an engine
    result's kept rows (:mod:`parity.engine.base`): ``s``/``p`` the values, ``st``/``pt`` their special missing
    tags, ``neq`` whether a matched pair is unequal."""

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


def spec_file_of(spec: DatasetSpec, job: JobSpec | None) -> Path:
    """Where spec errors point: the job's parity.toml, or the API's arguments (a spec without a job)."""
    if job is not None:
        return job.spec_file
    from parity.spec import ARGUMENTS

    return ARGUMENTS


@dataclass(frozen=True)
class OrderPlan:
    """What both engines check the row order by: ``sort_by``, else the keys (is each side in key order?)."""

    by: tuple[SortKey, ...]
    plans: list[ColumnPlan]  # the BY columns' plans, once each
    collation: Collation  # SAS's byte order of the SAS file's encoding
    spec_file: Path
    where: str  # the spec key the BY columns come from, for errors

    @property
    def strings(self) -> bool:
        """Whether a BY column holds strings on either side (the collation then goes into the facts)."""
        return any(p.kind == "string" or (p.py is not None and p.py.kind == "string") for p in self.plans)


def order_plan(spec: DatasetSpec, job: JobSpec | None, plans: list[ColumnPlan], keys: list[ColumnPlan],
               sas: Source) -> OrderPlan | None:
    """The order check's plan (None without sort_by and keys)."""
    by = spec.sort_by or tuple(SortKey(k.name) for k in keys)
    if not by:
        return None
    by_name = {p.name.casefold(): p for p in plans}
    order_plans = list({by_name[o.column.casefold()].idx: by_name[o.column.casefold()] for o in by}.values())
    return OrderPlan(by, order_plans, Collation.of(spec.encoding or sas.meta.encoding), spec_file_of(spec, job),
                     f"datasets.{spec.name}.{'sort_by' if spec.sort_by else 'keys'}")


def require_sort_order(dtype: pl.DataType, info: ColumnInfo, spec_file: Path, where: str) -> None:
    """A BY (or sort_by) column of a non-character Python type must have a SAS sort order (numbers, dates, times,
    booleans, nulls, decimals); anything else is a spec error naming the column (every engine asks the same)."""
    if not (dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.Boolean, pl.Null)
            or isinstance(dtype, pl.Decimal)):
        raise SpecError(spec_file, f"column {info.name!r} has Python type {dtype}, which has no SAS sort order",
                        key=where)


def plan_columns(spec: DatasetSpec, job: JobSpec | None, sas: Source, py: Source) -> list[ColumnPlan]:
    """Every column's plan, in SAS column order then the Python-only columns, complete with its value facts.
    Raises SpecError for the spec's mistakes about columns, InputError for a Python output with two columns SAS
    would see as one."""
    plans, facts = plan_columns_deferred(spec, job, sas, py)
    facts.apply(pl.collect_all(facts.queries, engine="streaming") if facts.queries else [])
    return plans


@dataclass
class ValueFacts:
    """What the plans still need from the values: aggregate queries over each side (an engine runs them with its
    own first pass over the data), and :meth:`apply`, which completes the plans' conversions with their results
    (the conversions that changed Python values, the format an unformatted SAS numeric's values fit).  Kinds,
    roles and conflicts never depend on them."""

    queries: list[pl.LazyFrame]
    pending: list[tuple[ColumnPlan, list[tuple[str, str, str]], str | None]]

    def apply(self, frames: list[pl.DataFrame]) -> None:
        facts: dict[str, Any] = {}
        for frame in frames:
            facts.update(frame.row(0, named=True))
        for plan, changes, hint in self.pending:
            assert plan.conversion is not None and plan.sas is not None and plan.py is not None
            changed = [Change(code, text, int(facts[name] or 0)) for code, text, name in changes if facts[name]]
            plan.conversion = finish_conversion(plan.conversion, plan.sas, plan.py,
                                                facts.get(hint) if hint else None, changed)


def plan_columns_deferred(spec: DatasetSpec, job: JobSpec | None, sas: Source,
                          py: Source) -> tuple[list[ColumnPlan], ValueFacts]:
    """:func:`plan_columns` without reading any value: the plans, and the :class:`ValueFacts` that complete
    them."""
    spec_file = spec_file_of(spec, job)
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
    pairs: list[tuple[ColumnInfo, ColumnInfo]] = []
    for info in sas.columns:
        py_info = py_by_fold.get(rename.get(info.name.casefold(), info.name).casefold())
        if py_info is not None:
            pairs.append((info, py_info))
    conversions, queries, pending = _conversions(spec, sas, py, pairs)
    s_tags, p_tags = _tagged(sas), _tagged(py)
    for info in sas.columns:
        fold = info.name.casefold()
        py_name = rename.get(fold, info.name).casefold()
        py_info = py_by_fold.get(py_name)
        idx = len(plans)
        if py_info is None:
            plans.append(ColumnPlan(info.name, idx, info, None, "sas_only", info.kind))
            continue
        used_py.add(py_name)
        conv = conversions[info.name]
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
        plan.has_tags = info.name in s_tags or py_info.name in p_tags
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
    by_sas = {p.sas.name: p for p in plans if p.sas is not None}
    return plans, ValueFacts(queries, [(by_sas[name], changes, hint) for name, changes, hint in pending])


def _tagged(source: Source) -> set[str]:
    """The columns of ``source`` whose scan carries a special missing tag column."""
    schema = source.scan().collect_schema()
    return {c.name for c in source.columns if tag_column(c.name) in schema}


def _conversions(spec: DatasetSpec, sas: Source, py: Source, pairs: list[tuple[ColumnInfo, ColumnInfo]]
                 ) -> tuple[dict[str, Conversion], list[pl.LazyFrame],
                            list[tuple[str, list[tuple[str, str, str]], str | None]]]:
    """Each column pair's Conversion (by SAS name) before its value facts; the aggregate queries (one per side)
    that count them; per pair still pending: (SAS name, its changes (code, text, aggregate), its hint aggregate)."""
    s_lf, p_lf = sas.scan(), py.scan()
    p_schema = py.scan().collect_schema()  # apart: a scan whose schema was resolved streams worse (polars 1.44)
    s_aggs: list[pl.Expr] = []
    p_aggs: list[pl.Expr] = []
    pending: list[tuple[str, list[tuple[str, str, str]], str | None]] = []
    out: dict[str, Conversion] = {}
    for i, (s_info, p_info) in enumerate(pairs):
        dtype = p_schema[p_info.name]
        conv = plan_conversion(s_info.kind, s_info.type, dtype)
        if p_info.problem is not None:
            out[s_info.name] = Conversion(conv.kind, conflict=p_info.problem)
            continue
        out[s_info.name] = conv
        if conv.conflict is not None:
            continue
        hint = None
        if s_info.type == "numeric" and s_info.kind == "numeric" and conv.kind in ("date", "datetime"):
            hint = f"#fact_h{i}"
            s_aggs.append(largest_abs(pl.col(s_info.name)).alias(hint))
        width = truncation_width(s_info, conv.kind, dtype) if spec.numbers.storage == "truncate" else None
        changes = []
        for j, (code, text, expr) in enumerate(change_exprs(pl.col(p_info.name), dtype, conv.kind, width)):
            p_aggs.append(expr.alias(f"#fact_c{i}_{j}"))
            changes.append((code, text, f"#fact_c{i}_{j}"))
        pending.append((s_info.name, changes, hint))
    queries = [q.select(aggs) for q, aggs in ((s_lf, s_aggs), (p_lf, p_aggs)) if aggs]
    return out, queries, pending


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


