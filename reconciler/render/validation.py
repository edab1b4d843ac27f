"""Render validate results and the workspace summary as text or JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import Diagnostic, ManifestError
from reconciler.manifests import Manifests
from reconciler.manifests.model import mapping_attribute


def render_validation(
    root: Path,
    manifests: Manifests | None,
    error: ManifestError | None,
    fmt: str,
    endpoint: str = "",
    notes: Sequence[Diagnostic] = (),
    *,
    color: bool = False,
) -> str:
    """`endpoint`: where apply would write (BRAZE_REST_ENDPOINT over the Workspace's);
    `notes`: worth knowing, never a failure (a verbatim partner template with no preview stub)."""
    noted = "".join(f"{d.location}: note: {d.message}\n" for d in notes)
    if fmt == "json":
        doc: dict[str, object] = {
            "format_version": "1",
            "manifests": str(root),
            "valid": error is None,
            "errors": [d.to_json() for d in error.diagnostics] if error else [],
            "notes": [d.to_json() for d in notes],
        }
        if manifests is not None:
            doc["summary"] = summary_counts(manifests) | (
                {"rest_endpoint": endpoint} if endpoint else {}
            )
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"
    if error is not None:
        return noted + error.render(color=color) + "\n"
    assert manifests is not None
    n = len(manifests.resources)
    ws = manifests.workspace
    where = endpoint or manifests.rest_endpoint
    files = sum(
        1
        for _ in (
            *manifests.attribute_syncs,
            *manifests.audience_mappings,
            *manifests.event_streams,
        )
    )
    return noted + (
        f"{root}: {n} documents and {files} data files valid; workspace '{ws.name}' → {where}\n"
    )


def summary_counts(m: Manifests) -> dict[str, object]:
    return {
        "workspace": m.workspace.name,
        "rest_endpoint": m.rest_endpoint,
        "kinds": dict(sorted(Counter(r.kind for r in m.resources).items())),
        "attributes": len(m.attributes),
    }


def render_summary(m: Manifests) -> str:
    """A human summary of the workspace: integrations and what each declares."""
    ws = m.workspace
    lines = [
        f"Workspace '{ws.name}' on {m.rest_endpoint} (key from ${ws.spec.api_key_env})",
        "",
    ]
    for name, integration in m.integrations.items():
        lines.append(
            f"  {name} ({integration.spec.partner}, matches on {integration.spec.identifier})"
        )
        attrs = [
            a.definition.name for a in m.attributes.values() if a.schema.spec.integration == name
        ]
        if attrs:
            lines.append(f"    attributes: {', '.join(attrs)}")
        for mapping in m.audience_mappings:
            if mapping.spec.integration == name:
                attr = mapping_attribute(mapping.spec, integration.spec)
                lines.append(
                    f"    audience {mapping.name} → {attr} (on exit: {mapping.spec.on_exit})"
                )
        for sync in m.attribute_syncs:
            if sync.spec.integration == name:
                lines.append(
                    f"    sync {sync.name}: {sync.spec.source.path} "
                    f"({len(sync.spec.columns)} column{'' if len(sync.spec.columns) == 1 else 's'})"
                )
        for schema in m.event_schemas:
            if schema.spec.integration == name:
                events = ", ".join(e.name for e in schema.spec.events)
                lines.append(f"    events: {events}")
        for stream in m.event_streams:
            if stream.spec.integration == name:
                lines.append(f"    event stream {stream.name}: {stream.spec.source.path}")
        for template in m.webhook_templates:
            if template.spec.integration == name:
                lines.append(
                    f"    webhook template {template.name} → content block "
                    f"{template.spec.content_block}"
                )
    kinds = Counter(r.kind for r in m.resources)
    lines.append("")
    lines.append(
        f"{len(m.resources)} documents: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    )
    return "\n".join(lines)
