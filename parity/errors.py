"""One error hierarchy for every user-facing failure, each with its CLI exit code.

Anything that is the user's mistake (a bad spec, an unreadable file, a missing column) is raised as a
:class:`ParityError` whose message names the file, dataset, column or row and says what to do.  The CLI catches
these in one place (``parity.cli.main``) and never shows a library traceback for them.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARITY_FAILED = 1
EXIT_USAGE = 2


class ParityError(Exception):
    """Base class of parity's own errors."""

    exit_code = EXIT_USAGE


class UsageError(ParityError):
    """The command line asks for something impossible (unknown job, no jobs selected, ...)."""


class SpecError(ParityError):
    """A ``parity.toml`` (or ``[tool.parity]``) is wrong: unknown key, bad method, missing file, ..."""

    def __init__(self, file: object, message: str, key: str | None = None) -> None:
        self.file = str(file)
        self.key = key
        self.message = message
        where = f"{self.file}: [{key}] " if key else f"{self.file}: "
        super().__init__(where + message)


class InputError(ParityError):
    """A data file or a job's Python output cannot be used (corrupt, unsupported, wrong type, ...)."""


class ReportError(ParityError):
    """A saved report cannot be read (unknown schema_version, not a parity report, ...)."""
