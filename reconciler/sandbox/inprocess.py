"""Use the sandbox with no socket: a sync httpx transport/client and an async transport."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from reconciler.sandbox.app import SandboxApp
from reconciler.sandbox.wire import DroppedConnection

BASE_URL = "http://sandbox.invalid"


class SandboxASGITransport(httpx.ASGITransport):
    """For `httpx.AsyncClient(transport=...)`: a dropped connection raises like a real one."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except DroppedConnection as e:
            raise httpx.RemoteProtocolError(str(e), request=request) from e


class SandboxTransport(httpx.BaseTransport):
    """For `httpx.Client(transport=...)`: runs the app on a private event loop per call."""

    def __init__(self, app: SandboxApp) -> None:
        self._inner = SandboxASGITransport(app=app)
        self._loop = asyncio.new_event_loop()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        return self._loop.run_until_complete(self._send(copy, request))

    async def _send(self, copy: httpx.Request, original: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(copy)
        except httpx.RemoteProtocolError as e:
            raise httpx.RemoteProtocolError(str(e), request=original) from e
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def close(self) -> None:
        self._loop.close()


class SandboxTestClient(httpx.Client):
    """A sync httpx client bound to an in-process app, with the API key preset."""

    def __init__(self, app: SandboxApp, key: str | None = None, **kwargs: Any) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        kwargs.setdefault("base_url", BASE_URL)
        super().__init__(transport=SandboxTransport(app), headers=headers, **kwargs)
