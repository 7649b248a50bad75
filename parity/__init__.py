"""parity: prove that a Python port of a SAS job produces the same outputs as the SAS original."""

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
