"""The resource part of a plan (content blocks shipping webhook templates) in each format.

The dashboard instructions are printed once: with the plan that creates a block, or that
changes the part of a template only a human can set. `reconciler render T --dashboard`
prints them again at any time.
"""

from __future__ import annotations

from typing import Any

from reconciler.plan.content_blocks import LIFECYCLE_NOTE
from reconciler.plan.model import Plan, ResourceChange
from reconciler.render.template import dashboard_lines, dashboard_markdown

_MARKS = {"create": "+", "update": "~", "delete": "-", "orphan": "!"}
_RED, _GREEN, _YELLOW, _RESET = "\033[31m", "\033[32m", "\033[33m", "\033[0m"
_COLORS = {"create": _GREEN, "update": _YELLOW, "delete": _RED, "orphan": _RED}
AGAIN = "`reconciler render TEMPLATE --dashboard` prints this again"


def _shown(plan: Plan) -> list[ResourceChange]:
    return [r for r in plan.resource_changes if r.action != "no-op"]


def _dashboards(plan: Plan) -> list[dict[str, Any]]:
    return [dict(r.spec["dashboard"]) for r in plan.resource_changes if r.dashboard]


def _lifecycle(plan: Plan) -> bool:
    return any(r.action in ("create", "orphan") for r in plan.resource_changes)


def resource_text(plan: Plan, *, color: bool = False) -> list[str]:
    shown = _shown(plan)
    if not shown:
        return []
    unchanged = len(plan.resource_changes) - len(shown)
    lines = ["", "Content blocks (webhook templates):"]
    for r in shown:
        mark = _MARKS.get(r.action, "?")
        if color:
            mark = f"{_COLORS.get(r.action, '')}{mark}{_RESET}"
        lines.append(f"  {mark} {r.address}: {r.detail or r.action}")
    if unchanged:
        lines.append(f"  {unchanged} unchanged")
    if _lifecycle(plan):
        lines.append(f"  note: {LIFECYCLE_NOTE}")
    dashboards = _dashboards(plan)
    if dashboards:
        lines += ["", f"Set in the Braze dashboard (shown once; {AGAIN}):"]
        for d in dashboards:
            lines += dashboard_lines(d, indent="  ")
    return lines


def resource_markdown(plan: Plan) -> list[str]:
    shown = _shown(plan)
    if not shown:
        return []
    lines = [
        "<details open><summary>Content blocks (webhook templates)</summary>",
        "",
        "| block | action | detail |",
        "|---|---|---|",
    ]
    lines += [f"| `{r.address}` | {r.action} | {r.detail} |" for r in shown]
    lines += [""]
    if _lifecycle(plan):
        lines += [f"> {LIFECYCLE_NOTE}", ""]
    dashboards = _dashboards(plan)
    if dashboards:
        lines += [f"**Set in the Braze dashboard** (shown once; {AGAIN}):", ""]
        for d in dashboards:
            lines += dashboard_markdown(d)
    return lines + ["</details>", ""]


def resource_json(r: ResourceChange) -> dict[str, Any]:
    out: dict[str, Any] = {"address": r.address, "action": r.action}
    if r.detail:
        out["detail"] = r.detail
    if r.source:
        out["source"] = r.source
    if r.remote_id:
        out["remote_id"] = r.remote_id
    return out


def resource_extras(plan: Plan) -> dict[str, Any]:
    """Top-level JSON plan keys: the dashboard instructions and the lifecycle note."""
    out: dict[str, Any] = {}
    dashboards = _dashboards(plan)
    if dashboards:
        out["dashboard"] = dashboards
    if _lifecycle(plan):
        out["notes"] = [LIFECYCLE_NOTE]
    return out
