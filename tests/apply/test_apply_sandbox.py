"""The executor end to end: run_apply → httpx client → sandbox over loopback → SQLite ledger."""

from __future__ import annotations

import io
import math
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from apply.support import Sandbox, delta, make_plan, remaining_deltas, running_sandbox

from reconciler.apply import ApplyOptions, LineProgress, NullProgress, RetryPolicy
from reconciler.apply.run import run_apply
from reconciler.errors import (
    EXIT_INTERRUPTED,
    ApplyInterruptedError,
    BrazeAuthError,
    GuardError,
    LockHeldError,
    PartialApplyError,
    StalePlanError,
)
from reconciler.plan.model import GuardResult, UserDelta
from reconciler.state import StateStore, canonical_value, open_state

FAST = ApplyOptions(retry=RetryPolicy(base_delay=0.01, max_delay=0.2, reset_margin=0.05))


def users(n: int, prefix: str = "user-") -> list[UserDelta]:
    return [
        delta(f"{prefix}{i:06d}", tier=["gold", "silver"][i % 2], score=i, vip=i % 3 == 0)
        for i in range(n)
    ]


def ledger(state: StateStore) -> dict[tuple[str, str], str]:
    return {(r.user_id, r.attribute): r.value for b in state.iter_ledger() for r in b}


def expected_ledger(deltas: list[UserDelta]) -> dict[tuple[str, str], str]:
    return {(d.user_id, a): v for d in deltas for a, v in d.writes}


def apply(plan: Any, sandbox: Sandbox, state_url: str, **kw: Any) -> Any:
    kw.setdefault("options", FAST)
    kw.setdefault("progress", NullProgress())
    return run_apply(plan, state_url=state_url, endpoint=sandbox.url, api_key=sandbox.key, **kw)


