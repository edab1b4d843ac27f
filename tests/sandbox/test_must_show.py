"""The issue's "Must show" checks, as curl would do them, against `reconciler sandbox --port 0`."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fixtures_sandbox import SandboxServer

GOOD = {"external_id": "u1", "first_name": "Ada", "tier": "gold"}


def test_curl_equivalents_over_real_http(
    sandbox_server_factory: Callable[..., SandboxServer],
) -> None:
    server = sandbox_server_factory("--rate-limit", "3")
    assert server.url.startswith("http://127.0.0.1:")
    json_header = {"Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        assert anonymous.post("/users/track", json={"attributes": [GOOD]}).status_code == 401
        assert anonymous.post("/templates/webhook/create", json={}).status_code == 404
    with server.client() as c:
        ok = c.post("/users/track", json={"attributes": [GOOD]}, headers=json_header)
        assert (ok.status_code, ok.json()) == (
            201,
            {"message": "success", "attributes_processed": 1},
        )
        many = [{"external_id": f"u{i}", "n": i} for i in range(76)]
        too_many = c.post("/users/track", json={"attributes": many})
        assert (too_many.status_code, too_many.json()) == (
            400,
            {"message": "Max Input Length Exceeded"},
        )
        mixed = c.post("/users/track", json={"attributes": [GOOD, {"tier": "no id"}, GOOD]})
        assert mixed.status_code == 201
        assert mixed.json()["attributes_processed"] == 2
        assert mixed.json()["errors"][0]["index"] == 1
        statuses = []
        for _ in range(8):
            r = c.post("/users/track", json={"attributes": [GOOD]})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.headers["x-ratelimit-limit"] == "3"
                assert r.headers["x-ratelimit-remaining"] == "0"
                assert int(r.headers["x-ratelimit-reset"]) > 0
                break
        assert statuses[-1] == 429
