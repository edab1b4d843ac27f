"""SQLite's side of `state migrate`: dump each table in canonical rows, or load them all at once."""

from __future__ import annotations

import sqlite3
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.errors import StateError
from reconciler.state.tables import TABLES, batch_rows, select_sql, time_indexes

BUSY_TIMEOUT_MS = 10_000


def _to_row(row: tuple[Any, ...], times: tuple[int, ...]) -> tuple[Any, ...]:
    if not times:
        return row
    out = list(row)
    for i in times:
        if out[i] is not None:
            out[i] = datetime.fromisoformat(out[i])
    return tuple(out)


def _from_row(row: tuple[Any, ...], times: tuple[int, ...]) -> tuple[Any, ...]:
    if not times:
        return row
    out = list(row)
    for i in times:
        if out[i] is not None:
            out[i] = out[i].astimezone(UTC).isoformat(timespec="microseconds")
    return tuple(out)


class SqliteTransfer:
    """Mixin for SqliteState: needs its path, locked transaction and attribute-id cache."""

    path: Path

    @abstractmethod
    def _locked_tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def dump_table(self, table: str, batch_size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
        """A table's rows in primary-key order, read in one snapshot on a connection of its own."""
        times = time_indexes(table)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("BEGIN")
            cur = conn.execute(select_sql(table))
            while rows := cur.fetchmany(batch_rows(table, batch_size)):
                yield [_to_row(r, times) for r in rows]
        except sqlite3.DatabaseError as e:
            raise StateError(f"state {self.path}: {e}") from e
        finally:
            conn.close()

    def load_tables(self, tables: Mapping[str, Iterable[list[tuple[Any, ...]]]]) -> None:
        """Replace every table's content with `tables`, in ONE transaction (needs the lock)."""
        try:
            with self._locked_tx() as c:
                for table in reversed(TABLES):
                    c.execute(f"DELETE FROM {table}")
                for table, columns in TABLES.items():
                    times = time_indexes(table)
                    insert = (
                        f"INSERT INTO {table} ({', '.join(columns)})"
                        f" VALUES ({', '.join('?' * len(columns))})"
                    )
                    for rows in tables.get(table, ()):
                        c.executemany(insert, [_from_row(r, times) for r in rows])
        except sqlite3.DatabaseError as e:
            raise StateError(f"state {self.path}: {e}; nothing was written") from e
