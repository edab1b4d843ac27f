"""A separate process for the lock and crash tests: holds the lock, or records batches forever.

Usage: python worker.py URL hold|batches
"""

from __future__ import annotations

import sys
import time

from reconciler.state import LedgerRow, LedgerUnset, LockRequest, open_state

USERS_PER_BATCH = 500


def batch_rows(k: int) -> list[LedgerRow]:
    return [
        LedgerRow(f"u{k}-{i}", attr, f'"{k}"')
        for i in range(USERS_PER_BATCH)
        for attr in ("A", "B")
    ]


def batch_unsets(k: int) -> list[LedgerUnset]:
    """Batch k removes attribute B of batch k-1's users."""
    return [LedgerUnset(f"u{k - 1}-{i}", "B") for i in range(USERS_PER_BATCH)] if k else []


def main(url: str, mode: str) -> None:
    store = open_state(url)
    with store.lock(LockRequest("apply", info=f"worker {mode}")):
        print("locked", flush=True)
        if mode == "hold":
            time.sleep(600)
        apply_id = store.begin_apply("crash-test")
        k = 0
        while True:
            store.record_batch(apply_id, k, batch_rows(k), batch_unsets(k), [f"ev-{k}"])
            print(f"batch {k}", flush=True)
            k += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
