"""The engine interface: what every comparison engine (polars, Spark, ...) takes and returns.

An :class:`Engine` compares two :class:`~parity.sources.base.Source` sides of one dataset and returns an
:class:`EngineResult`: the facts the checks (:mod:`parity.checks.core`) and the explanations read, and nothing
else.  Column planning (which columns pair up, their kinds and tolerances, the spec's column rules) is shared by
every engine: :mod:`parity.engine.plan`.

The kept rows (:attr:`EngineResult.diffs`) follow one contract, whatever engine computed them, so that the checks
never depend on an engine's internals:

* :data:`ROW_S` / :data:`ROW_P`: the row's 0-based position in the SAS file / the Python output (null on the side
  that lacks the row);
* per key and compared column (a :class:`~parity.engine.plan.ColumnPlan` ``plan``): ``plan.s`` / ``plan.p`` the
  SAS / Python value normalised to SAS units and rules (Float64 for numbers, dates and times; String for
  character values), ``plan.st`` / ``plan.pt`` the special missing tag (``'A'``-``'Z'``, ``'_'``; ``'.'`` for an
  ordinary missing key) when ``plan.has_tags``; per compared column ``plan.neq``: True where a matched pair is
  unequal under the column's rule;
* :data:`DUP`: the row's rank within its key, when a side has duplicate keys (rows pair by that rank).

It holds the rows only in one side, and the matched rows with at least one unequal (or differing within tolerance)
value, sorted by key (by row without keys).  Its size follows the differences, never the tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import polars as pl

from parity.errors import SpecError

if TYPE_CHECKING:
    from parity.engine.plan import ColumnPlan
    from parity.sources.base import Source
    from parity.spec import DatasetSpec, JobSpec

ROW_S = "#row_sas"
ROW_P = "#row_py"
DUP = "#dup"
#: the row count column of :attr:`DupGroups.frame`
GROUP_ROWS = "#n"


@dataclass(frozen=True)
class ColumnStats:
    """One compared column over every matched pair."""

    compared: int = 0
    mismatches: int = 0
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None


@dataclass(frozen=True)
class DupGroups:
    """The duplicated keys of one side, raw: one row per key held by more than one row, with the key columns
    (``plan.s`` and ``plan.st`` of each key, in :attr:`columns` order) and :data:`GROUP_ROWS`, sorted by key
    (missing first).  The checks derive samples and key sets from it."""

    frame: pl.DataFrame = field(default_factory=pl.DataFrame)
    columns: tuple[str, ...] = ()

    @property
    def keys(self) -> int:
        return self.frame.height

    @property
    def rows(self) -> int:
        return int(self.frame.get_column(GROUP_ROWS).sum()) if self.frame.height else 0


@dataclass(frozen=True)
class SortFacts:
    """Adjacent pairs of one side that break the declared BY order (``first_row`` is 1-based, None when none)."""

    violations: int
    first_row: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"violations": self.violations, "first_row": self.first_row}


@dataclass(frozen=True)
class EngineResult:
    """Everything the checks need about one dataset's comparison.  Frozen; built by an :class:`Engine`."""

    spec: DatasetSpec
    sas: Source
    py: Source
    plans: tuple[ColumnPlan, ...]
    keys: tuple[ColumnPlan, ...]
    rows_sas: int
    rows_py: int
    matched: int
    only_sas: int
    only_py: int
    #: per compared column (by plan name)
    stats: Mapping[str, ColumnStats]
    #: the kept rows (see the module docstring for their columns)
    diffs: pl.DataFrame
    #: the Python dtype of each Python column, as text (``String``, ``Datetime(time_unit='us', ...)``)
    python_types: Mapping[str, str]
    dup_sas: DupGroups = field(default_factory=DupGroups)
    dup_py: DupGroups = field(default_factory=DupGroups)
    #: without sort_by, with keys: matched pairs out of the SAS output's order, and the first (sas row, python
    #: row) 1-based (sas row None when both sides are in key order)
    order_inversions: int | None = None
    order_first: tuple[int | None, int] | None = None
    #: with sort_by: each side against the declared BY order
    sort_violations: SortFacts | None = None
    sas_sort_violations: SortFacts | None = None
    #: how character BY values were collated (the SAS file's encoding), when any BY variable is character
    collation: Mapping[str, Any] | None = None
    #: per character column: Python values SAS could not hold (``count`` longer than the SAS LENGTH in bytes of the
    #: file's encoding, ``max_bytes``, ``sas_length``, ``unencodable``: values with characters it cannot write)
    python_long_strings: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: per character column: SAS values that fill their LENGTH (possibly truncated by SAS)
    sas_full_strings: Mapping[str, int] = field(default_factory=dict)
    #: how the engine ran (name, buckets, ...): for benchmarks and logs, never in the report
    run_info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def compared_plans(self) -> list[ColumnPlan]:
        return [p for p in self.plans if p.role == "compare"]


@runtime_checkable
class Engine(Protocol):
    """A comparison engine.  ``compare`` raises :class:`~parity.errors.SpecError` for spec/column mismatches
    (shared planning: :func:`parity.engine.plan.plan_columns`) and :class:`~parity.errors.InputError` for bad
    data; everything else it finds goes into the result."""

    name: str

    def compare(self, spec: DatasetSpec, sas: Source, py: Source, job: JobSpec | None = None) -> EngineResult: ...


#: engines by name: "module:attribute" of a zero-argument factory, imported on first use (so that naming an
#: engine does not import its dependencies)
ENGINES: dict[str, str] = {
    "polars": "parity.engine.polars_engine:PolarsEngine",
    "spark": "parity.spark.engine:SparkEngine",  # the spark extra (pyspark); parity.run.spark reads its sides
}
DEFAULT_ENGINE = "polars"


def register_engine(name: str, target: str | Callable[[], Engine]) -> None:
    """Register an engine factory (a callable, or ``"module:attribute"``) under ``name``."""
    if callable(target):
        _FACTORIES[name] = target
    else:
        ENGINES[name] = target


_FACTORIES: dict[str, Callable[[], Engine]] = {}


def get_engine(name: str | None = None) -> Engine:
    """A new engine by name (default: polars).  An unknown name is a SpecError listing the known ones."""
    name = name or DEFAULT_ENGINE
    if name in _FACTORIES:
        return _FACTORIES[name]()
    target = ENGINES.get(name)
    if target is None:
        from parity.spec import ARGUMENTS

        known = ", ".join(sorted({*ENGINES, *_FACTORIES}))
        raise SpecError(ARGUMENTS, f"unknown engine {name!r} (known engines: {known})", key="engine")
    module, _, attr = target.partition(":")
    factory: Callable[[], Engine] = getattr(importlib.import_module(module), attr)
    return factory()
