"""parity: prove that a Python port of a SAS job produces the same outputs as the SAS original.

PYTEST_DONT_REWRITE: parity is a library (its pytest plugin is registered as the ``parity`` entry point), not test
code: its asserts need no rewriting, and pytest must not warn that the package was imported before it could
rewrite it (an editable install imported outside the project's folder, or an in-process pytester run).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

# --- lazy public API (keeps ``import parity`` free of polars/pyreadstat/pandas) ---------------------------------
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parity.assertion import assert_parity

__all__ += ["assert_parity"]


def __getattr__(name: str) -> object:
    if name == "assert_parity":
        from parity.assertion import assert_parity

        return assert_parity
    raise AttributeError(f"module 'parity' has no attribute {name!r}")
