"""``parity init``: scaffold a job folder from its SAS outputs (parity.toml with guessed keys and suggested
tolerances, a port.py stub, a README).

Keys come from, in this order: a Dataset-JSON file's ``keySequence``; else the smallest combination of columns
(tried up to :data:`EXHAUSTIVE_SIZE` columns exhaustively, then greedily up to :data:`MAX_KEY_COLUMNS`) that is
unique and never missing in the SAS rows, preferring one by which the rows are already sorted (the SAS file's
order: ReadStat does not decode the sort indicator a sas7bdat header may hold, so the row order is what parity
sees), then the earliest columns.  Tolerances come from display formats: a format that shows ``d`` decimals
(``COMMA12.2``, ``DOLLAR12.2``, ``8.2``, ``NLNUM``...) suggests ``absolute`` half of the last decimal shown
(0.005), ``PERCENTw.d`` half of the last percent decimal (``PERCENT8.1``: 0.0005).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from parity.errors import InputError, UsageError
from parity.model import TEMPORAL_KINDS
from parity.sources.base import Table
from parity.sources.registry import check_location, glob_files, is_glob, opener_for, suffixes
from parity.spec import SPEC_FILE

SAS_FILE_EXTENSIONS = (".sas7bdat", ".xpt")
#: what the sources registry reads: any SAS side (SAS files, CDISC Dataset-JSON, ...) and any Python output
SAS_OUTPUTS = suffixes(sas_side=True)
PYTHON_FILE_EXTENSIONS = suffixes()
EXHAUSTIVE_SIZE = 3
MAX_KEY_COLUMNS = 8
MAX_EXHAUSTIVE_COLUMNS = 40  # beyond this many candidate columns, combinations are searched greedily
SAMPLE_ROWS = 20_000  # combinations are screened on a sample; a winner is confirmed on every row
PORT_FILE = "port.py"
README_FILE = "README.md"
#: formats that show a number with a fixed count of decimals (w.d)
DECIMAL_FORMATS = frozenset({"", "F", "COMMA", "COMMAX", "DOLLAR", "DOLLARX", "EURO", "EUROX", "NLNUM", "NLNUMI",
                             "NLMNY", "NLMNYI", "NUMX", "Z", "NEGPAREN", "YEN"})
PERCENT_FORMATS = frozenset({"PERCENT", "PERCENTN", "NLPCT", "NLPCTN", "NLPCTI"})
_FORMAT = re.compile(r"^(?P<name>[A-Z_]*?)(?P<width>\d+)?(?:\.(?P<decimals>\d+)?)?$")


@dataclass(frozen=True)
class KeyGuess:
    columns: tuple[str, ...]
    why: str
    sorted_rows: bool = False


@dataclass(frozen=True)
class DatasetPlan:
    name: str
    sas: str  # relative to the job folder
    table: Table
    keys: KeyGuess
    tolerances: tuple[tuple[str, float, str], ...]  # column, criterion, why
    temporal: tuple[tuple[str, str, str | None], ...]  # column, kind, format
    python: str | None = None


@dataclass
class InitResult:
    folder: Path
    written: list[Path] = field(default_factory=list)
    datasets: list[DatasetPlan] = field(default_factory=list)


def suggest_tolerance(fmt: str | None) -> tuple[float, str] | None:
    """An absolute criterion from a numeric display format: half of the last decimal it shows; None when the
    format shows no fixed decimals (BEST., no format) or whole numbers (``COMMA12.``: compared exactly)."""
    if not fmt:
        return None
    text = fmt.strip().upper().rstrip(".")
    match = _FORMAT.match(text) or _FORMAT.match(text + ".")
    if not match:
        return None
    name, decimals = match.group("name"), int(match.group("decimals") or 0)
    if name in PERCENT_FORMATS:
        criterion = float(f"5e-{decimals + 3}")
        return criterion, f"format {fmt} shows {decimals} decimal(s) of a percent: half the last one"
    if name in DECIMAL_FORMATS and decimals > 0 and (match.group("width") or name):
        criterion = float(f"5e-{decimals + 1}")
        return criterion, f"format {fmt} shows {decimals} decimal(s): half the last one"
    return None


def _measure_format(fmt: str | None) -> bool:
    """A format that shows an amount or a rate: decimals, currency, thousands separators or a percent."""
    if not fmt:
        return False
    match = _FORMAT.match(fmt.strip().upper().rstrip(".")) or _FORMAT.match(fmt.strip().upper())
    if not match:
        return False
    name = match.group("name")
    return (name in PERCENT_FORMATS or (name in DECIMAL_FORMATS and name not in ("", "F", "Z"))
            or int(match.group("decimals") or 0) > 0)


def _candidates(table: Table) -> list[str]:
    """Columns that can be part of a key: never missing (blank is missing in SAS), and for numbers whole and not
    formatted as an amount (an amount that happens to be unique is not a key); datetimes and times may hold
    fractions."""
    frame = table.frame
    out = []
    for col in table.columns:
        series = frame.get_column(col.name)
        if series.null_count() or col.name in table.tags:
            continue
        if col.type == "character":
            if series.dtype != pl.String or bool((series.str.strip_chars_end() == "").any()):
                continue
        elif _measure_format(col.format):  # an amount or a rate (COMMA, DOLLAR, PERCENT, w.d): not a key
            continue
        elif series.dtype.is_float():
            if bool(series.is_nan().any()) or bool(series.is_infinite().any()):
                continue
            if col.kind not in ("datetime", "time") and not bool((series == series.floor()).all()):
                continue
        out.append(col.name)
    return out


def _sorted_by(frame: pl.DataFrame, columns: Sequence[str]) -> bool:
    part = frame.select(columns)
    return part.equals(part.sort(list(columns)))


def _sorted_order(frame: pl.DataFrame, columns: Sequence[str]) -> tuple[str, ...] | None:
    """The order of ``columns`` by which the rows are sorted ascending, if any (for up to 4 columns)."""
    if len(columns) > 4:
        return tuple(columns) if _sorted_by(frame, columns) else None
    return next((tuple(p) for p in itertools.permutations(columns) if _sorted_by(frame, p)), None)


def guess_keys(table: Table, declared: Sequence[str] = ()) -> KeyGuess:
    """The key columns of a SAS table (see the module docstring)."""
    strings = [c.name for c in table.columns if c.type == "character" and table.frame[c.name].dtype == pl.String]
    frame = table.frame.with_columns(pl.col(strings).str.strip_chars_end())  # SAS: trailing blanks do not count
    rows = frame.height
    if declared:
        dupes = rows - frame.select(list(declared)).n_unique() if rows else 0
        return KeyGuess(tuple(declared), "the Dataset-JSON keySequence" + (
            f" (not unique in the SAS rows: {dupes:,} row(s) repeat a key; the key_uniqueness check will show them)"
            if dupes else ""))
    if rows < 2:
        return KeyGuess((), f"not guessed: the SAS file has {rows} row(s); rows are matched by position")
    names = _candidates(table)
    sample = frame if rows <= SAMPLE_ROWS else frame.sample(SAMPLE_ROWS, seed=0)

    def unique(cols: Sequence[str], data: pl.DataFrame) -> bool:
        return bool(data.select(cols).n_unique() == data.height)

    found: list[tuple[str, ...]] = []
    if len(names) <= MAX_EXHAUSTIVE_COLUMNS:
        for size in range(1, EXHAUSTIVE_SIZE + 1):
            found = [c for c in itertools.combinations(names, size) if unique(c, sample) and unique(c, frame)]
            if found:
                break
    if not found:  # greedy: add the column that tells most rows apart, then drop the ones not needed
        chosen: list[str] = []
        while len(chosen) < MAX_KEY_COLUMNS and not (chosen and unique(chosen, frame)):
            rest = [c for c in names if c not in chosen]
            if not rest:
                break
            best = max(rest, key=lambda c: (sample.select([*chosen, c]).n_unique(), -names.index(c)))
            chosen.append(best)
        if chosen and unique(chosen, frame):
            for col in list(chosen):
                trial = [c for c in chosen if c != col]
                if trial and unique(trial, frame):
                    chosen = trial
            found = [tuple(c for c in names if c in chosen)]
    if not found:
        return KeyGuess((), f"not guessed: no combination of up to {MAX_KEY_COLUMNS} columns is unique and never "
                        f"missing in the {rows:,} SAS rows; rows are matched by position (set keys if they exist)")
    for combo in found:
        order = _sorted_order(frame, combo)
        if order is not None:
            return KeyGuess(order, f"unique and never missing in the {rows:,} SAS rows, which are sorted by it",
                            sorted_rows=True)
    return KeyGuess(found[0], f"unique and never missing in the {rows:,} SAS rows" + (
        f" (so are {len(found) - 1} other combination(s) of {len(found[0])})" if len(found) > 1 else ""))


# --------------------------------------------------------------------------------------------------------------
# reading the SAS side


def read_side(path: Path) -> tuple[Table, tuple[str, ...]]:
    """A SAS output as a Table, with the keys it declares (Dataset-JSON keySequence)."""
    from parity.sources.sas import read_sas

    try:
        opener, _ = opener_for(path, sas_side=True)
    except InputError:
        raise UsageError(f"--sas {path}: not a SAS output parity reads (give {', '.join(SAS_OUTPUTS)} files)"
                         ) from None
    if opener.name == "datasetjson":  # Dataset-JSON declares its keys (keySequence)
        from parity.sources.datasetjson import datasetjson_keys

        return read_sas(path), tuple(datasetjson_keys(path))
    return read_sas(path), ()


# --------------------------------------------------------------------------------------------------------------
# writing the job


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _toml_key(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else _toml_str(text)


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_str(i) for i in items) + "]"


def dataset_name(path: Path) -> str:
    name = re.sub(r"[^0-9a-z_]+", "_", path.stem.casefold()).strip("_")
    return name or "data"


def _polars_dtype(col: Any) -> str:
    if col.type == "character":
        return "pl.String"
    return {"date": "pl.Date", "datetime": "pl.Datetime", "time": "pl.Time"}.get(col.kind, "pl.Float64")


def _reader(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return {
        ".csv": "pl.read_csv({})", ".parquet": "pl.read_parquet({})", ".arrow": "pl.read_ipc({})",
        ".feather": "pl.read_ipc({})", ".ipc": "pl.read_ipc({})", ".json": "pl.read_json({})",
        ".ndjson": "pl.read_ndjson({})",
        ".sas7bdat": "pyreadstat.read_sas7bdat({}, output_format=\"polars\")[0]",
        ".xpt": "pyreadstat.read_xport({}, output_format=\"polars\")[0]",
    }.get(suffix, "{}  # a path: read it as the port needs")


def render_spec(job: str, plans: Sequence[DatasetPlan], python: str | None, params: Sequence[tuple[str, str]]
                ) -> str:
    lines = [f"# parity.toml of job {job}, scaffolded by parity init from its SAS outputs.",
             "# Review every guess below: the keys, tolerances and ignored columns are the contract an approver",
             "# signs (docs/spec.md describes every key).", "", "[job]",
             f"description = {_toml_str(job + ': scaffolded by parity init; describe the SAS job here')}"]
    if python:
        lines.append(f"python = {_toml_str(python)}")
    if params:
        lines.append("params = { " + ", ".join(f"{_toml_key(k)} = {_toml_str(v)}" for k, v in params) + " }")
    lines.append("# sas_program = \"sas/job.sas\"   # the SAS program: parity capture runs it (docs/capture.md)")
    for plan in plans:
        lines += ["", f"[datasets.{_toml_key(plan.name)}]", f"sas = {_toml_str(plan.sas)}"]
        if plan.python:
            lines.append(f"python = {_toml_str(plan.python)}")
        lines.append(f"# keys: {plan.keys.why}")
        lines.append(f"keys = {_list(plan.keys.columns)}")
        if plan.keys.sorted_rows:
            lines.append(f"# sort_by = {_list(plan.keys.columns)}   # the SAS rows are in this order: uncomment "
                         "if the port must keep it")
        for kind in TEMPORAL_KINDS:
            cols = [f"{c} ({f})" if f else c for c, k, f in plan.temporal if k == kind]
            if cols:
                unit = "days" if kind == "date" else "seconds"
                lines.append(f"# {kind} columns, compared as {kind}s (a difference in {unit}): {', '.join(cols)}")
        if plan.tolerances:
            lines += ["", f"[datasets.{_toml_key(plan.name)}.tolerance]"]
            lines += [f"{_toml_key(col)} = {{ method = \"absolute\", criterion = {crit!r} }}   # {why}"
                      for col, crit, why in plan.tolerances]
    return "\n".join(lines) + "\n"


def render_port(job: str, plans: Sequence[DatasetPlan], params: Sequence[tuple[str, str]]) -> str:
    uses_sas = any(Path(p).suffix.lower() in SAS_FILE_EXTENSIONS for _, p in params)
    args = ", ".join(f"{name}: str" for name, _ in params)
    lines = [f'"""The Python port of job {job} (scaffolded by parity init).',
             "",
             "parity calls run() with [job] params from parity.toml (paths resolved against the job folder) and",
             "compares each returned frame with the SAS dataset of the same name.  Until the port is written it",
             "returns empty frames with the SAS columns, so `parity run` gives a real verdict: FAIL (no rows).",
             '"""', "", "from __future__ import annotations", "", "import polars as pl"]
    if uses_sas:
        lines.insert(lines.index("import polars as pl"), "import pyreadstat")
    lines += ["", "", f"def run({args}) -> dict[str, pl.DataFrame]:"]
    if params:
        lines.append("    # the inputs")
        lines += [f"    {name}_df = {_reader(path).format(name)}" for name, path in params]
    lines.append("    # TODO: port the SAS program: compute each output from the inputs")
    lines.append("    return {")
    for plan in plans:
        if plan.python:
            continue
        lines.append(f"        {_toml_str(plan.name)}: pl.DataFrame(schema={{")
        lines += [f"            {_toml_str(c.name)}: {_polars_dtype(c)}," for c in plan.table.columns]
        lines.append("        }),")
    lines.append("    }")
    return "\n".join(lines) + "\n"


