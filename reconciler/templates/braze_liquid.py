"""Braze's Liquid dialect on python-liquid: `${…}` personalization and Braze's own tags."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from liquid import Environment
from liquid.ast import Node
from liquid.exceptions import LiquidError, LiquidSyntaxError
from liquid.tag import Tag
from liquid.token import TOKEN_EXPRESSION, TOKEN_TAG, Token

if TYPE_CHECKING:
    from liquid import BoundTemplate, RenderContext
    from liquid.stream import TokenStream

_PERSONALIZATION = re.compile(r"\$\{([^{}]*)\}")
_TAG_SPAN = re.compile(r"\{%.*?%\}", re.S)
_CUSTOM_ATTRIBUTE = re.compile(r"custom_attribute\.\$\{([^{}]+)\}")
_CONNECTED_CONTENT_TAG = re.compile(r"\{%-?\s*connected_content\b")
_CONTENT_BLOCK = re.compile(r"content_blocks\.\$\{([^{}]+)\}")

CONNECTED_CONTENT_OPTIONS = frozenset(
    {
        ":method",
        ":headers",
        ":body",
        ":content_type",
        ":save",
        ":basic_auth",
        ":retry",
        ":cache_max_age",
        ":cache",
        ":no_cache",
    }
)
_FLAG_OPTIONS = frozenset({":retry", ":no_cache", ":cache"})


class LiquidProblem(ValueError):
    """A Liquid error at a 1-based line and column of the template source."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


@dataclass(frozen=True)
class ConnectedContentCall:
    url: str
    options: dict[str, str]

    @property
    def save(self) -> str | None:
        return self.options.get(":save")

    @property
    def credential(self) -> str | None:
        return self.options.get(":basic_auth")


class ConnectedContentNode(Node):
    """`{% connected_content URL :save var … %}`: never called; `:save` reads a stub."""

    __slots__ = ("call",)

    def __init__(self, token: Token, call: ConnectedContentCall) -> None:
        super().__init__(token)
        self.call = call
        self.blank = False

    def __str__(self) -> str:
        return f"{{% connected_content {self.call.url} %}}"

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        stubs = context.globals.get("__connected_content__")
        if not isinstance(stubs, Mapping):
            stubs = {}
        name = self.call.save
        if name:
            context.assign(name, stubs[name] if name in stubs else Unstubbed(name))
            return 0
        return buffer.write("")


def unstubbed_marker(name: str, path: tuple[str, ...] = ("…",)) -> str:
    return "⟪" + ".".join((name, *path)) + ": connected_content, not stubbed⟫"


class Unstubbed(Mapping[str, Any]):
    """What a `:save` variable with no preview stub holds in a preview: any field of it
    renders as a visible marker (`⟪token.access_token: connected_content, not stubbed⟫`),
    never as an empty string that would pass for a real value."""

    def __init__(self, name: str, path: tuple[str, ...] = ()) -> None:
        self.name, self.path = name, path

    def __getitem__(self, key: str) -> Unstubbed:
        return Unstubbed(self.name, (*self.path, str(key)))

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __str__(self) -> str:
        return unstubbed_marker(self.name, self.path or ("…",))

    def __liquid__(self) -> str:
        return str(self)


def _parse_connected_content(raw: str) -> ConnectedContentCall:
    # Liquid inside the call (`{{…}}`) is kept verbatim; shlex splits the rest.
    try:
        words = shlex.split(raw, posix=True)
    except ValueError as e:
        raise LiquidSyntaxError(f"connected_content: {e}", token=None) from e
    if not words or words[0].startswith(":"):
        raise LiquidSyntaxError("connected_content needs a URL first", token=None)
    url, options, i = words[0], {}, 1
    while i < len(words):
        opt = words[i]
        if opt not in CONNECTED_CONTENT_OPTIONS:
            known = ", ".join(sorted(CONNECTED_CONTENT_OPTIONS))
            raise LiquidSyntaxError(
                f"connected_content: unknown option {opt!r} (known: {known})", token=None
            )
        if opt in _FLAG_OPTIONS:
            options[opt] = "true"
            i += 1
            continue
        if i + 1 >= len(words) or words[i + 1].startswith(":"):
            raise LiquidSyntaxError(f"connected_content: {opt} needs a value", token=None)
        options[opt] = words[i + 1]
        i += 2
    save = options.get(":save")
    if save is not None and not re.fullmatch(r"[A-Za-z_][\w-]*", save):
        raise LiquidSyntaxError(f"connected_content: :save {save!r} is not a name", token=None)
    return ConnectedContentCall(url, options)


class _RawTag(Tag):
    """A Braze tag whose argument is free text, parsed by the subclass."""

    block = False

    def parse(self, stream: TokenStream) -> Node:
        token = stream.eat(TOKEN_TAG)
        raw = ""
        if stream.current.kind == TOKEN_EXPRESSION:
            # Leave the stream on the expression: the parser steps past a tag's last token.
            expr = stream.current
            raw = expr.value
        else:
            expr = token
        try:
            return self.build(token, raw.strip())
        except LiquidSyntaxError as e:
            e.token = expr
            raise

    def build(self, token: Token, raw: str) -> Node:
        raise NotImplementedError


class ConnectedContentTag(_RawTag):
    name = "connected_content"

    def build(self, token: Token, raw: str) -> Node:
        return ConnectedContentNode(token, _parse_connected_content(raw))


