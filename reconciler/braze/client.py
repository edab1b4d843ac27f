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

# What each endpoint needs (reference §8), named in 403 messages.
PERMISSIONS = {TRACK_PATH: "users.track", EXPORT_IDS_PATH: "users.export.ids"}


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

    # -- the one request path ------------------------------------------------------------------

    async def _post(self, path: str, payload: Mapping[str, Any]) -> tuple[httpx.Response, Any]:
        content = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            response = await self._http.post(path, content=content)
        except httpx.TimeoutException as e:
            raise BrazeUnavailableError(
                self._redact(f"{self._where(path)} timed out ({type(e).__name__})")
            ) from e
        except httpx.TransportError as e:
            raise BrazeUnavailableError(
                self._redact(f"{self._where(path)} dropped the connection: {e or type(e).__name__}")
            ) from e
        body = _json_body(response)
        if response.is_success:
            return response, body
        raise self._status_error(path, response, body)

    def _status_error(self, path: str, response: httpx.Response, body: Any) -> BrazeError:
        status = response.status_code
        where = self._where(path)
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

    def _where(self, path: str) -> str:
        return f"POST {self.base_url}{path}"

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "<redacted>")


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
