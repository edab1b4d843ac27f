"""Team state on PostgreSQL through the real CLI: concurrent applies, kill -9, migration.

Every process is `python -m reconciler …` against a sandbox on a loopback port and a schema of
its own on the local PostgreSQL server. RECONCILER_HASH_KEY is fixed so that ledgers written
by different runs (and states) hold the same pii hashes and can be compared row for row.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixtures_postgres import pg_execute, pg_state_url
from fixtures_sandbox import SandboxServer
from psycopg import sql

from reconciler.state import LedgerRow, LockInfo, open_state
from reconciler.state.postgres import PostgresState

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
AMPERITY = "data/amperity/braze_customer_attributes.csv"
HASH_KEY = "e2e-team-hash-key"


@dataclass
class Team:
    """A copy of manifests/ (grown to `users` more customers) wired to one sandbox."""

    root: Path
    sandbox: SandboxServer
    key: str
    start_sandbox: Callable[[], SandboxServer]

    def on_fresh_sandbox(self) -> Team:
        """The same manifests and key against a sandbox of its own (an empty Braze)."""
        return Team(self.root, self.start_sandbox(), self.key, self.start_sandbox)

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "RECONCILER_"))}
        env.update(
            BRAZE_REST_ENDPOINT=self.sandbox.url,
            BRAZE_API_KEY=self.key,
            RECONCILER_HASH_KEY=HASH_KEY,
        )
        return env

    def command(self, state_url: str, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "reconciler",
            *args,
            "--manifests",
            str(self.manifests),
            "--state",
            state_url,
        ]

    def start(self, state_url: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(state_url, *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env(),
        )

    def run(self, state_url: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(state_url, *args),
            capture_output=True,
            text=True,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=240,
        )

    def track_requests(self) -> int:
        with self.sandbox.client(self.key) as client:
            r = client.get("/_sandbox/stats")
            r.raise_for_status()
            return int(r.json()["requests"].get("/users/track", 0))

    def slow_down(self, latency_ms: int) -> None:
        with self.sandbox.client(self.key) as client:
            client.post("/_sandbox/config", json={"latency_ms": latency_ms}).raise_for_status()


def grow(manifests: Path, users: int, prefix: str = "team") -> None:
    """Append `users` customers to the Amperity source, so an apply takes many requests."""
    path = manifests / AMPERITY
    with path.open(newline="") as fh:
        header = next(csv.reader(fh))
    with path.open("a", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for i in range(users):
            row = {
                "external_id": f"{prefix}-{i:05d}",
                "loyalty_tier": "bronze",
                "favorite_store": f"Store {i % 7}",
                "is_vip": "false",
                "first_order_date": "2022-01-01",
                "last_order_at": "2026-11-01T10:00:00Z",
                "ltv": f"{i}.25",
                "churn_score": "0.5",
                "order_count": str(i),
                "birthdate": "1990-01-01",
                "email_address": f"team{i}@example.org",
            }
            writer.writerow([row[h] for h in header])


@pytest.fixture
def team(tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]) -> Iterator[Team]:
    key = f"brz-{uuid.uuid4().hex}"
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - key: {key}\n    workspace: production\n")

    def start() -> SandboxServer:
        return sandbox_server_factory("--keys", str(keys), "--rate-limit", "100000")

    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    grow(tmp_path / "manifests", 1500)  # 20 /users/track requests of 75 users
    yield Team(tmp_path, start(), key, start)


@pytest.fixture
def pg_state() -> Iterator[str]:
    with pg_state_url() as url:
        yield url


def ledger(url: str) -> set[LedgerRow]:
    with open_state(url, create=False) as state:
        return {row for batch in state.iter_ledger() for row in batch}


def reference_ledger(team: Team, tmp_path: Path) -> set[LedgerRow]:
    """What one apply alone records: the same manifests, a fresh SQLite state, an empty Braze."""
    url = f"sqlite:///{tmp_path / 'reference.db'}"
    done = team.on_fresh_sandbox().run(url, "apply", "--auto-approve")
    assert done.returncode == 0, done.stderr
    return ledger(url)


def wait_for_holder(url: str, proc: subprocess.Popen[str], *, batches: int = 0) -> LockInfo:
    """Poll until `proc` holds the lock (and has journaled `batches`); returns the lock."""
    deadline = time.monotonic() + 120
    with open_state(url) as state:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            lock = state.current_lock()
            journaled = len(state.journal(limit=batches + 1)) if batches else 0
            if lock is not None and lock.pid == proc.pid and journaled >= batches:
                return lock
            time.sleep(0.05)
    raise AssertionError("the first apply never took the lock")


def waiting_for_the_lock(url: str, holder: subprocess.Popen[str]) -> bool:
    """True once a session other than the holder's polls the advisory lock, holder still running.

    The waiting apply retries `pg_try_advisory_lock` on its lock session; pg_stat_activity shows
    that as the session's last query.
    """
    with open_state(url) as state:
        assert isinstance(state, PostgresState)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and holder.poll() is None:
            holders = {pid for pid, _app in state._holders()}
            polling = state._conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE query LIKE 'SELECT pg_try_advisory_lock(%' AND pid <> pg_backend_pid()"
            ).fetchall()
            if {pid for (pid,) in polling} - holders:
                return holder.poll() is None
            time.sleep(0.1)
    return False


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=240)
    return proc.returncode, out, err


def test_a_second_concurrent_apply_fails_fast_naming_the_holder(
    team: Team, pg_state: str, tmp_path: Path
) -> None:
    team.slow_down(400)  # the first apply holds the lock for a few seconds
    first = team.start(pg_state, "apply", "--auto-approve")
    lock = wait_for_holder(pg_state, first)

    started = time.monotonic()
    second = team.run(pg_state, "apply", "--auto-approve")
    refused_after = time.monotonic() - started
    assert first.poll() is None  # refused while the first was still running
    assert second.returncode == 1
    message = " ".join(second.stderr.split())
    holder = re.escape(f"{lock.user}@{lock.host} (pid {first.pid})")
    assert re.search(rf"is locked by {holder} for apply \(\S+\) since \S+, lock id", message)
    assert f"reconciler state unlock {lock.lock_id}" in message
    assert "Traceback" not in second.stderr
    assert refused_after < 30  # it plans, then fails at once: no waiting without --lock-timeout

    code, _out, err = finish(first)
    assert code == 0, err
    requests = team.track_requests()
    team.slow_down(0)
    assert ledger(pg_state) == reference_ledger(team, tmp_path)
    assert team.track_requests() == requests  # the second apply sent nothing
    again = team.run(pg_state, "plan", "--detailed-exitcode")
    assert again.returncode == 0 and "No changes against state" in again.stdout


def test_with_lock_timeout_the_second_apply_waits_then_has_nothing_left_to_do(
    team: Team, pg_state: str, tmp_path: Path
) -> None:
    team.slow_down(1200)
    first = team.start(pg_state, "apply", "--auto-approve")
    wait_for_holder(pg_state, first)
    second = team.start(pg_state, "apply", "--auto-approve", "--lock-timeout", "2m")
    assert waiting_for_the_lock(pg_state, first)  # the second polls while the first holds it

    code, _out, err = finish(first)
    assert code == 0, err
    requests = team.track_requests()
    code, out, err = finish(second)
    assert code == 0, err
    assert "No changes against state" in out  # it planned after the first apply, against its ledger
    assert team.track_requests() == requests  # and sent nothing
    team.slow_down(0)
    assert ledger(pg_state) == reference_ledger(team, tmp_path)
    with open_state(pg_state, create=False) as state:
        statuses = [a.status for a in state.applies()]
    assert statuses == ["applied"]


def test_a_bad_lock_timeout_is_a_usage_error(team: Team, pg_state: str) -> None:
    proc = team.run(pg_state, "apply", "--auto-approve", "--lock-timeout", "soon")
    assert proc.returncode == 1
    assert "--lock-timeout: 'soon' is not a duration" in proc.stderr
    assert team.track_requests() == 0


def test_kill_9_of_the_holder_on_another_host_frees_the_lock_for_the_next_apply(
    team: Team, pg_state: str, tmp_path: Path
) -> None:
    team.slow_down(300)
    first = team.start(pg_state, "apply", "--auto-approve")
    wait_for_holder(pg_state, first, batches=2)
    # Make the holder look remote: its pid cannot be checked from here, only its session ends.
    pg_execute(
        pg_state,
        sql.SQL("UPDATE {}.lock SET host = 'ci-runner-7'").format(
            sql.Identifier(pg_state.rsplit("schema=", 1)[1])
        ),
    )
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.stdout is not None and first.stderr is not None
    first.stdout.close()
    first.stderr.close()
    team.slow_down(0)

    nxt = team.run(pg_state, "apply", "--auto-approve")
    assert nxt.returncode == 0, nxt.stderr
    assert ledger(pg_state) == reference_ledger(team, tmp_path)
    with open_state(pg_state, create=False) as state:
        assert [a.status for a in state.applies()] == ["applied", "interrupted"]
        assert state.current_lock() is None


def test_sqlite_state_migrated_to_postgres_is_the_same_state(
    team: Team, pg_state: str, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'local.db'}"
    assert team.run(sqlite_url, "apply", "--auto-approve").returncode == 0
    saved = tmp_path / "later.plan"
    grow(
        team.manifests, 10, prefix="late"
    )  # ten more customers: a plan made against the SQLite state …
    assert team.run(sqlite_url, "plan", "--out", str(saved)).returncode == 0

    moved = team.run(sqlite_url, "state", "migrate", "--to", pg_state)
    assert moved.returncode == 0, moved.stderr
    assert "verified    row counts of 8 tables and content sha256" in moved.stdout

    def shown(url: str) -> dict[str, Any]:
        text = team.run(url, "state", "show").stdout
        return {k: re.search(rf"^{k}\s+(.+)$", text, re.M).group(1) for k in ("lineage", "serial")}  # type: ignore[union-attr]

    assert shown(pg_state) == shown(sqlite_url)
    assert ledger(pg_state) == ledger(sqlite_url)
    # … applies to the Postgres copy: same lineage and serial, so it is not stale there.
    applied = team.run(pg_state, "apply", str(saved))
    assert applied.returncode == 0, applied.stderr
    assert team.run(pg_state, "plan", "--detailed-exitcode").returncode == 0

    back = f"sqlite:///{tmp_path / 'back.db'}"
    assert team.run(pg_state, "state", "migrate", "--to", back).returncode == 0
    assert shown(back) == shown(pg_state)
    assert ledger(back) == ledger(pg_state)
