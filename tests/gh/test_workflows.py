"""The workflows: their security properties, and their steps executed end to end.

The structural tests hold what review must never lose (no pull_request_target, permissions
everywhere, the fork guard, a serialized apply behind an environment, every action pinned by
commit SHA). The e2e tests run the example workflows for a separate manifests repository
(examples/github/), reconciler's own action.yml included, with the runner stand-in
(workflow_runner.py) against a sandbox and the fake GitHub API: a PR run comments and stores a
sealed plan; the merge applies exactly that plan; a stale plan stops with its comment; a
failing validate posts its located error; and nothing a run publishes holds an identifier, an
email or the key. This repository's own workflows are the same jobs calling `uses: ./`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from drift.lab import user_id, write_workspace
from events.support import refresh_example_events
from fixtures_sandbox import SandboxServer

from gh.conftest import TOKEN
from gh.fake_github import FakeGitHub
from gh.workflow_runner import EXAMPLES, WORKFLOWS, JobRunner, load

REPO = Path(__file__).resolve().parents[2]
PLAN_KEY = base64.b64encode(bytes(range(32))).decode()
# values of the example data that must never appear in anything a run publishes
SAMPLE_PII = ["cust-0001", "cust-0002", "camille.martin@example.com", "jiwoo.kim@example.com"]
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def every_workflow() -> dict[str, dict[str, Any]]:
    found = {f".github/workflows/{p.name}": load(p.name) for p in WORKFLOWS.glob("*.yml")}
    found |= {f"examples/github/{p.name}": load(p.name, EXAMPLES) for p in EXAMPLES.glob("*.yml")}
    return found


def test_no_workflow_uses_pull_request_target_and_all_are_read_only_at_the_top() -> None:
    for name, workflow in every_workflow().items():
        assert "pull_request_target" not in json.dumps(workflow), name
        assert workflow["permissions"] == {"contents": "read"}, name


def test_every_job_asks_only_what_it_needs() -> None:
    expected = {
        "plan": {"contents": "read", "pull-requests": "write"},
        "fork": {"contents": "read", "pull-requests": "write"},
        "apply": {"contents": "read", "actions": "read", "pull-requests": "write"},
        "drift": {"contents": "read", "issues": "write"},
        "sync": {"contents": "read"},
    }
    for name, workflow in every_workflow().items():
        for job_name, job in workflow["jobs"].items():
            if name.endswith("ci.yml"):
                assert "permissions" not in job  # inherits read-only
                continue
            assert job["permissions"] == expected[job_name], (name, job_name)


def test_every_action_is_pinned_by_commit_sha_with_its_version() -> None:
    """Third-party actions by a SHA read from their repositories (tags move; SHAs do not), with
    the version in a comment; reconciler's own action is `./` here and a placeholder the
    adopter pins in the examples (docs/github.md says how)."""
    files = [*WORKFLOWS.glob("*.yml"), *EXAMPLES.glob("*.yml"), REPO / "action.yml"]
    for path in files:
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(?:- )?uses: (\S+)(.*)", line)
            if not m:
                continue
            uses, comment = m[1], m[2]
            if uses == "./" or uses.startswith("acme/reconciler@"):
                continue
            assert SHA_PIN.match(uses), (path.name, line)
            assert re.search(r"# v\d+\.\d+\.\d+", comment), (path.name, line)


def test_plan_runs_on_manifest_prs_and_forks_get_validate_only() -> None:
    plan = load("plan.yml")
    assert plan["on"] == {"pull_request": {"paths": ["manifests/**"]}}
    same = "github.event.pull_request.head.repo.full_name == github.repository"
    assert plan["jobs"]["plan"]["if"] == same
    assert plan["jobs"]["fork"]["if"] == same.replace("==", "!=")
    fork = json.dumps(plan["jobs"]["fork"])
    assert "secrets." not in fork and "command: plan" not in fork


def test_apply_is_serialized_per_workspace_behind_an_environment() -> None:
    for name in ("apply.yml", "reconciler-apply.yml"):
        apply = load(name, WORKFLOWS if name == "apply.yml" else EXAMPLES)
        job = apply["jobs"]["apply"]
        assert job["concurrency"] == {
            "group": "reconciler-apply-${{ vars.RECONCILER_WORKSPACE || 'production' }}",
            "cancel-in-progress": False,
        }
        assert job["environment"]
        assert "--allow-large" not in json.dumps(job)  # guards still apply


def test_this_repository_runs_the_example_jobs_through_its_own_action() -> None:
    for ours, example in (
        ("plan.yml", "reconciler-plan.yml"),
        ("apply.yml", "reconciler-apply.yml"),
        ("drift.yml", "reconciler-drift.yml"),
    ):
        mine, theirs = load(ours), load(example, EXAMPLES)
        for job_name, job in theirs["jobs"].items():
            text = json.dumps(job).replace("acme/reconciler@v1", "./")
            assert json.dumps(mine["jobs"][job_name]).replace("plan.yml", "reconciler-plan.yml") \
                == text.replace("reconciler-plan.yml", "reconciler-plan.yml"), (ours, job_name)  # fmt: skip


# -- the jobs, run ---------------------------------------------------------------------------


def runner(
    fake: FakeGitHub, workdir: Path, event_name: str, event: dict[str, Any], **extra: str
) -> JobRunner:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "event.json").write_text(json.dumps(event))
    base = {
        "HOME": str(workdir / "home"),
        "LANG": "C.UTF-8",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_API_URL": fake.url,
        "GITHUB_REPOSITORY": fake.repository,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_EVENT_PATH": str(workdir / "event.json"),
        "GITHUB_STEP_SUMMARY": str(workdir / "summary.md"),
        "GITHUB_SERVER_URL": "https://github.test",
        "GITHUB_RUN_ID": "7",
        "RECONCILER_GITHUB_BACKOFF_S": "0.01",
        "RECONCILER_HASH_KEY": "workflow-test-hash-key",
        **extra,
    }
    return JobRunner(workdir, base)


def checkout(workdir: Path) -> Path:
    """The manifests repository at one commit: manifests/ with recent example events."""
    shutil.copytree(REPO / "manifests", workdir / "manifests")
    refresh_example_events(workdir / "manifests")
    return workdir


class Repo:
    """One manifests repository's CI: the state and Braze shared by every run of its jobs."""

    def __init__(self, root: Path, fake: FakeGitHub, sandbox: SandboxServer) -> None:
        self.root, self.fake, self.sandbox = root, fake, sandbox
        self.state = f"sqlite:///{root / 'state.db'}"
        self.runs: list[JobRunner] = []

    def job(self, workdir: Path, event_name: str, **kw: Any) -> JobRunner:
        run = runner(self.fake, workdir, event_name, kw.pop("event", {}), **kw)
        run.secrets = {
            "RECONCILER_STATE": self.state,
            "RECONCILER_PLAN_KEY": PLAN_KEY,
            "BRAZE_API_KEY": self.sandbox.key,
        }
        run.variables = {"BRAZE_REST_ENDPOINT": self.sandbox.url}
        self.runs.append(run)
        return run

    def published(self) -> str:
        """Everything the runs published: logs, summaries, comments, issues, artifacts."""
        parts = [json.dumps(self.fake.comments), json.dumps(self.fake.issues)]
        for run in self.runs:
            summary = run.workdir / "summary.md"
            parts.append(summary.read_text() if summary.exists() else "")
            for store in run.uploaded.values():
                parts += [p.read_bytes().decode("latin-1") for p in store.iterdir()]
        return "\n".join(parts)


