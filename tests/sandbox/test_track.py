"""Conformance, reference §1.1, §1.3, §1.6, §1.7: `/users/track` requests and identifiers."""

from __future__ import annotations

from sandbox.conftest import Api


def _objs(n: int, prefix: str = "u") -> list[dict[str, object]]:
    return [{"external_id": f"{prefix}{i}", "n": i} for i in range(n)]


def test_201_with_processed_counts_only_for_arrays_sent__ref_1_7_responses(api: Api) -> None:
    """§1.7: 201, `message: success`, `*_processed` only for the arrays present."""
    r = api.post("/users/track", json={"attributes": _objs(2)})
    assert r.status_code == 201
    assert r.json() == {"message": "success", "attributes_processed": 2}
    event = {"external_id": "u0", "name": "signup", "time": "2024-01-01T00:00:00Z"}
    purchase = {"external_id": "u0", "product_id": "p", "currency": "USD", "price": 1.5,
                "time": "2024-01-01T00:00:00Z"}  # fmt: skip
    both = api.track(events=[event], purchases=[purchase])
    assert both == {"message": "success", "events_processed": 1, "purchases_processed": 1}


def test_75_objects_combined_then_400__ref_1_1_batch_limits(api: Api) -> None:
    """§1.1: 75 objects combined across the arrays; 76 → 400 Max Input Length Exceeded."""
    events = [{"external_id": "u", "name": "e", "time": "2024-01-01"}] * 25
    assert (
        api.post("/users/track", json={"attributes": _objs(50), "events": events}).status_code
        == 201
    )
    over = api.post("/users/track", json={"attributes": _objs(51), "events": events})
    assert (over.status_code, over.json()) == (400, {"message": "Max Input Length Exceeded"})
    api.admin("POST", "config", {"legacy_object_limit": True})  # 75 per array
    assert (
        api.post("/users/track", json={"attributes": _objs(75), "events": events}).status_code
        == 201
    )
    assert api.post("/users/track", json={"attributes": _objs(76)}).status_code == 400


def test_per_object_errors_inside_201_rest_applied__ref_1_7_and_10(api: Api) -> None:
    """§1.7/§10: invalid objects are reported by index, the others are applied."""
    attributes = [
        {"external_id": "ok1", "n": 1},
        {"n": 2},  # no identifier
        {"external_id": "x", "braze_id": "y", "n": 3},  # two primary identifiers
        {"external_id": "bad-email", "email": "not-an-email"},
        {"external_id": "x" * 988},
        {"external_id": "sub", "email_subscribe": "maybe"},
        {"external_id": "ok2", "n": 7},
    ]
    events = [
        {"external_id": "ok1", "time": "2024-01-01T00:00:00Z"},  # no name
        {"external_id": "ok1", "name": "e"},  # no time
        {"external_id": "ok1", "name": "e", "time": "2024-01-01", "properties": {"time": 1}},
        {"external_id": "ok1", "name": "e", "time": "2024-01-01"},
    ]
    body = api.track(attributes=attributes, events=events)
    assert body["attributes_processed"] == 2
    assert body["events_processed"] == 1
    types = {(e["input_array"], e["index"]): e["type"] for e in body["errors"]}
    assert types == {
        ("attributes", 1): "'external_id' or 'braze_id' or 'user_alias' is required",
        ("attributes", 2): "only one of 'external_id', 'braze_id' or 'user_alias' may be provided",
        ("attributes", 3): "EMAIL_BAD_FORMAT",
        ("attributes", 4): "EXTERNAL_USER_ID_TOO_LARGE",
        ("attributes", 5): "BAD_EMAIL_SUBSCRIPTION_STATE",
        ("events", 0): "'name' is required",
        ("events", 1): "'time' is required",
        ("events", 2): "Invalid 'properties' field",
    }
    assert [u["external_id"] for u in api.export("ok1", "ok2", "bad-email", "sub")["users"]] == [
        "ok1",
        "ok2",
    ]
    stats = api.stats()
    assert (stats["objects"], stats["rejected_objects"]) == (3, 8)


def test_identifier_resolution__ref_1_3(api: Api) -> None:
    """§1.3: primary beats email; email beats phone; email-only creation; alias rules."""
    api.track(attributes=[{"email": "a@example.com", "src": "email-only"}])
    found = api.post("/users/export/ids", json={"email_address": "a@example.com",
                                                 "fields_to_export": ["custom_attributes", "email"]})  # fmt: skip
    assert found.json()["users"] == [{"email": "a@example.com",
                                      "custom_attributes": {"src": "email-only"}}]  # fmt: skip
    # a new external_id with a known email creates a second profile (duplicates)
    api.track(attributes=[{"external_id": "e1", "email": "a@example.com", "src": "primary"}])
    both = api.post("/users/export/ids", json={"email_address": "a@example.com",
                                                "fields_to_export": ["external_id"]})  # fmt: skip
    assert len(both.json()["users"]) == 2
    # email lookup now prefers the profile with an external_id
    api.track(attributes=[{"email": "a@example.com", "phone": "+15555550100", "hit": True}])
    assert api.user("e1")["custom_attributes"]["hit"] is True
    assert api.user("e1")["phone"] == "+15555550100"
    # alias: update-only by default on attributes, created only with an explicit false
    alias = {"alias_name": "amp-1", "alias_label": "amplitude"}
    api.track(attributes=[{"user_alias": alias, "a": 1}])
    by_alias = {"user_aliases": [alias], "fields_to_export": ["user_aliases", "custom_attributes"]}
    assert api.post("/users/export/ids", json=by_alias).json()["users"] == []
    api.track(attributes=[{"user_alias": alias, "_update_existing_only": False, "a": 2}])
    assert api.post("/users/export/ids", json=by_alias).json()["users"] == [
        {"user_aliases": [alias], "custom_attributes": {"a": 2}}
    ]
    # external_id with update-only set does not create; an unknown braze_id never does
    api.track(attributes=[{"external_id": "ghost", "_update_existing_only": True, "a": 1},
                          {"braze_id": "000000000000000000000000", "a": 1}])  # fmt: skip
    assert api.export("ghost")["users"] == []


