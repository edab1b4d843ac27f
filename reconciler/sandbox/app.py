"""The ASGI app: routing, auth, faults, rate limits and body checks around each endpoint."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from reconciler.sandbox import admin
from reconciler.sandbox.config import MAX_BODY_BYTES
from reconciler.sandbox.context import Ctx, fail
from reconciler.sandbox.faults import Fault
from reconciler.sandbox.ratelimit import Bucket
from reconciler.sandbox.routes import ROUTES, Route, trailing_slash_of
from reconciler.sandbox.runtime import Runtime, build_runtime
from reconciler.sandbox.store import Workspace
from reconciler.sandbox.wire import (
    BodyTooLarge,
    Reply,
    Scope,
    drop_connection,
    header,
    query,
    read_body,
    send_reply,
)

PARSE_ERROR = "Error while parsing request body. Please check your syntax."
_FAULT_MESSAGES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    429: "Rate Limit Exceeded",
    202: "queued",
}


class SandboxApp:
    """A Braze REST API as an ASGI callable, usable under uvicorn or in-process."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.runtime.workspaces.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        rt = self.runtime
        path = scope["path"]
        if path.startswith("/_sandbox/"):
            await send_reply(send, await admin.dispatch(rt, scope, receive))
            return
        now = rt.clock()
        route = ROUTES.get(path)
        bucket = rt.limiter.bucket(path.rstrip("/") or path)
        if route is None and trailing_slash_of(path) is None:
            await self._finish(send, fail(404, "Not Found"), bucket, now)
            return
        key = rt.keyring.lookup(header(scope, b"authorization"))
        if key is None:
            reply = fail(401, "Unauthorized: missing or invalid API key")
            await self._finish(send, reply, bucket, now)
            return
        if route is None or route.permission not in key.permissions:
            await self._finish(send, fail(403, "Access Denied"), bucket, now)
            return
        if scope["method"] != route.method:
            reply = Reply(
                405, {"message": "Method Not Allowed"}, [(b"allow", route.method.encode())]
            )
            await self._finish(send, reply, bucket, now)
            return
        ws = rt.workspaces.get(key.workspace)
        ws.stats.requests[path] = ws.stats.requests.get(path, 0) + 1
        fault = rt.faults.next()
        if fault is not None and fault.when == "before":
            rt.workspaces.flush(ws)
            await self._fault(send, fault, bucket, now)
            return
        if not bucket.take(now):
            rt.workspaces.flush(ws)
            await self._finish(send, fail(429, "Rate Limit Exceeded"), bucket, now)
            return
        reply = await self._handle(route, scope, receive, ws, now, path)
        rt.workspaces.flush(ws)
        if fault is not None:
            await self._fault(send, fault, bucket, now)
            return
        await self._finish(send, reply, bucket, now)

    async def _handle(
        self, route: Route, scope: Scope, receive: Any, ws: Workspace, now: float, path: str
    ) -> Reply:
        body: Any = None
        if route.takes_json:
            content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if content_type != "application/json":
                return fail(415, "Unsupported Media Type")
            length = header(scope, b"content-length")
            if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
                return fail(413, "Request Entity Too Large")
            try:
                raw = await read_body(receive, MAX_BODY_BYTES)
            except BodyTooLarge:
                return fail(413, "Request Entity Too Large")
            try:
                body = json.loads(raw, parse_constant=_reject_constant)
            except ValueError:
                return fail(400, PARSE_ERROR)
        rt = self.runtime
        ctx = Ctx(ws, body, query(scope), now, rt.config, rt.visibility, path)
        return route.handler(ctx)

    async def _fault(self, send: Any, fault: Fault, bucket: Bucket, now: float) -> None:
        if fault.status == "drop":
            await self._delay()
            await drop_connection(send)
            return
        status = int(fault.status)
        reply = fail(status, _FAULT_MESSAGES[status])
        await self._finish(send, reply, bucket, now, exhausted=status == 429)

    async def _finish(
        self, send: Any, reply: Reply, bucket: Bucket, now: float, exhausted: bool = False
    ) -> None:
        await self._delay()
        reply.headers.extend(bucket.headers(now, exhausted))
        await send_reply(send, reply)

    async def _delay(self) -> None:
        if self.runtime.config.latency_ms:
            await asyncio.sleep(self.runtime.config.latency_ms / 1000)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def create_app(runtime: Runtime | None = None) -> SandboxApp:
    """The app over `runtime` (default: in memory, the default key, Braze's limits)."""
    return SandboxApp(runtime or build_runtime())
