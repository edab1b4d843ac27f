"""`reconciler plan` and `apply` end to end: the real CLI against a sandbox on a loopback port."""

from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cli_workspace import CliWorkspace
from fixtures_sandbox import SandboxServer

from reconciler.manifests import load_workspace
from reconciler.plan.event_model import MARKER_ATTRIBUTE
from reconciler.sources.desired import build_desired
from reconciler.state import LockRequest, open_state

pytestmark = pytest.mark.e2e

AMPERITY = "data/amperity/braze_customer_attributes.csv"
STANDARD = ("email", "dob")


class Workspace(CliWorkspace):
    """The example workspace, with the sandbox read back as Braze exports it."""

    def plan_json(self) -> dict[str, Any]:
        proc = self.cli("plan", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        with self.sandbox.client(self.key) as client:
            r = client.get("/_sandbox/stats")
            r.raise_for_status()
            return r.json()  # type: ignore[no-any-return]

    def export(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each user's standard fields and custom attributes, as Braze exports them."""
        out: dict[str, dict[str, Any]] = {}
        with self.sandbox.client(self.key) as client:
            for i in range(0, len(ids), 50):
                r = client.post(
                    "/users/export/ids",
                    json={
                        "external_ids": ids[i : i + 50],
                        "fields_to_export": ["external_id", "custom_attributes", *STANDARD],
                    },
                )
                r.raise_for_status()
                for user in r.json()["users"]:
                    values = dict(user.get("custom_attributes", {}))
                    values.update({f: user[f] for f in STANDARD if user.get(f) is not None})
                    out[user["external_id"]] = values
        return out


@pytest.fixture
def workspace(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> Iterator[Workspace]:
    yield Workspace.start(tmp_path, sandbox_server_factory, f"brz-{uuid.uuid4().hex}")


_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def normal(value: Any) -> Any:
    """One spelling per value: times as UTC seconds, numbers as floats, arrays as sorted."""
    if isinstance(value, dict) and set(value) == {"$time"}:
        value = value["$time"]
    if isinstance(value, str) and _TIME.match(value):
        if len(value) == 10:
            value += "T00:00:00Z"  # Braze keeps a date as midnight UTC
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return sorted(normal(v) for v in value)
    return value


def desired_values(manifests: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for cell in build_desired(load_workspace(manifests)).iter_cells():
        if cell.value is not None:
            out.setdefault(cell.user_id, {})[cell.attribute] = normal(cell.value)
    return out


def remote_values(ws: Workspace, ids: list[str]) -> dict[str, dict[str, Any]]:
    exported = ws.export(ids)
    return {
        u: {a: normal(v) for a, v in attrs.items() if a != MARKER_ATTRIBUTE}  # not an attribute
        for u, attrs in exported.items()
    }


def grow_amperity(ws: Workspace, users: int) -> list[str]:
    """Append `users` more customers to the Amperity source; returns their ids."""
    path = ws.manifests / AMPERITY
    with path.open(newline="") as fh:
        header = next(csv.reader(fh))
    ids = [f"cust-{1000 + i}" for i in range(users)]
    with path.open("a", newline="") as fh:
        writer = csv.writer(fh)
        for i, uid in enumerate(ids):
            row = {
                "external_id": uid,
                "loyalty_tier": "bronze",
                "favorite_store": f"Store {i % 7}",
                "is_vip": "false",
                "first_order_date": "2022-01-01",
                "last_order_at": "2026-11-01T10:00:00Z",
                "ltv": f"{i}.50",
                "churn_score": "0.5",
                "order_count": str(i),
                "birthdate": "1990-01-01",
                "email_address": f"bulk{i}@example.org",
            }
            writer.writerow([row[h] for h in header])
    return ids


def edit_amperity(ws: Workspace, edits: dict[str, dict[str, str]]) -> None:
    path = ws.manifests / AMPERITY
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
        fieldnames = list(rows[0])
    for row in rows:
        row.update(edits.get(row["external_id"], {}))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


def test_apply_leaves_exactly_the_desired_values_and_the_next_plan_is_empty(
    workspace: Workspace,
) -> None:
    proc = workspace.cli("apply", "--auto-approve")
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.splitlines()[-1]
    assert last.startswith("applied: 8 users and 5 events applied in 1 request ")
    desired = desired_values(workspace.manifests)
    assert remote_values(workspace, sorted(desired)) == desired
    assert workspace.stats()["data_points"] == 83 + 5 + 1  # attributes, events, event marker

    again = workspace.cli("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes against state" in again.stdout
    second = workspace.cli("apply", "--auto-approve")
    assert second.returncode == 0 and "No changes against state" in second.stdout
    assert workspace.stats()["requests"]["/users/track"] == 1


def test_k_changed_cells_cost_k_data_points_in_ceil_users_over_75_requests(
    workspace: Workspace,
) -> None:
    grow_amperity(workspace, 300)
    assert workspace.cli("apply", "--auto-approve").returncode == 0
    before = workspace.stats()

    edits: dict[str, dict[str, str]] = {}
    for i in range(160):  # 160 users: 160 tier changes, and 40 of them a new order count too
        edits[f"cust-{1000 + i}"] = {"loyalty_tier": "gold"}
        if i % 4 == 0:
            edits[f"cust-{1000 + i}"]["order_count"] = "9999"
    k = 160 + 40
    edit_amperity(workspace, edits)

    plan = workspace.plan_json()
    assert plan["summary"]["data_points"] == k
    assert plan["summary"]["users_changed"] == 160
    assert plan["summary"]["requests"] == math.ceil(160 / 75)
    assert workspace.cli("plan", "--detailed-exitcode").returncode == 2

    proc = workspace.cli("apply", "--auto-approve")
    assert proc.returncode == 0, proc.stderr
    after = workspace.stats()
    assert after["data_points"] - before["data_points"] == k
    track = after["requests"]["/users/track"] - before["requests"]["/users/track"]
    assert track == math.ceil(160 / 75)
    desired = desired_values(workspace.manifests)
    assert remote_values(workspace, sorted(edits)) == {u: desired[u] for u in edits}
    assert workspace.cli("plan", "--detailed-exitcode").returncode == 0


def test_a_saved_plan_applies_and_a_stale_one_is_refused_with_the_reason(
    workspace: Workspace,
) -> None:
    saved = workspace.root / "first.plan"
    assert workspace.cli("plan", "--out", str(saved)).returncode == 0
    stale = workspace.root / "stale.plan"
    assert workspace.cli("plan", "--out", str(stale)).returncode == 0

    # a saved plan needs no confirmation, and applying it never loads the planning engine
    profiled = {**workspace.env(), "PYTHONPROFILEIMPORTTIME": "1"}
    proc = workspace.cli("apply", str(saved), env=profiled)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("applying saved plan ")
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "reconciler.state.sqlite" in imported
    assert not {"duckdb", "reconciler.plan.diff", "reconciler.sources.desired"} & imported
    assert f" at {workspace.sandbox.url}: " in proc.stdout.splitlines()[0]

    refused = workspace.cli("apply", str(stale))
    assert refused.returncode == 1
    # serial 0 → 6: three content blocks, then one batch of users and events (its event
    # intent recorded before sending and cleared after, reconciler.apply.events)
    assert "the saved plan is stale: the state changed since the plan (serial 0 → 6)" in (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr

    edit_amperity(workspace, {"cust-0001": {"loyalty_tier": "silver"}})
    fresh = workspace.root / "fresh.plan"
    assert workspace.cli("plan", "--out", str(fresh)).returncode == 0
    edit_amperity(workspace, {"cust-0001": {"loyalty_tier": "bronze"}})
    refused = workspace.cli("apply", str(fresh))
    assert refused.returncode == 1
    assert f"{AMPERITY} changed" in refused.stderr
    assert workspace.stats()["requests"]["/users/track"] == 1


def test_a_fresh_plan_is_not_applied_without_confirmation(workspace: Workspace) -> None:
    proc = workspace.cli("apply")  # stdin is not a terminal
    assert proc.returncode == 1
    assert "pass --auto-approve" in proc.stderr
    assert "/users/track" not in workspace.stats()["requests"]


def test_a_missing_key_fails_before_anything_is_sent(workspace: Workspace) -> None:
    env = workspace.env()
    env.pop("BRAZE_API_KEY")
    proc = workspace.cli("apply", "--auto-approve", env=env)
    assert proc.returncode == 1
    assert "BRAZE_API_KEY is not set" in proc.stderr
    assert workspace.stats()["requests"] == {}


def test_a_wrong_key_is_a_located_braze_error_without_the_key(workspace: Workspace) -> None:
    proc = workspace.cli("apply", "--auto-approve", env=workspace.env(BRAZE_API_KEY="brz-wrong"))
    assert proc.returncode == 1
    assert "401" in proc.stderr or "invalid" in proc.stderr.lower()
    assert "brz-wrong" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_rejected_users_are_reported_masked_and_planned_again(workspace: Workspace) -> None:
    long_id = "cust-" + "7" * 990 + "b42c"  # over Braze's 987-byte limit
    edit_amperity(workspace, {"cust-0003": {"external_id": long_id}})
    proc = workspace.cli("apply", "--auto-approve")
    assert proc.returncode == 1
    assert "1 users rejected by Braze, not recorded:" in proc.stdout
    assert "external_id cus…b42c: EXTERNAL_USER_ID_TOO_LARGE" in proc.stdout
    assert "Braze rejected 1 of 9 users" in proc.stderr
    assert long_id not in proc.stdout + proc.stderr
    plan = workspace.plan_json()
    assert plan["summary"]["users_changed"] == 1  # only the rejected user is planned again


def test_a_second_apply_is_refused_while_the_lock_is_held(workspace: Workspace) -> None:
    with open_state(f"sqlite:///{workspace.state_path}") as store:
        with store.lock(LockRequest(operation="apply", info="a merge on main")):
            proc = workspace.cli("apply", "--auto-approve")
            lock = store.current_lock()
    assert proc.returncode == 1
    assert lock is not None
    assert lock.lock_id in proc.stderr
    assert "apply" in proc.stderr and "reconciler state unlock" in proc.stderr
    assert "/users/track" not in workspace.stats()["requests"]


def test_no_identifier_email_or_key_leaks_into_outputs_plan_or_state(
    workspace: Workspace,
) -> None:
    saved = workspace.root / "leak.plan"
    outputs = [
        workspace.cli("plan", "--out", str(saved)),
        workspace.cli("plan", "--format", "markdown"),
        workspace.cli("plan", "--format", "json"),
        workspace.cli("apply", "--auto-approve", "--debug"),
        workspace.cli("plan", "--format", "markdown"),
        workspace.cli("state", "show"),
        workspace.cli("state", "list"),
    ]
    text = "\n".join(p.stdout + p.stderr for p in outputs)
    assert all(p.returncode == 0 for p in outputs), text
    files = saved.read_bytes() + _sqlite_dump(workspace.state_path).encode()

    pii = _pii_and_identifiers(workspace.manifests)
    assert pii  # the scan has something to find
    leaked = sorted(v for v in pii if v in text)
    assert leaked == []
    assert workspace.key not in text
    assert workspace.key.encode() not in files
    emails = sorted(v for v in pii if "@" in v and v.encode() in files)
    assert emails == []  # pii values are stored as keyed hashes only

    shown = workspace.cli("plan", "--show-values", "--format", "markdown")
    edit_amperity(workspace, {"cust-0001": {"email_address": "new.address@example.com"}})
    shown = workspace.cli("plan", "--show-values")
    assert "new.address@example.com" in shown.stdout
    assert "new.address@example.com" not in workspace.cli("plan").stdout


def _sqlite_dump(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def _pii_and_identifiers(manifests: Path) -> set[str]:
    """Every user identifier and every value of a pii attribute in the example sources."""
    m = load_workspace(manifests)
    desired = build_desired(m)
    found: set[str] = set()
    for cell in desired.iter_cells():
        found.add(cell.user_id)
        if desired.policies[cell.attribute].pii and cell.value is not None:
            values = cell.value if isinstance(cell.value, list) else [cell.value]
            found.update(str(v) for v in values)
    return found


def test_a_broken_source_after_an_apply_is_a_located_error(workspace: Workspace) -> None:
    """The ledger loads on a thread while the sources are typed; a bad source must stop both."""
    assert workspace.cli("apply", "--auto-approve").returncode == 0
    path = workspace.manifests / AMPERITY
    text = path.read_text()
    path.write_text(text.replace("external_id,", "customer,", 1))
    proc = workspace.cli("plan")
    assert proc.returncode == 1, proc.stderr
    assert f"{AMPERITY}:1:1: missing columns: external_id" in proc.stderr
    assert "internal error" not in proc.stderr


def test_a_saved_plan_names_where_it_sends_and_where_it_was_made_for(
    workspace: Workspace,
) -> None:
    """BRAZE_REST_ENDPOINT set for the apply but not the plan: the apply names the endpoint it
    really writes to, and the one the reviewed plan showed."""
    saved = workspace.root / "elsewhere.plan"
    made = workspace.env()
    del made["BRAZE_REST_ENDPOINT"]
    assert workspace.cli("plan", "--out", str(saved), env=made).returncode == 0
    proc = workspace.cli("apply", str(saved))
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert f" at {workspace.sandbox.url} (the plan was made for https://rest." in header
    assert workspace.stats()["requests"]["/users/track"] == 1
