"""What Actions puts in the environment, read once and checked, so errors name the variable."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import UsageError

DEFAULT_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class GitHubContext:
    """The repository, the API, the token (kept out of repr) and the event payload."""

    api_url: str
    repository: str
    token: str = field(repr=False)
    event: Mapping[str, Any]
    sha: str | None = None
    run_url: str | None = None
    step_summary: Path | None = None

    def pull_request_number(self) -> int | None:
        """The PR this event is about: `pull_request.number`, else an issue that is a PR."""
        pr = self.event.get("pull_request")
        if isinstance(pr, Mapping) and isinstance(pr.get("number"), int):
            return int(pr["number"])
        issue = self.event.get("issue")
        if isinstance(issue, Mapping) and "pull_request" in issue:
            number = issue.get("number")
            return int(number) if isinstance(number, int) else None
        number = self.event.get("number")
        return int(number) if isinstance(number, int) else None


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise UsageError(f"${name} is not set; `reconciler github` runs inside GitHub Actions")
    return value


def _event(env: Mapping[str, str]) -> Mapping[str, Any]:
    """The webhook payload at $GITHUB_EVENT_PATH; absent means an empty event (e.g. local runs)."""
    path = env.get("GITHUB_EVENT_PATH", "").strip()
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"$GITHUB_EVENT_PATH: cannot read {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise UsageError(
            f"{path}:{e.lineno}:{e.colno}: event payload is not JSON: {e.msg}"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}:1:1: event payload is not a JSON object")
    return data


def _run_url(env: Mapping[str, str], repository: str) -> str | None:
    server, run_id = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_RUN_ID", "")
    if not server or not run_id:
        return None
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"


def api_context(env: Mapping[str, str]) -> GitHubContext:
    """The context for commands that call the API (comment, drift-issue)."""
    repository = _require(env, "GITHUB_REPOSITORY")
    if repository.count("/") != 1:
        raise UsageError(f"$GITHUB_REPOSITORY must be owner/name, got {repository!r}")
    summary = env.get("GITHUB_STEP_SUMMARY", "").strip()
    return GitHubContext(
        api_url=env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL,
        repository=repository,
        token=_require(env, "GITHUB_TOKEN"),
        event=_event(env),
        sha=env.get("GITHUB_SHA") or None,
        run_url=_run_url(env, repository),
        step_summary=Path(summary) if summary else None,
    )


def step_summary_path(env: Mapping[str, str]) -> Path:
    """$GITHUB_STEP_SUMMARY, the file Actions renders as the job summary."""
    return Path(_require(env, "GITHUB_STEP_SUMMARY"))
