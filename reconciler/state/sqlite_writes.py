"""The writing half of SqliteState: the lock, the apply journal, ledger batches, resources.

Every write runs in one IMMEDIATE transaction that first checks this process still holds the
lock (a `state unlock` from someone else makes the next write fail instead of racing).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from reconciler.errors import LockHeldError, StalePlanError, StateError
from reconciler.state import locking
from reconciler.state.base import (
    ApplyStatus,
    BatchAck,
    CellColumns,
    DoubtGroup,
    HeldLock,
    LedgerRow,
    LedgerUnset,
    LockInfo,
    LockRequest,
    ResourcePut,
    ResourceRecord,
)
from reconciler.state.cells import ack_columns, any_hashed, doubt_columns, encode_cells
from reconciler.state.columnar import SnapshotInfo, snapshot_info_text
from reconciler.state.ledger_reads import snapshot_chunks
from reconciler.state.records import hash_secret
from reconciler.state.values import canonical_value, key_fingerprint, spec_hash

T = TypeVar("T")
_LOCK_POLL_SECONDS = 0.5


def _ts(t: datetime) -> str:
    return t.isoformat(timespec="microseconds")


class SqliteWrites:
    """Mixin: needs the connection, transaction and lock-row helpers of SqliteState."""

    path: Path
    _mutex: threading.RLock
    _held: LockInfo | None
    _env_key: bytes | None
    _hash_key_noted = False  # this lock hold already recorded which key made the hashes

    @abstractmethod
    def _tx(self, mode: str = "IMMEDIATE") -> AbstractContextManager[sqlite3.Connection]: ...

    @abstractmethod
    def _lock_row(self, c: sqlite3.Connection) -> LockInfo | None: ...

    @abstractmethod
    def _guard(self, fn: Callable[[], T]) -> T: ...

    # -- the lock --------------------------------------------------------------------------

    @contextmanager
    def lock(self, request: LockRequest, *, wait_seconds: float = 0.0) -> Iterator[HeldLock]:
        if self._held is not None:
            raise StateError(f"this process already holds the lock on {self.path}")
        held = self._acquire(request, wait_seconds)
        self._held = held.info
        self._hash_key_noted = False
        try:
            yield held
        finally:
            self._held = None
            self._release(held.info.lock_id)

    def _acquire(self, request: LockRequest, wait_seconds: float) -> HeldLock:
        deadline = time.monotonic() + wait_seconds
        while True:
            mine = locking.new_lock(request)
            with self._tx() as c:
                current = self._lock_row(c)
                if current is None or locking.holder_is_dead(current):
                    c.execute("DELETE FROM lock")
                    c.execute(
                        "INSERT INTO lock (name, lock_id, user, host, pid, pid_start, operation,"
                        " info, started_at, heartbeat_at) VALUES ('state',?,?,?,?,?,?,?,?,?)",
                        (
                            mine.lock_id,
                            mine.user,
                            mine.host,
                            mine.pid,
                            mine.pid_start,
                            mine.operation,
                            mine.info,
                            _ts(mine.started_at),
                            _ts(mine.heartbeat_at),
                        ),
                    )
                    if current is not None:
                        self._interrupt_applies(c, current.lock_id)
                    return HeldLock(mine, replaced=current)
            if time.monotonic() >= deadline:
                raise locking.lock_held_error(current, str(self.path))
            time.sleep(_LOCK_POLL_SECONDS)

    def _release(self, lock_id: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM lock WHERE lock_id = ?", (lock_id,))
            self._interrupt_applies(c, lock_id)

    @staticmethod
    def _interrupt_applies(c: sqlite3.Connection, lock_id: str) -> None:
        c.execute(
            "UPDATE applies SET status = 'interrupted', finished_at = ?"
            " WHERE lock_id = ? AND status = 'running'",
            (_ts(locking.now()), lock_id),
        )

    def force_unlock(self, lock_id: str) -> LockInfo:
        with self._tx() as c:
            current = self._lock_row(c)
            if current is None:
                raise StateError(f"state {self.path} is not locked")
            if current.lock_id != lock_id:
                raise StateError(
                    f"lock id {lock_id} does not match the current lock {current.lock_id}"
                    f" held by {current.holder}",
                    hint="copy the id from `reconciler state show`",
                )
            c.execute("DELETE FROM lock WHERE lock_id = ?", (lock_id,))
            self._interrupt_applies(c, lock_id)
            return current

    @contextmanager
    def _locked_tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that proves this process still holds the lock (and beats its
        heartbeat: one statement, as every acknowledged batch takes this path)."""
        if self._held is None:
            raise StateError("state writes need the lock; take it with `with store.lock(...)`")
        with self._tx() as c:
            mine = c.execute(
                "UPDATE lock SET heartbeat_at = ? WHERE lock_id = ? RETURNING lock_id",
                (_ts(locking.now()), self._held.lock_id),
            ).fetchone()
            if mine is None:
                current = self._lock_row(c)
                who = f" and is now held by {current.holder}" if current else ""
                raise LockHeldError(
                    f"the state lock {self._held.lock_id} was broken{who}; nothing was written"
                )
            yield c

    @staticmethod
    def _bump_serial(c: sqlite3.Connection) -> int:
        row = c.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'serial'"
            " RETURNING value"
        ).fetchone()
        return int(row[0])

    # -- applies and ledger batches ------------------------------------------------------------

    def begin_apply(
        self,
        plan_id: str = "",
        *,
        expect_lineage: str | None = None,
        expect_serial: int | None = None,
    ) -> str:
        apply_id = str(uuid.uuid4())
        with self._locked_tx() as c:
            meta = dict(c.execute("SELECT key, value FROM meta").fetchall())
            if expect_lineage is not None and expect_lineage != meta["lineage"]:
                raise StalePlanError(
                    f"the plan was made against state lineage {expect_lineage}, but {self.path}"
                    f" is lineage {meta['lineage']} (a different state)",
                    hint="run `reconciler plan` again against this state",
                )
            serial = int(meta["serial"])
            if expect_serial is not None and expect_serial != serial:
                raise StalePlanError(
                    _moved_on(c, expect_serial, serial),
                    hint="run `reconciler plan` again to see the current changes",
                )
            if self._env_key is None:  # refused before anything is sent, not at its record
                hash_secret(str(self.path), meta)
            assert self._held is not None
            c.execute(
                "INSERT INTO applies (apply_id, plan_id, lock_id, holder, started_at, status)"
                " VALUES (?, ?, ?, ?, ?, 'running')",
                (apply_id, plan_id, self._held.lock_id, self._held.holder, _ts(locking.now())),
            )
        return apply_id

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
        """One acknowledged batch: commit_batches with one ack."""
        ack = BatchAck(batch_no, writes, unsets, event_ids, dict(summary or {}), clear_doubt)
        return self.commit_batches(apply_id, [ack])[0][0]

    def commit_batches(
        self,
        apply_id: str,
        acks: Sequence[BatchAck],
        doubts: Sequence[DoubtGroup] = (),
        puts: Sequence[ResourcePut] = (),
    ) -> tuple[list[int], list[int]]:
        """Group commit, ONE transaction: per ack, its cells appended to the ledger log, its
        events, its journal entry, a serial of its own, its doubt mark and `drop_resource`
        dropped; then a doubt mark per entry of `doubts` and the resources of `puts` (the next
        batches and their event intents, before they leave)."""
        now_t = locking.now()
        now = _ts(now_t)
        cells = [ack_columns(a) for a in acks]
        marks = [doubt_columns(group) for group in doubts]
        serials: list[int] = []
        seqs: list[int] = []
        noted = self._hash_key_noted  # a lock holder's key does not change: once per apply
        with self._locked_tx() as c:
            if acks:
                status = c.execute(
                    "SELECT status FROM applies WHERE apply_id = ?", (apply_id,)
                ).fetchone()
                if status is None or status[0] != "running":
                    raise StateError(f"apply {apply_id} is not running (status: {status})")
            for ack, batch_cells in zip(acks, cells, strict=True):
                serial = self._bump_serial(c)  # first: every cell records the batch that wrote it
                serials.append(serial)
                if batch_cells:
                    c.execute(
                        "INSERT INTO ledger_log (serial, kind, cells, data)"
                        " VALUES (?, 'ack', ?, ?)",
                        (serial, len(batch_cells), encode_cells(batch_cells, serial)),
                    )
                if ack.clear_doubt is not None:
                    c.execute(
                        "DELETE FROM ledger_log WHERE seq = ? AND kind = 'doubt'",
                        (ack.clear_doubt,),
                    )
                self._record_events(c, apply_id, ack.event_ids, now)
                if not noted and any_hashed(batch_cells):
                    self._note_hash_key(c)
                    noted = True
                c.execute(
                    "INSERT INTO journal (apply_id, batch_no, serial, recorded_at, writes, unsets,"
                    " events, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        apply_id,
                        ack.batch_no,
                        serial,
                        now,
                        *ack.counts,
                        len(ack.event_ids),
                        canonical_value(dict(ack.summary)),
                    ),
                )
                if ack.drop_resource is not None:
                    self._delete_resource(c, ack.drop_resource)
            if marks:
                seqs = self._append_doubts(
                    c, marks, bump_serial=False, serial=serials[-1] if serials else None
                )
            for put in puts:
                record = ResourceRecord(put.address, spec_hash(put.spec), None, put.spec, now_t)
                self._put_resource(c, record)
        self._hash_key_noted = noted  # committed
        return serials, seqs

    @staticmethod
    def _record_events(
        c: sqlite3.Connection, apply_id: str, event_ids: Sequence[str], now: str
    ) -> None:
        if not event_ids:
            return  # most acks carry none: no empty statement (as on PostgreSQL)
        c.executemany(
            "INSERT INTO events (event_id, apply_id, acked_at) VALUES (?, ?, ?)"
            " ON CONFLICT (event_id) DO NOTHING",
            [(e, apply_id, now) for e in event_ids],
        )

    def mark_in_doubt(self, cells: DoubtGroup, *, bump_serial: bool = False) -> int:
        """Mark cells in doubt (a write about to leave, or drift found); returns the mark's seq.

        `bump_serial` for marks that change what the next plan sends (drift --repair), so a
        plan saved before them is stale; a batch's own mark needs none (its ack bumps).
        """
        marked = doubt_columns(cells)
        with self._locked_tx() as c:
            return self._append_doubts(c, [marked], bump_serial=bump_serial)[0]

    def _append_doubts(
        self,
        c: sqlite3.Connection,
        groups: Sequence[CellColumns],
        *,
        bump_serial: bool,
        serial: int | None = None,
    ) -> list[int]:
        """One `doubt` log entry per group (as `doubt_columns` made it), at the current (or a
        bumped) serial; their seqs. `serial`: the current serial, when the caller just bumped
        it."""
        if bump_serial:
            serial = self._bump_serial(c)
        elif serial is None:
            row = c.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()
            serial = int(row[0]) if row else 0
        seqs = []
        for cells in groups:
            found = c.execute(
                "INSERT INTO ledger_log (serial, kind, cells, data)"
                " VALUES (?, 'doubt', ?, ?) RETURNING seq",
                (serial, len(cells), encode_cells(cells, serial)),
            ).fetchone()
            seqs.append(int(found[0]) if found else 0)
        return seqs

    def clear_doubt(self, seq: int) -> None:
        """Drop a batch's doubt mark: its request never left, so nothing can have landed."""
        with self._locked_tx() as c:
            c.execute("DELETE FROM ledger_log WHERE seq = ? AND kind = 'doubt'", (seq,))

    def _replace_snapshot(self, info: SnapshotInfo, path: Path) -> None:
        with self._locked_tx() as c:
            c.execute("DELETE FROM ledger_snapshot")
            c.executemany(
                "INSERT INTO ledger_snapshot (chunk, data) VALUES (?, ?)",
                enumerate(snapshot_chunks(path)),
            )
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('ledger_snapshot', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (snapshot_info_text(info),),
            )
            c.execute("DELETE FROM ledger_log WHERE seq <= ?", (info.upto_seq,))

    def _replace_digests(self, info: str, chunks: list[bytes]) -> None:
        with self._locked_tx() as c:
            c.execute("DELETE FROM plan_digests")
            c.executemany("INSERT INTO plan_digests (chunk, data) VALUES (?, ?)", enumerate(chunks))
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('plan_digests', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (info,),
            )

    def _note_hash_key(self, c: sqlite3.Connection) -> None:
        """Remember which key made the ledger's hashes, so a changed key can be reported."""
        key = self._env_key
        if key is None:
            secret = c.execute("SELECT key, value FROM meta WHERE key = 'hash_secret'").fetchall()
            key = hash_secret(str(self.path), dict(secret))
        c.execute(
            "INSERT INTO meta (key, value) VALUES ('hash_key_fp', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key_fingerprint(key),),
        )

    def finish_apply(self, apply_id: str, status: ApplyStatus) -> None:
        with self._locked_tx() as c:
            c.execute(
                "UPDATE applies SET status = ?, finished_at = ? WHERE apply_id = ?",
                (status, _ts(locking.now()), apply_id),
            )

    # -- resources and events ------------------------------------------------------------------

    def put_resource(
        self, address: str, spec: Mapping[str, Any], *, remote_id: str | None
    ) -> ResourceRecord:
        record = ResourceRecord(address, spec_hash(spec), remote_id, spec, locking.now())
        with self._locked_tx() as c:
            self._put_resource(c, record)
        return record

    def _put_resource(self, c: sqlite3.Connection, record: ResourceRecord) -> None:
        c.execute(
            "INSERT INTO resources (address, spec_hash, remote_id, spec, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET"
            " spec_hash = excluded.spec_hash, remote_id = excluded.remote_id,"
            " spec = excluded.spec, updated_at = excluded.updated_at",
            (
                record.address,
                record.spec_hash,
                record.remote_id,
                canonical_value(record.spec),
                _ts(record.updated_at),
            ),
        )
        self._bump_serial(c)

    def delete_resource(self, address: str) -> None:
        with self._locked_tx() as c:
            self._delete_resource(c, address)

    def _delete_resource(self, c: sqlite3.Connection, address: str) -> None:
        if c.execute("DELETE FROM resources WHERE address = ?", (address,)).rowcount:
            self._bump_serial(c)

    def prune_events(self, older_than: datetime) -> int:
        with self._locked_tx() as c:
            n = c.execute("DELETE FROM events WHERE acked_at < ?", (_ts(older_than),)).rowcount
            if n:
                self._bump_serial(c)
        return int(n)


def _moved_on(c: sqlite3.Connection, planned: int, now: int) -> str:
    """Say what changed since the plan's serial: which applies wrote how many batches."""
    rows = c.execute(
        "SELECT a.holder, a.started_at, count(*), sum(j.writes), sum(j.unsets)"
        " FROM journal j JOIN applies a USING (apply_id) WHERE j.serial > ?"
        " GROUP BY j.apply_id ORDER BY a.started_at",
        (planned,),
    ).fetchall()
    what = "; ".join(
        f"apply by {holder} at {started[:19]}Z recorded {n} batch(es),"
        f" {w} value(s) set and {u} unset"
        for holder, started, n, w, u in rows
    )
    other = "" if rows else " (resource changes or event pruning)"
    return f"the state changed since this plan was made: serial {planned} → {now}" + (
        f": {what}" if what else other
    )
