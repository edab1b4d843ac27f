"""AudienceMapping: a partner audience written as one boolean attribute per member."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.manifests.kinds.common import IdString, RemoteOptions, SourcePath, Strict


class Members(RemoteOptions):
    path: SourcePath
    identifier_column: str | None = Field(
        default=None, description="defaults to the integration's identifier"
    )
    format: str | None = Field(default=None, pattern="^(csv|jsonl|parquet)$")


class AudienceMappingSpec(Strict):
    integration: str
    audience_id: IdString | None = None
    split_id: IdString | None = None
    attribute: str | None = Field(
        default=None, description="required unless ActionIQ (AIQ_<audience_id>_<split_id>)"
    )
    members: Members
    on_exit: Literal["set_false", "unset"] = "set_false"
    on_invalid: Literal["fail", "skip"] = Field(
        default="fail",
        description="a member row without a usable identifier: fail the plan, or skip the row "
        "and warn (an export that holds members Braze knows only by another identifier)",
    )
    update_existing_only: bool = Field(
        default=False,
        description="send with Braze's _update_existing_only: update only the users Braze "
        "already has and create none, as Amperity's own connector does (default false: "
        "Braze creates a user it does not have)",
    )
