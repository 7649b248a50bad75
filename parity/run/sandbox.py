"""Process-wide state a port may change and parity must get back: what :func:`parity.run.port.isolated_port` restores
beyond modules, paths and the environment.

A port runs in parity's own process, so anything it leaves behind could change the verdict or the exit code of the
run: ``os._exit(0)`` or an ``atexit`` handler calling it would turn a failed run into exit 0, a closed ``sys.stdout``
would crash the summary, a warnings filter of ``"error"`` or a tiny recursion limit would break parity's own code,
an ignored SIGINT would make Ctrl-C useless, and a non-daemon thread left running would make the process hang at
exit after the reports are written.  :func:`port_state` puts all of these back (``os._exit`` raises while the
port runs; ``atexit`` handlers the port registers are dropped, never run), and records the threads it left running
in :data:`LEFTOVER_THREADS` so that the command line can exit without waiting for them.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TextIO

#: (job folder, thread) for every non-daemon thread a port started and left running
LEFTOVER_THREADS: list[tuple[str, threading.Thread]] = []


def usable_stream(stream: TextIO) -> TextIO:
    """``stream`` itself, or (when the port closed it) a new text stream on the same file descriptor."""
    if not getattr(stream, "closed", False):
        return stream
    try:
        fd = stream.fileno()
    except (ValueError, OSError):
        fd = {"<stdout>": 1, "<stderr>": 2}.get(getattr(stream, "name", ""), 2)
    try:
        raw = open(fd, "wb", buffering=0, closefd=False)  # noqa: SIM115 - lives as long as the process
    except OSError:
        return io.StringIO()
    return io.TextIOWrapper(raw, encoding=getattr(stream, "encoding", None) or "utf-8", errors="replace",
                            line_buffering=True, write_through=True)


class PortCalledOsExit(BaseException):
    """Raised instead of ending the process when a port calls ``os._exit`` while it runs."""

    def __init__(self, code: Any) -> None:
        super().__init__(f"os._exit({code!r}) would have ended parity's process without a report")


def _no_os_exit(code: Any) -> None:
    raise PortCalledOsExit(code)


def alive_leftovers() -> list[tuple[str, threading.Thread]]:
    return [(job, t) for job, t in LEFTOVER_THREADS if t.is_alive()]


def release_leftovers() -> list[tuple[str, threading.Thread]]:
    """Let the process exit without waiting for the threads ports left running (as if they were daemons); return
    them.  Uses CPython's shutdown lock set (3.11, 3.12); elsewhere they are only returned."""
    left = alive_leftovers()
    locks = getattr(threading, "_shutdown_locks", None)
    guard = getattr(threading, "_shutdown_locks_lock", None)
    if isinstance(locks, set) and guard is not None:
        with guard:
            for _, thread in left:
                locks.discard(getattr(thread, "_tstate_lock", None))
    return left


def leftovers_message(left: list[tuple[str, threading.Thread]]) -> str:
    jobs = ", ".join(sorted({job for job, _ in left}))
    return (f"the Python port of {jobs} left {len(left)} thread(s) running "
            f"({', '.join(t.name for _, t in left)}); parity exits without waiting for them")


@contextlib.contextmanager
def port_state(job: str) -> Iterator[None]:
    """Run a port, then restore the process-wide state it may have changed (see the module docstring)."""
    limit = sys.getrecursionlimit()
    hook = sys.excepthook
    threads = set(threading.enumerate())
    registered: list[Callable[..., Any]] = []
    register = atexit.register

    def record(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        registered.append(func)
        return register(func, *args, **kwargs)

    in_main = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if in_main else None
    atexit.register = record  # type: ignore[assignment]
    os_exit = os._exit
    os._exit = _no_os_exit  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            yield
    finally:
        atexit.register = register
        os._exit = os_exit
        for func in registered:
            atexit.unregister(func)
        sys.setrecursionlimit(limit)
        sys.excepthook = hook
        if in_main and sigint is not None:
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signal.SIGINT, sigint)
        LEFTOVER_THREADS.extend((job, t) for t in threading.enumerate()
                                if t not in threads and t.is_alive() and not t.daemon)