def test_events_and_purchases_recorded__ref_1_6(api: Api) -> None:
    """§1.6: every event is an occurrence (no dedup); future times clamp; purchases summed."""
    event = {"external_id": "u", "name": "opened", "time": "2024-01-02T00:00:00Z",
             "properties": {"screen": "home"}}  # fmt: skip
    future = {**event, "time": "2999-01-01T00:00:00Z"}
    purchase = {"external_id": "u", "product_id": "sku", "currency": "EUR", "price": 2.5,
                "quantity": 3, "time": "2024-01-01"}  # fmt: skip
    api.track(events=[event, event, future], purchases=[purchase])
    user = api.user("u")
    assert user["custom_events"][0]["count"] == 3
    assert user["custom_events"][0]["first"] == "2024-01-02T00:00:00.000Z"
    assert user["custom_events"][0]["last"] < "2999"
    assert user["purchases"] == [{"name": "sku", "first": "2024-01-01T00:00:00.000Z",
                                  "last": "2024-01-01T00:00:00.000Z", "count": 3}]  # fmt: skip
    assert user["total_revenue"] == 7.5
    log = api.admin("GET", "events")
    assert [e["name"] for e in log["events"]] == ["opened"] * 3
    assert log["events"][0]["properties"] == {"screen": "home"}
    assert log["purchases"][0]["product_id"] == "sku"


# ISO-8601 as real clients write it → the sandbox's one spelling (milliseconds, UTC).
CLIENT_TIMES = {
    "2024-01-02T03:04:05.123456789Z": "2024-01-02T03:04:05.123Z",  # Go RFC3339Nano, Java Instant
    "2024-01-02T03:04:05.1234567+00:00": "2024-01-02T03:04:05.123Z",  # .NET "o"
    "2024-01-02T03:04:05.9999999-05:00": "2024-01-02T08:04:05.999Z",
    "2024-01-02T03:04:05+01": "2024-01-02T02:04:05.000Z",  # hour-only offset
    "2024-01-02T03:04:05.12345678-01": "2024-01-02T04:04:05.123Z",
}
NOT_TIMES = ["2024-01-02T03:04:05.1234567890Z", "2024-01-02T03:04:05+1", "2024-01-02T03:04:05+25",
             "2024-01-02-05", "2024-01-02T03:04:05+01:", "soon"]  # fmt: skip


def test_iso_8601_client_spellings_read_alike_everywhere__ref_1_5_time_and_1_6(api: Api) -> None:
    """§1.5/§1.6: event and purchase `time` and auto-typed time attributes take the same
    ISO-8601 forms (7-9 fractional digits truncated, `+01` offsets) and refuse the same garbage."""
    stamps = [*CLIENT_TIMES, *NOT_TIMES]
    events = [{"external_id": "u", "name": "e", "time": t} for t in stamps]
    purchases = [{"external_id": "u", "product_id": "p", "currency": "USD", "price": 1,
                  "time": t} for t in stamps]  # fmt: skip
    attributes = [{"external_id": "u", **{f"t{i}": t for i, t in enumerate(stamps)}}]
    body = api.track(attributes=attributes, events=events, purchases=purchases)
    good = len(CLIENT_TIMES)
    assert (body["events_processed"], body["purchases_processed"]) == (good, good)
    assert body["errors"] == [
        {"type": "Invalid 'time' field", "input_array": name, "index": i}
        for name in ("events", "purchases")
        for i in range(good, len(stamps))
    ]
    log = api.admin("GET", "events")
    assert [e["time"] for e in log["events"]] == list(CLIENT_TIMES.values())
    assert [p["time"] for p in log["purchases"]] == list(CLIENT_TIMES.values())
    attrs = api.user("u")["custom_attributes"]
    assert [attrs[f"t{i}"] for i in range(len(stamps))] == [*CLIENT_TIMES.values(), *NOT_TIMES]
    types = {a["name"]: a["data_type"] for a in api.get("/custom_attributes").json()["attributes"]}
    assert [types[f"t{i}"].split()[0] for i in range(len(stamps))] == ["Date"] * good + [
        "String"
    ] * len(NOT_TIMES)
