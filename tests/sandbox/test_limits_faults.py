"""Conformance, reference §2 (rate limits) and §10 fault injection."""

from __future__ import annotations

import time

import httpx
import pytest

from sandbox.conftest import Api

ONE = {"attributes": [{"external_id": "u1", "n": 1}]}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def test_every_response_has_rate_limit_headers__ref_2_headers(api: Api) -> None:
    """§2: every response carries the three lower-case headers; reset is in epoch seconds."""
    responses = [
        api.post("/users/track", json=ONE),
        api.post("/users/track", json={"attributes": [{}] * 76}),
        api.with_key(None).post("/users/track", json=ONE),
        api.get("/custom_attributes"),
        api.get("/nowhere"),
    ]
    for r in responses:
        for name in RATE_HEADERS:
            assert name in r.headers, (r.request.url, name)
        reset = int(r.headers["x-ratelimit-reset"])
        assert time.time() - 5 < reset <= time.time() + 3600
    track = responses[0].headers
    assert track["x-ratelimit-limit"] == "3000"
    assert int(track["x-ratelimit-reset"]) - time.time() <= 3


def test_429_once_bucket_is_exhausted_and_shared_buckets__ref_2_buckets(api: Api) -> None:
    """§2: `rate_limit` scales every bucket; `/custom_attributes` and `/events` share one."""
    config = api.admin("POST", "config", {"rate_limit": 3})
    assert config["buckets"]["users.track"]["limit"] == 3
    assert config["buckets"]["schema"]["limit"] == 1  # 1,000/h scaled by 3/3000, never 0
    statuses = [api.post("/users/track", json=ONE).status_code for _ in range(8)]
    assert 429 in statuses
    limited = api.post("/users/track", json=ONE)
    if limited.status_code == 429:  # a 3 s window may just have rolled over
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert limited.json() == {"message": "Rate Limit Exceeded"}
    assert api.get("/custom_attributes").status_code == 200
    shared = api.get("/events")
    assert shared.status_code == 429  # the hourly schema bucket is shared
    assert shared.headers["x-ratelimit-limit"] == "1"


@pytest.mark.parametrize("status", [500, 502, 503, 429, 202])
def test_fault_schedule_statuses__ref_10_fault_injection(api: Api, status: int) -> None:
    """§10: "fail request 2 before it is applied" answers the forced status and writes nothing."""
    api.admin("POST", "faults", {"fail_requests": [2], "status": status, "when": "before"})
    assert api.post("/users/track", json=ONE).status_code == 201
    failed = api.post("/users/track", json={"attributes": [{"external_id": "u2", "n": 1}]})
    assert failed.status_code == status
    assert api.post("/users/track", json=ONE).status_code == 201
    assert api.export("u2")["users"] == []


def test_dropped_connection_before_and_after_apply__ref_10_fault_injection(api: Api) -> None:
    """§0 5XX / §10: a dropped connection is a transport error; `after` applies the write."""
    schedule = [{"n": 1, "status": "drop"}, {"n": 2, "status": "drop", "when": "after"}]
    api.admin("POST", "faults", {"fail_requests": schedule})
    for external_id in ("before", "after"):
        with pytest.raises(httpx.TransportError):
            api.post("/users/track", json={"attributes": [{"external_id": external_id, "n": 1}]})
    assert api.export("before")["users"] == []
    assert api.user("after")["custom_attributes"] == {"n": 1}
    assert api.stats()["data_points"] == 1


def test_fail_rate_is_seeded_and_latency_delays__ref_10_fault_injection(api: Api) -> None:
    """§10: a seeded fail rate fails a share of requests; latency delays each response."""
    api.admin("POST", "config", {"fail_rate": 0.5, "seed": 7})
    outcomes = []
    for _ in range(12):
        try:
            outcomes.append(api.post("/users/track", json=ONE).status_code)
        except httpx.TransportError:
            outcomes.append("drop")
    assert 201 in outcomes and any(o != 201 for o in outcomes)
    assert set(outcomes) <= {201, 500, 502, 503, "drop"}
    api.admin("POST", "config", {"fail_rate": 0.0, "latency_ms": 150})
    started = time.perf_counter()
    assert api.post("/users/track", json=ONE).status_code == 201
    assert time.perf_counter() - started >= 0.15


def test_202_queued_fault_applies_the_write_unless_told_before__ref_0_queued(api: Api) -> None:
    """§0 Queued: `202 {"message": "queued"}` means accepted for later processing, so a 202
    fault applies the write by default (as `when: after` does); an explicit `when` is kept and
    the other statuses still fail before anything is written."""
    schedule = [
        {"n": 1, "status": 202},
        {"n": 2, "status": 503},
        {"n": 3, "status": 202, "when": "before"},
    ]
    described = api.admin("POST", "faults", {"fail_requests": schedule})
    assert [f["when"] for f in described["fail_requests"]] == ["after", "before", "before"]
    answers = []
    for external_id in ("queued", "unavailable", "held"):
        r = api.post("/users/track", json={"attributes": [{"external_id": external_id, "n": 1}]})
        answers.append((r.status_code, r.json()))
    assert answers == [
        (202, {"message": "queued"}),
        (503, {"message": "Service Unavailable"}),
        (202, {"message": "queued"}),
    ]
    assert api.user("queued")["custom_attributes"] == {"n": 1}
    assert api.export("unavailable", "held")["users"] == []
    assert api.stats()["data_points"] == 1
    # a top-level status and the CLI spelling (`--fail-schedule`) take the same default
    top = api.admin("POST", "faults", {"fail_requests": [1, 2], "status": 202})
    assert [f["when"] for f in top["fail_requests"]] == ["after", "after"]
    told = api.admin("POST", "faults", {"fail_requests": [1], "status": 202, "when": "before"})
    assert [f["when"] for f in told["fail_requests"]] == ["before"]
    cli = api.admin("POST", "faults", {"fail_requests": "1:202,2:202@before,3"})
    assert [(f["status"], f["when"]) for f in cli["fail_requests"]] == [
        (202, "after"),
        (202, "before"),
        (503, "before"),
    ]


@pytest.mark.parametrize("when", ["before", "after"])
def test_injected_429_says_the_bucket_is_exhausted__ref_10_rate_limit_headers(
    api: Api, when: str
) -> None:
    """§10: a 429 means the bucket is exhausted, so an injected one says `remaining: 0` until
    the window's reset, like a real one; it does not drain the real bucket."""
    api.admin("POST", "faults", {"fail_requests": [{"n": 1, "status": 429, "when": when}]})
    r = api.post("/users/track", json=ONE)
    assert (r.status_code, r.json()) == (429, {"message": "Rate Limit Exceeded"})
    assert r.headers["x-ratelimit-limit"] == "3000"
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert time.time() - 1 < int(r.headers["x-ratelimit-reset"]) <= time.time() + 3
    after = api.post("/users/track", json=ONE)
    assert after.status_code == 201
    assert int(after.headers["x-ratelimit-remaining"]) > 0
