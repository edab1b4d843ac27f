"""Converging when Braze and state disagree, end to end: the real CLI, a sandbox on loopback.

- A write that landed while its answer was lost (the process killed mid-request, or every
  answer dropped) is in doubt: after the source reverts, the next plan resends it.
- `drift --repair` marks what the sample found; the next apply puts it back.
- `plan --replace` resends exactly the chosen cells, with the cost shown first.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from drift.lab import user_id, write_workspace
from fixtures_sandbox import SandboxServer

from e2e.test_cli_drift import Site

pytestmark = pytest.mark.e2e


@pytest.fixture
def site(tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]) -> Site:
    return Site(write_workspace(tmp_path, 60), tmp_path / "state.db", sandbox_server_factory())


def set_tier(site: Site, uid: str, tier: str) -> None:
    path = site.manifests / "data" / "profile.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    column = rows[0].index("tier")
    for row in rows[1:]:
        if row[0] == uid:
            row[column] = tier
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def tier_in_braze(site: Site, uid: str) -> Any:
    with site.sandbox.client() as client:
        r = client.post(
            "/users/export/ids",
            json={"external_ids": [uid], "fields_to_export": ["external_id", "custom_attributes"]},
        )
        r.raise_for_status()
        (user,) = r.json()["users"]
        return user["custom_attributes"].get("loyalty_tier")


def plan_json(site: Site, *args: str) -> dict[str, Any]:
    proc = site.cli("plan", "--format", "json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def tier_change(plan: dict[str, Any]) -> dict[str, Any]:
    (found,) = [c for c in plan["attribute_changes"] if c["attribute"] == "loyalty_tier"]
    return found


def applied(site: Site) -> None:
    proc = site.cli("apply", "--auto-approve")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def applied_then_edited(site: Site, uid: str) -> tuple[str, str]:
    """Steps 1-2a: apply V1, then change the user's tier in the source to V2."""
    applied(site)
    v1 = tier_in_braze(site, uid)
    v2 = "gold" if v1 != "gold" else "bronze"
    set_tier(site, uid, v2)
    return v1, v2


def revert_then_converge(site: Site, uid: str, v1: str) -> None:
    """Steps 3-5: the source goes back to V1; the plan resends it; Braze then holds V1."""
    set_tier(site, uid, v1)
    plan = plan_json(site)
    assert plan["summary"]["cells_in_doubt"] == 1
    assert plan["summary"]["users_changed"] == 1 and plan["summary"]["data_points"] == 1
    assert tier_change(plan)["changed"] == 1
    text = site.cli("plan")
    assert "1 cell in doubt after an interrupted apply" in text.stdout
    applied(site)
    assert tier_in_braze(site, uid) == v1
    after = plan_json(site)
    assert after["summary"]["users_changed"] == 0 and after["summary"]["cells_in_doubt"] == 0


