"""What `reconciler state list|show` look at: one read of a StateReader into frozen data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.state.base import (
    ApplyRecord,
    JournalEntry,
    LockInfo,
    ResourceRecord,
    StateMeta,
    StateReader,
)
from reconciler.state.url import redact_url


@dataclass(frozen=True)
class StateOverview:
    url: str
    meta: StateMeta
    attribute_counts: Mapping[str, int]
    resources: Mapping[str, ResourceRecord]
    events: int
    hash_key_source: str
    hash_key_fingerprint: str
    hash_key_changed: bool
    lock: LockInfo | None
    applies: Sequence[ApplyRecord]
    journal: Sequence[JournalEntry]

    @property
    def ledger_rows(self) -> int:
        return sum(self.attribute_counts.values())


def overview(reader: StateReader, *, recent: int = 10) -> StateOverview:
    """Meta first (see base.py), then everything else; the URL comes back redacted."""
    meta = reader.meta()
    key = reader.hash_key()
    return StateOverview(
        url=redact_url(reader.url),
        meta=meta,
        attribute_counts=reader.attribute_counts(),
        resources=reader.resources(),
        events=reader.event_count(),
        hash_key_source=key.source,
        hash_key_fingerprint=key.fingerprint,
        hash_key_changed=key.changed,
        lock=reader.current_lock(),
        applies=reader.applies(recent),
        journal=reader.journal(recent),
    )
