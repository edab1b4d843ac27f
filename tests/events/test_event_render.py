"""The events part of a plan in text, markdown and JSON (snapshots), identifiers masked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from syrupy.assertion import SnapshotAssertion

from reconciler.plan.event_model import EventNameCount, EventSample, EventsPlan
from reconciler.plan.model import AttributeChange, Binding, Plan, Summary
from reconciler.render.plan import render_json, render_markdown, render_text

EVENTS = EventsPlan(
    due=1240,
    by_name=(
        EventNameCount("aiq-events", "aiq_cart_abandoned", 310),
        EventNameCount("aiq-events", "aiq_product_viewed", 890),
        EventNameCount("sendbird-tracking", "sendbird_notification", 40),
    ),
    samples=(
        EventSample("cust-000123", "aiq_product_viewed", "2026-11-21T09:15:00Z", "aiq-events"),
        EventSample("cust-000456", "aiq_cart_abandoned", "2026-11-21T10:02:11Z", "aiq-events"),
    ),
    expired=12,
    expired_at=(
        "manifests/data/actioniq/events.jsonl:4:1: event at 2026-10-01T00:00:00Z is"
        " older than the horizon",
    ),  # fmt: skip
    duplicates=3,
    in_doubt=75,
    acknowledged=48_000,
    read=1255,
    streams=("aiq-events", "sendbird-tracking"),
    retention_days=30,
    prune_before="2026-10-21T12:00:00+00:00",
    data_points=1257,
    requests_with_events=17,
)


def plan(events: EventsPlan = EVENTS, users: int = 40) -> Plan:
    summary = Summary(
        users_changed=users,
        attribute_updates=users,
        events=events.due,
        data_points=users + events.data_points,
        requests=17,
        full_resend_data_points=5000 + events.read,
        estimated_seconds=0.02,
    )
    changes = (AttributeChange("AIQ_48213_2", set=users, data_points=users),) if users else ()
    return Plan(
        plan_id="abc123",
        workspace="production",
        created_at="2026-11-22T12:00:00+00:00",
        binding=Binding("lineage-1", 7, "h"),
        summary=summary,
        attribute_changes=changes,
        resource_changes=(),
        guards=(),
        samples=(),
        deltas_path=Path("unused"),
        events=events,
    )


def test_text(snapshot: SnapshotAssertion) -> None:
    text = render_text(plan())
    assert "cust-000123" not in text
    assert text == snapshot


def test_text_show_values(snapshot: SnapshotAssertion) -> None:
    text = render_text(plan(), show_values=True)
    assert "cust-000123" in text
    assert text == snapshot


def test_markdown(snapshot: SnapshotAssertion) -> None:
    text = render_markdown(plan())
    assert "cust-000123" not in text
    assert text == snapshot


def test_json(snapshot: SnapshotAssertion) -> None:
    text = render_json(plan())
    assert '"events": 1240' in text  # summary.events, the contract field
    assert "cust-000123" not in text
    assert text == snapshot


def test_nothing_due_but_refusals_still_reported(snapshot: SnapshotAssertion) -> None:
    quiet = replace(
        EVENTS, due=0, by_name=(), samples=(), in_doubt=0, duplicates=0, data_points=0,
        requests_with_events=0,
    )  # fmt: skip
    p = plan(quiet, users=0)
    assert not p.has_changes
    assert render_text(p) == snapshot(name="text")
    assert render_markdown(p) == snapshot(name="markdown")
