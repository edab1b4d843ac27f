"""The tables a state is made of, as both backends name them: what `state migrate` copies.

Rows travel between backends as plain tuples in one canonical form (ints, strings, None, and
timezone-aware datetimes for the time columns), in primary-key order. The lock table is not
part of a state's content: the copy is made under both stores' locks, which stay their own.
"""

from __future__ import annotations

# Load order: a journal row needs its apply first.
TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "resources": ("address", "spec_hash", "remote_id", "spec", "updated_at"),
    "applies": (
        "apply_id",
        "plan_id",
        "lock_id",
        "holder",
        "started_at",
        "finished_at",
        "status",
    ),
    "journal": (
        "apply_id",
        "batch_no",
        "serial",
        "recorded_at",
        "writes",
        "unsets",
        "events",
        "summary",
    ),
    "events": ("event_id", "apply_id", "acked_at"),
    "ledger_log": ("seq", "serial", "kind", "cells", "data"),
    "ledger_snapshot": ("chunk", "data"),
    "plan_digests": ("chunk", "data"),
}

ORDER_BY: dict[str, str] = {
    "meta": "key",
    "resources": "address",
    "applies": "apply_id",
    "journal": "apply_id, batch_no",
    "events": "event_id",
    "ledger_log": "seq",
    "ledger_snapshot": "chunk",
    "plan_digests": "chunk",
}

# Rows per dump batch for the tables of blobs (a log entry is a batch of cells, a snapshot
# chunk up to 64 MiB), so that a copy holds a bounded amount in memory.
BLOB_BATCH_ROWS: dict[str, int] = {"ledger_log": 256, "ledger_snapshot": 1, "plan_digests": 1}


def batch_rows(table: str, batch_size: int) -> int:
    return min(batch_size, BLOB_BATCH_ROWS.get(table, batch_size))


TIME_COLUMNS = frozenset({"updated_at", "started_at", "finished_at", "recorded_at", "acked_at"})


def select_sql(table: str) -> str:
    """The one query that dumps a table in primary-key order (names are ours, not input)."""
    return f"SELECT {', '.join(TABLES[table])} FROM {table} ORDER BY {ORDER_BY[table]}"


def time_indexes(table: str) -> tuple[int, ...]:
    return tuple(i for i, c in enumerate(TABLES[table]) if c in TIME_COLUMNS)
