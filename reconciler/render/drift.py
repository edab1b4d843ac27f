"""Render a DriftReport as text (terminal) or markdown (a GitHub issue body); JSON is in
drift_json (re-exported here as `render_json`).

Identifiers are masked and `pii` values hidden unless `show_values`; the markdown carries the
marker `<!-- reconciler:drift:<workspace> -->` so a scheduled job can find and update its issue.
"""

from __future__ import annotations

from reconciler.drift.duration import format_duration
from reconciler.drift.protocol import SchemaBudget
from reconciler.drift.report import (
    BlockFinding,
    DriftReport,
    SchemaFinding,
    UserDataReport,
    ValueDrift,
)
from reconciler.drift.stats import Interval
from reconciler.drift.verify import VerifyReport
from reconciler.render.drift_json import (
    HIDDEN,
    SCHEMA_HOURLY_LIMIT,
    next_steps,
    render_json,
    shown_user,
)

MARKDOWN_LIMIT = 65_000
TEXT_EXAMPLES = 20
_KIND_WORDS = {
    "changed": "changed",
    "missing": "missing in Braze",
    "type": "another type in Braze",
    "user_missing": "user not in Braze",
    "not_removed": "still in Braze after it was removed",
}


__all__ = ["marker", "render_json", "render_markdown", "render_text", "verify_lines"]


def marker(workspace: str) -> str:
    return f"<!-- reconciler:drift:{workspace} -->"


# -- shared phrases ---------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%" if x >= 0.001 or x == 0 else f"{x * 100:.2f}%"


def budget_line(budget: SchemaBudget) -> str:
    limit = budget.limit or SCHEMA_HOURLY_LIMIT
    left = f"; {budget.remaining:,} left this hour" if budget.remaining is not None else ""
    return (
        f"{budget.used:,} request{'' if budget.used == 1 else 's'} of the {limit:,}/hour that "
        f"/custom_attributes and /events share{left}"
    )


def estimate_line(est: Interval) -> str:
    n, low, high = est.counts()
    return (
        f"{_pct(est.estimate)} (95% CI {_pct(est.low)}–{_pct(est.high)}) ≈ {n:,} of "
        f"{est.population:,} users ({low:,}–{high:,}); {est.method}"
    )


def _values(v: ValueDrift, show: bool) -> str:
    """`state → Braze`, with pii hidden unless shown (the ledger keeps only a hash of pii)."""
    if v.pii and not show:
        return HIDDEN
    expected = v.expected if v.expected is not None else "(hash only)"
    if v.kind == "not_removed":
        expected = "(removed)"
    actual = v.actual if v.actual is not None else "(none)"
    return f"{expected} → {actual}"


def _example(v: ValueDrift, show: bool) -> str:
    return f"{shown_user(v, show)}  {v.attribute}: {_KIND_WORDS[v.kind]}: {_values(v, show)}"


def _users_head(u: UserDataReport) -> str:
    skipped = []
    if u.recent_skipped:
        skipped.append(
            f"{u.recent_skipped:,} written in the last {format_duration(u.window_seconds)}"
        )
    if u.unsupported_skipped:
        skipped.append(f"{u.unsupported_skipped:,} user aliases (export cannot look them up)")
    tail = f"; skipped {', '.join(skipped)}" if skipped else ""
    return (
        f"{u.checked:,} of {u.population:,} ledger users read back (sample {u.sampled:,}, "
        f"seed {u.seed}){tail}"
    )


def _nothing_yet(u: UserDataReport) -> str:
    if u.recent_skipped:
        return f"nothing to compare yet: run again in {format_duration(u.window_seconds)}"
    return "nothing to compare: the ledger is empty"


def _verdict(r: DriftReport) -> str:
    if r.inconclusive:
        return "inconclusive (no sampled user could be compared)"
    return "drift found" if r.has_drift else "no drift"


def _repair_lines(r: DriftReport) -> list[str]:
    """Recommendations, what --repair did, and what to run next."""
    u, lines = r.users, []
    for x in u.recommendations:
        lines.append(
            f"  recommend `{x.command}`: drifted in {x.drifted:,} of {x.checked:,} checked "
            f"(95% CI {_pct(x.interval.low)}–{_pct(x.interval.high)}); resending costs "
            f"{x.cost:,} data points"
        )
    if r.repaired:
        lines.append(f"Marked {r.repaired:,} drifted cells in doubt: the next plan resends them.")
    if r.blocks_repaired:
        lines.append(
            f"Recorded {r.blocks_repaired:,} content block(s) as edited in Braze: the next plan "
            "updates them back to the manifests' version."
        )
    steps = next_steps(r)
    if steps:
        lines += ["Next:"] + [f"  {step}" for step in steps]
    return lines


