"""Render a WebhookTemplate for one user: the method, URL, headers and body Braze would send.

Each field (URL, every header value, the body) is rendered on its own, as Braze renders the
fields of a webhook. Braze's Liquid runs on python-liquid (see braze_liquid.py) with:

- `${tag}` and `namespace.${name}` read from the user profile (profile.py);
- array attributes print as Braze prints them: values joined by ", " (filters such as `join`,
  `first`, `[0]` and `size` still see the array);
- `connected_content` is never called: its `:save` variable comes from the template's
  `preview.connected_content` stub, so credentials appear by name only;
- `{% abort_message %}` ends the render with the reason, as Braze would not send it.

The body is rendered node by node, so a position in the output maps back to the template
source: when the Content-Type is JSON and the body does not parse, the error names the line
and column of the template that wrote the offending character.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from liquid.builtin.content import ContentNode
from liquid.exceptions import LiquidError, LiquidInterrupt, StopRender

from reconciler.templates.braze_liquid import (
    BrazeLiquid,
    ConnectedContentCall,
    LiquidProblem,
    MessageAborted,
    parse_braze_liquid,
    unstubbed_marker,
)
from reconciler.templates.profile import UserProfile

if TYPE_CHECKING:  # manifests imports this module for its contract rule
    from reconciler.manifests.kinds import WebhookTemplateSpec

ARRAY_SEPARATOR = ", "


class BrazeArray(tuple[Any, ...]):
    """An array attribute: a sequence for filters and loops, ", "-joined when printed."""

    __slots__ = ()

    def __str__(self) -> str:
        return ARRAY_SEPARATOR.join(_text(v) for v in self)

    def __liquid__(self) -> list[Any]:
        """What Liquid compares (`== empty`, `== other_array`): a plain list."""
        return list(self)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def liquid_value(v: Any) -> Any:
    """A profile value as Braze's Liquid sees it (arrays wrapped, objects kept, recursively)."""
    if isinstance(v, list):
        return BrazeArray(liquid_value(x) for x in v)
    if isinstance(v, dict):
        return {k: liquid_value(x) for k, x in v.items()}
    return v


@dataclass(frozen=True)
class FieldProblem:
    """A problem in one field of the template, at a 1-based line and column of its source."""

    field: tuple[str, ...]  # ("spec", "body"), ("spec", "headers", "Authorization") …
    message: str
    line: int
    col: int


class TemplateRenderError(ValueError):
    """Rendering failed: every problem, located in its field's source. `partial` is the
    request as rendered when only the contract check failed (so it can still be shown)."""

    def __init__(
        self, problems: list[FieldProblem], partial: RenderedRequest | None = None
    ) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems
        self.partial = partial


@dataclass(frozen=True)
class Rendered:
    """One field's output and, for JSON checks, which source index wrote which output span."""

    text: str
    spans: tuple[tuple[int, int, int], ...] = ()  # (output start, output end, source start)


@dataclass(frozen=True)
class RenderedRequest:
    """The request Braze would send for one user, or why it would not send one."""

    template: str
    user: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: str
    content_type: str | None
    credentials: tuple[str, ...] = ()
    connected_content: tuple[ConnectedContentCall, ...] = ()
    aborted: str | None = None
    json_body: Any = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_json(self) -> bool:
        return is_json_content_type(self.content_type)


def is_json_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def content_type_of(headers: Mapping[str, str]) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == "content-type"), None)


def template_fields(spec: WebhookTemplateSpec) -> Iterable[tuple[tuple[str, ...], str]]:
    """Every Liquid field of a template with its manifest path."""
    yield ("spec", "url"), spec.url
    for name, value in spec.headers.items():
        yield ("spec", "headers", name), value
    if spec.body:
        yield ("spec", "body"), spec.body


