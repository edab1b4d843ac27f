"""Content blocks: create, update, list and info with Braze's validation messages (§5.3)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from reconciler.sandbox.context import Ctx, fail
from reconciler.sandbox.dates import format_time, from_epoch
from reconciler.sandbox.liquid_check import is_well_formed, referenced_blocks
from reconciler.sandbox.listing import ListError, tags_error, window
from reconciler.sandbox.wire import Reply

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_CONTENT_BYTES = 50 * 1024
_HTML = re.compile(r"<[A-Za-z!/][^>]*>")


def create(ctx: Ctx) -> Reply:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    state = body.get("state", "active")
    error = (
        _name_error(ctx, body.get("name"), None)
        or _content_error(body.get("content"), body.get("name"))
        or _description_error(body)
        or _state_error(state)
        or tags_error(ctx.ws, body.get("tags"))
    )
    if error:
        return fail(400, error)
    block_id = str(uuid.uuid4())
    stamp = format_time(from_epoch(ctx.now))
    ctx.ws.content_blocks[block_id] = {
        "content_block_id": block_id,
        "name": body["name"],
        "content": body["content"],
        "description": body.get("description"),
        "state": state,
        "tags": list(body.get("tags") or []),
        "created_at": stamp,
        "last_edited": stamp,
        "_modified": ctx.now,
    }
    ctx.ws.dirty_meta = True
    return Reply(201, _summary(ctx.ws.content_blocks[block_id]))


def update(ctx: Ctx) -> Reply:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    block, missing = _lookup(ctx, body.get("content_block_id"))
    if block is None:
        return fail(400, missing)
    name = body.get("name", block["name"])
    if "name" in body and name != block["name"] and block["state"] == "active":
        return fail(400, "Content Block name cannot be updated for active Content Blocks")
    state = body.get("state", block["state"])
    error = (
        (_name_error(ctx, name, block["content_block_id"]) if "name" in body else None)
        or _content_error(body.get("content", block["content"]), name)
        or _description_error(body)
        or _state_error(state)
        or tags_error(ctx.ws, body.get("tags"))
    )
    if error:
        return fail(400, error)
    if block["state"] == "active" and state == "draft":
        return fail(
            400, "Active Content Block can not be updated to Draft. Create a new Content Block."
        )
    for key in ("name", "content", "description", "tags"):
        if key in body:
            block[key] = list(body[key]) if key == "tags" else body[key]
    block["state"] = state
    block["last_edited"] = format_time(from_epoch(ctx.now))
    block["_modified"] = ctx.now
    ctx.ws.dirty_meta = True
    return Reply(200, _summary(block))


def list_blocks(ctx: Ctx) -> Reply:
    try:
        chosen = window(ctx.query, list(ctx.ws.content_blocks.values()), "Content Block")
    except ListError as e:
        return fail(400, str(e))
    rows = [
        {
            "content_block_id": b["content_block_id"],
            "name": b["name"],
            "content_type": _content_type(b["content"]),
            "liquid_tag": _liquid_tag(b["name"]),
            "inclusion_count": 0,
            "created_at": b["created_at"],
            "last_edited": b["last_edited"],
            "tags": list(b["tags"]),
        }
        for b in chosen
    ]
    return Reply(200, {"count": len(rows), "content_blocks": rows, "message": "success"})


def info(ctx: Ctx) -> Reply:
    block, error = _lookup(ctx, ctx.query.get("content_block_id"))
    if block is None:
        return fail(400, error)
    out = {
        "content_block_id": block["content_block_id"],
        "name": block["name"],
        "content": block["content"],
        "description": block["description"],
        "content_type": _content_type(block["content"]),
        "tags": list(block["tags"]),
        "created_at": block["created_at"],
        "last_edited": block["last_edited"],
        "inclusion_count": 0,
        "state": block["state"],
        "message": "success",
    }
    if ctx.query.get("include_inclusion_data", "").lower() == "true":
        out["inclusion_data"] = []
    return Reply(200, out)


def _lookup(ctx: Ctx, block_id: Any) -> tuple[dict[str, Any] | None, str]:
    if not isinstance(block_id, str) or not block_id.strip():
        return None, "Content Block ID cannot be blank"
    block = ctx.ws.content_blocks.get(block_id)
    return block, "" if block else "Content Block ID is invalid for this workspace"


def _name_error(ctx: Ctx, name: Any, own_id: str | None) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "Content Block name cannot be blank"
    if len(name) >= 100:
        return "Content Block name must be shorter than 100 characters"
    if not _NAME.match(name):
        return "Content Block name can only contain alphanumeric characters"
    for block in ctx.ws.content_blocks.values():
        if block["name"] == name and block["content_block_id"] != own_id:
            return "Content Block with this name already exists"
    return None


def _content_error(content: Any, name: Any) -> str | None:
    if content is None or (isinstance(content, str) and not content.strip()):
        return "Content cannot be blank"
    if not isinstance(content, str):
        return "Content must be a string"
    if len(content.encode("utf-8")) >= MAX_CONTENT_BYTES:
        return "Content must be smaller than 50kb"
    if not is_well_formed(content):
        return "Content contains malformed liquid"
    if isinstance(name, str) and name in referenced_blocks(content):
        return "Content Block cannot be referenced within itself"
    return None


def _description_error(body: dict[str, Any]) -> str | None:
    if "description" not in body or body["description"] is None:
        return None
    description = body["description"]
    if not isinstance(description, str) or not description.strip():
        return "Content Block description cannot be blank"
    if len(description) >= 250:
        return "Content Block description must be shorter than 250 characters"
    return None


def _state_error(state: Any) -> str | None:
    if state not in ("active", "draft"):
        return "Content Block state must be either active or draft"
    return None


def _summary(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "content_block_id": block["content_block_id"],
        "liquid_tag": _liquid_tag(block["name"]),
        "created_at": block["created_at"],
        "message": "success",
    }


def _liquid_tag(name: str) -> str:
    return "{{content_blocks.${" + name + "}}}"


def _content_type(content: str) -> str:
    return "html" if _HTML.search(content) else "text"
