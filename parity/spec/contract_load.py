"""Parsing ``[datasets.<ds>.contract]`` and ``[[datasets.<ds>.quality]]`` (:mod:`parity.spec.contract`).

Everything that can be judged without the data is checked here (unknown keys, a bad type name, ``decimal(p,s)``
with s > p, a SQL rule that does not parse, a lookup file that does not exist); column names are checked once the
data's columns are known (:mod:`parity.engine.quality`), still before any comparison.  Every mistake is a
:class:`~parity.errors.SpecError` naming the file and the key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from parity.errors import SpecError
from parity.spec.contract import (
    CONTRACT_TYPES,
    LOOKUP_EXTENSIONS,
    ColumnContract,
    Contract,
    ContractType,
    Distinct,
    ExtraColumns,
    Lookup,
    QualityRule,
    QualitySeverity,
)
from parity.spec.load import _str_list, _table, _unknown_keys

_DECIMAL_RE = re.compile(r"^\s*decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*$", re.IGNORECASE)
COLUMN_KEYS = {"type", "max_length", "nullable"}
CONTRACT_KEYS = {"columns", "unique", "extra_columns"}
QUALITY_KEYS = {"name", "rule", "lookup", "distinct", "severity", "description"}


def _name(file: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(file, f"must be a column name (a non-empty string), got {value!r}", key=where)
    return value


def _count(file: Path, where: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(file, f"must be a whole number >= {minimum}, got {value!r}", key=where)
    return value


def parse_type(file: Path, where: str, value: Any) -> tuple[ContractType, int | None, int | None]:
    """``"string"`` ... ``"boolean"`` or ``"decimal(p,s)"`` (1 <= p <= 38, 0 <= s <= p)."""
    if not isinstance(value, str):
        raise SpecError(file, f"must be a type name ({', '.join(CONTRACT_TYPES[:3])}(p,s), ...), got {value!r}",
                        key=where)
    m = _DECIMAL_RE.match(value)
    if m:
        p, s = int(m.group(1)), int(m.group(2))
        if not 1 <= p <= 38:
            raise SpecError(file, f"{value!r}: the precision p of decimal(p,s) must be 1 to 38", key=where)
        if s > p:
            raise SpecError(file, f"{value!r}: the scale s of decimal(p,s) cannot exceed the precision p (p digits "
                            "in all, s of them after the decimal point)", key=where)
        return "decimal", p, s
    name = value.strip().lower()
    if name == "decimal":
        raise SpecError(file, "write decimal(p,s) with its precision and scale, e.g. \"decimal(19,4)\"", key=where)
    if name not in CONTRACT_TYPES:
        close = difflib.get_close_matches(name, [*CONTRACT_TYPES, "decimal(p,s)"], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SpecError(file, f"unknown type {value!r}: use string, integer, decimal(p,s), float, date, datetime, "
                        f"time or boolean.{hint}", key=where)
    return name, None, None


def _names_list(file: Path, where: str, value: Any) -> tuple[str, ...]:
    names = _str_list(file, where, value)
    if not names or not all(n.strip() for n in names):
        raise SpecError(file, f"must be a non-empty list of column names, got {value!r}", key=where)
    return names


def parse_contract(file: Path, where: str, raw: Any) -> Contract | None:
    """``[datasets.<ds>.contract]``, or None when the dataset has none."""
    if raw is None:
        return None
    table = _table(file, where, raw)
    _unknown_keys(file, where, table, CONTRACT_KEYS)
    cols_raw = _table(file, f"{where}.columns", table.get("columns", {}))
    seen: dict[str, str] = {}
    columns = []
    for name, spec in cols_raw.items():
        w = f"{where}.columns.{name}"
        if str(name).casefold() in seen:
            raise SpecError(file, f"names column {seen[str(name).casefold()]!r} twice ({name!r}: SAS names are "
                            "case-insensitive); keep one", key=w)
        seen[str(name).casefold()] = str(name)
        if isinstance(spec, str):  # shorthand: paid = "decimal(19,4)"
            spec = {"type": spec}
        col = _table(file, w, spec)
        _unknown_keys(file, w, col, COLUMN_KEYS)
        if not col:
            raise SpecError(file, "states nothing: give type, max_length and/or nullable", key=w)
        ctype, p, s = parse_type(file, f"{w}.type", col["type"]) if "type" in col else (None, None, None)
        max_length = _count(file, f"{w}.max_length", col["max_length"], 1) if "max_length" in col else None
        if max_length is not None and ctype not in (None, "string"):
            raise SpecError(file, f"max_length applies to string columns, not to {ctype}", key=f"{w}.max_length")
        nullable = col.get("nullable", True)
        if not isinstance(nullable, bool):
            raise SpecError(file, f"must be true or false, got {nullable!r}", key=f"{w}.nullable")
        columns.append(ColumnContract(str(name), ctype, p, s, max_length, nullable))
    unique = _names_list(file, f"{where}.unique", table["unique"]) if "unique" in table else ()
    extra = table.get("extra_columns", "warn")
    if extra not in ("fail", "warn", "allow"):
        raise SpecError(file, f"must be one of fail, warn, allow; got {extra!r}", key=f"{where}.extra_columns")
    if not columns and not unique:
        raise SpecError(file, "declares nothing: add [" + where + ".columns] or unique = [...]", key=where)
    return Contract(tuple(columns), unique, cast(ExtraColumns, extra))


def parse_sql_rule(file: Path, where: str, value: Any) -> tuple[str, str | None]:
    """A SQL expression (text), and why polars SQL rejects it (None when it parses as one condition).  The
    rejection is not raised here: the polars engine raises it before any comparison, while the Spark engine parses
    the rule in Spark SQL instead (:mod:`parity.spark.quality`); its columns are checked once the data is read."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(file, f"must be a SQL expression (text), got {value!r}", key=where)
    sas_literal = _SAS_LITERAL_RE.search(value)
    if sas_literal:  # SQL would read '01JAN2024'd as a text and an alias: never what a SAS programmer meant
        raise SpecError(file, f"{sas_literal.group(0)!r} is a SAS date/time literal, which SQL does not know: "
                        f"write {_sql_literal(sas_literal)}", key=where)
    import polars as pl

    try:
        expr = pl.sql_expr(value)
        expr.meta.root_names()
    except Exception as exc:
        return value, (f"the SQL expression {value!r} does not parse in polars SQL, the polars engine's dialect "
                       f"({_first_line(exc)}); write a condition that is true on every good row, e.g. "
                       "\"paid >= 0\"")
    try:  # polars judges only the first of "a >= 0, b >= 0" or "a >= 0; ..." and takes "a >= 0 b" as an alias
        pl.sql_expr(f"({value}\n)")
    except Exception:
        return value, (f"the SQL expression {value!r} is not one condition in polars SQL, the polars engine's "
                       "dialect (a list, a second statement, an alias or trailing words would be silently "
                       "dropped); join conditions with AND")
    return value, None


