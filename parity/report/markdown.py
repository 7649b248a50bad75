"""The Markdown summary of a run (``<report_dir>/summary.md``): short enough for a pull-request comment or a
GitHub step summary.  It also holds the helpers the run-level renderers share (finding the reports of a report
folder, picking a dataset's top explanation); everything reads the frozen result model only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parity.errors import ParityError
from parity.model import FAILING, GATING_CHANGES, ColumnResult, DatasetResult, JobResult, verdict_of

SUMMARY_FILE = "summary.md"
#: the longest summary: a GitHub comment holds 65,536 characters; CI may add a little around it
MAX_CHARS = 60_000
#: how many failing checks the summary lists before it says "and N more" (PR comments are size-limited)
MAX_LISTED = 15
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
#: what GitHub turns into a link by itself: a URL scheme's "://" and "www." (broken with a zero-width space)
_AUTOLINK = re.compile(r"(?i)[a-z][a-z0-9+.-]*:(?=//)|\bwww\.")
ZWSP = "\u200b"
MARK = {"pass": "✅", "fail": "❌", "error": "🛑", "warn": "⚠️", "waived": "📝", "skipped": "⏭️"}


@dataclass(frozen=True)
class ReportEntry:
    """One ``<job>/parity.json`` of a report folder: its result, or why it could not be read.

    ``current`` is False for a report left in the folder by an earlier run (listed apart, never counted in this
    run's verdict); ``has_html`` says whether ``parity.html`` is beside it (None: look at the folder)."""

    path: Path
    result: JobResult | None
    error: str | None = None
    current: bool = True
    has_html: bool | None = None

    @property
    def folder(self) -> Path:
        return self.path.parent


def report_files(report_dir: Path) -> list[Path]:
    """Every ``<job>/parity.json`` directly under ``report_dir``, sorted by folder; hidden folders (a run's
    staging and set-aside folders) are never reports."""
    from parity.report.json import REPORT_FILE

    return [p for p in sorted(report_dir.glob(f"*/{REPORT_FILE}")) if not p.parent.name.startswith(".")]


def find_reports(report_dir: Path, skip: Collection[str] = (), current: bool = True) -> list[ReportEntry]:
    """Every report in ``report_dir`` but those of the job folders in ``skip``, loaded; unreadable ones keep their
    error message (which names the file) instead of stopping the others.  ``current=False`` marks them as left by
    earlier runs."""
    from parity.report.json import load_report

    entries: list[ReportEntry] = []
    for path in report_files(report_dir):
        if path.parent.name in skip:
            continue
        try:
            entries.append(ReportEntry(path, load_report(path), current=current))
        except ParityError as exc:
            entries.append(ReportEntry(path, None, str(exc), current=current))
    return entries


def unwaived(col: ColumnResult) -> int:
    return max(col.mismatches - (col.waived or 0), 0)


def top_explanation(ds: DatasetResult) -> tuple[ColumnResult, dict[str, Any]] | None:
    """The first explanation of the column with the most mismatches not covered by a waiver (then any column)."""
    cols = [c for c in ds.columns if c.mismatches and c.explanations]
    if not cols:
        return None
    best = max(cols, key=lambda c: (unwaived(c), c.mismatches))  # max keeps the first on ties: column order
    return best, dict(best.explanations[0])


def status_counts(statuses: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


def _one_line(value: object) -> str:
    """The value on one line: whitespace runs (newlines too) become one space, other control characters go."""
    text = " ".join(str(value).split())
    return _CONTROL.sub("", text)


def md_text(value: object) -> str:
    """Plain text safe inside Markdown (and a table cell): the one escaping of every Markdown parity writes.

    HTML is escaped (no raw ``<img>``, ``<details>``, ``<script>``), Markdown syntax characters are backslashed,
    and GitHub's live text is neutralised with a zero-width space: ``@mentions`` (and e-mail autolinks), bare
    ``http://`` / ``www.`` autolinks.
    """
    text = html.escape(_one_line(value), quote=False)
    for ch in "\\`*[]|#~$!":
        text = text.replace(ch, "\\" + ch)
    # an underscore inside a word (rounding_half_even) is never emphasis on GitHub: keep it readable
    text = _EDGE_UNDERSCORE.sub(r"\\_", text)
    text = text.replace("@", "@" + ZWSP)
    return _AUTOLINK.sub(lambda m: m.group(0)[:-1] + ZWSP + m.group(0)[-1], text)


def md_code(value: object) -> str:
    """A code span, or escaped text when the value holds a backtick or a pipe (which would break the span) or
    markup characters (literal in a code span, but escaped text is safer wherever the Markdown ends up)."""
    text = _one_line(value)
    if not text or any(ch in text for ch in "`|<>&\\@") or _AUTOLINK.search(text) or text != text.strip():
        return md_text(text)
    return f"`{text}`"


def verdict_label(verdict: str, statuses: Sequence[str]) -> str:
    """A verdict as every report shows it: a pass that needed a waiver is ``pass (waived)``, never a plain pass."""
    return f"{verdict} (waived)" if verdict == "pass" and "waived" in statuses else verdict


def capture_warnings(run: Any) -> list[str]:
    """The stale-capture warnings a report's ``run`` section holds (none without a capture: parity.run.capture)."""
    capture = run.get("capture") if isinstance(run, Mapping) else None
    warnings = capture.get("warnings") if isinstance(capture, Mapping) else None
    return [str(w) for w in warnings] if isinstance(warnings, list) else []


def job_verdict_label(result: JobResult) -> str:
    return verdict_label(result.verdict, [c.status for ds in result.datasets for c in ds.checks])


def overall_label(labels: Sequence[str]) -> str:
    """The verdict of a run from its jobs' verdict labels (an error for each job that could not run): ``none``
    without any, ``pass (waived)`` for a pass that needed waivers."""
    if not labels:
        return "none"
    return verdict_label(verdict_of(labels), ["waived"] if "pass (waived)" in labels else [])


def _mark(status: str) -> str:
    mark = MARK.get(status.split(" ")[0] if status else status)
    return f"{mark} {md_text(status)}" if mark else md_text(status)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render_summary(entries: Sequence[ReportEntry], title: str = "parity", run_error: str | None = None,
                   max_chars: int = MAX_CHARS) -> str:
    """The Markdown summary of the reports in ``entries``; those not ``current`` (left by earlier runs) are only
    listed at the end, never counted in the verdict.  ``run_error``: why the run stopped before any job ran.
    At most ``max_chars`` characters: when every dataset does not fit, the passing ones are left out of the table,
    then the end is cut; both say so and point to the report folder's ``index.html``."""
    from parity.report.html import INDEX_FILE

    text = _summary(entries, title, run_error, passing_rows=True)
    if len(text) > max_chars:
        text = _summary(entries, title, run_error, passing_rows=False)
    if len(text) <= max_chars:
        return text
    notice = (f"\n_Summary cut at {max_chars:,} characters (the limit of a GitHub comment): every job is listed in "
              f"`{INDEX_FILE}` and its `parity.html` in the report folder._\n")
    kept: list[str] = []
    size = len(notice)
    for line in text.split("\n"):
        if size + len(line) + 1 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept) + "\n" + notice


def _summary(entries: Sequence[ReportEntry], title: str, run_error: str | None, passing_rows: bool) -> str:
    from parity.report.html import INDEX_FILE

    older = [e for e in entries if not e.current]
    entries = [e for e in entries if e.current]
    results = [e.result for e in entries if e.result is not None]
    broken = [e for e in entries if e.result is None]
    labels = [job_verdict_label(r) for r in results] + ["error"] * (len(broken) + (run_error is not None))
    overall = overall_label(labels)
    n = status_counts(labels)
    job_tally = ", ".join(f"{n[v]} {v}" for v in ("pass", "pass (waived)", "warn", "fail", "error") if n.get(v)) \
        or "no reports"
    lines = [f"## {md_text(title)}: {_mark(overall) if overall != 'none' else 'no reports'}", "",
             f"{len(entries)} job(s): {job_tally}." if entries or run_error is None else "No job ran.", ""]
    if run_error is not None:
        lines += [f"{_mark('error')}: the run stopped before any job ran: {md_text(run_error)}", ""]
    if results:
        lines += ["| job | dataset | verdict | rows SAS / Python / matched | checks |", "| --- | --- | --- | --- | --- |"]
        left_out = 0
        for r in results:
            if not r.datasets:
                lines.append(f"| {md_code(r.job)} | - | {_mark(job_verdict_label(r))} | - | {md_text(r.error or '')} |")
            for ds in r.datasets:
                if not passing_rows and ds.verdict == "pass":
                    left_out += 1
                    continue
                counts = status_counts([c.status for c in ds.checks])
                notes = ", ".join(f"{counts[s]} {md_text(s)}" for s in sorted(counts, key=_order) if s != "pass")
                rows = " / ".join(_count(ds.rows.get(k)) for k in ("sas", "python", "matched"))
                label = verdict_label(ds.verdict, [c.status for c in ds.checks])
                lines.append(f"| {md_code(r.job)} | {md_code(ds.name)} | {_mark(label)} | {rows} | "
                             f"{notes or 'all pass'} |")
        lines.append("")
        if left_out:
            lines += [f"{left_out:,} passing dataset(s) not listed, to stay within a GitHub comment: see "
                      f"`{INDEX_FILE}` in the report folder.", ""]
    job_errors = [r for r in results if r.error and not r.datasets]
    failing = _check_lines(results, FAILING)
    if failing or broken or job_errors:
        lines += ["### Failing checks", "", *failing]
        for r in job_errors:
            lines.append(f"- {_mark('error')} {md_code(r.job)}: {md_text(r.error)}")
        for e in broken:
            lines.append(f"- {_mark('error')} {md_code(e.path)}: {md_text(e.error)}")
        lines.append("")
    warning = _check_lines(results, ("warn",))
    if warning:
        lines += ["### Warnings", "", *warning, ""]
    explained = [(r, ds, top) for r in results for ds in r.datasets if ds.verdict != "pass"
                 and (top := top_explanation(ds)) is not None]
    if explained:
        lines += ["### Top explanation", ""]
        for r, ds, (col, exp) in explained[:MAX_LISTED]:
            share = exp.get("share")
            pct = f", {share:.0%} of the analysed differences" if isinstance(share, int | float) else ""
            lines.append(f"- {md_code(f'{r.job}/{ds.name}')} column {md_code(col.name)}: "
                         f"{md_code(exp.get('code', '?'))} explains {_count(exp.get('rows'))} of "
                         f"{col.mismatches:,} unequal values{pct}. {md_text(exp.get('message', ''))}")
            if exp.get("hint"):
                lines.append(f"  - *Hint:* {md_text(exp['hint'])}")
        lines.append("")
    stale = [(r.job, w) for r in results for w in capture_warnings(r.run)]
    if stale:
        lines += ["### Stale SAS capture", ""]
        lines += [f"- {md_code(job)}: {md_text(w)}" for job, w in stale[:MAX_LISTED]]
        lines.append("")
    deltas = [r for r in results if r.delta]
    if deltas:
        from parity.report.delta import delta_changes, tally

        lines += ["### Against the baseline", ""]
        for r in deltas:
            d = r.delta or {}
            lines.append(f"- {md_code(r.job)}: {md_text(tally(d))} (baseline {md_code(d.get('baseline', '?'))})")
            gating = [ch for ch in delta_changes(d) if ch.kind in GATING_CHANGES]
            for ch in gating[:MAX_LISTED]:
                lines.append(f"  - {md_text(ch.kind)}: {md_code(ch.where)}: {md_text(ch.what)}")
            if len(gating) > MAX_LISTED:
                lines.append(f"  - ... and {len(gating) - MAX_LISTED} more (see the HTML report)")
        lines.append("")
    if older:
        lines += ["### Not part of this run", "",
                  f"{len(older)} older report(s) in this folder, left by earlier runs and not counted above:", ""]
        for e in older[:MAX_LISTED]:
            what = (f"{_mark(e.result.verdict)}, run started {md_text(e.result.run.get('started_at', '?'))}"
                    if e.result else f"unreadable: {md_text(e.error)}")
            lines.append(f"- {md_code(e.folder.name)}: {what}")
        if len(older) > MAX_LISTED:
            lines.append(f"- ... and {len(older) - MAX_LISTED} more (see index.html)")
        lines.append("")
    pages = [e for e in entries if e.result and e.has_html is not False]
    listed = [e for e in pages if passing_rows or (e.result and e.result.verdict != "pass")]
    if listed:
        more = len(pages) - len(listed[:MAX_LISTED])
        lines.append("Reports: " + ", ".join(md_code(e.folder.name + "/parity.html") for e in listed[:MAX_LISTED])
                     + (f" and {more:,} more (all in `{INDEX_FILE}`)" if more else ""))
        lines.append("")
    return "\n".join(lines)


def _check_lines(results: Sequence[JobResult], statuses: Sequence[str]) -> list[str]:
    """One line per check in one of ``statuses`` (at most MAX_LISTED, then how many more)."""
    found = [(r, ds, c) for r in results for ds in r.datasets for c in ds.checks if c.status in statuses]
    lines = [f"- {_mark(c.status)} {md_code(f'{r.job}/{ds.name}')} **{md_text(c.name)}**: {md_text(c.summary)}"
             for r, ds, c in found[:MAX_LISTED]]
    if len(found) > MAX_LISTED:
        lines.append(f"- ... and {len(found) - MAX_LISTED} more (see the HTML reports)")
    return lines


def _order(status: str) -> tuple[int, str]:
    rank = {"error": 0, "fail": 1, "warn": 2, "waived": 3, "skipped": 4, "pass": 5}
    return rank.get(status, 6), status
