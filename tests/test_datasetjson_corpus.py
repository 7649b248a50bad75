"""Every SAS-written CDISC Dataset-JSON file of the shared corpus passes against the .xpt it was written from, named
directly in a job (no port code), under a 1e-10 relative tolerance (Dataset-JSON carries 12 significant digits);
and a deliberately altered value fails (no false pass)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from parity.api import compare_frames
from parity.cli.main import main
from parity.sources.datasetjson import datasetjson_keys

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
pytestmark = pytest.mark.corpus
TOLERANCE = {"method": "relative", "criterion": 1e-10}


def _pairs() -> list[tuple[Path, Path]]:
    """(Dataset-JSON, the SAS file it was written from), as MANIFEST.tsv pairs them (``paired_with`` names a
    Dataset-JSON export of a SAS file); the same two contents are tested once."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    pairs: dict[tuple[str, str], tuple[Path, Path]] = {}
    with manifest.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["kind"] not in ("xpt", "sas7bdat"):
                continue
            for entry in row["paired_with"].split(" ; "):
                path, _, what = entry.partition(" [")
                if path.endswith(".json") and "Dataset-JSON" in what and (CORPUS / path).is_file():
                    js, sas = CORPUS / path, CORPUS / row["local_path"]
                    pairs.setdefault((_digest(js), _digest(sas)), (js, sas))
    return sorted(pairs.values())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pairs() -> list[tuple[Path, Path]]:
    found = _pairs()
    if not found:
        pytest.skip(f"no Dataset-JSON corpus at {CORPUS}")
    return found


def _toml_str(path: Path) -> str:
    return json.dumps(str(path))


def test_every_pair_passes_when_named_directly(pairs: list[tuple[Path, Path]], tmp_path: Path) -> None:
    """One job, two datasets per pair: the .json as the Python side of its .xpt, and the same data as .ndjson on the
    SAS side against the .xpt as the Python side."""
    jobs = tmp_path / "jobs"
    folder = jobs / "datasetjson"
    folder.mkdir(parents=True)
    lines = []
    for i, (js, sas) in enumerate(pairs):
        doc = json.loads(js.read_text(encoding="utf-8"))
        nd = folder / f"{i}_{js.stem}.ndjson"
        rows = doc.pop("rows", [])
        nd.write_text("\n".join([json.dumps(doc)] + [json.dumps(r) for r in rows]) + "\n", encoding="utf-8")
        keys = json.dumps(datasetjson_keys(js))
        name = f"p{i}_{js.parent.name}_{js.stem}"  # keys: the json's keySequence
        lines += [f"[datasets.{name}]", f"sas = {_toml_str(sas)}", f"python = {_toml_str(js)}", f"keys = {keys}",
                  f"tolerance.default = {{ method = 'relative', criterion = {TOLERANCE['criterion']} }}",
                  f"[datasets.{name}_nd]", f"sas = {_toml_str(nd)}", f"python = {_toml_str(sas)}",
                  f"keys = {keys}",
                  f"tolerance.default = {{ method = 'relative', criterion = {TOLERANCE['criterion']} }}", ""]
    (folder / "parity.toml").write_text("\n".join(lines), encoding="utf-8")
    code = main(["run", "datasetjson", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "datasetjson" / "parity.json").read_text())
    failed = {d["name"]: d.get("error") or [(c["name"], c["summary"]) for c in d["checks"] if c["status"] == "fail"]
              for d in report["datasets"] if d["verdict"] not in ("pass", "warn")}
    assert not failed, failed
    assert code == 0
    # the values pass everywhere; a pair warns only where its metadata really differs (labels or lengths the
    # Dataset-JSON file states otherwise than the .xpt: the attributes listing; strings over a stated length)
    warned = {c["name"] for d in report["datasets"] for c in d["checks"] if c["status"] == "warn"}
    assert warned <= {"attributes", "schema"}, warned
    assert len(report["datasets"]) == 2 * len(pairs)
    assert len(pairs) >= 52  # the CDISC examples (52) and the dataset-json-sas SEND files (3)
    warns = sum(d["verdict"] == "warn" for d in report["datasets"])
    print(f"\ncorpus: {len(pairs)} of {len(pairs)} Dataset-JSON pairs pass (json and ndjson, either side; "
          f"{warns} of {len(report['datasets'])} comparisons warn on differing attributes)")


def _alter(doc: dict[str, Any]) -> tuple[str, Any, Any]:
    """Change one value that is not a key: a number by 1e-8 relative, else a date by a day, else a text."""
    columns = doc["columns"]
    keyed = {i for i, c in enumerate(columns) if c.get("keySequence")}
    for want in ("number", "date", "text"):
        for row in doc["rows"]:
            for i, value in enumerate(row):
                col = columns[i]
                if i in keyed or value is None:
                    continue
                if want == "number" and col["dataType"] in ("integer", "float", "double") and value != 0:
                    row[i] = value * (1 + 1e-8) if col["dataType"] != "integer" else value + 1
                elif want == "date" and col.get("targetDataType") == "integer" and col["dataType"] == "date":
                    row[i] = "1999-12-31" if value != "1999-12-31" else "2000-01-01"
                elif want == "text" and col["dataType"] == "string" and value.strip():
                    row[i] = value + "X" if len(value) < (col.get("length") or math.inf) else "X" + value[1:]
                else:
                    continue
                return col["name"], value, row[i]
    raise AssertionError("nothing to alter")


def test_an_altered_value_fails_for_every_pair(pairs: list[tuple[Path, Path]], tmp_path: Path) -> None:
    passed = []
    for js, sas in pairs:
        doc = json.loads(js.read_text(encoding="utf-8"))
        column, before, after = _alter(doc)
        altered = tmp_path / js.name
        altered.write_text(json.dumps(doc), encoding="utf-8")
        result = compare_frames(sas, altered, keys=datasetjson_keys(js), tolerance={"default": TOLERANCE})
        if result.verdict != "fail":
            passed.append((str(js), column, before, after))
    assert not passed, passed
