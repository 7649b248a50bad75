"""Shared test settings."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _files_written_long_ago(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests read the files they wrote a moment ago: the SAS cache's index would tell every such file racily clean
    (changed just before it was opened, :data:`parity.sources.cache.RACY_NS`) and never trust it to skip a read.
    tests/test_review9_cache.py tests the window itself."""
    from parity.sources import cache

    monkeypatch.setattr(cache, "RACY_NS", -(10**18))
