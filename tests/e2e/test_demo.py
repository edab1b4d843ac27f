"""`reconciler demo`: the whole loop against its own sandbox, on a copy of manifests/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_plan_apply_plan_edit_plan_and_leaves_nothing_behind(
    tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    manifests = tmp_path / "manifests"
    import shutil

    shutil.copytree(REPO / "manifests", manifests)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--manifests", str(manifests)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    steps = out.split("\n── ")
    assert [s.split(" ", 1)[0] for s in steps[1:]] == ["1.", "2.", "3.", "4.", "5."]
    assert "No changes against state" in steps[3]
    assert "users changed      1\n" in steps[4] and "data points        1 " in steps[4]
    assert '"gold" → "silver"' in steps[4]
    assert "Result: no drift." in steps[5]
    assert "Traceback" not in proc.stderr
    # headings and the apply line, with the port and the timings normalised
    shape = [
        line
        for line in out.splitlines()
        if line.startswith(("──", "sandbox:", "applied:", "partial:"))
    ]
    shape = [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line) for line in shape]
    shape = [re.sub(r"\d+\.\d s, [\d,]+ users/s", "T s, R users/s", line) for line in shape]
    assert shape == snapshot
    # the copy is untouched: the edit and the state happen in a temporary directory
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
