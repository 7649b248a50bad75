"""The one place that knows which reader opens which input: a registry of openers by file suffix, URI scheme or
folder layout.  Every place that opens a table (``parity run``, the pytest plugin, :mod:`parity.api`, ``parity
inspect``, the spec's file checks) asks :func:`opener_for` / :func:`open_source`.

A new kind of input slots in with one :func:`register` call in :func:`_builtins` (or from its own module at import
time), e.g.::

    register(Opener("delta", _lazy("parity.sources.spark:open_delta"), schemes=("delta",),
                    folder=_lazy("parity.sources.spark:is_delta_table"), what="a Delta table"))

Openers are imported lazily (``"module:function"``), so reading parity.toml does not import polars' readers.  A
kind that may stand for the SAS side (``sas_side=True``) also adds its suffixes to
``parity.spec.model.SAS_EXTENSIONS``, which parity.toml's ``sas`` is checked against (the spec layer imports no
sources; a test checks that the two agree).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parity.errors import InputError
from parity.sources.base import ColumnInfo, Source

#: called as a long read goes on: (stage, done, total, unit); ``total`` is 0 when unknown, unit "rows" or "bytes"
ReadProgress = Callable[[str, int, int, str], None]


def _no_progress(stage: str, done: int, total: int, unit: str) -> None:
    return None


@dataclass(frozen=True)
class OpenOptions:
    """What the dataset's settings say about reading an input.  An opener refuses an option that cannot apply to
    its input (e.g. ``catalog`` for a parquet file) with an InputError naming it, rather than ignoring it."""

    encoding: str | None = None
    catalog: Path | None = None
    #: format overrides by column (SAS files: a numeric column's kind follows its format)
    formats: Mapping[str, str] = field(default_factory=dict)
    #: the SAS side's columns (a CSV output is read as text and converted to each SAS column's type) and the
    #: dataset's rename (Python name -> SAS name)
    like: tuple[ColumnInfo, ...] | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    #: use parity's cache of streamed SAS files (None: the environment decides, see parity.sources.cache)
    cache: bool | None = None
    progress: ReadProgress = _no_progress


Open = Callable[[str, OpenOptions], Source]
Contents = Callable[[Path, "str | None"], dict[str, Any]]


@dataclass(frozen=True)
class Opener:
    """How one kind of input is opened.

    ``suffixes`` match a file's (or a glob's) suffix, case-insensitively; ``schemes`` match a URI ``scheme:rest``
    (the rest is passed to ``open`` as the location); ``folder`` says whether a folder is a dataset of this kind.
    ``sas_side`` kinds may stand for the SAS side in parity.toml; ``contents`` gives ``parity inspect`` its
    PROC CONTENTS view (``None``: inspect refuses the input)."""

    name: str
    open: Open
    suffixes: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()
    folder: Callable[[Path], bool] | None = None
    sas_side: bool = False
    contents: Contents | None = None
    #: what the input is, for messages ("a parquet file, glob or folder")
    what: str = ""
    #: whether ``open`` reads a glob of such files as one dataset (the others read one file)
    globs: bool = False


_OPENERS: list[Opener] = []


def register(opener: Opener) -> None:
    """Add (or replace, by name) an opener.  Later registrations win on a shared suffix or scheme."""
    if not _OPENERS and opener.name != _FIRST:
        _builtins()
    _OPENERS[:] = [o for o in _OPENERS if o.name != opener.name]
    _OPENERS.append(opener)


def openers() -> tuple[Opener, ...]:
    if not _OPENERS:
        _builtins()
    return tuple(_OPENERS)


def suffixes(sas_side: bool = False) -> tuple[str, ...]:
    """Every registered file suffix (only those that may stand for the SAS side with ``sas_side``)."""
    return tuple(s for o in openers() if o.sas_side or not sas_side for s in o.suffixes)


def _scheme(location: str) -> tuple[Opener, str] | None:
    head, sep, rest = location.partition(":")
    if not sep or len(head) < 2 or not head.replace("-", "").replace("_", "").isalnum():
        return None  # C:\\... is a Windows drive, not a scheme
    for o in reversed(openers()):
        if head.lower() in o.schemes:
            return o, rest.removeprefix("//")  # parquet:///data/x -> /data/x
    return None


def is_glob(location: str | os.PathLike[str]) -> bool:
    """A pattern (``out/*.parquet``, ``out/**/part-*.parquet``), not a path that exists (a folder may be named
    ``d[red]``)."""
    text = os.fspath(location)
    return any(ch in text for ch in "*?[") and not Path(text).exists()


def glob_files(location: str | os.PathLike[str]) -> tuple[Path, list[Path]]:
    """The folder a pattern starts from (its longest existing leading folder, taken literally) and the files it
    matches there, sorted."""
    parts = Path(location).parts
    first = next((i for i, part in enumerate(parts) if any(ch in part for ch in "*?[")
                  and not Path(*parts[:i + 1]).exists()), len(parts) - 1)
    root = Path(*parts[:first]) if first else Path(".")
    # as in a folder, Spark's _temporary/_SUCCESS and dot files are no data: `out/**/*.parquet` does not read a
    # failed job's leftovers (unless the pattern names such a name itself: `out/_staging*/*.parquet`)
    named = {part[0] for part in parts[first:] if part[:1] in ("_", ".")}
    return root, sorted(p for p in root.glob(str(Path(*parts[first:]))) if p.is_file() and not any(
        part[:1] in ("_", ".") and part[:1] not in named and "=" not in part for part in p.relative_to(root).parts))


def opener_for(location: str | os.PathLike[str], *, sas_side: bool = False) -> tuple[Opener, str]:
    """The opener for ``location`` (a file, a glob, a folder or ``scheme:rest``) and the location it opens.
    Raises InputError naming the location and what parity reads."""
    text = os.fspath(location)
    opener: Opener | None
    by_scheme = _scheme(text)
    if by_scheme is not None:
        opener, rest = by_scheme
    else:
        path = Path(text)
        opener = _by_suffix(path.suffix.lower()) if path.suffix else None
        rest = text
        if opener is None and not is_glob(text) and path.is_dir():
            opener = next((o for o in reversed(openers()) if o.folder is not None and o.folder(path)), None)
            if opener is None:
                found = sorted({p.suffix.lower() for p in path.rglob("*") if p.is_file()} & set(suffixes()))
                globbed = [x for x in found if (o := _by_suffix(x)) is not None and o.globs]
                hint = (f"; its {globbed[0]} files are read with a glob ({text.rstrip('/')}/*{globbed[0]})"
                        if globbed else "")
                raise InputError(f"{text}: a folder that holds no dataset parity reads (e.g. *.parquet files, or a "
                                 f"hive-partitioned parquet dataset); name a file or a folder of parquet files{hint}")
    if opener is None:
        raise InputError(f"{text}: parity does not read {Path(text).suffix or 'this kind of'} files; "
                         f"{_expected(sas_side)}")
    if sas_side and not opener.sas_side:
        raise InputError(f"{text}: a {opener.name} input cannot stand for the SAS side here; "
                         f"{_expected(True)}")
    return opener, rest


def _by_suffix(suffix: str) -> Opener | None:
    return next((o for o in reversed(openers()) if suffix in o.suffixes), None)


def _expected(sas_side: bool) -> str:
    names = ", ".join(suffixes(sas_side))
    if sas_side:
        return f"the SAS side must be one of {names}"
    return f"expected one of {names}, a folder of parquet files or a glob"


def check_location(location: str | os.PathLike[str], *, sas_side: bool = False) -> str | None:
    """Why ``location`` cannot be opened (None when it can): an unknown kind, a missing file, a glob that matches
    nothing.  For the spec's checks, before any data is read."""
    try:
        opener, rest = opener_for(location, sas_side=sas_side)
    except InputError as exc:
        return str(exc)
    if opener.schemes and os.fspath(location) != rest:
        return None  # a URI: its opener checks it when it opens it
    if is_glob(rest):
        if not opener.globs:
            readers = ", ".join(f"*{x}" for o in openers() if o.globs for x in o.suffixes)
            return (f"{rest}: parity reads a glob of files only for {readers} files; name one {opener.name} file "
                    "(or have the port write parquet)")
        return None if glob_files(rest)[1] else f"{rest}: no file matches this pattern"
    path = Path(rest)
    if path.is_file() or (path.is_dir() and opener.folder is not None):
        return None
    return f"{rest}: file not found"


