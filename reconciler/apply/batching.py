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


@dataclass(frozen=True)
class Batch:
    """One request's worth of deltas; `no` numbers batches from 0 in send order."""

    no: int
    deltas: tuple[UserDelta, ...]
    events: tuple[PlannedEvent, ...] = ()
    token: str = ""  # the marker value, unique per request; set when the batch has events

    @property
    def marker_user(self) -> tuple[str, str] | None:
        """(id_kind, user_id) whose attribute object carries the marker, if any."""
        if not self.events:
            return None
        first = self.deltas[0] if self.deltas else self.events[0]
        return first.id_kind, first.user_id

    @property
    def payload(self) -> dict[str, Any]:
        attributes = [d.wire() for d in self.deltas]
        if not self.events:
            return {"attributes": attributes}
        marker = {MARKER_ATTRIBUTE: {"add": [self.token]}}
        if attributes:
            attributes[0] = {**attributes[0], **marker}
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
) -> Iterator[Batch]:
    """Stream batches of at most `size` objects; a user's group never straddles two batches.

    A batch with events gets the marker token `<token_prefix>:<batch no>`.
    """
    try:
        for no, packed in enumerate(pack_objects(deltas, events, size)):
            token = f"{token_prefix}:{no}" if packed.events else ""
            yield Batch(no, packed.deltas, packed.events, token)
    except OversizedUser as e:
        user = f"{e.first.id_kind}={mask_identifier(e.first.user_id)}"
        raise ValueError(f"{e.count} objects for one user ({user}) exceed {e.size}") from None
