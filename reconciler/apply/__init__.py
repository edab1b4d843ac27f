"""The executor: batches, paces, retries, journals and runs guards. Never imports httpx.

The names below load on first use, so that importing one submodule (the planner imports
`apply.protocol`) does not import the whole executor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.lazy import exports

if TYPE_CHECKING:
    from reconciler.apply.executor import DEFAULT_CONCURRENCY, ApplyOptions, apply_plan
    from reconciler.apply.pacing import RetryPolicy
    from reconciler.apply.progress import BarProgress, LineProgress, NullProgress, progress_for
    from reconciler.apply.protocol import BrazeWriter, ObjectError, RateLimit, TrackResult
    from reconciler.apply.result import ApplyResult, Rejection

_WHERE = {
    "DEFAULT_CONCURRENCY": "executor",
    "ApplyOptions": "executor",
    "apply_plan": "executor",
    "RetryPolicy": "pacing",
    "BarProgress": "progress",
    "LineProgress": "progress",
    "NullProgress": "progress",
    "progress_for": "progress",
    "BrazeWriter": "protocol",
    "ObjectError": "protocol",
    "RateLimit": "protocol",
    "TrackResult": "protocol",
    "ApplyResult": "result",
    "Rejection": "result",
}

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ApplyOptions",
    "ApplyResult",
    "BarProgress",
    "BrazeWriter",
    "LineProgress",
    "NullProgress",
    "ObjectError",
    "RateLimit",
    "Rejection",
    "RetryPolicy",
    "TrackResult",
    "apply_plan",
    "progress_for",
]


__getattr__ = exports(__name__, _WHERE)
