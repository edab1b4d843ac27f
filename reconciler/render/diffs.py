"""What a resource update changes, for review: the template body as a unified diff, the
dashboard's URL, method and headers as before → after, and the other fields one by one."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.plan.model import ResourceChange


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class ResourceDiff:
    body: list[str]  # unified diff lines of the content (empty when the body is unchanged)
    fields: list[FieldChange]


def _text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def resource_diff(r: ResourceChange) -> ResourceDiff | None:
    """None unless `r` is an update whose applied spec is known."""
    if r.action != "update" or not r.before:
        return None
    before, after = r.before, r.spec
    body: list[str] = []
    if before.get("content") != after.get("content"):
        body = list(
            difflib.unified_diff(
                str(before.get("content") or "").splitlines(),
                str(after.get("content") or "").splitlines(),
                fromfile=f"a/{r.address}",
                tofile=f"b/{r.address}",
                lineterm="",
            )
        )
    fields: list[FieldChange] = []
    for key in sorted(set(before) | set(after)):
        if key in ("content", "dashboard") or before.get(key) == after.get(key):
            continue
        fields.append(FieldChange(key, _text(before.get(key)), _text(after.get(key))))
    old: Mapping[str, Any] = before.get("dashboard") or {}
    new: Mapping[str, Any] = after.get("dashboard") or {}
    for key in sorted(set(old) | set(new)):
        if key == "headers":
            fields += _headers(old.get(key) or {}, new.get(key) or {})
        elif old.get(key) != new.get(key):
            fields.append(FieldChange(f"dashboard {key}", _text(old.get(key)), _text(new.get(key))))
    return ResourceDiff(body, fields)


def _headers(old: Any, new: Any) -> list[FieldChange]:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return [] if old == new else [FieldChange("dashboard headers", _text(old), _text(new))]
    return [
        FieldChange(f"dashboard header {name}", _text(old.get(name)), _text(new.get(name)))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def diff_json(r: ResourceChange) -> dict[str, Any] | None:
    d = resource_diff(r)
    if d is None:
        return None
    out: dict[str, Any] = {
        "fields": [{"field": f.field, "before": f.before, "after": f.after} for f in d.fields]
    }
    if d.body:
        out["content"] = {
            "before": str(r.before.get("content") or ""),
            "after": str(r.spec.get("content") or ""),
            "diff": "\n".join(d.body) + "\n",
        }
    return out