class _SilentNode(Node):
    __slots__ = ("text",)

    def __init__(self, token: Token, text: str) -> None:
        super().__init__(token)
        self.text = text
        self.blank = False

    def __str__(self) -> str:
        return self.text

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:  # noqa: ARG002
        return 0


class AbortMessageNode(_SilentNode):
    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:  # noqa: ARG002
        raise MessageAborted(self.text)


class MessageAborted(Exception):
    """`{% abort_message(…) %}` ran: Braze would not send this message."""


class AbortMessageTag(_RawTag):
    name = "abort_message"

    def build(self, token: Token, raw: str) -> Node:
        m = re.fullmatch(r"\(\s*(?:(['\"])(.*?)\1)?\s*\)", raw, re.S)
        if raw and not m:
            raise LiquidSyntaxError('abort_message takes ("reason") or ()', token=None)
        return AbortMessageNode(token, m.group(2) or "" if m else "")


class ContentBlocksTag(_RawTag):
    name = "content_blocks"

    def build(self, token: Token, raw: str) -> Node:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", raw):
            raise LiquidSyntaxError("content_blocks needs a Content Block name", token=None)
        return _SilentNode(token, raw)


def braze_environment() -> Environment:
    env = Environment()
    for tag in (ConnectedContentTag, AbortMessageTag, ContentBlocksTag):
        env.add_tag(tag)
    return env


_ENV = braze_environment()


@dataclass(frozen=True)
class Reference:
    """One `${name}` in the source: `namespace` is the object before it (`custom_attribute` in
    `custom_attribute.${x}`), None for a top-level tag such as `${user_id}`."""

    ident: str
    namespace: str | None
    name: str
    index: int  # 0-based position of the `$` in the source


@dataclass(frozen=True)
class BrazeLiquid:
    """A parsed Braze Liquid source and what it refers to."""

    source: str
    template: BoundTemplate
    personalization: dict[str, str] = field(default_factory=dict)
    """Placeholder identifier → the `${name}` it stands for."""
    custom_attributes: tuple[str, ...] = ()
    content_blocks: tuple[str, ...] = ()
    connected_content: tuple[ConnectedContentCall, ...] = ()
    references: tuple[Reference, ...] = ()


def _line_col(source: str, index: int) -> tuple[int, int]:
    if index < 0 or index > len(source):
        index = max(len(source.rstrip()) - 1, 0)  # "end of template": its last character
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, col


def _rewrite(source: str) -> tuple[str, dict[str, str]]:
    """Same-length rewrite: `${x}` → a placeholder identifier; `{{…}}` inside tags unwrapped."""
    names: dict[str, str] = {}
    out = []
    last = 0
    for n, m in enumerate(_PERSONALIZATION.finditer(source)):
        inner = m.group(1).strip()
        if not inner:
            raise LiquidProblem("empty ${} personalization", *_line_col(source, m.start()))
        width = m.end() - m.start()
        ident = f"_{n:x}".ljust(width, "_")
        if len(ident) > width:
            raise LiquidProblem("too many ${} personalizations", *_line_col(source, m.start()))
        names[ident] = inner
        out.append(source[last : m.start()])
        out.append(ident)
        last = m.end()
    out.append(source[last:])
    text = "".join(out)
    # Braze accepts `{{custom_attribute.${x}}}` inside tags, e.g. in an `assign`.
    return _TAG_SPAN.sub(_unwrap_outputs, text), names


def _unwrap_outputs(tag: re.Match[str]) -> str:
    span = tag.group()
    if _CONNECTED_CONTENT_TAG.match(span):
        return span  # its URL and body keep their Liquid verbatim
    return span.replace("{{", "  ").replace("}}", "  ")


def parse_braze_liquid(source: str) -> BrazeLiquid:
    """Parse Braze Liquid; raise LiquidProblem with the line and column of the first error."""
    text, names = _rewrite(source)
    try:
        template = _ENV.from_string(text)
    except LiquidError as e:
        index = e.token.start_index if e.token is not None else -1
        message = str(e.args[0]) if e.args else type(e).__name__
        raise LiquidProblem(f"Liquid: {message}", *_line_col(source, index)) from e
    calls = tuple(n.call for n in _walk(template.nodes) if isinstance(n, ConnectedContentNode))
    idents = list(names)
    references = tuple(
        Reference(idents[n], _namespace(source, m.start()), m.group(1).strip(), m.start())
        for n, m in enumerate(_PERSONALIZATION.finditer(source))
    )
    return BrazeLiquid(
        source=source,
        template=template,
        personalization=names,
        custom_attributes=tuple(
            dict.fromkeys(m.strip() for m in _CUSTOM_ATTRIBUTE.findall(source))
        ),
        content_blocks=tuple(dict.fromkeys(m.strip() for m in _CONTENT_BLOCK.findall(source))),
        connected_content=calls,
        references=references,
    )


_NAMESPACE_BEFORE = re.compile(r"([A-Za-z_]\w*)\.$")


def _namespace(source: str, index: int) -> str | None:
    m = _NAMESPACE_BEFORE.search(source, max(0, index - 64), index)
    return m.group(1) if m else None


def _walk(nodes: Iterable[Node]) -> list[Node]:
    found: list[Node] = []
    for node in nodes:
        found.append(node)
        found.extend(_walk(node.children(None)))  # type: ignore[arg-type]
    return found
