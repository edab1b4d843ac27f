"""Events end to end: the real CLI against a sandbox on a loopback port, exactly once."""

from __future__ import annotations

import csv
import datetime as dt
import json
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_workspace import CliWorkspace
from events.support import (
    AIQ_EVENTS,
    add_sendbird_stream,
    aiq_event,
    write_jsonl,
)
from fixtures_sandbox import SandboxServer

pytestmark = pytest.mark.e2e

AMPERITY = "data/amperity/braze_customer_attributes.csv"
KILL_EVENTS = 50_000
KILL_AFTER_ACKED = 10_000


class Workspace(CliWorkspace):
    """A copy of manifests/ (example events made recent) wired to a fresh sandbox and state."""

    def apply(self) -> subprocess.CompletedProcess[str]:
        proc = self.cli("apply", "--auto-approve", "--settle-window", "0")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def plan_json(self) -> dict[str, Any]:
        proc = self.cli("plan", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.sandbox.url, headers=headers, timeout=60.0) as client:
            r = client.request(method, path, json=body)
            r.raise_for_status()
            return r.json()

    def events(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "/_sandbox/events")["events"])

    def track_requests(self) -> int:
        return int(self.admin("GET", "/_sandbox/stats")["requests"].get("/users/track", 0))


@pytest.fixture
def workspace(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> Iterator[Workspace]:
    yield Workspace.start(tmp_path, sandbox_server_factory, f"brz-{uuid.uuid4().hex}")


def test_the_example_stream_is_applied_and_a_second_apply_sends_no_events(
    workspace: Workspace,
) -> None:
    plan = workspace.plan_json()
    assert plan["summary"]["events"] == 5
    assert plan["events"]["by_name"] == [
        {"stream": "aiq-events", "name": "aiq_cart_abandoned", "count": 2},
        {"stream": "aiq-events", "name": "aiq_product_viewed", "count": 3},
    ]
    proc = workspace.apply()
    assert "applied: 8 users and 5 events applied in 1 request" in proc.stdout
    sent = workspace.events()
    assert sorted((e["external_id"], e["name"]) for e in sent) == [
        ("cust-0001", "aiq_product_viewed"),
        ("cust-0002", "aiq_product_viewed"),
        ("cust-0003", "aiq_cart_abandoned"),
        ("cust-0005", "aiq_product_viewed"),
        ("cust-0008", "aiq_cart_abandoned"),
    ]

    assert workspace.plan_json()["summary"]["events"] == 0
    again = workspace.cli("apply", "--auto-approve")
    assert again.returncode == 0 and "No changes against state" in again.stdout
    assert len(workspace.events()) == 5
    assert workspace.track_requests() == 1


def test_appending_ten_events_makes_the_next_plan_show_exactly_ten(workspace: Workspace) -> None:
    workspace.apply()
    new = [aiq_event(500 + i, when=dt.datetime.now(dt.UTC)) for i in range(10)]
    write_jsonl(workspace.manifests / AIQ_EVENTS, new, append=True)

    plan = workspace.plan_json()
    assert plan["summary"]["events"] == 10
    assert plan["summary"]["users_changed"] == 0
    assert plan["events"]["by_name"] == [
        {"stream": "aiq-events", "name": "aiq_product_viewed", "count": 10}
    ]
    text = workspace.cli("plan", "--detailed-exitcode")
    assert text.returncode == 2
    assert "  events             10  (exactly once; 5 already sent)" in text.stdout
    assert "cust-0500" not in text.stdout  # identifiers masked

    workspace.apply()
    assert Counter(e["properties"].get("n") for e in workspace.events()) == Counter(
        [None] * 5 + list(range(500, 510))
    )
    assert workspace.plan_json()["summary"]["events"] == 0


def test_50_attribute_updates_and_50_events_due_together_go_in_2_requests(
    workspace: Workspace,
) -> None:
    workspace.apply()
    path = workspace.manifests / AMPERITY
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    template = rows[0]
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(template))
        for i in range(50):
            writer.writerow({**template, "external_id": f"new-{i:03d}", "birthdate": "1990-01-01",
                             "email_address": f"new{i}@example.org"})  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    write_jsonl(
        workspace.manifests / AIQ_EVENTS,
        [aiq_event(1000 + i, when=now, external_id=f"buyer-{i:03d}") for i in range(50)],
        append=True,
    )
    plan = workspace.plan_json()
    assert (plan["summary"]["users_changed"], plan["summary"]["events"]) == (50, 50)
    assert plan["summary"]["requests"] == 2

    before = workspace.track_requests()
    workspace.apply()
    assert workspace.track_requests() - before == 2
    assert len(workspace.events()) == 55


