"""The layering of the package: the contract module imports nothing else from parity, the spec's data is apart
from its parsing, and (tests below) the import-linter contract of pyproject.toml holds."""

from __future__ import annotations

import ast
from pathlib import Path

import parity

PACKAGE = Path(parity.__file__).parent


def _parity_imports(module: Path) -> set[str]:
    """Every parity module ``module`` imports, at the top or inside a function (TYPE_CHECKING ones too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n for n in names if n == "parity" or n.startswith("parity.")}
    return out


def test_contract_module_imports_nothing_else_from_parity() -> None:
    assert _parity_imports(PACKAGE / "model.py") == set()


def test_spec_data_is_apart_from_parsing() -> None:
    assert _parity_imports(PACKAGE / "spec" / "model.py") <= {"parity.model", "parity.spec.contract"}
    assert _parity_imports(PACKAGE / "spec" / "contract.py") <= {"parity.model"}  # data contracts, DQ rules
    assert _parity_imports(PACKAGE / "spec" / "rules.py") <= {"parity.model", "parity.spec.model"}


def test_spec_imports_no_layer_above_it() -> None:
    for module in (PACKAGE / "spec").glob("*.py"):
        above = {m for m in _parity_imports(module)
                 if not m.startswith(("parity.spec", "parity.model", "parity.errors", "parity.formats"))}
        assert above == set(), f"{module.name} imports {sorted(above)}"


def test_one_verdict_roll_up() -> None:
    from parity.model import verdict_of

    assert verdict_of([]) == "pass"
    assert verdict_of(["pass", "waived", "skipped"]) == "pass"
    assert verdict_of(["pass", "warn", "waived", "skipped"]) == "warn"
    assert verdict_of(["pass", "fail", "warn"]) == "fail"
    assert verdict_of(["fail", "error"]) == "error"


def test_orderings_list_unknown_values_last() -> None:
    from parity.model import CHANGE_ORDER, STATUS_ORDER, change_order, status_order

    assert sorted(["pass", "newer", "error", "warn"], key=status_order) == ["error", "warn", "pass", "newer"]
    assert [change_order(k) for k in CHANGE_ORDER] == list(range(len(CHANGE_ORDER)))
    assert change_order("newer") == len(CHANGE_ORDER)
    assert status_order(STATUS_ORDER[0]) == 0


# --------------------------------------------------------------------------------------------------------------
# the import-linter contract of pyproject.toml (also run by ./dev test's lint step)


def _importlinter() -> dict[str, object]:
    import tomllib

    return tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def test_lint_imports_keeps_every_contract() -> None:
    import shutil
    import subprocess
    import sys

    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is a dev dependency: pip install -e '.[dev]'"
    done = subprocess.run([exe, "--no-cache", "--no-logo"], cwd=PACKAGE.parent, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_every_package_of_parity_has_a_layer() -> None:
    contracts = _importlinter()["contracts"]
    assert isinstance(contracts, list)
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    placed = {m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}
    modules = {f"parity.{p.stem}" for p in PACKAGE.iterdir()
               if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.stem != "__init__"}
    # parity.testing holds test helpers (a SAS file writer) that no layer imports
    assert modules - placed == {"parity.testing"}, (
        f"{sorted(modules - placed - {'parity.testing'})}: put each new module or package of parity in a layer of "
        "[tool.importlinter] in pyproject.toml (docs/architecture.md says what each layer may import)")


def test_gating_kinds_of_change_in_one_place() -> None:
    from parity.model import (
        CHANGE_ORDER,
        GATING_CHANGES,
        NEEDS_APPROVAL,
        CheckResult,
        DatasetResult,
        JobResult,
    )
    from parity.report.delta import gating_changes

    assert set(GATING_CHANGES) == {"worse", *NEEDS_APPROVAL} and set(GATING_CHANGES) < set(CHANGE_ORDER)
    ds = DatasetResult(name="d", verdict="pass", sas={}, python={}, rows={}, duplicates={},
                       checks=(CheckResult("schema", "pass", ""),), columns=(), top_diffs={})
    result = JobResult(job="j", verdict="pass", description="", spec={}, datasets=(ds,), tool={}, run={})
    changes = [{"kind": k, "job": "j", "dataset": "d", "check": "schema", "column": None, "what": k}
               for k in (*CHANGE_ORDER, "a_newer_kind")]
    found = {c.kind for c in gating_changes({"changes": changes}, result, ds, "schema", False)}
    assert found == {*GATING_CHANGES, "a_newer_kind"}  # an unknown kind gates: never a silent pass
    accepted = gating_changes({"changes": changes, "accept_relaxed": True}, result, ds, "schema", False)
    assert {c.kind for c in accepted} == {"worse", "a_newer_kind"}