@pytest.fixture
def repo(
    tmp_path: Path, fake_github: FakeGitHub, sandbox_server_factory: Callable[..., SandboxServer]
) -> Repo:
    return Repo(tmp_path, fake_github, sandbox_server_factory())


def plan_on_pr(repo: Repo, name: str = "pr") -> tuple[int, JobRunner, list[Any]]:
    pr = repo.fake.add_pull()
    run = repo.job(
        checkout(repo.root / name), "pull_request",
        event={"pull_request": {"number": pr}},
    )  # fmt: skip
    steps = run.run(load("reconciler-plan.yml", EXAMPLES)["jobs"]["plan"])
    return pr, run, steps


def merge(repo: Repo, pr: int, plan_run: JobRunner, sha: str = "m3rge") -> JobRunner:
    repo.fake.issues[pr]["merged_at"] = "2026-12-04T00:00:00Z"
    repo.fake.commit_pulls[sha] = [pr]
    repo.fake.pull_heads[pr] = f"head-{pr}"
    repo.fake.runs.append(
        {"workflow": "reconciler-plan.yml", "head_sha": f"head-{pr}", "id": 7, "status": "success"}
    )
    main = repo.root / f"main-{sha}"  # the merge commit holds what the PR reviewed
    shutil.copytree(plan_run.workdir / "manifests", main / "manifests")
    run = repo.job(
        main, "push",
        event={"ref": "refs/heads/main"}, GITHUB_SHA=sha,
    )  # fmt: skip
    run.available = dict(plan_run.uploaded)
    return run


