"""The Braze REST client: one httpx.AsyncClient, statuses mapped to named errors, key redacted.

The transport is injectable (`httpx.MockTransport` in unit tests, the real network or the
sandbox otherwise). Every exception raised here is a BrazeError subclass whose text has been
scrubbed of the key; httpx's own exceptions are chained with `from e`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

import httpx
import orjson

from reconciler import __version__
from reconciler.apply.protocol import ObjectError, RateLimit, TrackResult
from reconciler.errors import (
    BrazeAuthError,
    BrazeError,
    BrazeRateLimitError,
    BrazeUnavailableError,
)

TRACK_PATH = "/users/track"
EXPORT_IDS_PATH = "/users/export/ids"
EXPORT_IDS_PER_REQUEST = 50  # reference §3
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

CONTENT_BLOCKS_CREATE_PATH = "/content_blocks/create"
CONTENT_BLOCKS_UPDATE_PATH = "/content_blocks/update"
CONTENT_BLOCKS_LIST_PATH = "/content_blocks/list"
CONTENT_BLOCKS_INFO_PATH = "/content_blocks/info"
CONTENT_BLOCKS_PER_PAGE = 1000  # reference §5.3: `limit` max

# What each endpoint needs (reference §8), named in 403 messages.
PERMISSIONS = {
    TRACK_PATH: "users.track",
    EXPORT_IDS_PATH: "users.export.ids",
    CONTENT_BLOCKS_CREATE_PATH: "content_blocks.create",
    CONTENT_BLOCKS_UPDATE_PATH: "content_blocks.update",
    CONTENT_BLOCKS_LIST_PATH: "content_blocks.list",
    CONTENT_BLOCKS_INFO_PATH: "content_blocks.info",
    "/custom_attributes": "custom_attributes.get",
    "/events": "events.get",
}


class BrazeClient:
    """An async client for the REST endpoints apply and drift use. Use it as a context manager."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_connections: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_key:
            raise BrazeAuthError("no Braze REST API key was given", hint="set BRAZE_API_KEY")
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._clock = clock
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "User-Agent": f"reconciler/{__version__}",
            },
        )

    def __repr__(self) -> str:
        return f"BrazeClient({self.base_url!r}, api_key=<redacted>)"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- endpoints -----------------------------------------------------------------------------

    async def track(self, payload: Mapping[str, Any]) -> TrackResult:
        """POST /users/track. 2xx except 202 → TrackResult; anything else raises (see module)."""
        response, body = await self._post(TRACK_PATH, payload)
        rate = RateLimit.from_headers(response.headers, self._clock())
        if response.status_code == 202:
            # "queued" during maintenance: nothing says the objects were processed, so this is
            # not an acknowledgement; resending costs data points but never loses a write.
            raise BrazeUnavailableError(
                f"{self._where(TRACK_PATH)} answered 202 queued: the batch was not confirmed",
                status=202,
            )
        return TrackResult(response.status_code, body, _object_errors(body), rate)

    async def export_ids(
        self, external_ids: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any]]:
        """POST /users/export/ids in chunks of 50; the users found (unknown ids are skipped)."""
        users: list[dict[str, Any]] = []
        for start in range(0, len(external_ids), EXPORT_IDS_PER_REQUEST):
            chunk = list(external_ids[start : start + EXPORT_IDS_PER_REQUEST])
            payload = {"external_ids": chunk, "fields_to_export": list(fields)}
            _, body = await self._post(EXPORT_IDS_PATH, payload)
            found = body.get("users", [])
            users.extend(u for u in found if isinstance(u, dict))
        return users

    # -- content blocks (reference §5.3; no delete endpoint exists) -----------------------------

    async def create_content_block(
        self, name: str, content: str, *, description: str | None = None, state: str = "active"
    ) -> str:
        """POST /content_blocks/create; the new block's content_block_id."""
        payload: dict[str, Any] = {"name": name, "content": content, "state": state}
        if description:
            payload["description"] = description
        _, body = await self._post(CONTENT_BLOCKS_CREATE_PATH, payload)
        return _block_id(body, self._where(CONTENT_BLOCKS_CREATE_PATH))

    async def update_content_block(self, block_id: str, **fields: Any) -> str:
        """POST /content_blocks/update with any of name, content, description, state, tags."""
        payload = {"content_block_id": block_id, **fields}
        _, body = await self._post(CONTENT_BLOCKS_UPDATE_PATH, payload)
        return str(body.get("content_block_id") or block_id) if isinstance(body, dict) else block_id

    async def list_content_blocks(self) -> list[dict[str, Any]]:
        """GET /content_blocks/list, every page (`offset` steps of the maximum `limit`)."""
        blocks: list[dict[str, Any]] = []
        while True:
            params = {"limit": str(CONTENT_BLOCKS_PER_PAGE), "offset": str(len(blocks))}
            _, body = await self._get(CONTENT_BLOCKS_LIST_PATH, params)
            page = body.get("content_blocks", []) if isinstance(body, dict) else []
            blocks.extend(b for b in page if isinstance(b, dict))
            if len(page) < CONTENT_BLOCKS_PER_PAGE:
                return blocks

    async def content_block_info(self, block_id: str) -> dict[str, Any]:
        """GET /content_blocks/info: name, content, description, state, tags …"""
        _, body = await self._get(CONTENT_BLOCKS_INFO_PATH, {"content_block_id": block_id})
        return body if isinstance(body, dict) else {}

    # -- generic reads (drift and import build their endpoint logic on these) ------------------

    async def get_json(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> tuple[Any, httpx.Headers]:
        """GET `path` (a path, or a path-only `Link` target with its query); body and headers."""
        response, body = await self._get(path, params or {})
        return body, response.headers

    async def post_json(self, path: str, payload: Mapping[str, Any]) -> tuple[Any, httpx.Headers]:
        """POST a JSON body to `path`; the answer's body and headers."""
        response, body = await self._post(path, payload)
        return body, response.headers

    async def batch_markers(
        self, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[str]]:
        """Event-batch marker tokens per user (reconciler.apply.events settles lost answers)."""
        from reconciler.braze.markers import read_markers

        return await read_markers(self, users)

    def rate_limit(self, headers: httpx.Headers) -> RateLimit:
        """The rate-limit headers of an answer, read with this client's clock."""
        return RateLimit.from_headers(headers, self._clock())

    # -- the one request path ------------------------------------------------------------------

    async def _post(self, path: str, payload: Mapping[str, Any]) -> tuple[httpx.Response, Any]:
        return await self._send("POST", path, content=encode_body(payload))

    async def _get(self, path: str, params: Mapping[str, str]) -> tuple[httpx.Response, Any]:
        return await self._send("GET", path, params=params)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[httpx.Response, Any]:
        where = self._where(path, method)
        try:
            response = await self._http.request(method, path, content=content, params=params)
        except httpx.TimeoutException as e:
            raise BrazeUnavailableError(
                self._redact(f"{where} timed out ({type(e).__name__})")
            ) from e
        except httpx.TransportError as e:
            raise BrazeUnavailableError(
                self._redact(f"{where} dropped the connection: {e or type(e).__name__}")
            ) from e
        body = _json_body(response)
        if response.is_success:
            return response, body
        raise self._status_error(path, response, body, method)

    def _status_error(
        self, path: str, response: httpx.Response, body: Any, method: str = "POST"
    ) -> BrazeError:
        status = response.status_code
        where = self._where(path, method)
        said = self._redact(_message(body) or response.reason_phrase or "no message")
        if status in (401, 403):
            return BrazeAuthError(
                f"{where} refused the key ({status}): {_auth_reason(status, path, said)}",
                status=status,
                hint="check BRAZE_REST_ENDPOINT / the Workspace instance and the key's permissions",
            )
        if status == 429:
            rate = RateLimit.from_headers(response.headers, self._clock())
            return BrazeRateLimitError(
                f"{where} is rate limited (429): {said}",
                retry_at=rate.resume_at(self._clock()),
            )
        if status >= 500:
            return BrazeUnavailableError(f"{where} failed ({status}): {said}", status=status)
        return BrazeError(f"{where} rejected the request ({status}): {said}", status=status)

    def _where(self, path: str, method: str = "POST") -> str:
        return f"{method} {self.base_url}{path}"

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "<redacted>")


