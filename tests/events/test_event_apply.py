"""Applying events against a sandbox on loopback: once on success, once after a lost answer."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from apply.support import Sandbox, delta, make_plan, running_sandbox

from reconciler.apply import NullProgress
from reconciler.apply.executor import ApplyOptions
from reconciler.apply.result import ApplyResult
from reconciler.apply.run import run_apply
from reconciler.plan.event_model import INTENT_PREFIX, EventsPlan, EventSpool, PlannedEvent
from reconciler.plan.events import counted, with_events
from reconciler.plan.model import Plan, UserDelta
from reconciler.plan.packing import pack_counts
from reconciler.state import StateStore, open_state

pytestmark = pytest.mark.e2e


def event(n: int, **overrides: Any) -> PlannedEvent:
    fields: dict[str, Any] = {
        "event_id": f"s:{n}",
        "id_kind": "external_id",
        "user_id": f"v{n:04d}",
        "name": "aiq_product_viewed",
        "time": "2026-11-20T09:15:00Z",
        "properties": {"n": n},
    }
    fields.update(overrides)
    return PlannedEvent(**fields)


def plan_with(
    directory: Path,
    state: StateStore,
    deltas: list[UserDelta],
    events: list[PlannedEvent],
    plan_id: str = "plan-1",
    prune_before: str | None = None,
) -> Plan:
    base = make_plan(directory, deltas, state=state, plan_id=plan_id)
    spool = EventSpool(directory / f"{plan_id}.events.jsonl.gz")
    for e in sorted(events, key=lambda e: (e.id_kind, e.user_id, e.time)):
        spool.add(e)
    spool.close()
    ev = EventsPlan(
        due=len(events), streams=("s",), retention_days=30, spool_path=spool.path,
        prune_before=prune_before,
    )  # fmt: skip
    ev = counted(ev, *pack_counts(base.deltas(), ev.events()))
    return replace(base, summary=with_events(base.summary, ev, 3000), events=ev)


def apply(plan: Plan, state_url: str, sandbox: Sandbox, settle: float = 0.0) -> ApplyResult:
    options = ApplyOptions(settle_seconds=settle, handle_sigint=False, seed=1)
    return run_apply(
        plan,
        state_url=state_url,
        endpoint=sandbox.url,
        api_key=sandbox.key,
        progress=NullProgress(),
        options=options,
    )


def held(sandbox: Sandbox) -> Counter[int]:
    """How many times the sandbox recorded each event (by its `n` property)."""
    return Counter(e["properties"]["n"] for e in sandbox.admin("GET", "/_sandbox/events")["events"])


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path) as running:
        yield running


def test_attributes_and_events_share_requests_and_are_recorded_together(
    tmp_path: Path, state: StateStore, state_url: str, sandbox: Sandbox
) -> None:
    deltas = [delta(f"u{i:04d}", tier="gold") for i in range(50)]
    plan = plan_with(tmp_path, state, deltas, [event(i) for i in range(50)])
    assert (plan.summary.requests, plan.summary.events, plan.summary.data_points) == (2, 50, 102)
    state.close()

    result = apply(plan, state_url, sandbox)
    assert result.status == "applied"
    assert (result.requests, result.acknowledged, result.events_sent) == (2, 50, 50)
    stats = sandbox.stats()
    assert stats["requests"]["/users/track"] == 2
    assert stats["data_points"] == plan.summary.data_points == result.data_points
    assert held(sandbox) == Counter(range(50))
    with open_state(state_url) as after:
        assert after.event_count() == 50
        assert sorted(j.events for j in after.journal()) == [25, 25]
        assert not [a for a in after.resources() if a.startswith(INTENT_PREFIX)]


def test_an_event_braze_rejects_inside_a_201_stays_pending_and_is_reported(
    tmp_path: Path, state: StateStore, state_url: str, sandbox: Sandbox
) -> None:
    bad = event(3, time="not a time", user_id="v0003-abcdefgh")
    plan = plan_with(tmp_path, state, [], [event(1), event(2), bad])
    state.close()
    result = apply(plan, state_url, sandbox)
    assert result.status == "partial"
    assert (result.events_sent, result.events_rejected) == (2, 1)
    (rejection,) = result.event_rejections
    assert (rejection.user, rejection.reason) == (
        "v00…efgh",
        "aiq_product_viewed: Invalid 'time' field",
    )
    assert "v0003-abcdefgh" not in "\n".join(result.summary_lines())
    assert "  1 events rejected by Braze, left pending:" in result.summary_lines()
    with open_state(state_url) as after:
        assert after.has_events(["s:1", "s:2", "s:3"]) == {"s:1", "s:2"}


@pytest.mark.parametrize("when", ["after", "before"])
def test_a_lost_answer_is_settled_by_the_marker_never_by_a_blind_resend(
    tmp_path: Path, state: StateStore, state_url: str, sandbox: Sandbox, when: str
) -> None:
    plan = plan_with(tmp_path, state, [delta("u1", tier="gold")], [event(i) for i in range(10)])
    state.close()
    sandbox.admin(
        "POST", "/_sandbox/faults", {"fail_requests": [{"n": 1, "status": "drop", "when": when}]}
    )
    result = apply(plan, state_url, sandbox, settle=0)
    assert result.status == "applied"
    assert result.events_sent == 10
    assert held(sandbox) == Counter(range(10))  # landed once, whether the drop came before or after
    requests = sandbox.stats()["requests"]
    assert requests["/users/export/ids"] == 1  # the marker was read back once
    assert requests["/users/track"] == (1 if when == "after" else 2)


def test_an_answer_lost_too_recently_to_tell_is_settled_by_the_next_apply(
    tmp_path: Path, state: StateStore, state_url: str, sandbox: Sandbox
) -> None:
    plan = plan_with(tmp_path, state, [], [event(i) for i in range(10)])
    state.close()
    sandbox.admin("POST", "/_sandbox/config", {"consistency_delay_ms": 60_000})
    sandbox.admin(
        "POST", "/_sandbox/faults", {"fail_requests": [{"n": 1, "status": "drop", "when": "after"}]}
    )
    first = apply(plan, state_url, sandbox, settle=300)
    assert first.status == "partial"
    assert (first.events_sent, first.events_in_doubt) == (0, 10)
    assert any("10 events in doubt" in line for line in first.summary_lines())

    with open_state(state_url) as s:
        again = plan_with(tmp_path, s, [], [event(i) for i in range(10)], plan_id="plan-2")
    waiting = apply(again, state_url, sandbox, settle=300)  # still too recent: held back
    assert (waiting.status, waiting.events_held, waiting.events_sent) == ("partial", 10, 0)

    sandbox.admin("POST", "/_sandbox/config", {"consistency_delay_ms": 0})
    with open_state(state_url) as s:
        last = plan_with(tmp_path, s, [], [event(i) for i in range(10)], plan_id="plan-3")
    settled = apply(last, state_url, sandbox, settle=0)
    assert settled.status == "applied"
    assert (settled.events_recovered, settled.events_sent) == (10, 0)
    assert held(sandbox) == Counter(range(10))
    with open_state(state_url) as after:
        assert after.event_count() == 10
        assert not [a for a in after.resources() if a.startswith(INTENT_PREFIX)]


def test_apply_prunes_event_ids_older_than_the_horizon(
    tmp_path: Path, state: StateStore, state_url: str, sandbox: Sandbox
) -> None:
    plan = plan_with(tmp_path, state, [], [event(i) for i in range(5)])
    state.close()
    assert apply(plan, state_url, sandbox).events_sent == 5
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()
    with open_state(state_url) as s:
        second = plan_with(tmp_path, s, [], [event(9)], plan_id="plan-2", prune_before=later)
    result = apply(second, state_url, sandbox)
    assert result.events_pruned == 6  # every id acknowledged before `later`, this run's too
    with open_state(state_url) as after:
        assert after.event_count() == 0
