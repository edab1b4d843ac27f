"""Runtime settings of one sandbox: limits, faults, latency and consistency, all changeable live."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

BRAZE_TRACK_LIMIT = 3000  # /users/track burst: requests per 3-second window (api_limits)
DEFAULT_ARRAY_LENGTH = 500  # 2026 docs; older workspaces used 25
OBJECT_LIMIT = 75
MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass
class SandboxConfig:
    """Everything a test may tune; `POST /_sandbox/config` changes it, reset restores it."""

    rate_limit: int = BRAZE_TRACK_LIMIT
    fail_rate: float = 0.0
    latency_ms: int = 0
    consistency_delay_ms: int = 0
    seed: int | None = None
    legacy_object_limit: bool = False  # True: 75 per array instead of 75 combined
    array_length: int = DEFAULT_ARRAY_LENGTH
    require_fields_to_export: bool = True

    def updated(self, changes: dict[str, Any]) -> SandboxConfig:
        """A copy with `changes` applied; unknown keys or wrong types raise ValueError."""
        known = {f.name: f for f in fields(self)}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}; known: {sorted(known)}")
            clean[key] = _coerce(key, value, getattr(self, key))
        new = replace(self, **clean)
        new.validate()
        return new

    def validate(self) -> None:
        if self.rate_limit < 1:
            raise ValueError("rate_limit must be at least 1")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if self.latency_ms < 0 or self.consistency_delay_ms < 0:
            raise ValueError("latency_ms and consistency_delay_ms must be >= 0")
        if self.array_length < 0:
            raise ValueError("array_length must be >= 0")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(key: str, value: Any, current: Any) -> Any:
    if key == "seed":
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise ValueError("seed must be an integer or null")
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        raise ValueError(f"{key} must be a boolean")
    if isinstance(current, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{key} must be a number")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{key} must be an integer")
