"""The spec's data: what a ``parity.toml`` (and ``[tool.parity]``) says, as frozen dataclasses.

Reading and validating the TOML is :mod:`parity.spec.load`; the normalised rules a report records are
:mod:`parity.spec.rules`.  Nothing here reads a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from parity.model import TEMPORAL_KINDS
from parity.spec.contract import Contract, QualityRule

SPEC_FILE = "parity.toml"
#: what spec errors name as the file of a dataset spec made from keyword arguments (parity.api, assert_parity)
ARGUMENTS = Path("<assert_parity arguments>")
MACHINE_EPSILON = 2.220446049250313e-16

Method = Literal["exact", "absolute", "relative", "percent"]
METHODS: tuple[Method, ...] = ("exact", "absolute", "relative", "percent")
Severity = Literal["fail", "warn", "off"]
SEVERITIES: tuple[Severity, ...] = ("fail", "warn", "off")
#: the file kinds that may stand for the SAS side, as the sources registry lists them (its ``sas_side`` openers;
#: the spec layer imports no sources, tests/test_sources_registry.py checks that the two agree)
SAS_EXTENSIONS = (".sas7bdat", ".xpt", ".json", ".ndjson")
#: tolerance keys that are defaults, not column names: default (numbers) and one per temporal kind
TEMPORAL_DEFAULTS = {"default_date": "date", "default_datetime": "datetime", "default_time": "time"}
TOLERANCE_DEFAULT_KEYS = ("default", *TEMPORAL_DEFAULTS)


@dataclass(frozen=True)
class Tolerance:
    """A PROC COMPARE METHOD=/CRITERION= rule for one numeric (or date/time) column.

    ``criterion`` is kept as written; a negative criterion means ``|criterion| x machine epsilon``
    (PROC COMPARE's rule), see :attr:`gamma`.  ``delta`` is RELATIVE's optional delta in [0, 1].
    """

    method: Method = "exact"
    criterion: float = 0.0
    delta: float = 0.0

    @property
    def gamma(self) -> float:
        """The effective criterion: negative criteria are multiples of machine epsilon."""
        return abs(self.criterion) * MACHINE_EPSILON if self.criterion < 0 else self.criterion

    def describe(self) -> str:
        if self.method == "exact":
            return "exact"
        text = f"{self.method} {self.criterion:g}"
        if self.criterion < 0:
            text += f" (= {self.gamma:.3g})"
        if self.method == "relative" and self.delta:
            text += f", delta {self.delta:g}"
        return text


@dataclass(frozen=True)
class StringRules:
    """How character values compare.  The defaults are SAS's own rules."""

    strip: Literal["trailing", "both", "none"] = "trailing"  # SAS: trailing blanks do not count, leading ones do
    blank_is_missing: bool = True  # SAS: a blank value is the character missing value
    ignore_case: bool = False


@dataclass(frozen=True)
class NumberRules:
    """How numeric values compare beyond their tolerance."""

    # SAS stores numerics of LENGTH 3-7 as truncated doubles; "truncate" truncates the Python value the same way
    # before comparing, "exact" compares the Python value as it is.
    storage: Literal["truncate", "exact"] = "truncate"
    # "strict": .A only equals .A (PROC COMPARE); "as_missing": every special missing equals plain missing.
    special_missing: Literal["strict", "as_missing"] = "strict"
    # PROC COMPARE NOMISSING: a missing value (numeric or character, never an infinity) equals anything.
    nomissing: bool = False


@dataclass(frozen=True)
class DateRules:
    """How date, datetime and time values compare."""

    # datetimes and times are equal when they differ by at most half this unit (or by one ulp of the double,
    # the most a SAS double can resolve); datetime and time keys are rounded to it before they are matched
    datetime_precision: Literal["us", "ms", "s"] = "us"


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool = False

    def describe(self) -> str:
        return f"DESCENDING {self.column}" if self.descending else self.column


@dataclass(frozen=True)
class Waiver:
    """An accepted difference: shown as "waived" in every report, never hidden; it expires."""

    reason: str
    approver: str
    expires: dt.date
    column: str | None = None  # the column whose mismatches are accepted ...
    check: str | None = None  # ... or a whole check (e.g. sort_order) whose failure is accepted
    keys: tuple[Mapping[str, Any], ...] = ()  # only these rows (key column -> value)
    max_abs_diff: float | None = None  # only differences up to this size

    def describe(self) -> str:
        target = f"column {self.column}" if self.column else f"check {self.check}"
        extra = f", {len(self.keys)} key(s)" if self.keys else ""
        if self.max_abs_diff is not None:
            extra += f", |diff| <= {self.max_abs_diff:g}"
        return f"{target}{extra}: {self.reason} (approved by {self.approver}, expires {self.expires.isoformat()})"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    sas: Path
    python: Path | None = None
    keys: tuple[str, ...] = ()
    sort_by: tuple[SortKey, ...] = ()
    ignore: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    top_n: int = 20
    max_print: int = 10  # unequal values listed per column (PROC COMPARE's MAXPRINT per variable)
    tolerance: Mapping[str, Tolerance] = field(default_factory=dict)
    default_tolerance: Tolerance = Tolerance()
    #: tolerance.default_date / default_datetime / default_time, by kind; temporal columns are exact without them
    temporal_tolerance: Mapping[str, Tolerance] = field(default_factory=dict)
    strings: StringRules = StringRules()
    numbers: NumberRules = NumberRules()
    dates: DateRules = DateRules()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    encoding: str | None = None
    catalog: Path | None = None
    formats: Mapping[str, str] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    contract: Contract | None = None  # [datasets.<ds>.contract] (parity.spec.contract)
    quality: tuple[QualityRule, ...] = ()  # [[datasets.<ds>.quality]]
    #: a lake or catalog output as written: "delta:<path>", "parquet:<path>" or "table:<db.table>"
    lake: str | None = None

    def tolerance_for(self, column: str, kind: str = "numeric") -> Tolerance:
        """The column's own tolerance, else the default of its kind: ``default`` is for numbers only."""
        if column.casefold() in self.tolerance:
            return self.tolerance[column.casefold()]
        if kind in TEMPORAL_KINDS:
            return self.temporal_tolerance.get(kind, Tolerance())
        return self.default_tolerance


@dataclass(frozen=True)
class JobSpec:
    name: str
    folder: Path
    spec_file: Path
    spec_sha256: str
    description: str = ""
    python: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    datasets: tuple[DatasetSpec, ...] = ()
    sas_program: Path | None = None  # [job] sas_program: the SAS program `parity capture` runs
    sas_libref: str = "WORK"  # [job] sas_libref: the library `parity capture` downloads the datasets from


@dataclass(frozen=True)
class ProjectConfig:
    """``[tool.parity]`` settings of the project, with the folder they are relative to."""

    root: Path
    jobs_dir: Path
    report_dir: Path
    source: Path | None = None
    baseline: Path | None = None
    saspy: Mapping[str, str] = field(default_factory=dict)  # [tool.parity.saspy]: cfgname, cfgfile
    engine: str = "polars"  # "polars" or "spark" (parity.engine.choice)
    spark: Mapping[str, Any] = field(default_factory=dict)  # [tool.parity.spark]: Spark conf keys and master
