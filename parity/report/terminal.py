"""The terminal summary of a run, rendered with rich from the frozen result model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from parity.model import FAILING, GATING_CHANGES, JobResult
from parity.report.markdown import job_verdict_label, verdict_label

if TYPE_CHECKING:
    from parity.report.delta import Change

STYLE = {"pass": "green", "fail": "bold red", "error": "bold magenta", "warn": "yellow", "skipped": "dim"}


def _verdict(text: str) -> Text:
    return Text(text.upper(), style=STYLE.get(text.split()[0] if text else text, ""))


def render_summary(console: Console, results: Sequence[tuple[JobResult, Path | None]]) -> None:
    table = Table(title="parity", title_justify="left", show_lines=False)
    for col in ("job", "dataset", "verdict", "rows SAS", "rows Python", "matched", "failing / warning checks"):
        table.add_column(col, justify="right" if col.startswith(("rows", "matched")) else "left")
    for job, _ in results:
        for ds in job.datasets:
            failing = [c.name for c in ds.checks if c.status in FAILING]
            failing += [f"{c.name} (warn)" for c in ds.checks if c.status == "warn"]
            rows = ds.rows
            table.add_row(  # user text (job and dataset names) as Text: printed literally, never as markup
                Text(job.job), Text(ds.name), _verdict(verdict_label(ds.verdict, [c.status for c in ds.checks])),
                _fmt(rows.get("sas")), _fmt(rows.get("python")), _fmt(rows.get("matched")),
                Text(", ".join(failing) or "-"),
            )
    console.print(table)
    for job, path in results:
        from parity.report.markdown import capture_warnings

        for warning in capture_warnings(job.run):
            console.print(Text.assemble(("  WARN ", STYLE["warn"]), f" {job.job}: {warning}"))
        for ds in job.datasets:
            for c in ds.checks:
                if c.status in (*FAILING, "warn"):
                    console.print(Text.assemble(
                        ("  " + c.status.upper().ljust(5), STYLE[c.status]), f" {job.job}/{ds.name} {c.name}: ",
                        (c.summary, ""),
                    ))
        if job.delta is not None:
            from parity.report.delta import delta_changes, delta_fails, tally

            d = job.delta
            style = "bold red" if delta_fails(d) else "green"
            console.print(Text.assemble("  delta vs ", (str(d["baseline"]), "cyan"), ": ", (tally(d), style)))
            for change in delta_changes(d):
                if change.kind in GATING_CHANGES:
                    console.print(Text.assemble((f"    {change.kind.upper()} ", CHANGE_STYLE[change.kind]),
                                                f"{change.where}: {change.what}"))
        if path is not None:
            console.print(Text.assemble("  report ", (str(path), "cyan"), " ", _verdict(job_verdict_label(job))))


def _fmt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


CHANGE_STYLE = {"worse": "bold red", "better": "green", "new": "cyan", "removed": "yellow", "relaxed": "bold yellow"}


def render_delta(console: Console, changes: Sequence[Change], base: str, head: str,
                 accept_relaxed: bool = False) -> None:
    from parity.report.delta import counts, gate_fails, sort_changes, tally

    n = counts(changes)
    table = Table(title=Text(f"parity delta: {base} -> {head}"), title_justify="left")
    for col in ("change", "job", "dataset", "check", "column", "what"):
        table.add_column(col)
    for c in sort_changes(changes):
        table.add_row(Text(c.kind, style=CHANGE_STYLE.get(c.kind, "")), Text(c.job), Text(c.dataset or ""),
                      Text(c.check or ""), Text(c.column or ""), Text(c.what))
    console.print(table)
    style = "bold red" if gate_fails(changes, accept_relaxed) else "green"
    console.print(Text(tally({**n, "accept_relaxed": accept_relaxed}), style=style))
