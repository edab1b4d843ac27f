"""The plan reads the ledger on a thread while it hashes the sources (plan/build.LedgerRead):
the plan is the one a plain read gives, a failed read is the state's own error where the
ledger is first needed, and the spool directory is gone either way."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest
from bench_workspace import acknowledge, generate

from reconciler.commands import planning
from reconciler.commands.planning import make_plan
from reconciler.errors import StateError
from reconciler.plan import build
from reconciler.state.sqlite import SqliteState

USERS = 150


def lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return fh.readlines()


def applied(tmp_path: Path) -> tuple[Path, str]:
    """A workspace's manifests and a state its first sync was acknowledged in."""
    manifests = generate(tmp_path / "w", USERS, seed=5) / "original"
    url = f"sqlite:///{tmp_path / 'state.db'}"
    acknowledge(url, make_plan(manifests, url, tmp_path / "a").plan)
    return manifests, url


def test_the_threaded_read_plans_what_a_plain_read_plans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests, url = applied(tmp_path)
    churned = manifests.parent / "churned"
    threaded = make_plan(churned, url, tmp_path / "b").plan

    class Inline(build.LedgerRead):  # the same read, done before the sources are hashed
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            self._future.result()

    monkeypatch.setattr(build, "LedgerRead", Inline)
    inline = make_plan(churned, url, tmp_path / "c").plan
    assert threaded.summary == inline.summary and threaded.summary.users_changed > 0
    assert lines(threaded.deltas_path) == lines(inline.deltas_path)


def test_a_failed_ledger_read_is_the_states_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests, url = applied(tmp_path)

    def broken(_self, workdir):  # type: ignore[no-untyped-def]
        (workdir / "snapshot-partial.parquet").write_bytes(b"PAR1")  # what a read leaves
        raise StateError("state state.db: database disk image is malformed")

    monkeypatch.setattr(SqliteState, "_read_parts", broken)
    spool = tmp_path / "b"
    with pytest.raises(StateError, match="malformed"):
        make_plan(manifests, url, spool)
    assert not list(spool.glob("ledger-*"))  # the thread's directory went with the plan


def test_the_plan_hands_the_gil_over_often_and_restores_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While it reads, a plan's threads switch every 0.2 ms (the event check must not hold the
    DuckDB statements back); the process's own interval is back once it has planned, or failed."""
    manifests, url = applied(tmp_path)
    seen: list[float] = []
    real = build.build_plan

    def spying(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(sys.getswitchinterval())
        return real(*args, **kwargs)

    before = sys.getswitchinterval()
    monkeypatch.setattr(build, "build_plan", spying)
    make_plan(manifests, url, tmp_path / "b")
    assert seen == [pytest.approx(planning.GIL_SWITCH_SECONDS)]
    assert sys.getswitchinterval() == before

    def failing(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise StateError("state state.db: gone")

    monkeypatch.setattr(build, "build_plan", failing)
    with pytest.raises(StateError, match="gone"):
        make_plan(manifests, url, tmp_path / "c")
    assert sys.getswitchinterval() == before
