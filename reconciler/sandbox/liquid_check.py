"""A Braze-tolerant Liquid well-formedness check (Braze adds tags and `${name}` handles)."""

from __future__ import annotations

import re

BLOCKS = {
    "if": "endif",
    "unless": "endunless",
    "for": "endfor",
    "case": "endcase",
    "capture": "endcapture",
    "comment": "endcomment",
    "tablerow": "endtablerow",
}
_BRANCHES = {"else": {"if", "unless", "for", "case"}, "elsif": {"if", "unless"}, "when": {"case"}}
_OPEN = re.compile(r"\{\{|\{%")
_REFERENCE = re.compile(r"content_blocks\.\$\{\s*([A-Za-z0-9_-]+)\s*\}")


def is_well_formed(text: str) -> bool:
    """Delimiters close, blocks nest and end, branches sit inside their block."""
    stack: list[str] = []
    pos = 0
    while (m := _OPEN.search(text, pos)) is not None:
        closer = "}}" if m.group() == "{{" else "%}"
        end = text.find(closer, m.end())
        if end < 0:
            return False
        inner = text[m.end() : end].strip("-").strip()
        pos = end + 2
        if not inner:
            return False
        if closer == "}}":
            continue
        tag = inner.split()[0]
        if tag == "raw":
            close = re.compile(r"\{%-?\s*endraw\s*-?%\}").search(text, pos)
            if close is None:
                return False
            pos = close.end()
        elif tag in BLOCKS:
            stack.append(tag)
        elif tag.startswith("end"):
            if not stack or BLOCKS[stack.pop()] != tag:
                return False
        elif tag in _BRANCHES and (not stack or stack[-1] not in _BRANCHES[tag]):
            return False
    return not stack


def referenced_blocks(text: str) -> set[str]:
    """Content block names used as `{{content_blocks.${name}}}`."""
    return set(_REFERENCE.findall(text))
