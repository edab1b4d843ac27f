"""Conformance fixtures: every test runs in-process and against a real server (`api`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures_sandbox import SandboxServer, start_server

from reconciler.sandbox.app import create_app
from reconciler.sandbox.auth import load_keyring
from reconciler.sandbox.inprocess import SandboxTestClient
from reconciler.sandbox.runtime import build_runtime

KEYS_YAML = """\
keys:
  - {key: sandbox-key, workspace: default}
  - {key: track-only, workspace: default, permissions: [users.track]}
  - {key: other-key, workspace: other}
"""
EXPORT_FIELDS = ["external_id", "braze_id", "custom_attributes", "email", "phone", "first_name",
                 "last_name", "dob", "country", "language", "gender", "time_zone", "home_city",
                 "email_subscribe", "push_subscribe", "user_aliases", "custom_events",
                 "purchases", "total_revenue", "last_coordinates"]  # fmt: skip


class Api:
    """One way of reaching a sandbox (in-process or HTTP) plus Braze-shaped helpers."""

    def __init__(self, kind: str, make_client: Any) -> None:
        self.kind = kind
        self._make_client = make_client
        self.client: httpx.Client = make_client("sandbox-key")
        self._others: list[httpx.Client] = []

    def with_key(self, key: str | None) -> httpx.Client:
        client = self._make_client(key)
        self._others.append(client)
        return client

    def close(self) -> None:
        for c in [self.client, *self._others]:
            c.close()

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.client.post(path, json=json, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        r = self.client.request(method, f"/_sandbox/{path}", json=json)
        assert r.status_code == 200, r.text
        return r.json()

    def track(self, **arrays: Any) -> dict[str, Any]:
        r = self.post("/users/track", json=arrays)
        assert r.status_code == 201, r.text
        return r.json()

    def export(self, *external_ids: str, fields: list[str] | None = None) -> dict[str, Any]:
        body = {"external_ids": list(external_ids), "fields_to_export": fields or EXPORT_FIELDS}
        r = self.post("/users/export/ids", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def user(self, external_id: str) -> dict[str, Any]:
        users = self.export(external_id)["users"]
        assert len(users) == 1, users
        return users[0]

    def stats(self) -> dict[str, Any]:
        return self.admin("GET", "stats")


@pytest.fixture(scope="session")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.yaml"
    path.write_text(KEYS_YAML)
    return path


@pytest.fixture(scope="session")
def conformance_server(
    keys_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxServer]:
    server = start_server(("--keys", str(keys_file)), tmp_path_factory.mktemp("logs"))
    yield server
    server.stop()


@pytest.fixture(params=["inprocess", "http"])
def api(request: pytest.FixtureRequest, keys_file: Path) -> Iterator[Api]:
    if request.param == "inprocess":
        app = create_app(build_runtime(keyring=load_keyring(keys_file)))
        made = Api("inprocess", lambda key: SandboxTestClient(app, key=key))
    else:
        server: SandboxServer = request.getfixturevalue("conformance_server")
        server.reset()

        def make(key: str | None) -> httpx.Client:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return httpx.Client(base_url=server.url, headers=headers, timeout=10.0)

        made = Api("http", make)
    yield made
    made.close()
