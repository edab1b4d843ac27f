"""Content blocks in the plan: create, no-op, update, dashboard-only update, rename, orphan,
and how each format shows them (the dashboard setup printed once)."""

from __future__ import annotations

import json
from pathlib import Path

from plan.conftest import Workbench
from syrupy.assertion import SnapshotAssertion

from reconciler.plan.content_blocks import LIFECYCLE_NOTE
from reconciler.plan.model import Plan
from reconciler.plan.planfile import load_plan, save_plan
from reconciler.render.plan import plan_json, render_markdown, render_text

R, S = "rokt_calendar.yaml", "sendbird.yaml"
ADD, UPDATE, SENDBIRD = (
    "ContentBlock.rokt_calendar_add_event",
    "ContentBlock.rokt_calendar_update_event",
    "ContentBlock.sendbird_notification",
)


def _actions(plan: Plan) -> dict[str, str]:
    return {r.address: r.action for r in plan.resource_changes}


def _resource_section(text: str) -> str:
    """The plan text from the content-block section to the guards."""
    start = text.index("Content blocks")
    return text[start : text.index("Guards:", start)]


def test_a_new_workspace_creates_one_block_per_template(
    bench: Workbench, snapshot: SnapshotAssertion
) -> None:
    plan = bench.plan()
    assert _actions(plan) == {ADD: "create", UPDATE: "create", SENDBIRD: "create"}
    assert all(r.dashboard for r in plan.resource_changes)
    add = next(r for r in plan.resource_changes if r.address == ADD)
    assert add.source == "WebhookTemplate.rokt-calendar-add-event"
    assert add.spec["content"].startswith("{% capture eventId %}")
    assert add.spec["dashboard"]["body"] == "{{content_blocks.${rokt_calendar_add_event}}}"
    assert plan.summary.resources == {"create": 3}
    text = render_text(plan)
    assert LIFECYCLE_NOTE in text
    assert _resource_section(text) == snapshot(name="text")
    markdown = render_markdown(plan)
    section = markdown[markdown.index("<details open><summary>Content blocks") :]
    assert section[: section.index("</details>")] == snapshot(name="markdown")
    out = plan_json(plan)
    assert out["summary"]["resources"] == {"create": 3, "update": 0, "delete": 0, "noop": 0}
    assert [d["template"] for d in out["dashboard"]] == [
        "rokt-calendar-add-event",
        "rokt-calendar-update-event",
        "sendbird-notification",
    ]
    assert out["notes"] == [LIFECYCLE_NOTE]
    assert json.dumps(out["resource_changes"], indent=2) == snapshot(name="json")


def test_once_applied_the_blocks_are_no_ops_and_the_dashboard_is_not_repeated(
    bench: Workbench,
) -> None:
    bench.acknowledge(bench.plan())
    plan = bench.plan()
    assert set(_actions(plan).values()) == {"no-op"}
    assert not plan.has_changes
    assert "Content blocks" not in render_text(plan)
    assert "dashboard" not in plan_json(plan) and "notes" not in plan_json(plan)


def test_a_body_edit_updates_the_block_and_needs_nothing_by_hand(bench: Workbench) -> None:
    bench.acknowledge(bench.plan())
    bench.edit(S, '"template_key": "order_update"', '"template_key": "order_shipped"')
    plan = bench.plan()
    (change,) = [r for r in plan.resource_changes if r.action != "no-op"]
    assert (change.address, change.action, change.dashboard) == (SENDBIRD, "update", False)
    assert change.detail == "update content block 'sendbird_notification': content"
    assert change.remote_id == SENDBIRD  # the id the acknowledgement recorded
    assert plan.has_changes
    assert "Set in the Braze dashboard" not in render_text(plan)


def test_a_url_edit_is_work_for_a_human_and_sends_nothing(
    bench: Workbench, snapshot: SnapshotAssertion
) -> None:
    bench.acknowledge(bench.plan())
    bench.edit(S, "/v3/notifications/realtime", "/v3/notifications/batch")
    plan = bench.plan()
    (change,) = [r for r in plan.resource_changes if r.action != "no-op"]
    assert change.dashboard and change.action == "update"
    assert "nothing is sent to Braze" in change.detail
    assert _resource_section(render_text(plan)) == snapshot


def test_a_renamed_block_is_a_new_block_and_the_old_one_an_orphan(
    bench: Workbench, snapshot: SnapshotAssertion
) -> None:
    bench.acknowledge(bench.plan())
    bench.edit(R, "content_block: rokt_calendar_update_event", "content_block: rokt_update_v2")
    plan = bench.plan()
    actions = _actions(plan)
    assert actions["ContentBlock.rokt_update_v2"] == "create"
    assert actions[UPDATE] == "orphan"
    orphan = next(r for r in plan.resource_changes if r.address == UPDATE)
    assert "renamed to 'rokt_update_v2'" in orphan.detail
    assert orphan.remote_id == UPDATE
    assert _resource_section(render_text(plan)) == snapshot


def test_a_removed_template_is_reported_as_an_orphan_and_is_not_a_change(
    bench: Workbench, snapshot: SnapshotAssertion
) -> None:
    bench.acknowledge(bench.plan())
    text = (bench.root / S).read_text(encoding="utf-8")
    (bench.root / S).write_text(text[: text.index("---\napiVersion: reconciler/v1\nkind: Webhook")])
    plan = bench.plan()
    assert _actions(plan)[SENDBIRD] == "orphan"
    assert not plan.has_changes  # nothing to apply: Braze has no delete
    out = render_text(plan)
    assert out.startswith("Plan for workspace 'production'")
    assert "No changes against state" in out
    assert out[out.index("Content blocks") :] == snapshot


def test_a_saved_plan_keeps_what_apply_sends(bench: Workbench, tmp_path: Path) -> None:
    plan = bench.plan()
    path = tmp_path / "saved.plan"
    save_plan(plan, path, {"x": "y"})
    loaded, _ = load_plan(path, tmp_path)
    assert loaded.resource_changes == plan.resource_changes
