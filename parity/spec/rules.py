"""The normalised rules a report carries (``spec.rules``), so that a delta can tell which rules a new spec relaxed."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parity.model import CHECK_NAMES
from parity.spec.model import TEMPORAL_DEFAULTS, DatasetSpec, JobSpec, SortKey, Tolerance


def _plain(value: Any) -> Any:
    """A TOML value as JSON: dates and times as ISO text, tables with sorted keys."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _rel(path: Path | None, folder: Path) -> str | None:
    """A path relative to the job folder (``../data/x.sas7bdat`` too), so that checkouts in other places agree."""
    if path is None:
        return None
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive (Windows)
        return path.as_posix()


def tolerance_rule(tol: Tolerance) -> dict[str, Any]:
    return {"method": tol.method, "criterion": tol.gamma, "delta": tol.delta}


def dataset_rules(ds: DatasetSpec, folder: Path) -> dict[str, Any]:
    """One dataset's comparison rules, normalised: names case-folded, defaults filled in, tables sorted."""
    return {
        "sas": _rel(ds.sas, folder), "python": _rel(ds.python, folder) if ds.lake is None else ds.lake,
        "keys": [k.casefold() for k in ds.keys],
        "sort_by": [SortKey(k.column.casefold(), k.descending).describe() for k in ds.sort_by],
        "ignore": sorted(c.casefold() for c in ds.ignore),
        "rename": {k.casefold(): v.casefold() for k, v in sorted(ds.rename.items(), key=lambda kv: kv[0].casefold())},
        "top_n": ds.top_n,
        "tolerance": {"default": tolerance_rule(ds.default_tolerance),
                      **{key: tolerance_rule(ds.temporal_tolerance.get(kind, Tolerance()))
                         for key, kind in TEMPORAL_DEFAULTS.items()},
                      **{c: tolerance_rule(t) for c, t in sorted(ds.tolerance.items())}},
        "strings": {"strip": ds.strings.strip, "blank_is_missing": ds.strings.blank_is_missing,
                    "ignore_case": ds.strings.ignore_case},
        "numbers": {"storage": ds.numbers.storage, "special_missing": ds.numbers.special_missing,
                    "nomissing": ds.numbers.nomissing},
        "dates": {"datetime_precision": ds.dates.datetime_precision},
        "severity": {name: ds.severity.get(name, "fail") for name in CHECK_NAMES},
        "encoding": ds.encoding, "formats": dict(sorted(ds.formats.items())),
        "waivers": [
            {"column": w.column.casefold() if w.column else None, "check": w.check,
             "keys": [_plain(k) for k in w.keys], "max_abs_diff": w.max_abs_diff,
             "expires": w.expires.isoformat(), "reason": w.reason, "approver": w.approver}
            for w in ds.waivers
        ],
        "contract": ds.contract.to_dict() if ds.contract is not None else None,
        "quality": [q.to_dict(_rel(q.lookup.file, folder) if q.lookup else None) for q in ds.quality],
    }


def job_rules(job: JobSpec) -> dict[str, Any]:
    """The rules of a job's spec as its report records them (``spec.rules``)."""
    return {"python": job.python, "datasets": {ds.name: dataset_rules(ds, job.folder) for ds in job.datasets}}
