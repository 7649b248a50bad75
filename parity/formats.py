"""SAS formats: which ones make a numeric column a date, a datetime or a time, and how to show SAS values.

pyreadstat only recognises a subset of SAS's date formats (and treats DTDATE, a datetime format, as a date);
parity reads raw numbers and classifies formats itself, so MONYY., YEAR., QTR., NLDATE. and friends are dates
too, and no module-level state of pyreadstat is ever changed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Literal

Kind = Literal["numeric", "string", "date", "datetime", "time"]

SAS_EPOCH = dt.date(1960, 1, 1)
SAS_EPOCH_DT = dt.datetime(1960, 1, 1)
#: days between 1960-01-01 (SAS) and 1970-01-01 (Unix)
EPOCH_SHIFT_DAYS = 3653
EPOCH_SHIFT_SECONDS = EPOCH_SHIFT_DAYS * 86400

_SUFFIXED = ("MMDDYY", "DDMMYY", "YYMMDD", "MMYY", "YYMM", "YYQ", "YYQR")
_DATE = {
    "DATE", "DAY", "DOWNAME", "JULDAY", "JULIAN", "MONNAME", "MONTH", "MONYY", "NENGO", "QTR", "QTRR", "WEEKDATE",
    "WEEKDATX", "WEEKDAY", "WEEKU", "WEEKV", "WEEKW", "WORDDATE", "WORDDATX", "YEAR", "YYMON", "YYWEEKU",
    "YYWEEKV", "YYWEEKW", "MINGUO", "PDJULG", "PDJULI", "E8601DA", "B8601DA", "IS8601DA", "NLDATE", "NLDATEL",
    "NLDATEM", "NLDATEMD", "NLDATEMDL", "NLDATEMDM", "NLDATEMDS", "NLDATEMN", "NLDATES", "NLDATEW", "NLDATEWN",
    "NLDATEYM", "NLDATEYML", "NLDATEYMM", "NLDATEYMS", "NLDATEYQ", "NLDATEYQL", "NLDATEYQM", "NLDATEYQS",
    "NLDATEYR", "NLDATEYW", "EURDFDD", "EURDFDE", "EURDFDN", "EURDFDWN", "EURDFMN", "EURDFMY", "EURDFWDX",
    "EURDFWKX", "HDATE", "HEBDATE",
    *(base + suffix for base in _SUFFIXED for suffix in ("", "B", "C", "D", "N", "P", "S")),
}
_DATETIME = {
    "DATETIME", "DATEAMPM", "DTDATE", "DTMONYY", "DTWKDATX", "DTYEAR", "DTYYQC", "MDYAMPM", "E8601DT",
    "E8601DN", "E8601DX", "E8601DZ", "E8601LX", "B8601DT", "B8601DN", "B8601DX", "B8601DZ", "B8601LX",
    "IS8601DT", "IS8601DN", "IS8601DZ", "NLDATM", "NLDATMAP", "NLDATMDT", "NLDATML", "NLDATMM", "NLDATMMD",
    "NLDATMMDL", "NLDATMMDM", "NLDATMMDS", "NLDATMMN", "NLDATMS", "NLDATMTM", "NLDATMTZ", "NLDATMW", "NLDATMWN",
    "NLDATMWZ", "NLDATMYM", "NLDATMYML", "NLDATMYMM", "NLDATMYMS", "NLDATMYQ", "NLDATMYQL", "NLDATMYQM",
    "NLDATMYQS", "NLDATMYR", "NLDATMYW", "NLDATMZ",
}
_TIME = {
    "TIME", "TIMEAMPM", "TOD", "HHMM", "HOUR", "MMSS", "E8601TM", "E8601TX", "E8601TZ", "E8601LZ", "B8601TM",
    "B8601TX", "B8601TZ", "B8601LZ", "IS8601TM", "IS8601TZ", "IS8601LZ", "NLTIME", "NLTIMAP",
}

_FORMAT_RE = re.compile(r"^(?P<name>\$?[A-Z_][A-Z0-9_]*?)(?P<width>\d+)?(?:\.(?P<decimals>\d*))?$")


def format_name(fmt: str | None) -> str | None:
    """The bare name of a SAS format: ``'DATE9.'`` -> ``'DATE'``, ``'E8601DA10.'`` -> ``'E8601DA'``."""
    if not fmt:
        return None
    text = fmt.strip().upper()
    match = _FORMAT_RE.match(text)
    if not match:
        return text
    name = match.group("name")
    # names that end in digits (E8601DA has none at the end, but e.g. "BEST" + "12") are split greedily enough;
    # a name that is itself all prefix (e.g. "E8601") cannot be a format, keep the text
    return name or text


def kind_of_format(fmt: str | None) -> Kind:
    """What a numeric column with this SAS format holds: date, datetime, time, or plain numeric."""
    name = format_name(fmt)
    if name is None:
        return "numeric"
    if name in _DATE:
        return "date"
    if name in _DATETIME:
        return "datetime"
    if name in _TIME:
        return "time"
    return "numeric"


def sas_value_text(kind: Kind, value: float | None, tag: str | None = None) -> str:
    """Show a SAS numeric value the way a SAS programmer reads it (dates as ISO text, missing as ``.``/``.A``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if tag and tag != ".":
            return "._" if tag == "_" else f".{tag}"
        return "."
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    try:
        if kind == "date":
            whole = math.floor(value)
            text = (SAS_EPOCH + dt.timedelta(days=whole)).isoformat()
            return text if whole == value else f"{text} (+{value - whole:g} d)"
        if kind == "datetime":
            return (SAS_EPOCH_DT + dt.timedelta(seconds=value)).isoformat(sep=" ")
        if kind == "time":
            sign = "-" if value < 0 else ""
            total = abs(value)
            hours, rest = divmod(total, 3600)
            minutes, seconds = divmod(rest, 60)
            sec_text = f"{seconds:09.6f}".rstrip("0").rstrip(".") if seconds % 1 else f"{int(seconds):02d}"
            return f"{sign}{int(hours):02d}:{int(minutes):02d}:{sec_text}"
    except (OverflowError, ValueError):
        return f"{value!r} (out of Python's date range)"
    return repr(value)
