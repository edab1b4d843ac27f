"""Render a Plan as text (colour on a TTY), markdown (PR comments) or JSON (the contract)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan.model import FORMAT_VERSION, AttributeChange, Plan, Sample
from reconciler.render.events import (
    events_json,
    events_markdown,
    events_summary_text,
    events_text,
    events_warnings,
)
from reconciler.render.masking import mask_identifier
from reconciler.render.resources import (
    resource_extras,
    resource_json,
    resource_markdown,
    resource_text,
)

MARKDOWN_LIMIT = 65_000
_RED, _GREEN, _YELLOW, _BOLD, _RESET = "\033[31m", "\033[32m", "\033[33m", "\033[1m", "\033[0m"


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _sample_values(s: Sample, pii: bool, show_values: bool) -> tuple[str, str, str]:
    user = s.user if show_values else mask_identifier(s.user)
    if pii and not show_values:
        return user, "(pii hidden)", "(pii hidden)"
    return user, s.before or "(none)", s.after


def _pii(plan: Plan) -> set[str]:
    return {c.attribute for c in plan.attribute_changes if c.pii}


def _warnings(plan: Plan) -> list[str]:
    out = list(plan.warnings)
    out += [
        f"{c.unset} users lose `{c.attribute}` ({c.reason})"
        for c in plan.attribute_changes
        if c.reason
    ]
    out += events_warnings(plan)
    out += [
        f"guard {g.name} tripped: {_num(g.value)} > {_num(g.limit)}"
        + (f" ({g.detail})" if g.detail else "")
        for g in plan.guards
        if not g.ok and g.limit is not None
    ]
    return out


def render_text(plan: Plan, *, color: bool = False, show_values: bool = False) -> str:
    def c(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    s = plan.summary
    lines = [
        c(_BOLD, f"Plan for workspace '{plan.workspace}'")
        + f" (state serial {plan.binding.serial})",
        "",
    ]
    if not plan.has_changes:
        lines.append(c(_GREEN, "No changes against state: the manifests and sources match it."))
        lines.append(drift_status(plan))
    else:
        lines += [
            f"  users changed      {s.users_changed:,}",
            f"  attribute updates  {s.attribute_updates:,}",
            *events_summary_text(plan),
            f"  data points        {s.data_points:,}  (a full resend would cost "
            f"{s.full_resend_data_points:,})",
            f"  requests           {s.requests:,}  (~{s.estimated_seconds:g} s at the rate limit)",
            *resend_lines(plan),
            "",
            "Attribute changes:",
        ]
        for ch in plan.attribute_changes:
            mark = c(_RED, "-") if ch.unset and not (ch.set or ch.changed) else c(_YELLOW, "~")
            if ch.set and not (ch.changed or ch.unset):
                mark = c(_GREEN, "+")
            lines.append(
                f"  {mark} {ch.attribute:<28} +{ch.set:<6,} ~{ch.changed:<6,} -{ch.unset:<6,}"
                f" {ch.data_points:,} points" + (" (pii)" if ch.pii else "")
            )
        pii = _pii(plan)
        if plan.samples:
            note = "" if show_values else " (identifiers masked, pii hidden; --show-values reveals)"
            lines += ["", f"Samples{note}:"]
            for sample in plan.samples:
                user, before, after = _sample_values(sample, sample.attribute in pii, show_values)
                lines.append(f"  {user}  {sample.attribute}: {before} → {after}")
    lines += events_text(plan, color=color, show_values=show_values)
    lines += resource_text(plan, color=color)
    if plan.guards:
        lines += ["", "Guards:"]
        for g in plan.guards:
            status = c(_GREEN, "ok  ") if g.ok else c(_RED, "FAIL")
            limit = f" ≤ {_num(g.limit)}" if g.limit is not None else ""
            lines.append(f"  {status} {g.name:<24} {_num(g.value)}{limit} {g.detail}".rstrip())
    for warning in _warnings(plan):
        lines.append(c(_RED, f"warning: {warning}"))
    return "\n".join(lines) + "\n"


def resend_lines(plan: Plan) -> list[str]:
    """The changed cells sent whatever the ledger said, and why (already in the counts)."""
    s, out = plan.summary, []
    if s.cells_in_doubt:
        out.append(
            f"  {_plural(s.cells_in_doubt, 'cell')} in doubt after an interrupted apply "
            "(or marked by drift --repair): resent"
        )
    if s.cells_replaced:
        out.append(f"  {_plural(s.cells_replaced, 'cell')} resent by --replace")
    return out


def drift_status(plan: Plan) -> str:
    """When drift last compared Braze with state, and what it found."""
    d = plan.last_drift
    if not d:
        return "Braze itself was not read: no drift run is recorded (`reconciler drift`)."
    found = {
        "clean": "no drift",
        "drift": f"drift in {d.get('users_drifted', 0):,} of {d.get('users_checked', 0):,} "
        "users checked",
        "inconclusive": "nothing it could compare (inconclusive)",
    }.get(str(d.get("result")), str(d.get("result")))
    repaired = f"; {d['repaired']:,} cells marked for repair" if d.get("repaired") else ""
    return f"Last drift check of Braze: {d.get('checked_at', '?')}: {found}{repaired}."


def summary_line(plan: Plan) -> str:
    s = plan.summary
    sets = sum(c.set for c in plan.attribute_changes)
    changed = sum(c.changed for c in plan.attribute_changes)
    unsets = sum(c.unset for c in plan.attribute_changes)
    guards = "guards ok" if plan.guards_ok else "**guards tripped**"
    return (
        f"+{sets:,} ~{changed:,} −{unsets:,} cells · {_plural(s.users_changed, 'user')} · "
        + (f"{_plural(s.events, 'event')} · " if s.events else "")
        + f"{_plural(s.data_points, 'data point')} · {_plural(s.requests, 'request')} · {guards}"
    )


def render_markdown(plan: Plan, *, show_values: bool = False) -> str:
    head = [
        f"<!-- reconciler:plan:{plan.workspace} -->",
        f"**reconciler plan · {plan.workspace}**: "
        + (summary_line(plan) if plan.has_changes else "no changes against state"),
        "",
    ]
    if not plan.has_changes:
        head += [drift_status(plan), ""]
    warnings = _warnings(plan)
    if warnings:
        head += ["> [!WARNING]"] + [f"> {w}" for w in warnings] + [""]
    body = [
        "<details><summary>Attribute changes</summary>",
        "",
        "| attribute | set | changed | unset | data points |",
        "|---|---:|---:|---:|---:|",
    ]
    for ch in plan.attribute_changes:
        name = f"`{ch.attribute}`" + (" (pii)" if ch.pii else "")
        body.append(f"| {name} | {ch.set:,} | {ch.changed:,} | {ch.unset:,} | {ch.data_points:,} |")
    body += ["", "</details>", ""]
    if plan.samples:
        pii = _pii(plan)
        body += ["<details><summary>Samples</summary>", ""]
        for sample in plan.samples:
            user, before, after = _sample_values(sample, sample.attribute in pii, show_values)
            body.append(f"- `{user}` `{sample.attribute}`: `{before}` → `{after}`")
        body += ["", "</details>", ""]
    body += events_markdown(plan, show_values=show_values)
    body += resource_markdown(plan)
    s = plan.summary
    body.append(
        f"Cost: {s.data_points:,} data points (full resend: {s.full_resend_data_points:,}), "
        f"{s.requests:,} requests, ~{s.estimated_seconds:g} s."
    )
    text = "\n".join(head + body) + "\n"
    if len(text) > MARKDOWN_LIMIT:
        note = "\n\n… truncated: the full plan is in the JSON plan artifact.\n"
        text = text[: MARKDOWN_LIMIT - len(note)] + note
    return text


def plan_json(plan: Plan, *, show_values: bool = False) -> dict[str, Any]:
    s = plan.summary
    resources: dict[str, int] = {"create": 0, "update": 0, "delete": 0, "noop": 0}
    for r in plan.resource_changes:
        key = "noop" if r.action == "no-op" else r.action
        resources[key] = resources.get(key, 0) + 1
    pii = _pii(plan)
    return {
        "format_version": FORMAT_VERSION,
        "plan_id": plan.plan_id,
        "workspace": plan.workspace,
        "state": {"lineage": plan.binding.lineage, "serial": plan.binding.serial},
        "summary": {
            "resources": resources,
            "users_changed": s.users_changed,
            "attribute_updates": s.attribute_updates,
            "events": s.events,
            "data_points": s.data_points,
            "requests": s.requests,
            "full_resend_data_points": s.full_resend_data_points,
            "estimated_seconds": s.estimated_seconds,
            "cells_in_doubt": s.cells_in_doubt,
            "cells_replaced": s.cells_replaced,
        },
        "last_drift": dict(plan.last_drift) if plan.last_drift else None,
        "resource_changes": [resource_json(r) for r in plan.resource_changes],
        **resource_extras(plan),
        "attribute_changes": [_attribute_json(c) for c in plan.attribute_changes],
        **events_json(plan, show_values=show_values),
        "guards": [
            {"name": g.name, "ok": g.ok, "value": g.value, "limit": g.limit} for g in plan.guards
        ],
        "samples": [
            dict(
                zip(
                    ("user", "before", "after"),
                    _sample_values(x, x.attribute in pii, show_values),
                    strict=True,
                ),
                attribute=x.attribute,
            )
            for x in plan.samples
        ],
    }


def _attribute_json(c: AttributeChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attribute": c.attribute,
        "set": c.set,
        "changed": c.changed,
        "unset": c.unset,
        "data_points": c.data_points,
    }
    if c.reason:
        out["reason"] = c.reason
    return out


def render_json(plan: Plan, *, show_values: bool = False) -> str:
    return json.dumps(plan_json(plan, show_values=show_values), indent=2) + "\n"