@pytest.mark.e2e
def test_a_pr_run_comments_labels_and_stores_a_sealed_plan(repo: Repo) -> None:
    pr, run, steps = plan_on_pr(repo)
    assert all(s.outcome == "success" for s in steps), [s.stdout for s in steps]
    [comment] = repo.fake.comments_on(pr)
    assert comment["body"].startswith("<!-- reconciler:plan:production -->")
    assert "**Next:** merge to apply exactly these changes." in comment["body"]
    assert [lbl["name"] for lbl in repo.fake.issues[pr]["labels"]] == ["reconciler: changes"]
    plan = (run.uploaded["reconciler-plan"] / "plan.bin").read_bytes()
    assert plan.startswith(b"RECONCILER-SEAL1")
    shown = run.outputs["plan"]
    assert shown["exit-code"] == "0" and shown["summary"].startswith("reconciler plan")
    # a second push updates the one comment in place
    again = repo.job(
        run.workdir, "pull_request",
        event={"pull_request": {"number": pr}},
    )  # fmt: skip
    again.run(load("reconciler-plan.yml", EXAMPLES)["jobs"]["plan"])
    assert len(repo.fake.comments_on(pr)) == 1


@pytest.mark.e2e
def test_the_merge_applies_exactly_the_reviewed_plan(repo: Repo) -> None:
    pr, plan_run, _ = plan_on_pr(repo)
    reviewed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "reconciler", "show", "plan.bin", "--format", "json"],
            cwd=plan_run.workdir, capture_output=True, text=True, check=True,
            env={**os.environ, "RECONCILER_PLAN_KEY": PLAN_KEY},
        ).stdout
    )  # fmt: skip
    run = merge(repo, pr, plan_run)
    steps = run.run(load("reconciler-apply.yml", EXAMPLES)["jobs"]["apply"])
    assert all(s.outcome == "success" for s in steps), [s.stdout for s in steps]
    assert (
        f"applying saved plan {reviewed['plan_id']}"
        in (run.workdir / "reconciler-apply.txt").read_text()
    )
    stats = repo.sandbox.admin("GET", "stats")
    assert stats["data_points"] == reviewed["summary"]["data_points"]
    comments = [c["body"] for c in repo.fake.comments_on(pr)]
    assert any(
        "**reconciler apply · production**: applied the reviewed plan" in c for c in comments
    )


@pytest.mark.e2e
def test_a_stale_reviewed_plan_stops_and_says_so(repo: Repo) -> None:
    pr, plan_run, _ = plan_on_pr(repo)
    other, other_run, _ = plan_on_pr(repo, "other-pr")
    merged_first = merge(repo, other, other_run, sha="first")
    merged_first.run(load("reconciler-apply.yml", EXAMPLES)["jobs"]["apply"])
    before = repo.sandbox.admin("GET", "stats")["data_points"]
    run = merge(repo, pr, plan_run, sha="second")
    steps = run.run(load("reconciler-apply.yml", EXAMPLES)["jobs"]["apply"])
    assert steps[-1].outcome == "failure"  # the check is red
    assert repo.sandbox.admin("GET", "stats")["data_points"] == before  # nothing applied
    [*_, last] = [c["body"] for c in repo.fake.comments_on(pr)]
    assert "the reviewed plan is stale, nothing was applied" in last
    assert "the saved plan is stale: the state changed since the plan" in last


