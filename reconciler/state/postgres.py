"""PostgresState: the team StateStore in one schema of a PostgreSQL database.

It behaves exactly like SqliteState (the shared suite in tests/state runs against both); what
differs is how. The columnar ledger's snapshot lives in the database as bytea chunks (so an
ephemeral CI runner reads the ledger the last one left), and a plan reads it and the log on a
connection of its own in one REPEATABLE READ snapshot. The writer lock is a session-level
advisory lock plus a lock row naming the holder (postgres_writes.py). Durability is the
server's: a committed batch survives a crash of either side.

Connections: autocommit, explicit transactions, time zone UTC, search_path = the state schema.
The password never appears in the URL (url.py refuses it): libpq reads PGPASSWORD or ~/.pgpass.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Self

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

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
from reconciler.state.pg_migrations import PG_MIGRATIONS, PgMigration, current_version, migrate
from reconciler.state.pg_reconnect import ConnectionLost, is_lost, reconnect_seconds
from reconciler.state.pg_transfer import PostgresTransfer
from reconciler.state.postgres_writes import PostgresWrites
from reconciler.state.records import (
    drift_note,
    hash_secret,
    journal_summary,
    resource_spec,
    state_meta,
)
from reconciler.state.url import parse_postgres_url, redact_url
from reconciler.state.values import key_fingerprint

_IN_CHUNK = 10_000
_LOCK_COLUMNS = "lock_id, username, host, pid, operation, info, started_at, heartbeat_at, pid_start"
# Defaults a URL may override: a name in pg_stat_activity, and no endless hang on a dead host.
_CONNECT_DEFAULTS = {"application_name": "reconciler", "connect_timeout": "10"}


def advisory_key(schema: str, purpose: str) -> int:
    """A stable signed 64-bit advisory-lock key for one schema and purpose."""
    digest = hashlib.sha256(f"reconciler:{purpose}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def one_line(e: BaseException) -> str:
    """A psycopg message without libpq's multi-line layout."""
    return " ".join(str(e).split())


