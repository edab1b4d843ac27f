"""Which profile a `/users/track` object names, created when allowed (reference §1.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.rules import (
    MISSING_IDENTIFIER,
    SEVERAL_PRIMARY,
    ObjectError,
    check_alias,
    check_external_id,
    is_email,
    is_phone,
)
from reconciler.sandbox.store import Profile, Workspace

PRIMARY = ("external_id", "user_alias", "braze_id")


@dataclass(frozen=True, slots=True)
class Lookup:
    """A validated identifier: how to find the profile and whether it may be created."""

    kind: str  # external_id | user_alias | braze_id | email | phone
    key: Any
    creates: bool

    @property
    def primary(self) -> bool:
        return self.kind in PRIMARY


def identify(obj: dict[str, Any], input_array: str) -> Lookup:
    """Validate an object's identifiers without touching the store. Raises ObjectError.

    A primary identifier decides alone (email/phone are then plain fields); without one, email
    beats phone. `_update_existing_only` defaults to false, except with a user alias, where it
    defaults to true on attributes and is always true on events and purchases; a braze_id never
    creates a profile (Braze mints them).
    """
    primaries = [k for k in PRIMARY if k in obj]
    if len(primaries) > 1:
        raise ObjectError(SEVERAL_PRIMARY)
    update_only = obj.get("_update_existing_only")
    if update_only is not None and not isinstance(update_only, bool):
        raise ObjectError("'_update_existing_only' must be a boolean")
    creates = update_only is not True
    if primaries:
        kind = primaries[0]
        if kind == "external_id":
            return Lookup(kind, check_external_id(obj[kind]), creates)
        if kind == "user_alias":
            alias = check_alias(obj[kind])
            return Lookup(kind, alias, input_array == "attributes" and update_only is False)
        if not isinstance(obj[kind], str) or not obj[kind]:
            raise ObjectError("'braze_id' must be a string")
        return Lookup(kind, obj[kind], False)
    if "email" in obj:
        if not is_email(obj["email"]):
            raise ObjectError("EMAIL_BAD_FORMAT")
        return Lookup("email", obj["email"], creates)
    if "phone" in obj:
        if not is_phone(obj["phone"]):
            raise ObjectError("'phone' must be a valid phone number")
        return Lookup("phone", obj["phone"], creates)
    raise ObjectError(MISSING_IDENTIFIER)


def find_or_create(ws: Workspace, lookup: Lookup, now: float) -> Profile | None:
    """The profile to update; None when update-only mode matched nobody."""
    kind, key = lookup.kind, lookup.key
    if kind == "external_id":
        found = ws.external(key)
        if found is None and lookup.creates:
            found = ws.create(now, external_id=key)
        return found
    if kind == "user_alias":
        found = ws.alias(*key)
        if found is None and lookup.creates:
            found = ws.create(now, alias=key)
        return found
    if kind == "braze_id":
        return ws.by_braze_id(key)
    matches = ws.email_matches(key) if kind == "email" else ws.phone_matches(key)
    found = ws.best_match(matches)
    if found is None and lookup.creates:
        found = ws.create(now)  # an email-only (or phone-only) profile, no alias
        ws.set_field(found, kind, key)
    return found
