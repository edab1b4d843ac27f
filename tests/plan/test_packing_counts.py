"""The planner's request counts (`count_sorted`, over runs of users) equal what apply packs
(`pack_objects`, one object at a time), for any mix of users and events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.plan.event_model import PlannedEvent
from reconciler.plan.model import UserDelta
from reconciler.plan.packing import count_sorted, pack_counts

KINDS = ("braze_id", "external_id", "user_alias")


def _user(n: int) -> tuple[str, str]:
    return KINDS[n % 3], f"u{n // 3:05d}"


@st.composite
def workloads(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[PlannedEvent], int, int]:
    pool = draw(st.integers(min_value=0, max_value=600))
    users = sorted({_user(n) for n in draw(st.lists(st.integers(0, pool), max_size=400))})
    event_users = draw(st.lists(st.integers(0, pool), max_size=200))
    events = sorted(
        PlannedEvent(f"e{i}", *_user(n), "ev", "2026-01-01T00:00:00Z", {})
        for i, n in enumerate(event_users)
    )
    events.sort(key=lambda e: (e.id_kind, e.user_id))
    size = draw(st.sampled_from([2, 3, 5, 75]))
    batch = draw(st.integers(min_value=1, max_value=90))
    return users, events, size, batch


@settings(max_examples=300, deadline=None)
@given(workloads())
def test_count_sorted_equals_packing(work: tuple[list[tuple[str, str]], list, int, int]) -> None:
    users, events, size, batch = work
    deltas = [UserDelta(k, u, {"a": 1}, (("a", "1"),), (), 1) for k, u in users]
    batches = [users[i : i + batch] for i in range(0, len(users), batch)]
    assert count_sorted(batches, events, size) == pack_counts(deltas, events, size)


def test_count_sorted_first_sync_shape() -> None:
    """A million-user shape in miniature: 10,000 users, events on every 7th user and on users
    with no attribute delta; the counts are exact and the run arithmetic is exercised."""
    users = [("external_id", f"u{n:06d}") for n in range(0, 20_000, 2)]
    events = [
        PlannedEvent(f"e{n}", "external_id", f"u{n:06d}", "ev", "2026-01-01T00:00:00Z", {})
        for n in range(0, 20_000, 7)
    ]
    deltas = [UserDelta(k, u, {"a": 1}, (("a", "1"),), (), 1) for k, u in users]
    batches = [users[i : i + 999] for i in range(0, len(users), 999)]
    expected = pack_counts(deltas, events)
    assert count_sorted(batches, events) == expected
    assert expected[0] > 10_000 // 75
