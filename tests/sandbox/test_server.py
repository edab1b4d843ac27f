"""The `reconciler sandbox` process: banner, clean shutdown, --db persistence, keys, flags."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fixtures_sandbox import REPO, SandboxServer

from reconciler.sandbox.process import start_sandbox

ONE = {"attributes": [{"external_id": "u1", "tier": "gold"}]}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_banner_first_line_then_clean_shutdown(
    sandbox_server_factory: Callable[..., SandboxServer], sig: signal.Signals
) -> None:
    server = sandbox_server_factory()
    assert server.banner[0] == server.url and server.url.startswith("http://127.0.0.1:")
    assert server.banner[1:3] == ["key: sandbox-key", "workspace: default"]
    with server.client() as c:
        assert c.post("/users/track", json=ONE).status_code == 201
    assert server.stop(sig) == 0
    assert "Traceback" not in server.process.stderr()


def test_db_file_persists_across_restart(
    sandbox_server_factory: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    db = tmp_path / "sandbox.db"
    first = sandbox_server_factory("--db", str(db))
    with first.client() as c:
        assert c.post("/users/track", json=ONE).status_code == 201
        event = {"external_id": "u1", "name": "signed_up", "time": "2024-01-01"}
        assert c.post("/users/track", json={"events": [event]}).status_code == 201
    first.admin("POST", "tags", {"tags": ["promo"]})
    assert first.stop() == 0
    second = sandbox_server_factory("--db", str(db))
    body = {"external_ids": ["u1"], "fields_to_export": ["custom_attributes", "custom_events"]}
    with second.client() as c:
        user = c.post("/users/export/ids", json=body).json()["users"][0]
        assert user["custom_attributes"] == {"tier": "gold"}
        assert user["custom_events"][0]["name"] == "signed_up"
        assert [a["name"] for a in c.get("/custom_attributes").json()["attributes"]] == ["tier"]
    stats = second.admin("GET", "stats")
    assert stats["data_points"] == 2
    assert len(second.admin("GET", "events")["events"]) == 1
    second.reset()
    assert second.stop() == 0
    third = sandbox_server_factory("--db", str(db))
    assert third.admin("GET", "stats")["data_points"] == 0


def test_env_key_is_used_but_never_printed(tmp_path: Path) -> None:
    env = {**os.environ, "BRAZE_API_KEY": "s3cret-from-env"}
    process = start_sandbox(env=env, cwd=REPO, stderr_path=tmp_path / "err")
    try:
        assert "s3cret-from-env" not in "\n".join(process.banner)
        assert process.banner[1] == "key: $BRAZE_API_KEY"
        headers = {"Authorization": "Bearer s3cret-from-env"}
        r = httpx.post(f"{process.url}/users/track", json=ONE, headers=headers)
        assert r.status_code == 201
    finally:
        assert process.stop() == 0


def test_keys_file_banner_and_bad_keys_file(
    sandbox_server_factory: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {key: k1, workspace: prod, permissions: [users.track]}\n")
    server = sandbox_server_factory("--keys", str(keys))
    assert server.banner[1:3] == [f"keys: 1 from {keys}", "workspaces: prod"]
    assert "k1" not in "\n".join(server.banner)
    import subprocess

    def refused(text: str) -> str:
        """The sandbox's stderr when it refuses the keys file `text` (exit 1)."""
        keys.write_text(text)
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "sandbox", "--keys", str(keys)],
            capture_output=True, text=True, cwd=REPO, timeout=30,
        )  # fmt: skip
        assert done.returncode == 1
        return done.stderr

    assert "unknown permissions" in refused(
        "keys:\n  - {key: k1, permissions: [no.such.permission]}\n"
    )
    stderr = refused("keys:\n  - {key: k1, workspace: 2026-02-30}\n")  # YAML reads a date
    assert "cannot read keys file: day is out of range for month" in stderr
    assert "Traceback" not in stderr


def test_fail_schedule_and_latency_flags(
    sandbox_server_factory: Callable[..., SandboxServer],
) -> None:
    server = sandbox_server_factory(
        "--fail-schedule", "2:drop,3:502", "--latency-ms", "20", "--consistency-delay-ms", "250"
    )  # fmt: skip
    config = server.admin("GET", "config")
    assert (config["latency_ms"], config["consistency_delay_ms"]) == (20, 250)
    with server.client() as c:
        assert c.post("/users/track", json=ONE).status_code == 201
        with pytest.raises(httpx.TransportError):
            c.post("/users/track", json=ONE)
        assert c.post("/users/track", json=ONE).status_code == 502
        assert c.post("/users/track", json=ONE).status_code == 201
    assert server.stop() == 0
    assert "Traceback" not in server.process.stderr()
    assert "Exception" not in server.process.stderr()
