"""The shared state-suite fixtures: every test taking `state` runs against each backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.state import StateStore, open_state

# Each backend makes a fresh, empty state URL under tmp_path. PostgreSQL joins here (issue 7).
BACKENDS: dict[str, Callable[[Path], str]] = {
    "sqlite": lambda tmp: f"sqlite:///{tmp / 'state' / 'state.db'}",
}


@pytest.fixture(params=sorted(BACKENDS))
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
def state(state_url: str) -> Iterator[StateStore]:
    store = open_state(state_url)
    yield store
    store.close()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"
