"""PostgresState: the team StateStore in one schema of a PostgreSQL database.

It behaves exactly like SqliteState (the shared suite in tests/state runs against both); what
differs is how. Reads that stream the ledger use their own connection and one REPEATABLE READ
snapshot, and COPY (pg_bulk.py). The writer lock is a session-level advisory lock plus a lock
row naming the holder (postgres_writes.py). Durability is the server's: a committed batch
survives a crash of either side.

Connections: autocommit, explicit transactions, time zone UTC, search_path = the state schema.
The password never appears in the URL (url.py refuses it): libpq reads PGPASSWORD or ~/.pgpass.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, Self

import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.errors import StateError
from reconciler.state import locking
from reconciler.state.base import (
    ID_KINDS,
    ApplyRecord,
    HashKey,
    JournalEntry,
    LedgerRow,
    LockInfo,
    ResourceRecord,
    StateMeta,
    UserLedger,
)
from reconciler.state.pg_bulk import copy_ledger_batches
from reconciler.state.pg_migrations import PG_MIGRATIONS, PgMigration, current_version, migrate
from reconciler.state.pg_transfer import PostgresTransfer
from reconciler.state.postgres_writes import PostgresWrites
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


def _decoded(column: pa.DictionaryArray) -> list[str]:
    """A dictionary column as Python strings (DictionaryArray.to_pylist is 100× slower)."""
    names = column.dictionary.to_pylist()
    return [names[i] for i in column.indices.to_pylist()]


def one_line(e: BaseException) -> str:
    """A psycopg message without libpq's multi-line layout."""
    return " ".join(str(e).split())


class PostgresState(PostgresWrites, PostgresTransfer):
    """A StateStore in one PostgreSQL schema; safe to share between threads of one process."""

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        hash_key: bytes | None = None,
        migrations: Sequence[PgMigration] = PG_MIGRATIONS,
    ) -> None:
        target = parse_postgres_url(url)
        self.url = url
        self.where = redact_url(url)
        self.schema = target.schema
        self._conninfo = target.conninfo
        self._env_key = hash_key
        self._mutex = threading.RLock()
        self._held: LockInfo | None = None
        self._lock_conn: psycopg.Connection | None = None
        self._aids: dict[str, int] = {}
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
        with self._mutex, self._errors():
            return self._conn.execute(query, params).fetchall()

    # -- reads ---------------------------------------------------------------------------------

    def _meta_map(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def meta(self) -> StateMeta:
        m = self._meta_map()
        with self._mutex, self._errors():
            version = current_version(self._conn)
        created = datetime.fromisoformat(m["created_at"])
        return StateMeta(m["lineage"], int(m["serial"]), version, created)

    def hash_key(self) -> HashKey:
        m = self._meta_map()
        key = self._env_key or bytes.fromhex(m["hash_secret"])
        source: Literal["env", "state"] = "env" if self._env_key else "state"
        return HashKey(key, source, key_fingerprint(key), m.get("hash_key_fp"))

    def ledger_count(self, attribute: str | None = None) -> int:
        if attribute is None:
            return int(self._query("SELECT count(*) FROM ledger")[0][0])
        q = "SELECT count(*) FROM ledger JOIN attributes USING (aid) WHERE name = %s"
        return int(self._query(q, (attribute,))[0][0])

    def attribute_counts(self) -> dict[str, int]:
        q = (
            "SELECT a.name, c.n FROM (SELECT aid, count(*) AS n FROM ledger GROUP BY aid) c"
            " JOIN attributes a USING (aid) ORDER BY a.name"
        )
        return {name: int(n) for name, n in self._query(q)}

    def ledger_arrow_batches(
        self, batch_size: int = 50_000, attributes: Collection[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """COPY on a connection of its own, in one REPEATABLE READ snapshot."""
        conn = self._connect()
        try:
            with self._errors():
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                names_by_aid: list[str] = [""]
                for aid, name in conn.execute("SELECT aid, name FROM attributes ORDER BY aid"):
                    names_by_aid.extend([""] * (aid - len(names_by_aid)) + [name])
                aids = None
                if attributes is not None:
                    keep = set(attributes)
                    aids = [i for i, n in enumerate(names_by_aid) if i and n in keep]
                kinds = pa.array(ID_KINDS, pa.string())
                names = pa.array(names_by_aid, pa.string())
                yield from copy_ledger_batches(conn, aids, batch_size, kinds, names)
        finally:
            conn.close()  # also ends a COPY a consumer stopped reading half way

    def iter_ledger(
        self, batch_size: int = 50_000, attributes: Collection[str] | None = None
    ) -> Iterator[list[LedgerRow]]:
        for b in self.ledger_arrow_batches(batch_size, attributes):
            yield list(
                map(
                    LedgerRow,
                    b.column(1).to_pylist(),
                    _decoded(b.column(2)),
                    b.column(3).to_pylist(),
                    _decoded(b.column(0)),
                )
            )

    def ledger_users(self, batch_size: int = 50_000) -> Iterator[list[tuple[str, str]]]:
        """A server-side cursor in one REPEATABLE READ snapshot, on a connection of its own."""
        conn = self._connect()
        try:
            with self._errors():
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                with conn.cursor(name="ledger_users") as cur:
                    cur.execute("SELECT DISTINCT kind, user_id FROM ledger ORDER BY kind, user_id")
                    while rows := cur.fetchmany(batch_size):
                        yield [(ID_KINDS[k], u) for k, u in rows]
        finally:
            conn.close()

    def ledger_for_users(
        self, users: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], UserLedger]:
        by_kind: dict[int, list[str]] = {}
        for id_kind, user_id in set(users):
            if id_kind in ID_KINDS:
                by_kind.setdefault(ID_KINDS.index(id_kind), []).append(user_id)
        values: dict[tuple[str, str], dict[str, str]] = {}
        serials: dict[tuple[str, str], int] = {}
        for kind, ids in sorted(by_kind.items()):
            for i in range(0, len(ids), _IN_CHUNK):
                rows = self._query(
                    "SELECT l.user_id, a.name, l.value, l.serial FROM ledger l"
                    " JOIN attributes a USING (aid)"
                    " WHERE l.kind = %s AND l.user_id = ANY(%b::text[])",
                    (kind, ids[i : i + _IN_CHUNK]),
                )
                for user_id, name, value, serial in rows:
                    key = (ID_KINDS[kind], user_id)
                    values.setdefault(key, {})[name] = value
                    serials[key] = max(serials.get(key, 0), int(serial))
        return {k: UserLedger(k[0], k[1], v, serials[k]) for k, v in sorted(values.items())}

    def serial_at(self, when: datetime) -> int:
        rows = self._query(
            "SELECT coalesce(max(serial), 0) FROM journal WHERE recorded_at <= %s", (when,)
        )
        return int(rows[0][0])

    def resources(self) -> dict[str, ResourceRecord]:
        rows = self._query(
            "SELECT address, spec_hash, remote_id, spec, updated_at FROM resources ORDER BY address"
        )
        return {a: ResourceRecord(a, h, r, json.loads(s), t) for a, h, r, s, t in rows}

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
            JournalEntry(a, b, s, t, w, u, e, json.loads(summary))
            for a, b, s, t, w, u, e, summary in rows
        ]

    def applies(self, limit: int = 20) -> list[ApplyRecord]:
        rows = self._query(
            "SELECT apply_id, plan_id, lock_id, holder, started_at, finished_at, status"
            " FROM applies ORDER BY started_at DESC LIMIT %s",
            (limit,),
        )
        return [ApplyRecord(*row) for row in rows]