@pytest.mark.e2e
def test_a_failing_validate_posts_its_located_error_in_the_sticky_comment(repo: Repo) -> None:
    pr, run, _ = plan_on_pr(repo)
    sendbird = run.workdir / "manifests" / "sendbird.yaml"
    sendbird.write_text(sendbird.read_text().replace("  method: POST\n", "  method: POTS\n"))
    steps = run.run(load("reconciler-plan.yml", EXAMPLES)["jobs"]["plan"])
    assert steps[-1].outcome == "failure"
    [comment] = repo.fake.comments_on(pr)
    body = comment["body"]
    assert "**reconciler plan · production**: validate failed, nothing was planned" in body
    assert "manifests/sendbird.yaml:38:11: spec.method: expected one of" in body
    assert "got 'POTS'" in body
    assert [lbl["name"] for lbl in repo.fake.issues[pr]["labels"]] == ["reconciler: plan failed"]


@pytest.mark.e2e
def test_nothing_a_run_publishes_holds_an_identifier_an_email_or_a_key(repo: Repo) -> None:
    pr, plan_run, _ = plan_on_pr(repo)
    merge(repo, pr, plan_run).run(load("reconciler-apply.yml", EXAMPLES)["jobs"]["apply"])
    published = repo.published()
    assert "reconciler apply" in published and "RECONCILER-SEAL1" in published
    for secret in [*SAMPLE_PII, PLAN_KEY, TOKEN, repo.sandbox.key]:
        assert secret not in published, secret


@pytest.mark.e2e
def test_the_fork_job_validates_and_says_why_there_is_no_plan(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    checkout(tmp_path)
    pr = fake_github.add_pull()
    run = runner(fake_github, tmp_path, "pull_request", {"pull_request": {"number": pr}})
    steps = run.run(load("plan.yml")["jobs"]["fork"])
    assert all(s.outcome == "success" for s in steps), [s.stdout for s in steps]
    [comment] = fake_github.comments_on(pr)
    assert comment["body"].startswith(
        "<!-- reconciler:plan:fork -->\n**reconciler plan**: validate passed"
    )


@pytest.mark.e2e
def test_the_drift_job_opens_updates_and_closes_the_issue(
    fake_github: FakeGitHub,
    tmp_path: Path,
    sandbox_server_factory: Callable[..., SandboxServer],
) -> None:
    sandbox = sandbox_server_factory()
    write_workspace(tmp_path, 20)
    run = runner(fake_github, tmp_path, "schedule", {"schedule": "17 6 * * *"})
    run.secrets = {
        "RECONCILER_STATE": f"sqlite:///{tmp_path / 'state.db'}",
        "BRAZE_API_KEY": sandbox.key,
    }
    run.variables = {"BRAZE_REST_ENDPOINT": sandbox.url, "RECONCILER_WORKSPACE": "lab"}
    env = {**run.base_env, "BRAZE_API_KEY": sandbox.key, "BRAZE_REST_ENDPOINT": sandbox.url}
    applied = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--manifests", "manifests"]
        + ["--state", run.secrets["RECONCILER_STATE"]],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    job = load("reconciler-drift.yml", EXAMPLES)["jobs"]["drift"]
    # the scheduled job reads with the default 5-minute window; the test's writes are seconds old
    job["steps"][1]["with"]["args"] = "--window 0"

    def tier(value: str) -> str:
        sandbox.admin("POST", f"users/{user_id(3)}", {"custom_attributes": {"loyalty_tier": value}})
        steps = run.run(job)
        assert all(s.outcome == "success" for s in steps), [s.stdout for s in steps]
        return steps[-1].stdout

    assert "drift issue for lab #1 opened" in tier("gold")
    assert "drift issue for lab #1 updated" in tier("diamond")
    assert "diamond" in fake_github.issues[1]["body"]
    assert "drift issue for lab #1 closed" in tier("bronze")
    assert fake_github.issues[1]["state"] == "closed" and len(fake_github.issues) == 1
