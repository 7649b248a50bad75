"""The terminal summary of a run, rendered with rich from the frozen result model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from parity.model import JobResult

if TYPE_CHECKING:
    from parity.delta import Change

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
        if job.delta is not None:
            d = job.delta
            style = "bold red" if d["worse"] else "green"
            console.print(Text.assemble(
                "  delta vs ", (str(d["baseline"]), "cyan"), ": ",
                (f"{d['worse']} worse", style), f", {d['better']} better, {d['new']} new",
            ))
            for change in d["changes"]:
                if change["kind"] == "worse":
                    where = "/".join(p for p in (change["job"], change["dataset"], change["check"], change["column"])
                                     if p)
                    console.print(Text.assemble(("    WORSE ", "bold red"), f"{where}: {change['what']}"))
        if path is not None:
            console.print(Text.assemble("  report ", (str(path), "cyan"), " ", _verdict(job.verdict)))


def _fmt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


CHANGE_STYLE = {"worse": "bold red", "better": "green", "new": "cyan", "removed": "yellow"}


def render_delta(console: Console, changes: Sequence[Change], base: str, head: str) -> None:
    from parity.delta import counts

    n = counts(changes)
    table = Table(title=f"parity delta: {base} -> {head}", title_justify="left")
    for col in ("change", "job", "dataset", "check", "column", "what"):
        table.add_column(col)
    order = {"worse": 0, "removed": 1, "new": 2, "better": 3}
    for c in sorted(changes, key=lambda c: (order[c.kind], c.where)):
        table.add_row(Text(c.kind, style=CHANGE_STYLE[c.kind]), c.job, c.dataset or "", c.check or "",
                      c.column or "", c.what)
    console.print(table)
    style = "bold red" if n["worse"] else "green"
    console.print(Text(f"{n['worse']} worse, {n['better']} better, {n['new']} new, {n['removed']} removed",
                       style=style))
