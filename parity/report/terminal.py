"""The terminal summary of a run, rendered with rich from the frozen result model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from parity.model import JobResult

STYLE = {"pass": "green", "fail": "bold red", "error": "bold magenta", "warn": "yellow", "skipped": "dim"}


def _verdict(text: str) -> Text:
    return Text(text.upper(), style=STYLE.get(text, ""))


def render_summary(console: Console, results: Sequence[tuple[JobResult, Path | None]]) -> None:
    table = Table(title="parity", title_justify="left", show_lines=False)
    for col in ("job", "dataset", "verdict", "rows SAS", "rows Python", "matched", "failing checks"):
        table.add_column(col, justify="right" if col.startswith(("rows", "matched")) else "left")
    for job, _ in results:
        for ds in job.datasets:
            failing = [c for c in ds.checks if c.status in ("fail", "error")]
            rows = ds.rows
            table.add_row(
                job.job, ds.name, _verdict(ds.verdict),
                _fmt(rows.get("sas")), _fmt(rows.get("python")), _fmt(rows.get("matched")),
                ", ".join(c.name for c in failing) or "-",
            )
    console.print(table)
    for job, path in results:
        for ds in job.datasets:
            for c in ds.checks:
                if c.status in ("fail", "error", "warn"):
                    console.print(Text.assemble(
                        ("  " + c.status.upper().ljust(5), STYLE[c.status]), f" {job.job}/{ds.name} {c.name}: ",
                        (c.summary, ""),
                    ))
        if path is not None:
            console.print(Text.assemble("  report ", (str(path), "cyan"), " ", _verdict(job.verdict)))


def _fmt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
