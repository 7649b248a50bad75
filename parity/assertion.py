"""``parity.assert_parity``: compare two tables inside a user's own test and fail with a compact message.

Light to import (the comparison engine loads on the first call), so ``import parity`` stays cheap.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from parity.errors import ParityError
from parity.model import FAILING, DatasetResult, item_path


class ParityWarning(UserWarning):
    """A parity check that warns (e.g. rows out of the SAS order without ``sort_by``).

    Warnings never fail a test; make them fail with ``-W error::parity.assertion.ParityWarning`` (or the
    ``filterwarnings`` ini option).
    """


def warning_text(ds: DatasetResult, *, job: str | None = None) -> list[str]:
    """One line per warning check of ``ds``."""
    where = item_path(job, ds.name)
    return [f"{where} {c.name}: {c.summary}" for c in ds.checks if c.status == "warn"]


def assert_parity(
    sas: Any,
    python: Any,
    *,
    keys: Sequence[str] = (),
    tolerance: Mapping[str, Any] | None = None,
    name: str = "data",
    **options: Any,
) -> DatasetResult:
    """Assert that ``python`` reproduces ``sas``; return the DatasetResult for further assertions.

    ``sas`` is a ``.sas7bdat``/``.xpt`` path or a DataFrame in SAS units; ``python`` is a path (parquet, csv,
    arrow, sas7bdat, xpt) or a polars/pandas DataFrame.  ``keys``, ``tolerance`` (column -> ``{"method": ...,
    "criterion": ...}``, ``"default"`` for every other numeric column) and ``options`` (``sort_by``, ``ignore``,
    ``rename``, ``top_n``, ``strings``, ``numbers``, ``dates``, ``severity``) are the dataset settings of
    parity.toml.  A failing check raises AssertionError with the check's summary, the worst differences and a
    hint; a warning check emits :class:`ParityWarning` (the verdict is ``warn`` and the assertion passes); bad
    arguments or unreadable inputs raise the :class:`~parity.errors.ParityError` that says what is wrong.
    """
    __tracebackhide__ = True
    from parity.api import compare_frames
    from parity.report.text import dataset_text

    try:
        result = compare_frames(sas, python, name=name, keys=list(keys), tolerance=dict(tolerance or {}),
                                **options)
    except ParityError as exc:  # the user's mistake: show the message, not parity's internals
        raise exc.with_traceback(None) from None
    for line in warning_text(result):
        warnings.warn(ParityWarning(line), stacklevel=2)
    if result.verdict in FAILING:  # a warn verdict passes: its warnings were emitted above
        raise AssertionError(dataset_text(result, style="api"))
    return result


__all__ = ["ParityWarning", "assert_parity", "warning_text"]