def render_readme(job: str, plans: Sequence[DatasetPlan], python: str | None, stub: bool) -> str:
    rows = "\n".join(f"| `{p.name}` | `{p.sas}` | {p.table.meta.rows:,} | {', '.join(p.keys.columns) or '(none)'} | "
                     f"{(p.python and '`' + p.python + '`') or python or '-'} |" for p in plans)
    return f"""# Job `{job}`

Scaffolded by `parity init`: the SAS outputs, the spec that compares them with the Python port, and
{'a stub of the port (`port.py`)' if stub else 'the port named in parity.toml'}.

| dataset | SAS output | rows | keys (guessed) | Python side |
| --- | --- | --- | --- | --- |
{rows}

## Next steps

1. Review `parity.toml`: the keys were guessed from the data (a unique, never-missing column combination, or the
   Dataset-JSON keySequence) and each tolerance from its column's display format; keep only what the SAS job
   guarantees. Dates, datetimes and times are noted in comments.
2. {'Write the port in `port.py`: until then it returns empty frames and the job fails (no rows).' if stub else
    'Make sure the port named in parity.toml returns one frame per dataset.'}
3. Run it: `parity run {job}` (exit 0 pass or warn, 1 parity failed, 2 error); the reports are in
   `reports/{job}/parity.html` and `parity.json`.
4. Optionally set `[job] sas_program` and run `parity capture {job}` to re-create the SAS outputs with saspy and
   record their provenance (docs/capture.md).
"""


