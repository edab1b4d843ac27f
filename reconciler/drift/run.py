"""One drift check: schema, content blocks and sampled user data, into a DriftReport."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from reconciler.apply.pacing import Clock, Sleep
from reconciler.drift.catalog import build_catalog
from reconciler.drift.content_blocks import check_content_blocks
from reconciler.drift.definitions import check_recorded
from reconciler.drift.pacing import ExportPacer
from reconciler.drift.protocol import WorkspaceReads
from reconciler.drift.report import DriftReport, SchemaReport
from reconciler.drift.schema import check_attributes, check_events
from reconciler.drift.users import UserCheckOptions, check_users
from reconciler.manifests import Manifests
from reconciler.state.base import StateReader


@dataclass(frozen=True)
class DriftOptions:
    users: UserCheckOptions = field(default_factory=UserCheckOptions)


async def run_drift(
    m: Manifests,
    state: StateReader,
    reads: WorkspaceReads,
    options: DriftOptions,
    *,
    now: datetime,
    clock: Clock,
    sleep: Sleep,
) -> DriftReport:
    """Read Braze and compare; raises BrazeError / StateError when the check cannot finish."""
    meta = state.meta()
    schema = await check_schema(m, state, reads)
    blocks = await check_content_blocks(state.resources(), reads)
    pacer = ExportPacer(m.workspace.spec.rate_limits.users_export_per_minute, clock, sleep)
    users = await check_users(state, reads, build_catalog(m), pacer, options.users, now)
    return DriftReport(
        workspace=m.workspace.name,
        checked_at=now.isoformat(timespec="seconds"),
        state_serial=meta.serial,
        schema=schema,
        content_blocks=blocks,
        users=users,
    )


async def check_schema(m: Manifests, state: StateReader, reads: WorkspaceReads) -> SchemaReport:
    """Attributes against GET /custom_attributes, events against GET /events (each only when
    something is declared: the two share 1,000 requests an hour)."""
    catalog = build_catalog(m)
    custom = {n: i for n, i in catalog.items() if not i.standard}
    findings = []
    if custom:
        definitions = await reads.custom_attributes()
        findings += check_attributes(custom, definitions, state.attribute_counts())
        findings += check_recorded(custom, definitions, state.resources())
    events = declared_events(m)
    if events:
        findings += check_events(events, await reads.events())
    return SchemaReport(
        attributes_checked=len(custom),
        events_checked=len(events),
        standard_skipped=len(catalog) - len(custom),
        findings=tuple(findings),
        budget=reads.schema_budget(),
    )


def declared_events(m: Manifests) -> dict[str, str]:
    """Every event an EventSchema declares → where (the first declaration wins)."""
    out: dict[str, str] = {}
    for schema in m.event_schemas:
        for i, event in enumerate(schema.spec.events):
            out.setdefault(event.name, str(schema.at("events", i, "name")))
    return out
