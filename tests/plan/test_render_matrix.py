"""Every rendering of the plans a reviewer meets, snapshot-tested: a first sync, a no-op,
a tripped guard, a webhook template update and a change to users Braze must already have
(`update_existing_only`), each as text, text with colour, markdown and
JSON. The plans are made for real (manifests/, a SQLite state) and pinned where they vary (id,
time, lineage, the mask key). `show PLANFILE` reproducing them byte for byte is tested through
the CLI in tests/e2e/test_cli_show.py."""

from __future__ import annotations

import dataclasses

import pytest
from plan.conftest import Workbench
from syrupy.assertion import SnapshotAssertion

from reconciler.plan.model import Binding, Plan
from reconciler.render.plan import render_json, render_markdown, render_text


def _stable(plan: Plan) -> Plan:
    return dataclasses.replace(
        plan,
        plan_id="p-fixed",
        created_at="2026-12-04T00:00:00+00:00",
        binding=Binding("lineage-fixed", plan.binding.serial, "h"),
        mask_key="fixed-mask-key",
    )


def first_sync(bench: Workbench) -> Plan:
    return bench.plan()


def no_op(bench: Workbench) -> Plan:
    bench.acknowledge(bench.plan())
    return bench.plan()


def guard_trip(bench: Workbench) -> Plan:
    bench.acknowledge(bench.plan())
    bench.edit("data/actioniq/aiq_51877_1.csv", "cust-0006\n", "")
    return bench.plan()


def template_update(bench: Workbench) -> Plan:
    bench.acknowledge(bench.plan())
    bench.edit("sendbird.yaml", '"template_key": "order_update"', '"template_key": "order_shipped"')
    bench.edit("sendbird.yaml", "Api-Token: SENDBIRD_API_TOKEN", "Api-Token: SENDBIRD_TOKEN_V2")
    return bench.plan()


def existing_users_only(bench: Workbench) -> Plan:
    bench.acknowledge(bench.plan())
    bench.edit(
        "amperity.yaml",
        "  on_missing_row: keep\n",
        "  on_missing_row: keep\n  update_existing_only: true\n",
    )
    bench.edit("data/amperity/braze_customer_attributes.csv", ",gold,", ",silver,")
    return bench.plan()


SCENARIOS = {
    "first_sync": first_sync,
    "no_op": no_op,
    "guard_trip": guard_trip,
    "template_update": template_update,
    "existing_users_only": existing_users_only,
}
FORMATS = {
    "text": lambda p: render_text(p),
    "text_colour": lambda p: render_text(p, color=True),
    "markdown": lambda p: render_markdown(p, environ={}),
    "json": lambda p: render_json(p),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_format_of_every_scenario(
    bench: Workbench, scenario: str, snapshot: SnapshotAssertion
) -> None:
    plan = _stable(SCENARIOS[scenario](bench))
    if scenario == "guard_trip":
        assert not plan.guards_ok
    if scenario == "template_update":
        (update,) = [r for r in plan.resource_changes if r.action == "update"]
        assert update.before and update.spec["content"] != update.before["content"]
    if scenario == "no_op":
        assert not plan.has_changes
    if scenario == "existing_users_only":
        assert [c.update_existing_only for c in plan.attribute_changes] == [True]
    for fmt, render in FORMATS.items():
        assert render(plan) == snapshot(name=fmt)


def test_markdown_carries_the_run_the_commit_and_the_next_step(bench: Workbench) -> None:
    plan = _stable(template_update(bench))
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/braze-manifests",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_SHA": "0123456789abcdef0123",
    }
    out = render_markdown(plan, environ=env)
    assert "[run 4242](https://github.com/acme/braze-manifests/actions/runs/4242)" in out
    assert "commit `0123456789ab`" in out
    assert "**Next:** merge to apply exactly these changes." in out
    assert "```diff" in out and '+  "template_key": "order_shipped",' in out
    assert "dashboard header Api-Token: `SENDBIRD_API_TOKEN` → `SENDBIRD_TOKEN_V2`" in out
