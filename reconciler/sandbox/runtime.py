"""The live state of one sandbox: keys, settings, workspaces, buckets, faults and clocks."""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.sandbox.auth import KeyRing, default_keyring
from reconciler.sandbox.config import SandboxConfig
from reconciler.sandbox.consistency import Visibility
from reconciler.sandbox.faults import Fault, Faults
from reconciler.sandbox.ratelimit import RateLimiter
from reconciler.sandbox.workspaces import Workspaces


class Runtime:
    """Everything `POST /_sandbox/reset` puts back as it was at start (the data is wiped)."""

    def __init__(
        self,
        config: SandboxConfig,
        keyring: KeyRing,
        workspaces: Workspaces,
        schedule: dict[int, Fault],
        clock: Callable[[], float],
    ) -> None:
        self.keyring = keyring
        self.workspaces = workspaces
        self.clock = clock
        self._initial = (config, dict(schedule))
        self.visibility = Visibility(config.consistency_delay_ms)
        self.config = config
        self.limiter = RateLimiter(config.rate_limit)
        self.faults = Faults(config.fail_rate, config.seed, schedule)

    def configure(self, config: SandboxConfig) -> None:
        """Apply new settings live; buckets restart only when the limit changes."""
        old, self.config = self.config, config
        if config.rate_limit != old.rate_limit:
            self.limiter = RateLimiter(config.rate_limit)
        if (config.fail_rate, config.seed) != (old.fail_rate, old.seed):
            self.faults = Faults(config.fail_rate, config.seed, self.faults.schedule)
        self.visibility.set_delay(config.consistency_delay_ms)

    def reset(self) -> None:
        config, schedule = self._initial
        self.workspaces.reset()
        self.config = config
        self.limiter = RateLimiter(config.rate_limit)
        self.faults = Faults(config.fail_rate, config.seed, schedule)
        self.visibility = Visibility(config.consistency_delay_ms)


def build_runtime(
    config: SandboxConfig | None = None,
    keyring: KeyRing | None = None,
    workspaces: Workspaces | None = None,
    schedule: dict[int, Fault] | None = None,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    config = config or SandboxConfig()
    config.validate()
    return Runtime(
        config,
        keyring or default_keyring(),
        workspaces or Workspaces(),
        schedule or {},
        clock,
    )