def render_request(name: str, spec: WebhookTemplateSpec, user: UserProfile) -> RenderedRequest:
    """Render every field for `user`; TemplateRenderError lists every located problem."""
    stubs = spec.preview.connected_content
    problems: list[FieldProblem] = []
    out: dict[tuple[str, ...], Rendered] = {}
    calls: list[ConnectedContentCall] = []
    warnings: list[str] = []
    aborted: str | None = None
    for path, source in template_fields(spec):
        try:
            parsed = parse_braze_liquid(source)
            calls.extend(parsed.connected_content)
            warnings += _missing_stubs(parsed, stubs, path)
            out[path] = render_field(parsed, user, stubs)
        except LiquidProblem as e:
            problems.append(FieldProblem(path, e.message, e.line, e.col))
        except MessageAborted as e:
            aborted = aborted or (str(e) or "abort_message() without a reason")
    if problems:
        raise TemplateRenderError(problems)
    headers = {k: out[("spec", "headers", k)].text.strip() for k in spec.headers if not aborted}
    body = out.get(("spec", "body"), Rendered("")) if not aborted else Rendered("")
    content_type = content_type_of(spec.headers)
    request = RenderedRequest(
        template=name,
        user=user.source,
        method=spec.method,
        url=out[("spec", "url")].text.strip() if not aborted else "",
        headers=headers,
        body=body.text,
        content_type=content_type,
        credentials=tuple(spec.credentials),
        connected_content=tuple(calls),
        aborted=aborted,
        warnings=tuple(warnings),
    )
    if aborted or not is_json_content_type(content_type) or not spec.body:
        return request
    try:
        parsed_body = json.loads(body.text)
    except json.JSONDecodeError as e:
        line, col = source_position(spec.body, body, e.pos)
        raise TemplateRenderError(
            [
                FieldProblem(
                    ("spec", "body"),
                    f"the rendered body is not valid JSON ({e.msg}, rendered line {e.lineno} "
                    f"column {e.colno}) but Content-Type is {content_type}",
                    line,
                    col,
                )
            ],
            partial=request,
        ) from e
    return RenderedRequest(**{**request.__dict__, "json_body": parsed_body})


def _missing_stubs(
    parsed: BrazeLiquid, stubs: Mapping[str, Any], path: tuple[str, ...]
) -> list[str]:
    return [
        f"{'.'.join(path)}: connected_content :save {c.save} has no preview stub; its fields "
        f"render as {unstubbed_marker(c.save)} (declare "
        f"spec.preview.connected_content.{c.save} to preview real ones)"
        for c in parsed.connected_content
        if c.save and c.save not in stubs
    ]


def render_field(parsed: BrazeLiquid, user: UserProfile, stubs: Mapping[str, Any]) -> Rendered:
    """Render one parsed field; LiquidProblem (located) or MessageAborted on failure."""
    template = parsed.template
    context = template.context_class(
        template, globals=template.make_globals(_globals(parsed, user, stubs))
    )
    buffer = io.StringIO()
    spans: list[tuple[int, int, int]] = []
    for node in template.nodes:
        start = buffer.tell()
        try:
            node.render(context, buffer)
        except StopRender:
            break
        except (LiquidError, LiquidInterrupt) as e:
            token = getattr(e, "token", None) or node.token
            line, col = _line_col(parsed.source, token.start_index)
            raise LiquidProblem(f"Liquid: {e.args[0] if e.args else e}", line, col) from e
        spans.append((start, buffer.tell(), _source_start(parsed.source, node)))
    return Rendered(_restore(buffer.getvalue(), parsed), tuple(spans))


def _globals(parsed: BrazeLiquid, user: UserProfile, stubs: Mapping[str, Any]) -> dict[str, Any]:
    """Each `${…}` placeholder bound to its profile value, in its namespace."""
    top: dict[str, Any] = {"__connected_content__": {k: liquid_value(v) for k, v in stubs.items()}}
    scopes: dict[str, dict[str, Any]] = {}
    for ref in parsed.references:
        value = liquid_value(user.value(ref.namespace, ref.name))
        if value is None:
            continue  # unset: Liquid's undefined (prints nothing, `| join` gives "", == nil)
        if ref.namespace is None:
            top[ref.ident] = value
        else:
            scopes.setdefault(ref.namespace, {})[ref.ident] = value
    top.update(scopes)
    return top


def _restore(text: str, parsed: BrazeLiquid) -> str:
    """Placeholders that reached the output as text (e.g. after `{{ '{{' }}`) read `${name}`."""
    for ident, name in parsed.personalization.items():
        if ident in text:
            text = text.replace(ident, "${" + name + "}")
    return text


def _source_start(source: str, node: Any) -> int:
    """Where a node's output starts in the source: a content node's text is verbatim (after
    whitespace control), any other node maps to its tag."""
    start = int(node.token.start_index)
    if isinstance(node, ContentNode) and node.text:
        found = source.find(node.text, start)
        if found >= 0:
            return found
    return start


def source_position(source: str, rendered: Rendered, pos: int) -> tuple[int, int]:
    """The template (line, col) that wrote output position `pos` (the end maps to the last)."""
    for out_start, out_end, src_start in rendered.spans:
        if out_start <= pos < out_end:
            return _line_col(
                source,
                src_start + (pos - out_start)
                if _verbatim(source, rendered.text, out_start, out_end, src_start)
                else src_start,
            )
    return _line_col(source, len(source.rstrip()) - 1 if source.strip() else 0)


def _verbatim(source: str, text: str, out_start: int, out_end: int, src_start: int) -> bool:
    return source[src_start : src_start + (out_end - out_start)] == text[out_start:out_end]


def _line_col(source: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(source)))
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1
