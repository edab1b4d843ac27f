"""Markers that make comments and issues findable, and fitting bodies under GitHub's limit."""

from __future__ import annotations

import re
from dataclasses import dataclass

# GitHub rejects issue and comment bodies over 65,536 characters.
MAX_BODY = 65_536

_MARKER = re.compile(r"<!-- reconciler:(?P<kind>[a-z-]+):(?P<workspace>[^\s>]+) -->")


@dataclass(frozen=True)
class Marker:
    """`<!-- reconciler:<kind>:<workspace> -->`, hidden in the rendered Markdown."""

    kind: str
    workspace: str

    @property
    def text(self) -> str:
        return f"<!-- reconciler:{self.kind}:{self.workspace} -->"


def find_marker(body: str) -> Marker | None:
    """The first reconciler marker in `body` (the renderers put it on the first line)."""
    m = _MARKER.search(body)
    return Marker(m["kind"], m["workspace"]) if m else None


def parse_marker(text: str) -> Marker | None:
    """A marker given on the command line, with or without the comment brackets."""
    if not text.startswith("<!--"):
        text = f"<!-- {text} -->"
    return find_marker(text)


def _note(artifact_url: str | None) -> str:
    """Where the rest is: the run's job summary and log (artifacts hold only a sealed plan,
    which `reconciler show` renders in full for whoever holds RECONCILER_PLAN_KEY)."""
    where = f"[this run]({artifact_url})" if artifact_url else "the run"
    return (
        "\n\n> [!NOTE]\n> Truncated to fit GitHub's 65,536-character limit: the full report "
        f"is in the job summary and log of {where}; a saved plan renders in full with "
        "`reconciler show PLANFILE`.\n"
    )


def _closers(text: str) -> str:
    """Close what the cut left open, so the rest of the comment still renders."""
    out = ""
    if text.count("```") % 2:
        out += "\n```"
    open_details = text.count("<details>") - text.count("</details>")
    out += "\n\n</details>" * max(open_details, 0)
    return out


def fit_body(body: str, marker: Marker, artifact_url: str | None, limit: int = MAX_BODY) -> str:
    """`body` if it fits, else cut at a line boundary, closed and noted; keeps the marker."""
    if marker.text not in body:
        body = f"{marker.text}\n{body}"
    if len(body) <= limit:
        return body
    note = _note(artifact_url)
    budget = limit - len(note)
    while True:
        cut = body[:budget]
        if "\n" in cut:
            cut = cut[: cut.rfind("\n")]
        text = cut + _closers(cut) + note
        if len(text) <= limit:
            return text
        budget -= len(text) - limit
