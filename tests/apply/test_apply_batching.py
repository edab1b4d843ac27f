"""Packing: at most 75 objects per request, ceil(users / 75) requests, a user never split."""

from __future__ import annotations

import math

import pytest
from apply.support import delta
from hypothesis import given
from hypothesis import strategies as st

from reconciler.apply.batching import Batch, pack
from reconciler.plan.event_model import MARKER_ATTRIBUTE, PlannedEvent
from reconciler.plan.model import UserDelta


@pytest.mark.parametrize("users", [0, 1, 74, 75, 76, 150, 1001])
def test_75_per_request_and_ceil_users_over_75_requests(users: int) -> None:
    batches = list(pack(delta(f"u{i}", a=i) for i in range(users)))
    assert len(batches) == math.ceil(users / 75)
    assert [b.no for b in batches] == list(range(len(batches)))
    assert all(len(b.deltas) == 75 for b in batches[:-1])
    assert sum(len(b.deltas) for b in batches) == users
    if batches:
        first = batches[0].payload["attributes"][0]
        assert first == {"external_id": "u0", "a": 0}


@given(st.lists(st.integers(min_value=1, max_value=9), max_size=120), st.integers(9, 80))
def test_one_users_deltas_always_share_a_request(group_sizes: list[int], size: int) -> None:
    deltas = [delta(f"u{u}", a=k) for u, n in enumerate(group_sizes) for k in range(n)]
    batches = list(pack(deltas, size))
    assert [d for b in batches for d in b.deltas] == deltas  # order kept, nothing lost
    owner: dict[str, int] = {}
    for b in batches:
        assert len(b.deltas) <= size
        for d in b.deltas:
            assert owner.setdefault(d.user_id, b.no) == b.no


def test_a_user_with_more_objects_than_a_request_is_a_bug_not_a_split() -> None:
    with pytest.raises(ValueError, match=r"76 objects for one user \(external_id=u…\d\)"):
        list(pack([delta("u-12345", a=i) for i in range(76)]))


def test_batch_counts() -> None:
    (batch,) = pack([delta("a", x=1, y=2), delta("a", z=None), delta("b", x=3)])
    assert (batch.users, batch.data_points) == (2, 4)


def _event(user: str) -> PlannedEvent:
    return PlannedEvent(f"e:{user}", "external_id", user, "ev", "2026-11-20T00:00:00Z", {})


ONLY = frozenset({"tier"})  # written by an `update_existing_only: true` sync


def _flags(batch: Batch) -> list[tuple[str, bool, bool]]:
    """(user, flagged update-only, carries the marker) per attribute object."""
    return [
        (str(o["external_id"]), o.get("_update_existing_only") is True, MARKER_ATTRIBUTE in o)
        for o in batch.payload["attributes"]
    ]


def test_an_object_of_only_update_only_attributes_is_flagged_and_others_are_not() -> None:
    (batch,) = pack(
        [delta("a", tier="gold"), delta("b", tier="gold", AIQ_1_1=True), delta("c", AIQ_1_1=None)],
        update_only=ONLY,
    )
    assert _flags(batch) == [("a", True, False), ("b", False, False), ("c", False, False)]
    assert batch.payload["attributes"][0] == {
        "external_id": "a",
        "tier": "gold",
        "_update_existing_only": True,
    }
    (plain,) = pack([delta("a", tier="gold")])
    assert _flags(plain) == [("a", False, False)]  # no sync asked for it: as before


@pytest.mark.parametrize(
    ("deltas", "events", "flags", "marker"),
    [
        # the first object Braze surely writes hosts the marker
        (
            [delta("a", tier="x"), delta("b", AIQ_1_1=True)],
            ["a"],
            [("a", True, False), ("b", False, True)],
            "b",
        ),
        # all flagged: the object of a user the request sends an event for, unflagged (the
        # event creates that profile anyway)
        (
            [delta("a", tier="x"), delta("b", tier="y")],
            ["b"],
            [("a", True, False), ("b", False, True)],
            "b",
        ),
        # all flagged and no event of theirs: the first object, unflagged
        (
            [delta("a", tier="x"), delta("b", tier="y")],
            ["z"],
            [("a", False, True), ("b", True, False)],
            "a",
        ),
    ],
)
def test_the_marker_rides_an_object_braze_surely_writes(
    deltas: list[UserDelta], events: list[str], flags: list[tuple[str, bool, bool]], marker: str
) -> None:
    (batch,) = pack(deltas, events=[_event(u) for u in events], token_prefix="t", update_only=ONLY)
    assert _flags(batch) == flags
    assert batch.marker_user == ("external_id", marker)  # where settling reads it back
    assert len(batch.payload["attributes"]) == len(deltas)  # never an object more
