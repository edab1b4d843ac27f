"""Apply fixtures: a real SQLite state in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.state import StateStore, open_state


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return "sqlite:///" + str(tmp_path / "s.db")


@pytest.fixture
def state(state_url: str) -> Iterator[StateStore]:
    store = open_state(state_url)
    yield store
    store.close()
