"""Rokt Calendar's subscription-event contract, from its partner page.

A webhook to `https://api.roktcalendar.com/v1/subscriptionevent/<accountCode>` (add) or
`…/<accountCode>/update` (update) sends an `event` object whose eventId, title (eventTitle),
start (eventStart), end (eventEnd), timezone (eventTz) and notifyBefore fields are required;
notifyBefore is a number of minutes, and start and end are a date and time
(`2019-02-21T15:00:00`). description (eventDescr) and location (eventLocation) are optional.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

HOST = "api.roktcalendar.com"
EVENT_PATH = "/v1/subscriptionevent/"

# (JSON key in "event", the page's name for the field)
REQUIRED: tuple[tuple[str, str], ...] = (
    ("eventId", "eventId"),
    ("title", "eventTitle"),
    ("start", "eventStart"),
    ("end", "eventEnd"),
    ("timezone", "eventTz"),
    ("notifyBefore", "notifyBefore"),
)
_MINUTES = re.compile(r"\d+")


@dataclass(frozen=True)
class EventProblem:
    key: str | None  # the JSON key it concerns, None for the body as a whole
    message: str
    # a field (or the event) absent or empty as previewed (a note), not a wrong value (an error)
    missing: bool = False


def is_subscription_event(url: str) -> bool:
    parts = urlsplit(url.strip())
    return (parts.hostname or "").lower() == HOST and parts.path.startswith(EVENT_PATH)


def event_problems(url: str, body: Any) -> list[EventProblem]:
    """What a rendered Rokt Calendar subscription-event request lacks; [] for other URLs."""
    if not is_subscription_event(url):
        return []
    event = body.get("event") if isinstance(body, dict) else None
    if not isinstance(event, dict):
        return [
            EventProblem(
                None,
                'Rokt Calendar subscription events need an "event" object in the body',
                missing=True,
            )
        ]
    out: list[EventProblem] = []
    for key, name in REQUIRED:
        value = event.get(key)
        text = "" if value is None else str(value).strip()
        if key not in event:
            out.append(
                EventProblem(
                    None,
                    f"event.{key} ({name}) is required by Rokt Calendar but is missing",
                    missing=True,
                )
            )
        elif not text:
            # a note, like a field left out: the value may come from data the preview does
            # not have (an entry property, an attribute the preview user lacks)
            out.append(
                EventProblem(
                    key,
                    f"event.{key} ({name}) is required by Rokt Calendar but renders empty "
                    "in the preview",
                    missing=True,
                )
            )
        elif key == "notifyBefore" and (isinstance(value, bool) or not _MINUTES.fullmatch(text)):
            out.append(
                EventProblem(
                    key,
                    f"event.notifyBefore is {text!r}, not a whole number of minutes "
                    "(Rokt Calendar's reminder time, e.g. 15)",
                )
            )
        elif key in ("start", "end") and not _datetime(text):
            out.append(
                EventProblem(
                    key,
                    f"event.{key} ({name}) is {text!r}, not a date and time "
                    "(e.g. 2019-02-21T15:00:00)",
                )
            )
    return out


def _datetime(text: str) -> bool:
    if "T" not in text:
        return False
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
