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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.apply.journal import delta_columns
from reconciler.plan.model import UserDelta
from reconciler.plan.planfile import load_plan
from reconciler.plan.sealing import plan_key
from reconciler.state import LockRequest, StateStore, open_state
from reconciler.state.base import BatchAck

USERS_PER_BATCH = 10_000


def seed(planfile: Path, state_url: str, *, compact: bool = True) -> tuple[int, int]:
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
            pending: list[UserDelta] = []
            batch_no = 0
            for n, delta in enumerate(plan.deltas(), start=1):
                pending.append(delta)
                users = n
                if n % USERS_PER_BATCH == 0:
                    writes += _record(store, apply_id, batch_no, pending)
                    batch_no += 1
                    pending = []
            sent = [e.event_id for e in plan.events.events()] if plan.events.due else []
            writes += _record(store, apply_id, batch_no, pending, sent)
            store.finish_apply(apply_id, "applied")
            if plan.digests is not None:  # as apply keeps them, for the next plan
                store.put_plan_digests(
                    plan.digests.fingerprint, plan.digests.path, plan.digests.rows
                )
            if compact:  # as apply does after a big batch of writes
                started = time.perf_counter()
                store.compact_ledger()
                print(f"compaction: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return users, writes


def _record(
    store: StateStore, apply_id: str, batch_no: int, deltas: list[UserDelta], events: Any = ()
) -> int:
    """One acknowledged batch, in the executor's columnar form; returns its writes."""
    cells = delta_columns(deltas)
    store.commit_batches(apply_id, [BatchAck(batch_no, (), (), events, {}, None, cells)])
    return cells.writes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("planfile", type=Path)
    parser.add_argument("state_url")
    parser.add_argument(
        "--no-compact", action="store_true", help="leave the log uncompacted (to time compaction)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    users, writes = seed(args.planfile, args.state_url, compact=not args.no_compact)
    print(
        f"seeded {args.state_url}: {users:,} users, {writes:,} ledger rows "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
