"""The result contract: check names, statuses, verdicts and their orderings, and the frozen result model.

JSON, HTML and terminal output all render from these objects and nothing else.  ``to_dict`` gives the JSON shape
documented in ``docs/report-schema.json``; ``from_dict`` reads it back (for ``parity render`` and baselines).
Everything here is plain data: no polars, no pytest, and no import of any other parity module (every layer may
import this one; tests/test_layering.py guards it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

SCHEMA_VERSION = 3  # 2: spec.rules, columns' mismatch_keys, key sets in key_match/key_uniqueness; 3: the warn verdict
#: the report schemas this parity reads (baselines, ``parity render``): a schema 2 report has no ``warn`` verdict (its
#: warnings passed) and is otherwise a schema 3 report
READABLE_SCHEMA_VERSIONS: tuple[int, ...] = (2, 3)
#: up to this many keys a key set also lists each key's digest (DIGEST_HEX hex digits each), so that a smaller set
#: can be told apart from a different one; above it only the set's sha256 is kept (a changed set counts as worse)
KEY_DIGESTS_MAX = 5000
DIGEST_HEX = 16

# --------------------------------------------------------------------------------------------------------------
# the vocabulary every layer shares

#: the stable check names, in report order (the checks register under these names: parity.checks.core.check)
CHECK_NAMES: tuple[str, ...] = (
    "schema", "attributes", "row_count", "key_uniqueness", "key_match", "numeric_tolerance", "date_equivalence",
    "string_equality", "sort_order", "contract", "quality", "top_n_diffs", "waivers",
)
#: the column kinds (parity.formats.Kind); dates, datetimes and times are the temporal ones
TEMPORAL_KINDS: tuple[str, ...] = ("date", "datetime", "time")
#: the kinds whose differences are measured (in numbers, days and seconds: each on its own scale), in report order
MEASURED_KINDS: tuple[str, ...] = ("numeric", *TEMPORAL_KINDS)
#: the value checks and the column kinds each compares: a column's findings belong to its kind's check
CHECK_KINDS: dict[str, tuple[str, ...]] = {
    "numeric_tolerance": ("numeric",), "date_equivalence": TEMPORAL_KINDS, "string_equality": ("string",),
}
#: checks that never fail: they only list things
INFORMATIONAL_CHECKS: tuple[str, ...] = ("top_n_diffs",)

Status = Literal["pass", "fail", "warn", "waived", "error", "skipped"]
Verdict = Literal["pass", "warn", "fail", "error"]
#: check statuses, worst first: the order reports list them in
STATUS_ORDER: tuple[Status, ...] = ("error", "fail", "warn", "waived", "skipped", "pass")
VERDICTS: tuple[Verdict, ...] = ("pass", "warn", "fail", "error")
#: the statuses that make a verdict fail or error (exit 1 or 2); a ``warn`` makes a verdict warn (exit 0)
FAILING: tuple[Status, ...] = ("fail", "error")
#: how bad a status (or verdict) is: a rise between a baseline and a new report is a regression.  A waived failure
#: is a pass with a waiver, so it ranks below a warning
STATUS_RANK: dict[str, int] = {"pass": 0, "skipped": 0, "waived": 1, "warn": 2, "fail": 3, "error": 4}

ChangeKind = Literal["worse", "better", "new", "removed", "relaxed"]
#: the kinds of change between a baseline and a new report, in the order reports list them
CHANGE_ORDER: tuple[ChangeKind, ...] = ("worse", "relaxed", "removed", "new", "better")
#: the changes that need an approval (--accept-relaxed); with "worse", the ones that fail the gate
NEEDS_APPROVAL: tuple[ChangeKind, ...] = ("relaxed", "removed")
GATING_CHANGES: tuple[ChangeKind, ...] = ("worse", *NEEDS_APPROVAL)


def status_order(status: str) -> int:
    """A sort key that lists statuses (and verdicts) worst first; ones this parity does not know go last."""
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


def change_order(kind: str) -> int:
    """A sort key that lists kinds of change in :data:`CHANGE_ORDER`; unknown ones go last."""
    return CHANGE_ORDER.index(kind) if kind in CHANGE_ORDER else len(CHANGE_ORDER)


def verdict_of(statuses: Iterable[str]) -> Verdict:
    """The roll-up: statuses of checks (or verdicts of datasets or jobs) to one verdict, error > fail > warn >
    pass.  Any error is an error, else any failure a failure, else any warning a warning, else a pass (waived and
    skipped checks pass: a waived failure is a pass with a waiver)."""
    seen = set(statuses)
    worst: tuple[Verdict, ...] = ("error", "fail", "warn")
    return next((v for v in worst if v in seen), "pass")


def job_verdict_of(verdicts: Iterable[str], run: Mapping[str, Any]) -> Verdict:
    """A job's verdict: its datasets' verdicts rolled up, and a warning when its SAS outputs are a stale capture
    (``run.capture.status``, parity.run.capture: the SAS program changed since they were captured)."""
    capture = run.get("capture")
    stale = isinstance(capture, Mapping) and capture.get("status") == "stale"
    return verdict_of([*verdicts, *(["warn"] if stale else [])])


def item_path(*parts: str | None) -> str:
    """Where something is: ``job/dataset/check/column`` with the parts that are not given left out."""
    return "/".join(str(p) for p in parts if p)


# --------------------------------------------------------------------------------------------------------------
# check details: each check's typed details (parity.checks.details), written as a JSON object


class Details(dict[str, Any]):
    """A check's details.  Each check has its own frozen dataclass (:mod:`parity.checks.details`) whose typed
    fields the renderers read; ``to_dict`` gives the JSON object the report writes, ``from_dict`` reads it back.

    A Details is also that JSON object as a read-only dict (``details["key"]``, ``.get``, ``==``, ``json.dumps``),
    so code that reads results as data keeps working; changing it is a TypeError."""

    def __post_init__(self) -> None:
        dict.update(self, self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Details:
        raise NotImplementedError

    def __reduce__(self) -> tuple[Any, ...]:  # copy, deepcopy and pickle rebuild it from its JSON
        return type(self).from_dict, (self.to_dict(),)

    def _frozen(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} is frozen: build new details instead of changing these")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _frozen


@dataclass(frozen=True, eq=False)
class RawDetails(Details):
    """Details as plain JSON: none (``{}``), a check this parity does not know (a newer report), or details that
    do not have their check's shape."""

    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RawDetails:
        return cls(dict(data))


