"""bench/generate.py's synthetic workspace (CSV) and a plan recorded as acknowledged: what the
plan-at-scale tests build on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reconciler.plan.model import Plan
from reconciler.state import LedgerRow, LedgerUnset, LockRequest, open_state

REPO = Path(__file__).resolve().parents[1]
GENERATE = REPO / "bench" / "generate.py"


def generate(
    root: Path, users: int, *, attributes: int = 20, audiences: int = 2, seed: int = 5
) -> Path:
    """`root/original`, `root/churned` and `root/ground_truth.json`, with 1% churn; returns `root`."""
    subprocess.run(
        [
            sys.executable,
            str(GENERATE),
            *("--users", str(users), "--attributes", str(attributes)),
            *("--audiences", str(audiences), "--churn", "1", "--seed", str(seed)),
            *("--format", "csv", "--no-validate", str(root)),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return root


def acknowledge(url: str, plan: Plan) -> None:
    """Record every delta of the plan as Braze acknowledged it, one batch per user."""
    with open_state(url) as state, state.lock(LockRequest("apply", plan.plan_id)):
        apply_id = state.begin_apply(plan.plan_id)
        for n, d in enumerate(plan.deltas()):
            state.record_batch(
                apply_id,
                n,
                [LedgerRow(d.user_id, a, v, d.id_kind) for a, v in d.writes],
                [LedgerUnset(d.user_id, a, d.id_kind) for a in d.unsets],
            )
        state.finish_apply(apply_id, "applied")
