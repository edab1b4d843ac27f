"""A PostgreSQL restart in the middle of a 20k-user apply, through the real CLI.

The state lives on a server of the test's own (tests/private_postgres.py), restarted with two
seconds of downtime once the apply has recorded a few dozen batches. The apply reconnects and
completes; Braze then holds exactly what the sources say: every data point planned was sent
once, the next plan is empty, and a drift read-back of 300 users matches the state.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from fixtures_sandbox import SandboxServer
from private_postgres import private_cluster
from scale.test_columnar import generate

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

USERS = 20_000


def journal_batches(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute("SELECT count(*) FROM team.journal").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0  # not created yet


def test_a_postgres_restart_mid_apply_reconnects_and_braze_equals_the_sources(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> None:
    work = generate(tmp_path / "w", USERS)
    truth = json.loads((work / "ground_truth.json").read_text())["first_sync"]
    sandbox = sandbox_server_factory()
    sandbox.admin("POST", "config", {"latency_ms": 15})
    env = {"BRAZE_REST_ENDPOINT": sandbox.url, "BRAZE_API_KEY": sandbox.key, "PATH": ""}
    with private_cluster() as server:
        state = f"{server.url}?schema=team"

        def cli(*args: str) -> list[str]:
            return [sys.executable, "-m", "reconciler", *args]

        common = ["--manifests", str(work / "original"), "--state", state]
        apply = subprocess.Popen(
            cli("apply", "--auto-approve", "--settle-window", "0", *common),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 240
        while journal_batches(server.url) < 30 and apply.poll() is None:
            assert time.monotonic() < deadline, "the apply recorded no batches"
            time.sleep(0.05)
        assert apply.poll() is None, "the apply finished before the restart"
        server.restart(down_seconds=2.0)
        out, err = apply.communicate(timeout=600)
        assert apply.returncode == 0, out[-2000:] + err[-2000:]
        assert "state: lost the connection to" in err
        assert "state: reconnected to" in err

        stats = sandbox.admin("GET", "stats")
        assert stats["data_points"] == truth["expected_data_points"]
        assert stats["objects"] == truth["expected_objects"]
        again = subprocess.run(
            cli("plan", "--format", "json", *common), capture_output=True, text=True, env=env
        )
        assert again.returncode == 0, again.stderr
        summary = json.loads(again.stdout)["summary"]
        assert (summary["users_changed"], summary["cells_in_doubt"]) == (0, 0)
        drift = subprocess.run(
            cli("drift", "--sample", "300", "--window", "0", "--format", "json", *common),
            capture_output=True,
            text=True,
            env=env,
        )
        assert drift.returncode == 0, drift.stdout[-2000:] + drift.stderr[-2000:]
