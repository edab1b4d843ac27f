"""Render a Plan as text (colour on a TTY), markdown (PR comments) or JSON (the contract)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from reconciler.plan.model import FORMAT_VERSION, AttributeChange, GuardResult, Plan, Sample
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


def _sample_values(s: Sample, pii: bool, show_values: bool, key: str = "") -> tuple[str, str, str]:
    user = s.user if show_values else mask_identifier(s.user, key)
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
        f"guard {g.name} tripped: {_num(g.value)} is over the limit of {_num(g.limit)}"
        + (f" ({g.detail})" if g.detail else "")
        for g in plan.guards
        if not g.ok and g.limit is not None
    ]
    return out


LEGEND = "+ set   ~ changed   - unset (attributes); + create   ~ update   - delete (blocks)"


def _header(plan: Plan) -> str:
    where = f" → {plan.endpoint}" if plan.endpoint else ""
    return f"Plan for workspace '{plan.workspace}'{where} (state serial {plan.binding.serial})"


def _change_mark(ch: AttributeChange) -> tuple[str, str]:
    """The symbol and colour of one attribute's line: + only sets, - only unsets, ~ else."""
    if ch.set and not (ch.changed or ch.unset):
        return "+", _GREEN
    if ch.unset and not (ch.set or ch.changed):
        return "-", _RED
    return "~", _YELLOW


def _attribute_table(plan: Plan, c: Any) -> list[str]:
    """The attribute changes under column headers, every number right-aligned at any size."""
    rows = [
        (ch, [f"{ch.set:,}", f"{ch.changed:,}", f"{ch.unset:,}", f"{ch.data_points:,}"])
        for ch in plan.attribute_changes
    ]
    heads = ("attribute", "set", "changed", "unset", "data points")
    name_w = max([len(heads[0])] + [len(_table_name(ch)) for ch, _ in rows])
    widths = [max([len(heads[k + 1])] + [len(n[k]) for _, n in rows]) for k in range(4)]
    head = f"    {heads[0]:<{name_w}}" + "".join(
        f"  {h:>{w}}" for h, w in zip(heads[1:], widths, strict=True)
    )
    out = [head]
    for ch, numbers in rows:
        mark, code = _change_mark(ch)
        name = _table_name(ch)
        line = f"  {mark} {name:<{name_w}}" + "".join(
            f"  {n:>{w}}" for n, w in zip(numbers, widths, strict=True)
        )
        out.append(c(code, line))
    if any(ch.update_existing_only for ch in plan.attribute_changes):
        out.append(f"    {EXISTING_ONLY_NOTE}")
    return out


EXISTING_ONLY = "(existing users)"
EXISTING_ONLY_NOTE = (
    f"{EXISTING_ONLY}: sent with _update_existing_only, Braze updates only the users it has"
)


def _table_name(ch: AttributeChange) -> str:
    return (
        ch.attribute
        + (" (pii)" if ch.pii else "")
        + (f" {EXISTING_ONLY}" if ch.update_existing_only else "")
    )


def plan_line(plan: Plan) -> str:
    """Terraform's closing line: what the plan does, counted by action."""
    s = plan.summary
    sets = sum(ch.set for ch in plan.attribute_changes)
    changed = sum(ch.changed for ch in plan.attribute_changes)
    unsets = sum(ch.unset for ch in plan.attribute_changes)
    r = {a: sum(1 for x in plan.resource_changes if x.action == a) for a in _RESOURCE_ACTIONS}
    return (
        f"Plan: {_plural(s.users_changed, 'user')} to update ({sets:,} cells to set, "
        f"{changed:,} to change, {unsets:,} to unset), {_plural(s.events, 'event')} to send, "
        f"{_plural(r['create'], 'content block')} to create, {r['update']:,} to update, "
        f"{r['delete'] + r['orphan']:,} to delete."
    )


_RESOURCE_ACTIONS = ("create", "update", "delete", "orphan")


