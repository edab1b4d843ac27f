"""Event fixtures: a copy of the example workspace, a real SQLite state, a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from events.support import NOW, copy_manifests
from fixtures_postgres import pg_state_url

from reconciler.manifests import load_workspace
from reconciler.plan import events as planner
from reconciler.plan.event_model import EventsPlan
from reconciler.state import LockRequest, StateStore, open_state


class Events:
    """Plan the events of `root` against `state` at NOW; acknowledge them as apply does."""

    def __init__(self, root: Path, state: StateStore, spool: Path) -> None:
        self.root, self.state, self.spool = root, state, spool
        self.n = 0

    def plan(self) -> EventsPlan:
        self.n += 1
        m = load_workspace(self.root)
        return planner.plan_events(m, self.state, self.spool, plan_id=f"p{self.n}", now=NOW)

    def acknowledge(self, ids: list[str]) -> None:
        with self.state.lock(LockRequest("apply", "test")):
            apply_id = self.state.begin_apply("test")
            self.state.record_batch(apply_id, 0, (), (), ids, {"events": len(ids)})
            self.state.finish_apply(apply_id, "applied")


@pytest.fixture
def events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_url: str) -> Iterator[Events]:
    monkeypatch.setattr(planner, "utcnow", lambda: NOW)
    root = copy_manifests(tmp_path)
    spool = tmp_path / "spool"
    spool.mkdir()
    with open_state(state_url) as state:
        yield Events(root, state, spool)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Apply tests run against each state backend (PostgreSQL: a schema of their own)."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "s.db")
        return
    with pg_state_url() as url:
        yield url


@pytest.fixture
def state(state_url: str) -> Iterator[StateStore]:
    store = open_state(state_url)
    yield store
    store.close()
