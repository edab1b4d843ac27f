"""The resource part of a plan (content blocks shipping webhook templates) in each format.

The dashboard instructions are printed once: with the plan that creates a block, or that
changes the part of a template only a human can set. `reconciler render T --dashboard`
prints them again at any time.
"""

from __future__ import annotations

from typing import Any

from reconciler.plan.content_blocks import LIFECYCLE_NOTE
from reconciler.plan.model import Plan, ResourceChange
from reconciler.render.diffs import diff_json, resource_diff
from reconciler.render.template import dashboard_lines, dashboard_markdown

_MARKS = {"create": "+", "update": "~", "delete": "-", "orphan": "!"}
_RED, _GREEN, _YELLOW, _CYAN, _RESET = "\033[31m", "\033[32m", "\033[33m", "\033[36m", "\033[0m"
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
        line = f"  {_MARKS.get(r.action, '?')} {r.address}: {r.detail or r.action}"
        lines.append(f"{_COLORS.get(r.action, '')}{line}{_RESET}" if color else line)
        lines += _diff_text(r, color)
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


def _diff_text(r: ResourceChange, color: bool) -> list[str]:
    d = resource_diff(r)
    if d is None:
        return []
    out = [f"      {f.field}: {f.before} → {f.after}" for f in d.fields]
    for line in d.body:
        code = ""
        if line.startswith(("+++", "---")):
            code = ""
        elif line.startswith("+"):
            code = _GREEN
        elif line.startswith("-"):
            code = _RED
        elif line.startswith("@@"):
            code = _CYAN
        out.append(f"      {code}{line}{_RESET}" if color and code else f"      {line}")
    return out


def resource_markdown(plan: Plan) -> list[str]:
    """The blocks and their diffs (open: they are what a template review is about); the
    dashboard how-to collapsed below them."""
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
    for r in shown:
        d = resource_diff(r)
        if d is None:
            continue
        lines += [f"`{r.address}`:", ""]
        lines += [f"- {f.field}: `{f.before}` → `{f.after}`" for f in d.fields]
        if d.fields:
            lines.append("")
        if d.body:
            lines += ["```diff", *d.body, "```", ""]
    if _lifecycle(plan):
        lines += [f"> {LIFECYCLE_NOTE}", ""]
    lines += ["</details>", ""]
    dashboards = _dashboards(plan)
    if dashboards:
        lines += [
            "<details><summary>Set in the Braze dashboard (shown once)</summary>",
            "",
            f"{AGAIN}.",
            "",
        ]
        for dash in dashboards:
            lines += dashboard_markdown(dash)
        lines += ["</details>", ""]
    return lines


def resource_json(r: ResourceChange) -> dict[str, Any]:
    """One resource change of the JSON plan. Its `address` is the manifest resource, as the
    JSON plan's contract has it (`WebhookTemplate.<name>`); `content_block` names the Braze
    object it ships as (`ContentBlock.<content_block>`, the address the text plans and the
    state use: renaming a template keeps its block). An orphan, which no template ships any
    more, is addressed by its block when no template name is known."""
    out: dict[str, Any] = {"address": r.source or r.address, "action": r.action}
    out["content_block"] = r.address
    if r.detail:
        out["detail"] = r.detail
    if r.source:
        out["source"] = r.source
    if r.remote_id:
        out["remote_id"] = r.remote_id
    diff = diff_json(r)
    if diff is not None:
        out["diff"] = diff
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
