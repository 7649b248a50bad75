"""The ``parity`` command line."""

from parity.cli.main import main

__all__ = ["main"]
