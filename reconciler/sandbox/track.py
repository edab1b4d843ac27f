"""`POST /users/track`: batch limits, per-object errors inside a 201, the ledger (§1)."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.attributes import AttributeWriter
from reconciler.sandbox.config import OBJECT_LIMIT
from reconciler.sandbox.context import Ctx, fail
from reconciler.sandbox.datapoints import (
    EVENT_POINTS,
    PURCHASE_POINTS,
    custom_points,
    standard_points,
)
from reconciler.sandbox.identity import find_or_create, identify
from reconciler.sandbox.occurrences import (
    check_event,
    check_purchase,
    record_event,
    record_purchase,
)
from reconciler.sandbox.rules import SKIP, ObjectError
from reconciler.sandbox.standard_fields import (
    CONTROL_KEYS,
    IDENTIFIERS,
    IGNORED_KEYS,
    STANDARD_FIELDS,
)
from reconciler.sandbox.store import Profile
from reconciler.sandbox.wire import Reply

_STANDARD_KEYS = frozenset(STANDARD_FIELDS)
_NOT_CUSTOM = CONTROL_KEYS | IDENTIFIERS | IGNORED_KEYS | _STANDARD_KEYS
_DATE_STARTS = frozenset("MTWFS")  # weekday initials of the ctime-like date format
ARRAYS = ("attributes", "events", "purchases")  # processed in this order (api_limits)


class _Batch:
    """One request's bookkeeping: the ledger, the profiles touched, the errors."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.points = 0
        self.errors: list[dict[str, Any]] = []
        self.touched: dict[str, Profile] = {}

    def profile(self, obj: dict[str, Any], input_array: str) -> Profile | None:
        ctx = self.ctx
        lookup = identify(obj, input_array)
        before = len(ctx.ws.users)
        profile = find_or_create(ctx.ws, lookup, ctx.now)
        if profile is not None and profile["braze_id"] not in self.touched:
            created = len(ctx.ws.users) != before
            ctx.visibility.before_write(ctx.ws.name, profile, created)
            self.touched[profile["braze_id"]] = profile
        return profile


def handle(ctx: Ctx) -> Reply:
    body = ctx.body
    if not isinstance(body, dict):
        return fail(400, "Request body must be a JSON object")
    present = [name for name in ARRAYS if name in body]
    if not present:
        return fail(400, "Request must contain 'attributes', 'events' or 'purchases'")
    for name in present:
        if not isinstance(body[name], list):
            return fail(400, f"'{name}' must be an array")
    sizes = [len(body[name]) for name in present]
    over = (
        max(sizes) > OBJECT_LIMIT if ctx.config.legacy_object_limit else sum(sizes) > OBJECT_LIMIT
    )
    if over:
        return fail(400, "Max Input Length Exceeded")
    batch = _Batch(ctx)
    writer = AttributeWriter(ctx.ws.attributes, ctx.config.array_length)
    result: dict[str, Any] = {"message": "success"}
    for name in present:
        accepted = 0
        for index, obj in enumerate(body[name]):
            try:
                if not isinstance(obj, dict):
                    raise ObjectError(f"'{name}' items must be objects")
                if name == "attributes":
                    _attributes(batch, writer, obj)
                elif name == "events":
                    _event(batch, obj)
                else:
                    _purchase(batch, obj)
            except ObjectError as e:
                batch.errors.append({"type": e.type, "input_array": name, "index": index})
                continue
            accepted += 1
        result[f"{name}_processed"] = accepted
    _settle(ctx, batch, writer, sum(sizes))
    if batch.errors:
        result["errors"] = batch.errors
    return Reply(201, result)


def _settle(ctx: Ctx, batch: _Batch, writer: AttributeWriter, total: int) -> None:
    ws = ctx.ws
    for profile in batch.touched.values():
        ws.touch(profile)
    ws.dirty_meta = ws.dirty_meta or writer.schema_changed or bool(batch.points)
    stats = ws.stats
    stats.data_points += batch.points
    stats.rejected_objects += len(batch.errors)
    stats.objects += total - len(batch.errors)
    ctx.visibility.after_write(ws.name, list(batch.touched.values()), ctx.now)


