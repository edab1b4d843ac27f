"""Nested custom attributes and arrays of objects: validation and deep merge (reference §1.5)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.sandbox.dates import format_time, parse_date
from reconciler.sandbox.rules import MAX_STRING

MAX_OBJECT_BYTES = 100 * 1024
_BAD_KEY_CHARS = (" ", ".", "$")


class InvalidNested(ValueError):
    """A nested value Braze would drop, taking every update of that attribute with it."""


def clean_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A validated copy with `{"$time": ...}` turned into the sandbox's time spelling."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not key or len(key) > MAX_STRING or any(c in key for c in _BAD_KEY_CHARS):
            raise InvalidNested(f"bad nested key {key!r}")
        out[key] = _clean_value(value)
    return out


def _clean_value(value: Any) -> Any:
    if value is None:
        raise InvalidNested("null inside a nested object")
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise InvalidNested("nested string over 255 characters")
        return value
    if isinstance(value, dict):
        if set(value) == {"$time"}:
            when = parse_date(value["$time"]) if isinstance(value["$time"], str) else None
            if when is None:
                raise InvalidNested("bad $time")
            return format_time(when)
        return clean_object(value)
    if isinstance(value, list):
        return [_clean_value(v) for v in value]
    return value


def check_size(value: Any) -> None:
    if len(json.dumps(value, separators=(",", ":"))) > MAX_OBJECT_BYTES:
        raise InvalidNested("object over 100 KB")


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Merge `update` into a copy of `base`, all levels deep (`_merge_objects: true`)."""
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        merged[key] = (
            deep_merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return merged


def apply_object_array_ops(
    current: Any, ops: dict[str, Any], merge_objects: bool
) -> list[dict[str, Any]]:
    """`$add` → `$remove` → `$update`, in that order; raises InvalidNested to drop them all."""
    items = [dict(i) for i in current] if isinstance(current, list) else []
    items = [i for i in items if isinstance(i, dict)]
    adds = ops.get("$add", [])
    removes = ops.get("$remove", [])
    updates = ops.get("$update", [])
    if not all(isinstance(x, list) for x in (adds, removes, updates)):
        raise InvalidNested("$add/$remove/$update take arrays")
    items += [clean_object(a) if isinstance(a, dict) else _bad("$add item") for a in adds]
    for rm in removes:
        key, value = _identifier(rm)
        items = [i for i in items if i.get(key) != value]  # removes every match
    return _updates(items, updates, merge_objects)


def _updates(
    items: list[dict[str, Any]], updates: list[Any], merge_objects: bool
) -> list[dict[str, Any]]:
    if updates and not merge_objects:
        return items  # `$update` needs `_merge_objects: true`; without it nothing changes
    for upd in updates:
        key, value = _identifier(upd)
        new = upd.get("$new_object")
        if not isinstance(new, dict):
            raise InvalidNested("$update needs $new_object")
        new = clean_object(new)
        items = [deep_merge(i, new) if i.get(key) == value else i for i in items]
    return items


def _identifier(op: Any) -> tuple[str, Any]:
    if not isinstance(op, dict) or not isinstance(op.get("$identifier_key"), str):
        raise InvalidNested("missing $identifier_key")
    if "$identifier_value" not in op:
        raise InvalidNested("missing $identifier_value")
    return op["$identifier_key"], op["$identifier_value"]


def _bad(what: str) -> dict[str, Any]:
    raise InvalidNested(f"bad {what}")
