"""Saved plans through the real CLI: `show PLANFILE` renders exactly what `plan --out` printed,
in every format, without the manifests or the state; a tripped guard fails the plan (exit 1,
one clear line) unless --allow-large, which still shows it."""

from __future__ import annotations

import base64
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "", "RECONCILER_HASH_KEY": "show-test-key"},
        check=False,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    return tmp_path


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_show_reproduces_plan_out_byte_for_byte(site: Path, fmt: str) -> None:
    planned = run(site, "plan", "--manifests", "manifests", "--format", fmt, "--out", "p.bin")
    assert planned.returncode == 0, planned.stderr
    (site / "manifests").rename(site / "gone")  # show needs neither manifests nor state
    shown = run(site, "show", "p.bin", "--format", fmt)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == planned.stdout
    assert "cust-0001" not in shown.stdout  # masked unless --show-values
    revealed = run(site, "show", "p.bin", "--format", fmt, "--show-values")
    assert "cust-0001" in revealed.stdout


def test_show_refuses_a_tampered_plan(site: Path) -> None:
    assert run(site, "plan", "--manifests", "manifests", "--out", "p.bin").returncode == 0
    data = bytearray((site / "p.bin").read_bytes())
    data[-20] ^= 0xFF
    (site / "p.bin").write_bytes(bytes(data))
    shown = run(site, "show", "p.bin")
    assert shown.returncode == 1
    assert "p.bin: " in shown.stderr and "Traceback" not in shown.stderr


def test_a_tripped_guard_fails_the_plan_unless_allow_large(site: Path) -> None:
    workspace = site / "manifests/workspace.yaml"
    text = workspace.read_text(encoding="utf-8")
    assert "max_data_points: 2000000" in text
    workspace.write_text(text.replace("max_data_points: 2000000", "max_data_points: 10"))
    tripped = run(site, "plan", "--manifests", "manifests")
    assert tripped.returncode == 1
    assert "FAIL max_data_points: 89, over the limit of 10" in tripped.stdout
    last = tripped.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 guard tripped (max_data_points): apply would refuse")
    allowed = run(site, "plan", "--manifests", "manifests", "--allow-large")
    assert allowed.returncode == 0, allowed.stderr
    assert "FAIL max_data_points: 89, over the limit of 10" in allowed.stdout


def test_an_encrypted_plan_reads_only_with_its_key(site: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    planned = run_with(
        site, {"RECONCILER_PLAN_KEY": key}, "plan", "--manifests", "manifests", "--out", "p.bin"
    )
    assert planned.returncode == 0, planned.stderr
    assert "encrypted with RECONCILER_PLAN_KEY" in planned.stderr
    raw = (site / "p.bin").read_bytes()
    for secret in (b"cust-0001", b"camille.martin@example.com", key.encode()):
        assert secret not in raw
    with pytest.raises(OSError):
        gzip.decompress(raw)
    shown = run_with(site, {"RECONCILER_PLAN_KEY": key}, "show", "p.bin")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Plan for workspace 'production'")
    nokey = run(site, "show", "p.bin")
    assert nokey.returncode == 1 and "RECONCILER_PLAN_KEY is not set" in nokey.stderr
    other = base64.b64encode(os.urandom(32)).decode()
    wrong = run_with(site, {"RECONCILER_PLAN_KEY": other}, "show", "p.bin")
    assert wrong.returncode == 1 and "does not decrypt" in wrong.stderr
    assert key not in wrong.stderr + wrong.stdout and other not in wrong.stderr


def run_with(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "", "RECONCILER_HASH_KEY": "show-test-key", **env},
        check=False,
    )
