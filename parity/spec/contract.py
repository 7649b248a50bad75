"""Data contracts and DQ rules of a dataset (``[datasets.<ds>.contract]``, ``[[datasets.<ds>.quality]]``): the
frozen dataclasses.  Their TOML parsing is :mod:`parity.spec.contract_load`; the engine evaluates them
(:mod:`parity.engine.quality`) and the ``contract`` and ``quality`` checks judge them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ContractType = Literal["string", "integer", "decimal", "float", "date", "datetime", "time", "boolean"]
CONTRACT_TYPES: tuple[ContractType, ...] = (
    "string", "integer", "decimal", "float", "date", "datetime", "time", "boolean")
ExtraColumns = Literal["fail", "warn", "allow"]
QualitySeverity = Literal["critical", "warn"]
#: files a lookup can read (through parity's source readers)
LOOKUP_EXTENSIONS = (".csv", ".parquet", ".arrow", ".feather", ".ipc", ".sas7bdat", ".xpt")


@dataclass(frozen=True)
class ColumnContract:
    """What the contract says about one column (of the Python output, matched case-insensitively)."""

    name: str
    type: ContractType | None = None
    precision: int | None = None  # decimal(p,s): p
    scale: int | None = None  # decimal(p,s): s
    max_length: int | None = None  # characters (trailing blanks do not count)
    nullable: bool = True

    def type_text(self) -> str | None:
        if self.type == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return self.type

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name.casefold(), "type": self.type_text(), "max_length": self.max_length,
                "nullable": self.nullable}


@dataclass(frozen=True)
class Contract:
    columns: tuple[ColumnContract, ...] = ()
    unique: tuple[str, ...] = ()
    extra_columns: ExtraColumns = "warn"

    def to_dict(self) -> dict[str, Any]:
        return {"columns": {c.name.casefold(): c.to_dict() for c in sorted(self.columns, key=lambda c:
                                                                             c.name.casefold())},
                "unique": [u.casefold() for u in self.unique], "extra_columns": self.extra_columns}


@dataclass(frozen=True)
class Lookup:
    column: str
    file: Path
    key: str


@dataclass(frozen=True)
class Distinct:
    column: str
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class QualityRule:
    """One DQ rule: exactly one of ``rule`` (a SQL expression true on every good row), ``lookup`` or
    ``distinct``."""

    name: str
    severity: QualitySeverity = "critical"
    rule: str | None = None
    lookup: Lookup | None = None
    distinct: Distinct | None = None
    description: str = ""
    where: str = ""  # the key in parity.toml, for errors found once the data is read
    #: why polars SQL rejects ``rule`` (None when it takes it): an error on the polars engine only, since the
    #: Spark engine judges the rule in Spark SQL, a dialect that takes other rules (each engine parses it before
    #: any comparison)
    polars_error: str | None = field(default=None, compare=False)

    @property
    def kind(self) -> str:
        return "rule" if self.rule is not None else "lookup" if self.lookup is not None else "distinct"

    def definition(self) -> str:
        """The rule as one line of text (the HTML rules table, delta messages)."""
        if self.rule is not None:
            return self.rule
        if self.lookup is not None:
            return f"{self.lookup.column} in {self.lookup.file.name}:{self.lookup.key}"
        assert self.distinct is not None
        bounds = [f">= {self.distinct.min}" if self.distinct.min is not None else "",
                  f"<= {self.distinct.max}" if self.distinct.max is not None else ""]
        return f"distinct {self.distinct.column} {' and '.join(b for b in bounds if b)}"

    def to_dict(self, lookup_file: str | None = None) -> dict[str, Any]:
        """Normalised for the report's spec rules; ``lookup_file`` is the lookup's file relative to the job."""
        out: dict[str, Any] = {"name": self.name, "severity": self.severity, "kind": self.kind}
        if self.rule is not None:
            out["rule"] = self.rule
        if self.lookup is not None:
            out["lookup"] = {"column": self.lookup.column.casefold(),
                             "file": lookup_file or self.lookup.file.as_posix(), "key": self.lookup.key.casefold()}
        if self.distinct is not None:
            out["distinct"] = {"column": self.distinct.column.casefold(), "min": self.distinct.min,
                               "max": self.distinct.max}
        return out

