"""Content rules: no literal secrets; webhook Liquid parses and reads only declared attributes."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from reconciler.errors import Diagnostic, Location
from reconciler.manifests.documents import Resource, field_path
from reconciler.manifests.kinds import WebhookTemplateSpec
from reconciler.manifests.model import Manifests
from reconciler.manifests.secrets import find_secrets
from reconciler.manifests.yamlsource import PathKey, RawDocument
from reconciler.templates.braze_liquid import LiquidProblem, parse_braze_liquid

SECRET_HINT = "reference an environment variable or credential name instead"


def literal_secrets(docs: list[RawDocument]) -> Iterator[Diagnostic]:
    for doc in docs:
        for path in find_secrets(doc.data):
            # The message names the field, never the value.
            yield Diagnostic(
                doc.location(path),
                f"{field_path(path)}: looks like a literal key or token; {SECRET_HINT}",
            )


@lru_cache(maxsize=256)
def _lines(path: Path) -> tuple[str, ...]:
    try:
        return tuple(path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def scalar_location(doc: RawDocument, path: PathKey, line: int, col: int) -> Location:
    """Map (line, col) inside a scalar's text to the file, through block and quoted styles."""
    vline, vcol = doc.positions.value(path)
    lines = _lines(doc.path)
    head = lines[vline - 1][vcol - 1 :] if 0 < vline <= len(lines) else ""
    if head[:1] in ("|", ">"):
        content = next(
            (i for i in range(vline, len(lines)) if lines[i].strip()), vline
        )  # 0-based index of the first content line
        indent = (
            len(lines[content]) - len(lines[content].lstrip(" ")) if content < len(lines) else 0
        )
        return Location(doc.display_path, vline + line, indent + col)
    quoted = 1 if head[:1] in ("'", '"') else 0
    if line == 1:
        return Location(doc.display_path, vline, vcol + quoted + col - 1)
    return Location(doc.display_path, vline + line - 1, col)


def _liquid_fields(spec: WebhookTemplateSpec) -> Iterator[tuple[PathKey, str]]:
    yield ("spec", "url"), spec.url
    for name, value in spec.headers.items():
        yield ("spec", "headers", name), value
    if spec.body:
        yield ("spec", "body"), spec.body


def webhook_liquid(m: Manifests) -> Iterator[Diagnostic]:
    declared = m.attributes
    for template in m.webhook_templates:
        yield from _check_template(template, declared)


def _check_template(
    template: Resource[WebhookTemplateSpec], declared: dict[str, Any]
) -> Iterator[Diagnostic]:
    credentials = set(template.spec.credentials)
    for path, text in _liquid_fields(template.spec):
        try:
            parsed = parse_braze_liquid(text)
        except LiquidProblem as e:
            yield Diagnostic(
                scalar_location(template.doc, path, e.line, e.col),
                f"{field_path(path)}: {e.message}",
            )
            continue
        for name in parsed.custom_attributes:
            if name not in declared:
                yield Diagnostic(
                    template.doc.location(path),
                    f"{field_path(path)}: reads custom attribute '{name}', which no "
                    "AttributeSchema declares",
                    hint="declare it so its type is checked and drift is tracked",
                )
        for call in parsed.connected_content:
            cred = call.credential
            if cred is not None and cred.strip("<>") not in credentials:
                yield Diagnostic(
                    template.doc.location(path),
                    f"{field_path(path)}: connected_content uses credential "
                    f"'{cred.strip('<>')}', which spec.credentials does not list",
                    hint="list Connected Content credential names in spec.credentials",
                )
