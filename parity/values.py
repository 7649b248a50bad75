"""Turning data values into deterministic, JSON-safe report values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from parity.formats import Kind, sas_value_text

if TYPE_CHECKING:
    from parity.engine import ColumnPlan


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
    """A key value written in parity.toml (a TOML number, string, date or datetime) in SAS units."""
    import datetime as dt

    from parity.formats import SAS_EPOCH, SAS_EPOCH_DT

    if kind == "string":
        return str(value).rstrip(" ") or None
    if isinstance(value, dt.datetime):
        seconds = (value.replace(tzinfo=None) - SAS_EPOCH_DT).total_seconds()
        return seconds / 86400 if kind == "date" else seconds
    if isinstance(value, dt.date):
        days = (value - SAS_EPOCH).days
        return float(days * 86400) if kind == "datetime" else float(days)
    if isinstance(value, dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    return float(value)