def open_source(location: str | os.PathLike[str], options: OpenOptions | None = None, *,
                sas_side: bool = False) -> Source:
    """Open ``location`` with its registered opener; errors name the location and say what to do."""
    opener, rest = opener_for(location, sas_side=sas_side)
    problem = check_location(location, sas_side=sas_side)
    if problem is not None:
        raise InputError(problem)
    return opener.open(rest, options or OpenOptions())


def _lazy(target: str) -> Any:
    """``module:function``, imported when first called."""
    module, _, name = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = name
    return call


_FIRST = "sas7bdat"


def _builtins() -> None:
    """The inputs parity reads.  One line per kind of input."""
    register(Opener("sas7bdat", _lazy("parity.sources.sas:open_sas"), suffixes=(".sas7bdat",), sas_side=True,
                    contents=_lazy("parity.cli.inspect:sas_contents"), what="a SAS data set"))
    register(Opener("xport", _lazy("parity.sources.sas:open_sas"), suffixes=(".xpt",), sas_side=True,
                    contents=_lazy("parity.cli.inspect:sas_contents"), what="a SAS transport file"))
    register(Opener("parquet", _lazy("parity.sources.frames:open_parquet"), suffixes=(".parquet",),
                    schemes=("parquet",), folder=_lazy("parity.sources.frames:is_parquet_folder"),
                    what="a parquet file, glob or folder", globs=True))
    register(Opener("csv", _lazy("parity.sources.csv:open_csv"), suffixes=(".csv",), what="a CSV file", globs=True))
    register(Opener("ipc", _lazy("parity.sources.frames:open_ipc"), suffixes=(".arrow", ".feather", ".ipc"),
                    schemes=("arrow", "ipc"), what="an Arrow IPC file", globs=True))
    register(Opener("datasetjson", _lazy("parity.sources.datasetjson:open_datasetjson"), suffixes=(".json", ".ndjson"),
                    sas_side=True, contents=_lazy("parity.sources.datasetjson:inspect_contents"),
                    what="a CDISC Dataset-JSON file"))
