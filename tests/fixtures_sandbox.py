"""Sandbox fixtures shared by every test package: in-process app/client and real servers.

- `sandbox_app`: a fresh in-process app (memory, default key `sandbox-key`, Braze's limits).
- `sandbox_client`: a sync httpx client (starlette TestClient) on `sandbox_app`, key preset.
- `sandbox_server`: one real `reconciler sandbox --port 0` subprocess per session; `.url`,
  `.key`, `.client()`, `.admin(...)`, `.reset()`. Reset it yourself if you need a clean slate
  (`sandbox_server.reset()`), since the session shares it.
- `sandbox_server_factory`: `start("--rate-limit", "3", ...)` for a server with extra CLI
  options; each one is stopped with SIGTERM at teardown.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox.app import SandboxApp, create_app
from reconciler.sandbox.auth import DEFAULT_KEY
from reconciler.sandbox.inprocess import SandboxTestClient
from reconciler.sandbox.process import SandboxProcess, start_sandbox

REPO = Path(__file__).resolve().parent.parent


class SandboxServer:
    """A started sandbox subprocess and helpers to talk to it."""

    def __init__(self, process: SandboxProcess) -> None:
        self.process = process
        self.url = process.url
        self.key = process.key
        self.banner = process.banner

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10.0, **kwargs)

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call a `/_sandbox/...` endpoint and return its JSON (raises on HTTP errors)."""
        with self.client() as c:
            r = c.request(method, f"/_sandbox/{path.lstrip('/')}", json=json)
            r.raise_for_status()
            return r.json()

    def reset(self) -> None:
        self.admin("POST", "reset")

    def stop(self, sig: int | None = None) -> int:
        return self.process.stop() if sig is None else self.process.stop(sig)


def start_server(args: tuple[str, ...], log_dir: Path) -> SandboxServer:
    log = log_dir / f"sandbox-{len(list(log_dir.iterdir()))}.stderr"
    return SandboxServer(start_sandbox(*args, stderr_path=log, cwd=REPO))


@pytest.fixture
def sandbox_app() -> SandboxApp:
    return create_app()


@pytest.fixture
def sandbox_client(sandbox_app: SandboxApp) -> Iterator[SandboxTestClient]:
    with SandboxTestClient(sandbox_app, key=DEFAULT_KEY) as client:
        yield client


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with tempfile.TemporaryDirectory(prefix="sandbox-logs-") as logs:
        server = start_server((), Path(logs))
        yield server
        server.stop()


@pytest.fixture
def sandbox_server_factory(tmp_path: Path) -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []
    logs = tmp_path / "sandbox-logs"
    logs.mkdir()

    def start(*args: str) -> SandboxServer:
        server = start_server(args, logs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
