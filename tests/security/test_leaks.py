"""Leak scan: every output of a run whose API key and PII are known, searched for both.

The key sits in the environment and is distinctive (`brz-LEAKCANARY-…`); the PII is every user
identifier and every value of a `pii: true` attribute in the example sources, plus the values a
drifted profile and a rendered user bring in. Identifiers are masked and PII hidden in every
rendered output unless --show-values; the key appears nowhere, files included.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from reconciler.manifests import load_workspace
from reconciler.sources.desired import build_desired
from security.conftest import Workspace

pytestmark = pytest.mark.e2e

DRIFTED_EMAIL = "drifted.person@example.net"
RENDERED_EMAIL = "render.only@example.org"
RENDERED_ID = "cust-RENDER-7731"


def test_no_key_or_pii_in_any_output_or_file(workspace: Workspace, tmp_path: Path) -> None:
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}
    saved = workspace.root / "leak.plan"

    def run(name: str, *args: str, expect: int = 0, **kw: object) -> None:
        proc = workspace.cli(*args, **kw)  # type: ignore[arg-type]
        assert proc.returncode == expect, f"{name}: {proc.stdout}{proc.stderr}"
        outputs[name] = proc

    for fmt in ("text", "markdown", "json"):
        run(f"plan {fmt}", "plan", "--format", fmt, "--debug")
    wrong = workspace.env(BRAZE_API_KEY="brz-WRONGKEY-" + workspace.key[-12:][::-1])
    run("apply, 401", "apply", "--auto-approve", expect=1, env=wrong)
    run("apply --debug, 401", "apply", "--auto-approve", "--debug", expect=1, env=wrong)
    run("plan --out", "plan", "--out", str(saved), "--debug")
    summary = tmp_path / "step-summary.md"
    body = tmp_path / "body.md"
    body.write_text(outputs["plan markdown"].stdout)
    run(
        "github summary (the PR comment body)",
        "github",
        "summary",
        "--body-file",
        str(body),
        manifests=False,
        env=workspace.env(GITHUB_STEP_SUMMARY=str(summary)),
    )
    run("apply --debug", "apply", str(saved), "--debug")
    _drift_one_user(workspace)
    for fmt in ("text", "markdown", "json"):
        run(f"drift {fmt}", "drift", "--format", fmt, "--window", "0", "--debug", expect=2)
    run("state show", "state", "show")
    run("state list", "state", "list")
    run(
        "render",
        "render",
        "rokt-calendar-add-event",
        "--user",
        str(_render_user(tmp_path)),
        "--debug",
        state=False,
    )
    run("drift, 401", "drift", "--window", "0", expect=1, env=wrong)
    run("drift --debug, 401", "drift", "--window", "0", "--debug", expect=1, env=wrong)
    assert "401" in outputs["apply, 401"].stderr or "invalid" in outputs["apply, 401"].stderr

    texts = {name: p.stdout + p.stderr for name, p in outputs.items()}
    texts["step summary"] = summary.read_text()
    pii = _pii_values(workspace.manifests) | {DRIFTED_EMAIL, RENDERED_EMAIL, RENDERED_ID}
    assert len(pii) > 20  # the scan has something to find
    secrets = {workspace.key, wrong["BRAZE_API_KEY"]}

    leaks = [
        (name, value) for name, text in texts.items() for value in pii | secrets if value in text
    ]
    assert leaks == []
    # --debug shows the traceback of a Braze error on purpose; it is scanned like the rest
    assert [name for name, text in texts.items() if "Traceback" in text] == [
        "apply --debug, 401",
        "drift --debug, 401",
    ]

    # files: the key never; pii values in state only as keyed hashes. A saved plan holds the
    # values it will send (like source data), so only the key is searched for there.
    state = _sqlite_dump(workspace.state_path)
    plan_text = gzip.open(saved, "rt", encoding="utf-8").read()
    assert [s for s in secrets if s in state or s in plan_text] == []
    pii_values = _pii_values(workspace.manifests, identifiers=False) | {DRIFTED_EMAIL}
    assert sorted(v for v in pii_values if v in state) == []


def test_show_values_reveals_what_the_scan_hides(workspace: Workspace) -> None:
    """The negative control: the same values do appear when asked for, so the scan can see them."""
    shown = workspace.cli("plan", "--show-values")
    assert shown.returncode == 0, shown.stderr
    assert "camille.martin@example.com" in shown.stdout
    assert "cust-0001" in shown.stdout
    assert "camille.martin@example.com" not in workspace.cli("plan").stdout


def _drift_one_user(ws: Workspace) -> None:
    """Change a profile behind the reconciler's back, so drift reports (masked) user values."""
    with ws.sandbox.client(ws.key) as client:
        r = client.post(
            "/users/track",
            json={
                "attributes": [
                    {"external_id": "cust-0002", "email": DRIFTED_EMAIL, "loyalty_tier": "bronze"}
                ]
            },
        )
        r.raise_for_status()


def _render_user(root: Path) -> Path:
    path = root / "render-user.json"
    user = {
        "external_id": RENDERED_ID,
        "email": RENDERED_EMAIL,
        "custom_attributes": {
            "rokt:account_code": ["brazetest/f5733866ade2"],
            "rokt:subscription_id": ["sub-7f1c2a/f5733866ade2"],
            "rokt:subscriber_email": [RENDERED_EMAIL],
        },
    }
    path.write_text(json.dumps(user))
    return path


def _sqlite_dump(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def _pii_values(manifests: Path, *, identifiers: bool = True) -> set[str]:
    """Every user identifier (if asked) and every value of a pii attribute in the sources."""
    desired = build_desired(load_workspace(manifests))
    found: set[str] = set()
    for cell in desired.iter_cells():
        if identifiers:
            found.add(cell.user_id)
        if desired.policies[cell.attribute].pii and cell.value is not None:
            values = cell.value if isinstance(cell.value, list) else [cell.value]
            found.update(str(v) for v in values)
    return found
