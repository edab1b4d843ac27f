"""Raw ASGI plumbing: read a request, send a JSON reply, or drop the connection on purpose."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

Headers = list[tuple[bytes, bytes]]
Scope = MutableMapping[str, Any]
JSON_TYPE = (b"content-type", b"application/json")


class DroppedConnection(ConnectionResetError):
    """Raised in-process (no socket to close) when the sandbox drops a connection."""


class BodyTooLarge(Exception):
    """The request body passed the size limit."""


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None = None
    headers: Headers = field(default_factory=list)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def query(scope: Scope) -> dict[str, str]:
    """The query string, last value wins (Braze's GET endpoints take single values)."""
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


async def read_body(receive: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def send_reply(send: Any, reply: Reply) -> None:
    payload = b"" if reply.body is None else encode(reply.body)
    headers = [JSON_TYPE, (b"content-length", str(len(payload)).encode()), *reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def drop_connection(send: Any) -> None:
    """Close the socket before any response byte, so the client sees a connection error.

    Under uvicorn `send` is bound to the request cycle that owns the transport; aborting it
    and waiting for uvicorn to notice keeps it from answering 500 on our behalf. In-process
    there is no socket, so the in-process transports turn DroppedConnection into one.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise DroppedConnection("the sandbox dropped the connection")
    transport.abort()
    for _ in range(50):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)
