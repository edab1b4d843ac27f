"""The CLI contract: exit codes, where output goes, and no tracebacks without --debug."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def reconciler(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_usage_errors_exit_1_not_2() -> None:
    proc = reconciler("validate", "--format", "yaml")
    assert proc.returncode == 1
    assert "Invalid value for '--format'" in proc.stderr


def test_unknown_command_exits_1() -> None:
    assert reconciler("frobnicate").returncode == 1


def test_validate_json_goes_to_stdout_alone(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.yaml").write_text("kind: Nope\n")
    proc = reconciler("validate", "--manifests", "m", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["valid"] is False
    assert doc["errors"][0]["path"] == "m/a.yaml"
    assert doc["errors"][0]["line"] == 1


def test_missing_manifests_directory_is_a_user_error(tmp_path: Path) -> None:
    proc = reconciler("validate", "--manifests", "nowhere", cwd=tmp_path)
    assert proc.returncode == 1
    assert "nowhere: manifests directory not found" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_manifests_dir_from_environment(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"RECONCILER_MANIFESTS": str(REPO / "manifests"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_version() -> None:
    proc = reconciler("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("reconciler, version ")


def test_shell_completion_completes_commands() -> None:
    """The README's completion recipe works: click completes `reconciler pl` to plan."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "COMP_WORDS": "reconciler pl", "COMP_CWORD": "1"}
    env["_RECONCILER_COMPLETE"] = "bash_complete"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("reconciler"))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "plain,plan" in done.stdout.splitlines(), done.stdout + done.stderr