def trim_keys(obj: dict[str, Any]) -> dict[str, Any]:
    """The object with every key trimmed, as Braze trims names sent via the API (§1.5, §10).

    Trimming comes first, so `" external_id "` is the identifier, `" email "` the standard field
    and `" _update_existing_only "` the control key, never custom attributes of those names. Two
    keys that trim to one name are one key sent twice: the later wins, like a duplicated JSON key.
    """
    for key in obj:
        if key[:1].isspace() or key[-1:].isspace():
            return {k.strip(): v for k, v in obj.items()}
    return obj  # the usual case: nothing to trim, no copy


def _attributes(batch: _Batch, writer: AttributeWriter, obj: dict[str, Any]) -> None:
    obj = trim_keys(obj)
    if obj.get("push_token_import") is True:
        _push_token_import(batch, obj)
        return
    has_primary = "external_id" in obj or "user_alias" in obj or "braze_id" in obj
    lookup_key = None if has_primary else ("email" if "email" in obj else "phone")
    standard = [
        (key, STANDARD_FIELDS[key](obj[key]))  # may reject the whole object
        for key in obj.keys() & _STANDARD_KEYS
        if key != lookup_key
    ]
    profile = batch.profile(obj, "attributes")
    if profile is None:
        return  # update-only and nobody matched: queued, nothing written, nothing billed
    points = 0
    ws = batch.ctx.ws
    for key, value in standard:
        points += standard_points(key)
        if value is SKIP:
            continue
        if key == "subscription_groups":
            profile["subscription_groups"].update(value)
        else:
            ws.set_field(profile, key, value)
    attrs = profile["custom_attributes"]
    schema = writer.schema
    merge = obj.get("_merge_objects") is True
    # The hot path of the benchmark: plain values on auto-typed attributes, inlined.
    for name, value in obj.items():  # names already trimmed by trim_keys
        if name in _NOT_CUSTOM:
            continue
        if not name or len(name) > 255 or name[0] == "$":
            continue  # UNCONFIRMED: such names are dropped (and not billed)
        defn = schema.get(name)
        cls = value.__class__
        if (cls is str or cls is int or cls is float or cls is bool) and (
            defn is None or (not defn["forced"] and defn["status"] == "Active")
        ):
            points += 1
            if (
                cls is not str
                or (value[:1].isdigit() or value[:1] in _DATE_STARTS)
                or len(value) > 255
            ):
                writer.write_scalar(attrs, name, value, defn)
            else:
                if defn is None:
                    writer.register(name, "String")
                attrs[name] = value
            continue
        if writer.blocklisted(name):
            continue
        points += custom_points(value)
        writer.write(attrs, name, value, merge)
    batch.points += points


def _push_token_import(batch: _Batch, obj: dict[str, Any]) -> None:
    if "external_id" in obj or "braze_id" in obj:
        raise ObjectError("BAD_PUSH_TOKEN_IMPORT")
    tokens = STANDARD_FIELDS["push_tokens"](obj.get("push_tokens"))
    ws = batch.ctx.ws
    profile = ws.create(batch.ctx.now)  # an anonymous profile holding the tokens
    batch.touched[profile["braze_id"]] = profile
    batch.ctx.visibility.before_write(ws.name, profile, True)
    ws.set_field(profile, "push_tokens", tokens)


def _event(batch: _Batch, obj: dict[str, Any]) -> None:
    event = check_event(obj, batch.ctx.now)
    profile = batch.profile(obj, "events")
    if profile is not None:
        record_event(batch.ctx.ws, profile, event)
        batch.points += EVENT_POINTS


def _purchase(batch: _Batch, obj: dict[str, Any]) -> None:
    purchase = check_purchase(obj, batch.ctx.now)
    profile = batch.profile(obj, "purchases")
    if profile is not None:
        record_purchase(batch.ctx.ws, profile, purchase)
        batch.points += PURCHASE_POINTS
