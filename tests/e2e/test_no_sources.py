"""Workspaces that write no attribute: templates, schemas and events alone (a Sendbird setup
that recipients by `${user_id}`, ActionIQ forwarding events only, Rokt's templates), and a
workspace whose every AttributeSync and AudienceMapping was removed after an apply."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_workspace import CliWorkspace
from fixtures_sandbox import SandboxServer

pytestmark = pytest.mark.e2e

WRITERS = re.compile(r"^kind: (AttributeSync|AudienceMapping)$", re.MULTILINE)


def drop_writers(manifests: Path) -> int:
    """Remove every AttributeSync and AudienceMapping document; return how many."""
    dropped = 0
    for path in sorted(manifests.glob("*.yaml")):
        docs = path.read_text().split("\n---\n")
        kept = [d for d in docs if not WRITERS.search(d)]
        dropped += len(docs) - len(kept)
        path.write_text("\n---\n".join(kept))
    return dropped


def plan_json(ws: CliWorkspace) -> dict[str, Any]:
    proc = ws.cli("plan", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def ws(tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]) -> CliWorkspace:
    return CliWorkspace.start(tmp_path, sandbox_server_factory, f"brz-{uuid.uuid4().hex}")


def test_a_workspace_of_templates_and_events_alone_plans_and_applies(ws: CliWorkspace) -> None:
    assert drop_writers(ws.manifests) == 5
    assert ws.cli("validate").returncode == 0
    plan = plan_json(ws)
    assert plan["summary"]["users_changed"] == 0 and plan["summary"]["events"] == 5
    assert plan["attribute_changes"] == []
    text = ws.cli("plan")
    assert text.returncode == 0, text.stderr
    assert "0 users to update" in text.stdout and "5 events to send" in text.stdout

    applied = ws.cli("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = ws.cli("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes against state" in again.stdout


def test_removing_every_writer_after_an_apply_unsets_what_they_wrote(ws: CliWorkspace) -> None:
    first = ws.cli("apply", "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    written = plan_json(ws)
    assert written["summary"]["users_changed"] == 0

    drop_writers(ws.manifests)
    plan = plan_json(ws)
    unset = {c["attribute"]: c["unset"] for c in plan["attribute_changes"]}
    assert unset and all(n > 0 for n in unset.values())
    assert {c["set"] + c["changed"] for c in plan["attribute_changes"]} == {0}
    assert plan["summary"]["users_changed"] == 8
    assert plan["summary"]["data_points"] == sum(unset.values())

    applied = ws.cli("apply", "--auto-approve", "--allow-large")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = ws.cli("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes against state" in again.stdout
