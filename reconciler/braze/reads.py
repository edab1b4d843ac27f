"""The Braze reads drift and import make: schema listings paged by `Link`, exports, blocks.

`/custom_attributes` and `/events` share 1,000 requests per hour with `/events/list` and
`/purchases/product_list` (reference §2, §11 gotcha 6), so each listing is fetched once per run
and cached, and every request on that bucket is counted for the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from reconciler.apply.protocol import RateLimit
from reconciler.braze.client import EXPORT_IDS_PATH, BrazeClient
from reconciler.drift.protocol import (
    AttributeDefinition,
    EventDefinition,
    ExportAnswer,
    SchemaBudget,
)
from reconciler.errors import BrazeError

CUSTOM_ATTRIBUTES_PATH = "/custom_attributes"
EVENTS_PATH = "/events"
CONTENT_BLOCK_INFO_PATH = "/content_blocks/info"
MAX_PAGES = 1000  # 50,000 definitions; a Link loop past this is a server bug, not a workspace


class BrazeReads:
    """WorkspaceReads over a BrazeClient, with the per-run cache of the schema listings."""

    def __init__(self, client: BrazeClient) -> None:
        self.client = client
        self._attributes: list[AttributeDefinition] | None = None
        self._events: list[EventDefinition] | None = None
        self._schema_requests = 0
        self._schema_rate = RateLimit()

    async def custom_attributes(self) -> Sequence[AttributeDefinition]:
        if self._attributes is None:
            rows = await self._all_pages(CUSTOM_ATTRIBUTES_PATH, "attributes")
            self._attributes = [_attribute(r) for r in rows if isinstance(r.get("name"), str)]
        return self._attributes

    async def events(self) -> Sequence[EventDefinition]:
        if self._events is None:
            rows = await self._all_pages(EVENTS_PATH, "events")
            self._events = [
                EventDefinition(r["name"], str(r.get("status") or "Active"))
                for r in rows
                if isinstance(r.get("name"), str)
            ]
        return self._events

    def schema_budget(self) -> SchemaBudget:
        rate = self._schema_rate
        return SchemaBudget(self._schema_requests, rate.limit, rate.remaining)

    async def export_users(
        self, external_ids: Sequence[str], fields: Sequence[str]
    ) -> ExportAnswer:
        payload = {"external_ids": list(external_ids), "fields_to_export": list(fields)}
        return await self._export(payload)

    async def export_braze_id(self, braze_id: str, fields: Sequence[str]) -> ExportAnswer:
        return await self._export({"braze_id": braze_id, "fields_to_export": list(fields)})

    async def content_block(self, block_id: str) -> Mapping[str, Any]:
        body, _ = await self.client.get_json(
            CONTENT_BLOCK_INFO_PATH, {"content_block_id": block_id}
        )
        return body if isinstance(body, dict) else {}

    async def _export(self, payload: Mapping[str, Any]) -> ExportAnswer:
        body, headers = await self.client.post_json(EXPORT_IDS_PATH, payload)
        body = body if isinstance(body, dict) else {}
        users = [u for u in body.get("users") or [] if isinstance(u, dict)]
        invalid = [str(i) for i in body.get("invalid_user_ids") or [] if isinstance(i, str)]
        return ExportAnswer(users, invalid, self.client.rate_limit(headers))

    async def _all_pages(self, path: str, key: str) -> list[dict[str, Any]]:
        """Every page of a cursor listing: follow `Link: <…>; rel="next"` until there is none."""
        rows: list[dict[str, Any]] = []
        target: tuple[str, dict[str, str]] | None = (path, {})
        pages = 0
        while target is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise BrazeError(f"GET {path}: more than {MAX_PAGES} pages; giving up")
            self._schema_requests += 1
            body, headers = await self.client.get_json(*target)
            self._schema_rate = self.client.rate_limit(headers)
            page = body.get(key) if isinstance(body, dict) else None
            rows.extend(r for r in page or [] if isinstance(r, dict))
            target = next_page(headers.get("link", ""))
        return rows


def next_page(link_header: str) -> tuple[str, dict[str, str]] | None:
    """The `rel="next"` target of a Link header as (path, query); None on the last page.

    Braze's Link URLs may be path-only (reference §4.1): only the path and query are kept, and
    the client resolves them against its own base URL.
    """
    for part in link_header.split(","):
        target, _, params = part.partition(";")
        rels = {
            p.strip().removeprefix("rel=").strip('"')
            for p in params.split(";")
            if p.strip().startswith("rel=")
        }
        if "next" in rels:
            url = urlsplit(target.strip().removeprefix("<").removesuffix(">"))
            return url.path or "/", dict(parse_qsl(url.query, keep_blank_values=True))
    return None


def _attribute(row: Mapping[str, Any]) -> AttributeDefinition:
    length = row.get("array_length")
    return AttributeDefinition(
        name=str(row["name"]),
        data_type=str(row.get("data_type") or ""),
        status=str(row.get("status") or "Active"),
        array_length=length if isinstance(length, int) and not isinstance(length, bool) else None,
        description=row.get("description") if isinstance(row.get("description"), str) else None,
    )