# -- text -------------------------------------------------------------------------------------


def render_text(r: DriftReport, *, show_values: bool = False) -> str:
    lines = [f"Drift check for workspace '{r.workspace}' (state serial {r.state_serial})", ""]
    lines += _text_schema(r)
    lines += _text_blocks(r)
    lines += _text_users(r.users, show_values)
    repair = _repair_lines(r)
    if repair:
        lines += ["", *repair]
    lines += ["", f"Result: {_verdict(r)}."]
    return "\n".join(lines) + "\n"


def _text_schema(r: DriftReport) -> list[str]:
    s = r.schema
    lines = [
        f"Schema: {s.attributes_checked} attributes, {s.events_checked} events checked "
        f"({budget_line(s.budget)})"
    ]
    if not s.findings:
        lines.append("  matches Braze")
    for f in s.findings:
        lines += _text_finding(f)
    return [*lines, ""]


def _text_finding(f: SchemaFinding) -> list[str]:
    tag = "DRIFT" if f.drift else "note "
    out = [f"  {tag} {f.subject} {f.name}: {f.message}"]
    if f.where:
        out.append(f"        declared at {f.where}")
    out.append(f"        fix: {f.action}")
    return out


def _text_blocks(r: DriftReport) -> list[str]:
    b = r.content_blocks
    if not b.checked:
        return [f"Content blocks: {b.note or 'none checked'}", ""]
    head = f"Content blocks: {b.checked} checked" + ("" if b.findings else ", match Braze")
    lines = [head]
    for f in b.findings:
        lines += [f"  DRIFT {_block_label(f)}: {f.message}", f"        fix: {f.action}"]
    return [*lines, ""]


def _block_label(f: BlockFinding) -> str:
    return f"{f.address} (id {f.block_id})"


def _text_users(u: UserDataReport, show: bool) -> list[str]:
    lines = [f"User data: {_users_head(u)}"]
    if not u.checked:
        lines.append("  " + _nothing_yet(u))
        return lines
    lines.append(f"  drifted users      {u.drifted_users:,} of {u.checked:,}")
    if u.estimate is not None:
        lines.append(f"  population rate    {estimate_line(u.estimate)}")
    lines.append(
        f"  export requests    {u.export_requests:,} (paced to {u.export_per_minute:,}/minute)"
    )
    drifted = [a for a in u.attributes if a.drifted]
    if drifted:
        lines.append("  Attributes:")
        for a in drifted:
            pii = " (pii)" if a.pii else ""
            lines.append(f"    {a.attribute + pii:<30} {a.drifted:,} of {a.checked:,} drifted")
    if u.examples:
        note = "" if show else " (identifiers masked, pii hidden; --show-values reveals)"
        lines.append(f"  Drifted values, state → Braze{note}:")
        for v in u.examples[:TEXT_EXAMPLES]:
            lines.append(f"    {_example(v, show)}")
        if len(u.examples) > TEXT_EXAMPLES or u.drifted_users > len(u.examples):
            lines.append("    … more in --format json")
    if u.unchecked_attributes:
        lines.append("  not compared: " + ", ".join(u.unchecked_attributes))
    lines += [f"  note: {note}" for note in u.notes]
    return lines


def verify_lines(v: VerifyReport, *, show_values: bool = False) -> list[str]:
    """What `apply --verify N` prints after the apply summary."""
    waited = f"{v.waited_seconds:.1f} s"
    head = (
        f"verify: read back {v.verified:,} of the users just written (asked for {v.requested:,}) "
        f"in {v.reads} round{'' if v.reads == 1 else 's'} over {waited}, "
        f"{v.export_requests:,} export request{'' if v.export_requests == 1 else 's'}"
    )
    if v.ok:
        return [head, "  every value landed in Braze"]
    note = "" if show_values else "; identifiers masked, pii hidden"
    lines = [
        head,
        f"  {v.dropped_users:,} users have values Braze acknowledged but did not keep "
        f"(still wrong after the {format_duration(v.window_seconds)} consistency window{note}):",
    ]
    lines += [f"    {_example(d, show_values)}" for d in v.dropped[:TEXT_EXAMPLES]]
    if len(v.dropped) > TEXT_EXAMPLES:
        lines.append(f"    … and {len(v.dropped) - TEXT_EXAMPLES:,} more")
    return lines


