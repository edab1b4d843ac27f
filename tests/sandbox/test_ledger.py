"""Conformance, reference §1.9: the data-point ledger, on payloads from Braze's own docs."""

from __future__ import annotations

from typing import Any

from syrupy.assertion import SnapshotAssertion

from sandbox.conftest import Api

WHEN = "2024-03-01T12:00:00Z"
SONG = {
    "song_name": "Solea",
    "artist_name": "Miles Davis",
    "album_name": "Sketches of Spain",
    "year_released": 1960,
    "genre": "Jazz",
    "play_analytics": {"count": 1000, "top_10_listeners": True},
}
SUBSCRIPTION_GROUP = "e5c8a6b1-1f0f-4a2b-9d3c-3b6f0b7d2a11"

# name -> (setup payloads, measured payload): only the measured one is counted.
DOC_PAYLOADS: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "user_attributes_object example (alias user is update-only: not billed)": ([], {
        "attributes": [
            {"external_id": "user1", "first_name": "Jon", "has_profile_picture": True,
             "dob": "1988-02-14", "music_videos_favorited": {
                 "add": ["calvinharris-summer"], "remove": ["nickiminaj-anaconda"]}},
            {"external_id": "user2", "first_name": "Jill", "has_profile_picture": False,
             "push_tokens": [{"app_id": "app-id", "token": "abcd",
                              "device_id": "optional_field_value"}]},
            {"user_alias": {"alias_name": "device123", "alias_label": "my_device_identifier"},
             "first_name": "Alice", "has_profile_picture": False},
        ]}),
    "nested object initialised (docs: 7 data points)": ([], {
        "attributes": [{"external_id": "user_id", "most_played_song": SONG}]}),
    "nested object deep merge of one key": (
        [{"attributes": [{"external_id": "user_id", "most_played_song": SONG}]}],
        {"attributes": [{"external_id": "user_id", "_merge_objects": True,
                         "most_played_song": {"year_released": 1960}}]}),
    "nested object set to null": (
        [{"attributes": [{"external_id": "user_id", "most_played_song": SONG}]}],
        {"attributes": [{"external_id": "user_id", "most_played_song": None}]}),
    "nested dates with $time": ([], {"attributes": [{"external_id": "time_with_nca_test",
        "important_dates": {"birthday": {"$time": "1980-01-01T19:20:30Z"},
                            "wedding_anniversary": {"$time": "2020-05-28T19:20:30Z"}}}]}),
    "whole array set at once": ([], {"attributes": [{"external_id": "u",
        "favorite_colors": ["red", "blue", "green"]}]}),
    "array add of three values": ([], {"attributes": [{"external_id": "u",
        "favorite_colors": {"add": ["red", "blue", "green"]}}]}),
    "array remove of a value that does not exist": ([], {"attributes": [{"external_id": "u",
        "favorite_colors": {"remove": ["purple"]}}]}),
    "array of objects $add / $remove / $update": (
        [{"attributes": [{"external_id": "u", "pets": [{"id": 1, "type": "dog"}]}]}],
        {"attributes": [{"external_id": "u", "_merge_objects": True, "pets": {
            "$add": [{"id": 2, "type": "cat"}, {"id": 3, "type": "fish"}],
            "$remove": [{"$identifier_key": "id", "$identifier_value": 1}],
            "$update": [{"$identifier_key": "id", "$identifier_value": 2,
                         "$new_object": {"type": "tabby"}}]}}]}),
    "two custom events": ([], {"events": [
        {"external_id": "u", "name": "rented_movie", "time": WHEN,
         "properties": {"movie": "The Sad Egg", "director": "Dan Alexander"}},
        {"external_id": "u", "name": "added_to_cart", "time": WHEN}]}),
    "one purchase of quantity 3": ([], {"purchases": [{"external_id": "u", "product_id":
        "backpack", "currency": "USD", "price": 40.0, "quantity": 3, "time": WHEN}]}),
    "subscription fields only (free)": ([], {"attributes": [{"external_id": "u",
        "email_subscribe": "opted_in", "push_subscribe": "unsubscribed",
        "subscription_groups": [{"subscription_group_id": SUBSCRIPTION_GROUP,
                                 "subscription_state": "subscribed"}]}]}),
    "unchanged values resent still count": (
        [{"attributes": [{"external_id": "u", "first_name": "Ada", "tier": "gold"}]}],
        {"attributes": [{"external_id": "u", "first_name": "Ada", "tier": "gold"}]}),
    "rejected object is not billed": ([], {"attributes": [
        {"external_id": "u", "tier": "gold", "email": "broken"}]}),
    "update-only object matching nobody is not billed": ([], {"attributes": [
        {"external_id": "ghost", "_update_existing_only": True, "tier": "gold"}]}),
    "removed profile field bio: not processed, not billed": ([], {"attributes": [
        {"external_id": "u", "bio": "removed field", "tier": "gold"}]}),
}  # fmt: skip


def measure(api: Api, setup: list[dict[str, Any]], payload: dict[str, Any]) -> int:
    api.admin("POST", "reset")
    for body in setup:
        api.track(**body)
    before = api.stats()["data_points"]
    api.track(**payload)
    return int(api.stats()["data_points"] - before)


def test_data_points_for_docs_payloads__ref_1_9(api: Api, snapshot: SnapshotAssertion) -> None:
    """§1.9: the stats endpoint counts exactly, for a table of payloads from Braze's docs."""
    table = {name: measure(api, *case) for name, case in DOC_PAYLOADS.items()}
    assert table["nested object initialised (docs: 7 data points)"] == 7
    assert table == snapshot


def test_ledger_rules__ref_1_9(api: Api) -> None:
    """§1.9: unchanged values count; subscription fields and identifiers are free."""
    body = {"external_id": "u", "email": "u@example.com", "first_name": "A", "plan": "pro",
            "email_subscribe": "subscribed"}  # fmt: skip
    api.track(attributes=[body])
    api.track(attributes=[body])
    stats = api.stats()
    assert stats["data_points"] == 6  # email, first_name, plan; twice
    assert stats["requests"] == {"/users/track": 2}
    assert (stats["objects"], stats["rejected_objects"]) == (2, 0)
    api.admin("POST", "users/u", {"custom_attributes": {"plan": "free"}})
    assert api.stats()["data_points"] == 6  # a write behind our back is not billed
    assert api.user("u")["custom_attributes"]["plan"] == "free"
