"""`demo`: the loop on a throwaway copy: sandbox, plan → apply → plan → edit → plan → drift."""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.commands.applying import ApplyRequest, Prepared, execute
from reconciler.commands.drifting import DriftRequest, check_drift
from reconciler.commands.planning import make_plan
from reconciler.errors import UsageError
from reconciler.manifests import Manifests, load_workspace
from reconciler.render.drift import render_text as render_drift_text
from reconciler.render.plan import render_text
from reconciler.sandbox.process import start_sandbox
from reconciler.sources.events import iso, parse_time

Echo = Callable[[str], None]


def run_demo(manifests_dir: Path, echo: Echo, *, color: bool = False) -> int:
    """Everything happens in a temporary copy with its own state and sandbox; nothing is kept."""
    with tempfile.TemporaryDirectory(prefix="reconciler-demo-") as tmp:
        root = Path(tmp)
        copy = root / "manifests"
        shutil.copytree(manifests_dir, copy)
        m = load_workspace(copy)
        _recent_events(m)  # rewrites event files only; the manifests stay as loaded
        state = f"sqlite:///{root / 'state.db'}"
        sandbox = start_sandbox("--db", str(root / "sandbox.db"), cwd=root)
        try:
            environ = {"BRAZE_REST_ENDPOINT": sandbox.url}
            environ[m.workspace.spec.api_key_env] = sandbox.key
            _loop(copy, state, root, environ, echo, color)
        finally:
            sandbox.stop()
    return 0


def _loop(
    copy: Path, state: str, root: Path, environ: dict[str, str], echo: Echo, color: bool
) -> None:
    def step(n: int, title: str) -> None:
        echo(f"\n── {n}. {title} " + "─" * max(0, 60 - len(title)))

    def plan(spool: str) -> Prepared:
        spool_dir = root / spool
        spool_dir.mkdir()
        planned = make_plan(copy, state, spool_dir)
        echo(render_text(planned.plan, color=color).rstrip("\n"))
        return Prepared(planned.manifests, planned.plan, planned.state_url, fresh=True)

    echo(f"sandbox: {environ['BRAZE_REST_ENDPOINT']} · state: a throwaway SQLite file")
    step(1, "plan: the first sync")
    first = plan("plan-1")
    step(2, "apply")
    request = ApplyRequest(copy, state, None)
    result = execute(first, request, environ=environ)
    if result is not None:
        for line in result.summary_lines():
            echo(line)
        result.raise_for_status()
    step(3, "plan again: Braze now matches, nothing to send")
    plan("plan-2")
    m = load_workspace(copy)
    change = _change_one_value(m)
    step(4, f"edit one sample value in the copy: {change}")
    plan("plan-3")
    step(5, "drift: live Braze against state (window 0 s: read back everything)")
    drift = DriftRequest(copy, state, sample=500, seed=1, window_seconds=0, environ=environ)
    report = check_drift(drift)
    echo(render_drift_text(report).rstrip("\n"))


def _change_one_value(m: Manifests) -> str:
    """Flip the first user's loyalty tier (or the first string cell) in the first CSV sync."""
    for sync in m.attribute_syncs:
        path = m.path(sync.spec.source.path)
        if path.suffix != ".csv":
            continue
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows:
            continue
        fields = list(rows[0])
        column = next((f for f in fields if "tier" in f), fields[-1])
        old = rows[0][column]
        new = {"gold": "silver", "silver": "gold", "bronze": "silver"}.get(old, old + " (edited)")
        rows[0][column] = new
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        rel = path.relative_to(m.root).as_posix()
        shown = f": {old} → {new}" if "tier" in column else " edited"  # never a pii value
        return f"{rel} row 2, {column}{shown}"
    raise UsageError("the demo needs a CSV AttributeSync to edit")


def _recent_events(m: Manifests) -> None:
    """Shift the copy's JSONL event times so the newest is an hour old: sample events are
    dated, and the demo should send them whatever day it runs (the horizon is 30 days)."""
    for stream in m.event_streams:
        path, field = m.path(stream.spec.source.path), stream.spec.fields.time
        if path.suffix != ".jsonl":
            continue
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        times = [parse_time(r.get(field)) for r in rows]
        known = [t for t in times if t is not None]
        if not known:
            continue
        shift = datetime.now(UTC) - timedelta(hours=1) - max(known)
        for row, when in zip(rows, times, strict=True):
            if when is not None:
                row[field] = iso(when + shift)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
