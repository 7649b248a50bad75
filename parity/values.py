"""Turning data values into deterministic, JSON-safe report values, and the number texts every renderer shows."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from parity.formats import Kind, sas_value_text


class KeyColumn(Protocol):
    """A key column of the engine's kept rows (parity.engine.plan.ColumnPlan): its name and kind, the columns
    holding its SAS and Python values (``s``/``p``) and their special missing tags (``st``/``pt``)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def has_tags(self) -> bool: ...
    @property
    def s(self) -> str: ...
    @property
    def st(self) -> str: ...
    @property
    def pt(self) -> str: ...


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


#: significant digits a listed value shows: every digit a double really holds, none of its float noise
VALUE_DIGITS = 15
#: characters of a listed string value (or string key) kept in a report; longer ones are cut around their first
#: difference and carry their length and sha256
TEXT_CAP = 200
#: characters shown before the first difference of two cut strings
TEXT_CONTEXT = 20
#: the unit of a difference of each kind (dates in days, datetimes and times in seconds)
DIFF_UNITS: dict[str, str] = {"numeric": "", "date": "days", "datetime": "s", "time": "s"}


def number_text(value: float, digits: int = VALUE_DIGITS) -> str:
    """A finite number with at most ``digits`` significant digits, never rounding away integer digits, as plain
    decimals (scientific notation only below 1e-6 or from 1e16): ``2917.4700000000003`` -> ``2917.47``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == 0:
        return "0"
    dec = Decimal(repr(float(value)))  # the shortest repr: never more digits than the double holds
    exp = min(dec.adjusted() - digits + 1, 0)
    if dec.as_tuple().exponent < exp:  # type: ignore[operator]
        dec = dec.quantize(Decimal(1).scaleb(exp), rounding=ROUND_HALF_EVEN)
    return decimal_text(dec)


def max_diff_text(value: float, criterion: float | None, method: str | None, digits: int = 6) -> str:
    """A maximum difference with ``digits`` significant digits, or as many more as it takes to show it beyond an
    absolute criterion (0.0050000001 against 0.005 is not "0.005")."""
    text = number_text(value, digits)
    while method == "absolute" and criterion is not None and digits < 17 and float(text) <= criterion < value:
        digits += 1
        text = number_text(value, digits)
    return text


def decimal_text(dec: Decimal) -> str:
    dec = dec.normalize()
    if dec.is_zero():
        return "0"
    if -6 <= dec.adjusted() < 16:
        return format(dec, "f")
    mantissa, _, exponent = format(dec, "e").partition("e")
    return f"{mantissa}e{int(exponent):+03d}"


def short_number(value: object, digits: int = 6, missing: str = "") -> str:
    """A count or a measure in a table or a summary: counts with thousands separators, other numbers with
    ``digits`` significant digits (integer digits are never rounded away), ``missing`` for None."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return f"{int(value):,}"
        text = number_text(value, digits)
        whole, dot, frac = text.partition(".")
        if "e" in text or len(whole.lstrip("-")) < 5:
            return text
        return f"{int(whole):,}{dot}{frac}"
    return str(value)


def _value_text(kind: Kind | str, value: float | None, tag: str | None, digits: int) -> str:
    if kind == "numeric" and value is not None and math.isfinite(value):
        return number_text(value, digits)
    return sas_value_text(kind, value, tag)  # type: ignore[arg-type]


def display(kind: Kind | str, value: Any, tag: str | None = None) -> str:
    """A value as a SAS programmer reads it: dates as ISO text, missing as '.', '.A', strings quoted, numbers
    without float noise (at most 15 significant digits)."""
    if kind == "string":
        return "''" if value is None else repr(value)
    return _value_text(kind, None if value is None else float(value), tag, VALUE_DIGITS)


