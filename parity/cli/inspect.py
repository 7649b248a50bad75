"""``parity inspect``: what PROC CONTENTS shows for a SAS file, from pyreadstat's metadata and the file header (and
the rows and columns of any other input parity reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parity.errors import InputError


def contents(path: Path, encoding: str | None = None) -> dict[str, Any]:
    """What ``parity inspect`` shows for ``path``, from the registered opener of its kind: PROC CONTENTS for a
    SAS-side file; for any other input (parquet file/folder/glob, arrow, csv) its rows and columns as parity reads
    them."""
    from parity.sources.registry import OpenOptions, check_location, open_source, opener_for

    opener, location = opener_for(path)
    problem = check_location(path)
    if problem is not None:
        raise InputError(problem)
    if opener.contents is not None:
        return opener.contents(Path(location), encoding)
    if encoding is not None:
        raise InputError(f"{path}: --encoding applies to SAS files, not to {opener.what or opener.name + ' input'}")
    source = open_source(path, OpenOptions())
    columns = [{"number": i, "name": c.name, "type": c.type, "length": c.length, "format": c.format,
                "informat": c.informat, "label": c.label, "kind": c.kind} for i, c in enumerate(source.columns, 1)]
    return {"file": str(path), "format": source.meta.format, "rows": source.meta.rows, "variables": len(columns),
            "files": source.meta.extra.get("files"), "sha256": source.meta.digest(), "columns": columns}


def sas_contents(path: Path, encoding: str | None = None) -> dict[str, Any]:
    import pyreadstat

    from parity.formats import kind_of_format
    from parity.sources.base import _reader_failure
    from parity.sources.sas import reader_encoding
    from parity.sources.sasheader import read_header

    suffix = path.suffix.lower()
    encoding = reader_encoding(encoding)
    try:
        if suffix == ".sas7bdat":
            _, meta = pyreadstat.read_sas7bdat(str(path), metadataonly=True, encoding=encoding)
        else:
            _, meta = pyreadstat.read_xport(str(path), metadataonly=True, encoding=encoding)
        rows = meta.number_rows
        if rows is None:  # XPORT has no row count in its header: count by reading
            reader = pyreadstat.read_xport if suffix == ".xpt" else pyreadstat.read_sas7bdat
            frame, _ = reader(str(path), encoding=encoding, output_format="dict",
                              disable_datetime_conversion=True)
            rows = len(next(iter(frame.values()), []))
    except Exception as exc:
        raise _reader_failure(path, exc) from None
    try:
        header: Any = read_header(path)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    columns = []
    for i, name in enumerate(meta.column_names, 1):
        rtype = meta.readstat_variable_types.get(name, "double")
        fmt = meta.original_variable_types.get(name)
        columns.append({
            "number": i, "name": name, "type": "Char" if rtype == "string" else "Num",
            "length": (meta.variable_storage_width or {}).get(name),
            "format": fmt, "informat": (meta.original_variable_informats or {}).get(name),
            "label": meta.column_names_to_labels.get(name),
            "kind": "string" if rtype == "string" else kind_of_format(fmt),
        })

    def iso(value: Any) -> str | None:
        return value.isoformat(sep=" ") if value is not None else None

    return {
        "file": str(path), "format": header.format, "dataset": header.dataset_name or meta.table_name,
        "label": meta.file_label or None, "rows": rows, "variables": len(columns),
        "encoding": meta.file_encoding or None, "compression": header.compression,
        "created": iso(header.created), "modified": iso(header.modified), "sas_release": header.sas_release,
        "host": header.host, "os": header.os_name, "bitness": header.bitness, "endianness": header.endianness,
        "page_size": header.page_size, "page_count": header.page_count, "xport_version": header.xport_version,
        "columns": columns,
    }


def render_contents(console: Any, info: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    # every value is user text (file name, labels, formats): rendered as Text, never parsed as markup
    head = Table(show_header=False, title=Text(f"The CONTENTS of {info['file']}"), title_justify="left")
    head.add_column("field", style="bold")
    head.add_column("value")
    for key in ("dataset", "label", "format", "dataset_json_version", "representation", "rows", "variables", "encoding", "compression", "created",
                "modified", "sas_release", "host", "os", "bitness", "endianness", "page_size", "page_count",
                "originator", "source_system", "keys"):
        if info.get(key) is not None:
            value = ", ".join(info[key]) if isinstance(info[key], list) else str(info[key])
            head.add_row(key.replace("_", " ").capitalize(), Text(value))
    console.print(head)
    cols = Table(title="Alphabetic List of Variables and Attributes", title_justify="left")
    for col in ("#", "Variable", "Type", "Len", "Format", "Informat", "Label"):
        cols.add_column(col)
    for c in sorted(info["columns"], key=lambda c: c["name"].casefold()):
        cols.add_row(*(Text(str(v)) for v in (c["number"], c["name"], c["type"], c["length"] or "",
                                               c["format"] or "", c["informat"] or "", c["label"] or "")))
    console.print(cols)
