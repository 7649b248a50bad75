"""Validation of a loaded report against its JSON Schema (``parity/schema/report-schema.json``, the same file as
``docs/report-schema.json``).

A small validator of the JSON Schema 2020-12 keywords the report schema uses, so that reading a report needs no
extra runtime dependency; the test suite checks it agrees with the ``jsonschema`` package on hundreds of mutated
reports, and :func:`report_schema` refuses a schema that uses a keyword this validator does not implement (so a
schema change cannot silently weaken the check).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "report-schema.json"
#: keywords that only annotate; everything else must be implemented below
ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples",
                         "format", "deprecated", "readOnly", "writeOnly"})
KEYWORDS = frozenset({"type", "const", "enum", "required", "properties", "patternProperties", "additionalProperties",
                      "propertyNames", "minProperties", "maxProperties", "dependentRequired", "items", "$ref",
                      "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                      "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "anyOf", "oneOf", "allOf",
                      "not", "if", "then", "else"})
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf")
_SUBSCHEMAS = ("additionalProperties", "propertyNames", "items", "not", "if", "then", "else")
#: no report parity writes nests deeper or holds a larger integer; deeper or larger input is refused up front
MAX_DEPTH = 64
MAX_INT = 2**63


@cache
def report_schema() -> dict[str, Any]:
    """The report schema shipped inside the package (checked for unsupported keywords once)."""
    text = resources.files("parity").joinpath("schema", SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    unknown = sorted(_keywords(schema) - ANNOTATIONS - KEYWORDS)
    if unknown:
        raise ValueError(f"{SCHEMA_FILE} uses JSON Schema keywords parity's validator does not implement: "
                         f"{', '.join(unknown)}")
    return schema


def _keywords(schema: Any) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    for key, value in schema.items():
        if key in _SUBSCHEMA_MAPS:
            for sub in value.values():
                found |= _keywords(sub)
        elif key in _SUBSCHEMA_LISTS:
            for sub in value:
                found |= _keywords(sub)
        elif key in _SUBSCHEMAS:
            found |= _keywords(value)
    return found


def first_error(data: Any, schema: Mapping[str, Any] | None = None) -> str | None:
    """Why ``data`` does not follow ``schema`` (default: the report schema), naming where; None when it does."""
    root = report_schema() if schema is None else schema
    problem = _unusual(data)
    if problem is not None:
        return problem
    return next(_errors(data, root, "", root), None)


def _where(path: str) -> str:
    return path or "the top level"


def _unusual(data: Any) -> str | None:
    """Input no schema keyword catches but no report parity writes holds: deep nesting, huge or non-finite
    numbers (checked without recursion, so hostile input cannot exhaust the stack)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"{_where(path)}: nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and abs(value) >= MAX_INT:
            return f"{_where(path)}: the integer {_preview(value)} is too large for a report"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{_where(path)}: {value!r} is not a JSON number (write 'inf', '-inf' or 'nan' as strings)"
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


def _preview(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


def _type_name(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers (``true != 1``), 1 == 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if _TYPES["number"](a) and _TYPES["number"](b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#"):
        raise ValueError(f"{SCHEMA_FILE}: only local $ref are supported, not {ref!r}")
    node: Any = root
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node  # type: ignore[no-any-return]


def _valid(value: Any, schema: Any, root: Mapping[str, Any]) -> bool:
    return next(_errors(value, schema, "", root), None) is None


def _errors(value: Any, schema: Any, path: str, root: Mapping[str, Any]) -> Iterator[str]:
    """Every way ``value`` breaks ``schema`` (lazily: callers take the first)."""
    if schema is True or schema == {}:
        return
    if schema is False:
        yield f"{_where(path)}: no value is allowed here"
        return
    where = _where(path)
    if "$ref" in schema:
        yield from _errors(value, _resolve(schema["$ref"], root), path, root)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            yield f"{where}: expected {' or '.join(types)}, got {_type_name(value)} {_preview(value)}"
            return
    if "const" in schema and not _equal(value, schema["const"]):
        yield f"{where}: expected {json.dumps(schema['const'])}, got {_preview(value)}"
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        yield f"{where}: expected one of {', '.join(json.dumps(e) for e in schema['enum'])}, got {_preview(value)}"
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            yield f"{where}: {_preview(value)} is less than the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield f"{where}: {_preview(value)} is more than the maximum {schema['maximum']}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            yield f"{where}: {_preview(value)} is not more than {schema['exclusiveMinimum']}"
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            yield f"{where}: {_preview(value)} is not less than {schema['exclusiveMaximum']}"
        if "multipleOf" in schema and not _multiple(value, schema["multipleOf"]):
            yield f"{where}: {_preview(value)} is not a multiple of {schema['multipleOf']}"
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield f"{where}: {_preview(value)} does not match {schema['pattern']}"
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield f"{where}: shorter than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield f"{where}: longer than {schema['maxLength']} characters"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield f"{where}: fewer than {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield f"{where}: more than {schema['maxItems']} items"
        if schema.get("uniqueItems") and any(_equal(a, b) for i, a in enumerate(value) for b in value[i + 1:]):
            yield f"{where}: items are not unique"
        if "items" in schema:
            for i, item in enumerate(value):
                yield from _errors(item, schema["items"], f"{path}[{i}]", root)
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                yield f"{where}: the required field {key!r} is missing"
        for key, needs in schema.get("dependentRequired", {}).items():
            missing = [n for n in needs if key in value and n not in value]
            if missing:
                yield f"{where}: {key!r} requires the field {missing[0]!r}"
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            yield f"{where}: fewer than {schema['minProperties']} fields"
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            yield f"{where}: more than {schema['maxProperties']} fields"
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            matched = [p for p in patterns if re.search(p, key)]
            for p in matched:
                yield from _errors(item, patterns[p], sub, root)
            if key in props:
                yield from _errors(item, props[key], sub, root)
            elif not matched and "additionalProperties" in schema:
                if schema["additionalProperties"] is False:
                    yield f"{where}: unexpected field {key!r}"
                else:
                    yield from _errors(item, schema["additionalProperties"], sub, root)
            if "propertyNames" in schema and not _valid(key, schema["propertyNames"], root):
                yield f"{where}: unexpected field name {key!r}"
    for sub_schema in schema.get("allOf", ()):
        yield from _errors(value, sub_schema, path, root)
    if "anyOf" in schema and not any(_valid(value, s, root) for s in schema["anyOf"]):
        yield f"{where}: {_preview(value)} matches none of the allowed shapes"
    if "oneOf" in schema and sum(_valid(value, s, root) for s in schema["oneOf"]) != 1:
        yield f"{where}: {_preview(value)} does not match exactly one of the allowed shapes"
    if "not" in schema and _valid(value, schema["not"], root):
        yield f"{where}: {_preview(value)} is not allowed here"
    if "if" in schema:
        branch = schema.get("then") if _valid(value, schema["if"], root) else schema.get("else")
        if branch is not None:
            yield from _errors(value, branch, path, root)


def _multiple(value: float, of: float) -> bool:
    if isinstance(value, int) and isinstance(of, int):
        return value % of == 0
    quotient = value / of
    return math.isfinite(quotient) and float(quotient).is_integer()