NO_DETAILS = RawDetails()


def _json(value: Any) -> Any:
    """A details field as JSON: nested details and records as objects, tuples as arrays."""
    if isinstance(value, Details | Record):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    return value


class Record:
    """A frozen dataclass written as a JSON object whose keys are its fields, in field order (a row of a check's
    details, or the details themselves through :class:`FieldDetails`).  ``OPTIONAL`` fields are left out while
    they are None; ``NESTED`` names the Record type of a field that holds one record or a tuple of them;
    ``JSON_KEYS`` the JSON key of a field named otherwise (a key that is a dict method, such as ``keys``)."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    NESTED: ClassVar[Mapping[str, type[Record]]] = {}
    JSON_KEYS: ClassVar[Mapping[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        return {self.JSON_KEYS.get(f.name, f.name): _json(getattr(self, f.name))
                for f in fields(self)  # type: ignore[arg-type]
                if not (f.name in self.OPTIONAL and getattr(self, f.name) is None)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """The record of ``data``.  A key it does not know is a TypeError (the caller keeps such details as they
        are); a missing key (a hand-written or partial result) reads as its field's empty value."""
        keys = {cls.JSON_KEYS.get(f.name, f.name): f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - set(keys)
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown {sorted(unknown)}")
        values = {}
        for key, f in keys.items():
            nested = cls.NESTED.get(f.name)
            value = data[key] if key in data else ({} if nested else _empty(str(f.type)))
            if nested is not None and isinstance(value, list):
                value = tuple(nested.from_dict(v) for v in value)
            elif nested is not None and isinstance(value, Mapping):
                value = nested.from_dict(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[f.name] = value
        return cls(**values)


def _empty(annotation: str) -> Any:
    """The value of a field a result leaves out: None where None is allowed, else its type's empty value."""
    if "None" in annotation or annotation == "Any":
        return None
    return {"int": 0, "float": 0.0, "str": "", "bool": False}.get(annotation, () if annotation.startswith("tuple")
                                                                   else {})


class FieldDetails(Record, Details):
    """Details that are a :class:`Record`: subclass it with ``@dataclass(frozen=True, eq=False)``."""

    def to_dict(self) -> dict[str, Any]:
        return Record.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        return Record.from_dict.__func__(cls, data)  # type: ignore[attr-defined]


DetailsTypes = Mapping[str, Sequence[type[Details]]]
#: the details types of each check, by check name: filled by parity.checks.details.details_of when the checks are
#: imported (the result model knows no check; reading a report, the first type that has the data's shape is used)
DETAILS: dict[str, tuple[type[Details], ...]] = {}


def parse_details(name: str, data: Any, types: DetailsTypes) -> Details:
    """A check's details read from JSON: the first of its types that has the data's shape, else
    :class:`RawDetails` (a check this parity does not know, or details of another shape are kept as they are)."""
    if not isinstance(data, Mapping):
        return RawDetails({"value": data}) if data is not None else NO_DETAILS
    for cls in types.get(name, ()) if data else ():
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError, KeyError, AttributeError):
            continue
    return RawDetails(dict(data))


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    summary: str
    #: the check's typed details (parity.checks.details); a plain mapping given here is read as its JSON
    details: Details = field(default_factory=RawDetails)

    def __post_init__(self) -> None:
        if not isinstance(self.details, Details):
            object.__setattr__(self, "details", parse_details(self.name, self.details, DETAILS))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "summary": self.summary, "details": self.details.to_dict()}


