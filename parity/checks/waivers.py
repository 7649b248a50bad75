"""Matching the rows a waiver names: its key values, normalised as the engine normalised the keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parity.engine.normalize import normalize_string, round_temporal, truncate_to_width
from parity.values import missing_key_tag, sas_key_value

if TYPE_CHECKING:
    import polars as pl

    from parity.engine.plan import ColumnPlan
    from parity.spec import DatasetSpec


def waiver_key_match(plan: ColumnPlan, value: Any, spec: DatasetSpec) -> pl.Expr:
    """Rows (of the engine's diffs) whose key ``plan`` is the key value a waiver names, normalised as the keys
    were for matching: strings under the string rules, LENGTH 3-7 numbers truncated, datetimes rounded to the
    precision, and missing keys by kind (``"."``, ``".A"``, ``"._"``) under ``special_missing = "strict"``."""
    import polars as pl

    col = pl.col(plan.s)
    tag = missing_key_tag(plan.kind, value)
    if tag is not None:
        if plan.has_tags:  # strict: the missing key's kind must match
            return col.is_null() & (pl.col(plan.st).fill_null(".") == tag)
        strict = spec.numbers.special_missing == "strict"
        return col.is_null() & pl.lit(tag == "." or not strict)
    target = sas_key_value(plan.kind, value)
    if target is None:  # a blank character key: the missing value
        return col.is_null()
    if plan.kind == "string":
        return (col == normalize_string(pl.lit(target, dtype=pl.String), spec.strings)).fill_null(False)
    width = plan.sas.length if plan.sas else None
    if spec.numbers.storage == "truncate" and width and 3 <= width < 8:  # as SAS stored the key
        target = truncate_to_width(pl.Series([target], dtype=pl.Float64), width).item()
    return (col == round_temporal(pl.lit(target, dtype=pl.Float64), plan.kind, spec.dates)).fill_null(False)
