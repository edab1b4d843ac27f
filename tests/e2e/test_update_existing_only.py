"""`update_existing_only: true` end to end: the real CLI, a sandbox on loopback.

Amperity's own connector updates custom attributes only for users Braze already has (its
partner page); a sync that says so is sent with Braze's `_update_existing_only`. A user whose
object also carries an attribute of a creating sync (here an ActionIQ audience) is created as
before; one Braze has is updated; one it lacks is skipped by Braze, and drift does not call
that skip drift.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fixtures_sandbox import SandboxServer

pytestmark = pytest.mark.e2e

WORKSPACE = """\
apiVersion: reconciler/v1
kind: Workspace
metadata: {name: shop}
spec: {rest_endpoint: https://rest.iad-03.braze.com}
---
apiVersion: reconciler/v1
kind: Integration
metadata: {name: amperity}
spec: {partner: amperity, identifier: external_id}
---
apiVersion: reconciler/v1
kind: Integration
metadata: {name: actioniq}
spec: {partner: actioniq, identifier: external_id}
---
apiVersion: reconciler/v1
kind: AttributeSchema
metadata: {name: profile}
spec:
  integration: amperity
  attributes:
    - {name: loyalty_tier, type: String}
    - {name: order_count, type: Integer}
---
apiVersion: reconciler/v1
kind: AttributeSync
metadata: {name: profile}
spec:
  integration: amperity
  source: {path: data/profile.csv}
  identifier_column: external_id
  columns: {tier: loyalty_tier, orders: order_count}
  update_existing_only: true
---
apiVersion: reconciler/v1
kind: AudienceMapping
metadata: {name: high-value}
spec:
  integration: actioniq
  audience_id: "48213"
  split_id: "2"
  members: {path: data/aiq.csv, identifier_column: external_id}
"""

# u-member: in the audience (its object creates it); u-known: already in Braze; u-absent: neither
PROFILE = "external_id,tier,orders\nu-member,gold,3\nu-known,silver,1\nu-absent,bronze,7\n"


def _cli(root: Path, sandbox: SandboxServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "RECONCILER_"))}
    env.update(BRAZE_REST_ENDPOINT=sandbox.url, BRAZE_API_KEY=sandbox.key, NO_COLOR="1")
    state = f"sqlite:///{root / 'state.db'}"
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--manifests", str(root / "m")]
        + ["--state", state],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=120,
    )


def _user(sandbox: SandboxServer, external_id: str) -> dict[str, object] | None:
    try:
        found = sandbox.admin("GET", f"users/{external_id}")
    except httpx.HTTPStatusError as e:
        assert e.response.status_code == 404
        return None
    user: dict[str, object] = found["user"]
    return user


def test_only_users_braze_has_are_updated_and_the_skip_is_not_drift(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> None:
    (tmp_path / "m" / "data").mkdir(parents=True)
    (tmp_path / "m" / "workspace.yaml").write_text(WORKSPACE, encoding="utf-8")
    (tmp_path / "m" / "data" / "profile.csv").write_text(PROFILE, encoding="utf-8")
    (tmp_path / "m" / "data" / "aiq.csv").write_text("external_id\nu-member\n", encoding="utf-8")
    sandbox = sandbox_server_factory()
    sandbox.admin("POST", "users/u-known", {"custom_attributes": {}})

    shown = _cli(tmp_path, sandbox, "plan")
    assert shown.returncode == 0, shown.stderr
    assert "loyalty_tier (existing users)" in shown.stdout
    assert "AIQ_48213_2 (existing users)" not in shown.stdout
    assert (
        "(existing users): sent with _update_existing_only, Braze updates only the users it has"
        in shown.stdout
    )
    planned = json.loads(_cli(tmp_path, sandbox, "plan", "--format", "json").stdout)
    flags = {c["attribute"]: c.get("update_existing_only") for c in planned["attribute_changes"]}
    assert flags == {"AIQ_48213_2": None, "loyalty_tier": True, "order_count": True}

    # through a saved plan: the flags ride in its header
    saved = _cli(tmp_path, sandbox, "plan", "--out", str(tmp_path / "p.plan"))
    assert saved.returncode == 0, saved.stderr
    applied = _cli(tmp_path, sandbox, "apply", str(tmp_path / "p.plan"))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    member, known = _user(sandbox, "u-member"), _user(sandbox, "u-known")
    assert member is not None and known is not None
    assert member["custom_attributes"] == {"AIQ_48213_2": True, "loyalty_tier": "gold"} | {
        "order_count": 3
    }
    assert known["custom_attributes"] == {"loyalty_tier": "silver", "order_count": 1}
    assert _user(sandbox, "u-absent") is None  # skipped by Braze: never created

    # the ledger records what Braze acknowledged, so nothing is resent; the skipped user is
    # no drift: the sync updates only users Braze has
    again = _cli(tmp_path, sandbox, "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    drift = _cli(tmp_path, sandbox, "drift", "--window", "0")
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert "3 of 3 ledger users read back" in drift.stdout
    assert "Result: no drift." in drift.stdout