def _guard_line(g: GuardResult) -> str:
    """`ok` or `FAIL`, then the value against its limit in words that cannot contradict."""
    if g.limit is None:
        return f"{g.name}: {_num(g.value)} {g.detail}".rstrip()
    relation = "within the limit of" if g.ok else "over the limit of"
    return f"{g.name}: {_num(g.value)}, {relation} {_num(g.limit)} {g.detail}".rstrip()


def render_text(plan: Plan, *, color: bool = False, show_values: bool = False) -> str:
    def c(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    s = plan.summary
    lines = [c(_BOLD, _header(plan)), ""]
    if not plan.has_changes:
        lines.append(c(_GREEN, "No changes against state: the manifests and sources match it."))
        lines.append(drift_status(plan))
    else:
        lines += [
            f"Legend: {LEGEND}",
            "",
            f"  users changed      {s.users_changed:,}",
            f"  attribute updates  {s.attribute_updates:,}",
            *events_summary_text(plan),
            f"  data points        {s.data_points:,}  (resending everything would cost "
            f"{s.full_resend_data_points:,})",
            f"  requests           {s.requests:,}  (~{s.estimated_seconds:g} s at the rate limit)",
            *resend_lines(plan),
        ]
        if plan.attribute_changes:
            lines += ["", "Attribute changes:", *_attribute_table(plan, c)]
        pii = _pii(plan)
        if plan.samples:
            note = "" if show_values else " (identifiers masked, pii hidden; --show-values reveals)"
            lines += ["", f"Samples{note}:"]
            for sample in plan.samples:
                user, before, after = _sample_values(
                    sample, sample.attribute in pii, show_values, plan.mask_key
                )
                lines.append(f"  {user}  {sample.attribute}: {before} → {after}")
    lines += events_text(plan, color=color, show_values=show_values)
    lines += resource_text(plan, color=color)
    if plan.guards:
        lines += ["", "Guards:"]
        for g in plan.guards:
            status = c(_GREEN, "ok  ") if g.ok else c(_RED, "FAIL")
            lines.append(f"  {status} {_guard_line(g)}")
    for warning in _warnings(plan):
        lines.append(c(_RED, f"warning: {warning}"))
    if plan.has_changes:
        lines += ["", c(_BOLD, plan_line(plan))]
    return "\n".join(lines) + "\n"


SAVE_HINT = (
    "Save this plan with `reconciler plan --out FILE`; `reconciler apply FILE` then applies "
    "exactly it."
)


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


OPEN_BELOW = 30  # attribute rows: a section this small is open by default


def _blocks_phrase(plan: Plan) -> str:
    counts = {a: sum(1 for r in plan.resource_changes if r.action == a) for a in _RESOURCE_ACTIONS}
    parts = [
        f"{counts[a]:,} to {verb}"
        for a, verb in (("create", "create"), ("update", "update"), ("delete", "delete"))
        if counts[a]
    ]
    if counts["orphan"]:
        parts.append(f"{counts['orphan']:,} orphaned")
    return f" · content blocks: {', '.join(parts)}" if parts else ""


def _run_context(environ: Mapping[str, str]) -> list[str]:
    """The CI run and commit the plan was made from, and the next step (GitHub Actions)."""
    server, repo, run = (
        environ.get("GITHUB_SERVER_URL", "https://github.com"),
        environ.get("GITHUB_REPOSITORY"),
        environ.get("GITHUB_RUN_ID"),
    )
    sha = environ.get("GITHUB_SHA", "")
    bits = []
    if repo and run:
        bits.append(f"[run {run}]({server}/{repo}/actions/runs/{run})")
    if sha:
        bits.append(f"commit `{sha[:12]}`")
    return [f"Planned by {' from '.join(bits)}."] if bits else []


def render_markdown(
    plan: Plan, *, show_values: bool = False, environ: Mapping[str, str] | None = None
) -> str:
    env = os.environ if environ is None else environ
    where = f" → `{plan.endpoint}`" if plan.endpoint else ""
    head = [
        f"<!-- reconciler:plan:{plan.workspace} -->",
        f"**reconciler plan · {plan.workspace}**{where}: "
        + (summary_line(plan) if plan.has_changes else "no changes against state")
        + _blocks_phrase(plan),
        "",
    ]
    if not plan.has_changes:
        head += [drift_status(plan), ""]
    warnings = _warnings(plan)
    if warnings:
        head += ["> [!WARNING]"] + [f"> {w}" for w in warnings] + [""]
    body: list[str] = []
    if plan.attribute_changes:
        opened = " open" if len(plan.attribute_changes) <= OPEN_BELOW else ""
        body += [
            f"<details{opened}><summary>Attribute changes</summary>",
            "",
            "| | attribute | set | changed | unset | data points |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for ch in plan.attribute_changes:
            name = f"`{ch.attribute}`" + _table_name(ch)[len(ch.attribute) :]
            body.append(
                f"| {_change_mark(ch)[0]} | {name} | {ch.set:,} | {ch.changed:,} | "
                f"{ch.unset:,} | {ch.data_points:,} |"
            )
        if any(ch.update_existing_only for ch in plan.attribute_changes):
            body += [
                "",
                EXISTING_ONLY_NOTE.replace("_update_existing_only", "`_update_existing_only`"),
            ]
        body += ["", "</details>", ""]
    if plan.samples:
        pii = _pii(plan)
        body += ["<details><summary>Samples (identifiers masked)</summary>", ""]
        for sample in plan.samples:
            user, before, after = _sample_values(
                sample, sample.attribute in pii, show_values, plan.mask_key
            )
            body.append(f"- `{user}` `{sample.attribute}`: `{before}` → `{after}`")
        body += ["", "</details>", ""]
    body += events_markdown(plan, show_values=show_values)
    body += resource_markdown(plan)
    if plan.guards:
        body += ["| guard | result |", "|---|---|"]
        body += [
            f"| {'✅' if g.ok else '❌'} `{g.name}` | {_guard_line(g).split(': ', 1)[1]} |"
            for g in plan.guards
        ]
        body.append("")
    s = plan.summary
    tail = [
        f"Cost: {_plural(s.data_points, 'data point')} (resending everything: "
        f"{s.full_resend_data_points:,}), {_plural(s.requests, 'request')}, "
        f"~{s.estimated_seconds:g} s.",
        "",
        *_run_context(env),
        _next_step(plan),
    ]
    return _truncate("\n".join(head + body), "\n".join(tail) + "\n")


def _next_step(plan: Plan) -> str:
    if not plan.guards_ok:
        return (
            "**Next:** a guard tripped, so apply will refuse this plan: review it, then apply "
            "with `--allow-large` on purpose, or change the sources."
        )
    if plan.has_changes or any(r.action != "no-op" for r in plan.resource_changes):
        return "**Next:** merge to apply exactly these changes."
    return "**Next:** nothing to apply."


_OPEN_TAG = re.compile(r"<details(?:\s[^>]*)?>")


def _truncate(text: str, tail: str) -> str:
    """At most MARKDOWN_LIMIT characters: cut at a line, close every open <details> (plain or
    `open`) and code fence, then the note and the tail (cost, run, next step) always last."""
    if len(text) + 1 + len(tail) <= MARKDOWN_LIMIT:
        return text + "\n" + tail
    note = (
        "… truncated: the full plan is in the JSON plan (`reconciler show PLANFILE --format json`)."
    )
    budget = MARKDOWN_LIMIT - len(tail) - len(note) - 200
    cut = text[:budget]
    cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else ""
    closing = []
    if cut.count("```") % 2:
        closing.append("```")
    depth = len(_OPEN_TAG.findall(cut)) - cut.count("</details>")
    closing += ["</details>"] * max(0, depth)
    return cut + "\n".join([*closing, "", note, "", tail])


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
        # the same lines the text and markdown plans show (skipped rows by place, never value)
        "warnings": _warnings(plan),
        "samples": [
            dict(
                zip(
                    ("user", "before", "after"),
                    _sample_values(x, x.attribute in pii, show_values, plan.mask_key),
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
    if c.update_existing_only:
        out["update_existing_only"] = True
    return out


def render_json(plan: Plan, *, show_values: bool = False) -> str:
    return json.dumps(plan_json(plan, show_values=show_values), indent=2) + "\n"
