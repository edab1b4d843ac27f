"""Planning events: what the ledger has not acknowledged, once; refusals counted and located."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest
from events.conftest import Events
from events.support import AIQ_EVENTS, aiq_event, write_jsonl

from reconciler.errors import SourceDataError, StalePlanError
from reconciler.manifests import load_workspace
from reconciler.plan import events as planner
from reconciler.plan.event_model import EventNameCount, EventSample, EventsPlan
from reconciler.plan.events import with_events
from reconciler.plan.model import Binding, Plan, Summary
from reconciler.plan.planfile import load_plan, save_plan
from reconciler.state import LockRequest


def due_ids(plan: EventsPlan) -> list[str]:
    return [e.event_id for e in plan.events()]


def test_the_example_stream_is_planned_with_counts_per_name_and_samples(events: Events) -> None:
    plan = events.plan()
    assert plan.due == 5
    assert plan.by_name == (
        EventNameCount("aiq-events", "aiq_cart_abandoned", 2),
        EventNameCount("aiq-events", "aiq_product_viewed", 3),
    )
    assert plan.samples[0] == EventSample(
        "cust-0001", "aiq_product_viewed", "2026-11-20T09:15:00Z", "aiq-events"
    )
    assert plan.read == 5 and plan.expired == plan.duplicates == plan.in_doubt == 0
    assert plan.retention_days == 30
    assert plan.prune_before == "2026-10-22T12:00:00+00:00"  # 30 days + 1 day of clock skew
    first = next(plan.events())
    assert first.wire() == {
        "external_id": "cust-0001",
        "name": "aiq_product_viewed",
        "time": "2026-11-20T09:15:00Z",
        "properties": {"loyalty_tier": "gold", "price": 49.9, "sku": "SKU-1042"},
    }


def test_acknowledged_events_are_never_planned_again_and_ten_new_ones_are_ten(
    events: Events,
) -> None:
    events.acknowledge(due_ids(events.plan()))
    again = events.plan()
    assert (again.due, again.acknowledged) == (0, 5)
    assert not again.reported

    write_jsonl(events.root / AIQ_EVENTS, [aiq_event(100 + i) for i in range(10)], append=True)
    grown = events.plan()
    assert grown.due == 10
    assert sorted(due_ids(grown)) == [f"aiq-events:aiq-ev-{100 + i:06d}" for i in range(10)]


def test_due_events_come_out_ordered_by_user_then_time(events: Events) -> None:
    rows = [aiq_event(i, external_id=f"cust-{9 - i % 3}") for i in range(9)]
    write_jsonl(events.root / AIQ_EVENTS, rows)
    out = list(events.plan().events())
    keys = [(e.id_kind, e.user_id, e.time) for e in out]
    assert keys == sorted(keys)


def test_a_repeated_event_counts_once_and_a_reused_id_is_a_located_error(events: Events) -> None:
    path = events.root / AIQ_EVENTS
    write_jsonl(path, [aiq_event(1), aiq_event(2), aiq_event(1)])
    plan = events.plan()
    assert (plan.due, plan.duplicates) == (2, 1)

    write_jsonl(path, [aiq_event(1), aiq_event(2), aiq_event(1, external_id="cust-7777")])
    with pytest.raises(SourceDataError) as caught:
        events.plan()
    (problem,) = caught.value.diagnostics
    assert problem.render().startswith(
        f"{path}:3:1: event id 'aiq-events:aiq-ev-000001' was already used for a different"
        " event at row 1"
    )


def test_bad_events_fail_the_plan_located_unless_the_stream_skips_them(events: Events) -> None:
    path = events.root / AIQ_EVENTS
    write_jsonl(path, [aiq_event(1), aiq_event(2, properties={"price": 1.0})])
    col = path.read_text().splitlines()[1].index('"properties":') + 1  # sku is missing there
    with pytest.raises(SourceDataError) as caught:
        events.plan()
    assert [d.render() for d in caught.value.diagnostics] == [
        f"{path}:2:{col}: properties.sku: required by event 'aiq_product_viewed'"
    ]
    yaml = events.root / "actioniq.yaml"
    yaml.write_text(yaml.read_text().replace("retention_days: 30", "on_invalid: skip"))
    plan = events.plan()
    assert (plan.due, plan.skipped) == (1, 1)
    assert plan.skipped_at == (
        f"{path}:2:{col}: properties.sku: required by event 'aiq_product_viewed'",
    )


def test_a_skipped_event_is_located_in_the_plan_without_its_value() -> None:
    """The plan lists where skipped events are; the value that made one invalid (it may be an
    email in a price) stays out of it, as `validate` shows it instead."""
    from reconciler.plan.events import value_free

    assert value_free("properties.price: 'jane@example.com' is not a number") == (
        "properties.price: the value is not a number"
    )
    assert value_free('time: "it\'s \\"late\\"" is not an ISO 8601 time') == (
        "time: the value is not an ISO 8601 time"
    )
    kept = "properties.sku: required by event 'aiq_product_viewed'"
    assert value_free(kept) == kept


def test_events_older_than_the_horizon_are_refused_counted_and_located(events: Events) -> None:
    path = events.root / AIQ_EVENTS
    old = [aiq_event(i, timestamp="2026-10-01T00:00:00Z") for i in range(3)]
    write_jsonl(path, [*old, aiq_event(9)])
    plan = events.plan()
    assert (plan.due, plan.expired) == (1, 3)
    assert plan.expired_at[0] == (
        f"{path}:1:1: event at 2026-10-01T00:00:00Z is older than the horizon"
    )


def test_probing_a_large_ledger_finds_what_copying_it_finds(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(events.root / AIQ_EVENTS, [aiq_event(i) for i in range(40)])
    events.acknowledge([f"aiq-events:aiq-ev-{i:06d}" for i in range(0, 40, 3)])
    events.acknowledge([f"other:{i}" for i in range(500)])  # another stream's ids
    copied = due_ids(events.plan())
    monkeypatch.setattr(planner, "PROBE_RATIO", 1)  # 514 ids > 1 x 40 candidates: probe
    probed = due_ids(events.plan())
    assert copied == probed
    assert len(copied) == 40 - 14


def test_events_of_an_interrupted_request_are_flagged_in_doubt(events: Events) -> None:
    with events.state.lock(LockRequest("apply", "test")):
        spec = {"token": "t:0", "marker": ["external_id", "cust-0001"]}
        spec["events"] = ["aiq-events:aiq-ev-0001", "aiq-events:aiq-ev-0002"]
        events.state.put_resource("EventBatch.t:0", spec, remote_id=None)
    plan = events.plan()
    assert (plan.due, plan.in_doubt) == (5, 2)


def test_a_saved_plan_carries_its_events_and_refuses_an_edited_one(
    events: Events, tmp_path: Path
) -> None:
    ev = events.plan()
    deltas = tmp_path / "deltas.jsonl.gz"
    with gzip.open(deltas, "wt") as fh:
        fh.write(json.dumps(["external_id", "cust-0001", {"a": 1}, [["a", "1"]], [], 1]) + "\n")
    summary = Summary(1, 1, 0, 1, 1, 1, 0.0)
    summary = with_events(summary, ev, 3000)
    plan = Plan("p", "production", "now", Binding("l", 0, "h"), summary, (), (), (), (), deltas)
    plan = replace(plan, events=ev)
    saved = tmp_path / "saved.plan"
    save_plan(plan, saved, {"a.yaml": "x"})

    loaded, _ = load_plan(saved, tmp_path)
    assert loaded.events.due == 5 and loaded.events.by_name == ev.by_name
    assert list(loaded.events.events()) == list(ev.events())
    assert [d.user_id for d in loaded.deltas()] == ["cust-0001"]

    with gzip.open(saved, "rt") as fh:
        lines = fh.readlines()
    lines[-1] = lines[-1].replace("cust-", "cust-9")  # one event now goes to someone else
    with gzip.open(saved, "wt") as fh:
        fh.writelines(lines)
    with pytest.raises(StalePlanError, match="do not match its integrity hash"):
        load_plan(saved, tmp_path)


def test_streams_read_on_a_thread_plan_what_the_direct_read_plans(events: Events) -> None:
    """`EventsRead` (what `plan` uses, beside the sources) against `plan_events` itself: the
    same due events, and a bad event surfaces where the plan asks for the events."""
    path = events.root / AIQ_EVENTS
    write_jsonl(path, [aiq_event(n) for n in range(40)])
    m = load_workspace(events.root)
    direct = events.plan()
    pending = planner.EventsRead(m, events.state, events.spool)
    loaded = pending.result()
    assert loaded is not None
    threaded = loaded.finish("threaded", ())
    pending.close()
    assert due_ids(threaded) == due_ids(direct)
    assert (threaded.due, threaded.by_name) == (direct.due, direct.by_name)
    assert not list(events.spool.glob("events-*.duckdb"))  # its database went with it

    write_jsonl(path, [aiq_event(1), aiq_event(2, properties={"price": 1.0})])
    pending = planner.EventsRead(m, events.state, events.spool)
    with pytest.raises(SourceDataError) as caught:
        pending.result()
    pending.close()
    (problem,) = caught.value.diagnostics
    assert problem.render().endswith("properties.sku: required by event 'aiq_product_viewed'")


def test_events_read_that_nobody_took_are_dropped_with_their_database(events: Events) -> None:
    """A plan that fails before it asks for its events (a bad source row) leaves nothing."""
    write_jsonl(events.root / AIQ_EVENTS, [aiq_event(n) for n in range(5)])
    pending = planner.EventsRead(load_workspace(events.root), events.state, events.spool)
    pending.close()
    assert not list(events.spool.glob("events-*"))
