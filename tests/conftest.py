"""Hermetic test guards shared by every test: loopback-only network, no writes to $HOME."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

pytest_plugins = ["fixtures_sandbox", "fixtures_postgres", "fixtures_s3"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_MANIFESTS = REPO / "manifests"

settings.register_profile("fast", max_examples=60, deadline=None)
settings.register_profile("slow", max_examples=10_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}
_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and host not in _LOOPBACK:
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No network but loopback; HOME points into tmp_path so nothing lands in the real one."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in (
        "RECONCILER_STATE",
        "RECONCILER_MANIFESTS",
        "BRAZE_REST_ENDPOINT",
        "GITHUB_RUN_ID",
        "GITHUB_REPOSITORY",
        "GITHUB_SHA",
        "GITHUB_SERVER_URL",
        "CI",  # the suite runs the same on a laptop and in CI (tests set it where it matters)
        "RECONCILER_ALLOW_LOCAL_STATE",
    ):
        monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture
def example_manifests() -> Path:
    return EXAMPLE_MANIFESTS
