"""Per-object validation primitives shared by attributes, events and purchases (reference §1)."""

from __future__ import annotations

import re
from typing import Any, Final

MAX_STRING = 255
MAX_EXTERNAL_ID_BYTES = 987

_EMAIL = re.compile(
    r"^[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,30}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Dummy ids Braze refuses ("provided external_id is blacklisted and disallowed"); the exact list
# is Braze's secret, these are the obvious placeholders a broken pipeline sends.
BLOCKLISTED_EXTERNAL_IDS = frozenset(
    {"", "null", "nil", "none", "undefined", "nan", "n/a", "na", "0", "-1", "unknown", "anonymous"}
)

MISSING_IDENTIFIER = "'external_id' or 'braze_id' or 'user_alias' is required"
SEVERAL_PRIMARY = "only one of 'external_id', 'braze_id' or 'user_alias' may be provided"


class ObjectError(Exception):
    """Rejects one object of a `/users/track` request; reported as `errors[].type`."""

    def __init__(self, type_: str) -> None:
        super().__init__(type_)
        self.type = type_


class _Skip:
    """A value Braze accepts in the request but does not store (reference §11.1)."""

    def __repr__(self) -> str:
        return "SKIP"


SKIP: Final = _Skip()


def is_email(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_STRING and bool(_EMAIL.match(value))


def is_phone(value: Any) -> bool:
    return isinstance(value, str) and bool(_PHONE.match(value.strip()))


def phone_key(value: str) -> str:
    """Phones compare by digits and a leading plus."""
    text = value.strip()
    return ("+" if text.startswith("+") else "") + "".join(c for c in text if c.isdigit())


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(_UUID.match(value))


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_external_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ObjectError("'external_id' must be a string")
    if len(value.encode("utf-8")) > MAX_EXTERNAL_ID_BYTES:
        raise ObjectError("EXTERNAL_USER_ID_TOO_LARGE")
    if value.strip().lower() in BLOCKLISTED_EXTERNAL_IDS:
        raise ObjectError("BLACKLISTED_EXTERNAL_USER_ID")
    return value


def check_alias(value: Any) -> tuple[str, str]:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("alias_name"), str)
        or not isinstance(value.get("alias_label"), str)
        or not value["alias_name"]
        or not value["alias_label"]
    ):
        raise ObjectError("'user_alias' must have 'alias_name' and 'alias_label' strings")
    return (value["alias_name"], value["alias_label"])


def check_properties(props: Any, reserved: frozenset[str]) -> dict[str, Any]:
    """Event and purchase `properties`: names non-empty, ≤255, no leading `$`, none reserved."""
    if props is None:
        return {}
    if not isinstance(props, dict):
        raise ObjectError("Invalid 'properties' field")
    for name, value in props.items():
        if not name or len(name) > MAX_STRING or name.startswith("$") or name in reserved:
            raise ObjectError("Invalid 'properties' field")
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise ObjectError("Invalid 'properties' field")
    return props
