"""The seam the executor owns: what a Braze writer must do, and what a /users/track answer is.

`reconciler.braze` implements `BrazeWriter` over httpx; tests may pass any object with the
same shape. Nothing here does I/O, so the executor stays free of HTTP libraries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# A reset value below this is "seconds from now" (the MAU-contract variant), above it an epoch.
_EPOCH_FLOOR = 100_000_000


@dataclass(frozen=True)
class RateLimit:
    """The rate-limit headers of one response; `reset_at` is always UTC epoch seconds."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    retry_after: float | None = None  # x-ratelimit-retry-after, seconds (MAU 429s)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], now: float) -> RateLimit:
        """Read the lower-cased Braze headers; malformed values are ignored, not fatal."""
        reset = _number(headers.get("x-ratelimit-reset"))
        if reset is not None and reset < _EPOCH_FLOOR:
            reset = now + reset
        limit = _number(headers.get("x-ratelimit-limit"))
        remaining = _number(headers.get("x-ratelimit-remaining"))
        return cls(
            limit=None if limit is None else int(limit),
            remaining=None if remaining is None else int(remaining),
            reset_at=reset,
            retry_after=_number(headers.get("x-ratelimit-retry-after")),
        )

    def resume_at(self, now: float) -> float | None:
        """When a 429 may be retried: retry-after wins over reset; None when neither is known."""
        if self.retry_after is not None:
            return now + self.retry_after
        return self.reset_at


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


@dataclass(frozen=True)
class ObjectError:
    """One object Braze skipped inside a 201: `index` is its position in `input_array`."""

    type: str
    input_array: str
    index: int


@dataclass(frozen=True)
class TrackResult:
    """An accepted /users/track request (2xx): which objects were skipped, and the rate headers."""

    status: int
    body: Mapping[str, Any]
    errors: tuple[ObjectError, ...] = ()
    rate: RateLimit = field(default_factory=RateLimit)

    def rejected(self, input_array: str = "attributes") -> dict[int, str]:
        """Index → reason for every object of `input_array` named in `errors`."""
        return {e.index: e.type for e in self.errors if e.input_array == input_array}


class BrazeWriter(Protocol):
    """Sends one /users/track body. Raises BrazeRateLimitError on 429, BrazeUnavailableError
    on 5xx, timeouts and dropped connections (both retryable), BrazeError otherwise."""

    async def track(self, payload: Mapping[str, Any]) -> TrackResult: ...
