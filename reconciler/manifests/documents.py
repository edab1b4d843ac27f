"""Validate one raw YAML document into a typed resource, mapping every error to its line."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError, create_model
from pydantic_core import ErrorDetails

from reconciler.errors import Diagnostic, Location
from reconciler.manifests.kinds import API_VERSION, SPECS, Metadata
from reconciler.manifests.kinds.common import CONTENT_BLOCK_PATTERN, ENV_VAR_PATTERN, NAME_PATTERN
from reconciler.manifests.yamlsource import PathKey, RawDocument

S = TypeVar("S", bound=BaseModel)


def _document_model(kind: str, spec: type[BaseModel]) -> type[BaseModel]:
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{kind}Manifest",
        __config__={"extra": "forbid", "frozen": True, "title": f"reconciler {kind}"},
        apiVersion=(Literal[API_VERSION], ...),  # type: ignore[valid-type,unused-ignore]
        kind=(Literal[kind], ...),  # type: ignore[valid-type,unused-ignore]
        metadata=(Metadata, ...),
        spec=(spec, ...),
    )


DOCUMENT_MODELS: dict[str, type[BaseModel]] = {k: _document_model(k, s) for k, s in SPECS.items()}


@dataclass(frozen=True)
class Resource(Generic[S]):
    """A validated manifest document: its kind, name, typed spec and where it came from."""

    kind: str
    name: str
    spec: S
    doc: RawDocument

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.name}"

    def at(self, *path: str | int, key: bool = False) -> Location:
        """The location of `spec.<path>` (the value, or the key with key=True)."""
        return self.doc.location(("spec", *path), key=key)

    @property
    def location(self) -> Location:
        return self.doc.location(("kind",))


def field_path(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[PathKey, list[str | int]]:
    """Walk pydantic's loc through the data, dropping union/function tags it adds."""
    path: list[str | int] = []
    rest: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        else:
            rest.append(part)
    return tuple(path), rest


def _allowed_fields(model: type[BaseModel], path: PathKey) -> list[str]:
    """The field names the model accepts at `path` (for "did you mean" hints)."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = _unwrap(field.annotation)
        else:
            current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """The model inside Optional[...], list[...] or dict[str, ...] annotations."""
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def suggest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else ""


_PATTERN_MEANING = {
    ENV_VAR_PATTERN: "must be an environment variable name (A-Z, 0-9 and _), e.g. BRAZE_API_KEY",
    NAME_PATTERN: "must start with a letter or digit and use only letters, digits and _ . : -",
    CONTENT_BLOCK_PATTERN: "Content Block names may use only A-Z a-z 0-9 - and _",
}


_PLAIN = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "dict_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
}


def _shown_value(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "…"


def _message(err: ErrorDetails) -> tuple[str, str]:
    """(message, hint): in words a YAML author knows, with the offending value."""
    kind, value = err["type"], err.get("input")
    scalar = isinstance(value, str | int | float | bool) or value is None
    got = f", got {_shown_value(value)}" if scalar else ""
    if kind == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        if pattern in _PATTERN_MEANING:
            return f"{_PATTERN_MEANING[pattern]}{got}", ""
    if kind == "literal_error":
        expected = str((err.get("ctx") or {}).get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected)
        hint = suggest(str(value), choices) if isinstance(value, str) else ""
        return f"expected one of {', '.join(choices) or expected}{got}", hint
    if kind in _PLAIN:
        return f"{_PLAIN[kind]}{got}", ""
    msg = err["msg"]
    if kind == "value_error":
        return msg.removeprefix("Value error, "), ""
    return f"{msg}{got}", ""


def pydantic_diagnostics(
    doc: RawDocument, model: type[BaseModel], error: ValidationError
) -> list[Diagnostic]:
    diags = []
    for err in error.errors(include_url=False):
        path, rest = _data_path(doc.data, err["loc"])
        if err["type"] == "extra_forbidden":
            name = str(path[-1]) if path else ""
            allowed = _allowed_fields(model, path[:-1])
            hint = suggest(name, allowed)
            if not hint and allowed:
                hint = "allowed fields: " + ", ".join(allowed)
            diags.append(
                Diagnostic(
                    doc.location(path, key=True),
                    f"{field_path(path)}: unknown field '{name}'",
                    hint,
                )
            )
        elif err["type"] == "missing":
            missing = [str(p) for p in rest if not str(p).startswith(("function", "union"))]
            full = (*path, *missing)
            name = missing[-1] if missing else ""
            diags.append(
                Diagnostic(
                    doc.location(path, key=True),
                    f"{field_path(full)}: missing required field '{name}'",
                )
            )
        else:
            message, hint = _message(err)
            diags.append(
                Diagnostic(
                    doc.location(path), f"{field_path(path) or '(document)'}: {message}", hint
                )
            )
    return diags


def parse_document(doc: RawDocument) -> tuple[Resource[Any] | None, list[Diagnostic]]:
    """The typed resource for one document, or every located problem with it."""
    data = doc.data
    if not isinstance(data, dict):
        return None, [
            Diagnostic(
                doc.location(),
                f"a manifest must be a mapping with apiVersion, kind, metadata and spec, "
                f"not a {type(data).__name__}",
            )
        ]
    head: list[Diagnostic] = []
    if "apiVersion" not in data:
        head.append(
            Diagnostic(
                doc.location(),
                "missing apiVersion",
                hint=f"add `apiVersion: {API_VERSION}`",
            )
        )
    elif data["apiVersion"] != API_VERSION:
        head.append(
            Diagnostic(
                doc.location(("apiVersion",)),
                f"apiVersion: unsupported version {str(data['apiVersion'])!r}",
                hint=f"use `apiVersion: {API_VERSION}`",
            )
        )
    kind = data.get("kind")
    if kind is None:
        head.append(
            Diagnostic(doc.location(), "missing kind", hint="one of: " + ", ".join(DOCUMENT_MODELS))
        )
        return None, head
    if not isinstance(kind, str) or kind not in DOCUMENT_MODELS:
        head.append(
            Diagnostic(
                doc.location(("kind",)),
                f"kind: unknown kind {str(kind)!r}",
                hint=suggest(str(kind), list(DOCUMENT_MODELS))
                or "one of: " + ", ".join(DOCUMENT_MODELS),
            )
        )
        return None, head
    model = DOCUMENT_MODELS[kind]
    body = {**data, "apiVersion": API_VERSION}
    try:
        validated = model.model_validate(body)
    except ValidationError as e:
        return None, head + pydantic_diagnostics(doc, model, e)
    if head:
        return None, head
    return Resource(kind, validated.metadata.name, validated.spec, doc), []  # type: ignore[attr-defined]
