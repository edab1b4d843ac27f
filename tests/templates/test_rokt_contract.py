"""Rokt Calendar's subscription-event contract (its partner page): the required event fields
on both of its URLs (add and update), and nothing asked of any other URL."""

from __future__ import annotations

from typing import Any

from reconciler.templates.rokt import event_problems

ADD = "https://api.roktcalendar.com/v1/subscriptionevent/brazetest"
UPDATE = "https://api.roktcalendar.com/v1/subscriptionevent/brazetest/update"
EVENT: dict[str, Any] = {
    "eventId": "Event_0001_cust-0001",
    "title": "Summer Sale 2019",
    "start": "2019-02-21T15:00:00",
    "end": "2019-02-21T16:00:00",
    "timezone": "Eastern Standard Time",
    "notifyBefore": "15",
}


def messages(url: str, body: Any) -> list[str]:
    return [p.message for p in event_problems(url, body)]


def test_the_page_example_passes_on_both_urls_and_optional_fields_may_be_absent() -> None:
    assert messages(ADD, {"event": EVENT, "subscriptionIds": ["s1"]}) == []
    assert messages(UPDATE, {"event": {**EVENT, "notifyBefore": 30}}) == []


def test_every_required_field_is_named_when_missing_on_the_update_url() -> None:
    assert messages(UPDATE, {"event": {"description": "d", "location": "l"}}) == [
        f"event.{key} ({name}) is required by Rokt Calendar but is missing"
        for key, name in [
            ("eventId", "eventId"),
            ("title", "eventTitle"),
            ("start", "eventStart"),
            ("end", "eventEnd"),
            ("timezone", "eventTz"),
            ("notifyBefore", "notifyBefore"),
        ]
    ]


def test_no_event_object_and_non_minute_reminders_are_refused() -> None:
    assert messages(ADD, {"subscriptionIds": []}) == [
        'Rokt Calendar subscription events need an "event" object in the body'
    ]
    assert messages(ADD, None) == messages(ADD, {"subscriptionIds": []})
    for bad in ("-5", "1.5", True):
        [problem] = event_problems(ADD, {"event": {**EVENT, "notifyBefore": bad}})
        assert problem.key == "notifyBefore"
        assert "not a whole number of minutes" in problem.message


def test_other_urls_are_not_rokt_subscription_events() -> None:
    for url in (
        "https://api.roktcalendar.com/oauth2/token",
        "https://example.com/v1/subscriptionevent/x",
        "https://api-example.notifications.sendbird.com/v3/notifications/realtime",
    ):
        assert event_problems(url, {}) == []
