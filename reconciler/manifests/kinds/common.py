"""Shared pieces of every kind: the envelope, metadata and the strict model base."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

API_VERSION = "reconciler/v1"

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
CONTENT_BLOCK_PATTERN = r"^[A-Za-z0-9_-]+$"


class Strict(BaseModel):
    """Frozen, and unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _int_to_str(v: Any) -> Any:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


IdString = Annotated[str, BeforeValidator(_int_to_str), Field(min_length=1)]
"""A string identifier that YAML may have read as an integer (`audience_id: 48213`)."""

RelPath = Annotated[str, Field(min_length=1, description="A path relative to the manifests dir")]


class Metadata(Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=128)
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class SourceFile(Strict):
    path: RelPath
    format: str | None = Field(
        default=None,
        pattern="^(csv|jsonl|parquet)$",
        description="csv | jsonl | parquet; inferred from the file extension when omitted",
    )
