"""What Braze bills and how long it takes: data points per wire value, requests, seconds."""

from __future__ import annotations

import math
from typing import Any

from reconciler.plan.model import OBJECTS_PER_REQUEST


def data_points(wire: Any) -> int:
    """Data points for one attribute value as sent (reference §1.9, as the sandbox counts).

    A set, a whole array or a null costs 1; an array edit costs 1 per added value plus 1 for
    a remove call; a nested object costs 1 per key (leaves, recursively).
    """
    if isinstance(wire, dict) and set(wire) <= {"add", "remove"} and wire:
        added = len(wire.get("add") or [])
        return max(1, added + (1 if "remove" in wire else 0))
    if isinstance(wire, dict):
        return max(1, sum(data_points(v) if isinstance(v, dict) else 1 for v in wire.values()))
    return 1


def requests_for(users: int) -> int:
    return math.ceil(users / OBJECTS_PER_REQUEST)


def estimated_seconds(requests: int, per_3s: int) -> float:
    return round(requests / (per_3s / 3.0), 2)
