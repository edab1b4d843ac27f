"""The reserved profile fields of an attributes object: validation and normalisation (§1.4)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any

from reconciler.sandbox.dates import format_time, parse_date
from reconciler.sandbox.iso_codes import LANGUAGES, country_code
from reconciler.sandbox.rules import SKIP, ObjectError, is_email, is_number, is_uuid

Normalizer = Callable[[Any], Any]  # returns the stored value, None to unset, or SKIP

SUBSCRIBE_STATES = frozenset({"opted_in", "subscribed", "unsubscribed"})
GENDERS = frozenset({"M", "F", "O", "N", "P"})

# Subscription state changes and default device data are free (reference §1.9).
FREE_FIELDS = frozenset(
    {
        "email_subscribe",
        "push_subscribe",
        "subscription_groups",
        "push_tokens",
        "email_open_tracking_disabled",
        "email_click_tracking_disabled",
    }
)
IDENTIFIERS = frozenset({"external_id", "user_alias", "braze_id"})
CONTROL_KEYS = frozenset({"_update_existing_only", "_merge_objects", "push_token_import"})
# "The Profile Field `bio` was removed ... and will not be processed as a custom attribute."
IGNORED_KEYS = frozenset({"bio"})


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _string(value: Any) -> Any:
    if value is None:
        return None
    return value if isinstance(value, str) and len(value) <= 255 else SKIP


def _email(value: Any) -> Any:
    if value is None:
        return None
    if not is_email(value):
        raise ObjectError("EMAIL_BAD_FORMAT")
    return value


def _dob(value: Any) -> Any:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat() if len(value) == 10 else SKIP
    except (TypeError, ValueError):
        return SKIP


def _country(value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return None
    return country_code(value)  # unmappable → NULL (reference §1.4)


def _language(value: Any) -> Any:
    if value is None:
        return None
    return value.lower() if isinstance(value, str) and value.lower() in LANGUAGES else SKIP


def _gender(value: Any) -> Any:
    if value is None:
        return None
    return value if value in GENDERS else SKIP


def _time_zone(value: Any) -> Any:
    if value is None:
        return None
    return value if isinstance(value, str) and value in _time_zones() else SKIP


def _subscribe(error: str) -> Normalizer:
    def check(value: Any) -> Any:
        if value not in SUBSCRIBE_STATES:
            raise ObjectError(error)
        return value

    return check


def _subscription_groups(value: Any) -> Any:
    if not isinstance(value, list):
        raise ObjectError("BAD_SUBSCRIPTION_GROUP_ARRAY")
    states: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict):
            raise ObjectError("BAD_SUBSCRIPTION_GROUP_HASH")
        if not is_uuid(item.get("subscription_group_id")):
            raise ObjectError("BAD_SUBSCRIPTION_GROUP_ID")
        if item.get("subscription_state") not in ("subscribed", "unsubscribed"):
            raise ObjectError("BAD_SUBSCRIPTION_GROUP_STATE")
        states[item["subscription_group_id"]] = item["subscription_state"]
    return states


def _location(value: Any) -> Any:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not is_number(value.get("longitude"))
        or not is_number(value.get("latitude"))
        or not -180 <= value["longitude"] <= 180
        or not -90 <= value["latitude"] <= 90
    ):
        raise ObjectError("BAD_LOCATION_UPDATE")
    return [value["longitude"], value["latitude"]]


def _date_field(value: Any) -> Any:
    if value is None:
        return None
    when = parse_date(value) if isinstance(value, str) else None
    return format_time(when) if when else SKIP


def _boolean(value: Any) -> Any:
    return value if isinstance(value, bool) else SKIP


def _push_tokens(value: Any) -> Any:
    if not isinstance(value, list):
        raise ObjectError("BAD_PUSH_TOKEN_VALUE")
    for item in value:
        if not isinstance(item, dict):
            raise ObjectError("BAD_PUSH_TOKEN_VALUE")
        if not isinstance(item.get("app_id"), str) or not item["app_id"]:
            raise ObjectError("BAD_PUSH_TOKEN_APP_ID")
        if not isinstance(item.get("token"), str) or not item["token"]:
            raise ObjectError("BAD_PUSH_TOKEN_STRING")
    return value


def _hash(value: Any) -> Any:
    return value if value is None or isinstance(value, dict) else SKIP


STANDARD_FIELDS: dict[str, Normalizer] = {
    "first_name": _string,
    "last_name": _string,
    "home_city": _string,
    "image_url": _string,
    "email": _email,
    "phone": _string,
    "dob": _dob,
    "country": _country,
    "language": _language,
    "gender": _gender,
    "time_zone": _time_zone,
    "email_subscribe": _subscribe("BAD_EMAIL_SUBSCRIPTION_STATE"),
    "push_subscribe": _subscribe("BAD_PUSH_SUBSCRIPTION_STATE"),
    "subscription_groups": _subscription_groups,
    "current_location": _location,
    "date_of_first_session": _date_field,
    "date_of_last_session": _date_field,
    "marked_email_as_spam_at": _date_field,
    "email_open_tracking_disabled": _boolean,
    "email_click_tracking_disabled": _boolean,
    "push_tokens": _push_tokens,
    "facebook": _hash,
    "twitter": _hash,
}
