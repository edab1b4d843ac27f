"""SqliteState: the embedded StateStore in one WAL-mode SQLite file (mode 0600).

Durability: `synchronous=FULL` by default, so a batch whose transaction committed survives even
a power cut, which matters for exactly-once events. `?synchronous=normal` in the URL trades
that for speed: with WAL it is still atomic and safe against a killed process, but the last
commits can be lost on an OS crash (the next apply then resends them).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from reconciler.errors import StateError
from reconciler.state import locking
from reconciler.state.base import (
    ApplyRecord,
    HashKey,
    JournalEntry,
    LockInfo,
    ResourceRecord,
    StateMeta,
)
from reconciler.state.cells import DAMAGED_HINT, LedgerDamaged, spool_log
from reconciler.state.columnar import LedgerParts, snapshot_info
from reconciler.state.ledger_reads import ColumnarCompaction, write_snapshot_file
from reconciler.state.migrations import MIGRATIONS, Migration, current_version, migrate
from reconciler.state.records import (
    drift_note,
    hash_secret,
    journal_summary,
    recorded_time,
    resource_spec,
    state_meta,
)
from reconciler.state.sqlite_transfer import SqliteTransfer
from reconciler.state.sqlite_writes import SqliteWrites
from reconciler.state.values import key_fingerprint

T = TypeVar("T")
BUSY_TIMEOUT_MS = 10_000
_IN_CHUNK = 900  # stay well under SQLite's bound-parameter limit


def ts(t: datetime) -> str:
    return t.isoformat(timespec="microseconds")


class SqliteState(SqliteWrites, SqliteTransfer, ColumnarCompaction):
    """A StateStore in one SQLite file; safe to share between threads of one process."""

    def __init__(
        self,
        path: Path,
        *,
        create: bool = True,
        synchronous: str = "full",
        hash_key: bytes | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
        url: str | None = None,
    ) -> None:
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self._synchronous = synchronous.upper()
        self._env_key = hash_key
        self._mutex = threading.RLock()
        self._held: LockInfo | None = None
        self._aids: dict[str, int] = {}
        if not path.exists():
            if not create:
                raise StateError(
                    f"no state at {path}",
                    hint="nothing has been applied yet, or --state points somewhere else",
                )
            _create_private_file(path)
        self._conn = self._connect()
        try:
            self.schema_version = self._guard(lambda: self._init(migrations))
        except BaseException:
            self._conn.close()
            raise

    # -- connection and transactions -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            return conn

        return self._guard(connect)

    def _guard(self, fn: Callable[[], T]) -> T:
        """Translate sqlite3 errors into StateError at the boundary."""
        try:
            return fn()
        except sqlite3.DatabaseError as e:
            raise StateError(f"state {self.path}: {e}") from e

    @contextmanager
    def _tx(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        with self._mutex:
            conn = self._conn
            self._guard(lambda: conn.execute(f"BEGIN {mode}"))
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._guard(lambda: conn.execute("COMMIT"))

    def _init(self, migrations: Sequence[Migration]) -> int:
        with self._tx() as c:
            version = migrate(c, str(self.path), migrations)
            if not c.execute("SELECT 1 FROM meta WHERE key = 'lineage'").fetchone():
                c.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("lineage", str(uuid.uuid4())),
                        ("serial", "0"),
                        ("created_at", ts(locking.now())),
                        ("hash_secret", secrets.token_hex(32)),
                    ],
                )
        return version

    def close(self) -> None:
        self._close_duck()
        with self._mutex:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._mutex:
            return self._guard(lambda: self._conn.execute(sql, params).fetchall())

    # -- reads ---------------------------------------------------------------------------------

    def _meta_map(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def meta(self) -> StateMeta:
        m = self._meta_map()
        with self._mutex:
            version = current_version(self._conn)
        return state_meta(str(self.path), m, version)

    def hash_key(self) -> HashKey:
        m = self._meta_map()
        key = self._env_key or hash_secret(str(self.path), m)
        fingerprint = key_fingerprint(key)
        source: Literal["env", "state"] = "env" if self._env_key else "state"
        return HashKey(key, source, fingerprint, m.get("hash_key_fp"))

    # -- the last drift run -----------------------------------------------------------------

    def note_drift(self, summary: Mapping[str, Any]) -> None:
        """Remember the last drift run (a plan reports it). Not a change to the ledger, so it
        needs no lock and moves no serial."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('last_drift', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (json.dumps(dict(summary), sort_keys=True),),
            )

    def last_drift(self) -> dict[str, Any] | None:
        rows = self._query("SELECT value FROM meta WHERE key = 'last_drift'")
        return drift_note(str(self.path), rows[0][0]) if rows else None

    # -- the columnar ledger (ledger_reads.py) ---------------------------------------------

    def _state_name(self) -> str:
        return str(self.path)

    def _read_parts(self, workdir: Path) -> LedgerParts:
        """The snapshot and the log from ONE read transaction, spooled into `workdir`."""
        conn = self._guard(
            lambda: sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only = ON")
            conn.execute("BEGIN")
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()  # the snapshot starts here
            row = conn.execute("SELECT value FROM meta WHERE key = 'ledger_snapshot'").fetchone()
            info = snapshot_info(row[0]) if row else None
            tag = uuid.uuid4().hex[:8]
            snapshot = None
            if info is not None and info.chunks:
                snapshot = workdir / f"snapshot-{tag}.parquet"
                rows = conn.execute("SELECT data FROM ledger_snapshot ORDER BY chunk")
                chunks = (r[0] for r in rows)
                write_snapshot_file(chunks, snapshot, info)
            log = workdir / f"log-{tag}.arrow"
            entries = conn.execute("SELECT seq, data FROM ledger_log ORDER BY seq")
            spooled = spool_log(((int(s), bytes(d)) for s, d in entries), log)
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise StateError(f"state {self.path}: {e}") from e
        except LedgerDamaged as e:
            raise StateError(f"state {self.path}: {e}", hint=DAMAGED_HINT) from e
        finally:
            conn.close()
        return LedgerParts(snapshot, info, spooled)

    def serial_at(self, when: datetime) -> int:
        # recorded_at is ISO text in UTC (+00:00), so text order is time order.
        rows = self._query(
            "SELECT coalesce(max(serial), 0) FROM journal WHERE recorded_at <= ?",
            (ts(when.astimezone(UTC)),),
        )
        return int(rows[0][0])

    def resources(self) -> dict[str, ResourceRecord]:
        rows = self._query(
            "SELECT address, spec_hash, remote_id, spec, updated_at FROM resources ORDER BY address"
        )
        where = str(self.path)
        return {
            a: ResourceRecord(
                a,
                h,
                r,
                resource_spec(where, a, s),
                recorded_time(where, f"resource {a}: updated_at", t),
            )
            for a, h, r, s, t in rows
        }

    def has_events(self, event_ids: Collection[str]) -> frozenset[str]:
        ids, found = list(event_ids), set[str]()
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i : i + _IN_CHUNK]
            sql = f"SELECT event_id FROM events WHERE event_id IN ({','.join('?' * len(chunk))})"
            found.update(r[0] for r in self._query(sql, chunk))
        return frozenset(found)

    def acked_event_ids(self, batch_size: int = 50_000) -> Iterator[list[str]]:
        last = ""
        while batch := self._query(
            "SELECT event_id FROM events WHERE event_id > ? ORDER BY event_id LIMIT ?",
            (last, batch_size),
        ):
            yield [r[0] for r in batch]
            last = batch[-1][0]

    def event_count(self) -> int:
        return int(self._query("SELECT count(*) FROM events")[0][0])

    def current_lock(self) -> LockInfo | None:
        with self._mutex:
            return self._lock_row(self._conn)

    def _lock_row(self, c: sqlite3.Connection) -> LockInfo | None:
        row = self._guard(
            lambda: c.execute(
                "SELECT lock_id, user, host, pid, operation, info, started_at, heartbeat_at,"
                " pid_start FROM lock WHERE name = 'state'"
            ).fetchone()
        )
        if row is None:
            return None
        lid, user, host, pid, op, info, started, beat, pid_start = row
        where = str(self.path)
        started_at = recorded_time(where, f"lock {lid}: started_at", started)
        heartbeat_at = recorded_time(where, f"lock {lid}: heartbeat_at", beat)
        return LockInfo(lid, user, host, pid, op, info, started_at, heartbeat_at, pid_start)

    def journal(self, limit: int = 20, *, since_serial: int = 0) -> list[JournalEntry]:
        rows = self._query(
            "SELECT apply_id, batch_no, serial, recorded_at, writes, unsets, events, summary"
            " FROM journal WHERE serial > ? ORDER BY serial DESC LIMIT ?",
            (since_serial, limit),
        )
        where = str(self.path)
        return [
            JournalEntry(
                a,
                b,
                s,
                recorded_time(where, f"journal batch {b} of apply {a}: recorded_at", t),
                w,
                u,
                e,
                journal_summary(where, a, b, summary),
            )
            for a, b, s, t, w, u, e, summary in rows
        ]

    def applies(self, limit: int = 20) -> list[ApplyRecord]:
        rows = self._query(
            "SELECT apply_id, plan_id, lock_id, holder, started_at, finished_at, status"
            " FROM applies ORDER BY started_at DESC LIMIT ?",
            (limit,),
        )
        where = str(self.path)
        return [
            ApplyRecord(
                a,
                p,
                lk,
                h,
                recorded_time(where, f"apply {a}: started_at", s),
                recorded_time(where, f"apply {a}: finished_at", f) if f else None,
                st,
            )
            for a, p, lk, h, s, f, st in rows
        ]


def _create_private_file(path: Path) -> None:
    """Create the state file 0600 (its directory 0700) before SQLite opens it.

    SQLite gives the -wal and -shm files the database file's permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return  # another process created it first
    except OSError as e:
        raise StateError(f"cannot create state file {path}: {e.strerror}") from e
    os.close(fd)
