"""PostgreSQL's side of `state migrate`: dump each table in canonical rows, or load them by COPY."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import psycopg

from reconciler.state.tables import TABLES, batch_rows, select_sql


class PostgresTransfer:
    """Mixin for PostgresState: needs its connections, error boundary and locked transaction."""

    @abstractmethod
    def _connect(self) -> psycopg.Connection: ...

    @abstractmethod
    def _errors(self) -> AbstractContextManager[None]: ...

    @abstractmethod
    def _locked_tx(self) -> AbstractContextManager[psycopg.Connection]: ...

    def dump_table(self, table: str, batch_size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
        """A table's rows in primary-key order: a server-side cursor in one snapshot."""
        conn = self._connect()
        try:
            with self._errors():
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                with conn.cursor(name=f"dump_{table}", binary=True) as cur:
                    cur.execute(select_sql(table))
                    while rows := cur.fetchmany(batch_rows(table, batch_size)):
                        yield rows
        finally:
            conn.close()

    def load_tables(self, tables: Mapping[str, Iterable[list[tuple[Any, ...]]]]) -> None:
        """Replace every table's content with `tables` by COPY, in ONE transaction (locked)."""
        with self._errors(), self._locked_tx() as c:
            c.execute("TRUNCATE " + ", ".join(TABLES))
            for table, columns in TABLES.items():
                query = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with c.cursor() as cur, cur.copy(query) as copy:
                    for rows in tables.get(table, ()):
                        for row in rows:
                            copy.write_row(row)
            # the log's seq continues after the copied entries
            c.execute(
                "SELECT setval(pg_get_serial_sequence('ledger_log', 'seq'),"
                " greatest((SELECT max(seq) FROM ledger_log), 1))"
            )
