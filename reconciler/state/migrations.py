"""Numbered SQLite schema migrations, applied step by step in one transaction on open.

A migration is never edited once released: change the schema by appending a new step. A state
whose version is newer than the newest step here was written by a newer reconciler and is
refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.errors import StateError
from reconciler.state.cells import LEGACY_BATCH, legacy_blob

Step = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    steps: Sequence[Step]


V1 = Migration(
    1,
    "meta, attribute names, ledger, resources, events, lock, applies, journal",
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        # Attribute names are interned: 20M ledger rows repeat ~20 names.
        "CREATE TABLE attributes (aid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        """CREATE TABLE ledger (
            kind INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            aid INTEGER NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (kind, user_id, aid)
        ) WITHOUT ROWID""",
        """CREATE TABLE resources (
            address TEXT PRIMARY KEY,
            spec_hash TEXT NOT NULL,
            remote_id TEXT,
            spec TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE events (
            event_id TEXT PRIMARY KEY,
            apply_id TEXT NOT NULL,
            acked_at TEXT NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX events_acked_at ON events (acked_at)",
        """CREATE TABLE lock (
            name TEXT PRIMARY KEY CHECK (name = 'state'),
            lock_id TEXT NOT NULL,
            user TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            pid_start TEXT NOT NULL,
            operation TEXT NOT NULL,
            info TEXT NOT NULL,
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL
        )""",
        """CREATE TABLE applies (
            apply_id TEXT PRIMARY KEY,
            plan_id TEXT NOT NULL,
            lock_id TEXT NOT NULL,
            holder TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL
        )""",
        """CREATE TABLE journal (
            apply_id TEXT NOT NULL REFERENCES applies (apply_id),
            batch_no INTEGER NOT NULL,
            serial INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            writes INTEGER NOT NULL,
            unsets INTEGER NOT NULL,
            events INTEGER NOT NULL,
            summary TEXT NOT NULL,
            PRIMARY KEY (apply_id, batch_no)
        )""",
        "CREATE INDEX journal_serial ON journal (serial)",
    ),
)

# The serial of the batch that last wrote each ledger row, so a reader can tell which users were
# written recently (drift skips them: Braze writes land asynchronously). Adding a column with a
# constant default rewrites nothing, even on a 20M-row ledger; old rows read as serial 0.
V2 = Migration(
    2,
    "ledger.serial: the batch that last wrote each row",
    ("ALTER TABLE ledger ADD COLUMN serial INTEGER NOT NULL DEFAULT 0",),
)


def _v3_columnar_ledger(conn: sqlite3.Connection) -> None:
    """Move the row-per-cell ledger into the log as acknowledged blobs, then drop it.

    The rows keep their serials; the next apply folds the log into the first snapshot.
    """
    conn.execute(
        "CREATE TABLE ledger_log (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " serial INTEGER NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('ack', 'doubt')),"
        " cells INTEGER NOT NULL, data BLOB NOT NULL)"
    )
    conn.execute("CREATE TABLE ledger_snapshot (chunk INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    names = dict(conn.execute("SELECT aid, name FROM attributes").fetchall())
    reader = conn.cursor()
    reader.execute("SELECT kind, user_id, aid, value, serial FROM ledger ORDER BY kind, user_id")
    while rows := reader.fetchmany(LEGACY_BATCH):
        conn.execute(
            "INSERT INTO ledger_log (serial, kind, cells, data) VALUES (?, 'ack', ?, ?)",
            (max(r[4] for r in rows), len(rows), legacy_blob(rows, names)),
        )
    conn.execute("DROP TABLE ledger")
    conn.execute("DROP TABLE attributes")  # names now travel inside the blobs


# The ledger becomes columnar (docs/state.md): a Parquet snapshot and a log of batch blobs.
V3 = Migration(3, "columnar ledger: snapshot and log of batches", (_v3_columnar_ledger,))

# The digests a plan leaves for the next one (plan/digests.py): a cache, described in
# meta.plan_digests; losing it costs one plan that reads everything.
V4 = Migration(
    4,
    "plan digests: what the last applied plan saw, per user",
    ("CREATE TABLE plan_digests (chunk INTEGER PRIMARY KEY, data BLOB NOT NULL)",),
)

MIGRATIONS: tuple[Migration, ...] = (V1, V2, V3, V4)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL
)"""


def current_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(version)


def migrate(
    conn: sqlite3.Connection, where: str, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Bring the schema up to the newest migration; return that version.

    The caller has begun an IMMEDIATE transaction (SQLite DDL is transactional), so either
    every pending step lands or none does, and two processes cannot migrate at once.
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
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.description, datetime.now(UTC).isoformat()),
        )
    return max(have, newest)
