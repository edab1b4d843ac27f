"""The shipped JSON Schemas agree with the CLI, and resolve offline.

Every document of every example workspace (manifests/, the design example in tests/data, and a
bench/generate.py workspace) that the CLI accepts is valid against schemas/manifest.json and
against its own kind's file, with python-jsonschema and no network (the test suite blocks it).
Spellings the CLI accepts, such as `type: String` or `Varchar`, are valid in the schemas too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler.manifests.jsonschema import ANY_KIND
from reconciler.manifests.loader import load_workspace

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"


def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _documents(root: Path) -> list[tuple[str, dict[str, Any]]]:
    load_workspace(root)  # the CLI accepts the workspace (raises otherwise)
    docs = []
    for path in sorted(root.glob("*.yaml")):
        for n, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if doc is not None:
                docs.append((f"{path.name}#{n}", doc))
    return docs


def _generated(tmp_path: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "generate.py"),
            "--users",
            "50",
            "--attributes",
            "10",
            "--no-validate",
            str(tmp_path / "gen"),
        ],
        check=True,
        capture_output=True,
    )
    return tmp_path / "gen" / "original"


@pytest.mark.parametrize("where", ["manifests", "tests/data/design_example", "generated"])
def test_every_example_manifest_validates_against_the_schemas_offline(
    where: str, tmp_path: Path
) -> None:
    root = _generated(tmp_path) if where == "generated" else REPO / where
    any_kind = _validator(ANY_KIND)
    docs = _documents(root)
    assert docs
    for name, doc in docs:
        problems = [e.message for e in any_kind.iter_errors(doc)]
        assert problems == [], f"{where}/{name}: {problems}"
        own = _validator(f"{doc['kind'].lower()}.json")
        assert [e.message for e in own.iter_errors(doc)] == [], f"{where}/{name}"


def test_the_amperity_type_spellings_the_cli_accepts_are_valid_and_a_typo_is_not() -> None:
    validator = _validator("attributeschema.json")

    def doc(kind: str) -> dict[str, Any]:
        return {
            "apiVersion": "reconciler/v1",
            "kind": "AttributeSchema",
            "metadata": {"name": "amperity"},
            "spec": {"integration": "amperity", "attributes": [{"name": "tier", "type": kind}]},
        }

    for spelling in ("String", "Varchar", "Boolean", "DATETIME", "decimal", "array"):
        assert list(validator.iter_errors(doc(spelling))) == [], spelling
    assert list(validator.iter_errors(doc("Strin")))


def test_no_schema_refers_outside_itself() -> None:
    for path in SCHEMAS.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        refs = _all_refs(text)
        assert all(r.startswith("#/") for r in refs), (path.name, refs)
        assert '"$id"' not in text, path.name


def _all_refs(text: str) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(text))
    return found
