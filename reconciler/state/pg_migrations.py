"""Numbered PostgreSQL schema migrations, applied step by step in one transaction on open.

The tables mirror the SQLite ones (migrations.py) column for column, and the versions match, so
`state migrate` can copy either way. Text keys use the "C" collation: rows then sort by bytes, as
SQLite sorts them, so both backends stream the ledger and list events in the same order (and
the btree is faster).

As in SQLite: a released migration is never edited, a new step is appended, and a schema newer
than this code knows is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from reconciler.errors import StateError
from reconciler.state.cells import LEGACY_BATCH, legacy_blob

PgStep = str | Callable[[psycopg.Connection], None]


@dataclass(frozen=True)
class PgMigration:
    version: int
    description: str
    steps: Sequence[PgStep]


V1 = PgMigration(
    1,
    "meta, attribute names, ledger, resources, events, lock, applies, journal",
    (
        'CREATE TABLE meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL)',
        'CREATE TABLE attributes (aid integer PRIMARY KEY, name text COLLATE "C" NOT NULL UNIQUE)',
        """CREATE TABLE ledger (
            kind smallint NOT NULL,
            user_id text COLLATE "C" NOT NULL,
            aid integer NOT NULL,
            value text NOT NULL,
            PRIMARY KEY (kind, user_id, aid)
        )""",
        """CREATE TABLE resources (
            address text COLLATE "C" PRIMARY KEY,
            spec_hash text NOT NULL,
            remote_id text,
            spec text NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        """CREATE TABLE events (
            event_id text COLLATE "C" PRIMARY KEY,
            apply_id text NOT NULL,
            acked_at timestamptz NOT NULL
        )""",
        "CREATE INDEX events_acked_at ON events (acked_at)",
        """CREATE TABLE lock (
            name text PRIMARY KEY CHECK (name = 'state'),
            lock_id text NOT NULL,
            username text NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            pid_start text NOT NULL,
            operation text NOT NULL,
            info text NOT NULL,
            started_at timestamptz NOT NULL,
            heartbeat_at timestamptz NOT NULL
        )""",
        """CREATE TABLE applies (
            apply_id text COLLATE "C" PRIMARY KEY,
            plan_id text NOT NULL,
            lock_id text NOT NULL,
            holder text NOT NULL,
            started_at timestamptz NOT NULL,
            finished_at timestamptz,
            status text NOT NULL
        )""",
        """CREATE TABLE journal (
            apply_id text COLLATE "C" NOT NULL REFERENCES applies (apply_id),
            batch_no integer NOT NULL,
            serial bigint NOT NULL,
            recorded_at timestamptz NOT NULL,
            writes integer NOT NULL,
            unsets integer NOT NULL,
            events integer NOT NULL,
            summary text NOT NULL,
            PRIMARY KEY (apply_id, batch_no)
        )""",
        "CREATE INDEX journal_serial ON journal (serial)",
    ),
)

# As SQLite's V2: the serial of the batch that last wrote each ledger row. PostgreSQL 11+ adds a
# column with a constant default without rewriting the table; old rows read as serial 0.
V2 = PgMigration(
    2,
    "ledger.serial: the batch that last wrote each row",
    ("ALTER TABLE ledger ADD COLUMN serial bigint NOT NULL DEFAULT 0",),
)


def _v3_columnar_ledger(conn: psycopg.Connection) -> None:
    """As SQLite's V3: the row-per-cell ledger moves into the log as blobs, then is dropped."""
    conn.execute(
        "CREATE TABLE ledger_log (seq bigserial PRIMARY KEY, serial bigint NOT NULL,"
        " kind text NOT NULL CHECK (kind IN ('ack', 'doubt')), cells integer NOT NULL,"
        " data bytea NOT NULL)"
    )
    conn.execute("CREATE TABLE ledger_snapshot (chunk integer PRIMARY KEY, data bytea NOT NULL)")
    names: dict[int, str] = dict(conn.execute("SELECT aid, name FROM attributes").fetchall())
    with conn.cursor(name="legacy_ledger") as reader:
        reader.itersize = LEGACY_BATCH
        reader.execute(
            "SELECT kind, user_id, aid, value, serial FROM ledger ORDER BY kind, user_id"
        )
        while rows := reader.fetchmany(LEGACY_BATCH):
            conn.execute(
                "INSERT INTO ledger_log (serial, kind, cells, data) VALUES (%s, 'ack', %s, %b)",
                (max(r[4] for r in rows), len(rows), legacy_blob(rows, names)),
            )
    conn.execute("DROP TABLE ledger")
    conn.execute("DROP TABLE attributes")  # names now travel inside the blobs


V3 = PgMigration(3, "columnar ledger: snapshot and log of batches", (_v3_columnar_ledger,))

V4 = PgMigration(
    4,
    "plan digests: what the last applied plan saw, per user",
    ("CREATE TABLE plan_digests (chunk integer PRIMARY KEY, data bytea NOT NULL)",),
)

PG_MIGRATIONS: tuple[PgMigration, ...] = (V1, V2, V3, V4)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL
)"""


def current_version(conn: psycopg.Connection) -> int:
    """0 when the schema has no version table yet (search_path points at the state schema)."""
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(
    conn: psycopg.Connection, where: str, migrations: Sequence[PgMigration] = PG_MIGRATIONS
) -> int:
    """Bring the schema up to the newest migration; return that version.

    The caller runs this inside one transaction holding a transaction-level advisory lock, so
    every pending step lands or none does (PostgreSQL DDL is transactional) and two processes
    opening a new state at once do not both migrate.
    """
    newest = migrations[-1].version if migrations else 0
    have = current_version(conn)
    if have > newest:
        raise StateError(
            f"{where}: state schema version {have} is newer than this reconciler supports "
            f"({newest})",
            hint="upgrade reconciler; an older one must not write a newer state",
        )
    conn.execute(_VERSION_TABLE)
    for migration in migrations:
        if migration.version <= have:
            continue
        for step in migration.steps:
            if callable(step):
                step(conn)
            else:
                conn.execute(step)
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (%s, %s, %s)",
            (migration.version, migration.description, datetime.now(UTC)),
        )
    return max(have, newest)
