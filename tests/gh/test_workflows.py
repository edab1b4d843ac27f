"""The workflows: their security properties, and their exact `run:` steps executed end to end.

The structural tests hold what review must never lose (no pull_request_target, permissions
everywhere, the fork guard, a serialized apply behind an environment). The e2e tests run the
job's own command lines with the runner stand-in against a sandbox and the fake GitHub API.
"""

from __future__ import annotations

import json
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
from gh.workflow_runner import WORKFLOWS, JobRunner, load

REPO = Path(__file__).resolve().parents[2]
NAMES = ["ci.yml", "plan.yml", "apply.yml", "drift.yml"]
WRITE_SCOPES = {"pull-requests", "issues"}


def all_workflows() -> dict[str, dict[str, Any]]:
    return {name: load(name) for name in NAMES}


def test_no_workflow_uses_pull_request_target() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        workflow = load(path.name)  # parsed, so the comments saying "never" do not count
        assert "pull_request_target" not in json.dumps(workflow), path.name
        assert isinstance(workflow["on"], dict) and workflow["permissions"], path.name


def test_every_workflow_is_read_only_at_the_top_and_each_job_asks_only_what_it_needs() -> None:
    expected = {
        ("plan.yml", "plan"): {"contents": "read", "pull-requests": "write"},
        ("plan.yml", "fork"): {"contents": "read", "pull-requests": "write"},
        ("apply.yml", "apply"): {"contents": "read", "pull-requests": "write"},
        ("drift.yml", "drift"): {"contents": "read", "issues": "write"},
    }
    for name, workflow in all_workflows().items():
        assert workflow["permissions"] == {"contents": "read"}, name
        for job_name, job in workflow["jobs"].items():
            if name == "ci.yml":
                assert "permissions" not in job  # inherits read-only
                continue
            assert job["permissions"] == expected[(name, job_name)], (name, job_name)


def test_plan_runs_on_manifest_prs_and_forks_get_validate_only() -> None:
    plan = load("plan.yml")
    assert plan["on"] == {"pull_request": {"paths": ["manifests/**"]}}
    same = "github.event.pull_request.head.repo.full_name == github.repository"
    assert plan["jobs"]["plan"]["if"] == same
    assert plan["jobs"]["fork"]["if"] == same.replace("==", "!=")
    fork = json.dumps(plan["jobs"]["fork"])
    assert "secrets." not in fork and "plan --" not in fork and "validate" in fork


def test_apply_is_serialized_per_workspace_behind_an_environment() -> None:
    apply = load("apply.yml")
    assert apply["on"]["push"]["branches"] == ["main"]
    job = apply["jobs"]["apply"]
    assert job["concurrency"] == {
        "group": "reconciler-apply-${{ vars.RECONCILER_WORKSPACE || 'production' }}",
        "cancel-in-progress": False,
    }
    assert job["environment"]
    assert "--allow-large" not in json.dumps(job)  # guards still apply


def test_drift_runs_on_a_schedule_and_every_workflow_uses_the_shared_setup() -> None:
    drift = load("drift.yml")
    assert drift["on"]["schedule"][0]["cron"]
    action = yaml_action()
    assert action["runs"]["using"] == "composite"
    for name in ("plan.yml", "apply.yml", "drift.yml"):
        for job in load(name)["jobs"].values():
            uses = [s.get("uses") for s in job["steps"]]
            assert "./.github/actions/reconciler" in uses, name


def yaml_action() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((REPO / ".github/actions/reconciler/action.yml").read_text())  # type: ignore[no-any-return]


# -- the steps, run --------------------------------------------------------------------------


def runner(fake: FakeGitHub, workdir: Path, event: dict[str, Any], **extra: str) -> JobRunner:
    (workdir / "event.json").write_text(json.dumps(event))
    base = {
        "HOME": str(workdir / "home"),
        "LANG": "C.UTF-8",
        "GITHUB_API_URL": fake.url,
        "GITHUB_REPOSITORY": fake.repository,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_EVENT_PATH": str(workdir / "event.json"),
        "GITHUB_STEP_SUMMARY": str(workdir / "summary.md"),
        "GITHUB_SERVER_URL": "https://github.test",
        "GITHUB_RUN_ID": "7",
        "RECONCILER_GITHUB_BACKOFF_S": "0.01",
        **extra,
    }
    return JobRunner(
        workdir, base, secrets={"RECONCILER_STATE": f"sqlite:///{workdir / 'state.db'}"}
    )


def example_checkout(workdir: Path) -> None:
    shutil.copytree(REPO / "manifests", workdir / "manifests")
    refresh_example_events(workdir / "manifests")


