"""The events part of a frozen Plan: what is due, counts per name, samples, and the event spool.

Events are a stream, not state: the plan lists every event of the streams that the ledger has
not acknowledged, once, in send order. The events themselves live in a gzip JSONL spool next to
the delta spool, so a plan of millions of events stays in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from reconciler.plan.gz import open_gz

MARKER_ATTRIBUTE = "reconciler_event_batches"
"""An array attribute each request carrying events adds a token to, on one of its users: the
proof, readable through /users/export/ids, that a request whose answer was lost did land."""

INTENT_PREFIX = "EventBatch."
"""State resources recording a request with events that left and was not yet acknowledged."""


class PlannedEvent(NamedTuple):
    """One event object for /users/track, and the id the ledger records once it is acknowledged."""

    event_id: str
    id_kind: str
    user_id: str
    name: str
    time: str
    properties: Mapping[str, Any]

    def wire(self) -> dict[str, Any]:
        """The event object exactly as /users/track receives it."""
        obj: dict[str, Any] = {self.id_kind: self.user_id, "name": self.name, "time": self.time}
        if self.properties:
            obj["properties"] = dict(self.properties)
        return obj


@dataclass(frozen=True)
class EventNameCount:
    """Due events of one name in one stream."""

    stream: str
    name: str
    count: int


@dataclass(frozen=True)
class EventSample:
    """A due event, for review; `user` is masked by the renderers unless --show-values."""

    user: str
    name: str
    time: str
    stream: str


@dataclass(frozen=True)
class EventsPlan:
    """What the plan says about events. `due` go out; the others are only reported.

    - `expired`: valid events older than their stream's horizon, never sent (`expired_at` lists
      the first few as `file:row`);
    - `duplicates`: repeats of an event (same id, same content) within the sources;
    - `skipped`: bad events of `on_invalid: skip` streams (`skipped_at`: the first few);
    - `in_doubt`: due events an interrupted apply may have sent: apply reads Braze before
      sending them again;
    - `prune_before`: apply forgets the ids acknowledged before this instant (ISO 8601).
    """

    due: int = 0
    by_name: tuple[EventNameCount, ...] = ()
    samples: tuple[EventSample, ...] = ()
    expired: int = 0
    expired_at: tuple[str, ...] = ()
    duplicates: int = 0
    skipped: int = 0
    skipped_at: tuple[str, ...] = ()
    in_doubt: int = 0
    acknowledged: int = 0  # ids in the ledger when planned
    read: int = 0  # valid events in the sources (what resending everything would send)
    streams: tuple[str, ...] = ()
    retention_days: int = 0  # the longest horizon of the streams (what pruning keeps)
    prune_before: str | None = None
    data_points: int = 0  # events + one marker value per request carrying events
    requests: int = 0  # every request of the apply, attribute-only ones included, as packed
    requests_with_events: int = 0
    spool_path: Path | None = field(default=None, compare=False)

    @property
    def reported(self) -> bool:
        """Anything to show: due events, or refusals worth a line."""
        return bool(self.due or self.expired or self.skipped or self.duplicates)

    def events(self) -> Iterator[PlannedEvent]:
        """Every due event in send order (bounded memory)."""
        if self.spool_path is None:
            return
        with open_gz(self.spool_path, "rt", encoding="utf-8") as fh:
            for line in fh:
                yield PlannedEvent(*json.loads(line))

    def to_header(self) -> dict[str, Any]:
        """The JSON form a saved plan keeps (the spool travels separately)."""
        return {
            "due": self.due,
            "by_name": [vars(c) for c in self.by_name],
            "samples": [vars(s) for s in self.samples],
            "expired": self.expired,
            "expired_at": list(self.expired_at),
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "skipped_at": list(self.skipped_at),
            "in_doubt": self.in_doubt,
            "acknowledged": self.acknowledged,
            "read": self.read,
            "streams": list(self.streams),
            "retention_days": self.retention_days,
            "prune_before": self.prune_before,
            "data_points": self.data_points,
            "requests": self.requests,
            "requests_with_events": self.requests_with_events,
        }

    @classmethod
    def from_header(cls, data: Mapping[str, Any], spool_path: Path | None) -> EventsPlan:
        return cls(
            due=data["due"],
            by_name=tuple(EventNameCount(**c) for c in data["by_name"]),
            samples=tuple(EventSample(**s) for s in data["samples"]),
            expired=data["expired"],
            expired_at=tuple(data["expired_at"]),
            duplicates=data["duplicates"],
            skipped=data["skipped"],
            skipped_at=tuple(data["skipped_at"]),
            in_doubt=data["in_doubt"],
            acknowledged=data["acknowledged"],
            read=data["read"],
            streams=tuple(data["streams"]),
            retention_days=data["retention_days"],
            prune_before=data["prune_before"],
            data_points=data["data_points"],
            requests=data["requests"],
            requests_with_events=data["requests_with_events"],
            spool_path=spool_path,
        )


NO_EVENTS = EventsPlan()
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class EventSpool:
    """Writes PlannedEvent rows to the gzip JSONL spool an EventsPlan reads back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open_gz(path, "wt", encoding="utf-8")
        self.count = 0

    def add(self, event: PlannedEvent) -> None:
        *fields, properties = event
        self.add_json(fields, _COMPACT.encode(properties))

    def add_json(self, fields: Sequence[str], properties_json: str) -> None:
        """One event whose properties are already JSON text (the planner's canonical form)."""
        head = _COMPACT.encode(list(fields))
        self._fh.write(f"{head[:-1]},{properties_json}]\n")
        self.count += 1

    def close(self) -> None:
        self._fh.close()
