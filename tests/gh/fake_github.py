"""A stateful fake of the few GitHub REST endpoints `reconciler github` uses, on real loopback HTTP.

Issues (with PRs as issues), issue comments, label filtering, commit → PR lookup, GitHub's
65,536-character body limit (422), a bearer-token check (401) and injectable faults: queue
`(status, headers)` pairs and the next requests get them instead of being served.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY_LIMIT = 65_536


@dataclass
class FakeGitHub:
    """The repository's state plus the request log and the fault queue."""

    token: str
    repository: str = "acme/braze-config"
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)
    pull_heads: dict[int, str] = field(default_factory=dict)  # PR number → head commit
    runs: list[dict[str, Any]] = field(default_factory=list)  # workflow, head_sha, id, status
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    url: str = ""
    _next_issue: int = 1
    _next_comment: int = 1000

    def add_pull(self, title: str = "Update manifests", *, merged: bool = False) -> int:
        number = self._new_issue(title, "", [])
        self.issues[number]["pull_request"] = {"url": f"{self.url}/pulls/{number}"}
        self.issues[number]["merged_at"] = "2026-01-01T00:00:00Z" if merged else None
        return number

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue_number"] == number]

    def _new_issue(self, title: str, body: str, labels: list[str]) -> int:
        number = self._next_issue
        self._next_issue += 1
        self.issues[number] = {
            "number": number,
            "title": title,
            "body": body,
            "state": "open",
            "labels": [{"name": name} for name in labels],
            "html_url": f"https://github.test/{self.repository}/issues/{number}",
        }
        return number

    # -- the app ---------------------------------------------------------------------------

    def app(self) -> Starlette:
        base = "/repos/{owner}/{repo}"
        return Starlette(
            routes=[
                Route(base + "/issues", self._issues, methods=["GET", "POST"]),
                Route(base + "/issues/{number:int}", self._issue, methods=["PATCH"]),
                Route(
                    base + "/issues/{number:int}/comments", self._comments, methods=["GET", "POST"]
                ),
                Route(base + "/issues/comments/{cid:int}", self._comment, methods=["PATCH"]),
                Route(base + "/commits/{sha}/pulls", self._pulls, methods=["GET"]),
                Route(base + "/actions/workflows/{workflow}/runs", self._runs, methods=["GET"]),
                Route(base + "/issues/{number:int}/labels", self._labels, methods=["POST"]),
                Route(
                    base + "/issues/{number:int}/labels/{name}",
                    self._unlabel,
                    methods=["DELETE"],
                ),
            ]
        )

    async def _gate(self, request: Request) -> JSONResponse | None:
        """Auth, repository and injected faults; None lets the request through."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        if repo != self.repository:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        if self.faults:
            status, headers = self.faults.pop(0)
            message = "You have exceeded a secondary rate limit" if status in (403, 429) else "oops"
            return JSONResponse({"message": message}, status_code=status, headers=headers)
        return None

    async def _body(self, request: Request) -> tuple[dict[str, Any], JSONResponse | None]:
        payload = await request.json()
        if len(str(payload.get("body") or "")) > BODY_LIMIT:
            error = {
                "message": "Validation Failed",
                "errors": [{"field": "body", "code": "custom"}],
            }
            return payload, JSONResponse(error, status_code=422)
        return payload, None

    def _record(self, request: Request, status: int) -> None:
        self.log.append((request.method, request.url.path, status))

    async def _respond(self, request: Request, handler: Any) -> JSONResponse:
        response = await self._gate(request)
        if response is None:
            response = await handler()
        self._record(request, response.status_code)
        return response

    async def _issues(self, request: Request) -> JSONResponse:
        async def handle() -> JSONResponse:
            if request.method == "POST":
                payload, bad = await self._body(request)
                if bad:
                    return bad
                number = self._new_issue(
                    payload["title"], payload.get("body", ""), payload.get("labels", [])
                )
                return JSONResponse(self.issues[number], status_code=201)
            q = request.query_params
            wanted = set(filter(None, q.get("labels", "").split(",")))
            state = q.get("state", "open")
            found = [
                i
                for i in sorted(self.issues.values(), key=lambda i: -i["number"])
                if wanted <= {label["name"] for label in i["labels"]}
                and (state == "all" or i["state"] == state)
            ]
            return JSONResponse(_page(found, q))

        return await self._respond(request, handle)

    async def _issue(self, request: Request) -> JSONResponse:
        async def handle() -> JSONResponse:
            issue = self.issues.get(request.path_params["number"])
            if issue is None:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            payload, bad = await self._body(request)
            if bad:
                return bad
            for key in ("title", "body", "state", "state_reason"):
                if key in payload:
                    issue[key] = payload[key]
            return JSONResponse(issue)

        return await self._respond(request, handle)

    async def _comments(self, request: Request) -> JSONResponse:
        async def handle() -> JSONResponse:
            number = request.path_params["number"]
            if number not in self.issues:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            if request.method == "GET":
                found = sorted(self.comments_on(number), key=lambda c: c["id"])
                return JSONResponse(_page(found, request.query_params))
            payload, bad = await self._body(request)
            if bad:
                return bad
            cid = self._next_comment
            self._next_comment += 1
            self.comments[cid] = {
                "id": cid,
                "issue_number": number,
                "body": payload["body"],
                "html_url": f"https://github.test/{self.repository}/issues/{number}#issuecomment-{cid}",
            }
            return JSONResponse(self.comments[cid], status_code=201)

        return await self._respond(request, handle)

    async def _comment(self, request: Request) -> JSONResponse:
        async def handle() -> JSONResponse:
            comment = self.comments.get(request.path_params["cid"])
            if comment is None:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            payload, bad = await self._body(request)
            if bad:
                return bad
            comment["body"] = payload["body"]
            return JSONResponse(comment)

        return await self._respond(request, handle)

    async def _pulls(self, request: Request) -> JSONResponse:
        async def handle() -> JSONResponse:
            numbers = self.commit_pulls.get(request.path_params["sha"], [])
            pulls = [
                {
                    "number": n,
                    "merged_at": self.issues[n].get("merged_at"),
                    "head": {"sha": self.pull_heads.get(n, f"head-of-{n}")},
                }
                for n in numbers
            ]
            return JSONResponse(pulls)

        return await self._respond(request, handle)

    async def _runs(self, request: Request) -> JSONResponse:
        async def handle() -> JSONResponse:
            q = request.query_params
            runs = [
                r
                for r in self.runs
                if r["workflow"] == request.path_params["workflow"]
                and r["head_sha"] == q.get("head_sha")
                and r.get("status", "success") == q.get("status", r.get("status", "success"))
            ]
            return JSONResponse({"total_count": len(runs), "workflow_runs": runs})

        return await self._respond(request, handle)

    async def _labels(self, request: Request) -> JSONResponse:
        async def handle() -> JSONResponse:
            payload, bad = await self._body(request)
            if bad:
                return bad
            issue = self.issues[request.path_params["number"]]
            names = {label["name"] for label in issue["labels"]}
            for name in payload.get("labels", []):
                if name not in names:
                    issue["labels"].append({"name": name})
            return JSONResponse(issue["labels"])

        return await self._respond(request, handle)

    async def _unlabel(self, request: Request) -> JSONResponse:
        async def handle() -> JSONResponse:
            issue = self.issues[request.path_params["number"]]
            name = request.path_params["name"]
            if name not in {label["name"] for label in issue["labels"]}:
                return JSONResponse({"message": "Label does not exist"}, status_code=404)
            issue["labels"] = [label for label in issue["labels"] if label["name"] != name]
            return JSONResponse(issue["labels"])

        return await self._respond(request, handle)


def _page(items: list[dict[str, Any]], query: Any) -> list[dict[str, Any]]:
    per_page = int(query.get("per_page", "30"))
    page = int(query.get("page", "1"))
    return items[(page - 1) * per_page : page * per_page]


@contextmanager
def serve(fake: FakeGitHub) -> Iterator[FakeGitHub]:
    """Serve `fake` with uvicorn on a loopback port in a thread, for the test's duration."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    fake.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(fake.app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake GitHub API did not start")
        time.sleep(0.01)
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