def _block_id(body: Any, where: str) -> str:
    block_id = body.get("content_block_id") if isinstance(body, dict) else None
    if not isinstance(block_id, str) or not block_id:
        raise BrazeError(f"{where} answered without a content_block_id")
    return block_id


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def _message(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return ""


def _auth_reason(status: int, path: str, said: str) -> str:
    if status == 403 and path in PERMISSIONS:
        return f"the key lacks {PERMISSIONS[path]} ({said})"
    if status == 401:
        return f"the key is unknown, for another workspace, or for another instance ({said})"
    return said


def _object_errors(body: Any) -> tuple[ObjectError, ...]:
    raw = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(raw, list):
        return ()
    errors = []
    for item in raw:
        if not isinstance(item, dict):
            item = {"type": str(item)}
        index = item.get("index")
        errors.append(
            ObjectError(
                type=str(item.get("type", "unknown error")),
                input_array=str(item.get("input_array", "attributes")),
                # No usable index: the executor cannot tell which object failed, so it treats
                # every object of that array as unconfirmed.
                index=index if isinstance(index, int) and not isinstance(index, bool) else -1,
            )
        )
    return tuple(errors)


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """A request body: compact UTF-8 JSON, through orjson (a first sync encodes 1.8 GB of
    attribute objects); the standard encoder for what orjson refuses (integers beyond 64
    bits, non-string keys), so every payload json accepts still goes out."""
    try:
        return orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
