"""Publishing a run's reports as a whole: the one service ``parity run`` and the pytest plugin write reports with.

A report folder holds one folder per job (``<job>/parity.json`` and ``<job>/parity.html``) and the run's pages
(``index.html``, ``summary.md``).  A run replaces them together, so a reader (a person, CI, ``parity diff``) never
sees a new ``parity.json`` beside an old ``parity.html``, nor an index of an older run:

1. :func:`prepare`, before any job runs: the folder is created and proved writable (else a :class:`ReportError`
   and no work is wasted), and whatever a killed run left behind is recovered (step 4).
2. :func:`publish` stages every job's folder as ``.parity-new-<token>-<job>/`` and the pages as
   ``.parity-new-<token>.index.html`` / ``.summary.md``, each file written and flushed to disk.
3. It then writes the journal ``.parity-publish.json`` (atomically): the commit point.  It renames each
   ``<job>/`` aside to ``.parity-old-<token>-<job>/`` and the staged folder in, replaces the pages, deletes the
   set-aside folders and finally the journal.
4. Recovery (under the same lock): with a journal, the run was committed and its renames are completed (they are
   idempotent); without one, staging is deleted and a set-aside folder whose ``<job>/`` is missing is renamed back.
   Temporary files of interrupted atomic writes are swept too.  A run killed at any point therefore leaves the
   old run whole or, once recovered, the new run whole.

Publishing and recovery hold an exclusive lock on ``.parity.lock`` (POSIX ``flock``; released by the kernel when a
process dies), so two runs into one folder take turns instead of sweeping each other's staging.

The pages describe this run only: its jobs (an errored job as ``error``) give the verdict; reports that earlier
runs left in the folder are listed apart as not part of this run, never counted and never deleted.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.errors import ReportError
from parity.model import JobResult
from parity.report.json import REPORT_FILE, dumps, write_atomic

if TYPE_CHECKING:
    pass

NEW = ".parity-new-"
OLD = ".parity-old-"
JOURNAL = ".parity-publish.json"
LOCK = ".parity.lock"
#: how long a run waits for another run publishing into the same folder before giving up
LOCK_TIMEOUT_S = 120.0
#: the temporary files of :func:`write_atomic` for the files a run writes (``.<name>.<random>.tmp``)
ATOMIC_TMP = (".parity.json.", ".parity.html.", ".index.html.", ".summary.md.", f".{JOURNAL}.")


@dataclass(frozen=True)
class Publication:
    """What :func:`publish` wrote: each job's ``parity.json``, the pages, and what could not be rendered."""

    report_dir: Path
    reports: Mapping[str, Path]
    index: Path
    summary: Path
    #: job -> why its parity.html is missing (the JSON report, the contract, is published regardless)
    problems: Mapping[str, str] = field(default_factory=dict)
    #: job folders in the report folder that are not part of this run
    older: tuple[str, ...] = ()


def _checkpoint(point: str) -> None:
    """A no-op between the steps of a publication; tests replace it to kill a run at a dangerous point."""


# ---------------------------------------------------------------------------------------------------------------
# the folder


def _make_dir(report_dir: Path) -> None:
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (report_dir, *report_dir.parents) if p.exists() and not p.is_dir()), None)
        what = f"{blocker} is a file, not a folder" if blocker else "a part of the path is not a folder"
        raise ReportError(f"report folder {report_dir} cannot be created: {what}; remove it or choose another "
                          "report folder") from None
    except OSError as exc:
        raise ReportError(f"report folder {report_dir} cannot be created: {exc.strerror or exc}; choose another "
                          "report folder or fix its permissions") from None
    if not report_dir.is_dir():
        raise ReportError(f"report folder {report_dir} is not a folder; choose another report folder")


def _not_writable(report_dir: Path, exc: OSError) -> ReportError:
    return ReportError(f"report folder {report_dir} is not writable ({exc.strerror or exc}); choose another report "
                       "folder or fix its permissions")


