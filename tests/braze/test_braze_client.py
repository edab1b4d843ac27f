"""The Braze client: statuses → named errors (MockTransport), and the real thing on the sandbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from apply.support import running_sandbox

from reconciler.apply.protocol import ObjectError, RateLimit
from reconciler.braze import BrazeClient, api_key_from_env, resolve_endpoint
from reconciler.errors import (
    BrazeAuthError,
    BrazeError,
    BrazeRateLimitError,
    BrazeUnavailableError,
    UsageError,
)

KEY = "rk-7f3c9e21-5b8d-4c1a-9e0f-2a6b4d8c0e13"
BASE = "https://rest.iad-03.braze.com"
NOW = 1_800_000_000.0


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> BrazeClient:
    return BrazeClient(BASE, KEY, transport=httpx.MockTransport(handler), clock=lambda: NOW)


async def track_with(handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    async with client_for(handler) as client:
        return await client.track({"attributes": [{"external_id": "u1", "a": 1}]})


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body if body is not None else {}, headers=headers)

    return handler


def test_track_sends_bearer_json_and_parses_the_201() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {
            "message": "success",
            "attributes_processed": 1,
            "errors": [
                {"type": "EMAIL_BAD_FORMAT", "input_array": "attributes", "index": 1},
                {"type": "'external_id' is required", "input_array": "events", "index": 0},
            ],
        }
        headers = {
            "x-ratelimit-limit": "3000",
            "x-ratelimit-remaining": "2999",
            "x-ratelimit-reset": str(int(NOW) + 3),
        }
        return httpx.Response(201, json=body, headers=headers)

    result = run(track_with(handler))
    (request,) = seen
    assert request.url == f"{BASE}/users/track"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"attributes": [{"external_id": "u1", "a": 1}]}
    assert result.status == 201
    assert result.errors == (
        ObjectError("EMAIL_BAD_FORMAT", "attributes", 1),
        ObjectError("'external_id' is required", "events", 0),
    )
    assert result.rejected() == {1: "EMAIL_BAD_FORMAT"}
    assert result.rate == RateLimit(3000, 2999, NOW + 3, None)


def test_an_error_without_index_is_kept_as_index_minus_one() -> None:
    result = run(track_with(answer(201, {"message": "success", "errors": ["odd"]})))
    assert result.rejected() == {-1: "odd"}


def test_rate_headers_in_seconds_remaining_become_an_epoch() -> None:
    rate = RateLimit.from_headers({"x-ratelimit-reset": "12", "x-ratelimit-remaining": "x"}, NOW)
    assert rate == RateLimit(None, None, NOW + 12, None)
    assert RateLimit.from_headers({"x-ratelimit-retry-after": "7"}, NOW).resume_at(NOW) == NOW + 7


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (401, {"message": "Unauthorized"}, BrazeAuthError, ["401", "unknown", BASE]),
        (403, {"message": "Access Denied"}, BrazeAuthError, ["lacks users.track", "Access Denied"]),
        (400, {"message": "Max Input Length Exceeded"}, BrazeError, ["400", "Max Input Length"]),
        (413, {"message": "Request Entity Too Large"}, BrazeError, ["413", "Too Large"]),
        (415, {"message": "Unsupported Media Type"}, BrazeError, ["415", "Media Type"]),
        (500, {"message": "Internal Server Error"}, BrazeUnavailableError, ["500"]),
        (503, {}, BrazeUnavailableError, ["503", "Service Unavailable"]),
        (202, {"message": "queued"}, BrazeUnavailableError, ["202 queued"]),
    ],
)
def test_statuses_map_to_named_errors(
    status: int, body: dict[str, str], error: type[BrazeError], words: list[str]
) -> None:
    with pytest.raises(error) as caught:
        run(track_with(answer(status, body)))
    assert type(caught.value) is error
    assert caught.value.status == status
    assert all(w in caught.value.message for w in words), caught.value.message


def test_429_carries_the_reset_or_retry_after() -> None:
    reset = {"x-ratelimit-reset": str(int(NOW) + 2)}
    with pytest.raises(BrazeRateLimitError) as caught:
        run(track_with(answer(429, {"message": "Rate Limit Exceeded"}, reset)))
    assert caught.value.retry_at == NOW + 2
    with pytest.raises(BrazeRateLimitError) as caught:
        run(track_with(answer(429, {}, {"x-ratelimit-retry-after": "5"})))
    assert caught.value.retry_at == NOW + 5


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
def test_timeouts_and_drops_are_retryable_and_chained(exc: Exception) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(BrazeUnavailableError) as caught:
        run(track_with(handler))
    assert caught.value.__cause__ is exc
    assert BASE in caught.value.message


def test_the_key_appears_in_no_message_repr_or_chained_exception() -> None:
    def echo_key(_request: httpx.Request) -> httpx.Response:  # a hostile server echoing it
        return httpx.Response(401, json={"message": f"bad key {KEY}"})

    def raise_key(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect with {request.headers['authorization']}")

    texts = [repr(client_for(echo_key))]
    for handler in (echo_key, raise_key, answer(429), answer(500), answer(400)):
        with pytest.raises(BrazeError) as caught:
            run(track_with(handler))
        texts += [str(caught.value), caught.value.render(), repr(caught.value)]
    assert texts and not [t for t in texts if KEY in t]
    assert any("<redacted>" in t for t in texts)


def test_no_key_is_refused_and_the_env_names_the_variable() -> None:
    with pytest.raises(BrazeAuthError):
        BrazeClient(BASE, "")
    with pytest.raises(UsageError, match="MY_KEY is not set"):
        api_key_from_env("MY_KEY", {})
    assert api_key_from_env("MY_KEY", {"MY_KEY": f" {KEY} "}) == KEY


def test_the_endpoint_env_overrides_the_workspace() -> None:
    assert resolve_endpoint(BASE + "/", {}) == BASE
    assert resolve_endpoint(BASE, {"BRAZE_REST_ENDPOINT": "http://127.0.0.1:9/"}) == (
        "http://127.0.0.1:9"
    )


def test_export_ids_asks_50_at_a_time() -> None:
    asked: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        asked.append(body["external_ids"])
        assert body["fields_to_export"] == ["external_id", "custom_attributes"]
        users = [{"external_id": i} for i in body["external_ids"] if i != "u7"]
        return httpx.Response(201, json={"message": "success", "users": users})

    async def go() -> list[dict[str, Any]]:
        async with client_for(handler) as client:
            return await client.export_ids(
                [f"u{i}" for i in range(120)], ["external_id", "custom_attributes"]
            )

    users = run(go())
    assert [len(a) for a in asked] == [50, 50, 20]
    assert len(users) == 119 and {"external_id": "u7"} not in users


def test_against_the_sandbox_over_loopback(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, key=KEY) as sandbox:

        async def go() -> tuple[Any, list[dict[str, Any]]]:
            async with BrazeClient(sandbox.url, KEY) as client:
                result = await client.track(
                    {"attributes": [{"external_id": "u1", "tier": "gold"}, {"tier": "x"}]}
                )
                users = await client.export_ids(["u1"], ["external_id", "custom_attributes"])
                return result, users

        result, users = run(go())
        assert result.status == 201
        assert result.rejected() == {1: "'external_id' or 'braze_id' or 'user_alias' is required"}
        assert result.rate.limit == 3000 and result.rate.remaining is not None
        assert users[0]["custom_attributes"] == {"tier": "gold"}

        async def wrong_key() -> None:
            async with BrazeClient(sandbox.url, "not-the-key") as client:
                await client.track({"attributes": [{"external_id": "u1", "a": 1}]})

        with pytest.raises(BrazeAuthError, match="401"):
            run(wrong_key())
