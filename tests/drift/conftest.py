"""Drift fixtures: a lab per test (generated workspace, SQLite state, in-process sandbox)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from drift.lab import Lab


@pytest.fixture
def make_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Lab]:
    monkeypatch.setenv("BRAZE_API_KEY", "sandbox-key")
    monkeypatch.setenv("BRAZE_REST_ENDPOINT", "http://sandbox.invalid")
    counter = iter(range(100))

    def make(users: int = 60) -> Lab:
        root = tmp_path / f"lab{next(counter)}"
        root.mkdir()
        return Lab(root, users)

    return make
