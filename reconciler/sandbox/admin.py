"""Sandbox-only `/_sandbox/*` endpoints: ledger, reset, debugging, faults and live settings."""

from __future__ import annotations

import json
from typing import Any

from reconciler.sandbox.context import fail
from reconciler.sandbox.faults import parse_schedule
from reconciler.sandbox.runtime import Runtime
from reconciler.sandbox.store import Workspace
from reconciler.sandbox.wire import Reply, Scope, header, read_body

PREFIX = "/_sandbox/"
USERS = "/_sandbox/users/"
DATA_TYPES = ("String", "Number", "Boolean", "Date", "Array", "Object", "Object Array")


async def dispatch(rt: Runtime, scope: Scope, receive: Any) -> Reply:
    """Every admin call needs a valid key (any permission) and acts on that key's workspace."""
    key = rt.keyring.lookup(header(scope, b"authorization"))
    if key is None:
        return fail(401, "Unauthorized: missing or invalid API key")
    body: Any = None
    if scope["method"] == "POST":
        raw = await read_body(receive, 4 * 1024 * 1024)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return fail(400, "body must be JSON")
    ws = rt.workspaces.get(key.workspace)
    try:
        reply = _route(rt, ws, scope["method"], scope["path"], body)
    except ValueError as e:
        return fail(400, str(e))
    if rt.workspaces.all.get(ws.name) is ws:  # after a reset `ws` is gone; don't resurrect it
        rt.workspaces.flush(ws)
    return reply


def _route(rt: Runtime, ws: Workspace, method: str, path: str, body: Any) -> Reply:
    if path.startswith(USERS) and len(path) > len(USERS):
        external_id = path[len(USERS) :]
        if method == "GET":
            return _get_user(ws, external_id)
        if method == "POST":
            return _write_behind_our_back(rt, ws, external_id, _obj(body))
    name = path[len(PREFIX) :]
    if method == "GET" and name == "stats":
        return Reply(200, ws.stats.as_dict())
    if method == "POST" and name == "reset":
        rt.reset()
        return Reply(200, {"message": "reset"})
    if method == "GET" and name == "events":
        return Reply(200, _occurrences(ws))
    if name == "faults" and method in ("GET", "POST"):
        if method == "POST":
            b = _obj(body)
            rt.faults.set_schedule(
                parse_schedule(b.get("fail_requests", []), b.get("status", 503), b.get("when"))
            )
        return Reply(200, rt.faults.describe())
    if name == "config" and method in ("GET", "POST"):
        if method == "POST":
            rt.configure(rt.config.updated(_obj(body)))
        return Reply(200, rt.config.as_dict() | {"buckets": rt.limiter.limits()})
    if method == "POST" and name == "custom_attributes":
        return _define_attribute(ws, _obj(body))
    if method == "POST" and name == "tags":
        tags = _obj(body).get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError("tags must be a list of strings")
        ws.tags.update(tags)
        ws.dirty_meta = True
        return Reply(200, {"tags": sorted(ws.tags)})
    return fail(404, f"no sandbox endpoint {method} {path}")


def _obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _get_user(ws: Workspace, external_id: str) -> Reply:
    profile = ws.external(external_id)
    if profile is None:
        return fail(404, f"no user with external_id {external_id!r}")
    return Reply(200, {"user": profile})


def _write_behind_our_back(
    rt: Runtime, ws: Workspace, external_id: str, body: dict[str, Any]
) -> Reply:
    """Set raw values as if changed in the dashboard: no ledger, no schema, no delay."""
    custom = body.get("custom_attributes", {})
    fields = body.get("fields", {})
    if not isinstance(custom, dict) or not isinstance(fields, dict):
        raise ValueError("custom_attributes and fields must be objects")
    profile = ws.external(external_id) or ws.create(rt.clock(), external_id=external_id)
    for name, value in custom.items():
        if value is None:
            profile["custom_attributes"].pop(name, None)
        else:
            profile["custom_attributes"][name] = value
    for name, value in fields.items():
        ws.set_field(profile, name, value)
    ws.touch(profile)
    return Reply(200, {"user": profile})


def _occurrences(ws: Workspace) -> dict[str, Any]:
    return {
        "events": [o for o in ws.occurrences if o["type"] == "event"],
        "purchases": [o for o in ws.occurrences if o["type"] == "purchase"],
    }


def _define_attribute(ws: Workspace, body: dict[str, Any]) -> Reply:
    """What the dashboard does: pre-create an attribute with a forced type, or blocklist one."""
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("name is required")
    data_type = body.get("data_type", "String")
    if data_type not in DATA_TYPES:
        raise ValueError(f"data_type must be one of {list(DATA_TYPES)}")
    array_length = body.get("array_length")
    if array_length is not None and (not isinstance(array_length, int) or array_length < 0):
        raise ValueError("array_length must be a non-negative integer")
    ws.attributes[name] = {
        "data_type": data_type,
        "array_length": array_length,
        "description": body.get("description"),
        "status": "Blocklisted" if body.get("blocklisted") else "Active",
        "tag_names": list(body.get("tag_names", [])),
        "forced": True,
    }
    ws.dirty_meta = True
    return Reply(200, {"attribute": {"name": name, **ws.attributes[name]}})
