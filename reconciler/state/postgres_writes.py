"""The writing half of PostgresState: the lock, the apply journal, ledger batches, resources.

The lock is two things. A session-level advisory lock, held on a connection of its own for as
long as the run holds the lock: PostgreSQL ends it with the session, so a holder killed with
-9 (or whose host vanished, once TCP keepalives notice) frees it without anyone's help. And a
lock row naming the holder (user@host, pid, operation, start), which refusals quote.

Every write runs in one transaction that first touches the lock row (`UPDATE … RETURNING`,
which also takes its row lock): a `state unlock` from someone else makes the next write fail
instead of racing, exactly as in SQLite.
"""

from __future__ import annotations

import threading
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg

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
from reconciler.state.pg_reconnect import ConnectionLost, Outage
from reconciler.state.records import hash_secret
from reconciler.state.values import canonical_value, key_fingerprint, spec_hash

_LOCK_POLL_SECONDS = 0.5
# The server ends a dead holder's session a moment after its process is gone; wait this long
# for that when the lock row's holder is provably dead (same host, pid gone).
_DEAD_HOLDER_GRACE_SECONDS = 5.0
# A lock row appears a moment after the advisory lock is taken; wait this long for it.
_ROWLESS_GRACE_SECONDS = 2.0
# The lock session notices a vanished peer after about idle + interval × count seconds.
_KEEPALIVES = "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10;"
_KEEPALIVES_COUNT = " SET tcp_keepalives_count = 3"

T = TypeVar("T")


