"""Webhook templates shipped as content blocks, end to end: the real CLI (subprocess) against a
sandbox on a loopback port. Blocks are created, updated, then left as orphans; `import` adopts
existing blocks so the first plan recreates nothing; credential values appear nowhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixtures_sandbox import SandboxServer

from reconciler.manifests import load_workspace
from reconciler.plan.content_blocks import desired_blocks, remote_fields

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SECRETS = {
    "BRAZE_API_KEY": "braze-key-e2e-4c8d2a7f",
    "SENDBIRD_API_TOKEN": "sb-token-e2e-91ab73cd",
    "ROKT_CALENDAR_API": "rokt-secret-e2e-55ef10aa",
}
ADD, UPDATE, SENDBIRD = (
    "rokt_calendar_add_event",
    "rokt_calendar_update_event",
    "sendbird_notification",
)


@dataclass
class Workspace:
    root: Path
    sandbox: SandboxServer
    outputs: list[str]

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def state_db(self) -> Path:
        return self.root / "state.db"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "RECONCILER_"))}
        env.update(SECRETS, BRAZE_REST_ENDPOINT=self.sandbox.url)
        command = [sys.executable, "-m", "reconciler", *args]
        command += ["--manifests", str(self.manifests), "--state", f"sqlite:///{self.state_db}"]
        proc = subprocess.run(
            command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
            check=False, timeout=120,
        )  # fmt: skip
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def ok(self, *args: str) -> str:
        proc = self.cli(*args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def plan(self) -> dict[str, Any]:
        return json.loads(self.ok("plan", "--format", "json"))  # type: ignore[no-any-return]

    def actions(self) -> dict[str, str]:
        return {
            r["content_block"].removeprefix("ContentBlock."): r["action"]
            for r in self.plan()["resource_changes"]
        }

    def http(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.sandbox.client(SECRETS["BRAZE_API_KEY"]) as client:
            r = client.request(method, path, **kwargs)
            r.raise_for_status()
            return r.json()

    def blocks(self) -> dict[str, dict[str, Any]]:
        """Every block in the sandbox by name, with its content (list, then info)."""
        listed = self.http("GET", "/content_blocks/list")["content_blocks"]
        return {
            b["name"]: self.http("GET", "/content_blocks/info", params={"content_block_id": b["content_block_id"]})
            for b in listed
        }  # fmt: skip

    def requests(self, path: str) -> int:
        return int(self.http("GET", "/_sandbox/stats")["requests"].get(path, 0))

    def bodies(self) -> dict[str, str]:
        m = load_workspace(self.manifests)
        return {t.spec.content_block: t.spec.body for t in m.webhook_templates}

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.manifests / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def assert_no_secret_anywhere(self) -> None:
        stored = self.state_db.read_bytes()
        remote = json.dumps(self.blocks())
        for value in SECRETS.values():
            assert all(value not in out for out in self.outputs)
            assert value.encode() not in stored
            assert value not in remote


@pytest.fixture
def workspace(tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(REPO / "manifests", root / "manifests")
    keys = tmp_path / "keys.yaml"
    # One key with every permission (none listed), so the secret under test is the real key.
    keys.write_text(f"keys: [{{key: {SECRETS['BRAZE_API_KEY']}}}]\n", encoding="utf-8")
    return Workspace(root, sandbox_server_factory("--keys", str(keys)), [])


def test_blocks_are_created_then_updated_then_left_as_orphans(workspace: Workspace) -> None:
    ws = workspace
    # 1. A first apply creates one active block per template, holding the template's body.
    assert ws.actions() == {ADD: "create", UPDATE: "create", SENDBIRD: "create"}
    out = ws.ok("apply", "--auto-approve")
    assert (
        "Set in the Braze dashboard" in out and "{{content_blocks.${sendbird_notification}}}" in out
    )
    blocks = ws.blocks()
    assert {name: b["content"] for name, b in blocks.items()} == ws.bodies()
    assert {b["state"] for b in blocks.values()} == {"active"}
    for name in (ADD, UPDATE, SENDBIRD):
        assert f"created content block {name} (id {blocks[name]['content_block_id']})" in out
    assert ws.cli("plan", "--detailed-exitcode").returncode == 0  # converged
    assert "Set in the Braze dashboard" not in ws.ok("plan")  # shown once, not every time

    # 2. A body edit updates that block in place (same id), and nothing else.
    ws.edit("sendbird.yaml", '"template_key": "order_update"', '"template_key": "order_shipped"')
    assert ws.actions()[SENDBIRD] == "update"
    out = ws.ok("apply", "--auto-approve")
    assert "updated content block sendbird_notification (content)" in out
    after = ws.blocks()
    assert '"template_key": "order_shipped"' in after[SENDBIRD]["content"]
    assert after[SENDBIRD]["content_block_id"] == blocks[SENDBIRD]["content_block_id"]
    assert ws.requests("/content_blocks/update") == 1
    assert ws.cli("plan", "--detailed-exitcode").returncode == 0

    # 3. A removed template and a renamed block: the old blocks become orphans, never deleted.
    text = (ws.manifests / "sendbird.yaml").read_text(encoding="utf-8")
    cut = text.index("---\napiVersion: reconciler/v1\nkind: WebhookTemplate")
    (ws.manifests / "sendbird.yaml").write_text(text[:cut], encoding="utf-8")
    ws.edit("rokt_calendar.yaml", f"content_block: {UPDATE}", "content_block: rokt_update_v2")
    plan_text = ws.ok("plan")
    assert "renamed to 'rokt_update_v2': a new block is created" in plan_text
    assert "no WebhookTemplate ships it any more; Braze has no delete" in plan_text
    assert "A content block's name locks once it is active" in plan_text
    assert ws.actions() == {
        ADD: "no-op",
        "rokt_update_v2": "create",
        UPDATE: "orphan",
        SENDBIRD: "orphan",
    }
    ws.ok("apply", "--auto-approve")
    assert set(ws.blocks()) == {ADD, UPDATE, SENDBIRD, "rokt_update_v2"}  # all still there
    proc = ws.cli("plan", "--detailed-exitcode")
    assert proc.returncode == 0, "orphans alone are not changes"
    assert "! ContentBlock.sendbird_notification" in proc.stdout
    ws.assert_no_secret_anywhere()


def test_import_then_plan_shows_no_recreation(workspace: Workspace) -> None:
    ws = workspace
    desired = {d.name: remote_fields(d.spec) for d in desired_blocks(load_workspace(ws.manifests))}
    # A live workspace: two blocks as the manifests have them (a lost state), one made by hand,
    # and one no template ships.
    for fields in [
        desired[ADD],
        desired[UPDATE],
        {"name": SENDBIRD, "content": '{"receivers": ["{{custom_attribute.${sendbird_id}}}"]}'},
        {"name": "newsletter_footer", "content": "Bye: {{${set_user_to_unsubscribed_url}}}"},
    ]:
        ws.http("POST", "/content_blocks/create", json=fields)
    assert set(ws.actions().values()) == {"create"}  # without import, apply would fail

    dry = ws.ok("import", "--dry-run")
    assert "would adopt 3 object(s)" in dry
    assert set(ws.actions().values()) == {"create"}  # a dry run writes nothing

    out = ws.ok("import")
    assert f"← {ADD}: adopted" in out and f"← {UPDATE}: adopted" in out
    assert out.count("it matches the manifests") == 2
    assert "content and description differ: the plan updates the block" in out
    assert "1 other content block(s) in Braze: not managed, left alone" in out
    assert ws.actions() == {ADD: "no-op", UPDATE: "no-op", SENDBIRD: "update"}

    ws.ok("apply", "--auto-approve")
    assert ws.requests("/content_blocks/create") == 4  # only the four made above
    assert ws.blocks()[SENDBIRD]["content"] == desired[SENDBIRD]["content"]
    assert ws.cli("plan", "--detailed-exitcode").returncode == 0
    again = json.loads(ws.ok("import", "--format", "json"))
    (blocks,) = [s for s in again["sections"] if s["title"] == "Content blocks"]
    assert blocks["adoptions"] == []  # every block is already in state
    assert blocks["notes"] == [f"= {name}: already in state" for name in (ADD, UPDATE, SENDBIRD)]
    ws.assert_no_secret_anywhere()


def test_a_block_that_exists_but_is_not_in_state_fails_with_the_fix(workspace: Workspace) -> None:
    ws = workspace
    ws.http("POST", "/content_blocks/create", json={"name": SENDBIRD, "content": "x"})
    proc = ws.cli("apply", "--auto-approve")
    assert proc.returncode == 1
    assert "Content Block with this name already exists" in proc.stderr
    assert "`reconciler import` adopts it, then plan again" in proc.stderr
    assert "Traceback" not in proc.stderr
    # The user batches were not held back by the block.
    assert ws.requests("/users/track") == 1


def test_a_block_edited_in_braze_is_put_back_by_drift_repair_then_apply(
    workspace: Workspace,
) -> None:
    """drift finds a dashboard edit of a block; `--repair` records the block as Braze holds
    it, so the next plan shows the edit as an update and apply puts the manifests' body
    back (before, plan said "No changes" and the edited body stayed in Braze)."""
    ws = workspace
    ws.ok("apply", "--auto-approve")
    block = ws.blocks()[SENDBIRD]
    edited = {"content_block_id": block["content_block_id"], "content": "edited by hand"}
    ws.http("POST", "/content_blocks/update", json=edited)
    assert ws.cli("plan", "--detailed-exitcode").returncode == 0  # state alone cannot see it

    found = ws.cli("drift", "--window", "0", "--repair")
    assert found.returncode == 2, found.stdout + found.stderr
    assert "ContentBlock.sendbird_notification" in found.stdout
    assert "Recorded 1 content block(s) as edited in Braze" in found.stdout
    assert ws.actions()[SENDBIRD] == "update"
    assert "edited by hand" in ws.ok("plan")  # the diff shows what apply reverts

    ws.ok("apply", "--auto-approve")
    assert ws.blocks()[SENDBIRD]["content"] == ws.bodies()[SENDBIRD]
    assert ws.cli("plan", "--detailed-exitcode").returncode == 0
    clean = ws.cli("drift", "--window", "0")
    assert "ContentBlock.sendbird_notification" not in clean.stdout
