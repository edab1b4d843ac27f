"""The manifest kinds: one pydantic model per kind, plus the registry that names them."""

from __future__ import annotations

from pydantic import BaseModel

from reconciler.manifests.kinds.attribute_schema import AttributeSchemaSpec
from reconciler.manifests.kinds.attribute_sync import AttributeSyncSpec
from reconciler.manifests.kinds.audience_mapping import AudienceMappingSpec
from reconciler.manifests.kinds.common import API_VERSION, Metadata
from reconciler.manifests.kinds.event_schema import EventSchemaSpec
from reconciler.manifests.kinds.event_stream import EventStreamSpec
from reconciler.manifests.kinds.integration import IntegrationSpec
from reconciler.manifests.kinds.webhook_template import WebhookTemplateSpec
from reconciler.manifests.kinds.workspace import WorkspaceSpec

SPECS: dict[str, type[BaseModel]] = {
    "Workspace": WorkspaceSpec,
    "Integration": IntegrationSpec,
    "AttributeSchema": AttributeSchemaSpec,
    "AudienceMapping": AudienceMappingSpec,
    "AttributeSync": AttributeSyncSpec,
    "EventSchema": EventSchemaSpec,
    "EventStream": EventStreamSpec,
    "WebhookTemplate": WebhookTemplateSpec,
}

__all__ = [
    "API_VERSION",
    "SPECS",
    "AttributeSchemaSpec",
    "AttributeSyncSpec",
    "AudienceMappingSpec",
    "EventSchemaSpec",
    "EventStreamSpec",
    "IntegrationSpec",
    "Metadata",
    "WebhookTemplateSpec",
    "WorkspaceSpec",
]
