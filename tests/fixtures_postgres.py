"""PostgreSQL for tests: the live local server (`.ci/run` starts it), one schema per test.

Each schema is dropped with everything in it afterwards. RECONCILER_TEST_PG overrides the server
URL (no password in it: libpq reads PGPASSWORD or ~/.pgpass, as reconciler itself does).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

PG_SERVER = os.environ.get("RECONCILER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


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
def pg_state_url() -> Iterator[str]:
    with pg_schema() as schema:
        yield f"{PG_SERVER}?schema={schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL state URL on a schema of its own."""
    with pg_state_url() as url:
        yield url


def pg_execute(url_or_server: str, query: sql.Composable, params: tuple[object, ...] = ()) -> None:
    """Run one statement as the test superuser (to stage what a test needs: a foreign row …)."""
    with psycopg.connect(url_or_server.split("?")[0], autocommit=True) as conn:
        conn.execute(query, params)