class PostgresWrites:
    """Mixin: needs the connections, transactions and lock-row helpers of PostgresState."""

    where: str
    lock_key: int
    _mutex: threading.RLock
    _conn: psycopg.Connection
    _held: LockInfo | None
    _hash_key_noted = False  # this lock hold already recorded which key made the hashes
    _lock_conn: psycopg.Connection | None
    _env_key: bytes | None

    @abstractmethod
    def _connect(self) -> psycopg.Connection: ...

    @abstractmethod
    def _tx(self) -> AbstractContextManager[psycopg.Connection]: ...

    @abstractmethod
    def _errors(self) -> AbstractContextManager[None]: ...

    @abstractmethod
    def _lock_row(self, c: psycopg.Connection, *, for_update: bool = False) -> LockInfo | None: ...

    # -- the lock --------------------------------------------------------------------------

    @contextmanager
    def lock(self, request: LockRequest, *, wait_seconds: float = 0.0) -> Iterator[HeldLock]:
        if self._held is not None:
            raise StateError(f"this process already holds the lock on {self.where}")
        held = self._acquire(request, wait_seconds)
        self._held = held.info
        self._hash_key_noted = False
        try:
            yield held
        finally:
            self._held = None
            self._release(held.info.lock_id)

    def _acquire(self, request: LockRequest, wait_seconds: float) -> HeldLock:
        started = time.monotonic()
        session = self._connect()
        try:
            with self._errors():
                session.execute(_KEEPALIVES + _KEEPALIVES_COUNT)
                while True:
                    row = session.execute(
                        "SELECT pg_try_advisory_lock(%s)", (self.lock_key,)
                    ).fetchone()
                    if row and row[0]:
                        held = self._write_lock_row(request)
                        self._lock_conn = session
                        return held
                    current = self._current()
                    waited = time.monotonic() - started
                    if waited >= self._patience(current, wait_seconds):
                        raise self._refusal(current)
                    time.sleep(_LOCK_POLL_SECONDS)
        except BaseException:
            session.close()
            raise

    @staticmethod
    def _patience(current: LockInfo | None, wait_seconds: float) -> float:
        """How long to keep trying: the caller's wait, or a grace while a lock frees itself."""
        if current is None:
            return max(wait_seconds, _ROWLESS_GRACE_SECONDS)
        if locking.holder_is_dead(current):
            return max(wait_seconds, _DEAD_HOLDER_GRACE_SECONDS)
        return wait_seconds

    def _current(self) -> LockInfo | None:
        with self._mutex:
            return self._lock_row(self._conn)

    def _write_lock_row(self, request: LockRequest) -> HeldLock:
        """We hold the advisory lock, so any row left is a dead session's: replace it."""
        mine = locking.new_lock(request)
        with self._tx() as c:
            current = self._lock_row(c, for_update=True)
            c.execute("DELETE FROM lock")
            c.execute(
                "INSERT INTO lock (name, lock_id, username, host, pid, pid_start, operation,"
                " info, started_at, heartbeat_at)"
                " VALUES ('state', %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    mine.lock_id,
                    mine.user,
                    mine.host,
                    mine.pid,
                    mine.pid_start,
                    mine.operation,
                    mine.info,
                    mine.started_at,
                    mine.heartbeat_at,
                ),
            )
            if current is not None:
                self._interrupt_applies(c, current.lock_id)
        return HeldLock(mine, replaced=current)

    def _refusal(self, current: LockInfo | None) -> LockHeldError:
        if current is not None:
            return locking.lock_held_error(current, self.where)
        who = ", ".join(f"backend pid {pid} ({app or 'no name'})" for pid, app in self._holders())
        return LockHeldError(
            f"state {self.where} is locked by a PostgreSQL session that wrote no lock row: "
            f"{who or 'it has just ended'}",
            hint="retry; if it stays, end that session with SELECT pg_terminate_backend(PID)",
        )

    def _holders(self) -> list[tuple[int, str]]:
        """The sessions holding this state's advisory lock (pid, application name)."""
        hi, lo = (self.lock_key >> 32) & 0xFFFFFFFF, self.lock_key & 0xFFFFFFFF
        with self._mutex, self._errors():
            rows = self._conn.execute(
                "SELECT l.pid, a.application_name FROM pg_locks l"
                " LEFT JOIN pg_stat_activity a USING (pid)"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                " AND l.database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
                " AND l.classid::bigint = %s AND l.objid::bigint = %s",
                (hi, lo),
            ).fetchall()
        return [(int(pid), str(app or "")) for pid, app in rows]

    def _release(self, lock_id: str) -> None:
        """Delete our row first, then end the session: a successor never sees a live row."""

        def tx(c: psycopg.Connection) -> None:
            c.execute("DELETE FROM lock WHERE lock_id = %s", (lock_id,))
            self._interrupt_applies(c, lock_id)

        try:
            self._write(tx, locked=False)
        finally:
            session, self._lock_conn = self._lock_conn, None
            if session is not None:
                session.close()  # ends the advisory lock with the session (even if it broke)

    @staticmethod
    def _interrupt_applies(c: psycopg.Connection, lock_id: str) -> None:
        c.execute(
            "UPDATE applies SET status = 'interrupted', finished_at = %s"
            " WHERE lock_id = %s AND status = 'running'",
            (locking.now(), lock_id),
        )

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Delete the row, then end the session(s) holding the advisory lock."""
        with self._tx() as c:
            current = self._lock_row(c, for_update=True)
            if current is None:
                raise StateError(f"state {self.where} is not locked")
            if current.lock_id != lock_id:
                raise StateError(
                    f"lock id {lock_id} does not match the current lock {current.lock_id}"
                    f" held by {current.holder}",
                    hint="copy the id from `reconciler state show`",
                )
            c.execute("DELETE FROM lock WHERE lock_id = %s", (lock_id,))
            self._interrupt_applies(c, lock_id)
        for pid, _app in self._holders():
            self._end_session(pid)
        return current

    def _end_session(self, pid: int) -> None:
        try:
            with self._mutex:
                self._conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        except psycopg.errors.InsufficientPrivilege:
            raise StateError(
                f"the lock row is gone, but the session holding the lock (backend pid {pid})"
                " belongs to another database role and could not be ended",
                hint=f"ask an administrator to run: SELECT pg_terminate_backend({pid})",
            ) from None
        except psycopg.Error as e:
            raise StateError(f"state {self.where}: {' '.join(str(e).split())}") from None

    @contextmanager
    def _locked_tx(self) -> Iterator[psycopg.Connection]:
        """A write transaction that proves this process still holds the lock (no reconnect:
        for `state migrate`'s bulk load, which a lost connection simply rolls back)."""
        self._need_lock()
        with self._tx() as c:
            self._prove_lock(c)
            yield c

    def _need_lock(self) -> None:
        if self._held is None:
            raise StateError("state writes need the lock; take it with `with store.lock(...)`")

    def _prove_lock(self, c: psycopg.Connection) -> None:
        assert self._held is not None
        row = c.execute(
            "UPDATE lock SET heartbeat_at = %s WHERE name = 'state' AND lock_id = %s"
            " RETURNING lock_id",
            (locking.now(), self._held.lock_id),
        ).fetchone()
        if row is None:
            current = self._lock_row(c)
            who = f" and is now held by {current.holder}" if current else ""
            raise LockHeldError(
                f"the state lock {self._held.lock_id} was broken{who}; nothing was written"
            )

    def _write(
        self, body: Callable[[psycopg.Connection], T], *, locked: bool = True, once: bool = True
    ) -> T:
        """Run `body` in one transaction (proving the lock first when `locked`), riding out a
        lost connection: reconnect with backoff and run it again (pg_reconnect.py).

        `once`: the body writes, so a COMMIT lost in flight is settled by asking the server
        whether its transaction id committed, never by guessing."""
        if locked:
            self._need_lock()
        outage: Outage | None = None
        while True:
            done: list[T] = []
            xid: int | None = None
            try:
                with self._tx() as c:
                    if locked:
                        self._prove_lock(c)
                    if once:
                        row = c.execute("SELECT txid_current()").fetchone()
                        xid = int(row[0]) if row else None
                    done.append(body(c))
                if outage is not None:
                    outage.over()
                return done[0]
            except ConnectionLost as e:
                cause: BaseException = e
            if outage is None:
                outage = Outage(self.where, cause)
            while True:  # until connected again (or past the deadline)
                outage.wait(cause)
                try:
                    self._reconnect(locked)
                    landed = self._landed(xid) if done and xid is not None else False
                    break
                except ConnectionLost as e:
                    cause = e
            if landed:
                outage.over()
                return done[0]

    def _landed(self, xid: int) -> bool:
        """After a reconnect: did the transaction whose COMMIT was in flight commit?"""
        while True:
            with self._mutex, self._errors():
                row = self._conn.execute("SELECT txid_status(%s)", (xid,)).fetchone()
            status = row[0] if row else None
            if status != "in progress":  # the old backend may still be rolling back
                return status == "committed"
            time.sleep(0.05)

    def _reconnect(self, locked: bool) -> None:
        """A fresh shared connection; when writing under the lock, make sure its session is
        alive, and if it died (a server restart ends every session) take the advisory lock
        again. Our lock row is durable: `_prove_lock` then shows nobody took over meanwhile."""
        with self._mutex:
            with suppress(psycopg.Error):
                self._conn.close()
            try:
                self._conn = self._connect()
            except StateError as e:
                raise ConnectionLost(str(e)) from None
            if not locked or self._lock_conn is None:
                return
            try:
                self._lock_conn.execute("SELECT 1")
                return
            except psycopg.Error:
                with suppress(psycopg.Error):
                    self._lock_conn.close()
            try:
                session = self._connect()
            except StateError as e:
                raise ConnectionLost(str(e)) from None
            try:
                with self._errors():
                    session.execute(_KEEPALIVES + _KEEPALIVES_COUNT)
                    row = session.execute(
                        "SELECT pg_try_advisory_lock(%s)", (self.lock_key,)
                    ).fetchone()
            except BaseException:
                session.close()
                raise
            if not (row and row[0]):
                session.close()
                raise LockHeldError(
                    f"the connection to state {self.where} dropped, and another session took"
                    " the state lock before it came back; nothing more was written",
                    hint="everything acknowledged before the outage is recorded; run"
                    " `reconciler plan` again once the other run is done",
                )
            self._lock_conn = session

    @staticmethod
    def _bump_serial(c: psycopg.Connection) -> int:
        row = c.execute(
            "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'serial' RETURNING value"
        ).fetchone()
        assert row is not None
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

        def tx(c: psycopg.Connection) -> None:
            meta: dict[str, str] = dict(c.execute("SELECT key, value FROM meta").fetchall())
            if expect_lineage is not None and expect_lineage != meta["lineage"]:
                raise StalePlanError(
                    f"the plan was made against state lineage {expect_lineage}, but {self.where}"
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
                hash_secret(self.where, meta)
            assert self._held is not None
            c.execute(
                "INSERT INTO applies (apply_id, plan_id, lock_id, holder, started_at, status)"
                " VALUES (%s, %s, %s, %s, %s, 'running')",
                (apply_id, plan_id, self._held.lock_id, self._held.holder, locking.now()),
            )

        self._write(tx)
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
        now = locking.now()
        cells = [ack_columns(a) for a in acks]
        marks = [doubt_columns(group) for group in doubts]

        noted = [self._hash_key_noted]  # a lock holder's key does not change: once per apply

        def tx(c: psycopg.Connection) -> tuple[list[int], list[int]]:
            serials: list[int] = []  # fresh per attempt: a retried transaction starts over
            seqs: list[int] = []
            noted[0] = self._hash_key_noted
            if acks:
                status = c.execute(
                    "SELECT status FROM applies WHERE apply_id = %s", (apply_id,)
                ).fetchone()
                if status is None or status[0] != "running":
                    raise StateError(f"apply {apply_id} is not running (status: {status})")
            for ack, batch_cells in zip(acks, cells, strict=True):
                serial = self._bump_serial(c)  # first: every cell records the batch that wrote it
                serials.append(serial)
                if batch_cells:
                    c.execute(
                        "INSERT INTO ledger_log (serial, kind, cells, data)"
                        " VALUES (%s, 'ack', %s, %b)",
                        (serial, len(batch_cells), encode_cells(batch_cells, serial)),
                    )
                if ack.clear_doubt is not None:
                    c.execute(
                        "DELETE FROM ledger_log WHERE seq = %s AND kind = 'doubt'",
                        (ack.clear_doubt,),
                    )
                self._record_events(c, apply_id, ack.event_ids, now)
                if not noted[0] and any_hashed(batch_cells):
                    self._note_hash_key(c)
                    noted[0] = True
                c.execute(
                    "INSERT INTO journal (apply_id, batch_no, serial, recorded_at, writes, unsets,"
                    " events, summary) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
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
                self._put_resource(c, put.address, put.spec, None, now)
            return serials, seqs

        done = self._write(tx)
        self._hash_key_noted = noted[0]  # committed
        return done

    @staticmethod
    def _record_events(
        c: psycopg.Connection, apply_id: str, event_ids: Sequence[str], now: datetime
    ) -> None:
        if event_ids:
            c.execute(
                "INSERT INTO events (event_id, apply_id, acked_at)"
                " SELECT unnest(%b::text[]), %s, %s ON CONFLICT (event_id) DO NOTHING",
                (list(event_ids), apply_id, now),
            )

    def mark_in_doubt(self, cells: DoubtGroup, *, bump_serial: bool = False) -> int:
        """As SqliteState.mark_in_doubt: one durable mark; returns its seq."""
        marked = doubt_columns(cells)

        def tx(c: psycopg.Connection) -> int:
            return self._append_doubts(c, [marked], bump_serial=bump_serial)[0]

        return self._write(tx)

    def _append_doubts(
        self,
        c: psycopg.Connection,
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
                " VALUES (%s, 'doubt', %s, %b) RETURNING seq",
                (serial, len(cells), encode_cells(cells, serial)),
            ).fetchone()
            seqs.append(int(found[0]) if found else 0)
        return seqs

    def clear_doubt(self, seq: int) -> None:
        def tx(c: psycopg.Connection) -> None:
            c.execute("DELETE FROM ledger_log WHERE seq = %s AND kind = 'doubt'", (seq,))

        self._write(tx)

    def _replace_snapshot(self, info: SnapshotInfo, path: Path) -> None:
        def tx(c: psycopg.Connection) -> None:
            c.execute("DELETE FROM ledger_snapshot")
            for n, chunk in enumerate(snapshot_chunks(path)):
                c.execute("INSERT INTO ledger_snapshot (chunk, data) VALUES (%s, %b)", (n, chunk))
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('ledger_snapshot', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (snapshot_info_text(info),),
            )
            c.execute("DELETE FROM ledger_log WHERE seq <= %s", (info.upto_seq,))

        self._write(tx)

    def _replace_digests(self, info: str, chunks: list[bytes]) -> None:
        def tx(c: psycopg.Connection) -> None:
            c.execute("DELETE FROM plan_digests")
            for n, chunk in enumerate(chunks):
                c.execute("INSERT INTO plan_digests (chunk, data) VALUES (%s, %b)", (n, chunk))
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('plan_digests', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (info,),
            )

        self._write(tx)

    def _note_hash_key(self, c: psycopg.Connection) -> None:
        """Remember which key made the ledger's hashes, so a changed key can be reported."""
        key = self._env_key
        if key is None:
            secret = c.execute("SELECT key, value FROM meta WHERE key = 'hash_secret'").fetchall()
            key = hash_secret(self.where, dict(secret))
        c.execute(
            "INSERT INTO meta (key, value) VALUES ('hash_key_fp', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key_fingerprint(key),),
        )

    def finish_apply(self, apply_id: str, status: ApplyStatus) -> None:
        def tx(c: psycopg.Connection) -> None:
            c.execute(
                "UPDATE applies SET status = %s, finished_at = %s WHERE apply_id = %s",
                (status, locking.now(), apply_id),
            )

        self._write(tx)

    # -- resources and events ------------------------------------------------------------------

    def put_resource(
        self, address: str, spec: Mapping[str, Any], *, remote_id: str | None
    ) -> ResourceRecord:
        record = ResourceRecord(address, spec_hash(spec), remote_id, spec, locking.now())
        self._write(lambda c: self._put_resource(c, address, spec, remote_id, record.updated_at))
        return record

    def _put_resource(
        self,
        c: psycopg.Connection,
        address: str,
        spec: Mapping[str, Any],
        remote_id: str | None,
        now: datetime,
    ) -> None:
        c.execute(
            "INSERT INTO resources (address, spec_hash, remote_id, spec, updated_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (address) DO UPDATE SET"
            " spec_hash = excluded.spec_hash, remote_id = excluded.remote_id,"
            " spec = excluded.spec, updated_at = excluded.updated_at",
            (address, spec_hash(spec), remote_id, canonical_value(spec), now),
        )
        self._bump_serial(c)

    def delete_resource(self, address: str) -> None:
        self._write(lambda c: self._delete_resource(c, address))

    def _delete_resource(self, c: psycopg.Connection, address: str) -> None:
        if c.execute("DELETE FROM resources WHERE address = %s", (address,)).rowcount:
            self._bump_serial(c)

    def prune_events(self, older_than: datetime) -> int:
        def tx(c: psycopg.Connection) -> int:
            n = c.execute("DELETE FROM events WHERE acked_at < %s", (older_than,)).rowcount
            if n:
                self._bump_serial(c)
            return int(n)

        return self._write(tx)


def _moved_on(c: psycopg.Connection, planned: int, now: int) -> str:
    """Say what changed since the plan's serial: which applies wrote how many batches."""
    rows = c.execute(
        "SELECT a.holder, a.started_at, count(*), sum(j.writes), sum(j.unsets)"
        " FROM journal j JOIN applies a USING (apply_id) WHERE j.serial > %s"
        " GROUP BY j.apply_id, a.holder, a.started_at ORDER BY a.started_at",
        (planned,),
    ).fetchall()
    what = "; ".join(
        f"apply by {holder} at {started:%Y-%m-%dT%H:%M:%S}Z recorded {n} batch(es),"
        f" {w} value(s) set and {u} unset"
        for holder, started, n, w, u in rows
    )
    other = "" if rows else " (resource changes or event pruning)"
    return f"the state changed since this plan was made: serial {planned} → {now}" + (
        f": {what}" if what else other
    )
