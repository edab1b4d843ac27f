"""Stay under Braze's rate limit and retry what may be retried, for every in-flight request.

- A shared RateGate reads `x-ratelimit-remaining` / `x-ratelimit-reset` from every answer and
  holds new requests back once the window's budget is spent, until the reset, so a lone client
  never provokes a 429. A 429 (another client shares the company-wide bucket) blocks every
  worker until the reset, or `x-ratelimit-retry-after` when Braze sends that instead.
- 5xx, 202 queued, timeouts and dropped connections are retried with capped exponential backoff
  and full jitter (sleep uniform(0, min(cap, base * 2**n))), up to `max_attempts` sends.

Clock, sleep and the jitter source are injected, so tests run without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.apply.protocol import BrazeWriter, RateLimit, TrackResult
from reconciler.errors import BrazeRateLimitError, BrazeUnavailableError

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

_SAME_WINDOW_SECONDS = 0.5  # resets closer than this are the same window (MAU resets drift)
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8  # sends per batch for retryable failures (5xx, timeouts, drops)
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_rate_limited: int = 30  # 429s per batch before giving up
    max_rate_wait: float = 15 * 60  # a reset further away than this is reported, not slept
    reset_margin: float = 0.1  # sleep this much past a reset (clock skew with Braze)
    reserve: int = 0  # requests left unused in every window (for other clients of the key)

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Full jitter: uniform over [0, min(cap, base * 2**(failures-1))]."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (failures - 1)))


@dataclass
class SendStats:
    attempts: int = 0  # HTTP requests made, retries and 429s included
    retries: int = 0  # retryable failures that were retried
    rate_limited: int = 0  # 429 answers
    paced_waits: int = 0  # times the gate held requests back to stay under the limit
    waited_seconds: float = 0.0


class RateGate:
    """The budget of the current rate-limit window, shared by every worker of one apply."""

    def __init__(
        self, policy: RetryPolicy, clock: Clock, sleep: Sleep, stats: SendStats | None = None
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._sleep = sleep
        self.stats = stats or SendStats()
        self.limit: int | None = None
        self.remaining: int | None = None  # our estimate, in-flight requests subtracted
        self.reset_at: float | None = None
        self.blocked_until = 0.0
        self.in_flight = 0

    async def turn(self) -> None:
        """Wait until one more request fits in the window, then count it as in flight."""
        while True:
            now = self._clock()
            if self.blocked_until > now:
                await self._wait(self.blocked_until - now)
                continue
            if self.reset_at is not None and now >= self.reset_at + self.policy.reset_margin:
                # A new window: the full limit again, its reset learned from the next answer.
                self.remaining, self.reset_at = self.limit, None
            if self.remaining is not None and self.remaining <= self.policy.reserve:
                if self.reset_at is not None:
                    await self._wait(self.reset_at + self.policy.reset_margin - now)
                    continue
                if self.in_flight:  # the window is unknown: let an answer tell us
                    await self._sleep(_POLL_SECONDS)
                    continue
            if self.remaining is not None:
                self.remaining -= 1
            self.in_flight += 1
            return

    def done(self, rate: RateLimit | None = None) -> None:
        """A request finished; `rate` is what its answer said about the window."""
        self.in_flight -= 1
        if rate is None or rate.remaining is None or rate.reset_at is None:
            return
        if rate.limit is not None:
            self.limit = rate.limit
        others = max(0, self.in_flight)  # sent after the server counted this one, maybe
        estimate = max(0, rate.remaining - others)
        if self.reset_at is None or rate.reset_at > self.reset_at + _SAME_WINDOW_SECONDS:
            self.remaining, self.reset_at = estimate, rate.reset_at  # a newer window
        elif rate.reset_at >= self.reset_at - _SAME_WINDOW_SECONDS:
            self.remaining = min(
                self.remaining if self.remaining is not None else estimate, estimate
            )
        # else: an answer from a window already gone; ignore it

    def block(self, until: float | None, fallback: float) -> float:
        """A 429: hold every worker until `until` (or `fallback` seconds); returns the wait."""
        now = self._clock()
        resume = (until if until is not None else now + fallback) + self.policy.reset_margin
        self.blocked_until = max(self.blocked_until, resume)
        self.remaining = 0
        return self.blocked_until - now

    async def _wait(self, seconds: float) -> None:
        if seconds > self.policy.max_rate_wait:
            raise BrazeRateLimitError(
                f"the rate-limit window resets in {seconds:.0f} s, more than the"
                f" {self.policy.max_rate_wait:.0f} s apply is willing to wait",
                hint="apply again after the reset; nothing acknowledged is resent",
                retry_at=self._clock() + seconds,
            )
        self.stats.paced_waits += 1
        self.stats.waited_seconds += max(0.0, seconds)
        await self._sleep(max(0.0, seconds))

    async def sleep(self, seconds: float) -> None:
        """Backoff sleeps go through the gate's injected sleep too."""
        await self._sleep(seconds)


async def send_with_retries(
    writer: BrazeWriter,
    payload: Mapping[str, Any],
    gate: RateGate,
    rng: random.Random,
    on_retry: Callable[[str], None] = lambda _: None,
    abandon: Callable[[], bool] = lambda: False,
    settle: Callable[[BrazeUnavailableError], Awaitable[TrackResult | None]] | None = None,
) -> TrackResult | None:
    """Send one batch until Braze acknowledges it; raise once the retry budget is spent.

    Returns None, having sent nothing, when `abandon()` turns true while the batch still waits
    for its first send (Ctrl-C: a batch that never left is not in flight).

    `settle` is asked before a retryable failure is retried, for batches that must not land
    twice (events): it returns the acknowledgement when the batch is known to have landed,
    None when it is known not to have (retry), or raises when that cannot be told yet.
    """
    policy, stats = gate.policy, gate.stats
    failures = limited = 0
    while True:
        await gate.turn()
        if failures == limited == 0 and abandon():
            gate.done()
            return None
        stats.attempts += 1
        try:
            result = await writer.track(payload)
        except BrazeRateLimitError as e:
            gate.done()
            limited += 1
            stats.rate_limited += 1
            if limited >= policy.max_rate_limited:
                raise BrazeRateLimitError(
                    f"{e.message} (still limited after {limited} waits)", retry_at=e.retry_at
                ) from e
            wait = gate.block(e.retry_at, policy.backoff(limited, rng))
            on_retry(f"rate limited (429): waiting {wait:.1f} s for the window to reset")
            continue
        except BrazeUnavailableError as e:
            gate.done()
            if settle is not None and (confirmed := await settle(e)) is not None:
                return confirmed
            failures += 1
            if failures >= policy.max_attempts:
                raise BrazeUnavailableError(
                    f"{e.message} (gave up after {failures} attempts)", status=e.status
                ) from e
            stats.retries += 1
            delay = policy.backoff(failures, rng)
            on_retry(f"{e.message}; retry {failures} in {delay:.2f} s")
            await gate.sleep(delay)
            continue
        except BaseException:
            gate.done()
            raise
        gate.done(result.rate)
        return result
