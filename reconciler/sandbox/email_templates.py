"""Email templates (HTML only): create, update, list and info; there is no delete (§5.2)."""

from __future__ import annotations

import uuid
from typing import Any

from reconciler.sandbox.context import Ctx, fail
from reconciler.sandbox.dates import format_time, from_epoch
from reconciler.sandbox.liquid_check import referenced_blocks
from reconciler.sandbox.listing import ListError, tags_error, window
from reconciler.sandbox.store import Workspace
from reconciler.sandbox.wire import Reply

MAX_BODY_BYTES = 400 * 1024
FIELDS = ("template_name", "subject", "body", "plaintext_body", "preheader", "tags")


def create(ctx: Ctx) -> Reply:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if not isinstance(body.get("template_name"), str) or not body["template_name"].strip():
        return fail(400, "Template name is required")
    if not isinstance(body.get("subject"), str) or not body["subject"].strip():
        return fail(400, "Subject is required")
    if not isinstance(body.get("body"), str) or not body["body"].strip():
        return fail(400, "Body is required")
    error = _common_error(ctx.ws, body)
    if error:
        return fail(400, error)
    template_id = str(uuid.uuid4())
    stamp = format_time(from_epoch(ctx.now))
    ctx.ws.email_templates[template_id] = {
        "email_template_id": template_id,
        "template_name": body["template_name"],
        "description": body.get("description"),
        "subject": body["subject"],
        "preheader": body.get("preheader"),
        "body": body["body"],
        "plaintext_body": body.get("plaintext_body"),
        "should_inline_css": body.get("should_inline_css", False),
        "tags": list(body.get("tags") or []),
        "created_at": stamp,
        "updated_at": stamp,
        "_modified": ctx.now,
    }
    ctx.ws.dirty_meta = True
    return Reply(201, {"email_template_id": template_id, "message": "success"})


def update(ctx: Ctx) -> Reply:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    template, missing = _lookup(ctx, body.get("email_template_id"))
    if template is None:
        return fail(400, missing)
    if not any(k in body for k in (*FIELDS, "should_inline_css")):
        return fail(400, "Nothing to update: send at least one template field")
    if "template_name" in body and (
        not isinstance(body["template_name"], str) or not body["template_name"].strip()
    ):
        return fail(400, "Template name is required")
    error = _common_error(ctx.ws, body)
    if error:
        return fail(400, error)
    for key in (*FIELDS, "should_inline_css", "description"):
        if key in body:
            template[key] = list(body[key]) if key == "tags" else body[key]
    template["updated_at"] = format_time(from_epoch(ctx.now))
    template["_modified"] = ctx.now
    ctx.ws.dirty_meta = True
    return Reply(200, {"email_template_id": template["email_template_id"], "message": "success"})


def list_templates(ctx: Ctx) -> Reply:
    try:
        chosen = window(ctx.query, list(ctx.ws.email_templates.values()), "Template")
    except ListError as e:
        return fail(400, str(e))
    rows = [
        {k: t[k] for k in ("email_template_id", "template_name", "created_at", "updated_at")}
        | {"tags": list(t["tags"])}
        for t in chosen
    ]
    return Reply(200, {"count": len(rows), "templates": rows, "message": "success"})


def info(ctx: Ctx) -> Reply:
    template, error = _lookup(ctx, ctx.query.get("email_template_id"))
    if template is None:
        return fail(400, error)
    out = {k: v for k, v in template.items() if not k.startswith("_")}
    out["tags"] = list(template["tags"])
    return Reply(200, out | {"message": "success"})


def _lookup(ctx: Ctx, template_id: Any) -> tuple[dict[str, Any] | None, str]:
    if not isinstance(template_id, str) or not template_id.strip():
        return None, "Email template ID cannot be blank"
    template = ctx.ws.email_templates.get(template_id)
    return template, "" if template else "Email template ID is invalid for this workspace"


def _common_error(ws: Workspace, body: dict[str, Any]) -> str | None:
    if "body" in body:
        if not isinstance(body["body"], str):
            return "Body must be a string"
        if len(body["body"].encode("utf-8")) > MAX_BODY_BYTES:
            return "Body must be smaller than 400kb"
        names = {b["name"] for b in ws.content_blocks.values()}
        if not referenced_blocks(body["body"]) <= names:
            return "Email must have valid Content Block names"
    if "should_inline_css" in body and not isinstance(body["should_inline_css"], bool):
        return "Invalid value for should_inline_css. One of true or false was expected"
    return tags_error(ws, body.get("tags"))
