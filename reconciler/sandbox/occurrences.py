"""Custom events and purchases: validation, the profile summaries and the arrival log (§1.6)."""

from __future__ import annotations

import re
from typing import Any

from reconciler.sandbox.dates import format_time, from_epoch, parse_date
from reconciler.sandbox.rules import MAX_STRING, ObjectError, check_properties, is_number
from reconciler.sandbox.store import Profile, Workspace

EVENT_RESERVED = frozenset({"time", "event_name"})
PURCHASE_RESERVED = frozenset({"time", "product_id", "quantity", "event_name", "price", "currency"})
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def check_event(obj: dict[str, Any], now: float) -> dict[str, Any]:
    name = obj.get("name")
    if name is None:
        raise ObjectError("'name' is required")
    if not isinstance(name, str) or not name or len(name) > MAX_STRING or name.startswith("$"):
        raise ObjectError("Invalid 'name' field")
    return {
        "name": name,
        "time": _time(obj, now),
        "properties": check_properties(obj.get("properties"), EVENT_RESERVED),
        "app_id": _app_id(obj),
    }


def check_purchase(obj: dict[str, Any], now: float) -> dict[str, Any]:
    product = obj.get("product_id")
    if product is None:
        raise ObjectError("'product_id' is required")
    if not isinstance(product, str) or not product or len(product) > MAX_STRING:
        raise ObjectError("Invalid 'product_id' field")
    if not isinstance(obj.get("currency"), str) or not _CURRENCY.match(obj["currency"]):
        raise ObjectError("Invalid 'currency' field")
    if not is_number(obj.get("price")):
        raise ObjectError("Invalid 'price' field")
    quantity = obj.get("quantity", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 100:
        raise ObjectError("Invalid 'quantity' field")
    return {
        "product_id": product,
        "currency": obj["currency"],
        "price": obj["price"],
        "quantity": quantity,
        "time": _time(obj, now),
        "properties": check_properties(obj.get("properties"), PURCHASE_RESERVED),
        "app_id": _app_id(obj),
    }


def record_event(ws: Workspace, profile: Profile, event: dict[str, Any]) -> None:
    _summarise(profile["custom_events"], event["name"], event["time"], 1)
    if event["name"] not in ws.event_names:
        ws.event_names[event["name"]] = {
            "description": None,
            "included_in_analytics_report": False,
            "status": "Active",
            "tag_names": [],
        }
        ws.dirty_meta = True
    _log(ws, profile, "event", event)


def record_purchase(ws: Workspace, profile: Profile, purchase: dict[str, Any]) -> None:
    quantity = purchase["quantity"]  # N purchases of 1
    _summarise(profile["purchases"], purchase["product_id"], purchase["time"], quantity)
    profile["total_revenue"] = round(profile["total_revenue"] + purchase["price"] * quantity, 6)
    if purchase["product_id"] not in ws.products:
        ws.products[purchase["product_id"]] = len(ws.products)
        ws.dirty_meta = True
    _log(ws, profile, "purchase", purchase)


def _summarise(summary: dict[str, Any], name: str, when: str, count: int) -> None:
    entry = summary.get(name)
    if entry is None:
        summary[name] = {"first": when, "last": when, "count": count}
        return
    entry["first"] = min(entry["first"], when)
    entry["last"] = max(entry["last"], when)
    entry["count"] += count


def _log(ws: Workspace, profile: Profile, kind: str, record: dict[str, Any]) -> None:
    ws.occurrences.append(
        {
            "seq": len(ws.occurrences) + 1,
            "type": kind,
            "external_id": profile["external_id"],
            "braze_id": profile["braze_id"],
            **record,
        }
    )
    ws.new_occurrences += 1


def _time(obj: dict[str, Any], now: float) -> str:
    raw = obj.get("time")
    if raw is None:
        raise ObjectError("'time' is required")
    when = parse_date(raw) if isinstance(raw, str) else None
    if when is None:
        raise ObjectError("Invalid 'time' field")
    limit = from_epoch(now)
    return format_time(min(when, limit))  # future times are clamped to now


def _app_id(obj: dict[str, Any]) -> str | None:
    app_id = obj.get("app_id")
    if app_id is not None and not isinstance(app_id, str):
        raise ObjectError("Invalid 'app_id' field")
    return app_id
