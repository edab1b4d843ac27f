"""kill -9 in the middle of an apply loses nothing, and the next apply resends only the rest."""

from __future__ import annotations

import asyncio
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from apply.support import Sandbox, delta, make_plan, remaining_deltas, running_sandbox

from reconciler.apply import DEFAULT_CONCURRENCY, NullProgress
from reconciler.apply.run import run_apply
from reconciler.braze import BrazeClient
from reconciler.plan.model import OBJECTS_PER_REQUEST
from reconciler.state import StateStore, open_state

WORKER = Path(__file__).with_name("apply_worker.py")
USERS = 20_000
KILL_AFTER_BATCHES = 80  # of ~267


def exported(sandbox: Sandbox, ids: list[str]) -> dict[str, dict[str, Any]]:
    """What the sandbox holds, read through /users/export/ids with the real client."""

    async def go() -> list[dict[str, Any]]:
        async with BrazeClient(sandbox.url, sandbox.key) as client:
            return await client.export_ids(ids, ["external_id", "custom_attributes"])

    return {u["external_id"]: u.get("custom_attributes", {}) for u in asyncio.run(go())}


@pytest.mark.slow
def test_kill_9_mid_apply_then_a_second_apply_converges_resending_only_in_flight(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    deltas = [delta(f"cust-{i:07d}", tier=f"t{i % 5}", score=i) for i in range(USERS)]
    plan = make_plan(tmp_path, deltas, state=state)
    plan_file = tmp_path / "plan.pickle"
    plan_file.write_bytes(pickle.dumps(plan))
    state.close()

    # The export limit scales with --rate-limit; 6000 lets the final check read 20k users.
    with running_sandbox(tmp_path, "--latency-ms", "40", "--rate-limit", "6000") as sandbox:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(plan_file), state_url, sandbox.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"BRAZE_API_KEY": sandbox.key, "PATH": ""},
        )
        assert proc.stdout is not None and proc.stderr is not None
        acked = 0
        for line in proc.stdout:
            if line.startswith("acked"):
                acked = int(line.split()[1])
            if acked >= KILL_AFTER_BATCHES:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        assert acked >= KILL_AFTER_BATCHES, stderr
        assert proc.returncode == -signal.SIGKILL
        before = sandbox.stats()["objects"]
        sandbox.admin("POST", "/_sandbox/config", {"latency_ms": 0})  # the rest runs fast

        with open_state(state_url) as killed:
            left = remaining_deltas(deltas, killed)
            recorded = USERS - len(left)
            # The sandbox took what was acked plus at most the batches in flight at the kill.
            assert recorded >= KILL_AFTER_BATCHES * OBJECTS_PER_REQUEST
            assert 0 <= before - recorded <= DEFAULT_CONCURRENCY * OBJECTS_PER_REQUEST
            assert 0 < len(left) < USERS
            second = make_plan(tmp_path, left, state=killed, plan_id="plan-2")

        # The dead holder's lock is taken over; the second apply sends only what was not acked.
        result = run_apply(
            second,
            state_url=state_url,
            endpoint=sandbox.url,
            api_key=sandbox.key,
            progress=NullProgress(),
        )
        assert result.status == "applied"
        assert result.objects_sent == len(left)

        total = sandbox.stats()["objects"]
        resent = total - USERS
        assert 0 <= resent <= DEFAULT_CONCURRENCY * OBJECTS_PER_REQUEST
        held = exported(sandbox, [d.user_id for d in deltas])

    assert held == {d.user_id: dict(d.attributes) for d in deltas}
    with open_state(state_url) as final:
        assert remaining_deltas(deltas, final) == []
        statuses = [a.status for a in final.applies()]
        assert statuses == ["applied", "interrupted"]  # the killed one, closed by the takeover