def _copy_into(source: Path, folder: Path, sub: str, copy: bool) -> str:
    """The path parity.toml names for ``source``: copied into ``folder/sub`` (unless already inside ``folder``),
    or referenced where it is (``copy=False``)."""
    source = source.resolve()
    if source.is_relative_to(folder):
        return source.relative_to(folder).as_posix()
    if not copy:
        return Path(os.path.relpath(source, folder)).as_posix()
    target = folder / sub / source.name if sub else folder / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return target.relative_to(folder).as_posix()


def _check_output(path: Path) -> None:
    """A port's output named with --python: a file of a kind parity reads, a folder of parquet files or a glob."""
    if path.is_file() and path.suffix.lower() not in PYTHON_FILE_EXTENSIONS:
        raise UsageError(f"--python {path}: give MODULE:FUNCTION (the port) or the port's output file "
                         f"({', '.join(PYTHON_FILE_EXTENSIONS)}), a folder of parquet files or a glob")
    problem = check_location(path)
    if problem is not None:
        raise UsageError(f"--python {problem}")


def _copy_output(source: Path, folder: Path, copy: bool) -> str:
    """The path parity.toml names for a port's output: a file as :func:`_copy_into` copies it; a folder copied
    whole into ``folder/python``; a glob's files copied into ``folder/python/<the folder it starts from>``, their
    places under it kept, and the pattern named there."""
    if not is_glob(source):
        if source.is_dir() and copy and not source.resolve().is_relative_to(folder):
            target = folder / "python" / source.resolve().name
            shutil.copytree(source, target, dirs_exist_ok=True)
            return target.relative_to(folder).as_posix()
        return _copy_into(source, folder, "python", copy)
    root, files = glob_files(source)
    pattern = Path(*Path(source).parts[len(root.parts):])
    root = root.resolve()
    if root.is_relative_to(folder) or not copy:
        base = root.relative_to(folder) if root.is_relative_to(folder) else Path(os.path.relpath(root, folder))
        return (base / pattern).as_posix()
    target = folder / "python" / (root.name or "output")
    for file in files:
        place = target / file.resolve().relative_to(root)
        place.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, place)
    return (target.relative_to(folder) / pattern).as_posix()


