"""Adversarial review of issue 9 (fast SAS reader, out-of-core engine): regressions for the defects it found."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the oldest polars the engine runs on: 1.33 and 1.37 fail every keyed comparison (KeyError 'violations' from the
#: sort-order pass; pl.PartitionBy, with which the buckets are written, appeared in 1.37); 1.44 is what the suite
#: runs with
OLDEST_WORKING_POLARS = (1, 44)


def _floor(requirement: str) -> tuple[int, ...]:
    match = re.search(r">=\s*([0-9.]+)", requirement)
    assert match, f"{requirement!r} declares no floor"
    return tuple(int(part) for part in match.group(1).split("."))


def test_the_declared_polars_floor_is_a_release_parity_runs_on() -> None:
    """`pip install parity-sas` may pick any release the floor allows (a fresh ./dev venv got polars 1.33.1,
    where every keyed comparison crashed): the floor must be a release the engine works on, and the installed
    release must satisfy it."""
    package = "polars"
    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    declared = [r for r in requirements if re.match(rf"{re.escape(package)}\s*(>=|==|~=|<|$)", r)]
    assert len(declared) == 1, declared
    floor = _floor(declared[0])
    assert floor[:2] >= OLDEST_WORKING_POLARS, f"{declared[0]}: polars before 1.44 cannot run parity's engine"
    installed = tuple(int(p) for p in re.findall(r"\d+", version(package))[:3])
    assert installed >= floor, (declared[0], version(package))
