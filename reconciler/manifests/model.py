"""The loaded, validated manifests: typed resources by kind and what they resolve to."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from reconciler.errors import Diagnostic
from reconciler.manifests.documents import Resource
from reconciler.manifests.kinds import (
    AttributeSchemaSpec,
    AttributeSyncSpec,
    AudienceMappingSpec,
    EventSchemaSpec,
    EventStreamSpec,
    IntegrationSpec,
    WebhookTemplateSpec,
    WorkspaceSpec,
)
from reconciler.manifests.kinds.attribute_schema import AttributeDef
from reconciler.manifests.partners import DEFAULT_OWNS, actioniq_attribute


@dataclass(frozen=True)
class DeclaredAttribute:
    definition: AttributeDef
    schema: Resource[AttributeSchemaSpec]
    index: int


@dataclass(frozen=True)
class Manifests:
    """Everything in one manifests directory, valid and cross-checked."""

    root: Path
    resources: tuple[Resource[Any], ...]
    rest_endpoint: str
    broken_kinds: frozenset[str] = frozenset()
    """Kinds of documents that failed to load ("*" when the kind is unknown): rules that
    would only echo those failures (a missing reference, a missing declaration) stay quiet."""
    notes: tuple[Diagnostic, ...] = ()  # worth knowing, not errors (rules_content.template_notes)

    def may_lack(self, kind: str) -> bool:
        """True when a `kind` document may exist but failed to load."""
        return kind in self.broken_kinds or "*" in self.broken_kinds

    def of_kind(self, kind: str) -> list[Resource[Any]]:
        return [r for r in self.resources if r.kind == kind]

    @cached_property
    def workspace(self) -> Resource[WorkspaceSpec]:
        return self.of_kind("Workspace")[0]

    @cached_property
    def integrations(self) -> dict[str, Resource[IntegrationSpec]]:
        return {r.name: r for r in self.of_kind("Integration")}

    @cached_property
    def attribute_schemas(self) -> list[Resource[AttributeSchemaSpec]]:
        return self.of_kind("AttributeSchema")

    @cached_property
    def audience_mappings(self) -> list[Resource[AudienceMappingSpec]]:
        return self.of_kind("AudienceMapping")

    @cached_property
    def attribute_syncs(self) -> list[Resource[AttributeSyncSpec]]:
        return self.of_kind("AttributeSync")

    @cached_property
    def event_schemas(self) -> list[Resource[EventSchemaSpec]]:
        return self.of_kind("EventSchema")

    @cached_property
    def event_streams(self) -> list[Resource[EventStreamSpec]]:
        return self.of_kind("EventStream")

    @cached_property
    def webhook_templates(self) -> list[Resource[WebhookTemplateSpec]]:
        return self.of_kind("WebhookTemplate")

    @cached_property
    def attributes(self) -> dict[str, DeclaredAttribute]:
        """Every declared attribute by name (the first declaration wins)."""
        out: dict[str, DeclaredAttribute] = {}
        for schema in self.attribute_schemas:
            for i, attr in enumerate(schema.spec.attributes):
                out.setdefault(attr.name, DeclaredAttribute(attr, schema, i))
        return out

    def attribute_of(self, mapping: Resource[AudienceMappingSpec]) -> str | None:
        """The boolean attribute an AudienceMapping writes (its integration decides how it is
        named: ActionIQ's AIQ_<audience_id>_<split_id>, or its own `attribute:`)."""
        integration = self.integrations.get(mapping.spec.integration)
        return mapping_attribute(mapping.spec, integration.spec if integration else None)

    @cached_property
    def written_attributes(self) -> frozenset[str]:
        """Every attribute an AttributeSync or an AudienceMapping writes."""
        names = {a for sync in self.attribute_syncs for a in sync.spec.columns.values()}
        names.update(n for n in map(self.attribute_of, self.audience_mappings) if n)
        return frozenset(names)

    @cached_property
    def update_existing_only(self) -> frozenset[str]:
        """The attributes written with Braze's `_update_existing_only`: every AttributeSync and
        AudienceMapping that writes them says `update_existing_only: true` (Braze then updates
        only the users it already has, as Amperity's own connector does). One that a creating
        sync also writes is not among them."""
        only: set[str] = set()
        creating: set[str] = set()
        for sync in self.attribute_syncs:
            names = set(sync.spec.columns.values())
            (only if sync.spec.update_existing_only else creating).update(names)
        for mapping in self.audience_mappings:
            name = self.attribute_of(mapping)
            if name is not None:
                (only if mapping.spec.update_existing_only else creating).add(name)
        return frozenset(only - creating)

    def path(self, relative: str) -> Path:
        return self.root / relative


def owns_patterns(integration: IntegrationSpec) -> tuple[str, ...]:
    if integration.owns is not None:
        return tuple(integration.owns)
    return DEFAULT_OWNS.get(integration.partner, ())


def mapping_attribute(
    mapping: AudienceMappingSpec, integration: IntegrationSpec | None
) -> str | None:
    """The boolean attribute an AudienceMapping writes."""
    if integration is not None and integration.partner == "actioniq":
        if mapping.audience_id and mapping.split_id:
            return actioniq_attribute(mapping.audience_id, mapping.split_id)
    return mapping.attribute
