"""A small synchronous GitHub REST client: retries secondary rate limits and 5xx, hides the token.

Only the endpoints the Actions glue needs. Every error is a GitHubError naming the method, the
path and GitHub's message; the token is only ever in the Authorization header, and any text
we surface is scrubbed of it anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self
from urllib.parse import quote

import httpx

from reconciler.github.errors import GitHubError

API_VERSION = "2022-11-28"
MAX_ATTEMPTS = 6
MAX_WAIT_S = 60.0


class GitHubClient:
    """One repository's issues and comments, over one connection pool."""

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: str,
        *,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token = token
        self._repo = repository
        self._backoff = backoff_s
        self._sleep = sleep
        self.retries = 0
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "reconciler",
            },
            timeout=30.0,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"GitHubClient({self._repo!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    # -- issue comments (a PR is an issue for comments) ------------------------------------

    def issue_comments(self, number: int) -> Iterator[dict[str, Any]]:
        yield from self._pages(f"/repos/{self._repo}/issues/{number}/comments")

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        path = f"/repos/{self._repo}/issues/{number}/comments"
        return self._object("POST", path, {"body": body})

    def update_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        path = f"/repos/{self._repo}/issues/comments/{comment_id}"
        return self._object("PATCH", path, {"body": body})

    # -- issues ------------------------------------------------------------------------------

    def issues_labelled(self, label: str) -> Iterator[dict[str, Any]]:
        """Open and closed issues with `label`, newest first; pull requests left out."""
        params = {"labels": label, "state": "all", "sort": "created", "direction": "desc"}
        for issue in self._pages(f"/repos/{self._repo}/issues", params):
            if "pull_request" not in issue:
                yield issue

    def create_issue(self, title: str, body: str, labels: list[str]) -> dict[str, Any]:
        payload = {"title": title, "body": body, "labels": labels}
        return self._object("POST", f"/repos/{self._repo}/issues", payload)

    def update_issue(self, number: int, **fields: Any) -> dict[str, Any]:
        return self._object("PATCH", f"/repos/{self._repo}/issues/{number}", fields)

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        """The pull requests a commit belongs to (how a push to main finds its merged PR)."""
        return list(self._pages(f"/repos/{self._repo}/commits/{sha}/pulls"))

    def workflow_runs(self, workflow: str, head_sha: str) -> list[dict[str, Any]]:
        """Successful runs of `workflow` (a file name such as plan.yml) for one commit."""
        body = self._json(
            "GET",
            f"/repos/{self._repo}/actions/workflows/{workflow}/runs",
            None,
            {"head_sha": head_sha, "status": "success", "per_page": "100"},
        )
        runs = body.get("workflow_runs") if isinstance(body, dict) else None
        return [r for r in runs or [] if isinstance(r, dict)]

    def add_labels(self, number: int, labels: list[str]) -> None:
        self._json("POST", f"/repos/{self._repo}/issues/{number}/labels", {"labels": labels})

    def remove_label(self, number: int, label: str) -> None:
        """Remove a label if the issue carries it (404 when it does not: nothing to do)."""
        try:
            name = quote(label, safe="")
            self._send("DELETE", f"/repos/{self._repo}/issues/{number}/labels/{name}", None, None)
        except GitHubError as e:
            if "answered 404" not in str(e):
                raise

    # -- plumbing ----------------------------------------------------------------------------

    def _pages(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            query = {**(params or {}), "per_page": "100", "page": str(page)}
            items = self._json("GET", path, None, query)
            if not isinstance(items, list):
                raise GitHubError(f"GET {path}: expected a JSON list from GitHub")
            yield from (i for i in items if isinstance(i, dict))
            if len(items) < 100:
                return
            page += 1

    def _object(self, method: str, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        body = self._json(method, path, payload)
        if not isinstance(body, dict):
            raise GitHubError(f"{method} {path}: expected a JSON object from GitHub")
        return body

    def _json(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        response = self._send(method, path, payload, params)
        try:
            return response.json()
        except ValueError:
            raise GitHubError(
                f"{method} {path}: GitHub answered {response.status_code} with a non-JSON body"
            ) from None

    def _send(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
    ) -> httpx.Response:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            last = attempt == MAX_ATTEMPTS
            try:
                response = self._http.request(method, path, json=payload, params=params)
            except httpx.TransportError as e:
                if last:
                    raise GitHubError(
                        self._redact(f"{method} {path}: {type(e).__name__}: {e}")
                    ) from None
                self._wait(self._backoff * 2.0 ** (attempt - 1))
                continue
            wait = self._retry_wait(response, attempt)
            if wait is None or last:
                if response.is_success:
                    return response
                raise self._status_error(method, path, response)
            self._wait(wait)
        raise AssertionError("unreachable")

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None if this response is final."""
        status = response.status_code
        headers = response.headers
        if status in (403, 429):
            if "retry-after" in headers:
                return _seconds(headers["retry-after"], self._backoff)
            if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
                reset = _seconds(headers["x-ratelimit-reset"], 0.0) - time.time()
                return max(reset, self._backoff)
            if status == 429 or "secondary rate limit" in response.text.lower():
                return self._backoff * 2.0 ** (attempt - 1)
            return None
        if status >= 500:
            return self._backoff * 2.0 ** (attempt - 1)
        return None

    def _wait(self, seconds: float) -> None:
        self.retries += 1
        self._sleep(min(seconds, MAX_WAIT_S))

    def _status_error(self, method: str, path: str, response: httpx.Response) -> GitHubError:
        said = ""
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("message"), str):
                said = f": {body['message']}"
        except ValueError:
            pass
        hint = ""
        if response.status_code in (401, 403):
            hint = " (check $GITHUB_TOKEN and the workflow's permissions:)"
        text = f"{method} {path}: GitHub answered {response.status_code}{said}{hint}"
        return GitHubError(self._redact(text))

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _seconds(value: str, default: float) -> float:
    try:
        return max(float(value), 0.0)
    except ValueError:
        return default
