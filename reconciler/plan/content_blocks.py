"""WebhookTemplates as Content Blocks: the desired blocks, and their changes against state.

Braze has no webhook-template API (reference §5.1), so each WebhookTemplate ships its body as
one Content Block, which the dashboard template includes once with `{{content_blocks.${name}}}`.
The rest of the template (method, URL, headers) can only be set by hand; it is kept in the
resource spec under `dashboard` so that a change to it shows in the plan as work for a human.

Addresses are `ContentBlock.<block name>`: the block's name is its identity in Braze (the
Liquid handle, unique, locked once active), so a renamed block is a new resource and the old
one an orphan. Braze has no delete endpoint, so orphans are reported and never removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.manifests.documents import Resource
from reconciler.manifests.kinds import WebhookTemplateSpec
from reconciler.manifests.model import Manifests
from reconciler.plan.model import ResourceChange
from reconciler.state.base import ResourceRecord
from reconciler.state.values import spec_hash

ADDRESS_PREFIX = "ContentBlock."
BLOCK_STATE = "active"  # a draft block is not rendered in messages

# Said once in every plan that creates or renames a block (reference §11 gotcha 15).
LIFECYCLE_NOTE = (
    "A content block's name locks once it is active, and an active block cannot go back to "
    "draft; Braze has no delete. Blocks are created active, so a rename creates a new block and "
    "leaves the old one as an orphan."
)


def address_of(block_name: str) -> str:
    return f"{ADDRESS_PREFIX}{block_name}"


def include_tag(block_name: str) -> str:
    """The Liquid a dashboard webhook template puts in its body to use the block."""
    return "{{content_blocks.${" + block_name + "}}}"


@dataclass(frozen=True)
class DesiredBlock:
    """One WebhookTemplate's block: what Braze should hold, and what the dashboard needs."""

    address: str
    template: str
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec["name"])


def block_spec(template: Resource[WebhookTemplateSpec]) -> dict[str, Any]:
    """The resource spec: the block's name, content and description, plus the dashboard part."""
    spec = template.spec
    return {
        "name": spec.content_block,
        "content": spec.body,
        "description": spec.description
        or f"Body of webhook template {template.name} (managed by reconciler)",
        "dashboard": dashboard_spec(template),
    }


def dashboard_spec(template: Resource[WebhookTemplateSpec]) -> dict[str, Any]:
    """What must be set by hand in the dashboard's webhook template (no API exists for it)."""
    spec = template.spec
    return {
        "template": template.name,
        "method": spec.method,
        "url": spec.url,
        "headers": dict(spec.headers),
        "body": include_tag(spec.content_block),
        "credentials": list(spec.credentials),
    }


def desired_blocks(m: Manifests) -> list[DesiredBlock]:
    return [
        DesiredBlock(address_of(t.spec.content_block), t.name, block_spec(t))
        for t in m.webhook_templates
    ]


def remote_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a spec Braze stores (what create/update send and drift compares)."""
    return {k: spec[k] for k in ("name", "content", "description") if k in spec}


def block_changes(
    desired: list[DesiredBlock], applied: Mapping[str, ResourceRecord]
) -> tuple[ResourceChange, ...]:
    """create / update / no-op per desired block, then an orphan per block no longer desired."""
    changes = [_change(d, applied.get(d.address)) for d in desired]
    wanted = {d.address for d in desired}
    renamed_from = _renames(desired, applied)
    for address, record in sorted(applied.items()):
        if address.startswith(ADDRESS_PREFIX) and address not in wanted:
            changes.append(_orphan(address, record, renamed_from.get(address)))
    return tuple(changes)


def _change(d: DesiredBlock, record: ResourceRecord | None) -> ResourceChange:
    source = f"WebhookTemplate.{d.template}"
    if record is None:
        return ResourceChange(
            d.address,
            "create",
            f"create active content block {d.name!r} holding the body of "
            f"WebhookTemplate {d.template!r}",
            spec=d.spec,
            source=source,
            dashboard=True,
        )
    if record.spec_hash == spec_hash(d.spec):
        return ResourceChange(
            d.address, "no-op", spec=d.spec, remote_id=record.remote_id, source=source
        )
    what = _what_changed(record.spec, d.spec)
    sent = [f for f in ("content", "description") if f in what]
    dashboard = any(w.startswith("dashboard") for w in what)
    detail = f"update content block {d.name!r}: " + ", ".join(what)
    if not sent:
        detail += " (nothing is sent to Braze: set these in the dashboard by hand)"
    elif dashboard:
        detail += " (the dashboard part must be set by hand)"
    return ResourceChange(
        d.address,
        "update",
        detail,
        spec=d.spec,
        remote_id=record.remote_id,
        source=source,
        dashboard=dashboard or "template name" in what,
        before=dict(record.spec),
    )


def _what_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    out = [k for k in ("content", "description") if before.get(k) != after.get(k)]
    old, new = before.get("dashboard") or {}, after.get("dashboard") or {}
    out += [f"dashboard {k}" for k in ("method", "url", "headers") if old.get(k) != new.get(k)]
    if old.get("template") != new.get("template"):
        out.append("template name")
    return out or ["spec"]


def _template_of(record: ResourceRecord) -> str | None:
    template = (record.spec.get("dashboard") or {}).get("template")
    return template if isinstance(template, str) else None


def _renames(desired: list[DesiredBlock], applied: Mapping[str, ResourceRecord]) -> dict[str, str]:
    """Old address → new block name, when a template now ships a block under another name."""
    by_template = {d.template: d for d in desired if d.address not in applied}
    out = {}
    for address, record in applied.items():
        template = _template_of(record)
        new = by_template.get(template) if template else None
        if new is not None and address.startswith(ADDRESS_PREFIX):
            out[address] = new.name
    return out


def _orphan(address: str, record: ResourceRecord, renamed_to: str | None) -> ResourceChange:
    name = record.spec.get("name", address.removeprefix(ADDRESS_PREFIX))
    why = (
        f"renamed to {renamed_to!r}: a new block is created"
        if renamed_to
        else "no WebhookTemplate ships it any more"
    )
    return ResourceChange(
        address=address,
        action="orphan",
        detail=f"content block {name!r} (id {record.remote_id}): {why}; Braze has no delete, so "
        "it stays in Braze and in state. Remove its include from the dashboard template, then "
        "archive it in the dashboard if nothing else uses it.",
        spec=record.spec,
        remote_id=record.remote_id,
        source=f"WebhookTemplate.{template}" if (template := _template_of(record)) else "",
    )