def test_apply_sends_ceil_users_over_75_requests_and_records_every_write(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    deltas = users(1000)
    plan = make_plan(tmp_path, deltas, state=state)
    with running_sandbox(tmp_path) as sandbox:
        result = apply(plan, sandbox, state_url)
        stats = sandbox.stats()
        stored = sandbox.custom_attributes(["user-000000", "user-000999"])
    assert result.status == "applied" and result.exit_code == 0
    result.raise_for_status()
    assert result.requests == math.ceil(1000 / 75) == stats["requests"]["/users/track"]
    assert (result.objects_sent, result.acknowledged, result.rejected) == (1000, 1000, 0)
    assert result.data_points == 3000 == stats["data_points"]
    assert stats["objects"] == 1000
    assert ledger(state) == expected_ledger(deltas)
    assert stored["user-000999"] == {"tier": "silver", "score": 999, "vip": True}
    assert state.meta().serial == result.serial == plan.binding.serial + result.requests
    (run,) = state.applies()
    assert (run.plan_id, run.status) == ("plan-1", "applied")
    assert remaining_deltas(deltas, state) == []


def test_unsets_remove_ledger_rows(tmp_path: Path, state: StateStore, state_url: str) -> None:
    with running_sandbox(tmp_path) as sandbox:
        apply(make_plan(tmp_path, [delta("u-1", a=1, b=2)], state=state), sandbox, state_url)
        plan = make_plan(tmp_path, [delta("u-1", b=None)], state=state, plan_id="plan-2")
        apply(plan, sandbox, state_url)
        assert sandbox.custom_attributes(["u-1"]) == {"u-1": {"a": 1}}
    assert ledger(state) == {("u-1", "a"): "1"}


def test_rejected_objects_are_reported_masked_and_not_recorded(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    long_id = "customer-" + "9" * 990 + "a91f"  # over 987 bytes
    deltas = users(100)
    deltas[10] = delta(long_id, tier="gold")
    deltas[80] = delta("unknown", tier="gold")  # a blocklisted placeholder id
    plan = make_plan(tmp_path, deltas, state=state)
    out = io.StringIO()
    with running_sandbox(tmp_path) as sandbox:
        result = apply(plan, sandbox, state_url, progress=LineProgress(out))
    assert result.status == "partial" and result.exit_code == 1
    assert (result.acknowledged, result.rejected, result.requests) == (98, 2, 2)
    assert {(r.user, r.reason, r.batch_no) for r in result.rejections} == {
        ("cus…a91f", "EXTERNAL_USER_ID_TOO_LARGE", 0),
        ("u…n", "BLACKLISTED_EXTERNAL_USER_ID", 1),
    }
    with pytest.raises(PartialApplyError, match="rejected 2 of 100 users") as caught:
        result.raise_for_status()
    assert "EXTERNAL_USER_ID_TOO_LARGE (1)" in caught.value.message
    lines = result.summary_lines()
    assert lines[0].startswith("partial: 98 users applied in 2 requests (294 data points")
    assert lines[1:] == [
        "  2 users rejected by Braze, not recorded:",
        "    external_id cus…a91f: EXTERNAL_USER_ID_TOO_LARGE",
        "    external_id u…n: BLACKLISTED_EXTERNAL_USER_ID",
    ]
    assert long_id not in caught.value.render() + out.getvalue() + "\n".join(lines)
    recorded = ledger(state)
    assert not [k for k in recorded if k[0] in (long_id, "unknown")]
    assert recorded == expected_ledger([d for i, d in enumerate(deltas) if i not in (10, 80)])
    assert state.applies()[0].status == "partial"


def test_429_waits_for_the_reset_and_converges(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    deltas = users(75 * 8)
    plan = make_plan(tmp_path, deltas, state=state)
    # 3 requests per 3 s; 4 workers start together, so the first burst meets a 429.
    with running_sandbox(tmp_path, "--rate-limit", "3") as sandbox:
        result = apply(plan, sandbox, state_url)
        assert sandbox.stats()["objects"] == len(deltas)
    assert result.status == "applied"
    assert result.rate_limited >= 1 and result.requests == 8
    assert result.paced_waits >= 1  # after learning the window, the gate held requests back
    assert result.attempts == result.requests + result.rate_limited
    assert ledger(state) == expected_ledger(deltas)


def test_fail_rate_and_a_low_rate_limit_converge_with_nothing_lost(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    deltas = users(75 * 10)
    plan = make_plan(tmp_path, deltas, state=state)
    with running_sandbox(tmp_path, "--fail-rate", "0.2", "--rate-limit", "8") as sandbox:
        sandbox.admin("POST", "/_sandbox/config", {"seed": 7})  # requests 2, 3, 5, 6 … fail
        result = apply(plan, sandbox, state_url)
        stats = sandbox.stats()
    assert result.status == "applied", result.error
    assert result.retries >= 4 and result.rate_limited + result.paced_waits >= 1
    assert result.acknowledged == len(deltas) and stats["objects"] == len(deltas)
    assert ledger(state) == expected_ledger(deltas)
    assert remaining_deltas(deltas, state) == []


def test_the_key_appears_in_no_output_exception_or_state_file(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    key = "rk-1b2c3d4e-5f60-4a1b-8c9d-0e1f2a3b4c5d"
    out = io.StringIO()
    texts: list[str] = []
    plan = make_plan(tmp_path, users(200) + [delta("unknown", a=1)], state=state)
    with running_sandbox(tmp_path, "--fail-rate", "0.3", key=key) as sandbox:
        sandbox.admin("POST", "/_sandbox/config", {"seed": 7})  # some failures to report
        result = run_apply(
            plan,
            state_url=state_url,
            endpoint=sandbox.url,
            api_key=key,
            progress=LineProgress(out, every=0),
            options=FAST,
        )
        with pytest.raises(PartialApplyError) as partial:
            result.raise_for_status()
        texts += [partial.value.render(), repr(result)]
        with pytest.raises(BrazeAuthError) as auth:  # a key the sandbox does not know
            plan2 = make_plan(tmp_path, users(3), state=state, plan_id="p2")
            run_apply(
                plan2,
                state_url=state_url,
                endpoint=sandbox.url,
                api_key=key[::-1],
                progress=NullProgress(),
                options=FAST,
            ).raise_for_status()
        texts += [auth.value.render(), repr(auth.value), str(auth.value.__cause__)]
    texts.append(out.getvalue())
    assert "retry" in out.getvalue()  # the fail rate made it say something worth scanning
    assert not [t for t in texts if key in t or key[::-1] in t]
    state.close()
    for path in tmp_path.rglob("s.db*"):
        assert key.encode() not in path.read_bytes() and key[::-1].encode() not in path.read_bytes()


def test_a_second_concurrent_apply_is_refused_with_the_holder_named(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    plan = make_plan(tmp_path, users(75 * 6), state=state)
    started, results = threading.Event(), []

    class Signal(NullProgress):
        def advance(self, _objects: int, _rejected: int) -> None:
            started.set()

    with running_sandbox(tmp_path, "--latency-ms", "150") as sandbox:
        first = threading.Thread(
            target=lambda: results.append(
                apply(
                    plan, sandbox, state_url, options=ApplyOptions(concurrency=1), progress=Signal()
                )
            )
        )
        first.start()
        assert started.wait(10)
        with pytest.raises(LockHeldError) as caught:
            apply(plan, sandbox, state_url)
        first.join(20)
    assert f"pid {os.getpid()}" in caught.value.message
    assert "apply" in caught.value.message and "plan-1" in caught.value.message
    assert results[0].status == "applied"


def test_ctrl_c_finishes_in_flight_batches_records_them_and_exits_130(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    deltas = users(75 * 40)
    plan = make_plan(tmp_path, deltas, state=state)

    class CtrlC(NullProgress):
        def advance(self, objects: int, _rejected: int) -> None:
            if objects and not getattr(self, "sent", False):
                self.sent = True
                os.kill(os.getpid(), signal.SIGINT)

    with running_sandbox(tmp_path, "--latency-ms", "50") as sandbox:
        result = apply(plan, sandbox, state_url, progress=CtrlC())
        objects = sandbox.stats()["objects"]
    assert result.status == "interrupted" and result.exit_code == EXIT_INTERRUPTED
    with pytest.raises(ApplyInterruptedError) as caught:
        result.raise_for_status()
    assert caught.value.exit_code == EXIT_INTERRUPTED
    # Everything Braze acknowledged is recorded, and nothing more was sent after the in-flight.
    assert objects == result.objects_sent == result.acknowledged
    assert 75 <= result.acknowledged <= 75 * (1 + 2 * FAST.concurrency)
    assert len(remaining_deltas(deltas, state)) == len(deltas) - result.acknowledged
    assert state.applies()[0].status == "interrupted"
    assert state.current_lock() is None


def test_a_tripped_guard_refuses_unless_allow_large(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    guard = GuardResult("max_data_points", False, 3000, 2000, "3,000 data points")
    plan = make_plan(tmp_path, users(10), state=state, guards=(guard,))
    with running_sandbox(tmp_path) as sandbox:
        with pytest.raises(GuardError, match="max_data_points is 3,000 \\(limit 2,000\\)"):
            apply(plan, sandbox, state_url)
        assert sandbox.stats()["objects"] == 0
        result = apply(plan, sandbox, state_url, allow_large=True)
    assert result.status == "applied" and result.tripped_guards == (guard,)


def test_a_plan_made_against_an_older_serial_is_refused(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    old = make_plan(tmp_path, users(5), state=state, plan_id="old")
    with running_sandbox(tmp_path) as sandbox:
        apply(make_plan(tmp_path, users(5, "x"), state=state, plan_id="new"), sandbox, state_url)
        with pytest.raises(StalePlanError):
            apply(old, sandbox, state_url)
        assert sandbox.stats()["objects"] == 5


def test_an_unreachable_endpoint_fails_after_retries_and_keeps_the_ledger(
    tmp_path: Path, state: StateStore, state_url: str
) -> None:
    plan = make_plan(tmp_path, users(10), state=state)
    opts = ApplyOptions(retry=RetryPolicy(max_attempts=3, base_delay=0.01))
    result = run_apply(
        plan,
        state_url=state_url,
        endpoint="http://127.0.0.1:9",
        api_key="k",
        progress=NullProgress(),
        options=opts,
    )
    assert result.status == "failed" and result.attempts == 3
    assert "gave up after 3 attempts" in str(result.error)
    with open_state(state_url) as again:
        assert again.applies()[0].status == "failed" and again.ledger_count() == 0
    assert canonical_value(1) == "1"
