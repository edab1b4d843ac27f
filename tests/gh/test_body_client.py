"""Body fitting and the retry policy, in process (httpx MockTransport, a recorded sleep)."""

from __future__ import annotations

import httpx
import pytest

from reconciler.github.body import MAX_BODY, Marker, find_marker, fit_body, parse_marker
from reconciler.github.client import MAX_ATTEMPTS, GitHubClient
from reconciler.github.errors import GitHubError

MARKER = Marker("plan", "acme")


def test_markers_are_found_in_bodies_and_accepted_bare_on_the_command_line() -> None:
    assert find_marker("x\n<!-- reconciler:drift:eu-1 -->\n") == Marker("drift", "eu-1")
    assert find_marker("<!-- reconciler:plan: -->") is None
    assert parse_marker("reconciler:apply:prod") == Marker("apply", "prod")
    assert parse_marker("apply:prod") is None


def test_a_fitting_body_is_untouched_and_a_missing_marker_is_prepended() -> None:
    assert fit_body(MARKER.text + "\nhi\n", MARKER, None) == MARKER.text + "\nhi\n"
    assert fit_body("hi\n", MARKER, None) == MARKER.text + "\nhi\n"


@pytest.mark.parametrize("opened", [0, 1, 3, 200])
def test_a_long_body_is_cut_on_a_line_with_its_blocks_closed(opened: int) -> None:
    head = MARKER.text + "\n" + "<details><summary>s</summary>\n" * opened + "```\n"
    body = head + "".join(f"line {i:06d}\n" for i in range(20_000))
    text = fit_body(body, MARKER, "https://github.test/run/1")
    assert len(text) <= MAX_BODY
    assert text.count("```") % 2 == 0
    assert text.count("<details>") == text.count("</details>") == opened
    assert "[this run](https://github.test/run/1)" in text
    last = text.split("```")[-2].rstrip("\n").splitlines()[-1]
    assert last.startswith("line ") and len(last) == len("line 000000")


def client(responses: list[httpx.Response], sleeps: list[float]) -> GitHubClient:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer t0k3n"
        return queue.pop(0)

    return GitHubClient(
        "https://api.test", "o/r", "t0k3n", backoff_s=0.5, sleep=sleeps.append,
        transport=httpx.MockTransport(handler),
    )  # fmt: skip


def test_retry_waits_follow_retry_after_then_exponential_backoff() -> None:
    sleeps: list[float] = []
    responses = [
        httpx.Response(403, headers={"retry-after": "3"}, json={"message": "secondary rate limit"}),
        httpx.Response(429, json={"message": "slow down"}),
        httpx.Response(502),
        httpx.Response(201, json={"id": 1}),
    ]
    with client(responses, sleeps) as gh:
        assert gh.create_comment(5, "b") == {"id": 1}
        assert gh.retries == 3
    assert sleeps == [3.0, 1.0, 2.0]


def test_a_plain_403_and_a_422_fail_at_once_and_persistent_5xx_give_up() -> None:
    sleeps: list[float] = []
    with client([httpx.Response(403, json={"message": "Resource not accessible"})], sleeps) as gh:
        with pytest.raises(
            GitHubError,
            match=r"^POST /repos/o/r/issues: GitHub answered 403: Resource not accessible \(check",
        ):
            gh.create_issue("t", "b", ["drift"])
    with client([httpx.Response(422, json={"message": "Validation Failed"})], sleeps) as gh:
        with pytest.raises(GitHubError, match="422: Validation Failed$"):
            gh.update_issue(3, body="b")
    assert sleeps == []
    with client([httpx.Response(503)] * MAX_ATTEMPTS, sleeps) as gh:
        with pytest.raises(GitHubError, match="answered 503"):
            list(gh.issue_comments(1))
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert "t0k3n" not in repr(gh)


def test_lists_are_paged_and_pull_requests_left_out_of_issues() -> None:
    page1 = [{"number": i} for i in range(100)]
    page2 = [{"number": 100, "pull_request": {}}, {"number": 101}]
    with client([httpx.Response(200, json=page1), httpx.Response(200, json=page2)], []) as gh:
        assert [i["number"] for i in gh.issues_labelled("drift")] == [*range(100), 101]