def test_invalid_events_are_located_by_validate_and_plan(workspace: Workspace) -> None:
    rows = [
        {"message_id": "m1", "event": "sendbird_notification", "user_id": "cust-0001",
         "sent_at": "2026-11-21T08:00:00Z", "properties": '{"status": "READ"}'},
        {"message_id": "m2", "event": "sendbird_notification", "user_id": "cust-0002",
         "sent_at": "2026-11-21T08:00:00Z", "properties": '{"status": "DELIVERED"}'},
    ]  # fmt: skip
    path = add_sendbird_stream(workspace.manifests, rows)
    expected = f"{path}:3:5: properties.status: 'DELIVERED' is not one of SENT, READ"

    validate = workspace.cli("validate")
    assert validate.returncode == 1
    assert expected in validate.stdout
    as_json = json.loads(workspace.cli("validate", "--format", "json").stdout)
    assert as_json["valid"] is False
    assert as_json["errors"][0] == {
        "path": str(path),
        "line": 3,
        "col": 5,
        "message": "properties.status: 'DELIVERED' is not one of SENT, READ",
        "hint": None,
    }

    plan = workspace.cli("plan")
    assert plan.returncode == 1
    assert expected in plan.stderr
    assert "1 bad events in the event streams" in plan.stderr
    assert "Traceback" not in plan.stderr
    assert "/users/track" not in workspace.admin("GET", "/_sandbox/stats")["requests"]


def _acked(state: Path) -> int:
    """Event ids the running apply has recorded (a read-only look at its SQLite state)."""
    if not state.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT count(*) FROM events").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0  # not created yet


def _landed(workspace: Workspace) -> int:
    """Events the sandbox holds from the 50k stream (the example's five carry no `n`)."""
    return len([e for e in workspace.events() if "n" in e["properties"]])


@pytest.mark.slow
def test_kill_9_during_an_apply_of_50k_events_then_a_second_apply_holds_each_event_once(
    workspace: Workspace,
) -> None:
    now = dt.datetime.now(dt.UTC)
    write_jsonl(
        workspace.manifests / AIQ_EVENTS,
        (
            aiq_event(i, when=now, external_id=f"shopper-{i % 20_000:05d}")
            for i in range(KILL_EVENTS)
        ),
    )
    workspace.admin("POST", "/_sandbox/config", {"latency_ms": 40})
    proc = subprocess.Popen(
        workspace.command("apply", "--auto-approve", "--settle-window", "0"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=workspace.env(),
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while _acked(workspace.state_path) < KILL_AFTER_ACKED and proc.poll() is None:
        assert time.monotonic() < deadline, "the apply did not get going"
        time.sleep(0.05)
    # From now on answers come 10 s after the write: kill once a request has landed unanswered,
    # the case a blind resend would duplicate.
    workspace.admin("POST", "/_sandbox/config", {"latency_ms": 10_000})
    while _landed(workspace) <= _acked(workspace.state_path) and proc.poll() is None:
        assert time.monotonic() < deadline, "no request landed unanswered"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr.decode()

    acked = _acked(workspace.state_path)
    assert KILL_AFTER_ACKED <= acked < KILL_EVENTS
    assert _landed(workspace) > acked  # in flight at the kill: landed, never recorded
    workspace.admin("POST", "/_sandbox/config", {"latency_ms": 0})

    plan = workspace.plan_json()
    assert plan["summary"]["events"] == KILL_EVENTS - acked
    assert plan["events"]["in_doubt"] > 0
    second = workspace.apply()
    assert "events an interrupted apply had sent were found in Braze and recorded" in second.stdout

    held = Counter(e["properties"]["n"] for e in workspace.events() if "n" in e["properties"])
    assert set(held.values()) == {1}  # each event exactly once
    assert sorted(held) == list(range(KILL_EVENTS))
    assert workspace.plan_json()["summary"]["events"] == 0
