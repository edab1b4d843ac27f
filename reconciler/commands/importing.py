"""`import`: adopt objects that already exist in Braze into state, so the first plan on a live
workspace does not try to create them again.

Each kind of object has an importer: an async function that reads Braze and returns the
resources to adopt. The command runs every importer, then writes all adoptions in one locked
pass (or none, with `--dry-run`). Importing never writes to Braze.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.braze.settings import api_key_from_env, resolve_endpoint
from reconciler.commands.planning import resolve_state_url
from reconciler.manifests import Manifests, load_workspace
from reconciler.plan.content_blocks import desired_blocks
from reconciler.state import open_state
from reconciler.state.base import LockRequest, ResourceRecord

if TYPE_CHECKING:
    from reconciler.braze.client import BrazeClient


@dataclass(frozen=True)
class Adoption:
    """A Braze object to record in state as if reconciler had applied it."""

    address: str
    spec: Mapping[str, Any]
    remote_id: str | None


@dataclass
class ImportSection:
    """What one importer found: adoptions, plus lines that explain the rest."""

    title: str
    adoptions: list[Adoption] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0


Importer = Callable[
    ["Manifests", "BrazeClient", Mapping[str, ResourceRecord]], Awaitable[ImportSection]
]


@dataclass(frozen=True)
class ImportRequest:
    manifests_dir: Path
    state_flag: str | None
    dry_run: bool = False


@dataclass(frozen=True)
class ImportReport:
    sections: Sequence[ImportSection]
    dry_run: bool
    state_url: str

    @property
    def adopted(self) -> int:
        return sum(len(s.adoptions) for s in self.sections)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.sections)


async def import_content_blocks(
    m: Manifests, client: BrazeClient, applied: Mapping[str, ResourceRecord]
) -> ImportSection:
    """Adopt every block whose name a WebhookTemplate ships and state does not know yet.

    The adopted spec holds the block's remote content and description, so the next plan shows
    an update when they differ from the manifests and a no-op when they match. The dashboard
    part cannot be read (no webhook-template API): it is recorded as the manifests declare it.
    """
    section = ImportSection("Content blocks")
    wanted = {d.name: d for d in desired_blocks(m) if d.address not in applied}
    known = [d for d in desired_blocks(m) if d.address in applied]
    for d in known:
        section.notes.append(f"= {d.name}: already in state")
    if not wanted:
        return section
    remote = await client.list_content_blocks()
    section.requests += 1 + len(remote) // 1000
    by_name = {str(b.get("name")): b for b in remote}
    for name, d in sorted(wanted.items()):
        block = by_name.get(name)
        if block is None:
            section.notes.append(f"+ {name}: not in Braze; the next plan creates it")
            continue
        block_id = str(block.get("content_block_id"))
        info = await client.content_block_info(block_id)
        section.requests += 1
        spec = {
            **d.spec,
            "content": info.get("content", ""),
            "description": info.get("description") or "",
        }
        section.adoptions.append(Adoption(d.address, spec, block_id))
        differs = [k for k in ("content", "description") if spec[k] != d.spec[k]]
        section.notes.append(
            f"← {name}: adopted (id {block_id}); "
            + (
                f"{' and '.join(differs)} differ{'s' if len(differs) == 1 else ''}: "
                "the plan updates the block"
                if differs
                else "it matches the manifests"
            )
        )
    managed = {d.name for d in desired_blocks(m)}
    others = sum(1 for n in by_name if n not in managed)
    if others:
        section.notes.append(f"  {others} other content block(s) in Braze: not managed, left alone")
    return section


async def import_attribute_definitions(
    m: Manifests, client: BrazeClient, applied: Mapping[str, ResourceRecord]
) -> ImportSection:
    """Record Braze's definitions of the declared custom attributes (type, status, length).

    Braze has no API to create one, so nothing is ever recreated; the records let drift report
    a definition changed in the dashboard since (reconciler.drift.definitions).
    """
    from reconciler.braze.reads import BrazeReads  # httpx stays out of `import commands`
    from reconciler.drift.catalog import build_catalog
    from reconciler.drift.definitions import adopt_definitions

    section = ImportSection("Custom attribute definitions")
    catalog = build_catalog(m)
    if not any(not info.standard for info in catalog.values()):
        return section
    reads = BrazeReads(client)
    found, section.notes = adopt_definitions(catalog, await reads.custom_attributes(), applied)
    section.adoptions = [Adoption(a.address, a.spec, a.address.split(".", 1)[1]) for a in found]
    section.requests = reads.schema_budget().used
    return section


IMPORTERS: list[Importer] = [import_content_blocks, import_attribute_definitions]
"""Run in order; another kind of object is one more function here."""


def run_import(
    request: ImportRequest,
    *,
    importers: Sequence[Importer] | None = None,
    transport: Any = None,
) -> ImportReport:
    """Read Braze through every importer, then record the adoptions under the state lock."""
    m = load_workspace(request.manifests_dir)
    url = resolve_state_url(request.manifests_dir, request.state_flag, m)
    endpoint = resolve_endpoint(m.rest_endpoint)
    api_key = api_key_from_env(m.workspace.spec.api_key_env)
    from reconciler.braze.client import BrazeClient  # httpx stays out of `import commands`

    with open_state(url) as store:
        with store.lock(LockRequest(operation="import")):
            applied = store.resources()

            async def read() -> list[ImportSection]:
                async with BrazeClient(endpoint, api_key, transport=transport) as client:
                    return [await run(m, client, applied) for run in importers or IMPORTERS]

            sections = asyncio.run(read())
            if not request.dry_run:
                for section in sections:
                    for a in section.adoptions:
                        store.put_resource(a.address, a.spec, remote_id=a.remote_id)
    return ImportReport(sections, request.dry_run, url)
