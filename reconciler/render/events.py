"""The events part of a plan in each format: due counts per name, masked samples, refusals.

Identifiers are masked unless --show-values; event properties are never printed (they carry
whatever the partner enriched the event with, personal data included).
"""

from __future__ import annotations

from typing import Any

from reconciler.plan.event_model import EventSample, EventsPlan
from reconciler.plan.model import Plan
from reconciler.render.masking import mask_identifier

_GREEN, _RESET = "\033[32m", "\033[0m"


def _user(s: EventSample, show_values: bool, key: str = "") -> str:
    return s.user if show_values else mask_identifier(s.user, key)


def _refusals(ev: EventsPlan) -> list[str]:
    """One line per kind of event that is read but not sent."""
    out = []
    if ev.expired:
        out.append(
            f"{ev.expired:,} events older than the {ev.retention_days}-day horizon are refused"
            " (not sent)"
        )
    if ev.skipped:
        out.append(f"{ev.skipped:,} invalid events skipped (on_invalid: skip)")
    return out


def _notes(ev: EventsPlan) -> list[str]:
    out = []
    if ev.duplicates:
        out.append(f"{ev.duplicates:,} repeated events (same id, same content) count once")
    if ev.in_doubt:
        out.append(
            f"{ev.in_doubt:,} were in flight when an apply stopped: apply reads Braze first and"
            " sends only those that did not land"
        )
    return out


def _located(ev: EventsPlan, indent: str) -> list[str]:
    """Where the first refused events are (`file:row:col: reason`), under a heading."""
    out = []
    for title, located in _where(ev):
        out += [f"{indent}{title}", *(f"{indent}  {where}" for where in located)]
    return out


def _where(ev: EventsPlan) -> list[tuple[str, tuple[str, ...]]]:
    found = [
        (f"refused, older than the {ev.retention_days}-day horizon:", ev.expired_at),
        ("skipped, invalid:", ev.skipped_at),
    ]
    return [(title, located) for title, located in found if located]


def events_warnings(plan: Plan) -> list[str]:
    return _refusals(plan.events)


def events_summary_text(plan: Plan) -> list[str]:
    """The line under "attribute updates" in the text plan (when the workspace has streams)."""
    ev = plan.events
    if not ev.streams:
        return []
    return [f"  events             {ev.due:,}  (exactly once; {ev.acknowledged:,} already sent)"]


def events_text(plan: Plan, *, color: bool = False, show_values: bool = False) -> list[str]:
    ev = plan.events
    if not ev.reported:
        return []
    lines = ["", "Events:"]
    mark = f"{_GREEN}+{_RESET}" if color else "+"
    width = max((len(c.name) for c in ev.by_name), default=0)
    for c in ev.by_name:
        lines.append(f"  {mark} {c.name:<{width}}  {c.count:>7,}  ({c.stream})")
    lines += [f"  {note}" for note in _notes(ev)]
    lines += _located(ev, "  ")
    if ev.samples:
        masked = "" if show_values else " (identifiers masked; --show-values reveals)"
        lines += ["", f"Event samples{masked}:"]
        for s in ev.samples:
            lines.append(f"  {_user(s, show_values, plan.mask_key)}  {s.name} at {s.time}")
    return lines


def events_markdown(plan: Plan, *, show_values: bool = False) -> list[str]:
    ev = plan.events
    if not ev.reported:
        return []
    body = [f"<details><summary>Events: {ev.due:,} to send, exactly once</summary>", ""]
    if ev.by_name:
        body += ["| stream | event | to send |", "|---|---|---:|"]
        body += [f"| {c.stream} | `{c.name}` | {c.count:,} |" for c in ev.by_name]
        body.append("")
    body += [f"- {note}" for note in _notes(ev)]
    body += [f"- {title} `{where}`" for title, located in _where(ev) for where in located]
    if ev.samples:
        body += ["", "Samples:", ""]
        body += [
            f"- `{_user(s, show_values, plan.mask_key)}` `{s.name}` at {s.time}" for s in ev.samples
        ]
    body += ["", "</details>", ""]
    return body


def events_json(plan: Plan, *, show_values: bool = False) -> dict[str, Any]:
    """The `events` object of the JSON plan (summary.events is the `due` count); nothing when
    the workspace has no event streams."""
    ev = plan.events
    if not ev.streams:
        return {}
    return {
        "events": {
            "due": ev.due,
            "by_name": [{"stream": c.stream, "name": c.name, "count": c.count} for c in ev.by_name],
            "samples": [
                {
                    "user": _user(s, show_values, plan.mask_key),
                    "name": s.name,
                    "time": s.time,
                    "stream": s.stream,
                }
                for s in ev.samples
            ],
            "acknowledged": ev.acknowledged,
            "expired": ev.expired,
            "expired_at": list(ev.expired_at),
            "skipped": ev.skipped,
            "skipped_at": list(ev.skipped_at),
            "duplicates": ev.duplicates,
            "in_doubt": ev.in_doubt,
            "retention_days": ev.retention_days,
            "data_points": ev.data_points,
            "requests_with_events": ev.requests_with_events,
        }
    }
