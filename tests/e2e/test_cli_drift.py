"""`reconciler drift` and `apply --verify` end to end: the real CLI, a sandbox on loopback.

A real `reconciler apply` fills the sandbox and the ledger; a change made through the
sandbox's bypass endpoint (no ledger, no delay: a human in the dashboard) must be found,
located and counted; a clean workspace exits 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from drift.lab import user_id, write_workspace
from fixtures_sandbox import SandboxServer

pytestmark = pytest.mark.e2e


@dataclass
class Site:
    manifests: Path
    state: Path
    sandbox: SandboxServer

    def env(self, key: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "RECONCILER_"))}
        env.update(BRAZE_REST_ENDPOINT=self.sandbox.url, BRAZE_API_KEY=key or self.sandbox.key)
        return env

    def command(self, *args: str) -> list[str]:
        command = [sys.executable, "-m", "reconciler", *args]
        return command + ["--manifests", str(self.manifests), "--state", f"sqlite:///{self.state}"]

    def cli(self, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=self.env(key),
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=120,
        )

    def behind_our_back(self, external_id: str, custom: dict[str, Any]) -> None:
        self.sandbox.admin("POST", f"users/{external_id}", {"custom_attributes": custom})


@pytest.fixture
def site(tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]) -> Site:
    return Site(write_workspace(tmp_path, 60), tmp_path / "state.db", sandbox_server_factory())


def test_drift_is_clean_after_apply_then_finds_and_locates_a_change(site: Site) -> None:
    applied = site.cli("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr

    clean = site.cli("drift", "--window", "0", "--seed", "3")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "60 of 60 ledger users read back" in clean.stdout
    assert "Result: no drift." in clean.stdout

    site.behind_our_back(user_id(7), {"loyalty_tier": "gold"})
    found = site.cli("drift", "--window", "0", "--seed", "3")
    assert found.returncode == 2, found.stdout + found.stderr
    assert 'use…0007  loyalty_tier: changed: "silver" → "gold"' in found.stdout
    assert "drifted users      1 of 60" in found.stdout
    assert user_id(7) not in found.stdout  # identifiers are masked

    shown = site.cli("drift", "--window", "0", "--seed", "3", "--show-values")
    assert f'{user_id(7)}  loyalty_tier: changed: "silver" → "gold"' in shown.stdout

    md = site.cli("drift", "--window", "0", "--format", "markdown")
    assert md.returncode == 2
    assert md.stdout.startswith(
        "<!-- reconciler:drift:lab -->\n**reconciler drift · lab**: drift found"
    )

    as_json = site.cli("drift", "--window", "0", "--format", "json", "--sample", "500")
    assert as_json.returncode == 2
    report = json.loads(as_json.stdout)  # stdout holds the JSON alone
    assert report["drift"] is True and report["users"]["drifted_users"] == 1
    (example,) = report["users"]["examples"]
    assert (example["user"], example["attribute"], example["kind"]) == (
        "use…0007",
        "loyalty_tier",
        "changed",
    )
    assert report["users"]["estimate"]["rate"] == pytest.approx(1 / 60, abs=1e-6)
    assert report["schema"]["requests"]["used"] == 2


def test_right_after_apply_the_consistency_window_skips_the_users_just_written(site: Site) -> None:
    assert site.cli("apply", "--auto-approve").returncode == 0
    site.behind_our_back(user_id(1), {"loyalty_tier": "gold"})
    proc = site.cli("drift")  # the default window: 5 minutes
    assert proc.returncode == 4, proc.stdout  # inconclusive: nothing could be compared
    assert "skipped 60 written in the last 5m" in proc.stdout
    assert "nothing to compare yet: run again in 5m" in proc.stdout


def test_schema_drift_alone_exits_2_with_what_to_do(site: Site) -> None:
    site.sandbox.admin("POST", "custom_attributes", {"name": "is_vip", "data_type": "String"})
    assert site.cli("apply", "--auto-approve").returncode == 0
    proc = site.cli("drift", "--window", "0")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (
        "DRIFT attribute is_vip: declared boolean, but Braze's type is forced to String"
        in proc.stdout
    )
    assert "fix: set the type to Boolean in the dashboard" in proc.stdout
    # the forced String type turned every boolean into "true"/"false": user data drifted too
    assert 'is_vip: another type in Braze: true → "true"' in proc.stdout


def test_drift_errors_exit_1(site: Site) -> None:
    no_state = site.cli("drift")
    assert no_state.returncode == 1 and "no state at" in no_state.stderr
    assert site.cli("apply", "--auto-approve").returncode == 0
    bad_key = site.cli("drift", key="not-a-key")
    assert bad_key.returncode == 1
    assert "not-a-key" not in bad_key.stderr and "refused the key (401)" in bad_key.stderr
    bad_window = site.cli("drift", "--window", "soon")
    assert bad_window.returncode == 1 and "--window: 'soon' is not a duration" in bad_window.stderr


def test_apply_verify_reports_silent_drops(site: Site) -> None:
    ok = site.cli("apply", "--auto-approve", "--verify", "20", "--verify-window", "0")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "verify: read back 20 of the users just written" in ok.stdout
    assert "every value landed in Braze" in ok.stdout


def test_apply_verify_exits_1_when_braze_dropped_acknowledged_values(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> None:
    site = Site(write_workspace(tmp_path, 30), tmp_path / "state.db", sandbox_server_factory())
    site.sandbox.admin("POST", "custom_attributes", {"name": "order_count", "blocklisted": True})
    proc = site.cli("apply", "--auto-approve", "--verify", "10", "--verify-window", "1s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "applied: 30 users" in proc.stdout  # Braze acknowledged every object
    assert "10 users have values Braze acknowledged but did not keep" in proc.stdout
    assert "order_count: missing in Braze" in proc.stdout
    assert "silent drops" in proc.stderr


def test_apply_verify_waits_out_replication_lag(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> None:
    site = Site(
        write_workspace(tmp_path, 20),
        tmp_path / "state.db",
        sandbox_server_factory("--consistency-delay-ms", "1500"),
    )
    proc = site.cli("apply", "--auto-approve", "--verify", "20", "--verify-window", "30s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "every value landed in Braze" in proc.stdout
