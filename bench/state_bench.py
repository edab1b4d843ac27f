"""Measure the state backends: a 1M-row ledger written per apply batch and in bulk, then streamed.

Run: .venv/bin/python bench/state_bench.py [--rows 1000000] [--attributes 20]
         [--backend sqlite|postgres|both] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
         [--compare]

PostgreSQL runs in a throwaway schema (dropped afterwards). `--compare` also times the
alternatives the backend does not use, so its choices can be checked: COPY-staged writes for
small batches, one unnest statement for the bulk write, and a server-side cursor (instead of
COPY) for the ledger read.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
from psycopg import sql

from reconciler.state import ID_KINDS, LedgerRow, LockRequest, StateStore, open_state, pg_bulk
from reconciler.state.arrow import ledger_batch

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def rows(n_users: int, n_attributes: int, generation: int = 0) -> Iterator[LedgerRow]:
    for u in range(n_users):
        user = f"ext-{u:08d}"
        for a in range(n_attributes):
            yield LedgerRow(user, f"AIQ_attr_{a:02d}", f'"value-{u % 97}-{a}-{generation}"')


def write(store: StateStore, batches: list[list[LedgerRow]]) -> float:
    t = time.perf_counter()
    with store.lock(LockRequest("bench")):
        apply_id = store.begin_apply("bench")
        for i, batch in enumerate(batches):
            store.record_batch(apply_id, i, batch)
        store.finish_apply(apply_id, "applied")
    return time.perf_counter() - t


def timed(label: str, fn: Callable[[], int]) -> None:
    t = time.perf_counter()
    n = fn()
    print(f"  {label}: {n:,} rows in {time.perf_counter() - t:.2f} s")


def per_batch(label: str, store: StateStore, small: list[list[LedgerRow]]) -> None:
    s = write(store, small)
    n = sum(len(b) for b in small)
    print(
        f"  {label}: {n:,} rows in {len(small):,} batches of {len(small[0])}: "
        f"{s:.2f} s ({len(small) / s:,.0f} batches/s, {s / len(small) * 1000:.1f} ms/batch)"
    )


def streams(store: StateStore) -> None:
    timed("iter_ledger", lambda: sum(len(b) for b in store.iter_ledger(batch_size=50_000)))
    timed(
        "ledger_arrow_batches",
        lambda: sum(b.num_rows for b in store.ledger_arrow_batches(batch_size=50_000)),
    )
    t = time.perf_counter()
    counts = store.attribute_counts()
    print(f"  attribute_counts ({len(counts)} attributes): {time.perf_counter() - t:.2f} s")


def bulk(label: str, store: StateStore, batch: list[LedgerRow]) -> None:
    print(f"  {label}, one batch of {len(batch):,}: {write(store, [batch]):.2f} s")


def bench_sqlite(
    all_rows: list[LedgerRow], small: list[list[LedgerRow]], update: list[LedgerRow]
) -> None:
    print("SQLite")
    with tempfile.TemporaryDirectory() as d:
        for sync in ("full", "normal"):
            with open_state(f"sqlite:///{Path(d) / sync}.db?synchronous={sync}") as store:
                per_batch(f"synchronous={sync}", store, small)
        with open_state(f"sqlite:///{Path(d) / 'bulk'}.db") as store:
            bulk("bulk insert", store, all_rows)
            bulk("bulk update of every row", store, update)
            size = (Path(d) / "bulk.db").stat().st_size + (Path(d) / "bulk.db-wal").stat().st_size
            print(f"  file size (db + wal): {size / 1e6:.0f} MB")
            streams(store)


def cursor_arrow_batches(conninfo: str, schema: str) -> int:
    """The read the backend does NOT use: a server-side cursor, tuples → Arrow in Python."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        names = [""] * 64
        for aid, name in conn.execute("SELECT aid, name FROM attributes"):
            names[aid] = name
        kinds, dictionary = pa.array(ID_KINDS, pa.string()), pa.array(names, pa.string())
        n = 0
        with conn.cursor(name="bench", binary=True) as cur:
            cur.execute("SELECT kind, user_id, aid, value FROM ledger ORDER BY kind, user_id, aid")
            while batch := cur.fetchmany(50_000):
                n += ledger_batch(batch, kinds, dictionary).num_rows
        return n


def bench_postgres(
    url: str,
    all_rows: list[LedgerRow],
    small: list[list[LedgerRow]],
    update: list[LedgerRow],
    compare: bool,
) -> None:
    print(f"PostgreSQL ({url})")
    schemas = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    try:
        with open_state(f"{url}?schema={schemas[0]}") as store:
            per_batch("unnest upsert (used up to 20k rows)", store, small)
        if compare:
            default, pg_bulk.COPY_THRESHOLD = pg_bulk.COPY_THRESHOLD, 0
            try:
                with open_state(f"{url}?schema={schemas[1]}") as store:
                    per_batch("COPY-staged upsert (not used for small)", store, small)
            finally:
                pg_bulk.COPY_THRESHOLD = default
        with open_state(f"{url}?schema={schemas[2]}") as store:
            bulk("bulk insert via COPY", store, all_rows)
            bulk("bulk update of every row via COPY", store, update)
            if compare:
                default, pg_bulk.COPY_THRESHOLD = pg_bulk.COPY_THRESHOLD, 10**9
                try:
                    again = [r._replace(value=r.value + "2") for r in update]
                    bulk("bulk update via one unnest statement (not used)", store, again)
                finally:
                    pg_bulk.COPY_THRESHOLD = default
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("VACUUM ANALYZE {}.ledger").format(sql.Identifier(schemas[2])))
                size = conn.execute(
                    "SELECT pg_total_relation_size(%s)", (f"{schemas[2]}.ledger",)
                ).fetchone()
            print(f"  ledger table + index size: {(size[0] if size else 0) / 1e6:.0f} MB")
            streams(store)
            if compare:
                timed(
                    "server-side cursor → Arrow (not used)",
                    lambda: cursor_arrow_batches(url, schemas[2]),
                )
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--attributes", type=int, default=20)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=PG_URL, help="server and database (no password)")
    parser.add_argument("--compare", action="store_true", help="also time the unused options")
    args = parser.parse_args()
    n_users = args.rows // args.attributes
    all_rows = list(rows(n_users, args.attributes))
    per_request = 75 * args.attributes  # one /users/track request's worth of acknowledged rows
    small = [all_rows[i : i + per_request] for i in range(0, len(all_rows), per_request)]
    update = list(rows(n_users, args.attributes, generation=1))
    if args.backend in ("sqlite", "both"):
        bench_sqlite(all_rows, small, update)
    if args.backend in ("postgres", "both"):
        bench_postgres(args.pg_url, all_rows, small, update, args.compare)


if __name__ == "__main__":
    main()
