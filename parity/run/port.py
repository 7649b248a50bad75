"""Running a port's job callable, isolated from parity and from other jobs."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parity.errors import InputError
from parity.run.sandbox import port_state, usable_stream
from parity.sources.base import Source, sha256_file
from parity.sources.frames import source_from_object


class PortFailed(Exception):
    """The user's Python code raised (any BaseException but KeyboardInterrupt): the original is ``__cause__``."""

    def __init__(self, target: str, exc: BaseException) -> None:
        self.original = exc
        own = str(Path(__file__).parents[1])  # the parity package: its frames are not the port's
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(own)]
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        text = str(exc)
        if isinstance(exc, SystemExit):
            text = f"sys.exit({exc.code!r}) ended the port before it returned its outputs"
        super().__init__(f"the Python job {target} raised {type(exc).__name__}: {text}{where}")


def _job_module_names(job_folder: Path) -> set[str]:
    """Top-level module and package names importable from the job folder (they win over same-named modules)."""
    names: set[str] = set()
    try:
        entries = list(job_folder.iterdir())
    except OSError:
        return names
    for entry in entries:
        if entry.suffix in (".py", ".so", ".pyd") and entry.is_file():
            names.add(entry.name.split(".")[0])
        elif entry.is_dir() and ((entry / "__init__.py").is_file() or any(entry.glob("*.py"))):
            names.add(entry.name)  # a package, or a namespace package of the port's own code
    return {n for n in names if n.isidentifier() and n not in sys.stdlib_module_names
            and n not in sys.builtin_module_names and n not in _PROTECTED}


#: modules parity itself uses while a port runs: a job's same-named file cannot replace them
_PROTECTED = frozenset({"parity", "polars", "pandas", "numpy", "pyarrow", "pyreadstat"})


def _from_folder(module: Any, folder: Path) -> bool:
    paths = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    return any(isinstance(value, str) and Path(value).resolve().is_relative_to(folder) for value in paths)


@contextlib.contextmanager
def isolated_port(job_folder: Path) -> Iterator[None]:
    """Run a job's port as if it were the only one in the process, and leave no trace of it.

    Inside: the job folder is first on ``sys.path`` and its modules win over same-named modules imported before
    (by parity, the test suite or another job's port).  After: the working directory, ``sys.path``,
    ``sys.argv``, ``os.environ``, ``sys.stdout``/``sys.stderr`` are restored, modules loaded from the job folder
    are dropped and the hidden ones come back, so the next job imports its own helpers.
    """
    folder = job_folder.resolve()
    cwd = os.getcwd()
    saved_path, saved_argv, saved_env = list(sys.path), list(sys.argv), dict(os.environ)
    saved_streams = (sys.stdout, sys.stderr)
    local = _job_module_names(folder)
    hidden = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] in local}
    for name in hidden:
        del sys.modules[name]
    before = set(sys.modules)
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        with port_state(folder.name):
            yield
    finally:
        for name in [n for n in sys.modules if n not in before or n.split(".")[0] in local]:
            module = sys.modules.get(name)
            if name.split(".")[0] in local or (module is not None and _from_folder(module, folder)):
                del sys.modules[name]
        sys.modules.update(hidden)
        sys.path[:] = saved_path
        sys.path_importer_cache.pop(str(folder), None)
        sys.argv[:] = saved_argv
        if dict(os.environ) != saved_env:
            os.environ.clear()
            os.environ.update(saved_env)
        sys.stdout, sys.stderr = usable_stream(saved_streams[0]), usable_stream(saved_streams[1])
        with contextlib.suppress(OSError):
            os.chdir(cwd)


def _load_shadowed(module_name: str, file: Path) -> Any:
    """Load the job's own ``file`` although ``module_name`` is taken (a stdlib module): under a private name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_parity_port_{module_name.replace('.', '_')}", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _load_callable(target: str, job_folder: Path, job_name: str) -> tuple[Callable[..., Any], Path | None]:
    """Import the port's module (call inside :func:`isolated_port`): the job folder's copy first."""
    module_name, _, func_name = target.partition(":")
    rel = Path(*module_name.split("."))
    candidates = [job_folder / rel.with_suffix(".py"), job_folder / rel / "__init__.py"]
    local_file = next((c for c in candidates if c.is_file()), None)
    try:
        if local_file is not None and module_name.split(".")[0] not in _job_module_names(job_folder):
            module = _load_shadowed(module_name, local_file)  # port.py named like a stdlib module (code.py, ...)
        else:
            module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except ModuleNotFoundError as exc:
        if local_file is None and exc.name is not None and module_name.startswith(exc.name):
            raise InputError(
                f"job {job_name!r}: cannot import {module_name!r} for python = {target!r}: there is no {rel}.py in "
                f"{job_folder} and no installed module of that name; put the port there or install it"
            ) from None
        raise InputError(
            f"job {job_name!r}: the port {local_file or module_name} imports {exc.name!r}, which is not installed "
            f"({exc}); install it in this environment or put {exc.name}.py in {job_folder}"
        ) from None
    except BaseException as exc:  # the port's own module failed while it was imported
        raise PortFailed(f"{target} (while importing {module_name})", exc) from exc
    file_attr = getattr(module, "__file__", None)
    module_file = Path(file_attr) if isinstance(file_attr, str) else None
    func = getattr(module, func_name, None)
    if func is None:
        raise InputError(f"job {job_name!r}: {module_file or module_name} has no function {func_name!r} "
                         f"(python = {target!r})")
    if not callable(func):
        raise InputError(f"job {job_name!r}: {module_name}.{func_name} is a {type(func).__name__}, not a function "
                         f"(python = {target!r})")
    return func, module_file


def resolve_params(params: Mapping[str, Any], job_folder: Path) -> dict[str, Any]:
    """String params naming an existing path relative to the job folder become absolute paths."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and value and not Path(value).is_absolute() and (job_folder / value).exists():
            value = str((job_folder / value).resolve())
        out[key] = value
    return out


