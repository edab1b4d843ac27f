"""Measure the SQLite state: a 1M-row ledger written in bulk and per apply batch, then streamed.

Run: .venv/bin/python bench/state_bench.py [--rows 1000000] [--attributes 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from reconciler.state import LedgerRow, LockRequest, StateStore, open_state


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--attributes", type=int, default=20)
    args = parser.parse_args()
    n_users = args.rows // args.attributes
    all_rows = list(rows(n_users, args.attributes))
    per_request = 75 * args.attributes  # one /users/track request's worth of acknowledged rows
    small = [all_rows[i : i + per_request] for i in range(0, len(all_rows), per_request)]
    with tempfile.TemporaryDirectory() as d:
        for sync in ("full", "normal"):
            url = f"sqlite:///{Path(d) / sync}.db?synchronous={sync}"
            store = open_state(url)
            s = write(store, small)
            print(
                f"synchronous={sync}: {len(all_rows):,} rows in {len(small):,} batches "
                f"of {per_request}: {s:.2f} s ({len(small) / s:,.0f} batches/s)"
            )
            store.close()
        store = open_state(f"sqlite:///{Path(d) / 'bulk'}.db")
        print(f"bulk insert, one batch of {len(all_rows):,}: {write(store, [all_rows]):.2f} s")
        update = list(rows(n_users, args.attributes, generation=1))
        print(f"bulk update of every row: {write(store, [update]):.2f} s")
        size = (Path(d) / "bulk.db").stat().st_size + (Path(d) / "bulk.db-wal").stat().st_size
        print(f"file size (db + wal): {size / 1e6:.0f} MB")
        for label, stream in (
            ("iter_ledger", store.iter_ledger),
            ("ledger_arrow_batches", store.ledger_arrow_batches),
        ):
            t = time.perf_counter()
            n = sum(len(b) for b in stream(batch_size=50_000))
            print(f"{label}: {n:,} rows in {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        counts = store.attribute_counts()
        print(f"attribute_counts ({len(counts)} attributes): {time.perf_counter() - t:.2f} s")
        store.close()


if __name__ == "__main__":
    main()
