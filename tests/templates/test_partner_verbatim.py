"""A partner's template pasted verbatim validates: Rokt Calendar's add-event template, as the
partner page publishes it (`:basic_auth <Rokt-Calendar-API>`, `:save token`, no preview stub),
is valid Braze Liquid. `validate` exits 0 with a note, and `render` shows a visible placeholder
where the unstubbed Connected Content value would go, never an empty string."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from syrupy.assertion import SnapshotAssertion

REPO = Path(__file__).resolve().parents[2]
VERBATIM = REPO / "tests/data/rokt_verbatim/add_event.yaml"


def workspace(tmp_path: Path) -> Path:
    """manifests/ with the add-event template replaced by the verbatim one."""
    root = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", root)
    rokt = root / "rokt_calendar.yaml"
    docs = rokt.read_text(encoding="utf-8").split("\n---\n")
    kept = [d for d in docs if "metadata: {name: rokt-calendar-add-event}" not in d]
    assert len(kept) == len(docs) - 1
    kept.append(VERBATIM.read_text(encoding="utf-8").rstrip("\n"))
    rokt.write_text("\n---\n".join(kept) + "\n", encoding="utf-8")
    return root


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        env={"PATH": "", "NO_COLOR": "1"},
        check=False,
    )


def test_the_verbatim_rokt_template_validates_with_a_note(
    tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    root = workspace(tmp_path)
    done = cli("validate", "--manifests", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.replace(str(tmp_path), "<tmp>")
    assert "note: spec.headers.Authorization: connected_content saves 'token'" in out
    assert "data files valid" in out
    assert out == snapshot


def test_the_verbatim_rokt_template_renders_with_a_visible_placeholder(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    done = cli("render", "rokt-calendar-add-event", "--manifests", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Bearer ⟪token.access_token: connected_content, not stubbed⟫" in done.stdout
    assert '"title": "Event Title"' in done.stdout
