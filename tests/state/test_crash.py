"""kill -9 in the middle of recording batches: every journaled batch is whole, nothing else is."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from worker import USERS_PER_BATCH

from reconciler.state import LedgerRow, LockRequest, open_state

WORKER = Path(__file__).with_name("worker.py")


def kill_mid_run(url: str, after_batches: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), url, "batches"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == f"batch {after_batches}":
            break
    time.sleep(random.uniform(0, 0.02))  # land anywhere inside a later transaction
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def test_kill_9_loses_no_journaled_batch_and_leaves_no_partial_one(sqlite_path: Path) -> None:
    url = f"sqlite:///{sqlite_path}"
    for round_no in range(3):
        if sqlite_path.exists():
            sqlite_path.unlink()
        kill_mid_run(url, after_batches=3 + round_no)

        conn = sqlite3.connect(sqlite_path)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()

        with open_state(url, create=False) as state:
            journaled = sorted(e.batch_no for e in state.journal(limit=10_000))
            assert journaled == list(range(len(journaled))) and len(journaled) > 3 + round_no
            assert state.meta().serial == len(journaled)
            rows = {(r.user_id, r.attribute): r.value for b in state.iter_ledger() for r in b}
            expected: dict[tuple[str, str], str] = {}
            for k in journaled:
                for i in range(USERS_PER_BATCH):
                    expected[(f"u{k}-{i}", "A")] = f'"{k}"'
                    if k + 1 not in journaled:  # batch k+1 unsets B of batch k's users
                        expected[(f"u{k}-{i}", "B")] = f'"{k}"'
            assert rows == expected
            assert state.has_events([f"ev-{k}" for k in range(len(journaled) + 5)]) == {
                f"ev-{k}" for k in journaled
            }
            (run,) = state.applies()
            assert run.status == "running"  # it never finished, and nobody has taken over yet
            with state.lock(LockRequest("apply")) as mine:  # the dead holder's lock is taken over
                assert mine.replaced is not None
                apply_id = state.begin_apply()
                state.record_batch(apply_id, 0, [LedgerRow("after", "A", "1")])
                state.finish_apply(apply_id, "applied")
            assert [a.status for a in state.applies()] == ["applied", "interrupted"]
