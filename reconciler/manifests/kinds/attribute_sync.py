"""AttributeSync: columns of a partner export written as attributes, keyed by an identifier."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.manifests.kinds.common import SourceFile, Strict


class AttributeSyncSpec(Strict):
    integration: str
    source: SourceFile
    identifier_column: str = Field(min_length=1)
    columns: dict[str, str] = Field(min_length=1, description="source column -> attribute name")
    on_missing_row: Literal["keep", "unset"] = "keep"
    on_invalid: Literal["fail", "skip"] = "fail"
    update_existing_only: bool = Field(
        default=False,
        description="send with Braze's _update_existing_only: update only the users Braze "
        "already has and create none, as Amperity's own connector does (default false: "
        "Braze creates a user it does not have)",
    )
