"""Plan fixtures: a copy of the example workspace, a real SQLite state, and a fake 'Braze ack'."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.manifests import load_workspace
from reconciler.plan.build import build_plan
from reconciler.plan.model import Plan
from reconciler.sources.desired import build_desired
from reconciler.state import open_state
from reconciler.state.base import LedgerRow, LedgerUnset, LockRequest, StateStore

REPO = Path(__file__).resolve().parents[2]


class Workbench:
    def __init__(self, root: Path, state: StateStore, spool: Path) -> None:
        self.root, self.state, self.spool = root, state, spool

    def plan(self) -> Plan:
        m = load_workspace(self.root)
        return build_plan(m, build_desired(m), self.state, inputs_hash="h", spool_dir=self.spool)

    def acknowledge(self, plan: Plan) -> None:
        """Record every delta as Braze-acknowledged, as the executor does per batch."""
        with self.state.lock(LockRequest("apply", plan.plan_id)):
            apply_id = self.state.begin_apply(plan.plan_id)
            for n, d in enumerate(plan.deltas()):
                self.state.record_batch(
                    apply_id,
                    n,
                    [LedgerRow(d.user_id, a, v, d.id_kind) for a, v in d.writes],
                    [LedgerUnset(d.user_id, a, d.id_kind) for a in d.unsets],
                )
            for r in plan.resource_changes:  # content blocks, as the resource step records them
                if r.action in ("create", "update"):
                    self.state.put_resource(r.address, r.spec, remote_id=r.remote_id or r.address)
            self.state.finish_apply(apply_id, "applied")

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _without_event_streams(root: Path) -> None:
    """These tests are about attributes; events (tests/events) have a wall-clock horizon."""
    for path in root.glob("*.yaml"):
        docs = path.read_text(encoding="utf-8").split("\n---\n")
        kept = [d for d in docs if "\nkind: EventStream\n" not in f"\n{d}\n"]
        if len(kept) != len(docs):
            path.write_text("\n---\n".join(kept).rstrip("\n") + "\n", encoding="utf-8")


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Workbench]:
    root = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", root)
    _without_event_streams(root)
    spool = tmp_path / "spool"
    spool.mkdir()
    with open_state(f"sqlite:///{tmp_path / 'state.db'}") as state:
        yield Workbench(root, state, spool)
