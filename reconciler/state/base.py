"""The state protocols: a read-only StateReader for planning, a StateStore for the executor.

Every backend (SQLite now, PostgreSQL later) implements StateStore, and the shared test suite in
tests/state runs against each. Planning code is typed against StateReader only.

Consistency contract for planners: call `meta()` first, then read the ledger. A concurrent
apply can only make the ledger newer than the serial the plan binds to, which makes the saved
plan stale (refused) rather than silently wrong.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, Self

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from reconciler.state.columnar import LedgerParts

# How a ledger row names its user. Braze keeps external ids and Braze ids in separate
# namespaces, so the kind is part of the ledger key. Append only: backends may store the index.
ID_KINDS: tuple[str, ...] = ("external_id", "braze_id", "user_alias")
DEFAULT_ID_KIND = "external_id"

ApplyStatus = Literal["running", "applied", "partial", "failed", "interrupted"]


@dataclass(frozen=True)
class StateMeta:
    """Which state this is (lineage), how many committed changes it has seen (serial)."""

    lineage: str
    serial: int
    schema_version: int
    created_at: datetime


# The two row types are NamedTuples rather than frozen dataclasses: they are built 20M times
# per plan at scale, and a frozen dataclass costs several times more per instance.


class LedgerRow(NamedTuple):
    """The last value Braze acknowledged for one (user, attribute), in stored form (values.py)."""

    user_id: str
    attribute: str
    value: str
    id_kind: str = DEFAULT_ID_KIND


LedgerWrite = LedgerRow

DoubtCell = tuple[str, str, str]  # (id_kind, user_id, attribute): a cell whose write is in doubt


@dataclass(frozen=True)
class CellColumns:
    """A batch's cells as four parallel lists, one entry per (id kind, user, attribute).

    What the executor hands the store for an ack (values; None for an unset) or a doubt mark
    (values all DOUBT), built a user at a time with list operations that run in C: a first
    sync acknowledges twenty cells per user, and a Python object per cell was most of an
    apply's CPU. `writes` counts the cells with a value. A key may repeat only when `distinct`
    is False: state/cells.py `ack_columns` then keeps its last word, as for row-form input.
    """

    kinds: list[str]
    users: list[str]
    attributes: list[str]
    values: list[str | None]
    distinct: bool = False  # the builder proved every (kind, user, attribute) is there once

    def __len__(self) -> int:
        return len(self.attributes)

    @cached_property
    def unsets(self) -> int:
        return self.values.count(None)

    @property
    def writes(self) -> int:
        return len(self.values) - self.unsets


DoubtGroup = Sequence[DoubtCell] | CellColumns  # the cells of one doubt mark


class ResourcePut(NamedTuple):
    """A resource commit_batches records with the doubt marks, as put_resource(address, spec,
    remote_id=None) would (the event intents of the batches about to leave)."""

    address: str
    spec: Mapping[str, Any]


@dataclass(frozen=True)
class BatchAck:
    """One acknowledged batch for StateStore.commit_batches (record_batch's arguments)."""

    batch_no: int
    writes: Sequence[LedgerRow]
    unsets: Sequence[LedgerUnset] = ()
    event_ids: Sequence[str] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)
    clear_doubt: int | None = None
    # the same cells as columns (the executor's form); when set, `writes` and `unsets` are
    # not read
    columns: CellColumns | None = None
    # a resource the ack settles (the batch's event intent), deleted in the same transaction
    # exactly as delete_resource would
    drop_resource: str | None = None

    @property
    def counts(self) -> tuple[int, int]:
        """(writes, unsets), as the journal records them."""
        if self.columns is not None:
            return self.columns.writes, self.columns.unsets
        return len(self.writes), len(self.unsets)


@dataclass(frozen=True)
class UserLedger:
    """One user's ledger rows, and the serial of the batch that last wrote any of them.

    `last_serial` is 0 for rows written before the state recorded per-row serials.
    """

    id_kind: str
    user_id: str
    values: Mapping[str, str]  # attribute → stored value
    last_serial: int


