"""`POST /users/export/ids`: up to 50 ids, `fields_to_export`, `invalid_user_ids` (§3)."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.context import Ctx, fail
from reconciler.sandbox.store import Profile
from reconciler.sandbox.wire import Reply

MAX_IDS = 50
FIELDS = frozenset(
    """apps attributed_campaign attributed_source attributed_adgroup attributed_ad push_subscribe
    email_subscribe braze_id country created_at custom_attributes custom_events devices dob email
    external_id first_name gender home_city language last_coordinates last_name phone purchases
    push_tokens random_bucket time_zone total_revenue uninstalled_at user_aliases
    campaigns_received canvases_received cards_clicked""".split()
)
_PROFILE_FIELDS = (
    "email", "phone", "first_name", "last_name", "home_city", "dob", "country", "language",
    "gender", "time_zone", "email_subscribe", "push_subscribe", "push_tokens",
)  # fmt: skip


def handle(ctx: Ctx) -> Reply:
    body = ctx.body
    if not isinstance(body, dict):
        return fail(400, "Request body must be a JSON object")
    external_ids = body.get("external_ids", [])
    aliases = body.get("user_aliases", [])
    if not isinstance(external_ids, list) or not all(isinstance(e, str) for e in external_ids):
        return fail(400, "'external_ids' must be an array of strings")
    if not isinstance(aliases, list) or not all(_alias_ok(a) for a in aliases):
        return fail(400, "'user_aliases' must be an array of {alias_name, alias_label}")
    if len(external_ids) + len(aliases) > MAX_IDS:
        return fail(400, "The max number of external_ids and aliases per request was exceeded")
    fields = body.get("fields_to_export")
    if fields is None and ctx.config.require_fields_to_export:
        return fail(400, "'fields_to_export' is required")
    if fields is not None:
        bad = _bad_fields(fields)
        if bad is not None:
            return fail(400, f"Invalid 'fields_to_export': {bad}")
    singles = {k: body.get(k) for k in ("braze_id", "device_id", "email_address", "phone")}
    if any(v is not None and not isinstance(v, str) for v in singles.values()):
        return fail(400, "'braze_id', 'device_id', 'email_address' and 'phone' take one string")
    if not external_ids and not aliases and not any(singles.values()):
        return fail(400, "No user identifiers were provided")
    found, invalid = _find(ctx, external_ids, aliases, singles)
    wanted = frozenset(fields) if fields is not None else FIELDS
    result: dict[str, Any] = {"users": [render(p, wanted) for p in found], "message": "success"}
    if invalid:
        result["invalid_user_ids"] = invalid
    return Reply(200, result)


def _alias_ok(alias: Any) -> bool:
    return (
        isinstance(alias, dict)
        and isinstance(alias.get("alias_name"), str)
        and isinstance(alias.get("alias_label"), str)
    )


def _bad_fields(fields: Any) -> Any:
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        return "must be an array of field names"
    unknown = sorted(set(fields) - FIELDS)
    return unknown or None


def _find(
    ctx: Ctx, external_ids: list[str], aliases: list[dict[str, str]], singles: dict[str, Any]
) -> tuple[list[Profile], list[str]]:
    ws, found, invalid = ctx.ws, [], []
    seen: set[str] = set()

    def add(candidates: list[Profile], label: str) -> None:
        views = [v for p in candidates if (v := ctx.visibility.view(ws.name, p, ctx.now))]
        if not views:
            invalid.append(label)
        for view in views:
            if view["braze_id"] not in seen:
                seen.add(view["braze_id"])
                found.append(view)

    for external_id in external_ids:
        add(_some(ws.external(external_id)), external_id)
    for alias in aliases:
        add(_some(ws.alias(alias["alias_name"], alias["alias_label"])), alias["alias_name"])
    if singles["braze_id"]:
        add(_some(ws.by_braze_id(singles["braze_id"])), singles["braze_id"])
    if singles["device_id"]:
        add([], singles["device_id"])  # the sandbox keeps no devices
    if singles["email_address"]:
        add(ws.email_matches(singles["email_address"]), singles["email_address"])
    if singles["phone"]:
        add(ws.phone_matches(singles["phone"]), singles["phone"])
    return found, invalid


def _some(profile: Profile | None) -> list[Profile]:
    return [] if profile is None else [profile]


def render(profile: Profile, wanted: frozenset[str]) -> dict[str, Any]:
    """The least data possible: only wanted fields, and only those that are set."""
    out: dict[str, Any] = {}
    if "external_id" in wanted and profile["external_id"] is not None:
        out["external_id"] = profile["external_id"]
    for name in ("braze_id", "created_at"):
        if name in wanted:
            out[name] = profile[name]
    if "user_aliases" in wanted and profile["user_aliases"]:
        out["user_aliases"] = profile["user_aliases"]
    fields = profile["fields"]
    for name in _PROFILE_FIELDS:
        if name in wanted and name in fields:
            out[name] = fields[name]
    if "last_coordinates" in wanted and "current_location" in fields:
        out["last_coordinates"] = fields["current_location"]
    if "custom_attributes" in wanted and profile["custom_attributes"]:
        out["custom_attributes"] = profile["custom_attributes"]
    for name in ("custom_events", "purchases"):
        if name in wanted and profile[name]:
            out[name] = [{"name": k, **v} for k, v in profile[name].items()]
    if "total_revenue" in wanted and profile["total_revenue"]:
        out["total_revenue"] = profile["total_revenue"]
    if "random_bucket" in wanted:
        out["random_bucket"] = int(profile["braze_id"][-6:], 16) % 10_000
    return out
