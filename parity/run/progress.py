"""Progress of a run on stderr: the stage (running the port, reading a side, comparing) and, for a long read, a bar
of rows read (or bytes) per side.

Shown only when stderr is a terminal (a rich console decides: ``is_terminal``), so CI logs, redirected output and
pytest (which captures stderr, and shows its own progress) stay clean; never part of a report.  The bar is
transient: it is gone when the run prints its summary.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from parity.sources.registry import ReadProgress


def _quiet_read(stage: str, done: int, total: int, unit: str) -> None:
    return None


class _Amount(TextColumn):
    """``1,234,567 / 5,000,000 rows`` (or ``... bytes``); just the count when the total is unknown."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Any) -> Text:
        unit = task.fields.get("unit")
        if not unit:
            return Text("")
        done = f"{int(task.completed):,}"
        return Text(f"{done} / {int(task.total):,} {unit}" if task.total else f"{done} {unit}", style="cyan")


class RunProgress:
    """The run's progress display.  Call it with a stage message (the runner's ``progress``); :meth:`read` is the
    sources' :data:`parity.sources.registry.ReadProgress`.  A no-op when the console is not a terminal."""

    def __init__(self, console: Console | None = None, *, enabled: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self._progress: Progress | None = None
        self._stage: TaskID | None = None
        self._reads: dict[str, TaskID] = {}

    def __enter__(self) -> RunProgress:
        if self.enabled:
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                                      BarColumn(), _Amount(), TimeElapsedColumn(), console=self.console,
                                      transient=True, refresh_per_second=8)
            self._progress.start()
            self._stage = self._progress.add_task("starting", total=None)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, message: str) -> None:
        """A new stage: the read bars of the previous one are done."""
        if self._progress is None or self._stage is None:
            return
        for task in self._reads.values():
            self._progress.remove_task(task)
        self._reads.clear()
        self._progress.update(self._stage, description=message)
        self._progress.refresh()

    def read(self, stage: str, done: int, total: int, unit: str) -> None:
        if self._progress is None:
            return
        task = self._reads.get(stage)
        first = task is None
        if task is None:
            task = self._reads[stage] = self._progress.add_task(stage, total=total or None, unit=unit)
        self._progress.update(task, completed=done, total=total or None)
        if first or (total and done >= total):  # the start and the end of a read are always drawn
            self._progress.refresh()


def read_progress(progress: Any) -> ReadProgress:
    """The read bar of a runner's ``progress`` (a :class:`RunProgress`), or nothing for a plain callable."""
    return progress.read if isinstance(progress, RunProgress) else _quiet_read
