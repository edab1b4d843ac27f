"""`reconciler github …` end to end: the real CLI (subprocess) against the fake GitHub API.

Plans are real `reconciler plan --format markdown` output for the example workspace; drift
bodies come from a real `reconciler drift` against a sandbox. The token is planted in the
environment of every run and must never appear in what the CLI prints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from drift.lab import user_id, write_workspace
from events.support import refresh_example_events
from fixtures_sandbox import SandboxServer

from gh.conftest import TOKEN
from gh.fake_github import BODY_LIMIT, FakeGitHub

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RUN_URL = "https://github.test/acme/braze-config/actions/runs/42"


def gh_env(fake: FakeGitHub, tmp: Path, event: dict[str, object], **extra: str) -> dict[str, str]:
    """What Actions provides: API URL, repository, token, event payload, summary file, run."""
    keep = ("BRAZE_", "RECONCILER_", "GITHUB_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(event))
    env.update(
        GITHUB_API_URL=fake.url,
        GITHUB_REPOSITORY=fake.repository,
        GITHUB_TOKEN=TOKEN,
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_STEP_SUMMARY=str(tmp / "summary.md"),
        GITHUB_SERVER_URL="https://github.test",
        GITHUB_RUN_ID="42",
        RECONCILER_GITHUB_BACKOFF_S="0.01",
        **extra,
    )
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=120,
    )
    assert TOKEN not in proc.stdout + proc.stderr
    return proc


def plan_markdown(tmp: Path) -> Path:
    """The example workspace's real PR comment body."""
    manifests = tmp / "manifests"
    if not manifests.exists():
        shutil.copytree(REPO / "manifests", manifests)
        refresh_example_events(manifests)  # inside the events horizon, whenever this runs
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "RECONCILER_"))}
    env["RECONCILER_HASH_KEY"] = "gh-test-hash-key"  # the masked ids' tags, stable for snapshots
    out = tmp / "plan.md"
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--manifests", str(manifests)]
        + [
            "--state",
            f"sqlite:///{tmp / 'state.db'}",
            "--format",
            "markdown",
            "--out",
            str(tmp / "plan.bin"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out.write_text(proc.stdout)
    return out


def test_the_plan_comment_is_created_once_then_updated_in_place(
    fake_github: FakeGitHub, tmp_path: Path, snapshot: object
) -> None:
    pr = fake_github.add_pull()
    other = fake_github.add_pull("unrelated")
    env = gh_env(fake_github, tmp_path, {"pull_request": {"number": pr}})
    body = plan_markdown(tmp_path)

    first = cli("github", "comment", "--body-file", str(body), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"comment plan:production on #{pr} created: ")
    [comment] = fake_github.comments_on(pr)
    assert comment["body"] == body.read_text()
    assert re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<time>", comment["body"]) == snapshot

    body.write_text(body.read_text().replace("guards ok", "guards ok · second push"))
    second = cli("github", "comment", "--body-file", str(body), env=env)
    assert second.stdout.startswith(f"comment plan:production on #{pr} updated: ")
    third = cli("github", "comment", "--body-file", str(body), env=env)
    assert third.stdout.startswith(f"comment plan:production on #{pr} unchanged: ")

    [after] = fake_github.comments_on(pr)  # never duplicated
    assert after["id"] == comment["id"] and "second push" in after["body"]
    assert fake_github.comments_on(other) == []
    assert [m for m, _, _ in fake_github.log].count("POST") == 1


def test_the_job_summary_is_appended(fake_github: FakeGitHub, tmp_path: Path) -> None:
    env = gh_env(fake_github, tmp_path, {})
    body = plan_markdown(tmp_path)
    for _ in range(2):
        proc = cli("github", "summary", "--body-file", str(body), env=env)
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("job summary (") and proc.stdout.rstrip().endswith("appended")
    assert (tmp_path / "summary.md").read_text() == body.read_text() * 2
    assert fake_github.log == []  # no API call


def oversized_plan() -> str:
    rows = "\n".join(f"| `attr_{i:05d}` | {i} | 0 | 0 | {i} |" for i in range(4000))
    return (
        "<!-- reconciler:plan:huge -->\n**reconciler plan · huge**: +4,000 attributes\n\n"
        "<details><summary>Attribute changes</summary>\n\n"
        "| attribute | set | changed | unset | data points |\n|---|---:|---:|---:|---:|\n"
        f"{rows}\n\n</details>\n"
    )


def test_an_oversized_body_is_cut_closed_and_points_to_the_run(
    fake_github: FakeGitHub, tmp_path: Path, snapshot: object
) -> None:
    pr = fake_github.add_pull()
    env = gh_env(fake_github, tmp_path, {"pull_request": {"number": pr}})
    body = tmp_path / "huge.md"
    body.write_text(oversized_plan())
    assert len(body.read_text()) > 2 * BODY_LIMIT

    for _ in range(2):
        proc = cli("github", "comment", "--body-file", str(body), env=env)
        assert proc.returncode == 0, proc.stderr
    [comment] = fake_github.comments_on(pr)
    text = comment["body"]
    assert len(text) <= BODY_LIMIT
    assert text.startswith("<!-- reconciler:plan:huge -->\n")
    assert text.count("<details>") == text.count("</details>") == 1
    cut_rows = [line for line in text.splitlines() if line.startswith("| `attr_")]
    assert cut_rows == oversized_plan().splitlines()[7 : 7 + len(cut_rows)]  # whole rows only
    assert text[-400:] == snapshot


def test_secondary_rate_limits_and_5xx_are_retried(fake_github: FakeGitHub, tmp_path: Path) -> None:
    pr = fake_github.add_pull()
    env = gh_env(fake_github, tmp_path, {"pull_request": {"number": pr}})
    body = plan_markdown(tmp_path)
    fake_github.faults += [(502, {}), (403, {"retry-after": "0"}), (429, {}), (503, {})]

    proc = cli("github", "comment", "--body-file", str(body), env=env)
    assert proc.returncode == 0, proc.stderr
    assert [status for _, _, status in fake_github.log] == [502, 403, 429, 503, 200, 201]
    assert len(fake_github.comments_on(pr)) == 1


def test_failures_are_located_and_never_show_the_token(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    pr = fake_github.add_pull()
    env = gh_env(fake_github, tmp_path, {"pull_request": {"number": pr}})
    body = plan_markdown(tmp_path)

    fake_github.faults += [(500, {})] * 6
    down = cli("github", "comment", "--body-file", str(body), "--debug", env=env)
    assert down.returncode == 1
    assert down.stderr.endswith(  # even the --debug traceback holds no token
        f"GET /repos/acme/braze-config/issues/{pr}/comments: GitHub answered 500: oops\n"
    )

    wrong = cli("github", "comment", "--body-file", str(body), env={**env, "GITHUB_TOKEN": "nope"})
    assert wrong.returncode == 1
    assert "GitHub answered 401: Bad credentials (check $GITHUB_TOKEN" in wrong.stderr
    assert "nope" not in wrong.stderr

    unset = cli("github", "comment", "--body-file", str(body), env={**env, "GITHUB_TOKEN": ""})
    assert unset.returncode == 1 and "$GITHUB_TOKEN is not set" in unset.stderr

    plain = tmp_path / "plain.md"
    plain.write_text("no marker here\n")
    unmarked = cli("github", "comment", "--body-file", str(plain), env=env)
    assert unmarked.returncode == 1 and unmarked.stderr.startswith(
        "error: " + f"{plain}:1:1: no `<!-- reconciler"
    )

    (tmp_path / "event.json").write_text("{not json")
    bad_event = cli("github", "comment", "--body-file", str(body), env=env)
    assert bad_event.stderr.startswith(
        "error: " + f"{tmp_path / 'event.json'}:1:2: event payload is not JSON"
    )


def test_the_apply_result_finds_the_merged_pr_from_the_pushed_commit(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    pr = fake_github.add_pull(merged=True)
    fake_github.commit_pulls["abc123"] = [pr]
    env = gh_env(fake_github, tmp_path, {"ref": "refs/heads/main"}, GITHUB_SHA="abc123")
    result = tmp_path / "apply.md"
    result.write_text("**reconciler apply · production**: applied\n")

    proc = cli(
        "github",
        "comment",
        "--body-file",
        str(result),
        "--marker",
        "reconciler:apply:production",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    [comment] = fake_github.comments_on(pr)
    assert comment["body"] == "<!-- reconciler:apply:production -->\n" + result.read_text()

    env["GITHUB_SHA"] = "unknown"
    orphan = cli(
        "github",
        "comment",
        "--body-file",
        str(result),
        "--marker",
        "reconciler:apply:production",
        env=env,
    )
    assert orphan.returncode == 1 and "pass --pr" in orphan.stderr


def test_the_drift_issue_is_opened_updated_then_closed(
    fake_github: FakeGitHub,
    tmp_path: Path,
    sandbox_server_factory: Callable[..., SandboxServer],
) -> None:
    sandbox = sandbox_server_factory()
    manifests = write_workspace(tmp_path, 20)
    env = gh_env(fake_github, tmp_path, {"schedule": "0 6 * * *"})
    braze = {**env, "BRAZE_REST_ENDPOINT": sandbox.url, "BRAZE_API_KEY": sandbox.key}
    where = ["--manifests", str(manifests), "--state", f"sqlite:///{tmp_path / 'state.db'}"]
    assert cli("apply", "--auto-approve", *where, env=braze).returncode == 0

    def check() -> tuple[int, str]:
        drift = cli(
            "drift", "--format", "markdown", "--window", "0", "--seed", "3", *where, env=braze
        )
        assert drift.returncode in (0, 2), drift.stderr
        (tmp_path / "drift.md").write_text(drift.stdout)
        issue = cli(
            "github", "drift-issue", "--body-file", str(tmp_path / "drift.md"),
            "--exit-code", str(drift.returncode), env=env,
        )  # fmt: skip
        assert issue.returncode == 0, issue.stderr
        return drift.returncode, issue.stdout

    assert check() == (0, "drift issue for lab (clean, none open) unchanged\n")
    assert fake_github.issues == {}

    sandbox.admin("POST", f"users/{user_id(3)}", {"custom_attributes": {"loyalty_tier": "gold"}})
    code, said = check()
    assert code == 2 and said.startswith("drift issue for lab #1 opened: ")
    issue = dict(fake_github.issues[1])
    assert issue["title"] == "Drift in Braze workspace lab"
    assert issue["labels"] == [{"name": "drift"}] and issue["state"] == "open"
    assert issue["body"].startswith("<!-- reconciler:drift:lab -->")
    assert "loyalty_tier" in issue["body"]

    sandbox.admin("POST", f"users/{user_id(3)}", {"custom_attributes": {"loyalty_tier": "diamond"}})
    code, said = check()
    assert code == 2 and said.startswith("drift issue for lab #1 updated: ")
    assert len(fake_github.issues) == 1 and "diamond" in fake_github.issues[1]["body"]

    sandbox.admin("POST", f"users/{user_id(3)}", {"custom_attributes": {"loyalty_tier": "bronze"}})
    code, said = check()
    assert code == 0 and said.startswith("drift issue for lab #1 closed: ")
    assert fake_github.issues[1]["state"] == "closed"
    [closing] = fake_github.comments_on(1)
    assert closing["body"].startswith(
        f"The scheduled drift check found workspace `lab` clean ([run]({RUN_URL})); closing."
    )

    failed = cli(
        "github",
        "drift-issue",
        "--body-file",
        str(tmp_path / "drift.md"),
        "--exit-code",
        "1",
        env=env,
    )
    assert failed.returncode == 1 and "the drift issue is left as it is" in failed.stderr
