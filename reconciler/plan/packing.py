"""Pack attribute deltas and events into /users/track requests under the combined 75 objects.

Attributes, events and purchases share one limit of 75 objects per request (reference §1.1),
so the fewest requests come from filling every request with both kinds. The two streams are
merged by user (both arrive ordered by id kind and user id), so that a user's events ride in
the same request as that user's attributes, which Braze processes first (reference §1.1).

A user's attribute deltas are never split across requests: Braze may apply two requests out of
order (reference §11.3). Events may be: each carries its own time.

A request that carries events also carries one marker value (MARKER_ATTRIBUTE, in an attribute
object of a user already in the request, or in one object of its own when the request has no
attribute object): it costs one object only in that last case.

The planner counts requests with the same rules (`count_sorted`: the same greedy packing,
computed over runs of users without events instead of one object at a time, and proven equal
to `pack_objects` by tests/plan/test_packing_counts.py), so the plan's request count is what
apply sends.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from reconciler.plan.event_model import PlannedEvent
from reconciler.plan.model import OBJECTS_PER_REQUEST, UserDelta


class Packed(NamedTuple):
    deltas: tuple[UserDelta, ...]
    events: tuple[PlannedEvent, ...]

    @property
    def objects(self) -> int:
        return request_objects(len(self.deltas), len(self.events))


def request_objects(attribute_objects: int, events: int) -> int:
    """Objects a request holds, the marker's own object included when it needs one."""
    return attribute_objects + events + (1 if events and not attribute_objects else 0)


def user_groups(deltas: Iterable[UserDelta]) -> Iterator[list[UserDelta]]:
    """Consecutive deltas of one user, as one unsplittable group."""
    group: list[UserDelta] = []
    for delta in deltas:
        if group and (delta.id_kind, delta.user_id) != (group[0].id_kind, group[0].user_id):
            yield group
            group = []
        group.append(delta)
    if group:
        yield group


def _merged(
    deltas: Iterable[UserDelta], events: Iterable[PlannedEvent]
) -> Iterator[list[UserDelta] | PlannedEvent]:
    """Groups and events by user key; a user's attribute group comes before that user's events.

    Correct for any input order (every item comes out once); ordered inputs give co-location.
    """
    groups, evs = user_groups(deltas), iter(events)
    group, event = next(groups, None), next(evs, None)
    while group is not None or event is not None:
        if event is None or (
            group is not None
            and (group[0].id_kind, group[0].user_id) <= (event.id_kind, event.user_id)
        ):
            assert group is not None
            yield group
            group = next(groups, None)
        else:
            yield event
            event = next(evs, None)


def pack_objects(
    deltas: Iterable[UserDelta],
    events: Iterable[PlannedEvent] = (),
    size: int = OBJECTS_PER_REQUEST,
) -> Iterator[Packed]:
    """Stream requests of at most `size` objects (marker included), never splitting a user's
    attribute group; ValueError when one group alone is larger than `size`."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    attrs: list[UserDelta] = []
    evs: list[PlannedEvent] = []
    for unit in _merged(deltas, events):
        if isinstance(unit, list):
            if len(unit) > size:
                raise OversizedUser(unit[0], len(unit), size)
            if request_objects(len(attrs) + len(unit), len(evs)) > size:
                yield Packed(tuple(attrs), tuple(evs))
                attrs, evs = [], []
            attrs.extend(unit)
        else:
            if size < 2:
                raise ValueError("a batch size of 1 leaves no room for an event's marker")
            if request_objects(len(attrs), len(evs) + 1) > size:
                yield Packed(tuple(attrs), tuple(evs))
                attrs, evs = [], []
            evs.append(unit)
    if attrs or evs:
        yield Packed(tuple(attrs), tuple(evs))


class OversizedUser(ValueError):
    """One user's attribute deltas do not fit in one request."""

    def __init__(self, first: UserDelta, count: int, size: int) -> None:
        super().__init__(f"{count} objects for one user exceed {size}")
        self.first, self.count, self.size = first, count, size


def pack_counts(
    deltas: Iterable[UserDelta], events: Iterable[PlannedEvent], size: int = OBJECTS_PER_REQUEST
) -> tuple[int, int]:
    """(requests, requests carrying events) that packing these would make (what plans show)."""
    requests = carrying = 0
    for packed in pack_objects(deltas, events, size):
        requests += 1
        carrying += 1 if packed.events else 0
    return requests, carrying


Key = tuple[str, str]  # (id_kind, user_id)


class _Counter:
    """The greedy packing of `pack_objects`, counting requests instead of building them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.attrs = self.events = self.requests = self.carrying = 0

    def flush(self) -> None:
        if self.attrs or self.events:
            self.requests += 1
            self.carrying += 1 if self.events else 0
            self.attrs = self.events = 0

    def add_users(self, n: int) -> None:
        """`n` users with one attribute object each, in a row (one object per user)."""
        while n > 0:
            room = self.size - self.attrs - self.events  # request_objects(a + 1, e) <= size
            if room <= 0:
                self.flush()
                room = self.size
            take = min(n, room)
            self.attrs += take
            n -= take

    def add_event(self) -> None:
        if self.size < 2:
            raise ValueError("a batch size of 1 leaves no room for an event's marker")
        if request_objects(self.attrs, self.events + 1) > self.size:
            self.flush()
        self.events += 1


def count_sorted(
    delta_keys: Iterable[Sequence[Key]],
    events: Iterable[PlannedEvent],
    size: int = OBJECTS_PER_REQUEST,
) -> tuple[int, int]:
    """`pack_counts` for a spool of one delta per user, given only its users' keys in send
    order (batches of sorted, distinct keys): Python touches each user with events, and the
    users between two of them only as a count (a first sync has a million users)."""
    counter = _Counter(size)
    evs = iter(events)
    event = next(evs, None)
    for keys in delta_keys:
        if not keys:
            continue
        last, pos = keys[-1], 0
        while event is not None and (event.id_kind, event.user_id) <= last:
            key = (event.id_kind, event.user_id)
            at = bisect_left(keys, key, pos)
            counter.add_users(at - pos)
            pos = at
            if at < len(keys) and keys[at] == key:
                counter.add_users(1)  # the user's attribute object comes before its events
                pos += 1
            while event is not None and (event.id_kind, event.user_id) == key:
                counter.add_event()
                event = next(evs, None)
        counter.add_users(len(keys) - pos)
    while event is not None:
        counter.add_event()
        event = next(evs, None)
    counter.flush()
    return counter.requests, counter.carrying