@dataclass
class PortOutput:
    """What a port produced: a Source per dataset it returned (a Table, or a LazySource for a LazyFrame), and why
    each unusable dataset cannot be used."""

    tables: dict[str, Source | SparkFrame] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SparkFrame:
    """A Spark DataFrame a port returned (lazy: nothing of it has been computed)."""

    df: Any
    source: str
    where: str


def is_spark_frame(obj: Any) -> bool:
    module = type(obj).__module__
    return type(obj).__name__ == "DataFrame" and module.startswith("pyspark.sql")


def run_job_callable(
    target: str, params: Mapping[str, Any], job_folder: Path, job_name: str, dataset_names: list[str]
) -> PortOutput:
    """Run ``module:function`` once, isolated (:func:`isolated_port`); return one Table per dataset it produced.

    Raises InputError when the port cannot be called (not found, wrong params) or returns something that is not
    DataFrames, and PortFailed when the user's code raises anything (SystemExit and GeneratorExit included);
    a returned frame that cannot be converted is an error of that dataset only.
    """
    job_folder = job_folder.resolve()
    with isolated_port(job_folder):
        func, module_file = _load_callable(target, job_folder, job_name)
        kwargs = resolve_params(params, job_folder)
        try:
            inspect.signature(func).bind(**kwargs)
        except TypeError as exc:
            raise InputError(f"job {job_name!r}: {target} cannot be called with params {sorted(kwargs)} ({exc}); "
                             "make [job] params in parity.toml match the function's arguments") from None
        except ValueError:
            pass
        try:
            result = func(**kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise PortFailed(target, exc) from exc
        return _port_output(target, job_name, result, module_file, dataset_names)


def _port_output(target: str, job_name: str, result: Any, module_file: Path | None,
                 dataset_names: list[str]) -> PortOutput:
    sha = sha256_file(module_file) if module_file and module_file.is_file() else None
    where = f"job {job_name!r}: {target}"
    try:
        if isinstance(result, Mapping):
            frames = {str(k): v for k, v in result.items()}
        elif len(dataset_names) == 1 and result is not None:
            frames = {dataset_names[0]: result}
        else:
            got = "nothing (None)" if result is None else f"one {type(result).__name__}"
            n = len(dataset_names)
            raise InputError(f"{where} returned {got} but the job declares {n} dataset{'s' if n != 1 else ''} "
                             f"({', '.join(dataset_names)}); return a dict keyed by dataset name")
    except InputError:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a Mapping of the user's whose items() or keys fail
        raise PortFailed(f"{target} (reading the dict it returned)", exc) from exc
    out = PortOutput()
    folded = {k.casefold(): k for k in frames}
    for name in dataset_names:
        key = name if name in frames else folded.get(name.casefold())
        if key is None:
            got = ", ".join(repr(k) for k in sorted(frames)[:10]) or "an empty dict"
            out.errors[name] = (f"{where} returned no dataset {name!r} (it returned {got}); return a dict with a "
                                f"{name!r} key")
            continue
        try:
            if is_spark_frame(frames[key]):  # kept as it is: the Spark engine compares it in Spark
                out.tables[name] = SparkFrame(frames[key], f"{target} -> {key}", f"{where} -> dataset {name!r}")
                continue
            out.tables[name] = source_from_object(frames[key], f"{where} -> dataset {name!r}", f"{target} -> {key}",
                                                  sha)
        except InputError as exc:
            out.errors[name] = str(exc)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a LazyFrame whose plan fails, a frame that cannot be converted, ...
            gone = ("; the LazyFrame reads a file that was gone once the port returned (written in a temporary "
                    "folder, say): collect it before returning, or keep the file" if isinstance(exc, FileNotFoundError)
                    and type(frames[key]).__name__ == "LazyFrame" else "")
            out.errors[name] = (f"{where} -> dataset {name!r}: the returned frame cannot be used "
                                f"({type(exc).__name__}: {exc}){gone}")
    return out


