"""Packing: at most 75 objects per request, ceil(users / 75) requests, a user never split."""

from __future__ import annotations

import math

import pytest
from apply.support import delta
from hypothesis import given
from hypothesis import strategies as st

from reconciler.apply.batching import pack


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
