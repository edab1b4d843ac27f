"""Export pacing: the per-minute budget, 429 waits and 5xx retries, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.apply.protocol import RateLimit
from reconciler.drift.pacing import ExportPacer
from reconciler.drift.protocol import ExportAnswer
from reconciler.errors import BrazeRateLimitError, BrazeUnavailableError


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_no_more_than_per_minute_calls_in_any_60_seconds() -> None:
    t = FakeTime()
    pacer = ExportPacer(2, t.clock, t.sleep)
    sent: list[float] = []

    async def send() -> ExportAnswer:
        sent.append(t.now)
        t.now += 1.0  # each call takes a second
        return ExportAnswer([])

    async def five() -> None:
        for _ in range(5):
            await pacer.call(send)

    run(five())
    start = sent[0]
    assert [s - start for s in sent] == [0.0, 1.0, 60.0, 61.0, 120.0]
    assert pacer.requests == 5
    assert pacer.waited_seconds == pytest.approx(116.0)


def test_a_small_sample_is_not_slowed_down() -> None:
    t = FakeTime()
    pacer = ExportPacer(250, t.clock, t.sleep)

    async def ten() -> None:
        for _ in range(10):
            await pacer.call(lambda: _answer())

    run(ten())
    assert t.sleeps == [] and pacer.requests == 10


async def _answer(remaining: int | None = None, reset: float | None = None) -> ExportAnswer:
    return ExportAnswer([], rate=RateLimit(limit=250, remaining=remaining, reset_at=reset))


def test_a_429_waits_for_the_reset_then_retries() -> None:
    t = FakeTime()
    pacer = ExportPacer(250, t.clock, t.sleep)
    calls = 0

    async def send() -> ExportAnswer:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise BrazeRateLimitError("429", retry_at=t.now + 30)
        return ExportAnswer([{"external_id": "u"}])

    answer = run(pacer.call(send))
    assert isinstance(answer, ExportAnswer) and answer.users == [{"external_id": "u"}]
    assert calls == 2 and t.sleeps and sum(t.sleeps) == pytest.approx(30.1)


def test_5xx_is_retried_with_backoff_then_given_up() -> None:
    t = FakeTime()
    pacer = ExportPacer(250, t.clock, t.sleep, seed=1)

    async def broken() -> ExportAnswer:
        raise BrazeUnavailableError("503", status=503)

    with pytest.raises(BrazeUnavailableError):
        run(pacer.call(broken))
    assert pacer.requests == pacer.policy.max_attempts


def test_the_headers_budget_is_respected_when_others_share_the_bucket() -> None:
    t = FakeTime()
    pacer = ExportPacer(250, t.clock, t.sleep)
    reset = t.now + 20

    async def two() -> None:
        await pacer.call(lambda: _answer(remaining=0, reset=reset))  # the bucket is spent
        await pacer.call(lambda: _answer(remaining=249, reset=reset + 60))

    run(two())
    assert t.sleeps == [pytest.approx(20.1)]
