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


# --------------------------------------------------------------------------------------------------------------
# encodings


#: iconv's names (as ReadStat gives a SAS file's encoding) that Python spells otherwise, beyond the generic rules of
#: :func:`python_codec`
_ICONV_NAMES = {"MACROMANIA": "mac_romanian", "MACCENTRALEUROPE": "mac_latin2"}

#: SAS's own encoding names (PROC CONTENTS, the ENCODING= option, SAS NLS) that Python spells otherwise, so that
#: ``encoding = "wlatin1"`` in parity.toml means what a SAS programmer means by it
SAS_ENCODINGS = {
    "WLATIN1": "cp1252", "WLATIN2": "cp1250", "WCYRILLIC": "cp1251", "WGREEK": "cp1253", "WTURKISH": "cp1254",
    "WHEBREW": "cp1255", "WARABIC": "cp1256", "WBALTIC": "cp1257", "WVIETNAMESE": "cp1258", "LATIN9": "iso8859_15",
    "LATIN1": "latin_1", "LATIN2": "iso8859_2", "LATIN5": "iso8859_9", "CYRILLIC": "iso8859_5", "GREEK": "iso8859_7",
    "HEBREW": "iso8859_8", "ARABIC": "iso8859_6", "SHIFT-JIS": "shift_jis", "MS-932": "cp932",
    "EUC-CN": "gb2312", "MS-936": "gbk", "MS-949": "cp949", "MS-950": "cp950", "PCOEM437": "cp437",
    "PCOEM850": "cp850", "PCOEM852": "cp852", "PCOEM866": "cp866", "US-ASCII": "ascii", "ANSI1252": "cp1252",
}


def python_codec(encoding: str) -> str | None:
    """The Python codec of an encoding named as SAS, iconv, ReadStat or a user spell it (``'wlatin1'`` is
    ``cp1252``, ``'BIG-5'`` is ``big5``,
    ``'WINDOWS-936'`` is ``gbk``, ``'MACCROATIAN'`` is ``mac_croatian``), None when Python has none (``EUC-TW``)."""
    import codecs

    name = encoding.strip()
    upper = name.upper()
    candidates = [name, SAS_ENCODINGS.get(upper, ""), _ICONV_NAMES.get(upper, ""), upper.replace("-", "")]
    if upper.startswith("WINDOWS-"):
        candidates.append("cp" + upper.removeprefix("WINDOWS-"))
    if upper.startswith("MAC") and not upper.startswith("MAC_"):
        candidates.append("mac_" + upper.removeprefix("MAC").lower())
    for candidate in filter(None, candidates):
        try:
            info = codecs.lookup(candidate)
        except LookupError:
            continue
        if info._is_text_encoding:
            return info.name
    return None
