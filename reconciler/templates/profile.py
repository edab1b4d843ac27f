"""The user profile a template is rendered for: a JSON file shaped like a Braze export user.

The shape is the user object of `/users/export/ids`, so a real (or scrubbed) export can be
dropped in as a preview user:

    {"external_id": "cust-0001", "first_name": "Camille",
     "custom_attributes": {"rokt:account_code": ["brazetest/f5733866ade2"]},
     "event_properties": {...}, "canvas_entry_properties": {...}, "campaign": {...}}

Top-level fields answer `${first_name}`-style tags, `custom_attributes` answers
`custom_attribute.${name}`, and any other object answers `<namespace>.${name}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import Diagnostic, Location, SourceDataError

# The top-level `${tag}`s Braze documents (supported personalization tags); anything else at
# the top level is almost always a custom attribute missing its `custom_attribute.` prefix.
STANDARD_TAGS = frozenset(
    {
        "braze_id", "city", "country", "date_of_birth", "email_address", "first_name",
        "gender", "language", "last_name", "last_used_app_date", "most_recent_app_version",
        "most_recent_locale", "most_recent_location", "phone_number", "random_bucket_number",
        "set_user_to_opted_in_url", "set_user_to_subscribed_url",
        "set_user_to_unsubscribed_url", "time_zone", "user_id",
    }
)  # fmt: skip

# `${tag}` → the export field that holds it, where the two names differ.
_STANDARD_ALIASES = {"user_id": "external_id", "email_address": "email"}
# `<namespace>.${name}` → the profile key that holds the namespace's object.
_NAMESPACE_KEYS = {"custom_attribute": "custom_attributes"}


@dataclass(frozen=True)
class UserProfile:
    """One user's fields, by where Braze Liquid looks them up."""

    source: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def value(self, namespace: str | None, name: str) -> Any:
        """The value a `${name}` (namespace None) or `namespace.${name}` reads; None if unset."""
        if namespace is None:
            if name in self.fields:
                return self.fields[name]
            alias = _STANDARD_ALIASES.get(name)
            return self.fields.get(alias) if alias else None
        scope = self.fields.get(_NAMESPACE_KEYS.get(namespace, namespace))
        return scope.get(name) if isinstance(scope, Mapping) else None

    @property
    def custom_attributes(self) -> Mapping[str, Any]:
        attrs = self.fields.get("custom_attributes")
        return attrs if isinstance(attrs, Mapping) else {}


EMPTY_PROFILE = UserProfile("(a user with no attributes)")

HIDDEN = "(pii hidden)"
IDENTIFIER_FIELDS = ("external_id", "user_id", "braze_id")
# Standard profile fields that are personal data (reference §1.4), hidden like `pii: true`.
PII_FIELDS = ("email", "email_address", "phone", "phone_number", "first_name", "last_name",
              "dob", "date_of_birth")  # fmt: skip


def masked(profile: UserProfile, pii_attributes: Iterable[str]) -> UserProfile:
    """The profile as output may show it: identifiers and personal data as placeholders.

    An identifier becomes `⟪external_id⟫`, never a masked value such as `c…1` that could pass
    for what Braze would send. Values keep their shape (an array stays an array of the same
    length) so that the template renders the same structure it would with the real values.
    """
    fields = dict(profile.fields)
    for key in IDENTIFIER_FIELDS:
        if isinstance(fields.get(key), str):
            fields[key] = identifier_placeholder(key)
    for key in PII_FIELDS:
        if key in fields:
            fields[key] = _hidden(fields[key])
    attrs = dict(profile.custom_attributes)
    for name in pii_attributes:
        if name in attrs:
            attrs[name] = _hidden(attrs[name])
    if attrs:
        fields["custom_attributes"] = attrs
    return UserProfile(profile.source, fields)


def identifier_placeholder(key: str) -> str:
    return f"⟪{key}⟫"


def _hidden(value: Any) -> Any:
    if isinstance(value, list):
        return [_hidden(v) for v in value]
    return None if value is None else HIDDEN


def load_profile(path: Path, display: str | None = None) -> UserProfile:
    """Read a profile file; a located SourceDataError when it is not a JSON object."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _bad(shown, 0, 0, "user profile file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _bad(shown, 0, 0, f"cannot read the user profile: {e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(shown, e.lineno, e.colno, f"not valid JSON: {e.msg}") from e
    if not isinstance(data, dict):
        raise _bad(shown, 1, 1, "a user profile is a JSON object (a Braze export user)")
    attrs = data.get("custom_attributes", {})
    if not isinstance(attrs, dict):
        raise _bad(
            shown, *_position(text, '"custom_attributes"'), "custom_attributes: not an object"
        )
    return UserProfile(shown, data)


def _position(text: str, needle: str) -> tuple[int, int]:
    index = max(text.find(needle), 0)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _bad(path: str, line: int, col: int, message: str) -> SourceDataError:
    return SourceDataError(
        [
            Diagnostic(
                Location(path, line, col),
                message,
                hint='shape: {"external_id": …, "first_name": …, "custom_attributes": {…}}',
            )
        ],
        summary=f"cannot use {path} as a user profile",
    )
