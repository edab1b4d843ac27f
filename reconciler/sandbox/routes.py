"""The Braze REST paths the sandbox serves, each with its permission (reference §8)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.sandbox import content_blocks, email_templates, export, schema, track
from reconciler.sandbox.context import Ctx
from reconciler.sandbox.wire import Reply


@dataclass(frozen=True)
class Route:
    method: str
    permission: str
    handler: Callable[[Ctx], Reply]

    @property
    def takes_json(self) -> bool:
        return self.method == "POST"


ROUTES: dict[str, Route] = {
    "/users/track": Route("POST", "users.track", track.handle),
    "/users/export/ids": Route("POST", "users.export.ids", export.handle),
    "/custom_attributes": Route("GET", "custom_attributes.get", schema.custom_attributes),
    "/events": Route("GET", "events.get", schema.events),
    "/events/list": Route("GET", "events.list", schema.events_list),
    "/content_blocks/create": Route("POST", "content_blocks.create", content_blocks.create),
    "/content_blocks/update": Route("POST", "content_blocks.update", content_blocks.update),
    "/content_blocks/list": Route("GET", "content_blocks.list", content_blocks.list_blocks),
    "/content_blocks/info": Route("GET", "content_blocks.info", content_blocks.info),
    "/templates/email/create": Route("POST", "templates.email.create", email_templates.create),
    "/templates/email/update": Route("POST", "templates.email.update", email_templates.update),
    "/templates/email/list": Route("GET", "templates.email.list", email_templates.list_templates),
    "/templates/email/info": Route("GET", "templates.email.info", email_templates.info),
}
# No `/templates/webhook*` here on purpose: Braze has no webhook-template API (§5.1), so those
# paths are 404 like any unknown path. There are no DELETE routes either.


def trailing_slash_of(path: str) -> Route | None:
    """`/users/track/` and friends: Braze lists them among 403 causes (§0)."""
    return ROUTES.get(path.rstrip("/")) if path.endswith("/") and len(path) > 1 else None
