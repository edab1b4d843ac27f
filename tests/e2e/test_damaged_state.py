"""A damaged SQLite state through the real CLI: a damaged cache (the plan digests) costs one
plan that reads everything and changes nothing in it; damage to what the state must keep is a
clear error naming the state (exit 1), never "this is a bug in reconciler" (exit 3)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_workspace import CliWorkspace
from fixtures_sandbox import SandboxServer

pytestmark = pytest.mark.e2e

BUG = "this is a bug in reconciler"


@pytest.fixture
def applied(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> Iterator[CliWorkspace]:
    """The example workspace planned and applied once, so its state keeps a ledger and the
    digests of the plan it applied."""
    ws = CliWorkspace.start(tmp_path, sandbox_server_factory, f"brz-{uuid.uuid4().hex}")
    plan = str(tmp_path / "first.plan")
    assert ws.cli("plan", "--out", plan).returncode == 0
    done = ws.cli("apply", plan)
    assert done.returncode == 0, done.stderr
    yield ws


def _sql(ws: CliWorkspace, statement: str) -> None:
    with sqlite3.connect(ws.state_path) as con:
        assert con.execute(statement).rowcount == 1


@pytest.mark.parametrize("description", ["{not json", "[1]", '"a string"', "{}"])
def test_a_damaged_digests_description_reads_as_no_digests(
    applied: CliWorkspace, description: str
) -> None:
    before = applied.cli("plan", "--format", "json")
    assert before.returncode == 0, before.stderr
    _sql(applied, f"UPDATE meta SET value = '{description}' WHERE key = 'plan_digests'")
    after = applied.cli("plan", "--format", "json")
    assert after.returncode == 0, after.stderr
    assert BUG not in after.stderr
    assert _plan(after.stdout) == _plan(before.stdout)


def _plan(text: str) -> dict[str, object]:
    """A JSON plan without its id, which every plan draws afresh."""
    plan = json.loads(text)
    assert isinstance(plan, dict) and plan.pop("plan_id")
    return plan
