"""Sources in object storage, end to end through the real CLI: a local S3 (moto on loopback),
read through the same code path as AWS, and the sandbox.

plan → apply → plan (no changes) → one object replaced with one changed cell → the plan shows
exactly that cell → a plan saved before the replacement is refused as stale, naming the object.
Access denied, a missing object, an empty glob and a bad row inside a remote CSV each exit 1
with a located message; no credential appears in any output, plan file or state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures_s3 import ACCESS_KEY, SECRET_KEY, S3Server
from fixtures_sandbox import SandboxServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
AMPERITY = "data/amperity/braze_customer_attributes.csv"


class Site:
    def __init__(self, root: Path, s3: S3Server, sandbox: SandboxServer | None) -> None:
        self.root, self.s3, self.sandbox = root, s3, sandbox
        self.bucket = f"exports-{uuid.uuid4().hex[:8]}"
        self.client = s3.client()
        self.client.create_bucket(Bucket=self.bucket)
        shutil.copytree(REPO / "manifests", root / "manifests")
        self.state = f"sqlite:///{root / 'state.db'}"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def put(self, key: str, body: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def point(self, local: str, remote: str, extra: str = "") -> None:
        """Point the manifest that reads `local` at `remote` instead."""
        for yaml in self.manifests.glob("*.yaml"):
            text = yaml.read_text()
            for old in (f'path: "{local}"', f"path: {local}"):
                if old in text:
                    yaml.write_text(text.replace(old, f'path: "{remote}"{extra}'))
                    return
        raise AssertionError(local)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ["PATH"], "HOME": str(self.root), **self.s3.env()}
        env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
        if self.sandbox is not None:
            env |= {"BRAZE_REST_ENDPOINT": self.sandbox.url, "BRAZE_API_KEY": self.sandbox.key}
        stateful = args[0] in ("plan", "apply")
        return subprocess.run(
            [sys.executable, "-m", "reconciler", *args, "--manifests", str(self.manifests)]
            + (["--state", self.state] if stateful else []),
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            check=False,
            timeout=300,
        )


@pytest.fixture
def site(
    tmp_path: Path, s3_server: S3Server, sandbox_server_factory: Callable[..., SandboxServer]
) -> Site:
    site = Site(tmp_path, s3_server, sandbox_server_factory())
    amperity = (REPO / "manifests" / AMPERITY).read_bytes()
    site.point(AMPERITY, site.put("amperity/braze_customer_attributes.csv", amperity))
    audience = (REPO / "manifests/data/actioniq/aiq_48213_2.csv").read_bytes()
    site.put("actioniq/2026-12-02/aiq_48213_2.csv", b"external_id\ncust-0009\n")  # older
    site.put("actioniq/2026-12-03/aiq_48213_2.csv", audience)
    site.point(
        "data/actioniq/aiq_48213_2.csv, identifier_column: external_id}",
        f"s3://{site.bucket}/actioniq/{{date}}/aiq_48213_2.csv",
        ", pick: latest, identifier_column: external_id}",
    )
    return site


def plan_json(site: Site, *args: str) -> dict[str, Any]:
    done = site.cli("plan", "--format", "json", *args)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_plan_apply_replace_an_object_then_a_stale_saved_plan_names_it(site: Site) -> None:
    first = plan_json(site)
    assert first["summary"]["users_changed"] == 8
    tiers = {c["attribute"]: c for c in first["attribute_changes"]}
    assert tiers["AIQ_48213_2"]["set"] == 5  # the 2026-12-03 partition, not the older one
    applied = site.cli("apply", "--auto-approve", "--settle-window", "0")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert plan_json(site)["summary"]["users_changed"] == 0

    saved = site.cli("plan", "--out", "before.plan")
    assert saved.returncode == 0, saved.stderr
    text = (REPO / "manifests" / AMPERITY).read_text()
    site.put(
        "amperity/braze_customer_attributes.csv", text.replace(",gold,", ",silver,", 1).encode()
    )
    changed = plan_json(site)
    assert changed["summary"]["users_changed"] == 1
    assert changed["summary"]["attribute_updates"] == 1
    [cell] = [c for c in changed["attribute_changes"] if c["changed"]]
    assert cell["attribute"] == "loyalty_tier" and cell["changed"] == 1

    stale = site.cli("apply", "before.plan")
    assert stale.returncode == 1
    assert f"s3://{site.bucket}/amperity/braze_customer_attributes.csv changed" in stale.stderr

    everything = applied.stdout + applied.stderr + stale.stdout + stale.stderr
    everything += json.dumps(changed) + (site.root / "before.plan").read_bytes().decode("latin-1")
    everything += (site.root / "state.db").read_bytes().decode("latin-1")
    assert SECRET_KEY not in everything and ACCESS_KEY not in everything


def test_a_bad_row_inside_a_remote_csv_is_located_at_its_object(site: Site) -> None:
    text = (REPO / "manifests" / AMPERITY).read_text().replace(",gold,", ",platinum,", 1)
    url = site.put("amperity/braze_customer_attributes.csv", text.encode())
    for command in ("validate", "plan"):
        done = site.cli(command)
        assert done.returncode == 1, (command, done.stdout + done.stderr)
        out = done.stdout + done.stderr
        assert f"{url}:2:2: loyalty_tier: 'platinum' is not one of bronze, silver, gold" in out
        assert "Traceback" not in out


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("amperity/missing.csv", "not found"),
        ("nothing-here/*.csv", "the pattern matches no object"),
    ],
)
def test_a_missing_object_and_an_empty_glob_are_located_errors(
    site: Site, path: str, expected: str
) -> None:
    url = f"s3://{site.bucket}/{path}"
    site.point(f"s3://{site.bucket}/amperity/braze_customer_attributes.csv", url)
    for command in ("validate", "plan"):
        done = site.cli(command)
        assert done.returncode == 1
        out = done.stdout + done.stderr
        assert f"{url}: {expected}" in out, out
        assert "Traceback" not in out and SECRET_KEY not in out


def test_access_denied_is_a_located_error(
    tmp_path: Path, s3_server: S3Server, s3_denied: S3Server
) -> None:
    site = Site(tmp_path, s3_server, None)
    url = site.put(
        "amperity/braze_customer_attributes.csv", (REPO / "manifests" / AMPERITY).read_bytes()
    )
    site.point(AMPERITY, url)
    site.s3 = s3_denied  # the same names, asked of a server that refuses these credentials
    done = site.cli("plan")
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert f"{url}: access denied" in out, out
    assert "Traceback" not in out and SECRET_KEY not in out and ACCESS_KEY not in out
