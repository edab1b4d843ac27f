"""What an endpoint handler receives: the caller's workspace, the request and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.config import SandboxConfig
from reconciler.sandbox.consistency import Visibility
from reconciler.sandbox.store import Workspace
from reconciler.sandbox.wire import Reply


@dataclass
class Ctx:
    ws: Workspace
    body: Any
    query: dict[str, str]
    now: float
    config: SandboxConfig
    visibility: Visibility
    path: str


def fail(status: int, message: str) -> Reply:
    """Braze's fatal envelope: `{"message": <error text>}`."""
    return Reply(status, {"message": message})
