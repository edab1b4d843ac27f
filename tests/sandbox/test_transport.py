"""Conformance, reference §0 and §10 "Transport & auth": keys, bodies, paths, hosts."""

from __future__ import annotations

import json

from sandbox.conftest import Api

ONE = {"attributes": [{"external_id": "u1", "plan": "gold"}]}


def test_bearer_auth_401_and_403_per_permission__ref_0_auth_and_8_permissions(api: Api) -> None:
    """§0 Auth / §8: Bearer in any casing; missing or unknown key 401; missing permission 403."""
    assert api.with_key(None).post("/users/track", json=ONE).status_code == 401
    unknown = api.with_key("nope").post("/users/track", json=ONE)
    assert unknown.status_code == 401
    assert set(unknown.json()) == {"message"}
    for scheme in ("bearer", "BEARER", "Bearer"):
        headers = {"Authorization": f"{scheme} sandbox-key"}
        r = api.with_key(None).post("/users/track", json=ONE, headers=headers)
        assert r.status_code == 201, scheme
    limited = api.with_key("track-only")
    assert limited.post("/users/track", json=ONE).status_code == 201
    denied = limited.post("/users/export/ids", json={"external_ids": ["u1"]})
    assert (denied.status_code, denied.json()) == (403, {"message": "Access Denied"})
    assert limited.get("/custom_attributes").status_code == 403


def test_keys_are_per_workspace__ref_0_key_scope(api: Api) -> None:
    """§0 Key scope: a key sees only its own workspace."""
    api.track(**ONE)
    other = api.with_key("other-key")
    body = {"external_ids": ["u1"], "fields_to_export": ["external_id"]}
    r = other.post("/users/export/ids", json=body)
    assert r.json()["users"] == []
    assert r.json()["invalid_user_ids"] == ["u1"]
    assert api.user("u1")["custom_attributes"] == {"plan": "gold"}


def test_body_checks_400_415_413__ref_0_content_type_payload_malformed(api: Api) -> None:
    """§0: malformed JSON 400 with Braze's text, missing JSON content type 415, > 4 MB 413."""
    json_header = {"Content-Type": "application/json"}
    bad = api.post("/users/track", content=b'{"attributes": [,]}', headers=json_header)
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("Error while parsing request body")
    plain = api.post(
        "/users/track", content=json.dumps(ONE), headers={"Content-Type": "text/plain"}
    )
    assert plain.status_code == 415
    big = b'{"attributes": [{"external_id": "u", "x": "' + b"a" * (4 * 1024 * 1024) + b'"}]}'
    assert api.post("/users/track", content=big, headers=json_header).status_code == 413
    assert api.stats()["data_points"] == 0


def test_unknown_path_404_trailing_slash_403__ref_0_trailing_slash(api: Api) -> None:
    """§0 / §10: unknown path 404; `/users/track/` 403 (Braze lists it among 403 causes)."""
    assert api.post("/users/trak", json=ONE).status_code == 404
    assert api.post("/users/track/", json=ONE).status_code == 403
    assert api.get("/users/track").status_code == 405


def test_instance_agnostic_any_host__ref_7_instances(api: Api) -> None:
    """§10 "Instance-agnostic": any base URL / Host header is accepted."""
    r = api.post("/users/track", json=ONE, headers={"Host": "rest.iad-01.braze.com"})
    assert r.status_code == 201


def test_bulk_header_accepted_and_ignored__ref_1_1_bulk_hint(api: Api) -> None:
    """§1.1: `X-Braze-Bulk: true` is accepted and changes nothing."""
    r = api.post("/users/track", json=ONE, headers={"X-Braze-Bulk": "true"})
    assert r.json() == {"message": "success", "attributes_processed": 1}
