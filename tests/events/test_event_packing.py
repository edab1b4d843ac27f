"""Packing: attributes and events share 75 objects per request, in as few requests as possible."""

from __future__ import annotations

import math

from apply.support import delta
from hypothesis import given
from hypothesis import strategies as st

from reconciler.apply.batching import pack
from reconciler.plan.event_model import MARKER_ATTRIBUTE, PlannedEvent
from reconciler.plan.model import OBJECTS_PER_REQUEST
from reconciler.plan.packing import pack_objects, request_objects


def event(user: str, n: int = 0, kind: str = "external_id") -> PlannedEvent:
    return PlannedEvent(f"s:{user}:{n}", kind, user, "e", f"2026-11-20T00:00:{n % 60:02d}Z", {})


def test_50_attribute_updates_and_50_events_go_out_in_2_requests_not_3() -> None:
    deltas = [delta(f"u{i:03d}", tier="gold") for i in range(50)]
    events = [event(f"v{i:03d}") for i in range(50)]
    batches = list(pack(deltas, events=events, token_prefix="apply1"))
    assert len(batches) == 2
    assert [(len(b.deltas), len(b.events)) for b in batches] == [(50, 25), (0, 25)]
    # the first request's marker rides in an attribute object; the second needs one of its own
    first, second = (b.payload for b in batches)
    assert len(first["attributes"]) + len(first["events"]) == 75
    assert first["attributes"][0][MARKER_ATTRIBUTE] == {"add": ["apply1:0"]}
    assert second["attributes"] == [
        {"external_id": "v025", MARKER_ATTRIBUTE: {"add": ["apply1:1"]}}
    ]
    assert len(second["events"]) == 25


def test_a_users_events_ride_with_that_users_attributes() -> None:
    deltas = [delta(f"u{i:03d}", tier="gold") for i in range(0, 200, 2)]
    events = [event(f"u{i:03d}", n) for i in range(200) for n in range(2)]
    batches = list(pack(deltas, events=events, token_prefix="t"))
    where_attrs = {d.user_id: b.no for b in batches for d in b.deltas}
    apart = {
        e.user_id for b in batches for e in b.events if where_attrs.get(e.user_id, b.no) != b.no
    }
    assert len(batches) == math.ceil((100 + 400) / 75)
    assert len(apart) < len(batches)  # only a user straddling a request boundary


def test_events_only_fill_requests_of_74_events_and_a_marker() -> None:
    batches = list(pack([], events=[event(f"u{i}") for i in range(300)], token_prefix="t"))
    assert [len(b.events) for b in batches] == [74, 74, 74, 74, 4]
    assert all(len(b.payload["attributes"]) == 1 for b in batches)
    assert [b.token for b in batches] == [f"t:{n}" for n in range(5)]
    assert [b.data_points for b in batches] == [75, 75, 75, 75, 5]


def test_without_events_nothing_changes() -> None:
    (batch,) = pack([delta("a", x=1)])
    assert batch.payload == {"attributes": [{"external_id": "a", "x": 1}]}
    assert (batch.token, batch.marker_user, batch.data_points) == ("", None, 1)


@given(
    st.lists(st.integers(min_value=0, max_value=4), max_size=150),
    st.lists(st.integers(min_value=0, max_value=6), max_size=150),
    st.integers(min_value=5, max_value=OBJECTS_PER_REQUEST),
)
def test_every_object_goes_once_within_the_limit_and_requests_are_minimal(
    attribute_groups: list[int], event_counts: list[int], size: int
) -> None:
    deltas = [delta(f"u{u:04d}", a=k) for u, n in enumerate(attribute_groups) for k in range(n)]
    events = [event(f"u{u:04d}", k) for u, n in enumerate(event_counts) for k in range(n)]
    packed = list(pack_objects(deltas, events, size))
    assert [d for p in packed for d in p.deltas] == deltas
    assert sorted(e for p in packed for e in p.events) == sorted(events)
    owner: dict[str, int] = {}
    for no, p in enumerate(packed):
        assert 0 < p.objects <= size
        for d in p.deltas:
            assert owner.setdefault(d.user_id, no) == no  # a user's attributes never split
    # Full requests but the last, give or take one object per request (a user's group that
    # did not fit, or an events-only request's marker): never more requests than that allows.
    total = len(deltas) + len(events)
    largest = max(attribute_groups, default=1)
    assert len(packed) <= max(1 if total else 0, math.ceil(total / (size - largest)) + 1)
    assert request_objects(0, 0) == 0
