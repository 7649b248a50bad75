"""parity: prove that a Python port of a SAS job produces the same outputs as the SAS original."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
