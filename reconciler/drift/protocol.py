"""The seam drift owns: the Braze reads it needs, as plain data. reconciler.braze implements it.

Drift never imports httpx; tests pass the real client over a sandbox transport, or any object
of this shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.apply.protocol import RateLimit


@dataclass(frozen=True)
class AttributeDefinition:
    """One row of GET /custom_attributes (reference §4.1)."""

    name: str
    data_type: str  # as Braze spells it: "String (Automatically Detected)", "Number", …
    status: str = "Active"  # "Blocklisted" when Braze ignores writes
    array_length: int | None = None
    description: str | None = None

    @property
    def blocklisted(self) -> bool:
        return self.status.strip().lower() in {"blocklisted", "blacklisted"}


@dataclass(frozen=True)
class EventDefinition:
    """One row of GET /events (reference §4.2)."""

    name: str
    status: str = "Active"

    @property
    def blocklisted(self) -> bool:
        return self.status.strip().lower() in {"blocklisted", "blacklisted"}


@dataclass(frozen=True)
class ExportAnswer:
    """One POST /users/export/ids answer: the users found and the ids that matched nobody."""

    users: Sequence[Mapping[str, Any]]
    invalid_user_ids: Sequence[str] = ()
    rate: RateLimit = field(default_factory=RateLimit)


@dataclass(frozen=True)
class SchemaBudget:
    """Requests this run made on the 1,000/hour bucket /custom_attributes and /events share."""

    used: int
    limit: int | None = None  # from x-ratelimit-limit, when Braze said
    remaining: int | None = None  # from the last answer's x-ratelimit-remaining


class WorkspaceReads(Protocol):
    """The reads drift and `import` make. Listings are fetched once per run, every page."""

    async def custom_attributes(self) -> Sequence[AttributeDefinition]: ...

    async def events(self) -> Sequence[EventDefinition]: ...

    async def export_users(
        self, external_ids: Sequence[str], fields: Sequence[str]
    ) -> ExportAnswer:
        """One /users/export/ids call for at most 50 external ids."""
        ...

    async def export_braze_id(self, braze_id: str, fields: Sequence[str]) -> ExportAnswer:
        """One /users/export/ids call for a single braze_id (Braze takes one per call)."""
        ...

    async def content_block(self, block_id: str) -> Mapping[str, Any]:
        """GET /content_blocks/info for one block."""
        ...

    def schema_budget(self) -> SchemaBudget: ...
