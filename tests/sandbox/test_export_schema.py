"""Conformance, reference §3 (export by id), §4 (schema listings) and §0 consistency."""

from __future__ import annotations

import time

from sandbox.conftest import Api


def test_export_limits_and_identifiers__ref_3_request(api: Api) -> None:
    """§3: ≤50 ids; `fields_to_export` required; one `email_address`/`phone`/`braze_id`."""
    ids = [f"u{i}" for i in range(51)]
    over = api.post("/users/export/ids", json={"external_ids": ids, "fields_to_export": ["email"]})
    assert over.status_code == 400
    assert over.json()["message"] == (
        "The max number of external_ids and aliases per request was exceeded"
    )
    assert api.post("/users/export/ids", json={"external_ids": ["u1"]}).status_code == 400
    api.track(attributes=[{"external_id": "u1", "email": "x@example.com", "phone": "+15550001"}])
    braze_id = api.user("u1")["braze_id"]
    for key, value in (("email_address", "X@example.com"), ("phone", "+15550001"),
                       ("braze_id", braze_id)):  # fmt: skip
        r = api.post("/users/export/ids", json={key: value, "fields_to_export": ["external_id"]})
        assert r.json()["users"] == [{"external_id": "u1"}], key


def test_export_only_requested_set_fields_and_invalid_ids__ref_3_response(api: Api) -> None:
    """§3: only requested fields, unset ones omitted, standard fields top-level, unknown ids."""
    api.track(attributes=[{"external_id": "u1", "first_name": "Ada", "tier": "gold"},
                          {"external_id": "u2", "last_name": "Lovelace"}])  # fmt: skip
    fields = ["external_id", "first_name", "custom_attributes"]
    body = api.export("u1", "u2", "nobody", fields=fields)
    assert body == {
        "message": "success",
        "users": [
            {"external_id": "u1", "first_name": "Ada", "custom_attributes": {"tier": "gold"}},
            {"external_id": "u2"},
        ],
        "invalid_user_ids": ["nobody"],
    }
    assert api.export("nobody", fields=fields)["users"] == []


def test_eventual_consistency_delay__ref_0_consistency_and_11_2(api: Api) -> None:
    """§0/§11.2: with a delay set, an export right after a write still shows the old data."""
    api.track(attributes=[{"external_id": "u1", "tier": "gold"}])
    api.admin("POST", "config", {"consistency_delay_ms": 300})
    api.track(attributes=[{"external_id": "u1", "tier": "platinum"},
                          {"external_id": "u2", "tier": "new"}])  # fmt: skip
    early = api.export("u1", "u2", fields=["external_id", "custom_attributes"])
    assert early["users"] == [{"external_id": "u1", "custom_attributes": {"tier": "gold"}}]
    assert early["invalid_user_ids"] == ["u2"]
    time.sleep(0.35)
    late = api.export("u1", "u2", fields=["custom_attributes"])["users"]
    assert late == [
        {"custom_attributes": {"tier": "platinum"}},
        {"custom_attributes": {"tier": "new"}},
    ]


def test_custom_attributes_paging_with_link__ref_4_1(api: Api) -> None:
    """§4.1: 50 per page, alphabetical, `Link` rel next/prev with a `cursor`; the fields."""
    names = [f"attr_{i:03d}" for i in range(120)]
    for chunk in range(0, 120, 40):
        api.track(attributes=[{"external_id": "u", **{n: 1 for n in names[chunk : chunk + 40]}}])
    seen, url, pages = [], "/custom_attributes", []
    while url:
        r = api.get(url)
        assert r.status_code == 200
        pages.append(r.headers.get("link", ""))
        seen += [a["name"] for a in r.json()["attributes"]]
        nxt = [p for p in r.headers.get("link", "").split(", ") if 'rel="next"' in p]
        url = nxt[0][1 : nxt[0].index(">")] if nxt else ""
    assert seen == names
    assert 'rel="prev"' not in pages[0] and 'rel="next"' in pages[0]
    assert 'rel="prev"' in pages[1] and 'rel="next"' in pages[1]
    assert 'rel="next"' not in pages[2] and "cursor=" in pages[2]
    row = api.get("/custom_attributes").json()["attributes"][0]
    assert set(row) == {"name", "description", "data_type", "array_length", "status", "tag_names"}
    assert api.get("/custom_attributes?cursor=garbage").status_code == 400


def test_events_and_events_list__ref_4_2(api: Api) -> None:
    """§4.2: `/events` (cursor, 50) and `/events/list` (`page`, 250) from recorded events."""
    api.track(events=[{"external_id": "u", "name": n, "time": "2024-01-01"} for n in ("b", "a")])
    assert api.get("/events/list").json() == {"message": "success", "events": ["a", "b"]}
    assert api.get("/events/list?page=1").json()["events"] == []
    rows = api.get("/events").json()["events"]
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[0]["status"] == "Active" and "included_in_analytics_report" in rows[0]
