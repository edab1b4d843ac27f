"""Seed a state store as if a saved plan had been applied and every object acknowledged.

    .venv/bin/python bench/seed.py PLANFILE STATE_URL

Reads a plan saved by `reconciler plan --out PLANFILE` (made against STATE_URL), then records
every delta's ledger writes and unsets, and every due event's id, through the StateStore, as
the executor does once Braze acknowledged a batch, with no HTTP at all (and one journal entry
per 10,000 users instead of per 75). The benchmarks use it to put "the original was applied"
in place at sizes where a real apply against the sandbox takes too long.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from reconciler.plan.planfile import load_plan
from reconciler.plan.sealing import plan_key
from reconciler.state import LedgerRow, LedgerUnset, LockRequest, open_state

USERS_PER_BATCH = 10_000


def seed(planfile: Path, state_url: str) -> tuple[int, int]:
    """Record the saved plan as applied in the state only; returns (users, ledger writes)."""
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as tmp:
        plan, _inputs = load_plan(planfile, Path(tmp), key=plan_key())
        users = writes = 0
        with open_state(state_url) as store, store.lock(LockRequest("bench-seed")):
            apply_id = store.begin_apply(
                plan.plan_id,
                expect_lineage=plan.binding.lineage,
                expect_serial=plan.binding.serial,
            )
            rows: list[LedgerRow] = []
            unsets: list[LedgerUnset] = []
            batch_no = 0
            for n, delta in enumerate(plan.deltas(), start=1):
                rows.extend(LedgerRow(delta.user_id, a, v, delta.id_kind) for a, v in delta.writes)
                unsets.extend(LedgerUnset(delta.user_id, a, delta.id_kind) for a in delta.unsets)
                users = n
                if n % USERS_PER_BATCH == 0:
                    store.record_batch(apply_id, batch_no, rows, unsets)
                    writes += len(rows)
                    batch_no += 1
                    rows, unsets = [], []
            sent = [e.event_id for e in plan.events.events()] if plan.events.due else []
            store.record_batch(apply_id, batch_no, rows, unsets, event_ids=sent)
            writes += len(rows)
            store.finish_apply(apply_id, "applied")
            if plan.digests is not None:  # as apply keeps them, for the next plan
                store.put_plan_digests(
                    plan.digests.fingerprint, plan.digests.path, plan.digests.rows
                )
            store.compact_ledger()  # as apply does after a big batch of writes
    return users, writes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("planfile", type=Path)
    parser.add_argument("state_url")
    args = parser.parse_args()
    started = time.perf_counter()
    users, writes = seed(args.planfile, args.state_url)
    print(
        f"seeded {args.state_url}: {users:,} users, {writes:,} ledger rows "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
