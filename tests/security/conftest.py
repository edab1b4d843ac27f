"""A copy of manifests/ (example events made recent) wired to a keyed loopback sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from events.support import copy_manifests, refresh_example_events
from fixtures_sandbox import SandboxServer


@dataclass
class Workspace:
    """The real CLI run as a subprocess against this workspace's sandbox and SQLite state."""

    root: Path
    sandbox: SandboxServer
    key: str

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def state_path(self) -> Path:
        return self.root / "state.db"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "RECONCILER_"))}
        env.update({"BRAZE_REST_ENDPOINT": self.sandbox.url, "BRAZE_API_KEY": self.key, **extra})
        return env

    def cli(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        state: bool = True,
        manifests: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "reconciler", *args]
        if manifests:
            command += ["--manifests", str(self.manifests)]
        if state and manifests:
            command += ["--state", f"sqlite:///{self.state_path}"]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env or self.env(),
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=120,
        )


@pytest.fixture
def workspace(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> Iterator[Workspace]:
    # distinctive, so that a hit in any output can only be a leak of this key
    key = f"brz-LEAKCANARY-{uuid.uuid4().hex}"
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - key: {key}\n    workspace: production\n")
    sandbox = sandbox_server_factory("--keys", str(keys))
    refresh_example_events(copy_manifests(tmp_path))
    yield Workspace(tmp_path, sandbox, key)
