"""The columnar ledger at size: a tiny memory cap changes nothing, a migrated v2 ledger plans
empty, compaction keeps every value, and a 50k-user workspace plans and applies end to end."""

from __future__ import annotations

import contextlib
import gzip
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from bench_workspace import acknowledge, generate
from fixtures_postgres import pg_state_url
from fixtures_sandbox import SandboxServer

from reconciler.apply.executor import _compact
from reconciler.apply.progress import NullProgress
from reconciler.commands.planning import make_plan
from reconciler.errors import StateError, UsageError
from reconciler.plan.model import Plan
from reconciler.state import LedgerRow, LedgerUnset, LockRequest, open_state
from reconciler.state.migrations import MIGRATIONS
from reconciler.state.pg_migrations import PG_MIGRATIONS
from reconciler.state.postgres import PostgresState
from reconciler.state.sqlite import SqliteState


def lines(plan: Plan) -> list[str]:
    with gzip.open(plan.deltas_path, "rt", encoding="utf-8") as fh:
        return fh.readlines()


def test_a_64mb_cap_plans_200k_cells_line_for_line_as_uncapped(tmp_path: Path) -> None:
    work = generate(tmp_path / "w", 10_000)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    spool = tmp_path / "spool"
    first = make_plan(work / "original", url, spool / "a", memory_limit="64MB").plan
    roomy = make_plan(work / "original", url, spool / "b", memory_limit="2GB").plan
    assert first.summary.attribute_updates >= 200_000
    assert lines(first) == lines(roomy) and first.summary == roomy.summary
    acknowledge(url, first)
    with open_state(url) as state, state.lock(LockRequest("compact")):
        assert state.compact_ledger() >= 200_000  # the churned plan reads a real snapshot
    capped = make_plan(work / "churned", url, spool / "c", memory_limit="64MB").plan
    uncapped = make_plan(work / "churned", url, spool / "d", memory_limit="2GB").plan
    truth = json.loads((work / "ground_truth.json").read_text())
    assert capped.summary.data_points == truth["expected_data_points"]
    assert (
        lines(capped) == lines(uncapped) and capped.attribute_changes == uncapped.attribute_changes
    )
    # and once the state keeps the first plan's digests, the plan that reads only the users
    # whose rows moved is the same plan, capped or not
    assert first.digests is not None
    with open_state(url) as state, state.lock(LockRequest("apply")):
        state.put_plan_digests(first.digests.fingerprint, first.digests.path, first.digests.rows)
    picked = make_plan(work / "churned", url, spool / "e", memory_limit="64MB").plan
    assert lines(picked) == lines(capped) and picked.summary == capped.summary


def test_compaction_keeps_every_value_and_a_kill_before_its_commit_loses_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_state(url) as state, state.lock(LockRequest("apply")):
        apply_id = state.begin_apply()
        state.record_batch(apply_id, 0, [LedgerRow(f"u{i}", "a", str(i)) for i in range(50)])
        state.record_batch(apply_id, 1, [LedgerRow("u1", "b", '"x"')], [LedgerUnset("u2", "a")])
        doubt = state.mark_in_doubt([("external_id", "u3", "a")])
        state.finish_apply(apply_id, "applied")
        before = [r for batch in state.iter_ledger() for r in batch]
        assert doubt and state.cells_in_doubt() == 1
        assert state.compact_ledger() == 53
        assert state.log_cells() == 0 and state.cells_in_doubt() == 1  # folded, still in doubt
        assert [r for batch in state.iter_ledger() for r in batch] == before
        assert state.ledger_count() == 49 + 1 - 1  # u2's unset is gone, u3's is in doubt
    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("SELECT count(*) FROM ledger_snapshot").fetchone() == (1,)
    conn.close()


class _Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_compaction_out_of_memory_changes_nothing_and_says_what_to_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    # after an apply, a fold that runs out of memory (or disk) was a crash (exit 3) once every
    # write had landed; now it is a note with the setting to raise, and the log stays whole
    with contextlib.ExitStack() as stack:
        url = (
            f"sqlite:///{tmp_path / 'state.db'}"
            if backend == "sqlite"
            else stack.enter_context(pg_state_url())
        )
        state = stack.enter_context(open_state(url))
        stack.enter_context(state.lock(LockRequest("apply")))
        apply_id = state.begin_apply()
        state.record_batch(apply_id, 0, [LedgerRow(f"u{i}", "a", str(i)) for i in range(3000)])
        state.finish_apply(apply_id, "applied")
        before = [r for batch in state.iter_ledger() for r in batch]
        # a cap below the 768MB floor does not lower compaction's; a floor this low shows the
        # failure (a first sync's log of a few million users, with the default one)
        monkeypatch.setattr("reconciler.state.ledger_reads.MEMORY_LIMIT", "1KB")
        monkeypatch.setenv("RECONCILER_MEMORY_LIMIT", "0.5KB")
        with pytest.raises(StateError, match="1KB memory limit") as refused:
            state.compact_ledger()
        assert "RECONCILER_MEMORY_LIMIT=2GB" in refused.value.hint
        assert state.log_cells() == 3000
        assert [r for batch in state.iter_ledger() for r in batch] == before
        with pytest.raises(UsageError, match="'lots' is not a size"):
            state.compact_ledger(memory_limit="lots")
        # the apply's own step: compaction is past its threshold here, and fails as a note
        monkeypatch.setattr("reconciler.apply.executor.COMPACT_MIN_CELLS", 1)
        progress = _Notes()
        assert _compact(state, progress, None) == 0
        assert progress.notes == [
            "ledger compaction skipped: folding the ledger log (3,000 cells) into a new snapshot "
            "needed more than the 1KB memory limit, even spilling to disk (the next apply "
            "retries; raise it with --memory-limit 2GB or RECONCILER_MEMORY_LIMIT=2GB; until "
            "then every plan overlays the log, which loses nothing)"
        ]
        # `apply --memory-limit` (or the environment) raises it
        assert _compact(state, progress, "256MB") == 3000
        assert state.log_cells() == 0
        assert [r for batch in state.iter_ledger() for r in batch] == before


