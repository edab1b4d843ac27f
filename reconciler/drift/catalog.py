"""What drift knows about each ledger attribute: its declared type, PII flag and export field.

The ledger stores values in the form the plan wrote them (reconciler.state.values), so reading
a value back from Braze needs the same facts the plan used: the declared type (to normalise
Braze's spelling of it) and `pii` (to hash it with the state's key before comparing).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.manifests import Manifests
from reconciler.manifests.documents import Resource
from reconciler.manifests.kinds import AttributeSchemaSpec

# Standard profile fields /users/export/ids can return (reference §3), top level in each user.
EXPORTABLE_STANDARD = frozenset(
    {
        "country",
        "dob",
        "email",
        "email_subscribe",
        "first_name",
        "gender",
        "home_city",
        "language",
        "last_name",
        "phone",
        "push_subscribe",
        "time_zone",
    }
)
CUSTOM_ATTRIBUTES_FIELD = "custom_attributes"


@dataclass(frozen=True)
class AttributeInfo:
    """One attribute as drift reads it. `type` is an AttributeSchema type, or None if unknown."""

    name: str
    type: str | None
    pii: bool = False
    standard: bool = False
    max_length: int | None = None
    where: str = ""  # the manifest location that declares it, for messages
    # written with `_update_existing_only`: a user Braze does not have was skipped, not lost
    update_only: bool = False

    @property
    def export_field(self) -> str | None:
        """The fields_to_export entry that returns it; None when export cannot return it."""
        if not self.standard:
            return CUSTOM_ATTRIBUTES_FIELD
        return self.name if self.name in EXPORTABLE_STANDARD else None


def build_catalog(m: Manifests) -> dict[str, AttributeInfo]:
    """Every declared attribute, plus each AudienceMapping's boolean (declared or not)."""
    out: dict[str, AttributeInfo] = {}
    for name, declared in m.attributes.items():
        d = declared.definition
        out[name] = AttributeInfo(
            name,
            d.type,
            pii=d.pii,
            standard=d.standard,
            max_length=d.max_length,
            where=_where(declared.schema, declared.index),
            update_only=name in m.update_existing_only,
        )
    for mapping in m.audience_mappings:
        attribute = m.attribute_of(mapping)
        if attribute is not None and attribute not in out:
            out[attribute] = AttributeInfo(
                attribute,
                "boolean",
                where=str(mapping.location),
                update_only=attribute in m.update_existing_only,
            )
    return out


def _where(schema: Resource[AttributeSchemaSpec], index: int) -> str:
    return str(schema.at("attributes", index, "name"))
