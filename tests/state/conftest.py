"""The shared state-suite fixtures: every test taking `state` runs against each backend.

PostgreSQL tests run on the live local server (`.ci/run` starts it): each gets a schema of its
own in database `test`, dropped afterwards. RECONCILER_TEST_PG overrides the server URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from reconciler.state import StateStore, open_state

PG_SERVER = os.environ.get("RECONCILER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def sqlite_backend(tmp: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp / 'state' / 'state.db'}"


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema name on the test server, dropped (with everything in it) afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '20s'")
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def postgres_backend(_tmp: Path) -> Iterator[str]:
    with pg_schema() as schema:
        yield f"{PG_SERVER}?schema={schema}"


# Each backend makes a fresh, empty state URL (and cleans up after it).
BACKENDS: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
    "sqlite": sqlite_backend,
    "postgres": postgres_backend,
}
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


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL state URL on a schema of its own."""
    with postgres_backend(Path()) as url:
        yield url
