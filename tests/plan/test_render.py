"""Every plan renderer, snapshot-tested, and PII-safe by default."""

from __future__ import annotations

import dataclasses
import json

from plan.conftest import Workbench
from syrupy.assertion import SnapshotAssertion

from reconciler.plan.model import Binding, Plan
from reconciler.render.plan import MARKDOWN_LIMIT, render_json, render_markdown, render_text

RAW = ["camille.martin@example.com", "1984-07-09", "cust-0001", "sb-user-0001"]


def _stable(plan: Plan) -> Plan:
    return dataclasses.replace(
        plan,
        plan_id="p-fixed",
        mask_key="fixed-mask-key",
        created_at="2026-11-22T00:00:00+00:00",
        binding=Binding("lineage-fixed", plan.binding.serial, "h"),
    )


def _changed(bench: Workbench) -> Plan:
    bench.acknowledge(bench.plan())
    bench.edit("data/amperity/braze_customer_attributes.csv", "cust-0002,silver", "cust-0002,gold")
    bench.edit("data/actioniq/aiq_48213_2.csv", "cust-0003\n", "")
    bench.edit("data/actioniq/aiq_51877_1.csv", "cust-0006\n", "")
    return _stable(bench.plan())


def test_text(bench: Workbench, snapshot: SnapshotAssertion) -> None:
    assert render_text(_changed(bench)) == snapshot


def test_text_colour_on_a_tty(bench: Workbench) -> None:
    out = render_text(_changed(bench), color=True)
    assert "\033[" in out


def test_markdown(bench: Workbench, snapshot: SnapshotAssertion) -> None:
    assert render_markdown(_changed(bench)) == snapshot


def test_json(bench: Workbench, snapshot: SnapshotAssertion) -> None:
    out = render_json(_changed(bench))
    doc = json.loads(out)
    assert {
        "format_version",
        "workspace",
        "state",
        "summary",
        "resource_changes",
        "attribute_changes",
        "guards",
    } <= set(doc)
    assert out == snapshot


def test_no_changes(bench: Workbench, snapshot: SnapshotAssertion) -> None:
    bench.acknowledge(bench.plan())
    assert render_text(_stable(bench.plan())) == snapshot


def test_first_plan_is_pii_safe_unless_show_values(bench: Workbench) -> None:
    plan = bench.plan()
    for out in (render_text(plan), render_markdown(plan), render_json(plan)):
        for raw in RAW:
            assert raw not in out
    revealed = render_text(plan, show_values=True)
    assert "cust-0001" in revealed


def test_markdown_stays_under_the_comment_limit(bench: Workbench) -> None:
    plan = bench.plan()
    many = tuple(
        dataclasses.replace(c, attribute=f"{c.attribute}_{i}")
        for i in range(400)
        for c in plan.attribute_changes
    )
    big = dataclasses.replace(plan, attribute_changes=many)
    out = render_markdown(big)
    assert len(out) <= MARKDOWN_LIMIT
    assert "truncated: the full plan is in the JSON plan" in out
    # every section opened (plain or open) is closed, and the cost and next step still end it
    opened = out.count("<details>") + out.count("<details open>")
    assert opened == out.count("</details>") >= 1
    assert out.rstrip().endswith("**Next:** merge to apply exactly these changes.")
    assert "Cost: " in out[out.index("truncated") :]
