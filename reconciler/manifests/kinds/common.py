"""Shared pieces of every kind: the envelope, metadata and the strict model base."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

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
SourcePath = Annotated[
    str,
    Field(
        min_length=1,
        description="A path relative to the manifests dir, or s3://bucket/key, gs://…, https://…; "
        "may glob over a prefix (s3://exports/amp/*.parquet) and hold {date} with pick: latest",
    ),
]


class RemoteOptions(Strict):
    """Where a remote source is read from; credentials never go here (see docs/sources.md)."""

    endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="an S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)",
    )
    region: str | None = Field(
        default=None, description="the bucket's region (default: AWS_REGION)"
    )
    pick: Literal["latest"] | None = Field(
        default=None, description="latest: the newest {date} partition (YYYY-MM-DD or YYYYMMDD)"
    )

    @model_validator(mode="after")
    def _pick_needs_date(self) -> Self:
        path = str(getattr(self, "path", ""))
        if self.pick is not None and "{date}" not in path:
            raise ValueError("pick: latest needs a {date} placeholder in path")
        if "{date}" in path and self.pick is None:
            raise ValueError("a {date} placeholder needs pick: latest")
        remote = path.startswith(("s3://", "gs://", "gcs://", "http://", "https://"))
        if not remote and (self.endpoint or self.region or self.pick):
            raise ValueError(
                "endpoint, region and pick apply to remote sources (s3://, gs://, https://)"
            )
        return self


class Metadata(Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=128)
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class SourceFile(RemoteOptions):
    path: SourcePath
    format: str | None = Field(
        default=None,
        pattern="^(csv|jsonl|parquet)$",
        description="csv | jsonl | parquet; inferred from the file extension when omitted",
    )
