"""Helpers to copy the example workspace and plant errors in it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Edit:
    """Replace `old` with `new` in `file` (append `new` when `old` is empty)."""

    file: str
    old: str
    new: str

    def apply(self, root: Path) -> None:
        path = root / self.file
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if not self.old:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + self.new, encoding="utf-8")
            return
        assert self.old in text, f"{self.old!r} not in {self.file}"
        path.write_text(text.replace(self.old, self.new, 1), encoding="utf-8")


def copy_workspace(dest: Path) -> Path:
    target = dest / "manifests"
    shutil.copytree(REPO / "manifests", target)
    return target


def run_cli(cwd: Path, *args: str) -> tuple[int, str]:
    """Run the CLI in-process from `cwd`, returning (exit code, stdout+stderr)."""
    import os

    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.output