def _old_rows(rows: list[tuple[str, str, str]]) -> list[tuple[int, str, int, str, int]]:
    names = sorted({a for _, a, _ in rows})
    return [(0, u, names.index(a) + 1, v, 3) for u, a, v in rows]


@pytest.fixture(autouse=True)
def _one_hash_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scratch state that makes the old rows and the migrated one hash pii alike."""
    monkeypatch.setenv("RECONCILER_HASH_KEY", "a-team-secret-from-the-secret-store")


def _first_sync_rows(manifests: Path, tmp_path: Path) -> list[tuple[str, str, str]]:
    plan = make_plan(manifests, f"sqlite:///{tmp_path / 'scratch.db'}", tmp_path / "s").plan
    return [(d.user_id, a, v) for d in plan.deltas() for a, v in d.writes]


@pytest.mark.parametrize("version", [1, 2])
def test_a_row_ledger_of_every_earlier_sqlite_schema_migrates_and_plans_empty(
    tmp_path: Path, version: int
) -> None:
    work = generate(tmp_path / "w", 300)
    rows = _first_sync_rows(work / "original", tmp_path)
    path = tmp_path / "old.db"
    with SqliteState(path, migrations=MIGRATIONS[:version]) as old:
        assert old.meta().schema_version == version
    names = sorted({a for _, a, _ in rows})
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO attributes (aid, name) VALUES (?, ?)", enumerate(names, 1))
    legacy = [r[:4] for r in _old_rows(rows)] if version == 1 else _old_rows(rows)
    marks = ",".join("?" * len(legacy[0]))
    conn.executemany(f"INSERT INTO ledger VALUES ({marks})", legacy)
    conn.commit()
    conn.close()
    url = f"sqlite:///{path}"
    with open_state(url) as new:
        assert new.meta().schema_version == MIGRATIONS[-1].version
        assert new.ledger_count() == len(rows)
    assert make_plan(work / "original", url, tmp_path / "p").plan.summary.users_changed == 0
    with open_state(url) as new, new.lock(LockRequest("compact")):
        assert new.compact_ledger() == len(rows)
    assert make_plan(work / "original", url, tmp_path / "q").plan.summary.users_changed == 0


@pytest.mark.postgres
@pytest.mark.parametrize("version", [1, 2])
def test_a_row_ledger_of_every_earlier_postgres_schema_migrates_and_plans_empty(
    tmp_path: Path, version: int
) -> None:
    work = generate(tmp_path / "w", 300)
    rows = _first_sync_rows(work / "original", tmp_path)
    names = sorted({a for _, a, _ in rows})
    with pg_state_url() as url:
        with PostgresState(url, migrations=PG_MIGRATIONS[:version]) as old:
            assert old.meta().schema_version == version
            with old._tx() as c:  # noqa: SLF001 - writing the old layout by hand
                for aid, name in enumerate(names, 1):
                    c.execute("INSERT INTO attributes VALUES (%s, %s)", (aid, name))
                legacy = [r[:4] for r in _old_rows(rows)] if version == 1 else _old_rows(rows)
                marks = ",".join(["%s"] * len(legacy[0]))
                c.cursor().executemany(f"INSERT INTO ledger VALUES ({marks})", legacy)
        with open_state(url) as new:
            assert new.meta().schema_version == PG_MIGRATIONS[-1].version
            assert new.ledger_count() == len(rows)
        assert make_plan(work / "original", url, tmp_path / "p").plan.summary.users_changed == 0


@pytest.mark.slow
@pytest.mark.e2e
def test_50k_users_plan_and_apply_end_to_end_under_a_128mb_memory_cap(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> None:
    """The 1M-user acceptance run scaled down 20x, at 128 MB of DuckDB memory.

    768 MB / 20 = 40 MB runs out while typing the source, and 64 MB in the join of a
    churned plan with the snapshot: exit 1 naming --memory-limit, never a traceback.
    """
    work = generate(tmp_path / "w", 50_000)
    sandbox = sandbox_server_factory()
    env = {"BRAZE_REST_ENDPOINT": sandbox.url, "BRAZE_API_KEY": sandbox.key, "PATH": ""}
    state = f"sqlite:///{tmp_path / 'state.db'}"

    def cli(*args: str, manifests: str = "original") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                *args,
                "--manifests",
                str(work / manifests),
                "--state",
                state,
                "--memory-limit",
                "128MB",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=900,
        )

    applied = cli("apply", "--auto-approve", "--settle-window", "0")
    assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
    truth = json.loads((work / "ground_truth.json").read_text())
    assert sandbox.admin("GET", "stats")["objects"] == truth["first_sync"]["changed_users"]
    again = cli("plan", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"]["users_changed"] == 0
    churn = cli("plan", "--format", "json", manifests="churned")
    assert json.loads(churn.stdout)["summary"]["data_points"] == truth["expected_data_points"]
