"""EventStream: a file of partner events forwarded to Braze exactly once."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.manifests.kinds.common import SourceFile, Strict


class EventFields(Strict):
    id: str | None = Field(default=None, description="stable event id column; else a hash")
    name: str
    identifier: str
    braze_id: str | None = Field(
        default=None,
        description="a column of braze_ids: an event whose identifier cell is empty is sent "
        "by its braze_id (ActionIQ's events carry either); the integration matches on "
        "external_id",
    )
    time: str
    properties: str | None = None


class EventStreamSpec(Strict):
    integration: str
    source: SourceFile
    fields: EventFields
    retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="events older than this are refused, and sent ids older than this pruned",
    )
    on_invalid: Literal["fail", "skip"] = Field(
        default="fail", description="fail: a bad event stops the plan; skip: it is reported"
    )