class LedgerUnset(NamedTuple):
    """An attribute Braze acknowledged as removed (sent as null): its ledger row is deleted."""

    user_id: str
    attribute: str
    id_kind: str = DEFAULT_ID_KIND


@dataclass(frozen=True)
class ResourceRecord:
    """An applied resource (content block, attribute definition …) and its Braze id."""

    address: str
    spec_hash: str
    remote_id: str | None
    spec: Mapping[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class LockRequest:
    """What a run asks the lock for. The holder's identity is filled in by the store."""

    operation: str
    info: str = ""


@dataclass(frozen=True)
class LockInfo:
    """Who holds the lock: shown on refusal so a human can decide whether to break it."""

    lock_id: str
    user: str
    host: str
    pid: int
    operation: str
    info: str
    started_at: datetime
    heartbeat_at: datetime
    pid_start: str = ""

    @property
    def holder(self) -> str:
        return f"{self.user}@{self.host} (pid {self.pid})"


@dataclass(frozen=True)
class HeldLock:
    """A lock this process holds; `replaced` is the dead holder's lock it took over, if any."""

    info: LockInfo
    replaced: LockInfo | None = None


@dataclass(frozen=True)
class ApplyRecord:
    """One apply run in the journal."""

    apply_id: str
    plan_id: str
    lock_id: str
    holder: str
    started_at: datetime
    finished_at: datetime | None
    status: str


@dataclass(frozen=True)
class JournalEntry:
    """One acknowledged batch, written in the same transaction as its ledger rows."""

    apply_id: str
    batch_no: int
    serial: int
    recorded_at: datetime
    writes: int
    unsets: int
    events: int
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HashKey:
    """The key for `pii` hashes. `ledger_fingerprint` names the key the ledger's hashes used."""

    key: bytes = field(repr=False)
    source: Literal["env", "state"]
    fingerprint: str
    ledger_fingerprint: str | None

    @property
    def changed(self) -> bool:
        """True when the ledger's hashes were made with another key: every pii value resends."""
        return self.ledger_fingerprint is not None and self.ledger_fingerprint != self.fingerprint


class StateReader(Protocol):
    """Read-only state: what `plan`, `drift` and `state list|show` are given."""

    url: str

    def meta(self) -> StateMeta: ...

    def hash_key(self) -> HashKey: ...

    def ledger_count(self, attribute: str | None = None) -> int: ...

    def attribute_counts(self) -> dict[str, int]: ...

    def iter_ledger(
        self, batch_size: int = 50_000, attributes: Collection[str] | None = None
    ) -> Iterator[list[LedgerRow]]:
        """Every ledger row in bounded batches, ordered by (id_kind, user_id): a user's rows are
        consecutive (in no promised attribute order), and rows come from one read snapshot."""
        ...

    def ledger_arrow_batches(
        self, batch_size: int = 50_000, attributes: Collection[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """As iter_ledger, as Arrow batches (id_kind, user_id, attribute, value: all strings)."""
        ...

    def ledger_users(self, batch_size: int = 50_000) -> Iterator[list[tuple[str, str]]]:
        """Every distinct (id_kind, user_id) with ledger rows, in bounded ordered batches."""
        ...

    def ledger_for_users(
        self, users: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], UserLedger]:
        """The ledger rows of these (id_kind, user_id) users; users without rows are absent."""
        ...

    def serial_at(self, when: datetime) -> int:
        """The newest serial a ledger batch committed at or before `when` (0 if none): rows
        with a higher serial were written after `when`."""
        ...

    def ledger_parts(self, workdir: Path) -> LedgerParts:
        """The columnar ledger for a plan: the snapshot materialised as a Parquet file in
        `workdir`, and the log since it, both from one read snapshot (state/columnar.py)."""
        ...

    def plan_digests(self, workdir: Path) -> tuple[str, Path] | None:
        """The digests the last apply kept (plan/digests.py): (fingerprint, a Parquet file in
        `workdir`), or None."""
        ...

    def last_drift(self) -> dict[str, Any] | None:
        """What the last `drift` run found (StateStore.note_drift), if any run was recorded."""
        ...

    def cells_in_doubt(self) -> int:
        """Cells whose last write may have landed without an answer (resent by every plan)."""
        ...

    def log_cells(self) -> int:
        """Cells in the log that the snapshot does not hold yet."""
        ...

    def resources(self) -> dict[str, ResourceRecord]: ...

    def has_events(self, event_ids: Collection[str]) -> frozenset[str]:
        """Which of these event ids were already acknowledged."""
        ...

    def acked_event_ids(self, batch_size: int = 50_000) -> Iterator[list[str]]: ...

    def event_count(self) -> int: ...

    def current_lock(self) -> LockInfo | None: ...

    def journal(self, limit: int = 20, *, since_serial: int = 0) -> list[JournalEntry]:
        """Newest first."""
        ...

    def applies(self, limit: int = 20) -> list[ApplyRecord]:
        """Newest first."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class StateStore(StateReader, Protocol):
    """State the executor writes. Every write needs the lock, and is one transaction."""

    def lock(
        self, request: LockRequest, *, wait_seconds: float = 0.0
    ) -> AbstractContextManager[HeldLock]:
        """Take the one writer lock, or raise LockHeldError naming the holder."""
        ...

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Break a lock by its id (`reconciler state unlock ID`); StateError if not held."""
        ...

    def begin_apply(
        self,
        plan_id: str = "",
        *,
        expect_lineage: str | None = None,
        expect_serial: int | None = None,
    ) -> str:
        """Start a journaled apply; StalePlanError if the state moved past the plan."""
        ...

    def record_batch(
        self,
        apply_id: str,
        batch_no: int,
        writes: Sequence[LedgerRow],
        unsets: Sequence[LedgerUnset] = (),
        event_ids: Sequence[str] = (),
        summary: Mapping[str, Any] | None = None,
        *,
        clear_doubt: int | None = None,
    ) -> int:
        """One acknowledged batch, in ONE transaction; returns the new serial. `clear_doubt`
        is the batch's own doubt mark (mark_in_doubt), dropped in the same transaction."""
        ...

    def commit_batches(
        self,
        apply_id: str,
        acks: Sequence[BatchAck],
        doubts: Sequence[DoubtGroup] = (),
        puts: Sequence[ResourcePut] = (),
    ) -> tuple[list[int], list[int]]:
        """Group commit: every ack (as record_batch writes it, its `drop_resource` deleted as
        delete_resource would), then every new doubt mark, then every resource of `puts` (as
        put_resource would), in ONE transaction. Returns (the acks' serials, the marks' ids)."""
        ...

    def note_drift(self, summary: Mapping[str, Any]) -> None: ...

    def mark_in_doubt(self, cells: DoubtGroup, *, bump_serial: bool = False) -> int:
        """Mark cells in doubt, durably: every plan resends them until an ack says otherwise.
        Returns the mark's id for record_batch(clear_doubt=…) or clear_doubt()."""
        ...

    def clear_doubt(self, seq: int) -> None: ...

    def compact_ledger(self, *, min_cells: int = 1, memory_limit: str | None = None) -> int:
        """Fold the log into a new snapshot (needs the lock); returns the cells folded. Its
        DuckDB is capped at `memory_limit`, else $RECONCILER_MEMORY_LIMIT, else 768MB."""
        ...

    def finish_apply(self, apply_id: str, status: ApplyStatus) -> None: ...

    def put_plan_digests(self, fingerprint: str, path: Path, rows: int) -> None:
        """Keep a plan's digests for the next plan (needs the lock)."""
        ...

    def put_resource(
        self, address: str, spec: Mapping[str, Any], *, remote_id: str | None
    ) -> ResourceRecord: ...

    def delete_resource(self, address: str) -> None: ...

    def prune_events(self, older_than: datetime) -> int: ...
