"""JSON Schemas for editors: one per kind and one that accepts any kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.manifests.documents import DOCUMENT_MODELS

ANY_KIND = "manifest.json"


def _file_name(kind: str) -> str:
    return f"{kind.lower()}.json"


DIALECT = "https://json-schema.org/draft/2020-12/schema"


def build_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema document.

    Every file is self-contained (only `#/…` references, no `$id` to fetch), so editors and
    python-jsonschema resolve them offline; `manifest.json` carries every kind inline.
    """
    out: dict[str, dict[str, Any]] = {}
    defs: dict[str, Any] = {}
    for kind, model in DOCUMENT_MODELS.items():
        schema = model.model_json_schema()
        schema["$schema"] = DIALECT
        out[_file_name(kind)] = schema
        inline = _prefixed(schema, kind)
        defs.update(inline.pop("$defs", {}))
        inline.pop("$schema", None)
        defs[kind] = inline
    out[ANY_KIND] = {
        "$schema": DIALECT,
        "title": "reconciler manifest (any kind)",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"kind": {"enum": list(DOCUMENT_MODELS)}},
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": f"#/$defs/{kind}"},
            }
            for kind in DOCUMENT_MODELS
        ],
        "$defs": defs,
    }
    return out


def _prefixed(schema: Any, kind: str) -> Any:
    """A copy of one kind's schema whose `$defs` names (and the refs to them) carry the kind,
    so that every kind's definitions can live side by side in manifest.json."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "$defs":
                out[key] = {f"{kind}.{name}": _prefixed(v, kind) for name, v in value.items()}
            elif key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = f"#/$defs/{kind}.{value.removeprefix('#/$defs/')}"
            else:
                out[key] = _prefixed(value, kind)
        return out
    if isinstance(schema, list):
        return [_prefixed(v, kind) for v in schema]
    return schema


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
