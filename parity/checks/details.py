"""The typed details of each check, as the report writes them (``checks[].details`` in the JSON report).

Each details class is a frozen dataclass whose fields are the JSON keys in the order the report writes them
(:class:`parity.model.FieldDetails`: ``to_dict`` writes them, ``from_dict`` reads a saved report back), registered
for its check with :func:`details_of`.  Renderers read the typed fields; a report's details that do not have
their check's shape (or of a check this parity does not know) load as :class:`parity.model.RawDetails`.

A new check declares its details here or in its own module (``@details_of("name")`` on a ``FieldDetails``
subclass): see docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from parity.model import CHECK_KINDS, DETAILS, Details, FieldDetails, Record

D = TypeVar("D", bound=type[Details])

def details_of(*names: str) -> Callable[[D], D]:
    """Register a details class for the checks ``names`` (a check may register several shapes)."""

    def register(cls: D) -> D:
        for name in names:
            DETAILS[name] = (*DETAILS.get(name, ()), cls)
        return cls

    return register


@details_of("schema")
@dataclass(frozen=True, eq=False)
class SchemaDetails(FieldDetails):
    sas_only: tuple[str, ...]
    python_only: tuple[str, ...]
    type_conflicts: tuple[Mapping[str, Any], ...]  # {column, conflict}
    conversions: tuple[Mapping[str, Any], ...]  # {column, note, changes}
    python_longer_than_sas_length: Mapping[str, Mapping[str, Any]]  # column -> {count, sas_length, ...}
    sas_values_filling_length: Mapping[str, Any]
    ignored: tuple[str, ...]


@details_of("attributes")
@dataclass(frozen=True, eq=False)
class AttributesDetails(FieldDetails):
    compared: int
    attributes: tuple[str, ...]
    #: one row per common variable whose attributes differ: {column, differs, sas, python, sas_kind, python_kind,
    #: format_hint?, hint?} (parity.checks.core.attribute_text shows one)
    variables: tuple[Mapping[str, Any], ...]


@details_of("row_count")
@dataclass(frozen=True, eq=False)
class RowCountDetails(FieldDetails):
    sas: int
    python: int
    difference: int


@dataclass(frozen=True)
class DuplicateSide(Record):
    """One side's duplicated keys."""

    rows: int
    keys: int
    sample: tuple[Mapping[str, Any], ...]  # {key, count}
    key_set: Mapping[str, Any] | None  # parity.checks.keysets.key_set


@details_of("key_uniqueness")
@dataclass(frozen=True, eq=False)
class KeyUniquenessDetails(FieldDetails):
    NESTED: ClassVar[Mapping[str, type[Record]]] = {"sas": DuplicateSide, "python": DuplicateSide}
    JSON_KEYS: ClassVar[Mapping[str, str]] = {"key_columns": "keys"}  # "keys" is a dict method's name

    key_columns: tuple[str, ...]  # JSON "keys"
    sas: DuplicateSide
    python: DuplicateSide


@details_of("key_match")
@dataclass(frozen=True, eq=False)
class KeyMatchDetails(FieldDetails):
    matched: int
    only_in_sas: int
    only_in_python: int
    sample_only_in_sas: tuple[Mapping[str, Any], ...]  # keys (or {obs} / {python_obs} when paired by position)
    sample_only_in_python: tuple[Mapping[str, Any], ...]
    only_in_sas_keys: Mapping[str, Any] | None  # parity.checks.keysets.key_set
    only_in_python_keys: Mapping[str, Any] | None
    paired_by: str  # key | position


@dataclass(frozen=True)
class ColumnFigures(Record):
    """One compared column of a value check."""

    column: str
    kind: str
    unit: str | None  # days | s (dates, datetimes and times), None for numbers and strings
    method: str | None
    criterion: float | None
    compared: int
    mismatches: int
    waived: int
    max_abs_diff: float | None
    max_rel_diff: float | None
    explanations: tuple[Mapping[str, Any], ...]  # {code, message, hint?, ...} (parity.checks.explain)


@details_of(*CHECK_KINDS)
@dataclass(frozen=True, eq=False)
class ValueDetails(FieldDetails):
    """numeric_tolerance, date_equivalence and string_equality: the compared columns of the check's kinds."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"worst"})
    NESTED: ClassVar[Mapping[str, type[Record]]] = {"columns": ColumnFigures}

    columns: tuple[ColumnFigures, ...]
    worst: str | None = None  # the column the summary names (only when some column is unequal)

    def unequal(self) -> list[ColumnFigures]:
        """The columns with mismatches, the one the summary names first, then in column order."""
        return sorted((c for c in self.columns if c.mismatches), key=lambda c: c.column != self.worst)

    def worst_column(self) -> ColumnFigures | None:
        """The column the summary names; in a report without ``worst`` (an older one) the most mismatches."""
        cols = self.unequal()
        if self.worst is None:
            cols.sort(key=lambda c: (c.mismatches - c.waived, c.mismatches), reverse=True)
        return cols[0] if cols else None


@details_of("sort_order")
@dataclass(frozen=True, eq=False)
class SortByDetails(FieldDetails):
    """sort_order with ``sort_by``: BY-order violations of each side."""

    sort_by: tuple[str, ...]
    python: Mapping[str, Any]  # {violations, first_row, ...} or {} when in order
    sas: Mapping[str, Any]
    rules: str


@details_of("sort_order")
@dataclass(frozen=True, eq=False)
class RowOrderDetails(FieldDetails):
    """sort_order without ``sort_by`` (rows paired by key): matched rows out of the SAS output's order."""

    inversions: int | None
    first: Any  # (SAS row, Python row) of the first out-of-order row, or None


@details_of("top_n_diffs")
@dataclass(frozen=True, eq=False)
class TopNDetails(FieldDetails):
    top_n: int
    max_print: int


@dataclass(frozen=True)
class WaiverState(Record):
    """One waiver of the spec and what it matched in this run."""

    column: str | None
    check: str | None
    keys: tuple[Mapping[str, Any], ...]
    max_abs_diff: float | None
    reason: str
    approver: str
    expires: str  # ISO date
    matched: int
    state: str  # active | stale | expired


@details_of("waivers")
@dataclass(frozen=True, eq=False)
class WaiversDetails(FieldDetails):
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"today"})
    NESTED: ClassVar[Mapping[str, type[Record]]] = {"waivers": WaiverState}

    waivers: tuple[WaiverState, ...]
    today: str | None = None  # ISO date the waivers were judged on (absent when none is registered)


__all__ = [
    "DETAILS",
    "AttributesDetails",
    "ColumnFigures",
    "DuplicateSide",
    "KeyMatchDetails",
    "KeyUniquenessDetails",
    "RowCountDetails",
    "RowOrderDetails",
    "SchemaDetails",
    "SortByDetails",
    "TopNDetails",
    "ValueDetails",
    "WaiverState",
    "WaiversDetails",
    "details_of",
]