@contextlib.contextmanager
def _locked(report_dir: Path) -> Iterator[None]:
    try:
        fd = os.open(report_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise _not_writable(report_dir, exc) from None
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks; runs must not share a folder
            yield
            return
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ReportError(f"report folder {report_dir}: another parity run has been writing reports "
                                      f"into it for {LOCK_TIMEOUT_S:.0f}s ({report_dir / LOCK} is locked); wait "
                                      "for it or choose another report folder") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def prepare(report_dir: Path) -> None:
    """Before any job runs: create ``report_dir``, prove it writable and recover what a killed run left there.

    Raises :class:`ReportError` (exit 2) naming the folder and what to do."""
    _make_dir(report_dir)
    with _locked(report_dir):
        try:
            fd, probe = tempfile.mkstemp(prefix=f"{NEW}probe-", dir=report_dir)
        except OSError as exc:
            raise _not_writable(report_dir, exc) from None
        os.close(fd)
        os.unlink(probe)
        _recover(report_dir)


def _recover(report_dir: Path) -> None:
    try:
        recover(report_dir)
    except OSError as exc:
        raise ReportError(f"report folder {report_dir}: cannot finish or undo what an earlier run left there "
                          f"({exc.strerror or exc}: {exc.filename}); fix that, or delete the folder's .parity-* "
                          "entries, and run again") from None


# ---------------------------------------------------------------------------------------------------------------
# recovery


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open a folder (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name and "\\" not in name


def _read_journal(report_dir: Path) -> dict[str, Any] | None:
    try:
        plan = json.loads((report_dir / JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = (isinstance(plan, dict) and isinstance(plan.get("token"), str) and plan["token"].isalnum()
          and isinstance(plan.get("jobs"), list) and all(_plain_name(j) for j in plan["jobs"])
          and isinstance(plan.get("pages"), list) and all(_plain_name(p) for p in plan["pages"]))
    return plan if ok else None


def _apply(report_dir: Path, plan: Mapping[str, Any]) -> None:
    """Complete a committed publication; every step can be repeated after a crash."""
    token = plan["token"]
    for job in plan["jobs"]:
        stage, aside, final = report_dir / f"{NEW}{token}-{job}", report_dir / f"{OLD}{token}-{job}", report_dir / job
        if not stage.is_dir():
            continue  # already renamed in
        if final.exists() or final.is_symlink():
            if aside.exists():
                _remove(final)  # not this run's folder: the previous one is already set aside
            else:
                final.rename(aside)
                _checkpoint(f"aside:{job}")
        stage.rename(final)
        _checkpoint(f"swapped:{job}")
    for page in plan["pages"]:
        staged = report_dir / f"{NEW}{token}.{page}"
        if staged.is_file():
            os.replace(staged, report_dir / page)
    _fsync_dir(report_dir)
    _checkpoint("pages")
    for job in plan["jobs"]:
        _remove(report_dir / f"{OLD}{token}-{job}")
    (report_dir / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(report_dir)


def recover(report_dir: Path) -> None:
    """Finish or undo what a killed run left in ``report_dir`` (call with the lock held)."""
    plan = _read_journal(report_dir)
    if plan is not None:
        _apply(report_dir, plan)
    (report_dir / JOURNAL).unlink(missing_ok=True)
    for entry in sorted(report_dir.iterdir()):
        name = entry.name
        if name.startswith(NEW):
            _remove(entry)  # staging of a run that never committed
        elif name.startswith(OLD):
            job = name[len(OLD):].partition("-")[2]
            final = report_dir / job
            if _plain_name(job) and entry.is_dir() and not (final.exists() or final.is_symlink()):
                entry.rename(final)  # set aside, never replaced: put it back
            else:
                _remove(entry)
        elif name.startswith(ATOMIC_TMP) and name.endswith(".tmp"):
            _remove(entry)
        elif entry.is_dir() and not name.startswith("."):
            for tmp in entry.iterdir():
                if tmp.name.startswith(ATOMIC_TMP) and tmp.name.endswith(".tmp"):
                    _remove(tmp)


# ---------------------------------------------------------------------------------------------------------------
# publishing


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _pages(report_dir: Path, results: Sequence[JobResult], html_ok: Mapping[str, bool],
           run_error: str | None) -> tuple[dict[str, str], tuple[str, ...]]:
    from parity.report.html import INDEX_FILE, render_index
    from parity.report.markdown import SUMMARY_FILE, ReportEntry, find_reports, render_summary

    entries = [ReportEntry(report_dir / r.job / REPORT_FILE, r, has_html=html_ok.get(r.job, False)) for r in results]
    entries += find_reports(report_dir, skip={r.job for r in results}, current=False)
    title = f"parity reports in {report_dir.resolve().name}/"
    renderers: dict[str, Callable[[], str]] = {
        INDEX_FILE: lambda: render_index(entries, title=title, run_error=run_error),
        SUMMARY_FILE: lambda: render_summary(entries, run_error=run_error),
    }
    pages: dict[str, str] = {}
    for name, render in renderers.items():
        try:
            pages[name] = render()
        except Exception as exc:  # a page must still say this run happened: never leave an older run's page
            pages[name] = _fallback_page(name, f"{type(exc).__name__}: {exc}")
    return pages, tuple(e.folder.name for e in entries if not e.current)


def _fallback_page(name: str, message: str) -> str:
    what = f"parity could not render {name} for this run ({message}); the job reports are in the job folders"
    if name.endswith(".md"):
        from parity.report.markdown import md_text

        return f"## parity: 🛑 error\n\n{md_text(what)}\n"
    return (f'<!DOCTYPE html>\n<meta charset="utf-8"><title>ERROR parity</title>\n<p><strong>error</strong>: '
            f"{html.escape(what)}</p>\n")


def publish(report_dir: Path, results: Sequence[JobResult], run_error: str | None = None) -> Publication:
    """Write this run's reports into ``report_dir`` as a whole (see the module docstring).

    ``run_error`` says why a run stopped before any job ran: the pages then say so.  Raises :class:`ReportError`
    when the reports cannot be written; the previous reports are then left as they were."""
    from parity.report.html import HTML_FILE, INDEX_FILE, render_job
    from parity.report.markdown import SUMMARY_FILE

    names = [r.job for r in results]
    for job in names:
        if not _plain_name(job) or job.startswith(".") or job in (INDEX_FILE, SUMMARY_FILE, LOCK, JOURNAL):
            raise ReportError(f"job name {job!r} cannot be a folder of the report folder {report_dir}")
    if len(set(names)) != len(names):
        raise ReportError(f"a run cannot publish two reports of one job ({', '.join(sorted(names))})")
    _make_dir(report_dir)
    for page in (INDEX_FILE, SUMMARY_FILE):
        if (report_dir / page).exists() and not (report_dir / page).is_file():
            raise ReportError(f"{report_dir / page} is a folder, where parity writes the run's {page}; remove it "
                              "or choose another report folder")
    token = secrets.token_hex(6)
    problems: dict[str, str] = {}
    html_ok: dict[str, bool] = {}
    with _locked(report_dir):
        _recover(report_dir)
        try:
            for result in results:
                stage = report_dir / f"{NEW}{token}-{result.job}"
                stage.mkdir()
                _write(stage / REPORT_FILE, dumps(result))
                try:
                    _write(stage / HTML_FILE, render_job(result))
                    html_ok[result.job] = True
                except Exception as exc:  # the JSON report is the contract; the page is a rendering of it
                    (stage / HTML_FILE).unlink(missing_ok=True)
                    problems[result.job] = f"could not write the HTML report: {type(exc).__name__}: {exc}"
                _fsync_dir(stage)
            pages, older = _pages(report_dir, results, html_ok, run_error)
            for name, text in pages.items():
                _write(report_dir / f"{NEW}{token}.{name}", text)
            _checkpoint("staged")
            write_atomic(report_dir / JOURNAL, json.dumps({"token": token, "jobs": names, "pages": list(pages)}))
            _fsync_dir(report_dir)
        except OSError as exc:
            with contextlib.suppress(OSError):
                recover(report_dir)  # nothing is committed: drop the staging
            raise ReportError(f"could not write the reports into {report_dir} ({exc.strerror or exc}); the "
                              "previous reports are unchanged") from None
        except BaseException:  # Ctrl-C: nothing is committed, so no staging is left behind for the next run
            with contextlib.suppress(OSError):
                recover(report_dir)
            raise
        try:
            _checkpoint("committed")
            _apply(report_dir, {"token": token, "jobs": names, "pages": list(pages)})
        except OSError as exc:
            raise ReportError(f"could not finish publishing into {report_dir} ({exc.strerror or exc}: "
                              f"{exc.filename}); the next run into the folder completes it") from None
        except BaseException:  # Ctrl-C once committed: the new run is completed now, not by the next run
            with contextlib.suppress(OSError):
                recover(report_dir)
            raise
    return Publication(report_dir, {n: report_dir / n / REPORT_FILE for n in names}, report_dir / INDEX_FILE,
                       report_dir / SUMMARY_FILE, problems, older)
