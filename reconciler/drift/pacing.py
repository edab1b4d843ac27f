"""Pace /users/export/ids to the workspace's per-minute limit, and retry what may be retried.

Two rules at once: never more than `per_minute` calls in any 60 seconds (the Workspace's
`rate_limits.users_export_per_minute`, 250 by default for workspaces onboarded since 2024-08),
and the apply RateGate's reading of `x-ratelimit-*` headers, since other clients of the company
share the bucket. A 429 waits for the reset; a 5xx or dropped connection backs off and retries.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable, Callable

from reconciler.apply.pacing import Clock, RateGate, RetryPolicy, Sleep
from reconciler.drift.protocol import ExportAnswer
from reconciler.errors import BrazeRateLimitError, BrazeUnavailableError

WINDOW_SECONDS = 60.0


class ExportPacer:
    """Sends export calls one after another, inside the per-minute budget."""

    def __init__(
        self,
        per_minute: int,
        clock: Clock,
        sleep: Sleep,
        policy: RetryPolicy | None = None,
        seed: int | None = None,
    ) -> None:
        self.per_minute = max(1, per_minute)
        self._clock = clock
        self._sleep = sleep
        self.policy = policy or RetryPolicy(max_attempts=5, max_rate_wait=5 * 60)
        self.gate = RateGate(self.policy, clock, sleep)
        self._sent: deque[float] = deque()
        self._rng = random.Random(seed)
        self.requests = 0
        self.waited_seconds = 0.0

    async def call(self, send: Callable[[], Awaitable[ExportAnswer]]) -> ExportAnswer:
        """One export call, paced and retried; raises once the retry budget is spent."""
        failures = limited = 0
        while True:
            await self._window_turn()
            await self.gate.turn()
            self.requests += 1
            try:
                answer = await send()
            except BrazeRateLimitError as e:
                self.gate.done()
                limited += 1
                if limited >= self.policy.max_rate_limited:
                    raise
                self.gate.block(e.retry_at, self.policy.backoff(limited, self._rng))
                continue
            except BrazeUnavailableError:
                self.gate.done()
                failures += 1
                if failures >= self.policy.max_attempts:
                    raise
                await self._pause(self.policy.backoff(failures, self._rng))
                continue
            except BaseException:
                self.gate.done()
                raise
            self.gate.done(answer.rate)
            return answer

    async def _window_turn(self) -> None:
        """Wait until fewer than `per_minute` calls were sent in the last 60 seconds."""
        while True:
            now = self._clock()
            while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
                self._sent.popleft()
            if len(self._sent) < self.per_minute:
                self._sent.append(now)
                return
            await self._pause(self._sent[0] + WINDOW_SECONDS - now)

    async def _pause(self, seconds: float) -> None:
        self.waited_seconds += max(0.0, seconds)
        await self._sleep(max(0.0, seconds))