@dataclass(frozen=True)
class ColumnResult:
    name: str  # the SAS name as the file spells it (the canonical name)
    sas_name: str | None
    python_name: str | None
    kind: str
    method: str | None
    criterion: float | None
    compared: int
    mismatches: int
    max_abs_diff: float | None
    max_rel_diff: float | None
    status: str  # compared | ignored | key | sas_only | python_only | type_conflict
    sas_type: dict[str, Any] | None = None
    python_type: str | None = None
    explanations: tuple[dict[str, Any], ...] = ()
    note: str | None = None
    waived: int = 0  # mismatches accepted by a waiver (still counted in mismatches, never hidden)
    mismatch_keys: dict[str, Any] | None = None  # the set of mismatching keys: parity.checks.keysets.key_set
    #: this column's unequal values: "first_by_key" (the first max_print by key) and, for numbers, dates and times,
    #: "largest" (up to max_print of the largest absolute differences not in first_by_key); cells as in top_diffs
    listing: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "sas_name": self.sas_name, "python_name": self.python_name, "kind": self.kind,
            "method": self.method, "criterion": self.criterion, "compared": self.compared,
            "mismatches": self.mismatches, "max_abs_diff": self.max_abs_diff, "max_rel_diff": self.max_rel_diff,
            "status": self.status, "sas_type": self.sas_type, "python_type": self.python_type,
            "explanations": list(self.explanations), "note": self.note, "waived": self.waived,
            "mismatch_keys": self.mismatch_keys,
            "listing": self.listing,
        }


@dataclass(frozen=True)
class DatasetResult:
    name: str
    verdict: Verdict
    sas: dict[str, Any]
    python: dict[str, Any]
    rows: dict[str, int | None]
    duplicates: dict[str, dict[str, int | None]]
    checks: tuple[CheckResult, ...]
    columns: tuple[ColumnResult, ...]
    top_diffs: dict[str, Any]
    keys: tuple[str, ...] = ()
    error: str | None = None
    duration_s: float | None = None

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "verdict": self.verdict, "error": self.error, "keys": list(self.keys),
            "sas": self.sas, "python": self.python, "rows": self.rows, "duplicates": self.duplicates,
            "checks": [c.to_dict() for c in self.checks], "columns": [c.to_dict() for c in self.columns],
            "top_diffs": self.top_diffs, "duration_s": self.duration_s,
        }


@dataclass(frozen=True)
class JobResult:
    job: str
    verdict: Verdict
    description: str
    spec: dict[str, Any]
    datasets: tuple[DatasetResult, ...]
    tool: dict[str, str]
    run: dict[str, Any]  # run-time fields: started_at, duration_s (excluded from determinism)
    error: str | None = None
    schema_version: int = SCHEMA_VERSION
    delta: dict[str, Any] | None = None  # changes against a baseline report, when one was given

    def to_dict(self) -> dict[str, Any]:
        out = {
            "schema_version": self.schema_version, "tool": self.tool, "job": self.job,
            "description": self.description, "verdict": self.verdict, "error": self.error, "spec": self.spec,
            "datasets": [d.to_dict() for d in self.datasets], "run": self.run,
        }
        if self.delta is not None:
            out["delta"] = self.delta
        return out

    @staticmethod
    def from_dict(data: dict[str, Any], details: DetailsTypes | None = None) -> JobResult:
        """The result a report holds; ``details``: the details types of each check (default: :data:`DETAILS`,
        filled once parity.checks is imported; a check without a type loads as :class:`RawDetails`)."""
        datasets = tuple(
            DatasetResult(
                name=d["name"], verdict=d["verdict"], sas=d["sas"], python=d["python"], rows=d["rows"],
                duplicates=d["duplicates"],
                checks=tuple(CheckResult(c["name"], c["status"], c["summary"],
                                         parse_details(c["name"], c.get("details") or {}, DETAILS if details is None else details))
                             for c in d["checks"]),
                columns=tuple(
                    ColumnResult(**{**c, "explanations": tuple(c.get("explanations") or ())}) for c in d["columns"]
                ),
                top_diffs=d["top_diffs"], keys=tuple(d.get("keys") or ()), error=d.get("error"),
                duration_s=d.get("duration_s"),
            )
            for d in data["datasets"]
        )
        return JobResult(
            job=data["job"], verdict=data["verdict"], description=data.get("description", ""),
            spec=data.get("spec", {}), datasets=datasets, tool=data["tool"], run=data.get("run", {}),
            error=data.get("error"), schema_version=data["schema_version"], delta=data.get("delta"),
        )
