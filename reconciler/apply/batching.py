"""Pack user deltas into /users/track requests of at most 75 objects, never splitting a user.

One UserDelta is one attributes object. Braze may apply two requests for the same user out of
order (reference §11.3), so every delta of one user goes in the same request. The planner emits
a user's deltas consecutively; consecutive deltas of the same user form one unsplittable group.
Events share the 75 objects (reconciler.plan.packing); a request carrying events also carries
its marker token (see MARKER_ATTRIBUTE), which is how a lost answer is settled later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.plan.event_model import MARKER_ATTRIBUTE, PlannedEvent
from reconciler.plan.model import OBJECTS_PER_REQUEST, UserDelta
from reconciler.plan.packing import OversizedUser, pack_objects
from reconciler.render.masking import mask_identifier

EXISTING_ONLY_KEY = "_update_existing_only"  # Braze's per-object control key


@dataclass(frozen=True)
class Batch:
    """One request's worth of deltas; `no` numbers batches from 0 in send order.

    `update_only` names the attributes sent with Braze's `_update_existing_only` (the plan's
    AttributeChange.update_existing_only): an object that writes only those is flagged, so
    Braze updates that user if it has it and creates nobody."""

    no: int
    deltas: tuple[UserDelta, ...]
    events: tuple[PlannedEvent, ...] = ()
    token: str = ""  # the marker value, unique per request; set when the batch has events
    update_only: frozenset[str] = frozenset()

    def existing_only(self, delta: UserDelta) -> bool:
        """Whether this delta's object goes with `_update_existing_only`."""
        attributes = delta.attributes
        return bool(self.update_only and attributes) and all(
            a in self.update_only for a in attributes
        )

    @property
    def _host(self) -> int | None:
        """Which attribute object carries the marker: one Braze surely writes. A flagged object
        of a user Braze lacks would be skipped, and its marker with it (a lost answer would
        then resend events that landed), so the first unflagged object; else the object of a
        user this request also sends an event for (that event creates the profile anyway),
        sent unflagged; else the first object, unflagged: the one user such a request may
        create against its sync's rule. Packing is unchanged, so the plan's count of requests
        stays exact."""
        if not self.events or not self.deltas:
            return None
        for i, delta in enumerate(self.deltas):
            if not self.existing_only(delta):
                return i
        with_events = {(e.id_kind, e.user_id) for e in self.events}
        for i, delta in enumerate(self.deltas):
            if (delta.id_kind, delta.user_id) in with_events:
                return i
        return 0

    @property
    def marker_user(self) -> tuple[str, str] | None:
        """(id_kind, user_id) whose attribute object carries the marker, if any."""
        if not self.events:
            return None
        host = self._host
        first = self.deltas[host] if host is not None else self.events[0]
        return first.id_kind, first.user_id

    @property
    def payload(self) -> dict[str, Any]:
        host = self._host
        attributes = [
            {**d.wire(), EXISTING_ONLY_KEY: True}
            if i != host and self.existing_only(d)
            else d.wire()
            for i, d in enumerate(self.deltas)
        ]
        if not self.events:
            return {"attributes": attributes}
        marker = {MARKER_ATTRIBUTE: {"add": [self.token]}}
        if host is not None:
            attributes[host] = {**attributes[host], **marker}
        else:
            event = self.events[0]
            attributes.append({event.id_kind: event.user_id, **marker})
        return {"attributes": attributes, "events": [e.wire() for e in self.events]}

    @property
    def data_points(self) -> int:
        """Attribute points, one per event, and one for the marker value."""
        events = len(self.events) + 1 if self.events else 0
        return sum(d.data_points for d in self.deltas) + events

    @property
    def users(self) -> int:
        return len({(d.id_kind, d.user_id) for d in self.deltas})


def pack(
    deltas: Iterable[UserDelta],
    size: int = OBJECTS_PER_REQUEST,
    *,
    events: Iterable[PlannedEvent] = (),
    token_prefix: str = "",
    update_only: frozenset[str] = frozenset(),
) -> Iterator[Batch]:
    """Stream batches of at most `size` objects; a user's group never straddles two batches.

    A batch with events gets the marker token `<token_prefix>:<batch no>`.
    """
    try:
        for no, packed in enumerate(pack_objects(deltas, events, size)):
            token = f"{token_prefix}:{no}" if packed.events else ""
            yield Batch(no, packed.deltas, packed.events, token, update_only)
    except OversizedUser as e:
        user = f"{e.first.id_kind}={mask_identifier(e.first.user_id)}"
        raise ValueError(f"{e.count} objects for one user ({user}) exceed {e.size}") from None
