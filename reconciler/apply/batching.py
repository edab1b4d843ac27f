"""Pack user deltas into /users/track requests of at most 75 objects, never splitting a user.

One UserDelta is one attributes object. Braze may apply two requests for the same user out of
order (reference §11.3), so every delta of one user goes in the same request. The planner emits
a user's deltas consecutively; consecutive deltas of the same user form one unsplittable group.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.plan.model import OBJECTS_PER_REQUEST, UserDelta
from reconciler.render.masking import mask_identifier


@dataclass(frozen=True)
class Batch:
    """One request's worth of deltas; `no` numbers batches from 0 in send order."""

    no: int
    deltas: tuple[UserDelta, ...]

    @property
    def payload(self) -> dict[str, Any]:
        return {"attributes": [d.wire() for d in self.deltas]}

    @property
    def data_points(self) -> int:
        return sum(d.data_points for d in self.deltas)

    @property
    def users(self) -> int:
        return len({(d.id_kind, d.user_id) for d in self.deltas})


def _user_groups(deltas: Iterable[UserDelta]) -> Iterator[list[UserDelta]]:
    group: list[UserDelta] = []
    for delta in deltas:
        if group and (delta.id_kind, delta.user_id) != (group[0].id_kind, group[0].user_id):
            yield group
            group = []
        group.append(delta)
    if group:
        yield group


def pack(deltas: Iterable[UserDelta], size: int = OBJECTS_PER_REQUEST) -> Iterator[Batch]:
    """Stream batches of at most `size` objects; a user's group never straddles two batches."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    current: list[UserDelta] = []
    no = 0
    for group in _user_groups(deltas):
        if len(group) > size:
            user = f"{group[0].id_kind}={mask_identifier(group[0].user_id)}"
            raise ValueError(f"{len(group)} objects for one user ({user}) exceed {size}")
        if len(current) + len(group) > size:
            yield Batch(no, tuple(current))
            no += 1
            current = []
        current.extend(group)
    if current:
        yield Batch(no, tuple(current))
