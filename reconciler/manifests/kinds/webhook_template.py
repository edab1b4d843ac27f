"""WebhookTemplate: a Liquid webhook request, shipped to Braze as a Content Block."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from reconciler.manifests.kinds.common import CONTENT_BLOCK_PATTERN, RelPath, Strict


class Preview(Strict):
    connected_content: dict[str, Any] = Field(
        default_factory=dict,
        description="stub values for connected_content :save variables, never called",
    )


class WebhookTemplateSpec(Strict):
    integration: str
    content_block: str = Field(pattern=CONTENT_BLOCK_PATTERN, max_length=99)
    description: str | None = Field(default=None, max_length=249)
    method: Literal["POST", "PUT", "PATCH", "GET", "DELETE"] = "POST"
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    credentials: list[str] = Field(
        default_factory=list, description="Connected Content credential names, never values"
    )
    body: str = ""
    preview_user: RelPath | None = None
    preview: Preview = Field(default_factory=Preview)
