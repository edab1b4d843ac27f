"""Content rules: no literal secrets; webhook Liquid parses and reads only declared attributes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import Diagnostic, Location, SourceDataError
from reconciler.manifests.documents import Resource, field_path, suggest
from reconciler.manifests.kinds import WebhookTemplateSpec
from reconciler.manifests.model import Manifests
from reconciler.manifests.secrets import find_secrets
from reconciler.manifests.yamlsource import PathKey, RawDocument

if TYPE_CHECKING:
    from reconciler.templates.render import RenderedRequest

# The template checks import the Liquid engine when a workspace has templates, not before:
# a plan of attribute syncs alone never loads it.

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


def template_notes(m: Manifests) -> Iterator[Diagnostic]:
    """Worth knowing, never an error: a `connected_content … :save` with no preview stub is
    valid Braze Liquid (a partner's template pasted verbatim has none); only a preview needs
    the stub, and without one it renders a visible placeholder."""
    if not m.webhook_templates:
        return  # and the Liquid engine is not imported (a tenth of a plan's start-up)
    from reconciler.templates.braze_liquid import (
        LiquidProblem,
        parse_braze_liquid,
        unstubbed_marker,
    )

    for template in m.webhook_templates:
        stubs = template.spec.preview.connected_content
        for path, text in _liquid_fields(template.spec):
            try:
                parsed = parse_braze_liquid(text)
            except LiquidProblem:
                continue  # an error already
            for call in parsed.connected_content:
                if call.save and call.save not in stubs:
                    yield Diagnostic(
                        template.doc.location(path),
                        f"{field_path(path)}: connected_content saves '{call.save}' with no "
                        f"preview stub: previews show {unstubbed_marker(call.save)} in its place "
                        "(Braze makes the call when it sends)",
                        hint=f"to preview real fields, add preview: {{connected_content: "
                        f"{{{call.save}: {{…}}}}}}",
                    )


def webhook_liquid(m: Manifests) -> Iterator[Diagnostic]:
    declared = m.attributes
    blocks: dict[str, Resource[WebhookTemplateSpec]] = {}
    # an attribute a schema that failed to load may declare: that failure is the error
    unsure = m.may_lack("AttributeSchema")
    for template in m.webhook_templates:
        yield from _check_template(template, declared, undeclared=not unsure)
        first = blocks.setdefault(template.spec.content_block, template)
        if first is not template:
            yield Diagnostic(
                template.at("content_block"),
                f"spec.content_block: '{template.spec.content_block}' is already shipped by "
                f"WebhookTemplate '{first.name}'",
                hint=f"each template needs its own content block (first at {first.location})",
            )


def webhook_contracts(m: Manifests) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """Render each template whose Liquid is sound for its preview user, once, and check the
    result: (errors, notes). A Rokt Calendar event that lacks a field its page requires is a
    note (a sketch of the body validates); a field present with a wrong value is an error."""
    errors: list[Diagnostic] = []
    notes: list[Diagnostic] = []
    declared = m.attributes
    for template in m.webhook_templates:
        if not any(_check_template(template, declared)):
            for found, note in _check_rendering(m, template):
                (notes if note else errors).append(found)
    return errors, notes


def _at(template: Resource[WebhookTemplateSpec], path: PathKey, text: str, index: int) -> Location:
    line, col = _text_line_col(text, index)
    return scalar_location(template.doc, path, line, col)


def _text_line_col(text: str, index: int) -> tuple[int, int]:
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _or_declare(suggestion: str | None) -> str:
    declare = "declare it so its type is checked and drift is tracked"
    return f"{suggestion} If not, {declare}" if suggestion else declare


def _check_template(
    template: Resource[WebhookTemplateSpec], declared: dict[str, Any], *, undeclared: bool = True
) -> Iterator[Diagnostic]:
    from reconciler.templates.braze_liquid import LiquidProblem, parse_braze_liquid
    from reconciler.templates.profile import STANDARD_TAGS

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
        for ref in parsed.references:
            if ref.namespace == "custom_attribute" and ref.name not in declared:
                if not undeclared:
                    continue
                yield Diagnostic(
                    _at(template, path, text, ref.index),
                    f"{field_path(path)}: reads custom attribute '{ref.name}', which no "
                    "AttributeSchema declares",
                    hint=_or_declare(suggest(ref.name, list(declared))),
                )
            elif ref.namespace is None and ref.name not in STANDARD_TAGS:
                yield Diagnostic(
                    _at(template, path, text, ref.index),
                    f"{field_path(path)}: '${{{ref.name}}}' is not a Braze profile tag",
                    hint=f"a custom attribute reads as custom_attribute.${{{ref.name}}}",
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


def _check_rendering(
    m: Manifests, template: Resource[WebhookTemplateSpec]
) -> Iterator[tuple[Diagnostic, bool]]:
    """The contract check: rendered for its preview user, a JSON body must parse as JSON;
    each finding with whether it is only a note."""
    from reconciler.templates.profile import EMPTY_PROFILE, load_profile
    from reconciler.templates.render import TemplateRenderError, render_request

    spec = template.spec
    if spec.preview_user:
        target = m.path(spec.preview_user)
        if not target.is_file():
            return  # files_exist reports it
        try:
            user = load_profile(target, str(m.root / spec.preview_user))
        except SourceDataError as e:
            yield from ((d, False) for d in e.diagnostics)
            return
    else:
        user = EMPTY_PROFILE
    try:
        request = render_request(template.name, spec, user)
    except TemplateRenderError as e:
        for p in e.problems:
            found = Diagnostic(
                scalar_location(template.doc, p.field, p.line, p.col),
                f"{field_path(p.field)}: {p.message}",
                hint=f"rendered for {user.source}; `reconciler render {template.name}` shows it",
            )
            yield found, False
        return
    if not request.aborted:
        yield from _rokt_event(template, request, user.source)


def _rokt_event(
    template: Resource[WebhookTemplateSpec], request: RenderedRequest, user: str
) -> Iterator[tuple[Diagnostic, bool]]:
    """Rokt Calendar's required event fields (its page), on the rendered request: a wrong
    value is an error, an absent (or, as previewed, empty) field a note."""
    from reconciler.templates.rokt import event_problems, is_subscription_event

    if not is_subscription_event(request.url):
        return
    body = request.json_body
    if body is None:
        try:
            body = json.loads(request.body)
        except json.JSONDecodeError:
            body = None
    for problem in event_problems(request.url, body):
        index = template.spec.body.find(f'"{problem.key}"') if problem.key else -1
        found = Diagnostic(
            _at(template, ("spec", "body"), template.spec.body, index)
            if index >= 0
            else template.at("body"),
            f"spec.body: {problem.message}",
            hint=f"rendered for {user}; `reconciler render {template.name}` shows it",
        )
        yield found, problem.missing