def _check_file(option: str, path: Path) -> Path:
    if not path.is_file():
        raise UsageError(f"{option} {path}: file not found")
    return path


def init_job(folder: Path, name: str, sas_files: Sequence[Path], python: str | None = None,
             python_files: Sequence[Path] = (), inputs: Sequence[tuple[str, Path]] = (), force: bool = False,
             copy: bool = True) -> InitResult:
    """Write ``folder``'s parity.toml, port.py stub (when no ``python`` callable is given) and README.md."""
    from parity.spec import load_job

    folder = folder.resolve()
    sas_paths = [_check_file("--sas", p) for p in sas_files]
    if not sas_paths and folder.is_dir():  # the SAS outputs already in the job folder
        sas_paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SAS_OUTPUTS
                           and not p.name.startswith(".") and p.name != "capture.json")
    if not sas_paths:
        raise UsageError(f"no SAS outputs for job {name}: give them with --sas FILE ({', '.join(SAS_OUTPUTS)}, one "
                         f"option per dataset), or put them in {folder} first")
    stub = python is None
    existing = [p for p in (folder / SPEC_FILE, folder / README_FILE, *((folder / PORT_FILE,) if stub else ()))
                if p.exists()]
    if existing and not force:
        raise UsageError(f"job folder {folder} already holds {', '.join(p.name for p in existing)}: parity init "
                         "does not overwrite a job; choose another name, or add --force to replace them")
    names = [dataset_name(p) for p in sas_paths]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two SAS outputs would both be dataset {dupes[0]!r} "
                         f"({', '.join(str(p) for p, n in zip(sas_paths, names, strict=True) if n == dupes[0])}); "
                         "give files with different names")
    for path in python_files:
        _check_output(path)
    matched: dict[str, Path] = {}
    for path in python_files:
        stem = dataset_name(glob_files(path)[0] if is_glob(path) else path)
        target = stem if stem in names else (names[0] if len(names) == 1 and len(python_files) == 1 else None)
        if target is None or target in matched:
            raise UsageError(f"--python {path}: no SAS output of the same name to compare it with (datasets: "
                             f"{', '.join(names)}); name it like its SAS output")
        matched[target] = path
    for param, path in inputs:
        _check_file("--input", path)
        if not param.isidentifier():
            raise UsageError(f"--input {param}={path}: {param!r} must be a Python name (it is a parameter of run())")
    tables = []
    for path in sas_paths:
        try:
            tables.append(read_side(path))
        except InputError as exc:
            raise UsageError(f"--sas {path}: {exc}") from None

    folder.mkdir(parents=True, exist_ok=True)
    result = InitResult(folder)
    for path, ds_name, (table, declared) in zip(sas_paths, names, tables, strict=True):
        sas_rel = _copy_into(path, folder, "", copy)
        py_rel = _copy_output(matched[ds_name], folder, copy) if ds_name in matched else None
        keys = guess_keys(table, declared)
        tolerances = []
        for col in table.columns:
            if col.type != "character" and col.kind == "numeric" and col.name not in keys.columns:
                suggestion = suggest_tolerance(col.format)
                if suggestion:
                    tolerances.append((col.name, *suggestion))
        temporal = tuple((c.name, c.kind, c.format) for c in table.columns if c.kind in TEMPORAL_KINDS)
        result.datasets.append(DatasetPlan(ds_name, sas_rel, table, keys, tuple(tolerances), temporal, py_rel))
    params = [(param, _copy_into(path, folder, "input", copy)) for param, path in inputs]
    needs_port = any(p.python is None for p in result.datasets)
    target = python if python else ("port:run" if needs_port else None)
    files = {SPEC_FILE: render_spec(name, result.datasets, target, params),
             README_FILE: render_readme(name, result.datasets, target, stub and needs_port)}
    if stub and needs_port:
        files[PORT_FILE] = render_port(name, result.datasets, params)
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
        result.written.append(folder / file)
    load_job(folder, name)  # what parity init writes is a valid spec
    return result
