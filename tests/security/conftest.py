"""A copy of manifests/ (example events made recent) wired to a keyed loopback sandbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_workspace import CliWorkspace
from fixtures_sandbox import SandboxServer

Workspace = CliWorkspace


@pytest.fixture
def workspace(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> Iterator[Workspace]:
    # distinctive, so that a hit in any output can only be a leak of this key
    key = f"brz-LEAKCANARY-{uuid.uuid4().hex}"
    yield CliWorkspace.start(tmp_path, sandbox_server_factory, key)
