"""Shared test helpers: writing small SAS files and job folders."""

from __future__ import annotations

import textwrap
from pathlib import Path

from parity.testing.sas7bdat_writer import Column, SpecialMissing, write_sas7bdat

__all__ = ["Column", "SpecialMissing", "make_job", "write_sas7bdat"]


def make_job(root: Path, name: str, toml: str, files: dict[str, str] | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "parity.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    for rel, text in (files or {}).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return folder
