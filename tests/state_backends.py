"""The state backends every state-suite test runs against (a module of its own, not
conftest: `from conftest import …` resolves to whichever conftest a worker imported first)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from fixtures_postgres import pg_state_url


@contextmanager
def sqlite_backend(tmp: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp / 'state' / 'state.db'}"


def postgres_backend(_tmp: Path) -> AbstractContextManager[str]:
    return pg_state_url()


# Each backend makes a fresh, empty state URL (and cleans up after it).
BACKENDS: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
    "sqlite": sqlite_backend,
    "postgres": postgres_backend,
}
