"""Test support for apply and braze: plans built from deltas, and a sandbox in a subprocess."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reconciler.plan.model import Binding, DeltaSpool, GuardResult, Plan, Summary, UserDelta
from reconciler.sandbox.process import SandboxProcess, start_sandbox
from reconciler.state import StateReader, canonical_value

SANDBOX_KEY = "sandbox-key"


def delta(user_id: str, id_kind: str = "external_id", **attributes: Any) -> UserDelta:
    """A delta setting `attributes` (None unsets); one data point per attribute."""
    writes = tuple((a, canonical_value(v)) for a, v in attributes.items() if v is not None)
    unsets = tuple(a for a, v in attributes.items() if v is None)
    return UserDelta(id_kind, user_id, attributes, writes, unsets, len(attributes))


def make_plan(
    directory: Path,
    deltas: Iterable[UserDelta],
    *,
    state: StateReader | None = None,
    guards: tuple[GuardResult, ...] = (),
    plan_id: str = "plan-1",
) -> Plan:
    path = directory / f"{plan_id}.jsonl.gz"
    spool = DeltaSpool(path)
    users: set[tuple[str, str]] = set()
    points = updates = 0
    for d in deltas:
        spool.add(d)
        users.add((d.id_kind, d.user_id))
        points += d.data_points
        updates += len(d.attributes)
    spool.close()
    meta = state.meta() if state is not None else None
    binding = Binding(meta.lineage if meta else "none", meta.serial if meta else 0, "test")
    summary = Summary(
        users_changed=len(users),
        attribute_updates=updates,
        events=0,
        data_points=points,
        requests=math.ceil(spool.count / 75),
        full_resend_data_points=points,
        estimated_seconds=0.0,
    )
    return Plan(
        plan_id, "default", "2026-01-01T00:00:00Z", binding, summary, (), (), guards, (), path
    )


def remaining_deltas(deltas: Iterable[UserDelta], state: StateReader) -> list[UserDelta]:
    """What a re-plan would send: deltas whose writes are not all in the ledger yet."""
    ledger = {(r.id_kind, r.user_id, r.attribute): r.value for b in state.iter_ledger() for r in b}
    return [
        d
        for d in deltas
        if any(ledger.get((d.id_kind, d.user_id, a)) != v for a, v in d.writes)
        or any((d.id_kind, d.user_id, a) in ledger for a in d.unsets)
    ]


@dataclass
class Sandbox:
    """A started sandbox (the shared `start_sandbox`) and the reads these tests need."""

    process: SandboxProcess

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def key(self) -> str:
        return self.process.key

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, timeout=10, headers=headers) as c:
            r = c.request(method, path, json=body)
            r.raise_for_status()
            return r.json()

    def stats(self) -> dict[str, Any]:
        return dict(self.admin("GET", "/_sandbox/stats"))

    def custom_attributes(self, external_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Stored custom attributes per user, read behind the API (no rate limit)."""
        out: dict[str, dict[str, Any]] = {}
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, timeout=10, headers=headers) as c:
            for uid in external_ids:
                r = c.get(f"/_sandbox/users/{uid}")
                if r.status_code == 200:
                    out[uid] = r.json()["user"].get("custom_attributes", {})
        return out


@contextmanager
def running_sandbox(tmp_path: Path, *args: str, key: str = SANDBOX_KEY) -> Iterator[Sandbox]:
    """`reconciler sandbox --port 0 ARGS` accepting `key`, stopped with SIGTERM at exit."""
    env = {**os.environ, "BRAZE_API_KEY": key}
    process = start_sandbox(*args, env=env, stderr_path=tmp_path / "sandbox.stderr")
    try:
        yield Sandbox(process)
    finally:
        process.stop()
