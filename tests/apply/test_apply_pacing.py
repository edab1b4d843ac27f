"""The rate gate and retries, on a fake clock: no real waiting."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any

import pytest

from reconciler.apply.pacing import RateGate, RetryPolicy, send_with_retries
from reconciler.apply.protocol import RateLimit, TrackResult
from reconciler.errors import BrazeError, BrazeRateLimitError, BrazeUnavailableError

T0 = 1_800_000_000.0


class FakeTime:
    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


class Scripted:
    """A writer that answers from a script: TrackResults, or exceptions to raise."""

    def __init__(self, *script: TrackResult | Exception) -> None:
        self.script = list(script)
        self.calls = 0

    async def track(self, _payload: Mapping[str, Any]) -> TrackResult:
        self.calls += 1
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def ok(remaining: int | None = None, reset: float | None = None) -> TrackResult:
    return TrackResult(201, {"message": "success"}, (), RateLimit(10, remaining, reset))


def gate(policy: RetryPolicy | None = None) -> tuple[RateGate, FakeTime]:
    t = FakeTime()
    return RateGate(policy or RetryPolicy(reset_margin=0.0), t.clock, t.sleep), t


def test_the_gate_waits_for_the_reset_once_the_window_is_spent() -> None:
    g, t = gate()

    async def go() -> None:
        await g.turn()
        g.done(RateLimit(3, 2, T0 + 3))  # two left in this window
        await g.turn()
        await g.turn()
        assert t.slept == []
        await g.turn()  # the third would exceed: wait for the reset, not a 429
        assert t.slept == [3.0] and g.remaining == 2  # a new window: the full limit again

    asyncio.run(go())
    assert g.stats.paced_waits == 1


def test_in_flight_requests_count_against_the_remaining_budget() -> None:
    g, _ = gate()

    async def go() -> None:
        for _ in range(4):
            await g.turn()
        g.done(RateLimit(10, 5, T0 + 3))  # three others may not be counted yet by the server
        assert g.remaining == 2
        g.done(RateLimit(10, 9, T0 + 3))  # an older, higher count never raises the estimate
        assert g.remaining == 2
        g.done(RateLimit(10, 9, T0 - 3))  # a previous window is ignored
        assert g.remaining == 2

    asyncio.run(go())


def test_a_429_blocks_every_worker_until_the_reset() -> None:
    g, t = gate(RetryPolicy(reset_margin=0.1))
    writer = Scripted(BrazeRateLimitError("429", retry_at=T0 + 2.5), ok())
    result = asyncio.run(send_with_retries(writer, {}, g, random.Random(0)))
    assert result.status == 201 and writer.calls == 2
    assert t.slept == [2.6] and g.stats.rate_limited == 1 and g.stats.retries == 0


def test_a_429_without_headers_backs_off() -> None:
    g, t = gate(RetryPolicy(base_delay=1.0, reset_margin=0.0))
    writer = Scripted(BrazeRateLimitError("429"), ok())
    asyncio.run(send_with_retries(writer, {}, g, random.Random(0)))
    assert len(t.slept) == 1 and 0 <= t.slept[0] <= 1.0


def test_retryable_failures_back_off_with_capped_full_jitter_then_give_up() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay=1.0, max_delay=4.0)
    g, t = gate(policy)
    failures = [BrazeUnavailableError(f"503 #{i}", status=503) for i in range(6)]
    with pytest.raises(BrazeUnavailableError, match="gave up after 6 attempts") as caught:
        asyncio.run(send_with_retries(Scripted(*failures), {}, g, random.Random(1)))
    assert caught.value.status == 503 and caught.value.__cause__ is failures[-1]
    caps = [1, 2, 4, 4, 4]
    assert len(t.slept) == 5 and all(0 <= s <= c for s, c in zip(t.slept, caps, strict=True))
    assert g.stats.retries == 5 and g.stats.attempts == 6 and g.in_flight == 0


def test_jitter_spreads_over_the_whole_interval() -> None:
    policy, rng = RetryPolicy(base_delay=1.0, max_delay=8.0), random.Random(3)
    delays = [policy.backoff(4, rng) for _ in range(2000)]
    assert min(delays) < 0.1 and max(delays) > 7.9 and max(delays) <= 8.0


def test_a_non_retryable_error_is_raised_at_once() -> None:
    g, t = gate()
    with pytest.raises(BrazeError, match="400"):
        asyncio.run(
            send_with_retries(Scripted(BrazeError("400", status=400)), {}, g, random.Random())
        )
    assert t.slept == [] and g.in_flight == 0


def test_a_reset_too_far_away_is_reported_not_slept() -> None:
    g, t = gate(RetryPolicy(max_rate_wait=60))
    writer = Scripted(BrazeRateLimitError("429", retry_at=T0 + 3600), ok())
    with pytest.raises(BrazeRateLimitError, match="resets in 3600 s"):
        asyncio.run(send_with_retries(writer, {}, g, random.Random(0)))
    assert t.slept == []


def test_a_batch_still_waiting_for_its_first_send_is_abandoned_on_stop() -> None:
    g, _ = gate()
    writer = Scripted(ok())
    result = asyncio.run(send_with_retries(writer, {}, g, random.Random(0), abandon=lambda: True))
    assert result is None and writer.calls == 0 and g.in_flight == 0


def test_a_batch_already_sent_once_is_retried_to_the_end_despite_a_stop() -> None:
    g, _ = gate()
    writer = Scripted(BrazeUnavailableError("502", status=502), ok())
    stop_after_first_send = lambda: writer.calls > 0  # noqa: E731
    result = asyncio.run(
        send_with_retries(writer, {}, g, random.Random(0), abandon=stop_after_first_send)
    )
    assert result is not None and writer.calls == 2
