"""The workspace schema: `GET /custom_attributes`, `GET /events`, `GET /events/list` (§4)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from reconciler.sandbox.context import Ctx, fail
from reconciler.sandbox.wire import Reply

CURSOR_PAGE = 50
LIST_PAGE = 250


def custom_attributes(ctx: Ctx) -> Reply:
    def row(name: str, defn: dict[str, Any]) -> dict[str, Any]:
        array_length = defn["array_length"]
        if array_length is None and defn["data_type"].startswith("Array"):
            array_length = ctx.config.array_length
        return {
            "name": name,
            "description": defn["description"],
            "data_type": defn["data_type"],
            "array_length": array_length,
            "status": defn["status"],
            "tag_names": list(defn["tag_names"]),
        }

    return _cursor_page(ctx, "attributes", ctx.ws.attributes, row)


def events(ctx: Ctx) -> Reply:
    def row(name: str, defn: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, **defn, "tag_names": list(defn["tag_names"])}

    return _cursor_page(ctx, "events", ctx.ws.event_names, row)


def events_list(ctx: Ctx) -> Reply:
    raw = ctx.query.get("page", "0") or "0"
    if not raw.isdigit():
        return fail(400, "'page' must be a non-negative integer")
    page = int(raw)
    names = sorted(ctx.ws.event_names)
    return Reply(
        200,
        {"message": "success", "events": names[page * LIST_PAGE : (page + 1) * LIST_PAGE]},
    )


def _cursor_page(ctx: Ctx, key: str, table: dict[str, dict[str, Any]], row: Any) -> Reply:
    """50 per page, alphabetical; the next/prev pages are in a path-only `Link` header."""
    names = sorted(table)
    start = 0
    cursor = ctx.query.get("cursor")
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("skip:"))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return fail(400, "Invalid cursor")
        if start < 0 or start % CURSOR_PAGE:
            return fail(400, "Invalid cursor")
    page = names[start : start + CURSOR_PAGE]
    links = []
    if start > 0:
        links.append(_link(ctx.path, max(0, start - CURSOR_PAGE), "prev"))
    if start + CURSOR_PAGE < len(names):
        links.append(_link(ctx.path, start + CURSOR_PAGE, "next"))
    headers = [(b"link", ", ".join(links).encode())] if links else []
    body = {"message": "success", key: [row(n, table[n]) for n in page]}
    return Reply(200, body, headers)


def _link(path: str, start: int, rel: str) -> str:
    cursor = base64.urlsafe_b64encode(f"skip:{start}".encode()).decode()
    return f'<{path}?cursor={cursor}>; rel="{rel}"'
