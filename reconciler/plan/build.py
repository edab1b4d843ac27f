"""Build the frozen Plan: desired state × read-only state → deltas, counts, cost and guards."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from reconciler.braze.settings import resolve_endpoint
from reconciler.manifests import Manifests
from reconciler.plan import cost
from reconciler.plan.content_blocks import block_changes, desired_blocks
from reconciler.plan.diff import DiffResult, Policy, Replace, diff
from reconciler.plan.events import add_events
from reconciler.plan.guards import evaluate_guards
from reconciler.plan.model import (
    AttributeChange,
    Binding,
    DeltaSpool,
    Plan,
    Sample,
    Summary,
)
from reconciler.sources.desired import Desired
from reconciler.state.base import StateMeta, StateReader
from reconciler.state.columnar import register_stored
from reconciler.state.values import canonical_value


def build_plan(
    m: Manifests,
    desired: Desired,
    state: StateReader,
    *,
    inputs_hash: str,
    spool_dir: Path,
    replace: Replace | None = None,
) -> Plan:
    """The plan of `desired` against `state`.

    The binding (meta) is read before the ledger, so an apply that lands in between can only
    make this plan stale. The ledger's snapshot is materialised under `spool_dir` and read in
    place by DuckDB, with the log since it overlaid (state/columnar.py).
    """
    meta = state.meta()
    key = state.hash_key().key
    policies = {
        name: Policy(name, p.on_missing, p.pii, p.is_array) for name, p in desired.policies.items()
    }
    ledger_dir = spool_dir / f"ledger-{uuid.uuid4().hex[:8]}"
    ledger_dir.mkdir(parents=True, exist_ok=True)
    try:
        stored = register_stored(desired.con, state.ledger_parts(ledger_dir))
        deltas, result = diff(desired.con, desired.sources, stored, policies, key, replace)
        plan = _assemble(m, desired, state, result, deltas, meta, inputs_hash, spool_dir)
        # the same user gets the same tag in every plan of this state, and nobody without
        # the state's key can test a guess against it
        tags = hmac.new(key, b"reconciler:mask-tags", hashlib.sha256).hexdigest()[:32]
        plan = dataclasses.replace(plan, mask_key=tags)
    finally:
        shutil.rmtree(ledger_dir, ignore_errors=True)
    return plan


def _assemble(
    m: Manifests,
    desired: Desired,
    state: StateReader,
    result: DiffResult,
    deltas: Iterator[tuple[str, int]],
    meta: StateMeta,
    inputs_hash: str,
    spool_dir: Path,
) -> Plan:
    plan_id = uuid.uuid4().hex[:12]
    spool = DeltaSpool(spool_dir / f"plan-{plan_id}.deltas.jsonl.gz")
    total_points = 0
    try:
        for line, points in deltas:
            spool.add_line(line)
            total_points += points
    finally:
        spool.close()
    samples = tuple(Sample(u, a, before, canonical_value(w)) for u, a, before, w in result.samples)
    changes = tuple(
        AttributeChange(
            name,
            set=c.set,
            changed=c.changed,
            unset=c.unset,
            data_points=c.data_points,
            pii=desired.policies[name].pii if name in desired.policies else False,
            reason="no longer managed: every member is unset"
            if name in result.removed_attributes
            else "",
        )
        for name, c in sorted(result.counts.items())
    )
    requests = cost.requests_for(result.users)
    per_3s = m.workspace.spec.rate_limits.users_track_per_3s
    resource_changes = block_changes(desired_blocks(m), state.resources())
    summary = Summary(
        users_changed=result.users,
        attribute_updates=sum(c.set + c.changed + c.unset for c in changes),
        events=0,
        data_points=total_points,
        requests=requests,
        full_resend_data_points=desired.value_count(),
        estimated_seconds=cost.estimated_seconds(requests, per_3s),
        resources=dict(Counter(r.action for r in resource_changes)),
        cells_in_doubt=result.in_doubt,
        cells_replaced=result.replaced,
    )
    summary, events = add_events(m, state, spool_dir, plan_id, summary, spool.path)
    guards = evaluate_guards(m, desired, changes, summary, result.stored_counts)
    return Plan(
        plan_id=plan_id,
        workspace=m.workspace.name,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        binding=Binding(meta.lineage, meta.serial, inputs_hash),
        summary=summary,
        attribute_changes=changes,
        resource_changes=resource_changes,
        guards=guards,
        samples=samples,
        deltas_path=spool.path,
        events=events,
        last_drift=state.last_drift(),
        warnings=braze_id_warnings(m, result),
        endpoint=resolve_endpoint(m.rest_endpoint),
    )


def braze_id_warnings(m: Manifests, result: DiffResult) -> tuple[str, ...]:
    """Braze cannot create a user from a braze_id and drops writes to unknown ids silently
    (the 201 does not say so): every integration keyed on braze_id with changes is named."""
    out = []
    for name, integration in sorted(m.integrations.items()):
        if integration.spec.identifier != "braze_id":
            continue
        out.append(
            f"integration {name} keys users on braze_id: Braze drops writes to braze_ids it "
            "does not know without an error; apply reads a sample back (--verify) and "
            "un-records the users Braze does not hold, so the next plan shows them again"
        )
    return tuple(out) if result.users else ()