class PostgresState(PostgresWrites, PostgresTransfer, ColumnarCompaction):
    """A StateStore in one PostgreSQL schema; safe to share between threads of one process."""

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        hash_key: bytes | None = None,
        migrations: Sequence[PgMigration] = PG_MIGRATIONS,
    ) -> None:
        reconnect_seconds()  # a bad budget is refused before anything is written
        target = parse_postgres_url(url)
        self.url = url
        self.where = redact_url(url)
        self.schema = target.schema
        self._conninfo = target.conninfo
        self._env_key = hash_key
        self._mutex = threading.RLock()
        self._held: LockInfo | None = None
        self._lock_conn: psycopg.Connection | None = None
        self.lock_key = advisory_key(self.schema, "lock")
        self._conn = self._connect()
        try:
            self.schema_version = self._init(create, migrations)
        except BaseException:
            self._conn.close()
            raise

    # -- connections and transactions ----------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        given = conninfo_to_dict(self._conninfo)
        extra = {k: v for k, v in _CONNECT_DEFAULTS.items() if k not in given}
        try:
            conn = psycopg.connect(make_conninfo(self._conninfo, **extra), autocommit=True)
        except psycopg.Error as e:
            raise StateError(
                f"cannot connect to state {self.where}: {one_line(e)}",
                hint="is the server up and the URL right? The password comes from PGPASSWORD "
                "or ~/.pgpass, never from the URL",
            ) from None
        try:
            conn.execute(
                sql.SQL("SET TIME ZONE 'UTC'; SET search_path TO {}").format(
                    sql.Identifier(self.schema)
                )
            )
        except psycopg.Error as e:
            conn.close()
            raise StateError(f"state {self.where}: {one_line(e)}") from None
        return conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate psycopg errors into StateError at the boundary (the URL redacted)."""
        try:
            yield
        except psycopg.errors.CardinalityViolation:
            raise  # record_batch retries with duplicate keys removed
        except psycopg.Error as e:
            if is_lost(e, self._conn):
                raise ConnectionLost(f"state {self.where}: {one_line(e)}") from None
            raise StateError(f"state {self.where}: {one_line(e)}") from None

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection]:
        with self._mutex, self._errors(), self._conn.transaction():
            yield self._conn

    def _init(self, create: bool, migrations: Sequence[PgMigration]) -> int:
        with self._tx() as c:
            # Serialises first opens of one schema: CREATE SCHEMA and the migration race else.
            c.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(self.schema, "migrate"),))
            exists = c.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
            ).fetchone()
            if exists and current_version(c) == 0 and self._has_tables(c):
                raise StateError(
                    f"schema {self.schema} in {self.where} holds other tables, not a state",
                    hint="pick a schema of its own with ?schema=NAME (default: reconciler)",
                )
            if not create and (not exists or current_version(c) == 0):
                raise StateError(
                    f"no state at {self.where}",
                    hint="nothing has been applied yet, or --state points somewhere else",
                )
            if not exists:
                c.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            version = migrate(c, self.where, migrations)
            if not c.execute("SELECT 1 FROM meta WHERE key = 'lineage'").fetchone():
                with c.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO meta (key, value) VALUES (%s, %s)",
                        [
                            ("lineage", str(uuid.uuid4())),
                            ("serial", "0"),
                            ("created_at", locking.now().isoformat(timespec="microseconds")),
                            ("hash_secret", secrets.token_hex(32)),
                        ],
                    )
        return version

    def _has_tables(self, c: psycopg.Connection) -> bool:
        row = c.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (self.schema,)
        ).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self._close_duck()
        with self._mutex:
            if self._lock_conn is not None:
                self._lock_conn.close()
                self._lock_conn = None
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        """A read on the shared connection, run again after a reconnect if the line drops."""
        rows: list[Any] = self._write(
            lambda c: c.execute(query, params).fetchall(), locked=False, once=False
        )
        return rows

    # -- reads ---------------------------------------------------------------------------------

    def _meta_map(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def meta(self) -> StateMeta:
        m = self._meta_map()
        with self._mutex, self._errors():
            version = current_version(self._conn)
        return state_meta(self.where, m, version)

    def hash_key(self) -> HashKey:
        m = self._meta_map()
        key = self._env_key or hash_secret(self.where, m)
        source: Literal["env", "state"] = "env" if self._env_key else "state"
        return HashKey(key, source, key_fingerprint(key), m.get("hash_key_fp"))

    # -- the last drift run -----------------------------------------------------------------

    def note_drift(self, summary: Mapping[str, Any]) -> None:
        """Remember the last drift run (a plan reports it). Not a change to the ledger, so it
        needs no lock and moves no serial."""
        text = json.dumps(dict(summary), sort_keys=True)
        self._write(
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES ('last_drift', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (text,),
            ),
            locked=False,
        )

    def last_drift(self) -> dict[str, Any] | None:
        rows = self._query("SELECT value FROM meta WHERE key = 'last_drift'")
        return drift_note(self.where, rows[0][0]) if rows else None

    # -- the columnar ledger (ledger_reads.py) ---------------------------------------------

    def _state_name(self) -> str:
        return self.where

    def _read_parts(self, workdir: Path) -> LedgerParts:
        """The snapshot and the log from ONE REPEATABLE READ snapshot, spooled into `workdir`.

        The snapshot lives in the database (bytea chunks), so an ephemeral CI runner reads
        the same ledger as the last one did.
        """
        conn = self._connect()
        tag = uuid.uuid4().hex[:8]
        snapshot = None
        log = workdir / f"log-{tag}.arrow"
        try:
            with self._errors():
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                row = conn.execute(
                    "SELECT value FROM meta WHERE key = 'ledger_snapshot'"
                ).fetchone()
                info = snapshot_info(row[0]) if row else None
                if info is not None and info.chunks:
                    snapshot = workdir / f"snapshot-{tag}.parquet"
                    with conn.cursor(name="snapshot_chunks", binary=True) as cur:
                        cur.itersize = 1
                        cur.execute("SELECT data FROM ledger_snapshot ORDER BY chunk")
                        write_snapshot_file((bytes(r[0]) for r in cur), snapshot, info)
                with conn.cursor(name="ledger_log", binary=True) as cur:
                    cur.itersize = 256
                    cur.execute("SELECT seq, data FROM ledger_log ORDER BY seq")
                    spooled = spool_log(((int(s), bytes(d)) for s, d in cur), log)
                conn.execute("COMMIT")
        except LedgerDamaged as e:
            raise StateError(f"state {self.where}: {e}", hint=DAMAGED_HINT) from e
        finally:
            conn.close()
        return LedgerParts(snapshot, info, spooled)

    def serial_at(self, when: datetime) -> int:
        rows = self._query(
            "SELECT coalesce(max(serial), 0) FROM journal WHERE recorded_at <= %s", (when,)
        )
        return int(rows[0][0])

    def resources(self) -> dict[str, ResourceRecord]:
        rows = self._query(
            "SELECT address, spec_hash, remote_id, spec, updated_at FROM resources ORDER BY address"
        )
        return {
            a: ResourceRecord(a, h, r, resource_spec(self.where, a, s), t) for a, h, r, s, t in rows
        }

    def has_events(self, event_ids: Collection[str]) -> frozenset[str]:
        ids, found = list(event_ids), set[str]()
        for i in range(0, len(ids), _IN_CHUNK):
            rows = self._query(
                "SELECT event_id FROM events WHERE event_id = ANY(%b::text[])",
                (ids[i : i + _IN_CHUNK],),
            )
            found.update(r[0] for r in rows)
        return frozenset(found)

    def acked_event_ids(self, batch_size: int = 50_000) -> Iterator[list[str]]:
        last = ""
        while batch := self._query(
            "SELECT event_id FROM events WHERE event_id > %s ORDER BY event_id LIMIT %s",
            (last, batch_size),
        ):
            yield [r[0] for r in batch]
            last = batch[-1][0]

    def event_count(self) -> int:
        return int(self._query("SELECT count(*) FROM events")[0][0])

    def current_lock(self) -> LockInfo | None:
        with self._mutex, self._errors():
            return self._lock_row(self._conn)

    def _lock_row(self, c: psycopg.Connection, *, for_update: bool = False) -> LockInfo | None:
        q = f"SELECT {_LOCK_COLUMNS} FROM lock WHERE name = 'state'"
        row = c.execute(q + (" FOR UPDATE" if for_update else "")).fetchone()
        return None if row is None else LockInfo(*row)

    def journal(self, limit: int = 20, *, since_serial: int = 0) -> list[JournalEntry]:
        rows = self._query(
            "SELECT apply_id, batch_no, serial, recorded_at, writes, unsets, events, summary"
            " FROM journal WHERE serial > %s ORDER BY serial DESC LIMIT %s",
            (since_serial, limit),
        )
        return [
            JournalEntry(a, b, s, t, w, u, e, journal_summary(self.where, a, b, summary))
            for a, b, s, t, w, u, e, summary in rows
        ]

    def applies(self, limit: int = 20) -> list[ApplyRecord]:
        rows = self._query(
            "SELECT apply_id, plan_id, lock_id, holder, started_at, finished_at, status"
            " FROM applies ORDER BY started_at DESC LIMIT %s",
            (limit,),
        )
        return [ApplyRecord(*row) for row in rows]
