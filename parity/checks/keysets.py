"""Key sets: a deterministic fingerprint of a set of row keys (mismatching, unmatched or duplicated keys) that the
delta gate compares between a baseline and a new report (``{count, sha256, digests}``, see docs/report.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from parity.engine.base import DUP, ROW_P, ROW_S
from parity.model import DIGEST_HEX, KEY_DIGESTS_MAX

if TYPE_CHECKING:
    import polars as pl

    from parity.engine.base import EngineResult


def row_key_columns(comp: EngineResult) -> list[str]:
    """The columns of ``comp.diffs`` that identify a row: the keys (and the duplicate rank), else the row numbers."""
    if comp.keys:
        tags = [k.st for k in comp.keys if k.has_tags]  # strict: '.', '.A' and '._' are different keys
        return [k.s for k in comp.keys] + tags + ([DUP] if DUP in comp.diffs.columns else [])
    return [ROW_S, ROW_P]


def key_set(rows: pl.DataFrame, cols: Sequence[str]) -> dict[str, Any] | None:
    """``{count, sha256, digests}`` of the keys in ``rows`` (None when there are none).

    Each key is its values as canonical JSON; ``sha256`` hashes the sorted keys, ``digests`` concatenates each
    key's 64-bit blake2b digest (sorted) when there are at most :data:`KEY_DIGESTS_MAX` keys, else is None.
    """
    if rows.height == 0:
        return None
    return key_set_of(key_texts(rows, cols).sort())


def key_texts(rows: pl.DataFrame, cols: Sequence[str]) -> pl.Series:
    """Each row's key as canonical JSON (the texts :func:`key_set` hashes), in row order."""
    import polars as pl

    return rows.select(pl.struct([pl.col(c).alias(str(i)) for i, c in enumerate(cols)]).struct.json_encode()
                       .alias("k")).get_column("k")


def key_set_of(texts: pl.Series) -> dict[str, Any] | None:
    """:func:`key_set` of key texts already sorted (so a caller can sort every row's key once and take subsets)."""
    if len(texts) == 0:
        return None
    digests = None
    if len(texts) <= KEY_DIGESTS_MAX:
        digests = "".join(sorted(hashlib.blake2b(t.encode(), digest_size=DIGEST_HEX // 2).hexdigest()
                                 for t in texts.to_list()))
    joined = "\n".join(texts.to_list()) if len(texts) <= KEY_DIGESTS_MAX else str(texts.str.join("\n").item())
    return {"count": len(texts), "sha256": hashlib.sha256(joined.encode()).hexdigest(), "digests": digests}