#: a SAS date, datetime or time constant: '01JAN2024'd, '01JAN2024:10:30:00'dt, '10:30't
_SAS_LITERAL_RE = re.compile(r"'\s*(?:(\d{1,2})([a-z]{3})(\d{2}(?:\d{2})?)(?::(\d{1,2}:\d{2}(?::\d{2}(?:\.\d*)?)?))?"
                             r"|(\d{1,2}:\d{2}(?::\d{2}(?:\.\d*)?)?))\s*'(dt|d|t)\b", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _sql_literal(m: re.Match[str]) -> str:
    """The SQL spelling of a SAS date/time literal (a DATE or TIMESTAMP literal; a time as text to compare)."""
    day, mon, year, clock, time_only, suffix = m.groups()
    if time_only is not None or mon is None or mon.lower() not in _MONTHS:
        return "a DATE 'yyyy-mm-dd' or TIMESTAMP 'yyyy-mm-dd hh:mm:ss' literal (a time column: compare its parts)"
    if len(year) == 2:
        return "the date with a four-digit year, e.g. DATE '2024-01-31' (SAS's YEARCUTOFF does not apply here)"
    date = f"{year}-{_MONTHS.index(mon.lower()) + 1:02d}-{int(day):02d}"
    if suffix.lower() == "dt":
        hh, rest = (clock or "0:00").split(":", 1)
        return f"TIMESTAMP '{date} {int(hh):02d}:{rest if rest.count(':') else rest + ':00'}'"
    return f"DATE '{date}'"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def parse_quality(file: Path, folder: Path, where: str, raw: Any) -> tuple[QualityRule, ...]:
    """``[[datasets.<ds>.quality]]``: an array of tables, each with a unique name and exactly one of rule, lookup,
    distinct."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SpecError(file, "must be an array of tables: [[" + where + "]]", key=where)
    out: list[QualityRule] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        table = _table(file, w, item)
        _unknown_keys(file, w, table, QUALITY_KEYS)
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SpecError(file, "a quality rule needs a name (a non-empty string)", key=f"{w}.name")
        if name.casefold() in names:
            raise SpecError(file, f"a second quality rule named {name!r}: names must be unique", key=f"{w}.name")
        names.add(name.casefold())
        try:
            out.append(_parse_rule(file, folder, w, name, table))
        except SpecError as exc:  # name the rule, not only its key
            raise rule_error(exc, name) from None
    return tuple(out)


def _parse_rule(file: Path, folder: Path, w: str, name: str, table: dict[str, Any]) -> QualityRule:
    """One ``[[datasets.<ds>.quality]]`` table (its name already checked)."""
    given = [k for k in ("rule", "lookup", "distinct") if k in table]
    if len(given) != 1:
        raise SpecError(file, "give exactly one of rule (a SQL expression), lookup or distinct"
                        + (f"; got {', '.join(given)}" if given else ""), key=w)
    severity = table.get("severity", "critical")
    if severity not in ("critical", "warn"):
        raise SpecError(file, f"must be critical or warn; got {severity!r}", key=f"{w}.severity")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise SpecError(file, "must be a string", key=f"{w}.description")
    rule = lookup = distinct = polars_error = None
    if "rule" in table:
        rule, polars_error = parse_sql_rule(file, f"{w}.rule", table["rule"])
    elif "lookup" in table:
        lt = _table(file, f"{w}.lookup", table["lookup"])
        _unknown_keys(file, f"{w}.lookup", lt, {"column", "file", "key"})
        for required in ("column", "file"):
            if required not in lt:
                raise SpecError(file, f"a lookup needs {required!r} (column, file and optionally key, which "
                                "defaults to the column's name)", key=f"{w}.lookup")
        column = _name(file, f"{w}.lookup.column", lt["column"])
        rel = lt["file"]
        if not isinstance(rel, str) or not rel.strip():
            raise SpecError(file, f"must be a file name, got {rel!r}", key=f"{w}.lookup.file")
        path = (folder / rel).resolve()
        if path.suffix.lower() not in LOOKUP_EXTENSIONS:
            raise SpecError(file, f"{rel!r} must be one of {', '.join(LOOKUP_EXTENSIONS)}", key=f"{w}.lookup.file")
        if not path.is_file():
            raise SpecError(file, f"lookup file {rel!r} not found (looked for {path})", key=f"{w}.lookup.file")
        lookup = Lookup(column, path, _name(file, f"{w}.lookup.key", lt.get("key", column)))
    else:
        dt_ = _table(file, f"{w}.distinct", table["distinct"])
        _unknown_keys(file, f"{w}.distinct", dt_, {"column", "min", "max"})
        if "column" not in dt_:
            raise SpecError(file, "a distinct rule needs 'column'", key=f"{w}.distinct")
        lo = _count(file, f"{w}.distinct.min", dt_["min"]) if "min" in dt_ else None
        hi = _count(file, f"{w}.distinct.max", dt_["max"]) if "max" in dt_ else None
        if lo is None and hi is None:
            raise SpecError(file, "give min and/or max (the allowed number of distinct values)",
                            key=f"{w}.distinct")
        if lo is not None and hi is not None and lo > hi:
            raise SpecError(file, f"min {lo} is greater than max {hi}", key=f"{w}.distinct")
        distinct = Distinct(_name(file, f"{w}.distinct.column", dt_["column"]), lo, hi)
    return QualityRule(name=name, severity=cast(QualitySeverity, severity), rule=rule, lookup=lookup,
                       distinct=distinct, description=description, where=w, polars_error=polars_error)


def naming_rule(exc: SpecError, rules: Sequence[QualityRule]) -> SpecError:
    """``exc`` about a DQ rule (its key under the rule's ``where``) with the rule's name in its message, so that a
    spec error names the file, the dataset (the key) and the rule; other errors are returned as they are."""
    for rule in rules:
        if exc.key is not None and (exc.key == rule.where or exc.key.startswith(rule.where + ".")):
            return rule_error(exc, rule.name)
    return exc


def rule_error(exc: SpecError, name: str) -> SpecError:
    """``exc`` with ``quality rule 'name':`` before its message (once)."""
    prefix = f"quality rule {name!r}: "
    if exc.message.startswith(prefix):
        return exc
    return SpecError(exc.file, prefix + exc.message, key=exc.key)
