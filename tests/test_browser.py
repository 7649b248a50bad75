"""The HTML reports in a real headless browser (Debian's chromium): they load offline with no console message at
all (no script error, no blocked resource), their inline JS runs (it sets ``data-js-ok`` on <html>), hostile
values never execute, they print, and a screenshot of the failing example lands in ``reports/screenshots/`` as a
CI artifact.  Skipped, with the reason, when no chromium is installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from parity.cli.main import main
from parity.report.html import write_html
from tests.test_html_report import tricky_result

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
#: where screenshots go (a CI artifact); override with PARITY_SCREENSHOT_DIR
SHOTS = Path(os.environ.get("PARITY_SCREENSHOT_DIR") or ROOT / "reports" / "screenshots")
BROWSERS = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
TIMEOUT_S = 90
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--enable-logging=stderr", "--v=0")


def _browser() -> str:
    explicit = os.environ.get("PARITY_CHROMIUM")
    found = explicit or next((b for b in BROWSERS if shutil.which(b)), None)
    if not found:
        pytest.skip("no chromium found (install Debian's chromium: apt-get install -y chromium, or set "
                    "PARITY_CHROMIUM)")
    return found


def chromium(url: str, *args: str) -> tuple[str, str]:
    """Run headless chromium on ``url`` with a throw-away profile; return (stdout, stderr)."""
    exe = _browser()
    with tempfile.TemporaryDirectory(prefix="parity-chromium-") as profile:
        try:
            proc = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args, url], capture_output=True,
                                  text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium did not finish within {TIMEOUT_S}s on {url}")
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.stdout, proc.stderr


def console_messages(stderr: str) -> list[str]:
    """Messages the page wrote to the console (script errors, CSP violations, console.*): chromium logs each as
    ``...:INFO:CONSOLE(n)] "..."`` (or ``:CONSOLE:n]``) with --enable-logging=stderr."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def load(path: Path) -> str:
    """The page's DOM after its scripts ran; fails on any console message or when the inline JS did not run."""
    dom, err = chromium(path.resolve().as_uri(), "--dump-dom")
    assert console_messages(err) == [], console_messages(err)
    assert 'data-js-ok="1"' in dom, "the page's inline script did not run to the end"
    return dom


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _browser()
    out = tmp_path_factory.mktemp("reports")
    assert main(["run", "--all", "--jobs-dir", str(FIXTURES), "--report-dir", str(out)]) == 1
    return out


def test_failing_report_loads_and_screenshot(reports: Path) -> None:
    page = reports / "premium_rounding" / "parity.html"
    dom = load(page)
    assert "rounding_half_even" in dom and "Value Comparison Results" in dom
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "premium_rounding.png"
    shot.unlink(missing_ok=True)
    _, err = chromium(page.resolve().as_uri(), f"--screenshot={shot}", "--window-size=1366,3000")
    assert console_messages(err) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real, non-blank picture


def test_passing_report_and_index_load(reports: Path) -> None:
    assert "banner st-pass" in load(reports / "claims_monthly" / "parity.html")
    index = load(reports / "index.html")
    assert "premium_rounding" in index and "claims_monthly" in index
    SHOTS.mkdir(parents=True, exist_ok=True)
    chromium((reports / "index.html").resolve().as_uri(), f"--screenshot={SHOTS / 'index.png'}",
             "--window-size=1366,700")
    assert (SHOTS / "index.png").stat().st_size > 5_000


def test_hostile_values_never_run(tmp_path: Path) -> None:
    page = write_html(tricky_result(), tmp_path / "tricky.html")
    dom = load(page)
    assert 'data-pwned="1"' not in dom  # the <img onerror=...> payload stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_report_prints(reports: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "premium_rounding.pdf"
    _, err = chromium((reports / "premium_rounding" / "parity.html").resolve().as_uri(),
                      f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert console_messages(err) == []
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