def pair_texts(kind: Kind | str, sas: Any, python: Any, sas_tag: str | None = None,
               python_tag: str | None = None) -> tuple[str, str]:
    """The two values of an unequal pair, each with the fewest digits (15 to 17 significant) that tell them
    apart: 2917.4700000000003 vs 2917.46 shows ``2917.47`` / ``2917.46``; 0.30000000000000004 vs 0.3 shows all
    17 digits, because fewer would show two equal numbers."""
    s = None if sas is None else float(sas)
    p = None if python is None else float(python)
    for digits in (VALUE_DIGITS, 16, 17):
        pair = _value_text(kind, s, sas_tag, digits), _value_text(kind, p, python_tag, digits)
        if pair[0] != pair[1]:
            break
    return pair


def diff_text(kind: Kind | str, sas_text: str, python_text: str, diff: float | None) -> str:
    """Python - SAS as a signed text with its unit ("+0.01", "-365 days", "+3600 s"); for plain numbers the
    exact difference of the two texts shown, so what is listed adds up."""
    if diff is None or not math.isfinite(diff):
        return "" if diff is None else number_text(diff)
    text = None
    if kind == "numeric":
        try:
            text = decimal_text(Decimal(python_text) - Decimal(sas_text))
        except ArithmeticError:
            text = None
    if text is None:
        text = number_text(diff, VALUE_DIGITS)
    if not text.startswith("-") and text != "0":
        text = "+" + text
    unit = DIFF_UNITS.get(str(kind), "")
    return f"{text} {unit}" if unit else text


def _common_prefix(a: str, b: str) -> int:
    """The length of the common prefix of two strings (binary search over slices: C speed on long values)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def sha256_text(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def string_pair(sas: str | None, python: str | None) -> dict[str, Any]:
    """The report fields of an unequal pair of strings.  Values longer than TEXT_CAP characters are cut to a
    window of TEXT_CAP characters that starts just before their first difference (the same window on both sides),
    with ``truncated``, ``excerpt_start`` (1-based character) and each side's full ``*_length`` and ``*_sha256``."""
    if all(v is None or len(v) <= TEXT_CAP for v in (sas, python)):
        return {"sas": sas, "python": python, "sas_text": display("string", sas),
                "python_text": display("string", python)}
    prefix = _common_prefix(sas or "", python or "")
    start = max(0, prefix - TEXT_CONTEXT)
    out: dict[str, Any] = {"truncated": True, "excerpt_start": start + 1}
    for side, value in (("sas", sas), ("python", python)):
        if value is None:
            out |= {side: None, f"{side}_text": display("string", None)}
            continue
        excerpt = value[start:start + TEXT_CAP]
        more = start + TEXT_CAP < len(value)
        digest = sha256_text(value)
        out |= {side: excerpt, f"{side}_length": len(value), f"{side}_sha256": digest,
                f"{side}_text": f"{'…' if start else ''}{excerpt!r}{'…' if more else ''} "
                                f"({len(value):,} characters, sha256 {digest[:12]})"}
    return out


def capped_text(value: str) -> str:
    """A string key or label cut to TEXT_CAP characters (with its length when cut)."""
    if len(value) <= TEXT_CAP:
        return value
    return f"{value[:TEXT_CAP]}… ({len(value):,} characters)"


def key_dict(keys: Sequence[KeyColumn], row: dict[str, Any], cols: Sequence[str]) -> dict[str, Any]:
    """The key of one row, by SAS column name, as JSON-safe values (dates as ISO text)."""
    out: dict[str, Any] = {}
    for plan, col in zip(keys, cols, strict=False):
        value = row.get(col)
        tag = row.get(plan.st if col == plan.s else plan.pt) if value is None and plan.has_tags else None
        if tag and tag != ".":  # a special missing key: .A-.Z or ._
            out[plan.name] = "." + tag
        elif plan.kind == "string":
            out[plan.name] = capped_text(value) if isinstance(value, str) else value
        elif plan.kind == "numeric":
            out[plan.name] = json_number(value)
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
    if not isinstance(value, int | float | str | dt.date | dt.time):  # a bool is 1/0, as Python booleans compare
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
