"""The ``contract`` and ``quality`` checks' rules as text: pytest/terminal messages and the HTML rules table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def sample_text(row: dict[str, Any]) -> str:
    """One sample row as ``row 4: claim_id='CLM1', paid=1.005`` (a unique sample: ``claim_id='A' (3 rows)``)."""
    import json

    cells = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in row.items() if k not in ("row", "rows"))
    if "row" in row:
        return f"row {row['row']}: {cells}"
    return f"{cells} ({row.get('rows')} rows)" if "rows" in row else cells


def rule_lines(details: Mapping[str, Any], limit: int = 10) -> list[str]:
    """The rules that warn or fail, one line each with their first sample rows."""
    rules = [r for r in details.get("rules") or [] if isinstance(r, dict) and r.get("status") != "pass"]
    out = []
    for r in rules[:limit]:
        what = r.get("missing") or (f"{r.get('failing_rows', 0):,} of {r.get('judged_rows', 0):,} rows"
                                   if r.get("kind") not in ("extra_columns", "distinct") else
                                   ", ".join(map(str, r.get("columns") or [])) if r.get("kind") == "extra_columns"
                                   else f"{r.get('distinct')} distinct values (min {r.get('min')}, max {r.get('max')})")
        sample = "; ".join(sample_text(s) for s in (r.get("sample") or [])[:3])
        out.append(f"  {str(r.get('status')).upper()} {r.get('name')}: {what}" + (f" (e.g. {sample})" if sample else ""))
    if len(rules) > limit:
        out.append(f"  ... and {len(rules) - limit} more (see the report)")
    return out


def rule_definition(rule: dict[str, Any]) -> str:
    """What a rule requires, as the approver reads it in the HTML rules table."""
    kind = rule.get("kind")
    if rule.get("definition"):
        text = f"{rule['definition']} ({rule.get('severity', 'critical')})"
        return f"{text}: {rule['description']}" if rule.get("description") else text
    if kind == "type":
        return f"type {rule.get('expected')}"
    if kind == "decimal":
        return f"fits decimal({rule.get('precision')},{rule.get('scale')})"
    if kind == "max_length":
        return f"at most {rule.get('max_length')} characters"
    if kind == "nullable":
        return f"no missing value ({rule.get('counts_as_missing', 'null')})"
    if kind == "unique":
        return f"unique ({', '.join(map(str, rule.get('columns') or []))})"
    if kind == "extra_columns":
        return f"no column beyond the contract ({rule.get('setting')} otherwise)"
    if kind == "present":
        return "the column is present"
    return str(kind)


def rule_note(rule: dict[str, Any]) -> str | None:
    """The one note an approver needs next to a rule: why it could not be judged, or what to do."""
    if rule.get("missing"):
        return str(rule["missing"])
    if rule.get("status") == "pass":
        return None
    for key in ("hint", "truncates", "nulls"):
        if rule.get(key):
            text = str(rule[key])
            if key == "truncates" and rule.get("over_in_utf8_bytes"):
                text += f"; {rule['over_in_utf8_bytes']:,} are longer than {rule.get('max_length')} bytes in UTF-8"
            return text
    if rule.get("kind") == "distinct":
        return f"{rule.get('distinct')} distinct values"
    if rule.get("kind") == "extra_columns":
        return ", ".join(map(str, rule.get("columns") or []))
    return None
