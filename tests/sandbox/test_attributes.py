"""Conformance, reference §1.4 and §1.5: standard fields, custom attribute types and schema."""

from __future__ import annotations

import json
from typing import Any

from sandbox.conftest import Api


def _set(api: Api, **attrs: Any) -> dict[str, Any]:
    api.track(attributes=[{"external_id": "u", **attrs}])
    return api.user("u")


def test_standard_fields_validated_and_never_custom__ref_1_4(api: Api) -> None:
    """§1.4: lower-case names only; country mapped or NULL; dob/gender/time_zone validated."""
    user = _set(api, first_name="Ada", First_Name="custom", country="Australia",
                language="FR", dob="1980-12-21", gender="F", time_zone="America/New_York",
                email_subscribe="opted_in", home_city="Paris",
                current_location={"longitude": 2.35, "latitude": 48.85})  # fmt: skip
    assert user["first_name"] == "Ada"
    assert user["custom_attributes"] == {"First_Name": "custom"}
    assert (user["country"], user["language"], user["dob"]) == ("AU", "fr", "1980-12-21")
    assert (user["gender"], user["time_zone"]) == ("F", "America/New_York")
    assert user["email_subscribe"] == "opted_in"
    assert user["last_coordinates"] == [2.35, 48.85]
    user = _set(api, country="Atlantis", dob="21/12/1980", gender="female", time_zone="Mars/Base")
    assert "country" not in user  # unmappable country is stored as NULL
    assert (user["dob"], user["gender"], user["time_zone"]) == (
        "1980-12-21",
        "F",
        "America/New_York",
    )
    bad = api.track(attributes=[{"external_id": "u", "push_subscribe": "yes"},
                                {"external_id": "u", "current_location": {"longitude": 500}},
                                {"external_id": "u", "subscription_groups": [
                                    {"subscription_group_id": "nope",
                                     "subscription_state": "subscribed"}]}])  # fmt: skip
    assert [e["type"] for e in bad["errors"]] == [
        "BAD_PUSH_SUBSCRIPTION_STATE",
        "BAD_LOCATION_UPDATE",
        "BAD_SUBSCRIPTION_GROUP_ID",
    ]


def test_custom_attribute_types_and_operations__ref_1_5(api: Api) -> None:
    """§1.5: strings ≤255, numbers, booleans, dates, `inc`, null deletes, `""` is kept."""
    user = _set(api, s="text", n=3, f=1.5, b=False, d="2021-12-01", t="12/1/2021",
                long="x" * 256, empty="", gone="soon", count={"inc": 2}, far="3001-01-01")  # fmt: skip
    attrs = user["custom_attributes"]
    assert attrs["s"] == "text" and attrs["n"] == 3 and attrs["f"] == 1.5 and attrs["b"] is False
    assert attrs["d"] == "2021-12-01T00:00:00.000Z" and attrs["t"] == "2021-12-01T00:00:00.000Z"
    assert attrs["far"] == "3001-01-01"  # year > 3000 stays a string
    assert "long" not in attrs  # over 255 characters: accepted, not stored
    assert attrs["empty"] == "" and attrs["count"] == 2
    attrs = _set(api, gone=None, count={"inc": -5})["custom_attributes"]
    assert "gone" not in attrs and attrs["count"] == -3
    assert _set(api, s={"inc": 1})["custom_attributes"]["s"] == "text"  # inc on a string: ignored


def test_arrays_unique_add_remove_fifo__ref_1_5_arrays(api: Api) -> None:
    """§1.5: arrays are unique and ordered; add moves to the end; FIFO trim at array_length."""
    attrs = _set(api, tags=["a", "b", "a", "c"])["custom_attributes"]
    assert attrs["tags"] == ["a", "b", "c"]
    attrs = _set(api, tags={"add": ["a", "d"], "remove": ["b"]})["custom_attributes"]
    assert attrs["tags"] == ["c", "a", "d"]
    api.admin(
        "POST", "custom_attributes", {"name": "recent", "data_type": "Array", "array_length": 3}
    )
    attrs = _set(api, recent=["1", "2", "3"])["custom_attributes"]
    attrs = _set(api, recent={"add": ["4", "5"]})["custom_attributes"]
    assert attrs["recent"] == ["3", "4", "5"]
    api.admin("POST", "config", {"array_length": 2})
    assert _set(api, fresh=["x", "y", "z"])["custom_attributes"]["fresh"] == ["y", "z"]


def test_nested_objects_merge_and_time__ref_1_5_nested(api: Api) -> None:
    """§1.5: objects replace unless `_merge_objects`; `$time`; a bad value drops the update."""
    song = {"song_name": "Solea", "play_analytics": {"count": 1000, "top": True}}
    assert _set(api, song=song)["custom_attributes"]["song"] == song
    merged = _set(api, _merge_objects=True, song={"year": 1960, "play_analytics": {"count": 1}})
    assert merged["custom_attributes"]["song"] == {
        "song_name": "Solea",
        "play_analytics": {"count": 1, "top": True},
        "year": 1960,
    }
    assert _set(api, song={"year": 1961})["custom_attributes"]["song"] == {"year": 1961}
    dates = _set(api, dates={"birthday": {"$time": "1980-01-01T19:20:30Z"}})
    assert dates["custom_attributes"]["dates"] == {"birthday": "1980-01-01T19:20:30.000Z"}
    dropped = _set(api, song={"year": None}, dates={"x": {"$time": "not a date"}})
    assert dropped["custom_attributes"]["song"] == {"year": 1961}
    assert dropped["custom_attributes"]["dates"] == {"birthday": "1980-01-01T19:20:30.000Z"}


