"""The shared state-suite fixtures: every test taking `state` runs against each backend.

PostgreSQL tests run on the live local server (tests/fixtures_postgres.py): each gets a schema
of its own in database `test`, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from state_backends import BACKENDS

from reconciler.state import StateStore, open_state

MARKS: dict[str, list[pytest.MarkDecorator]] = {"postgres": [pytest.mark.postgres]}


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, [])) for name in BACKENDS])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with BACKENDS[request.param](tmp_path) as url:
        yield url


@pytest.fixture
def state(state_url: str) -> Iterator[StateStore]:
    store = open_state(state_url)
    yield store
    store.close()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"
