"""No silent local state in CI: with CI set and no state configured, plan and apply refuse (and
write no file) instead of planning a full resend against a runner's fresh SQLite file. An
explicit --state, RECONCILER_STATE, or RECONCILER_ALLOW_LOCAL_STATE=1 goes ahead."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--manifests", "manifests"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "", "CI": "true", **env},
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    return tmp_path


@pytest.mark.parametrize("command", [("plan",), ("apply", "--auto-approve")])
def test_ci_with_no_state_configured_refuses_and_writes_nothing(
    site: Path, command: tuple[str, ...]
) -> None:
    done = run(site, *command, BRAZE_API_KEY="k", BRAZE_REST_ENDPOINT="http://127.0.0.1:9")
    assert done.returncode == 1
    assert "refusing to start a fresh local state" in done.stderr
    assert "RECONCILER_STATE" in done.stderr and "Traceback" not in done.stderr
    assert not (site / ".reconciler").exists()
    assert sorted(p.name for p in site.iterdir()) == ["manifests"]


def test_an_explicit_state_or_the_override_goes_ahead(site: Path) -> None:
    flag = run(site, "plan", "--state", f"sqlite:///{site / 'explicit.db'}")
    assert flag.returncode == 0, flag.stderr
    env = run(site, "plan", RECONCILER_STATE=f"sqlite:///{site / 'env.db'}")
    assert env.returncode == 0, env.stderr
    allowed = run(site, "plan", RECONCILER_ALLOW_LOCAL_STATE="1")
    assert allowed.returncode == 0, allowed.stderr
    not_ci = run(site, "plan", CI="false")
    assert not_ci.returncode == 0, not_ci.stderr
