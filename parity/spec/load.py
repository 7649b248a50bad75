"""Reading ``parity.toml`` job specs and the ``[tool.parity]`` project settings, and finding jobs.

Everything here is validated before any data is read: unknown keys, bad methods, bad criteria and missing files
are :class:`~parity.errors.SpecError` naming the file and the key.  Column names are checked later, once the
data's columns are known (still before any comparison starts).
"""

from __future__ import annotations

import datetime as dt
import difflib
import glob
import hashlib
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from parity.errors import SpecError, UsageError
from parity.model import CHECK_NAMES
from parity.spec.model import (
    METHODS,
    SAS_EXTENSIONS,
    SEVERITIES,
    SPEC_FILE,
    TEMPORAL_DEFAULTS,
    TOLERANCE_DEFAULT_KEYS,
    DatasetSpec,
    DateRules,
    JobSpec,
    Method,
    NumberRules,
    ProjectConfig,
    Severity,
    SortKey,
    StringRules,
    Tolerance,
    Waiver,
)

# --------------------------------------------------------------------------------------------------------------
# validation helpers


def _unknown_keys(file: Path, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Allowed keys: {', '.join(sorted(allowed))}."
            raise SpecError(file, f"unknown key {key!r}.{hint}", key=f"{where}.{key}" if where else key)


def _table(file: Path, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(file, f"must be a table, got {type(value).__name__}", key=where)
    return value


def _str(file: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(file, f"must be a non-empty string, got {value!r}", key=where)
    return value


def _str_list(file: Path, where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(file, f"must be a list of column names, got {value!r}", key=where)
    folded = [v.casefold() for v in value]
    dupes = sorted({v for v in value if folded.count(v.casefold()) > 1})
    if dupes:
        raise SpecError(file, f"names {dupes[0]!r} twice", key=where)
    return tuple(value)


def _choice(file: Path, where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SpecError(file, f"must be one of {', '.join(choices)}; got {value!r}", key=where)
    return cast(str, value)


def _bool(file: Path, where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(file, f"must be true or false, got {value!r}", key=where)
    return value


#: codecs Python knows that are not character sets of data files (transforms and pseudo-encodings)
NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "raw-unicode-escape", "unicode-escape", "utf-7"})


def _text_encoding(file: Path, where: str, value: Any) -> str:
    """A real text encoding (a character set): rot13, hex, base64, zlib ... are Python codecs but not charsets."""
    import codecs

    from parity.formats import python_codec

    name = _str(file, where, value)
    try:
        info: codecs.CodecInfo | None = codecs.lookup(name)
        spelled = name  # a name Python knows is kept as the user wrote it
    except LookupError:  # SAS's names (wlatin1, shift-jis, euc-cn) and iconv's (BIG-5)
        codec = python_codec(name)
        info = codecs.lookup(codec) if codec is not None else None
        spelled = info.name if info is not None else name
    if info is None or not info._is_text_encoding or info.name in NOT_CHARSETS:
        what = "unknown encoding" if info is None else "not a text encoding (a character set)"
        raise SpecError(file, f"{name!r} is {what}: use a character set such as 'utf-8', 'latin1', 'cp1252' or "
                        "SAS's own name for it ('wlatin1')", key=where)
    return spelled


def _names_table(file: Path, where: str, value: Any) -> dict[str, Any]:
    """A table keyed by column names: two keys that are the same name to SAS (case-insensitive) are an error."""
    table = _table(file, where, value)
    seen: dict[str, str] = {}
    for key in table:
        fold = str(key).casefold()
        if fold in seen:
            raise SpecError(file, f"names column {seen[fold]!r} twice ({seen[fold]!r} and {key!r}: SAS names are "
                            "case-insensitive); keep one", key=f"{where}.{key}")
        seen[fold] = str(key)
    return table


def parse_tolerance(file: Path, where: str, value: Any) -> Tolerance:
    if isinstance(value, str):  # shorthand: tolerance.x = "exact"
        value = {"method": value}
    table = _table(file, where, value)
    _unknown_keys(file, where, table, {"method", "criterion", "delta"})
    method = _choice(file, f"{where}.method", table.get("method", "exact"), METHODS)
    criterion = table.get("criterion")
    if method == "exact":
        if criterion not in (None, 0, 0.0):
            raise SpecError(file, "method 'exact' takes no criterion (use 'absolute' or 'relative')", key=where)
        criterion = 0.0
    elif criterion is None:
        # PROC COMPARE's documented default CRITERION= is 0.00001
        criterion = 0.00001
    if isinstance(criterion, bool) or not isinstance(criterion, int | float) or not math.isfinite(criterion):
        raise SpecError(file, f"criterion must be a finite number, got {criterion!r}", key=f"{where}.criterion")
    delta = table.get("delta", 0.0)
    if "delta" in table and method != "relative":
        raise SpecError(file, "delta applies only to method 'relative'", key=f"{where}.delta")
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0.0 <= delta <= 1.0:
        raise SpecError(file, f"delta must be a number in [0, 1] (PROC COMPARE), got {delta!r}", key=f"{where}.delta")
    return Tolerance(method=cast(Method, method), criterion=float(criterion), delta=float(delta))


def temporal_tolerance(file: Path, where: str, value: Any, kind: str, what: str = "") -> Tolerance:
    """A tolerance for a date, datetime or time column: exact or absolute (in days or seconds), never relative
    or percent, which would measure a shift against the distance from 1960-01-01 (or from midnight)."""
    tol = value if isinstance(value, Tolerance) else parse_tolerance(file, where, value)
    if tol.method not in ("exact", "absolute"):
        unit = "days" if kind == "date" else "seconds"
        origin = "midnight" if kind == "time" else "the SAS epoch"
        raise SpecError(file, f"method {tol.method!r} cannot apply to {what or kind + ' values'}: it would measure "
                        f"a shift against the distance from {origin}; use method 'absolute' with a criterion "
                        f"in {unit}", key=where)
    return tol


def _nomissing(file: Path, where: str, dataset_level: Any, numbers_level: Any) -> bool:
    """NOMISSING, written as the dataset's ``nomissing`` or as ``numbers.nomissing`` (the same setting)."""
    values = {k: _bool(file, k, v) for k, v in ((f"{where}.nomissing", dataset_level),
                                                  (f"{where}.numbers.nomissing", numbers_level)) if v is not None}
    if len(set(values.values())) > 1:
        raise SpecError(file, "nomissing and numbers.nomissing are the same setting and disagree; keep one",
                        key=f"{where}.nomissing")
    return any(values.values())


def _sort_keys(file: Path, where: str, value: Any) -> tuple[SortKey, ...]:
    out = []
    for item in _str_list(file, where, value):
        words = item.split(None, 1)
        if len(words) == 2 and words[0].upper() == "DESCENDING":
            out.append(SortKey(words[1], descending=True))
        elif item.startswith("-") and len(item) > 1:
            out.append(SortKey(item[1:], descending=True))
        elif item.strip():
            out.append(SortKey(item))  # a name may hold blanks (VALIDVARNAME=ANY), as in rename
        else:
            raise SpecError(file, f"{item!r}: write a column name, 'DESCENDING name' or '-name'", key=where)
        if any(k.column.casefold() == out[-1].column.casefold() for k in out[:-1]):
            raise SpecError(file, f"names column {out[-1].column!r} twice", key=where)
    return tuple(out)


def _existing_file(file: Path, where: str, folder: Path, value: Any, extensions: tuple[str, ...],
                   check: bool = True) -> Path:
    rel = _str(file, where, value)
    path = (folder / rel).resolve()
    if not check:
        return path
    if path.suffix.lower() not in extensions:
        raise SpecError(file, f"{rel!r} must be one of {', '.join(extensions)}", key=where)
    if not path.is_file():
        raise SpecError(file, f"file {rel!r} not found (looked for {path})", key=where)
    return path


def _source_location(file: Path, where: str, folder: Path, value: Any, *, sas_side: bool = False,
                     check: bool = True) -> Path:
    """A dataset's SAS or Python input: a file, a folder or a glob (``out/*.parquet``) that matches something; the
    SAS side a file of a SAS-side kind.  Whether parity reads a Python side's kind is checked by the sources
    registry before the job runs."""
    rel = _str(file, where, value)
    path = (folder / rel).resolve()
    if check and sas_side and path.suffix.lower() not in SAS_EXTENSIONS:
        raise SpecError(file, f"{rel!r} must be one of {', '.join(SAS_EXTENSIONS)}", key=where)
    if check and not path.exists():
        if any(ch in rel for ch in "*?["):  # a glob, relative to the job folder or absolute
            if not any(Path(p).is_file() for p in glob.iglob(str(folder / rel), recursive=True)):
                raise SpecError(file, f"no file matches {rel!r} (looked for {folder / rel})", key=where)
        else:
            raise SpecError(file, f"file {rel!r} not found (looked for {path})", key=where)
    return path


DATASET_KEYS = {
    "sas", "python", "keys", "sort_by", "ignore", "rename", "top_n", "tolerance", "strings", "numbers", "dates",
    "severity", "encoding", "catalog", "formats", "waivers", "nomissing", "max_print", "contract", "quality",
    "table",
}
#: ``python = "<prefix><path>"`` names a lake output (a folder of parquet files, a Delta table); ``table = "db.t"``
#: a catalog table (the Spark engine's catalog)
LAKE_PREFIXES = ("delta:", "parquet:")
WAIVER_KEYS = {"column", "check", "keys", "max_abs_diff", "reason", "approver", "expires"}
UNWAIVABLE_CHECKS = ("waivers", "top_n_diffs")


def _waivers(file: Path, where: str, raw: Any, key_names: tuple[str, ...]) -> tuple[Waiver, ...]:
    if not isinstance(raw, list):
        raise SpecError(file, "must be an array of tables: [[datasets.<name>.waivers]]", key=where)
    out = []
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        table = _table(file, w, item)
        _unknown_keys(file, w, table, WAIVER_KEYS)
        for required in ("reason", "approver", "expires"):
            if required not in table:
                raise SpecError(file, f"a waiver needs {required!r} (reason, approver and expires are required)",
                                key=w)
        expires = table["expires"]
        if isinstance(expires, dt.datetime) or not isinstance(expires, dt.date):
            raise SpecError(file, f"must be a TOML date like 2027-03-31, got {expires!r}", key=f"{w}.expires")
        column, check = table.get("column"), table.get("check")
        if (column is None) == (check is None):
            raise SpecError(file, "give exactly one of 'column' (accept its mismatches) or 'check' (accept the "
                            "check's failure)", key=w)
        if check is not None:
            _choice(file, f"{w}.check", check, CHECK_NAMES)
            if check in UNWAIVABLE_CHECKS:
                raise SpecError(file, f"check {check!r} cannot be waived (it never fails on data; an expired "
                                "waiver must fail)", key=f"{w}.check")
            if "keys" in table or "max_abs_diff" in table:
                raise SpecError(file, "'keys' and 'max_abs_diff' apply to a column waiver only", key=w)
        keys_raw = table.get("keys", [])
        if not isinstance(keys_raw, list) or not all(isinstance(k, dict) and k for k in keys_raw):
            raise SpecError(file, "must be a list of key tables, e.g. [{ policy_id = 17 }]", key=f"{w}.keys")
        if keys_raw and not key_names:
            raise SpecError(file, "names keys, but the dataset declares no keys", key=f"{w}.keys")
        folded = {k.casefold() for k in key_names}
        for k in keys_raw:
            if {str(n).casefold() for n in k} != folded:
                raise SpecError(file, f"each key must name exactly the dataset's keys {list(key_names)}; got "
                                f"{sorted(k)}", key=f"{w}.keys")
        limit = table.get("max_abs_diff")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0):
            raise SpecError(file, f"must be a non-negative number, got {limit!r}", key=f"{w}.max_abs_diff")
        out.append(Waiver(
            reason=_str(file, f"{w}.reason", table["reason"]), approver=_str(file, f"{w}.approver", table["approver"]),
            expires=expires, column=_str(file, f"{w}.column", column) if column is not None else None,
            check=check, keys=tuple({str(n).casefold(): v for n, v in k.items()} for k in keys_raw),
            max_abs_diff=float(limit) if limit is not None else None,
        ))
    return tuple(out)


def parse_dataset(file: Path, folder: Path, name: str, raw: Any, python_job: bool, check_files: bool = True) -> DatasetSpec:
    where = f"datasets.{name}"
    table = _table(file, where, raw)
    _unknown_keys(file, where, table, DATASET_KEYS)
    if "sas" not in table:
        raise SpecError(file, "missing required key 'sas' (the SAS output file: .sas7bdat, .xpt or Dataset-JSON)", key=where)
    sas = _source_location(file, f"{where}.sas", folder, table["sas"], sas_side=True, check=check_files)
    python = None
    lake = _lake(file, where, folder, table)
    if lake is not None:
        pass
    elif "python" in table:
        python = _source_location(file, f"{where}.python", folder, table["python"])
    elif not python_job:
        raise SpecError(
            file,
            "has no Python side: give [job] python = 'module:function' or this dataset's python = 'file'",
            key=where,
        )
    if python is not None and python == sas:
        raise SpecError(file, f"python names the SAS file {table['python']!r} itself: a file compared with itself "
                        "always passes", key=f"{where}.python")
    keys = _str_list(file, f"{where}.keys", table.get("keys", []))
    sort_by = _sort_keys(file, f"{where}.sort_by", table.get("sort_by", []))
    ignore = _str_list(file, f"{where}.ignore", table.get("ignore", []))
    overlap = {k.casefold() for k in keys} & {i.casefold() for i in ignore}
    if overlap:
        raise SpecError(file, f"column {sorted(overlap)[0]!r} is both a key and ignored", key=f"{where}.ignore")
    rename_raw = _names_table(file, f"{where}.rename", table.get("rename", {}))
    rename = {str(k): _str(file, f"{where}.rename.{k}", v) for k, v in rename_raw.items()}
    targets: dict[str, str] = {}
    for old_name, new_name in rename.items():
        if new_name.casefold() in targets:
            raise SpecError(file, f"renames both {targets[new_name.casefold()]!r} and {old_name!r} to {new_name!r}: "
                            "two SAS columns cannot be compared with one Python column", key=f"{where}.rename")
        targets[new_name.casefold()] = old_name
    top_n = table.get("top_n", 20)
    if isinstance(top_n, bool) or not isinstance(top_n, int) or not 0 <= top_n <= 10_000:
        raise SpecError(file, f"must be a whole number from 0 to 10000, got {top_n!r}", key=f"{where}.top_n")
    max_print = table.get("max_print", 10)
    if isinstance(max_print, bool) or not isinstance(max_print, int) or not 0 <= max_print <= 1000:
        raise SpecError(file, f"must be a whole number from 0 to 1000 (unequal values listed per column), got "
                        f"{max_print!r}", key=f"{where}.max_print")

    tol_raw = _names_table(file, f"{where}.tolerance", table.get("tolerance", {}))
    default = parse_tolerance(file, f"{where}.tolerance.default", tol_raw.get("default", {"method": "exact"}))
    tolerance = {
        col.casefold(): parse_tolerance(file, f"{where}.tolerance.{col}", val)
        for col, val in tol_raw.items()
        if col not in TOLERANCE_DEFAULT_KEYS
    }
    temporal = {}
    for key, kind in TEMPORAL_DEFAULTS.items():
        if key in tol_raw:
            temporal[kind] = temporal_tolerance(file, f"{where}.tolerance.{key}", tol_raw[key], kind)
    for col in tol_raw:
        role = "a key" if col.casefold() in {k.casefold() for k in keys} else (
            "ignored" if col.casefold() in {i.casefold() for i in ignore} else None)
        if col not in TOLERANCE_DEFAULT_KEYS and role:
            raise SpecError(file, f"sets a tolerance for {col!r}, which is {role} (its values are not compared "
                            "under a tolerance); remove it", key=f"{where}.tolerance.{col}")

    s_raw = _table(file, f"{where}.strings", table.get("strings", {}))
    _unknown_keys(file, f"{where}.strings", s_raw, {"strip", "blank_is_missing", "ignore_case"})
    strings = StringRules(
        strip=cast(Any, _choice(file, f"{where}.strings.strip", s_raw.get("strip", "trailing"),
                                ("trailing", "both", "none"))),
        blank_is_missing=_bool(file, f"{where}.strings.blank_is_missing", s_raw.get("blank_is_missing", True)),
        ignore_case=_bool(file, f"{where}.strings.ignore_case", s_raw.get("ignore_case", False)),
    )
    n_raw = _table(file, f"{where}.numbers", table.get("numbers", {}))
    _unknown_keys(file, f"{where}.numbers", n_raw, {"storage", "special_missing", "nomissing"})
    numbers = NumberRules(
        storage=cast(Any, _choice(file, f"{where}.numbers.storage", n_raw.get("storage", "truncate"),
                                  ("truncate", "exact"))),
        special_missing=cast(Any, _choice(file, f"{where}.numbers.special_missing",
                                          n_raw.get("special_missing", "strict"), ("strict", "as_missing"))),
        nomissing=_nomissing(file, where, table.get("nomissing"), n_raw.get("nomissing")),
    )
    d_raw = _table(file, f"{where}.dates", table.get("dates", {}))
    _unknown_keys(file, f"{where}.dates", d_raw, {"datetime_precision"})
    dates = DateRules(
        datetime_precision=cast(Any, _choice(file, f"{where}.dates.datetime_precision",
                                             d_raw.get("datetime_precision", "us"), ("us", "ms", "s"))),
    )
    sev_raw = _table(file, f"{where}.severity", table.get("severity", {}))
    _unknown_keys(file, f"{where}.severity", sev_raw, set(CHECK_NAMES))
    severity = {
        k: cast(Severity, _choice(file, f"{where}.severity.{k}", v, SEVERITIES)) for k, v in sev_raw.items()
    }
    encoding = table.get("encoding")
    if encoding is not None:
        encoding = _text_encoding(file, f"{where}.encoding", encoding)
    catalog = None
    if "catalog" in table:
        catalog = _existing_file(file, f"{where}.catalog", folder, table["catalog"], (".sas7bcat",))
    f_raw = _names_table(file, f"{where}.formats", table.get("formats", {}))
    formats = {str(k).casefold(): _str(file, f"{where}.formats.{k}", v) for k, v in f_raw.items()}
    waivers = _waivers(file, f"{where}.waivers", table.get("waivers", []), keys)
    for i, waiver in enumerate(waivers):
        col = (waiver.column or "").casefold()
        role = "a key" if col in {k.casefold() for k in keys} else (
            "ignored" if col in {c.casefold() for c in ignore} else None)
        if role:
            raise SpecError(file, f"waives column {waiver.column!r}, which is {role}: its values are not compared",
                            key=f"{where}.waivers[{i}].column")
    return DatasetSpec(
        name=name, sas=sas, python=python, keys=keys, sort_by=sort_by, ignore=ignore, rename=rename, top_n=top_n,
        max_print=max_print, tolerance=tolerance, default_tolerance=default, temporal_tolerance=temporal,
        strings=strings, numbers=numbers, dates=dates, severity=severity, encoding=encoding, catalog=catalog, formats=formats,
        waivers=waivers, lake=lake, **_contract_and_quality(file, folder, where, table),
    )


def _contract_and_quality(file: Path, folder: Path, where: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """A dataset's contract and DQ rules (parity.spec.contract_load, which builds on this module)."""
    from parity.spec.contract_load import parse_contract, parse_quality

    return {"contract": parse_contract(file, f"{where}.contract", table.get("contract")),
            "quality": parse_quality(file, folder, f"{where}.quality", table.get("quality"))}


def _lake(file: Path, where: str, folder: Path, table: Mapping[str, Any]) -> str | None:
    """``python = "delta:<path>"`` / ``"parquet:<path>"`` or ``table = "db.table"``, as written (paths are relative
    to the job folder); None when the dataset names neither."""
    if "table" in table:
        if "python" in table:
            raise SpecError(file, "names both python and table: give one Python side", key=f"{where}.table")
        name = _str(file, f"{where}.table", table["table"]).strip()
        if not name or any(ch.isspace() for ch in name):
            raise SpecError(file, f"must be a catalog table name (db.table), got {name!r}", key=f"{where}.table")
        return f"table:{name}"
    raw = table.get("python")
    if not isinstance(raw, str) or not raw.startswith(LAKE_PREFIXES):
        return None
    prefix, _, rel = raw.partition(":")
    if not rel.strip():
        raise SpecError(file, f"{raw!r} names no path: write '{prefix}:<path>' (relative to the job folder)",
                        key=f"{where}.python")
    if "://" not in rel and not (folder / rel).exists():
        raise SpecError(file, f"{prefix} path {rel!r} not found (looked for {(folder / rel).resolve()})",
                        key=f"{where}.python")
    return raw


def load_job(folder: Path, name: str | None = None, check_files: bool = True) -> JobSpec:
    """Read and validate ``<folder>/parity.toml`` (``check_files=False``: the SAS files need not exist yet, as
    before ``parity capture`` writes them)."""
    folder = folder.resolve()
    file = folder / SPEC_FILE
    if not file.is_file():
        raise SpecError(file, f"no {SPEC_FILE} in job folder {folder}")
    raw_bytes = file.read_bytes()
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SpecError(file, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(file, f"is not valid TOML: {exc}") from None
    _unknown_keys(file, "", raw, {"job", "datasets"})
    job = _table(file, "job", raw.get("job", {}))
    _unknown_keys(file, "job", job, {"description", "python", "params", "sas_program", "sas_libref"})
    python = job.get("python")
    if python is not None:
        python = _str(file, "job.python", python)
        module, sep, func = python.partition(":")
        if not sep or not module or not func.isidentifier():
            hint = ("; an output file, folder or glob the port already wrote goes in its dataset's table: "
                    "[datasets.<name>] python = '...'") if not sep or any(c in python for c in "/\\*") else ""
            raise SpecError(file, f"must be 'module:function' (e.g. 'port:run'), got {python!r}{hint}",
                            key="job.python")
    params = _table(file, "job.params", job.get("params", {}))
    datasets_raw = _table(file, "datasets", raw.get("datasets", {}))
    if not datasets_raw:
        raise SpecError(file, "declares no datasets: add a [datasets.<name>] table with sas = '<file>'")
    datasets = tuple(
        parse_dataset(file, folder, str(ds_name), ds_raw, python is not None, check_files)
        for ds_name, ds_raw in datasets_raw.items()
    )
    sas_program = None
    if "sas_program" in job:
        # checked by parity capture, not by a run: a run of a capture whose program is gone says "stale capture"
        sas_program = _existing_file(file, "job.sas_program", folder, job["sas_program"], (".sas",), False)
    sas_libref = _str(file, "job.sas_libref", job.get("sas_libref", "WORK"))
    if not sas_libref.isidentifier() or len(sas_libref) > 8:
        raise SpecError(file, f"{sas_libref!r} is not a SAS libref (a name of at most 8 letters, digits or _)",
                        key="job.sas_libref")
    description = job.get("description", "")
    if not isinstance(description, str):
        raise SpecError(file, "must be a string", key="job.description")
    return JobSpec(
        name=name or folder.name, folder=folder, spec_file=file,
        spec_sha256=hashlib.sha256(raw_bytes).hexdigest(), description=description, python=python,
        params=params, datasets=datasets, sas_program=sas_program, sas_libref=sas_libref.upper(),
    )


# --------------------------------------------------------------------------------------------------------------
# project configuration and job discovery


def load_project_config(start: Path | None = None) -> ProjectConfig:
    """Find ``[tool.parity]`` in the nearest ``pyproject.toml`` at or above ``start`` (default: cwd)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(candidate, f"is not valid TOML: {exc}") from None
        tool = data.get("tool", {}).get("parity")
        if tool is None:
            return ProjectConfig(root=folder, jobs_dir=folder / "fixtures", report_dir=folder / "reports")
        tool = _table(candidate, "tool.parity", tool)
        _unknown_keys(candidate, "tool.parity", tool, {"jobs_dir", "report_dir", "baseline", "saspy", "engine",
                                                       "spark"})
        saspy = _table(candidate, "tool.parity.saspy", tool.get("saspy", {}))
        _unknown_keys(candidate, "tool.parity.saspy", saspy, {"cfgname", "cfgfile"})
        saspy = {k: _str(candidate, f"tool.parity.saspy.{k}", v) for k, v in saspy.items()}
        jobs = _str(candidate, "tool.parity.jobs_dir", tool.get("jobs_dir", "fixtures"))
        reports = _str(candidate, "tool.parity.report_dir", tool.get("report_dir", "reports"))
        baseline = tool.get("baseline")
        return ProjectConfig(
            root=folder, jobs_dir=folder / jobs, report_dir=folder / reports, source=candidate,
            baseline=folder / _str(candidate, "tool.parity.baseline", baseline) if baseline is not None else None,
            saspy=saspy,
            engine=_choice(candidate, "tool.parity.engine", tool.get("engine", "polars"), ("polars", "spark")),
            spark=_table(candidate, "tool.parity.spark", tool.get("spark", {})),
        )
    return ProjectConfig(root=here, jobs_dir=here / "fixtures", report_dir=here / "reports")


def discover_jobs(jobs_dir: Path) -> list[str]:
    """Names of the job folders (those holding a parity.toml) in ``jobs_dir``, sorted."""
    if not jobs_dir.is_dir():
        return []
    return sorted(p.name for p in jobs_dir.iterdir() if not p.name.startswith(".") and (p / SPEC_FILE).is_file())


def job_folder(jobs_dir: Path, job: str) -> Path:
    """The folder of job ``job`` (see :func:`resolve_job`)."""
    return resolve_job(jobs_dir, job)[1]


def resolve_job(jobs_dir: Path, job: str) -> tuple[str, Path]:
    """``(name, absolute folder)`` of a job given on the command line.

    ``job`` is either one plain folder name, looked up in ``jobs_dir`` (then in the current folder), or a path to
    a job folder or to its ``parity.toml`` (``path/to/job``, ``path/to/job/``, ``path/to/job/parity.toml``,
    ``..``).  The name is always the job folder's own name, so a report lands in ``<report_dir>/<name>/`` and
    never outside it.
    """
    text = job.strip()
    if not text:
        raise UsageError("an empty job name: give a job folder name or a path to a job folder")
    candidate = Path(text)
    if candidate.name == SPEC_FILE and candidate.is_file():
        candidate = candidate.parent
    is_path = len(candidate.parts) != 1 or candidate.name in ("", ".", "..") or "/" in text or "\\" in text
    if is_path:
        folder = candidate.resolve()
        if not (folder / SPEC_FILE).is_file() and not candidate.is_absolute() and (jobs_dir / candidate / SPEC_FILE).is_file():
            folder = (jobs_dir / candidate).resolve()  # a path inside the jobs folder
        if not (folder / SPEC_FILE).is_file():
            raise UsageError(f"{text}: not a job folder (no {SPEC_FILE} in {folder})")
        # named as the path says (a symlink's own name, as when the job is given by its plain name), not its target
        named = Path(os.path.abspath(candidate if (candidate / SPEC_FILE).is_file() else jobs_dir / candidate))
        return _job_name(text, named.name), folder
    folder = jobs_dir / text
    if (folder / SPEC_FILE).is_file():
        return _job_name(text, text), folder.resolve()
    if (candidate / SPEC_FILE).is_file():  # a job folder in the current folder also works
        return _job_name(text, candidate.resolve().name), candidate.resolve()
    known = discover_jobs(jobs_dir)
    close = difflib.get_close_matches(text, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else (
        f" Known jobs: {', '.join(known)}." if known else " The folder has no jobs.")
    raise UsageError(f"no job {text!r} in {jobs_dir} (no {text}/{SPEC_FILE}).{hint}")


def _job_name(given: str, name: str) -> str:
    """``name`` if it can name a report folder: not empty (the file system root) and not hidden."""
    if not name or name.startswith(".") or "\\" in name:
        raise UsageError(f"{given}: {name or '/'!r} cannot name a job (its report folder would be hidden or "
                         "outside the report folder); give the job folder a plain name")
    return name
