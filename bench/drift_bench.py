"""Measure drift's local half on a big ledger: the seeded sample pass, the sample's rows, and
the window lookup, with no Braze calls (those are paced by Braze's limits, not by us).

Run: .venv/bin/python bench/drift_bench.py [--users 1000000] [--attributes 10] [--sample 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.drift.sampling import sample_users
from reconciler.drift.users import UserCheckOptions, select_users
from reconciler.state import LedgerRow, LockRequest, open_state


def fill(url: str, users: int, attributes: int) -> float:
    t = time.perf_counter()
    with open_state(url) as store, store.lock(LockRequest("bench")):
        apply_id = store.begin_apply("bench")
        batch: list[LedgerRow] = []
        n = 0
        for u in range(users):
            user = f"ext-{u:08d}"
            batch.extend(
                LedgerRow(user, f"attr_{a:02d}", f'"v{u % 97}"') for a in range(attributes)
            )
            if len(batch) >= 200_000:
                store.record_batch(apply_id, n, batch)
                batch, n = [], n + 1
        if batch:
            store.record_batch(apply_id, n, batch)
        store.finish_apply(apply_id, "applied")
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--attributes", type=int, default=10)
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{Path(d) / 'state.db'}?synchronous=normal"
        rows = args.users * args.attributes
        print(f"fill: {rows:,} ledger rows in {fill(url, args.users, args.attributes):.1f} s")
        with open_state(url) as store:
            t = time.perf_counter()
            drawn = sample_users(store.ledger_users(), 2 * args.sample, seed=1)
            sample_s = time.perf_counter() - t
            print(
                f"sample pass: {drawn.population:,} users, {len(drawn.users):,} drawn in "
                f"{sample_s:.2f} s ({rows / sample_s / 1e6:.1f} M rows/s)"
            )
            t = time.perf_counter()
            found = store.ledger_for_users(drawn.users)
            print(f"ledger_for_users: {len(found):,} users in {time.perf_counter() - t:.3f} s")
            t = time.perf_counter()
            store.serial_at(datetime.now(UTC) - timedelta(minutes=5))
            print(f"serial_at: {time.perf_counter() - t:.4f} s")
            t = time.perf_counter()
            options = UserCheckOptions(args.sample, 1, 300.0)
            chosen = select_users(store, options, datetime.now(UTC) + timedelta(hours=1))
            print(
                f"select_users (all of the above): {len(chosen.users):,} users in "
                f"{time.perf_counter() - t:.2f} s"
            )


if __name__ == "__main__":
    main()
