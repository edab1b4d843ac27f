"""Integration: a partner connection, the identifier it matches on and the names it owns."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.manifests.kinds.common import Strict

Partner = Literal["actioniq", "amperity", "rokt_calendar", "sendbird", "custom"]
Identifier = Literal["external_id", "braze_id"]


class IntegrationSpec(Strict):
    partner: Partner
    identifier: Identifier = "external_id"
    owns: list[str] | None = Field(
        default=None,
        description="attribute name patterns (fnmatch) this integration alone may write; "
        "partner defaults: actioniq AIQ_*, rokt_calendar rokt:*, sendbird sendbird_id",
    )
