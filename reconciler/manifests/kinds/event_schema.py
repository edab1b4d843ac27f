"""EventSchema: custom events an integration sends, with typed properties."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.manifests.kinds.common import Strict

PropertyType = Literal[
    "string", "integer", "float", "number", "boolean", "datetime", "array", "object"
]


class EventProperty(Strict):
    type: PropertyType
    enum: list[str | int | float] | None = None
    required: bool = False
    description: str | None = None


class EventDef(Strict):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    properties: dict[str, EventProperty] = Field(default_factory=dict)


class EventSchemaSpec(Strict):
    integration: str
    events: list[EventDef] = Field(min_length=1)
