"""Fault injection: a seeded random failure rate and a deterministic per-request schedule."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

FAULT_STATUSES = (500, 502, 503, 429, 202, "drop")
RANDOM_FAULTS: tuple[int | str, ...] = (500, 502, 503, "drop")


@dataclass(frozen=True)
class Fault:
    """What happens to one request: a status (or "drop"), before or after it is applied."""

    status: int | str
    when: str = "before"  # "after": the write is applied, then the response is lost


def default_when(status: Any) -> str:
    """When a fault strikes if the caller does not say: `202 queued` means Braze accepted the
    request for later processing (reference §0), so it is applied ("after"); the others fail
    before anything is written."""
    return "after" if status == 202 else "before"


def parse_schedule(items: Any, status: Any = 503, when: Any = None) -> dict[int, Fault]:
    """`[3, 7]` or `[{"n": 3, "status": "drop", "when": "after"}]` → request number → Fault.

    Also takes the CLI spelling `"3,7:drop,9:502@after"`. A missing (or null) `when` is
    `default_when(status)`; an explicit one is kept. Raises ValueError when malformed.
    """
    if isinstance(items, str):
        items = [_parse_cli_item(part) for part in items.split(",") if part.strip()]
    if not isinstance(items, list):
        raise ValueError("fail_requests must be a list")
    schedule: dict[int, Fault] = {}
    for item in items:
        spec = item if isinstance(item, dict) else {"n": item}
        n = spec.get("n")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError("request numbers are integers from 1")
        schedule[n] = _fault(spec.get("status", status), spec.get("when", when))
    return schedule


def _parse_cli_item(part: str) -> dict[str, Any]:
    number, _, rest = part.strip().partition(":")
    status, _, when = rest.partition("@")
    spec: dict[str, Any] = {"n": int(number)}
    if status:
        spec["status"] = status if status == "drop" else int(status)
    if when:
        spec["when"] = when
    return spec


def _fault(status: Any, when: Any) -> Fault:
    if status not in FAULT_STATUSES:
        raise ValueError(f"status must be one of {list(FAULT_STATUSES)}")
    if when is None:
        when = default_when(status)
    if when not in ("before", "after"):
        raise ValueError('when must be "before" or "after"')
    return Fault(status, when)


class Faults:
    """Counts API requests (not /_sandbox ones) and says which one fails, and how."""

    def __init__(self, fail_rate: float, seed: int | None, schedule: dict[int, Fault]) -> None:
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.schedule = dict(schedule)
        self.count = 0

    def set_schedule(self, schedule: dict[int, Fault]) -> None:
        """A new schedule counts requests from now on."""
        self.schedule = dict(schedule)
        self.count = 0

    def next(self) -> Fault | None:
        self.count += 1
        fault = self.schedule.get(self.count)
        if fault is not None:
            return fault
        if self.fail_rate and self.rng.random() < self.fail_rate:
            return Fault(self.rng.choice(RANDOM_FAULTS))
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "fail_rate": self.fail_rate,
            "requests_seen": self.count,
            "fail_requests": [
                {"n": n, "status": f.status, "when": f.when}
                for n, f in sorted(self.schedule.items())
            ],
        }
