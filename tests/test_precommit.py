"""The `reconciler-validate` pre-commit hook, through `pre-commit try-repo` on scratch repos.

pre-commit clones this repository and pip-installs it (`language: python`) into its own
environment, from whatever package index pip is configured with; nothing else is fetched.
The environment is built once (one PRE_COMMIT_HOME) and used for both repos.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _scratch(root: Path, name: str) -> Path:
    repo = root / name
    shutil.copytree(REPO / "manifests", repo / "manifests")
    _git(repo.parent, "init", "-q", name)
    return repo


def _try_repo(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "manifests")
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(REPO), "reconciler-validate", "--all-files"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PRE_COMMIT_HOME": str(home)},  # pip's own index configuration
        timeout=600,
    )


def test_hook_passes_on_a_good_manifests_repo_and_fails_on_a_broken_one(tmp_path: Path) -> None:
    home = tmp_path / "pre-commit-home"
    good = _try_repo(_scratch(tmp_path, "good"), home)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "reconciler validate" in good.stdout and "Passed" in good.stdout

    broken = _scratch(tmp_path, "broken")
    csv = broken / "manifests/data/amperity/braze_customer_attributes.csv"
    csv.write_text(csv.read_text().replace(",gold,", ",platinum,", 1))
    bad = _try_repo(broken, home)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout
    assert (
        "manifests/data/amperity/braze_customer_attributes.csv:2:2: loyalty_tier: 'platinum' "
        "is not one of bronze, silver, gold" in bad.stdout
    )
