"""A copy of manifests/ wired to a keyed loopback sandbox and a fresh SQLite state, driven
through the real CLI as a subprocess. Shared by the end-to-end, events and security tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from events.support import copy_manifests, refresh_example_events
from fixtures_sandbox import SandboxServer

# Commands that take --state (the others would refuse the option).
STATEFUL = frozenset({"plan", "apply", "drift", "import", "state"})


@dataclass
class CliWorkspace:
    root: Path
    sandbox: SandboxServer
    key: str

    @classmethod
    def start(
        cls, tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer], key: str
    ) -> Self:
        """A sandbox that accepts only `key`, and a copy of manifests/ (events made recent)."""
        keys = tmp_path / "keys.yaml"
        keys.write_text(f"keys:\n  - key: {key}\n    workspace: production\n")
        sandbox = sandbox_server_factory("--keys", str(keys))
        refresh_example_events(copy_manifests(tmp_path))  # inside the 30-day horizon, always
        return cls(tmp_path, sandbox, key)

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

    def command(self, *args: str, state: bool | None = None, manifests: bool = True) -> list[str]:
        """`--state` goes to the commands that take it unless `state` says otherwise."""
        command = [sys.executable, "-m", "reconciler", *args]
        if manifests:
            command += ["--manifests", str(self.manifests)]
            if state if state is not None else args[0] in STATEFUL:
                command += ["--state", f"sqlite:///{self.state_path}"]
        return command

    def cli(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        state: bool | None = None,
        manifests: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args, state=state, manifests=manifests),
            capture_output=True,
            text=True,
            env=env or self.env(),
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=300,
        )
