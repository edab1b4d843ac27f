"""Shared rules of the template endpoints: tag checks and `limit`/`offset`/`modified_*` lists."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.dates import parse_date
from reconciler.sandbox.store import Workspace

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class ListError(ValueError):
    """A bad list parameter; the message is Braze's."""


def tags_error(ws: Workspace, tags: Any) -> str | None:
    """Tags must exist beforehand (reference §11.16); None when they are fine."""
    if tags is None:
        return None
    if not isinstance(tags, list):
        return "Tags must be an array"
    if not all(isinstance(t, str) for t in tags):
        return "All tags must be strings"
    if not set(tags) <= ws.tags:
        return "Some tags could not be found"
    return None


def window(query: dict[str, str], records: list[dict[str, Any]], noun: str) -> list[dict[str, Any]]:
    """Filter by `modified_after`/`modified_before`, then page by `offset` and `limit`."""
    after = _instant(query.get("modified_after"), "Modified after time is invalid")
    before = _instant(query.get("modified_before"), "Modified before time is invalid")
    limit = _integer(query.get("limit"), DEFAULT_LIMIT, f"{noun} number limit is invalid")
    if limit > MAX_LIMIT:
        raise ListError(f"{noun} number limit exceeds maximum of {MAX_LIMIT}")
    if limit < 1:
        raise ListError(f"{noun} number limit is invalid")
    offset = _integer(query.get("offset"), 0, "Offset is invalid")
    chosen = [
        r
        for r in records
        if (after is None or r["_modified"] >= after)
        and (before is None or r["_modified"] <= before)
    ]
    return chosen[offset : offset + limit]


def _instant(raw: str | None, message: str) -> float | None:
    if raw is None or raw == "":
        return None
    when = parse_date(raw)
    if when is None:
        raise ListError(message)
    return when.timestamp()


def _integer(raw: str | None, default: int, message: str) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ListError(message)
    return int(raw)