def test_arrays_of_objects_add_remove_update__ref_1_5_array_of_objects(api: Api) -> None:
    """§1.5: `$add` → `$remove` → `$update`; remove+add in one call is not an upsert."""
    pets = [{"id": 1, "name": "Rex"}, {"id": 2, "name": "Tom"}]
    assert _set(api, pets=pets)["custom_attributes"]["pets"] == pets
    ops = {"$add": [{"id": 3, "name": "Kit"}], "$remove": [{"$identifier_key": "id",
           "$identifier_value": 1}], "$update": [{"$identifier_key": "id", "$identifier_value": 2,
           "$new_object": {"age": 4}}]}  # fmt: skip
    after = _set(api, _merge_objects=True, pets=ops)["custom_attributes"]["pets"]
    assert after == [{"id": 2, "name": "Tom", "age": 4}, {"id": 3, "name": "Kit"}]
    upsert = {"$add": [{"id": 2, "name": "New"}],
              "$remove": [{"$identifier_key": "id", "$identifier_value": 2}]}  # fmt: skip
    assert _set(api, pets=upsert)["custom_attributes"]["pets"] == [{"id": 3, "name": "Kit"}]


def test_key_names_case_trim_and_nested_key_rules__ref_1_5_key_names(api: Api) -> None:
    """§1.5: names are case-sensitive and trimmed; nested keys with `.`, `$` or spaces drop."""
    attrs = _set(api, **{" tier ": "gold", "Tier": "silver", "obj": {"a.b": 1}})[
        "custom_attributes"
    ]
    assert attrs == {"tier": "gold", "Tier": "silver"}


def test_first_write_registers_schema_forced_and_blocklisted__ref_1_5_and_4_1(api: Api) -> None:
    """§4.1/§1.5: first write registers the detected type; forced types coerce; blocklist."""
    api.admin("POST", "custom_attributes", {"name": "vip", "data_type": "Boolean"})
    api.admin("POST", "custom_attributes", {"name": "secret", "blocklisted": True})
    attrs = _set(api, n=1, when="2024-02-03", vip="t", secret="x", later=5)["custom_attributes"]
    assert attrs == {"n": 1, "when": "2024-02-03T00:00:00.000Z", "vip": True, "later": 5}
    _set(api, n="now a string")  # an auto-detected type does not change
    assert _set(api, vip="maybe")["custom_attributes"]["vip"] is True  # impossible: ignored
    rows = {a["name"]: a for a in api.get("/custom_attributes").json()["attributes"]}
    assert rows["n"]["data_type"] == "Number (Automatically Detected)"
    assert rows["when"]["data_type"] == "Date (Automatically Detected)"
    assert rows["vip"]["data_type"] == "Boolean"
    assert rows["secret"]["status"] == "Blocklisted"
    assert api.stats()["data_points"] == 4 + 1 + 1  # the blocklisted write is not billed


def test_padded_keys_are_trimmed_before_reserved_checks__ref_10_key_names(api: Api) -> None:
    """§10/§1.3/§1.4: names are trimmed first, so a padded identifier, control key or standard
    field is that key, never a custom attribute of that name; two keys that trim to one name are
    one key sent twice (the later wins, like a duplicated JSON key)."""
    api.track(attributes=[{" external_id ": "pad", " email ": "pad@example.com",
                           " first_name": "Zed", "bio ": "hi", "Email": "E", " tier ": "gold"}])  # fmt: skip
    user = api.user("pad")
    assert (user["email"], user["first_name"]) == ("pad@example.com", "Zed")
    assert user["custom_attributes"] == {"Email": "E", "tier": "gold"}
    body = api.track(attributes=[
        {"external_id ": "ghost", " _update_existing_only ": True, "a": 1},
        {" email": "pad@example.com", " _merge_objects ": True, "hit": True},  # email lookup
        {"external_id": "pad", " email ": "not-an-email"},
    ])  # fmt: skip
    assert body["errors"] == [{"type": "EMAIL_BAD_FORMAT", "input_array": "attributes", "index": 2}]
    assert api.export("ghost")["users"] == []
    assert api.user("pad")["custom_attributes"] == {"Email": "E", "tier": "gold", "hit": True}
    api.track(attributes=[{"external_id": "first", " external_id ": "second", "n": 1}])
    assert api.export("first")["users"] == []
    assert api.user("second")["custom_attributes"] == {"n": 1}
    names = [a["name"] for a in api.get("/custom_attributes").json()["attributes"]]
    assert names == ["Email", "hit", "n", "tier"]
    assert api.stats()["data_points"] == 4 + 1 + 1  # email, first_name, Email, tier; hit; n


def test_array_values_compare_as_json_values__ref_1_5_arrays(api: Api) -> None:
    """§1.5: array values are unique, but JSON's `true`/`1` and `false`/`0` are different values
    (Python's `True == 1` is not JSON); `1` and `1.0` are one JSON number, first spelling kept."""
    attrs = _set(api, flags=[1, True, 1.0, "1", False, 0, 0.0, True])["custom_attributes"]
    assert json.dumps(attrs["flags"]) == '[1, true, "1", false, 0]'
    attrs = _set(api, flags={"add": [True, 2], "remove": [0]})["custom_attributes"]
    assert json.dumps(attrs["flags"]) == '[1, "1", false, true, 2]'
    attrs = _set(api, flags={"add": [1.0], "remove": [False]})["custom_attributes"]
    assert json.dumps(attrs["flags"]) == '["1", true, 2, 1.0]'
