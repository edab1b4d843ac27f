"""Per-endpoint rate-limit buckets with Braze's windows and shared buckets (reference §2)."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.sandbox.config import BRAZE_TRACK_LIMIT

# bucket -> (Braze default, window seconds). Hourly buckets reset on the clock hour.
BRAZE_BUCKETS = {
    "users.track": (BRAZE_TRACK_LIMIT, 3),
    "users.export.ids": (250, 60),
    "schema": (1000, 3600),  # /custom_attributes, /events, /events/list, /purchases/product_list
    "default": (250_000, 3600),  # everything else, templates and content blocks included
}
PATH_BUCKETS = {
    "/users/track": "users.track",
    "/users/export/ids": "users.export.ids",
    "/custom_attributes": "schema",
    "/events": "schema",
    "/events/list": "schema",
    "/purchases/product_list": "schema",
}


@dataclass
class Bucket:
    """A fixed window aligned on multiples of its length in epoch time."""

    limit: int
    window: int
    start: int = 0
    used: int = 0

    def _roll(self, now: float) -> None:
        start = int(now // self.window) * self.window
        if start != self.start:
            self.start, self.used = start, 0

    def take(self, now: float) -> bool:
        self._roll(now)
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def headers(self, now: float, exhausted: bool = False) -> list[tuple[bytes, bytes]]:
        """The three lower-case headers; reset is the window's end in UTC epoch seconds.

        `exhausted` reports the bucket as empty whatever it holds: an injected 429 must look like
        a real one (remaining 0 until the reset), or a client reading the headers would retry at
        once.
        """
        self._roll(now)
        remaining = 0 if exhausted else max(0, self.limit - self.used)
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(self.start + self.window).encode()),
        ]


class RateLimiter:
    """All buckets of one sandbox (Braze enforces them per company, so they span workspaces)."""

    def __init__(self, track_limit: int) -> None:
        self.buckets = {
            name: Bucket(scaled(name, track_limit), window)
            for name, (_, window) in BRAZE_BUCKETS.items()
        }

    def bucket(self, path: str) -> Bucket:
        return self.buckets[PATH_BUCKETS.get(path, "default")]

    def limits(self) -> dict[str, dict[str, int]]:
        return {n: {"limit": b.limit, "window_seconds": b.window} for n, b in self.buckets.items()}


def scaled(name: str, track_limit: int) -> int:
    """`--rate-limit N` sets /users/track to N per 3 s and scales the rest alike (never 0)."""
    default, _ = BRAZE_BUCKETS[name]
    return max(1, round(default * track_limit / BRAZE_TRACK_LIMIT))
