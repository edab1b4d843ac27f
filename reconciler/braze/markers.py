"""Read the event-batch markers back through /users/export/ids (see reconciler.apply.events).

A marker token on a profile proves that the request which carried it reached Braze; this is
how apply settles a request whose answer was lost without ever sending an event twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.braze.client import EXPORT_IDS_PATH, EXPORT_IDS_PER_REQUEST, BrazeClient
from reconciler.plan.event_model import MARKER_ATTRIBUTE

UserKey = tuple[str, str]


async def read_markers(client: BrazeClient, users: Sequence[UserKey]) -> dict[UserKey, list[str]]:
    """Each user's marker tokens (empty when Braze does not know the user or the attribute)."""
    out: dict[UserKey, list[str]] = {u: [] for u in users}
    external = sorted({u for kind, u in users if kind == "external_id"})
    for start in range(0, len(external), EXPORT_IDS_PER_REQUEST):
        chunk = external[start : start + EXPORT_IDS_PER_REQUEST]
        payload: dict[str, Any] = {
            "external_ids": chunk,
            "fields_to_export": ["external_id", "custom_attributes"],
        }
        body, _ = await client.post_json(EXPORT_IDS_PATH, payload)
        for user in _users(body):
            out[("external_id", str(user.get("external_id")))] = _tokens(user)
    for kind, user_id in users:
        if kind == "braze_id":
            payload = {"braze_id": user_id, "fields_to_export": ["braze_id", "custom_attributes"]}
            body, _ = await client.post_json(EXPORT_IDS_PATH, payload)
            found = _users(body)
            out[(kind, user_id)] = _tokens(found[0]) if found else []
    return out


def _users(body: Any) -> list[Mapping[str, Any]]:
    users = body.get("users") if isinstance(body, dict) else None
    return [u for u in users or [] if isinstance(u, dict)]


def _tokens(user: Mapping[str, Any]) -> list[str]:
    custom = user.get("custom_attributes")
    value = custom.get(MARKER_ATTRIBUTE) if isinstance(custom, dict) else None
    return [str(t) for t in value] if isinstance(value, list) else []