@pytest.mark.e2e
def test_the_plan_job_comments_once_then_updates(fake_github: FakeGitHub, tmp_path: Path) -> None:
    example_checkout(tmp_path)
    pr = fake_github.add_pull()
    job = load("plan.yml")["jobs"]["plan"]
    run = runner(fake_github, tmp_path, {"pull_request": {"number": pr}})
    for _ in range(2):
        steps = run.run(job)
        assert [s.outcome for s in steps] == ["success"] * 4, [s.stdout for s in steps]
        assert TOKEN not in "".join(s.stdout for s in steps)
    [comment] = fake_github.comments_on(pr)
    assert comment["body"] == (tmp_path / "plan.md").read_text()
    assert comment["body"].startswith("<!-- reconciler:plan:production -->")
    assert json.loads((tmp_path / "plan.json").read_text())["workspace"] == "production"
    assert (tmp_path / "plan.bin").stat().st_size > 0
    assert (tmp_path / "summary.md").read_text() == comment["body"] * 2


@pytest.mark.e2e
def test_the_fork_job_validates_and_says_why_there_is_no_plan(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    example_checkout(tmp_path)
    pr = fake_github.add_pull()
    run = runner(fake_github, tmp_path, {"pull_request": {"number": pr}})
    run.secrets = {}  # a fork run has none
    steps = run.run(load("plan.yml")["jobs"]["fork"])
    assert [s.outcome for s in steps] == ["success"] * 4, [s.stdout for s in steps]
    assert not (tmp_path / "plan.md").exists()
    [comment] = fake_github.comments_on(pr)
    assert comment["body"].startswith(
        "<!-- reconciler:plan:fork -->\n**reconciler plan**: validate"
    )


@pytest.mark.e2e
def test_the_apply_job_applies_and_comments_on_the_merged_pr(
    fake_github: FakeGitHub,
    tmp_path: Path,
    sandbox_server_factory: Callable[..., SandboxServer],
) -> None:
    sandbox = sandbox_server_factory()
    manifests = write_workspace(tmp_path, 20)
    assert manifests == tmp_path / "manifests"
    pr = fake_github.add_pull(merged=True)
    fake_github.commit_pulls["f00d"] = [pr]
    run = runner(fake_github, tmp_path, {"ref": "refs/heads/main"}, GITHUB_SHA="f00d")
    run.secrets["BRAZE_API_KEY"] = sandbox.key
    run.variables["BRAZE_REST_ENDPOINT"] = sandbox.url
    steps = run.run(load("apply.yml")["jobs"]["apply"])
    assert [s.outcome for s in steps] == ["success"] * 4, [s.stdout for s in steps]
    [comment] = fake_github.comments_on(pr)
    assert comment["body"].startswith(
        "<!-- reconciler:apply:lab -->\n**reconciler apply · lab**: success"
    )
    assert sandbox.key not in comment["body"] and TOKEN not in comment["body"]


@pytest.mark.e2e
def test_the_drift_job_opens_updates_and_closes_the_issue(
    fake_github: FakeGitHub,
    tmp_path: Path,
    sandbox_server_factory: Callable[..., SandboxServer],
) -> None:
    sandbox = sandbox_server_factory()
    write_workspace(tmp_path, 20)
    run = runner(fake_github, tmp_path, {"schedule": "17 6 * * *"})
    run.secrets["BRAZE_API_KEY"] = sandbox.key
    run.variables["BRAZE_REST_ENDPOINT"] = sandbox.url
    env = {**run.base_env, "BRAZE_API_KEY": sandbox.key, "BRAZE_REST_ENDPOINT": sandbox.url}
    applied = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--manifests", "manifests"]
        + ["--state", run.secrets["RECONCILER_STATE"]],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    job = load("drift.yml")["jobs"]["drift"]
    # The drift job runs with the default 5-minute window; the test's writes are seconds old.
    job["steps"][2]["run"] = job["steps"][2]["run"].replace(
        "--format markdown", "--format markdown --window 0"
    )

    def tier(value: str) -> list[str]:
        sandbox.admin("POST", f"users/{user_id(3)}", {"custom_attributes": {"loyalty_tier": value}})
        steps = run.run(job)
        assert [s.outcome for s in steps] == ["success"] * 3, [s.stdout for s in steps]
        return [s.stdout for s in steps]

    assert tier("gold")[2].startswith("drift issue for lab #1 opened")
    assert tier("diamond")[2].startswith("drift issue for lab #1 updated")
    assert "diamond" in fake_github.issues[1]["body"]
    assert tier("bronze")[2].startswith("drift issue for lab #1 closed")
    assert fake_github.issues[1]["state"] == "closed" and len(fake_github.issues) == 1
