"""The engine's diffs frame (issue 8 item 14): the same rows, order and values whether few or all rows differ.

The engine builds it from the kept rows with one sort index, gathering one column at a time and releasing the kept
frame's columns as it goes (filtering and sorting whole frames held three copies when every row differed), and the
string fingerprints never leave the join pass.  These tests pin what that must not change.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from parity.api import _as_python_table, _as_sas_table, make_spec
from parity.engine.core import ROW_P, ROW_S, Comparison, compare_tables


def _compare(sas: pl.DataFrame, py: pl.DataFrame, **options: Any) -> Comparison:
    spec = make_spec("d", **options)
    sas_table = _as_sas_table(sas, "sas", spec)
    return compare_tables(spec, sas_table, _as_python_table(py, "python", sas_table, spec))


def _tables(n: int, differing: set[int]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """SAS rows 1..n (ID 2 only in SAS), Python rows shuffled with ID n+1 only in Python; the rows in
    ``differing`` differ in X (by 0.5) and in S (another value); every row's S differs in trailing blanks only."""
    ids = list(range(1, n + 1))
    sas = pl.DataFrame({"ID": [float(i) for i in ids], "X": [i * 1.5 for i in ids],
                        "S": [f"v{i}" for i in ids]})
    py_ids = [i for i in ids if i != 2] + [n + 1]
    py = pl.DataFrame({
        "id": py_ids,
        "x": [i * 1.5 + (0.5 if i in differing else 0.0) for i in py_ids],
        "s": [(f"w{i}" if i in differing else f"v{i}") + "  " for i in py_ids],
    }).sample(fraction=1.0, shuffle=True, seed=7)
    return sas, py


@pytest.mark.parametrize("every", [True, False], ids=["all-rows-differ", "few-rows-differ"])
def test_diffs_hold_exactly_the_unequal_and_unmatched_rows_in_key_order(every: bool) -> None:
    n = 2_000
    differing = set(range(1, n + 1)) - {2} if every else {5, 1_000, 1_999}
    comp = _compare(*_tables(n, differing), keys=["ID"])
    diffs = comp.diffs
    expected_keys = sorted(differing | {2, n + 1})
    assert diffs.get_column("s0").to_list() == [float(k) for k in expected_keys]
    assert not [c for c in diffs.columns if "#h" in c]  # fingerprints stay in the join pass
    by_key = {row["s0"]: row for row in diffs.iter_rows(named=True)}
    k = sorted(differing)[1]
    only_sas, only_py, one = by_key[2.0], by_key[float(n + 1)], by_key[float(k)]
    assert only_sas[ROW_P] is None and only_sas[ROW_S] == 1 and only_sas["s2"] == "v2" and only_sas["p2"] is None
    assert only_py[ROW_S] is None and only_py["s2"] is None and only_py["p2"] == f"v{n + 1}"
    assert one[ROW_S] == k - 1 and one["s1"] == k * 1.5 and one["p1"] == k * 1.5 + 0.5
    assert one["s2"] == f"v{k}" and one["p2"] == f"w{k}"  # fetched by row number, trailing blanks stripped
    assert one["neq1"] and one["neq2"]
    assert comp.stats["X"].mismatches == comp.stats["S"].mismatches == len(differing)
    assert (comp.only_sas, comp.only_py, comp.matched) == (1, 1, n - 1)
    assert comp.stats["X"].max_abs_diff == 0.5


def test_diffs_without_keys_are_in_row_order_with_python_only_rows_first() -> None:
    sas = pl.DataFrame({"X": [1.0, 2.0, 3.0], "S": ["a", "b", "c"]})
    py = pl.DataFrame({"x": [1.0, 9.0, 3.0, 4.0, 5.0], "s": ["a ", "b", "C", "d", "e"]})
    diffs = _compare(sas, py).diffs
    assert diffs.select(ROW_S, ROW_P).rows() == [(None, 3), (None, 4), (1, 1), (2, 2)]
    assert diffs.get_column("p1").to_list() == ["d", "e", "b", "C"]


def test_diffs_with_duplicate_keys_are_in_key_then_occurrence_order() -> None:
    sas = pl.DataFrame({"K": ["b", "a", "a", "a"], "X": [1.0, 1.0, 2.0, 3.0]})
    py = pl.DataFrame({"k": ["a", "a", "b", "a"], "x": [1.5, 2.0, 1.5, 3.5]})
    diffs = _compare(sas, py, keys=["K"]).diffs
    assert diffs.select("s0", "#dup", "s1", "p1").rows() == [
        ("a", 0, 1.0, 1.5), ("a", 2, 3.0, 3.5), ("b", 0, 1.0, 1.5)]
