"""The executor: batches, paces, retries, journals and runs guards. Never imports httpx."""

from reconciler.apply.executor import DEFAULT_CONCURRENCY, ApplyOptions, apply_plan
from reconciler.apply.pacing import RetryPolicy
from reconciler.apply.progress import BarProgress, LineProgress, NullProgress, progress_for
from reconciler.apply.protocol import BrazeWriter, ObjectError, RateLimit, TrackResult
from reconciler.apply.result import ApplyResult, Rejection

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
