"""Render a DriftReport as JSON: the report for scripts, on stdout alone.

Identifiers are masked and `pii` values hidden unless `show_values`, as in text and markdown.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.drift.report import DriftReport, SchemaFinding, UserDataReport, ValueDrift
from reconciler.render.masking import mask_identifier

FORMAT_VERSION = "1"
SCHEMA_HOURLY_LIMIT = 1000  # /custom_attributes + /events (+ /events/list, product list)
HIDDEN = "(pii hidden)"


def shown_user(v: ValueDrift, show: bool) -> str:
    return v.user_id if show else mask_identifier(v.user_id)


def next_steps(r: DriftReport) -> list[str]:
    """What to run now, in order (shared by every renderer)."""
    u = r.users
    steps: list[str] = []
    if r.inconclusive:
        return [
            "reconciler drift  # again, once the consistency window has passed"
            if u.recent_skipped
            else "reconciler drift --sample N  # with users export can look up"
        ]
    edited = len(r.content_blocks.edited)
    repaired = r.repaired or r.blocks_repaired
    if (u.drifted_cells or edited) and not repaired:
        found = [f"the {len(u.drifted_cells):,} drifted cells"] if u.drifted_cells else []
        found += [f"{edited:,} edited content block(s)"] if edited else []
        steps.append(
            f"reconciler drift --repair --seed {u.seed}  # marks {' and '.join(found)} found"
            " for the next apply"
        )
    steps += [f"{x.command}  # resends it to all {x.cost:,} holders" for x in u.recommendations]
    if u.drifted_cells or u.recommendations or edited:
        steps.append("reconciler apply  # after reviewing the plan")
    return steps


def drift_json(r: DriftReport, *, show_values: bool = False) -> dict[str, Any]:
    s, b, u = r.schema, r.content_blocks, r.users
    return {
        "format_version": FORMAT_VERSION,
        "workspace": r.workspace,
        "checked_at": r.checked_at,
        "state": {"serial": r.state_serial},
        "drift": r.has_drift,
        "schema": {
            "attributes_checked": s.attributes_checked,
            "events_checked": s.events_checked,
            "standard_fields_skipped": s.standard_skipped,
            "requests": {
                "used": s.budget.used,
                "hourly_limit": s.budget.limit or SCHEMA_HOURLY_LIMIT,
                "remaining": s.budget.remaining,
            },
            "findings": [_finding_json(f) for f in s.findings],
        },
        "content_blocks": {
            "checked": b.checked,
            "findings": [
                {
                    "address": f.address,
                    "name": f.name,
                    "content_block_id": f.block_id,
                    "kind": f.kind,
                    "message": f.message,
                    "action": f.action,
                }
                for f in b.findings
            ],
        },
        "users": _users_json(u, show_values),
        "inconclusive": r.inconclusive,
        "repair": {
            "drifted_cells": len(u.drifted_cells),
            "marked_in_doubt": r.repaired,
            "content_blocks_recorded": r.blocks_repaired,
            "recommendations": [
                {
                    "attribute": x.attribute,
                    "drifted": x.drifted,
                    "checked": x.checked,
                    "estimate": x.interval.estimate,
                    "low": x.interval.low,
                    "high": x.interval.high,
                    "data_points": x.cost,
                    "command": x.command,
                }
                for x in u.recommendations
            ],
            "next_steps": next_steps(r),
        },
    }


def _finding_json(f: SchemaFinding) -> dict[str, Any]:
    return {
        "subject": f.subject,
        "name": f.name,
        "kind": f.kind,
        "drift": f.drift,
        "declared": f.declared,
        "braze": f.braze,
        "message": f.message,
        "action": f.action,
        "where": f.where or None,
    }


def _users_json(u: UserDataReport, show: bool) -> dict[str, Any]:
    est = u.estimate
    estimate = None
    if est is not None:
        n, low, high = est.counts()
        estimate = {
            "rate": round(est.estimate, 6),
            "low": round(est.low, 6),
            "high": round(est.high, 6),
            "confidence": 0.95,
            "method": est.method,
            "population": est.population,
            "users": n,
            "users_low": low,
            "users_high": high,
        }
    return {
        "population": u.population,
        "sampled": u.sampled,
        "checked": u.checked,
        "drifted_users": u.drifted_users,
        "recent_skipped": u.recent_skipped,
        "unsupported_skipped": u.unsupported_skipped,
        "window_seconds": u.window_seconds,
        "seed": u.seed,
        "export_requests": u.export_requests,
        "export_per_minute": u.export_per_minute,
        "estimate": estimate,
        "attributes": [
            {"attribute": a.attribute, "checked": a.checked, "drifted": a.drifted, "pii": a.pii}
            for a in u.attributes
        ],
        "examples": [_example_json(v, show) for v in u.examples],
        "unchecked_attributes": list(u.unchecked_attributes),
        "notes": list(u.notes),
    }


def _example_json(v: ValueDrift, show: bool) -> dict[str, Any]:
    hide = v.pii and not show
    return {
        "user": shown_user(v, show),
        "id_kind": v.id_kind,
        "attribute": v.attribute,
        "kind": v.kind,
        "expected": HIDDEN if hide else v.expected,
        "actual": HIDDEN if hide and v.actual is not None else v.actual,
        "pii": v.pii,
    }


def render_json(r: DriftReport, *, show_values: bool = False) -> str:
    return json.dumps(drift_json(r, show_values=show_values), indent=2) + "\n"
