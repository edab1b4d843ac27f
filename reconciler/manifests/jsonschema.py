"""JSON Schemas for editors: one per kind and one that accepts any kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.manifests.documents import DOCUMENT_MODELS

ANY_KIND = "manifest.json"


def _file_name(kind: str) -> str:
    return f"{kind.lower()}.json"


def build_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema document."""
    out: dict[str, dict[str, Any]] = {}
    for kind, model in DOCUMENT_MODELS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://reconciler.dev/schemas/{_file_name(kind)}"
        out[_file_name(kind)] = schema
    out[ANY_KIND] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://reconciler.dev/schemas/{ANY_KIND}",
        "title": "reconciler manifest (any kind)",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"kind": {"enum": list(DOCUMENT_MODELS)}},
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": _file_name(kind)},
            }
            for kind in DOCUMENT_MODELS
        ],
    }
    return out


def _text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in build_schemas().items():
        path = out_dir / name
        path.write_text(_text(schema), encoding="utf-8")
        written.append(path)
    return written


def check_schemas(out_dir: Path) -> list[str]:
    """Names of schema files that are missing or differ from what the models produce."""
    stale = []
    for name, schema in build_schemas().items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != _text(schema):
            stale.append(name)
    return stale
