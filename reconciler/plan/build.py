"""Build the frozen Plan: desired state × read-only state → deltas, counts, cost and guards."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from reconciler.braze.settings import resolve_endpoint
from reconciler.manifests import Manifests
from reconciler.plan import cost
from reconciler.plan.content_blocks import block_changes, desired_blocks
from reconciler.plan.diff import DiffResult, Policy, changed_keys, diff, no_changes
from reconciler.plan.digests import DigestSelector
from reconciler.plan.digests import enabled as digests_enabled
from reconciler.plan.events import EventsRead, add_events
from reconciler.plan.guards import evaluate_guards
from reconciler.plan.model import (
    AttributeChange,
    Binding,
    DeltaSpool,
    Plan,
    Replace,
    Sample,
    Summary,
)
from reconciler.sources.desired import Desired
from reconciler.state.base import StateMeta, StateReader
from reconciler.state.columnar import LedgerParts, register_stored
from reconciler.state.values import canonical_value


class LedgerRead:
    """The ledger's parts and the digests the last apply kept, read from the state on a thread
    while the plan reads and hashes its sources, then registered as `stored` in the work
    database (on the caller's thread, which owns it) when first asked for."""

    def __init__(
        self, state: StateReader, con: duckdb.DuckDBPyConnection, ledger_dir: Path, digests: bool
    ) -> None:
        self._con = con
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-read")
        # the kept digests first (a few MB): a plan whose files are the ones they name needs
        # them before it would start reading its sources (DigestSelector._same_files)
        self._kept = self._pool.submit(self._read_kept, state, ledger_dir, digests)
        self._future = self._pool.submit(state.ledger_parts, ledger_dir)
        self._got: tuple[tuple[str, ...], tuple[str, Path] | None] | None = None

    @staticmethod
    def _read_kept(state: StateReader, ledger_dir: Path, digests: bool) -> tuple[str, Path] | None:
        return state.plan_digests(ledger_dir) if digests else None

    def kept(self) -> tuple[str, Path] | None:
        """The digests the last apply kept, without waiting for the ledger's own read."""
        return self._kept.result()

    def __call__(self) -> tuple[tuple[str, ...], tuple[str, Path] | None]:
        """(the ledger's attributes, the kept digests), waiting for the read if need be."""
        if self._got is None:
            cached = self._kept.result()
            parts = self._future.result()
            self._got = (register_stored(self._con, parts), cached)
        return self._got

    def parts(self) -> tuple[LedgerParts | None, tuple[str, Path] | None]:
        """What the read gave, without waiting for one still running ((None, None) then)."""
        if not self._future.done():
            return None, None
        return self._future.result(), self._kept.result()

    def close(self) -> None:
        self._future.cancel()
        self._kept.cancel()
        self._pool.shutdown(wait=True)


@dataclass
class LedgerView:
    """The state as one plan reads it: the binding first, then the ledger (as `stored` in the
    work database) and the digests the last apply kept (plan/digests.py)."""

    meta: StateMeta
    read: LedgerRead
    selector: DigestSelector
    ledger_dir: Path

    @property
    def stored(self) -> tuple[str, ...]:
        return self.read()[0]

    def close(self) -> None:
        self.read.close()  # the thread is done with the directory before it goes
        shutil.rmtree(self.ledger_dir, ignore_errors=True)

    def snapshot(self) -> Path | None:
        """The ledger's snapshot file, once read (None before, or when there is none)."""
        try:
            parts, _ = self.read.parts()
        except Exception:  # noqa: BLE001 - the read's own error is reported where it is raised
            return None
        return parts.snapshot if parts is not None else None


def open_ledger(
    state: StateReader,
    con: duckdb.DuckDBPyConnection,
    spool_dir: Path,
    replace: Replace | None = None,
) -> LedgerView:
    """Read the binding, then start reading the ledger and the digests on a thread.

    The binding (meta) is read before the ledger, so an apply that lands in between can only
    make this plan stale. The ledger's snapshot is materialised under `spool_dir` and read in
    place by DuckDB, with the log since it overlaid (state/columnar.py). The selector asks for
    it once it has hashed the sources; `LedgerView.stored` waits for it too.
    """
    meta = state.meta()
    key = state.hash_key().key
    ledger_dir = spool_dir / f"ledger-{uuid.uuid4().hex[:8]}"
    ledger_dir.mkdir(parents=True, exist_ok=True)
    use = digests_enabled() and not replace
    read = LedgerRead(state, con, ledger_dir, use)
    selector = DigestSelector(read, key, use_cache=use, kept=read.kept)
    return LedgerView(meta, read, selector, ledger_dir)


def build_plan(
    m: Manifests,
    desired: Desired,
    state: StateReader,
    *,
    inputs_hash: str,
    spool_dir: Path,
    replace: Replace | None = None,
    ledger: LedgerView | None = None,
    events: EventsRead | None = None,
) -> Plan:
    """The plan of `desired` against `state` (read by `open_ledger`, here unless given: a
    `ledger` whose selector built `desired` diffs only the users it could not vouch for; the
    event streams are read here too unless `events` is loading them on a thread)."""
    own = ledger is None
    view = ledger or open_ledger(state, desired.con, spool_dir, replace)
    key = state.hash_key().key
    policies = {
        name: Policy(name, p.on_missing, p.pii, p.is_array, p.audience)
        for name, p in desired.policies.items()
    }
    selector = view.selector
    # the flip guard's base: the ledger's audiences, counted in one narrow scan
    counted = {n for n, p in desired.policies.items() if p.audience}
    try:
        if selector.whole:  # the digests vouched for every user: nothing can have changed
            deltas, result = no_changes(desired.con, view.stored, counted)
        else:
            deltas, result = diff(
                desired.con,
                desired.sources,
                view.stored,
                policies,
                key,
                replace,
                stored_view=selector.stored_view,
                counted=counted,
            )
        plan = _assemble(
            m, desired, state, result, deltas, view.meta, inputs_hash, spool_dir, events
        )
        # the same user gets the same tag in every plan of this state, and nobody without
        # the state's key can test a guess against it
        tags = hmac.new(key, b"reconciler:mask-tags", hashlib.sha256).hexdigest()[:32]
        digests = None
        if selector.sources:  # it chose the rows: it knows every user's digest
            digests = selector.finish(
                desired.con, desired, spool_dir / f"plan-{plan.plan_id}.digests.parquet"
            )
        plan = dataclasses.replace(plan, mask_key=tags, digests=digests)
    finally:
        if own:
            view.close()
    return plan


def _assemble(
    m: Manifests,
    desired: Desired,
    state: StateReader,
    result: DiffResult,
    deltas: Iterator[tuple[Any, int, int]],
    meta: StateMeta,
    inputs_hash: str,
    spool_dir: Path,
    events: EventsRead | None = None,
) -> Plan:
    plan_id = uuid.uuid4().hex[:12]
    spool = DeltaSpool(spool_dir / f"plan-{plan_id}.deltas.jsonl.gz")
    total_points = 0
    try:
        for block, lines, points in deltas:
            spool.add_block(block, lines)
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
            update_existing_only=name in m.update_existing_only,
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
    keys = changed_keys(desired.con)
    summary, planned = add_events(m, state, spool_dir, plan_id, summary, keys, events)
    guards = evaluate_guards(m, desired, changes, summary, result.stored_counts, result.flips)
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
        deltas_lines=spool.count,
        events=planned,
        last_drift=state.last_drift(),
        warnings=braze_id_warnings(m, result) + skipped_warnings(desired),
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


MAX_SKIPPED_LISTED = 5


def skipped_warnings(desired: Desired) -> tuple[str, ...]:
    """Rows an `on_invalid: skip` source left out of the plan, counted and located by file,
    row, column and column name, never with their values: a plan is posted in public pull
    requests, and a value bad enough to skip may be anything (an email in a number column)."""
    skipped = sorted(desired.skipped)
    if not skipped:
        return ()
    rows = len({(d.location.path, d.location.line) for d in skipped})
    listed = ", ".join(
        f"{d.location} ({d.message.split(':', 1)[0]})" for d in skipped[:MAX_SKIPPED_LISTED]
    )
    more = (
        f" and {len(skipped) - MAX_SKIPPED_LISTED:,} more"
        if len(skipped) > MAX_SKIPPED_LISTED
        else ""
    )
    noun = "row" if rows == 1 else "rows"
    return (
        f"{rows:,} source {noun} skipped as invalid (on_invalid: skip), so nothing of them is "
        f"planned: {listed}{more}; `reconciler validate` shows why",
    )
