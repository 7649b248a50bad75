"""The HTML report's templates are compiled once per machine, in parity's cache folder (parity/report/html.py):
the same page either way, and a cache folder that cannot be used only means compiling them again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import sys
from parity.report import html
env = html.environment()
env.get_template("job.html.j2")  # compiled (and cached) without rendering
print(type(env.bytecode_cache).__name__ if env.bytecode_cache else None)
"""


def _run(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def test_templates_are_compiled_once_into_the_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    env = {**os.environ, "PARITY_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PARITY_NO_CACHE", None)
    assert _run(env) == "_TemplateCache"
    compiled = list((tmp_path / "cache" / "templates").iterdir())
    assert compiled
    stamps = {p.name: p.stat().st_mtime_ns for p in compiled}
    assert _run(env) == "_TemplateCache"  # the second process loads them: nothing rewritten
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "templates").iterdir()} == stamps
    # a cache path that is a file (cannot be a folder): compiled again, no error
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    assert _run({**env, "PARITY_CACHE_DIR": str(blocked)}) == "None"
    assert _run({**env, "PARITY_NO_CACHE": "1"}) == "None"
