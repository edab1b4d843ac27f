"""Exactly-once events: intents before sending, markers to settle lost answers, pruning.

Braze keeps every event it receives (reference §1.6: no dedup), so an event must never be sent
twice, and the ledger alone cannot promise that: a request can land while its answer is lost
(a kill -9, a dropped connection, a 5xx after processing). Three pieces close that gap:

1. Before a request carrying events leaves, its *intent* is recorded in state (a resource
   `EventBatch.<token>` listing the event ids and the marker user), in the transaction that
   marks its cells in doubt. Acknowledging the batch records the ids and clears the intent in
   the transaction that records its attribute ledger cells.
2. The request also adds its token to MARKER_ATTRIBUTE on one of its users. Braze either
   processed the whole request or none of it, so the token on that profile proves the events
   landed, and its absence (once Braze's read-after-write lag is over) proves they did not.
3. An intent left behind (the apply died, or an answer was lost and could not be settled at
   once) is settled by the next apply before anything is sent: landed → the ids are recorded
   and the events skipped; not landed → sent normally; too recent to tell (younger than the
   settle window) → held back, reported, and settled by a later apply.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from reconciler.apply.batching import Batch
from reconciler.apply.protocol import TrackResult
from reconciler.errors import BrazeUnavailableError, ReconcilerError
from reconciler.plan.event_model import INTENT_PREFIX, EventsPlan, PlannedEvent
from reconciler.state.base import ResourcePut, ResourceRecord, StateStore

UserKey = tuple[str, str]  # (id_kind, user_id)


@runtime_checkable
class MarkerReader(Protocol):
    """Reads MARKER_ATTRIBUTE back (BrazeClient does, through /users/export/ids)."""

    async def batch_markers(self, users: Sequence[UserKey]) -> Mapping[UserKey, Sequence[str]]:
        """The marker tokens each user holds; users Braze does not know map to nothing."""
        ...


class EventsInDoubt(Exception):  # noqa: N818 - a state, not a failure
    """A request carrying events may or may not have landed, and Braze cannot tell yet."""


def token_prefix(apply_id: str) -> str:
    return apply_id.replace("-", "")[:12]


def intent_address(batch: Batch) -> str:
    return f"{INTENT_PREFIX}{batch.token}"


def intent(batch: Batch) -> ResourcePut:
    """Which events this request carries, and whose profile proves it landed: durable before
    the request leaves (the executor commits it with the batch's doubt mark)."""
    marker = batch.marker_user
    assert marker is not None, "only batches with events have intents"
    spec = {
        "token": batch.token,
        "marker": list(marker),
        "events": [e.event_id for e in batch.events],
    }
    return ResourcePut(intent_address(batch), spec)


def clear_intent(store: StateStore, batch: Batch) -> None:
    store.delete_resource(intent_address(batch))


async def landed(reader: MarkerReader | None, batch: Batch) -> bool | None:
    """Whether `batch` reached Braze, read from its marker; None when that cannot be read."""
    marker = batch.marker_user
    if reader is None or marker is None:
        return None
    try:
        found = await reader.batch_markers([marker])
    except ReconcilerError:
        return None
    return batch.token in found.get(marker, ())


@dataclass
class Settled:
    """What settling the intents of earlier applies decided."""

    landed: set[str] = field(default_factory=set)  # recorded now; never resent
    held: set[str] = field(default_factory=set)  # too recent to tell: not sent by this apply
    resend: int = 0  # events of intents that did not land: sent normally
    cleared: int = 0  # intents whose events were all acknowledged already
    lines: list[str] = field(default_factory=list)

    @property
    def skip(self) -> set[str]:
        return self.landed | self.held


async def settle_intents(
    store: StateStore,
    reader: MarkerReader | None,
    apply_id: str,
    *,
    settle_seconds: float,
    now: float,
) -> Settled:
    """Decide every intent an earlier apply left behind, before this apply sends anything."""
    settled = Settled()
    intents = {a: r for a, r in store.resources().items() if a.startswith(INTENT_PREFIX)}
    due: list[tuple[str, ResourceRecord, list[str]]] = []
    for address, record in sorted(intents.items()):
        ids = [str(i) for i in record.spec.get("events", ())]
        acked = store.has_events(ids)
        pending = [i for i in ids if i not in acked]
        if not pending:
            store.delete_resource(address)
            settled.cleared += 1
        elif reader is None or now - record.updated_at.timestamp() < settle_seconds:
            settled.held.update(pending)
        else:
            due.append((address, record, pending))
    if due:
        await _read_and_decide(store, reader, apply_id, due, settled)
    if settled.held:
        settled.lines.append(
            f"{len(settled.held):,} events held back: an interrupted apply may have sent them,"
            " and Braze cannot tell yet; apply again after the settle window"
        )
    return settled


async def _read_and_decide(
    store: StateStore,
    reader: MarkerReader | None,
    apply_id: str,
    due: list[tuple[str, ResourceRecord, list[str]]],
    settled: Settled,
) -> None:
    assert reader is not None
    users = sorted({_marker(r) for _, r, _ in due})
    try:
        found = await reader.batch_markers(users)
    except ReconcilerError as e:
        for _, _, pending in due:
            settled.held.update(pending)
        settled.lines.append(f"could not read the event markers back: {e.message}")
        return
    recovered = 0
    for n, (address, record, pending) in enumerate(due, start=1):
        if record.spec.get("token") in found.get(_marker(record), ()):
            summary = {"recovered": record.spec.get("token"), "events": len(pending)}
            store.record_batch(apply_id, -n, (), (), pending, summary)
            settled.landed.update(pending)
            recovered += len(pending)
        else:
            settled.resend += len(pending)
        store.delete_resource(address)
    if recovered:
        settled.lines.append(
            f"{recovered:,} events an interrupted apply had sent were found in Braze and recorded"
        )
    if settled.resend:
        settled.lines.append(
            f"{settled.resend:,} events an interrupted apply had not delivered are sent now"
        )


def _marker(record: ResourceRecord) -> UserKey:
    kind, user = record.spec["marker"]
    return str(kind), str(user)


def prune(store: StateStore, events: EventsPlan) -> int:
    """Forget event ids acknowledged before the plan's horizon (events that old are refused)."""
    if events.prune_before is None:
        return 0
    return store.prune_events(dt.datetime.fromisoformat(events.prune_before))


def settler(
    reader: MarkerReader | None,
    batch: Batch,
    settle_seconds: float,
    note: Callable[[str], None],
) -> Callable[[BrazeUnavailableError], Awaitable[TrackResult | None]]:
    """What to do when a request carrying events failed in a way that may hide a landing.

    Its marker says it landed → acknowledged (Braze processed it; the answer was lost).
    Absent, and Braze shows writes at once (`settle_seconds` 0) → not landed: retry.
    Otherwise it cannot be told yet: EventsInDoubt (the intent stays for a later apply).
    """

    async def settle(error: BrazeUnavailableError) -> TrackResult | None:
        verdict = await landed(reader, batch)
        if verdict:
            note(f"{error.message}; the request's marker shows it landed: recorded")
            return TrackResult(error.status or 0, {"message": "landed (read back)"})
        if verdict is False and settle_seconds <= 0:
            return None
        raise EventsInDoubt(error.message)

    return settle


@dataclass(frozen=True)
class EventOutcome:
    """What a /users/track answer says about a batch's events."""

    acknowledged: tuple[str, ...]  # event ids to record with the batch
    rejected: tuple[tuple[PlannedEvent, str], ...]  # (event, Braze's reason): left pending


def event_outcome(batch: Batch, answer: TrackResult) -> EventOutcome:
    if not batch.events:
        return EventOutcome((), ())
    reasons = answer.rejected("events")
    everything = reasons.get(-1)  # an error without an index: nothing is confirmed
    acked: list[str] = []
    rejected: list[tuple[PlannedEvent, str]] = []
    for i, event in enumerate(batch.events):
        reason = everything if everything is not None else reasons.get(i)
        if reason is None:
            acked.append(event.event_id)
        else:
            rejected.append((event, reason))
    return EventOutcome(tuple(acked), tuple(rejected))