def test_a_write_that_landed_while_the_process_died_is_resent_after_a_revert(site: Site) -> None:
    uid = user_id(5)
    v1, v2 = applied_then_edited(site, uid)
    # The sandbox applies the write, then holds the answer for 30 s: the apply is killed then.
    site.sandbox.admin("POST", "config", {"latency_ms": 30_000})
    before = site.sandbox.admin("GET", "stats")["data_points"]
    proc = subprocess.Popen(
        site.command("apply", "--auto-approve"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=site.env(),
    )
    deadline = time.monotonic() + 60
    while site.sandbox.admin("GET", "stats")["data_points"] == before:
        assert time.monotonic() < deadline, "the write never reached the sandbox"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    site.sandbox.admin("POST", "config", {"latency_ms": 0})
    assert tier_in_braze(site, uid) == v2  # it landed; the ledger never heard
    unlocked = site.cli("state", "show")  # the dead holder's lock is taken over
    assert unlocked.returncode == 0, unlocked.stderr
    revert_then_converge(site, uid, v1)


@pytest.mark.slow
def test_a_lost_answer_without_a_crash_is_resent_after_a_revert(site: Site) -> None:
    uid = user_id(6)
    v1, v2 = applied_then_edited(site, uid)
    # The first attempt lands and its answer is dropped; every retry then fails before landing.
    schedule = [{"n": 1, "status": "drop", "when": "after"}]
    schedule += [{"n": n, "status": 503} for n in range(2, 12)]
    site.sandbox.admin("POST", "faults", {"fail_requests": schedule})
    failed = site.cli("apply", "--auto-approve")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    site.sandbox.admin("POST", "faults", {"fail_requests": []})
    assert tier_in_braze(site, uid) == v2
    revert_then_converge(site, uid, v1)


def test_drift_repair_then_apply_puts_back_every_drifted_cell(site: Site) -> None:
    applied(site)
    for i in (3, 9, 12):
        site.behind_our_back(user_id(i), {"loyalty_tier": "gold", "order_count": 999})
    found = site.cli("drift", "--window", "0", "--seed", "1", "--sample", "60")
    assert found.returncode == 2, found.stdout + found.stderr
    assert "reconciler drift --repair" in found.stdout  # what to run next
    as_json = site.cli("drift", "--window", "0", "--sample", "60", "--format", "json")
    drifted = json.loads(as_json.stdout)["repair"]["drifted_cells"]
    assert plan_json(site)["summary"]["users_changed"] == 0  # state alone cannot see it

    repaired = site.cli("drift", "--window", "0", "--seed", "1", "--sample", "60", "--repair")
    assert repaired.returncode == 2
    assert "Marked" in repaired.stdout and "drifted cells in doubt" in repaired.stdout
    plan = plan_json(site)
    assert plan["summary"]["cells_in_doubt"] == drifted >= 3
    assert plan["summary"]["data_points"] == drifted
    applied(site)
    clean = site.cli("drift", "--window", "0", "--sample", "60")
    assert clean.returncode == 0, clean.stdout
    assert "Result: no drift." in clean.stdout
    no_change = site.cli("plan")
    assert "No changes against state" in no_change.stdout
    assert "Last drift check of Braze" in no_change.stdout and "no drift" in no_change.stdout


def test_replace_resends_exactly_the_chosen_cells_with_the_cost_shown(site: Site) -> None:
    applied(site)
    before = site.sandbox.admin("GET", "stats")["data_points"]
    one = plan_json(site, "--replace", "loyalty_tier")
    assert one["summary"]["cells_replaced"] == one["summary"]["data_points"] == 60
    assert tier_change(one)["changed"] == 60
    assert [c["attribute"] for c in one["attribute_changes"]] == ["loyalty_tier"]
    user = plan_json(site, "--replace-user", user_id(4))
    cells = user["summary"]["cells_replaced"]
    assert user["summary"]["users_changed"] == 1 and cells == user["summary"]["data_points"] > 5
    proc = site.cli("apply", "--auto-approve", "--replace", "loyalty_tier")
    assert proc.returncode == 0, proc.stderr
    assert "60 cells resent by --replace" in proc.stdout  # shown before it is sent
    assert site.sandbox.admin("GET", "stats")["data_points"] - before == 60
    assert plan_json(site)["summary"]["users_changed"] == 0
    saved = site.cli("apply", str(site.state), "--replace", "x")  # a saved plan: refused
    assert saved.returncode == 1 and "shape a fresh plan" in saved.stderr


def test_a_drift_run_that_compared_nothing_is_inconclusive(site: Site) -> None:
    applied(site)
    proc = site.cli("drift")  # every user was written within the default 5-minute window
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "Result: inconclusive" in proc.stdout and "no drift" not in proc.stdout
    plan = site.cli("plan")
    assert "nothing it could compare (inconclusive)" in plan.stdout


BRAZE_ID_WORKSPACE = """\
apiVersion: reconciler/v1
kind: Workspace
metadata: {name: ids}
spec: {rest_endpoint: https://rest.iad-03.braze.com}
---
apiVersion: reconciler/v1
kind: Integration
metadata: {name: actioniq}
spec: {partner: actioniq, identifier: braze_id}
---
apiVersion: reconciler/v1
kind: AudienceMapping
metadata: {name: aiq-vip}
spec:
  integration: actioniq
  audience_id: "777"
  split_id: "1"
  members: {path: members.csv, identifier_column: braze_id}
  on_exit: set_false
"""


def test_writes_to_unknown_braze_ids_are_warned_verified_and_unrecorded(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "workspace.yaml").write_text(BRAZE_ID_WORKSPACE)
    (manifests / "members.csv").write_text(
        "braze_id\n5f0c0ffee0000000000000a1\n5f0c0ffee0000000000000a2\n"
    )
    site = Site(manifests, tmp_path / "state.db", sandbox_server_factory())
    planned = site.cli("plan")
    assert planned.returncode == 0, planned.stderr
    assert "keys users on braze_id" in planned.stdout
    proc = site.cli("apply", "--auto-approve", "--verify-window", "0")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # silent drops, reported
    assert "2 cells of users Braze does not hold were un-recorded" in proc.stdout
    again = plan_json(site)
    assert again["summary"]["users_changed"] == 2 and again["summary"]["cells_in_doubt"] == 2
