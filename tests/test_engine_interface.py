"""The engine interface (issue 9 item 6): engines by name, a frozen EngineResult, and checks that read only it.

A second engine (Spark) implements :class:`parity.engine.base.Engine`; these tests pin what it can rely on: the
registry, the shared column planning, and that :func:`parity.checks.core.build_result` needs nothing but the
result (a hand-built result, with no polars engine behind it, gives the report).
"""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from parity.api import _as_python_table, _as_sas_table, make_spec
from parity.checks.core import build_result
from parity.engine.base import (
    DUP,
    GROUP_ROWS,
    ROW_P,
    ROW_S,
    ColumnStats,
    DupGroups,
    Engine,
    EngineResult,
    get_engine,
    register_engine,
)
from parity.engine.core import compare_tables
from parity.engine.plan import plan_columns
from parity.engine.polars_engine import PolarsEngine
from parity.errors import SpecError
from parity.sources.base import Source, Table
from parity.spec import DatasetSpec, JobSpec


def _sides(spec: DatasetSpec) -> tuple[Table, Table]:
    sas = _as_sas_table(pl.DataFrame({"ID": [1.0, 2.0, 3.0, 3.0], "X": [1.0, 2.0, 3.0, 4.0],
                                      "S": ["a", "b", "c", "d"]}), "sas", spec)
    py = _as_python_table(pl.DataFrame({"id": [1, 2, 3, 3], "x": [1.0, 2.5, 3.0, 4.0],
                                        "s": ["a", "b", "C", "d"]}), "python", sas, spec)
    return sas, py


def test_engines_are_found_by_name_and_an_unknown_name_is_a_spec_error_listing_them() -> None:
    engine = get_engine()
    assert isinstance(engine, PolarsEngine) and isinstance(engine, Engine) and engine.name == "polars"
    assert isinstance(get_engine("polars"), PolarsEngine)
    with pytest.raises(SpecError, match=r"unknown engine 'sparkk' \(known engines: .*polars"):
        get_engine("sparkk")


def test_the_result_is_frozen_and_carries_counts_stats_and_raw_duplicate_groups() -> None:
    spec = make_spec("d", keys=["ID"])
    result = compare_tables(spec, *_sides(spec))
    assert isinstance(result, EngineResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.matched = 0  # type: ignore[misc]
    assert (result.rows_sas, result.rows_py, result.matched, result.only_sas, result.only_py) == (4, 4, 4, 0, 0)
    assert result.stats["X"] == ColumnStats(compared=4, mismatches=1, max_abs_diff=0.5, max_rel_diff=0.25)
    assert result.stats["S"].mismatches == 1
    # duplicate keys come back raw: the groups, not key sets (the checks derive those)
    assert result.dup_sas.keys == 1 and result.dup_sas.rows == 2 and result.dup_py.keys == 1
    assert result.dup_sas.frame.get_column(GROUP_ROWS).to_list() == [2]
    assert result.dup_sas.frame.get_column(result.dup_sas.columns[0]).to_list() == [3.0]
    assert DUP in result.diffs.columns and {ROW_S, ROW_P} <= set(result.diffs.columns)
    assert result.python_types == {"id": "Int64", "x": "Float64", "s": "String"}


class HandEngine:
    """A stand-in second engine: shared planning, and a result built by hand in the contract's columns."""

    name = "hand"

    def compare(self, spec: DatasetSpec, sas: Source, py: Source, job: JobSpec | None = None) -> EngineResult:
        plans = plan_columns(spec, job, sas, py)
        key = next(p for p in plans if p.role == "key")
        x = next(p for p in plans if p.name == "X")
        s = next(p for p in plans if p.name == "S")
        diffs = pl.DataFrame({ROW_S: [1, 3], ROW_P: [1, None], key.s: [2.0, 4.0], x.s: [2.0, 9.0],
                              x.p: [2.5, None], x.neq: [True, False], s.s: ["b", "z"], s.p: ["b", None],
                              s.neq: [False, False]},
                             schema_overrides={ROW_S: pl.UInt32, ROW_P: pl.UInt32})
        return EngineResult(
            spec=spec, sas=sas, py=py, plans=tuple(plans), keys=(key,), rows_sas=4, rows_py=3, matched=3,
            only_sas=1, only_py=0, stats={"X": ColumnStats(3, 1, 0.5, 0.25), "S": ColumnStats(3, 0, None, None)},
            diffs=diffs, python_types={"id": "Int64", "x": "Float64", "s": "String"}, dup_py=DupGroups(),
        )


def test_checks_read_only_the_engine_result_so_another_engine_plugs_in() -> None:
    register_engine("hand", HandEngine)
    spec = make_spec("d", keys=["ID"])
    sas = _as_sas_table(pl.DataFrame({"ID": [1.0, 2.0, 3.0, 4.0], "X": [1.0, 2.0, 3.0, 9.0],
                                      "S": ["a", "b", "c", "z"]}), "sas", spec)
    py = _as_python_table(pl.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.5, 3.0], "s": ["a", "b", "c"]}),
                          "python", sas, spec)
    result = build_result(compare_tables(spec, sas, py, engine="hand"))
    checks = {c.name: c for c in result.checks}
    assert result.verdict == "fail"
    assert result.rows == {"sas": 4, "python": 3, "matched": 3, "only_in_sas": 1, "only_in_python": 0}
    assert checks["key_match"].details["sample_only_in_sas"] == [{"ID": 4.0}]
    assert checks["numeric_tolerance"].status == "fail" and "worst X: 1 of 3" in checks["numeric_tolerance"].summary
    x = next(c for c in result.columns if c.name == "X")
    assert x.listing["first_by_key"][0]["key"] == {"ID": 2.0} and x.listing["first_by_key"][0]["python"] == 2.5
    assert checks["string_equality"].status == "pass"
    # the same inputs on the polars engine give the same verdicts
    polars_result = build_result(compare_tables(spec, sas, py))
    assert [(c.name, c.status) for c in polars_result.checks] == [(c.name, c.status) for c in result.checks]
    assert polars_result.rows == result.rows
