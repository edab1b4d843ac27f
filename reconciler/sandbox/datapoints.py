"""The data-point ledger rules: what one accepted object costs (reference §1.9)."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.attributes import op_kind
from reconciler.sandbox.standard_fields import (
    CONTROL_KEYS,
    FREE_FIELDS,
    IDENTIFIERS,
    STANDARD_FIELDS,
)

EVENT_POINTS = 1  # each custom event occurrence
PURCHASE_POINTS = 1  # each purchase object, whatever its quantity


def standard_points(key: str) -> int:
    """Billable profile fields cost 1 whether or not the value changed; subscriptions are free."""
    if key in FREE_FIELDS or key in IDENTIFIERS or key in CONTROL_KEYS:
        return 0
    return 1 if key in STANDARD_FIELDS else 0


def custom_points(value: Any) -> int:
    """One custom attribute key of an accepted object, changed or not.

    - a scalar, `null`, `{"inc": n}` or a whole simple array: 1;
    - `{"add": [...]}`: 1 per added value; `{"remove": [...]}`: 1 per call ("sending a remove
      for a value that doesn't exist still consumes one data point"); both: the sum; never 0;
    - a nested object: 1 per leaf key at any depth (the docs' `most_played_song` = 7);
    - an array of objects (whole or `$add`/`$update`): 1 per leaf key of each object sent,
      `$remove`: 1 per call.
    """
    if isinstance(value, list):
        return max(1, sum(leaf_keys(v) for v in value if isinstance(v, dict)))
    if not isinstance(value, dict):
        return 1
    kind = op_kind(value)
    if kind == "array_op":
        adds = value.get("add")
        added = len(adds) if isinstance(adds, list) else 0
        return max(1, added + (1 if "remove" in value else 0))
    if kind == "inc":
        return 1
    if kind == "object_array_op":
        points = sum(leaf_keys(v) for v in _dicts(value.get("$add")))
        points += 1 if "$remove" in value else 0
        points += sum(leaf_keys(u.get("$new_object")) for u in _dicts(value.get("$update")))
        return max(1, points)
    return leaf_keys(value)


def leaf_keys(obj: Any) -> int:
    """Leaf keys of a nested value; `{"$time": ...}` and arrays of scalars are one leaf."""
    if not isinstance(obj, dict) or set(obj) == {"$time"}:
        return 1
    if not obj:
        return 1
    total = 0
    for value in obj.values():
        if isinstance(value, list) and any(isinstance(v, dict) for v in value):
            total += sum(leaf_keys(v) for v in value if isinstance(v, dict)) or 1
        else:
            total += leaf_keys(value)
    return total


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