# -- markdown ---------------------------------------------------------------------------------


def render_markdown(r: DriftReport, *, show_values: bool = False) -> str:
    head = [
        marker(r.workspace),
        f"**reconciler drift · {r.workspace}**: {_verdict(r)} "
        f"(checked {r.checked_at}, state serial {r.state_serial})",
        "",
    ]
    body = _md_schema(r) + _md_blocks(r) + _md_users(r.users, show_values)
    repair = _repair_lines(r)
    if repair:
        body += ["### What to run", "", "```sh", *[s.strip() for s in next_steps(r)], "```", ""]
        body += [line.strip() for line in repair if line.startswith("  recommend")] + [""]
        if r.repaired:
            body += [f"Marked {r.repaired:,} drifted cells in doubt for the next apply.", ""]
        if r.blocks_repaired:
            body += [
                f"Recorded {r.blocks_repaired:,} content block(s) as edited in Braze: the "
                "next apply puts the manifests' version back.",
                "",
            ]
    text = "\n".join(head + body) + "\n"
    if len(text) > MARKDOWN_LIMIT:
        note = "\n\n… truncated: the full report is in `reconciler drift --format json`.\n"
        text = text[: MARKDOWN_LIMIT - len(note)] + note
    return text


def _md_schema(r: DriftReport) -> list[str]:
    s = r.schema
    lines = [
        "### Schema",
        "",
        f"{s.attributes_checked} attributes and {s.events_checked} events checked; "
        f"{budget_line(s.budget)}.",
        "",
    ]
    if not s.findings:
        return [*lines, "Matches Braze.", ""]
    lines += ["| | what | declared | Braze | problem | fix |", "|---|---|---|---|---|---|"]
    for f in s.findings:
        mark = "❌" if f.drift else "ℹ️"
        where = f"<br>`{f.where}`" if f.where else ""
        lines.append(
            f"| {mark} | {f.subject} `{f.name}`{where} | {f.declared} | {f.braze} | "
            f"{_cell(f.message)} | {_cell(f.action)} |"
        )
    return [*lines, ""]


def _md_blocks(r: DriftReport) -> list[str]:
    b = r.content_blocks
    lines = ["### Content blocks", ""]
    if not b.checked:
        return [*lines, (b.note or "None checked.").capitalize() + ".", ""]
    if not b.findings:
        return [*lines, f"{b.checked} checked; all match what apply sent.", ""]
    lines += [f"{b.checked} checked.", ""]
    for f in b.findings:
        lines.append(f"- ❌ `{f.address}` (id `{f.block_id}`): {f.message}. Fix: {f.action}.")
    return [*lines, ""]


def _md_users(u: UserDataReport, show: bool) -> list[str]:
    lines = ["### User data", "", _users_head(u) + ".", ""]
    for note in u.notes:
        lines += [f"> [!NOTE]\n> {note}", ""]
    if not u.checked:
        return [*lines, _nothing_yet(u).capitalize() + ".", ""]
    lines.append(f"- drifted users: **{u.drifted_users:,}** of {u.checked:,}")
    if u.estimate is not None:
        lines.append(f"- estimated population drift rate: {estimate_line(u.estimate)}")
    lines += [
        f"- export requests: {u.export_requests:,} (paced to {u.export_per_minute:,}/minute)",
        "",
    ]
    drifted = [a for a in u.attributes if a.drifted]
    if drifted:
        lines += ["| attribute | drifted | checked |", "|---|---:|---:|"]
        for a in drifted:
            pii = " (pii)" if a.pii else ""
            lines.append(f"| `{a.attribute}`{pii} | {a.drifted:,} | {a.checked:,} |")
        lines.append("")
    if u.examples:
        note = "" if show else " (identifiers masked, pii hidden)"
        lines += [f"<details><summary>Drifted values, state → Braze{note}</summary>", ""]
        for v in u.examples:
            user, values = shown_user(v, show), _values(v, show)
            lines.append(f"- `{user}` `{v.attribute}`: {_KIND_WORDS[v.kind]}: `{values}`")
        lines += ["", "</details>", ""]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
