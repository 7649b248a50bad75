"""Turning data values into deterministic, JSON-safe report values."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from parity.formats import Kind, sas_value_text

if TYPE_CHECKING:
    import polars as pl

    from parity.engine import ColumnPlan
    from parity.spec import DatasetSpec


def json_number(value: float | int | None) -> float | int | str | None:
    """Finite numbers as numbers (integral floats as ints); inf/nan as strings, since JSON has neither."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def display(kind: Kind | str, value: Any, tag: str | None = None) -> str:
    """A value as a SAS programmer reads it: dates as ISO text, missing as '.', '.A', strings quoted."""
    if kind == "string":
        return "''" if value is None else repr(value)
    number = None if value is None else float(value)
    if number is not None and number.is_integer() and kind == "numeric" and abs(number) < 2**53:
        return str(int(number))
    return sas_value_text(kind, number, tag)  # type: ignore[arg-type]


def key_dict(keys: Sequence[ColumnPlan], row: dict[str, Any], cols: Sequence[str]) -> dict[str, Any]:
    """The key of one row, by SAS column name, as JSON-safe values (dates as ISO text)."""
    out: dict[str, Any] = {}
    for plan, col in zip(keys, cols, strict=False):
        value = row.get(col)
        tag = row.get(plan.st if col == plan.s else plan.pt) if value is None and plan.has_tags else None
        if tag and tag != ".":  # a special missing key: .A-.Z or ._
            out[plan.name] = "." + tag
        elif plan.kind == "string" or plan.kind == "numeric":
            out[plan.name] = json_number(value) if plan.kind == "numeric" else value
        else:
            out[plan.name] = display(plan.kind, value)
    return out


def sas_key_value(kind: Kind | str, value: Any) -> Any:
    """A key value written in parity.toml (a TOML number, string, date or datetime; ISO text for a date, datetime
    or time key) in SAS units.  Raises ValueError (or TypeError) for a value that is not of the key's kind."""
    import datetime as dt

    from parity.formats import SAS_EPOCH, SAS_EPOCH_DT

    if kind == "string":
        return str(value).rstrip(" ") or None
    if isinstance(value, bool) or not isinstance(value, int | float | str | dt.date | dt.time):
        raise TypeError(f"{value!r} is not a SAS {kind} value")
    if isinstance(value, str) and kind != "numeric":
        text = value.strip()
        parsed: dt.date | dt.time = dt.time.fromisoformat(text) if kind == "time" else (
            dt.datetime.fromisoformat(text) if "T" in text or " " in text or kind == "datetime"
            else dt.date.fromisoformat(text))
        value = parsed
    if isinstance(value, dt.datetime):
        seconds = (value.replace(tzinfo=None) - SAS_EPOCH_DT).total_seconds()
        return seconds / 86400 if kind == "date" else seconds
    if isinstance(value, dt.date):
        days = (value - SAS_EPOCH).days
        return float(days * 86400) if kind == "datetime" else float(days)
    if isinstance(value, dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


_MISSING_KEY = re.compile(r"\.([A-Z_]?)", re.IGNORECASE)


def missing_key_tag(kind: Kind | str, value: Any) -> str | None:
    """The kind of missing value a waiver key names for a numeric (or date/time) key: ``"."`` for ``"."``,
    ``"A"``-``"Z"`` or ``"_"`` for ``".A"``-``".Z"``/``"._"``; None for any other value."""
    if kind == "string" or not isinstance(value, str):
        return None
    found = _MISSING_KEY.fullmatch(value.strip())
    return None if found is None else (found.group(1).upper() or ".")


def waiver_key_match(plan: ColumnPlan, value: Any, spec: DatasetSpec) -> pl.Expr:
    """Rows (of the engine's diffs) whose key ``plan`` is the key value a waiver names, normalised as the keys
    were for matching: strings under the string rules, LENGTH 3-7 numbers truncated, datetimes rounded to the
    precision, and missing keys by kind (``"."``, ``".A"``, ``"._"``) under ``special_missing = "strict"``."""
    import polars as pl

    from parity.normalize import normalize_string, round_temporal, truncate_to_width

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
