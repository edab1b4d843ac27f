"""The three things the workflows ask for: sticky comment, job summary, drift issue.

Each returns an Outcome the CLI prints as one line, so a workflow log says what was touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import UsageError
from reconciler.github.body import Marker, find_marker, fit_body, parse_marker
from reconciler.github.client import GitHubClient
from reconciler.github.context import GitHubContext

DRIFT_LABEL = "drift"


@dataclass(frozen=True)
class Outcome:
    """What happened: `action` (created/updated/closed/reopened/unchanged/appended) and where."""

    action: str
    what: str
    url: str | None = None

    def line(self) -> str:
        return f"{self.what} {self.action}" + (f": {self.url}" if self.url else "")


def read_body(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{path}: cannot read the body file: {e.strerror}") from None


def body_marker(body: str, path: Path, override: str | None) -> Marker:
    """The marker that makes the comment findable: --marker, else the one in the body."""
    if override is not None:
        marker = parse_marker(override)
        if marker is None:
            raise UsageError(f"--marker {override!r}: expected reconciler:<kind>:<workspace>")
        return marker
    marker = find_marker(body)
    if marker is None:
        raise UsageError(
            f"{path}:1:1: no `<!-- reconciler:<kind>:<workspace> -->` marker in the body; "
            "render it with --format markdown or pass --marker"
        )
    return marker


def resolve_pr(ctx: GitHubContext, client: GitHubClient, override: int | None) -> int:
    """--pr, else the event's PR, else the PR the pushed commit came from (apply on merge)."""
    if override is not None:
        return override
    number = ctx.pull_request_number()
    if number is not None:
        return number
    if ctx.sha:
        pulls = client.pulls_for_commit(ctx.sha)
        merged = [p for p in pulls if p.get("merged_at")] or pulls
        if merged and isinstance(merged[0].get("number"), int):
            return int(merged[0]["number"])
    raise UsageError(
        "no pull request: the event payload has none and $GITHUB_SHA belongs to no PR; pass --pr"
    )


def sticky_comment(
    ctx: GitHubContext, client: GitHubClient, body: str, marker: Marker, pr: int | None
) -> Outcome:
    """Update the PR comment carrying `marker` in place, or create it: one per workspace."""
    number = resolve_pr(ctx, client, pr)
    text = fit_body(body, marker, ctx.run_url)
    what = f"comment {marker.kind}:{marker.workspace} on #{number}"
    for comment in client.issue_comments(number):
        if marker.text in str(comment.get("body") or ""):
            if comment.get("body") == text:
                return Outcome("unchanged", what, comment.get("html_url"))
            updated = client.update_comment(int(comment["id"]), text)
            return Outcome("updated", what, updated.get("html_url"))
    created = client.create_comment(number, text)
    return Outcome("created", what, created.get("html_url"))


def append_summary(path: Path, body: str) -> Outcome:
    """Append to $GITHUB_STEP_SUMMARY (Actions renders it as Markdown on the run page)."""
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(body if body.endswith("\n") else body + "\n")
    except OSError as e:
        raise UsageError(f"$GITHUB_STEP_SUMMARY: cannot append to {path}: {e.strerror}") from None
    return Outcome("appended", f"job summary ({len(body):,} characters)")


def drift_title(workspace: str) -> str:
    return f"Drift in Braze workspace {workspace}"


def closing_comment(marker: Marker, body: str, run_url: str | None) -> str:
    run = f" ([run]({run_url}))" if run_url else ""
    head = f"The scheduled drift check found workspace `{marker.workspace}` clean{run}; closing."
    return f"{head}\n\n{body}"


def drift_issue(
    ctx: GitHubContext, client: GitHubClient, body: str, marker: Marker, exit_code: int
) -> Outcome:
    """Open/update the workspace's `drift` issue when drift exits 2, close it when it exits 0."""
    if exit_code not in (0, 2):
        raise UsageError(
            f"--exit-code {exit_code}: the drift check failed (0 is clean, 2 is drift); "
            "the drift issue is left as it is"
        )
    what = f"drift issue for {marker.workspace}"
    existing = next(
        (i for i in client.issues_labelled(DRIFT_LABEL) if marker.text in str(i.get("body") or "")),
        None,
    )
    if exit_code == 0:
        if existing is None or existing.get("state") != "open":
            return Outcome("unchanged", what + " (clean, none open)")
        number = int(existing["number"])
        client.create_comment(
            number, fit_body(closing_comment(marker, body, ctx.run_url), marker, ctx.run_url)
        )
        closed = client.update_issue(number, state="closed", state_reason="completed")
        return Outcome("closed", f"{what} #{number}", closed.get("html_url"))
    text = fit_body(body, marker, ctx.run_url)
    if existing is None:
        created = client.create_issue(drift_title(marker.workspace), text, [DRIFT_LABEL])
        return Outcome("opened", f"{what} #{created.get('number')}", created.get("html_url"))
    number = int(existing["number"])
    reopen = existing.get("state") != "open"
    fields: dict[str, object] = {"body": text}
    if reopen:
        fields["state"] = "open"
    updated = client.update_issue(number, **fields)
    return Outcome(
        "reopened" if reopen else "updated", f"{what} #{number}", updated.get("html_url")
    )


PLAN_LABELS = {
    "changes": "reconciler: changes",
    "no-changes": "reconciler: no changes",
    "guard": "reconciler: guard tripped",
    "failed": "reconciler: plan failed",
}


def plan_label(body: str) -> str:
    """Which label a plan comment earns, from its markdown headline."""
    head = "\n".join(body.splitlines()[:3])
    if "**guards tripped**" in head:
        return PLAN_LABELS["guard"]
    if "no changes against state" in head:
        return PLAN_LABELS["no-changes"]
    if "reconciler plan" in head and ("cells" in head or "content blocks" in head):
        return PLAN_LABELS["changes"]
    return PLAN_LABELS["failed"]


def label_pr(ctx: GitHubContext, client: GitHubClient, body: str, pr: int | None) -> Outcome:
    """One of the plan labels on the PR, the others removed: reviewers filter on them."""
    number = resolve_pr(ctx, client, pr)
    label = plan_label(body)
    for other in PLAN_LABELS.values():
        if other != label:
            client.remove_label(number, other)
    client.add_labels(number, [label])
    return Outcome("labelled", f"#{number} '{label}'")


def reviewed_run(ctx: GitHubContext, client: GitHubClient, workflow: str) -> tuple[int, int]:
    """(PR number, run id): the latest successful `workflow` run for the head commit of the
    PR merged in $GITHUB_SHA: the run whose saved plan the reviewers read."""
    if not ctx.sha:
        raise UsageError("$GITHUB_SHA is not set: no merge commit to find the reviewed PR of")
    pulls = client.pulls_for_commit(ctx.sha)
    merged = [p for p in pulls if p.get("merged_at")]
    if not merged:
        raise UsageError(
            f"commit {ctx.sha[:12]} belongs to no merged pull request, so there is no reviewed "
            "plan to apply",
            hint="merge through a pull request, or run the apply workflow by hand to plan again",
        )
    pr = merged[0]
    head = (pr.get("head") or {}).get("sha")
    if not isinstance(head, str) or not head:
        raise UsageError(f"pull request #{pr.get('number')}: GitHub gave no head commit")
    runs = sorted(client.workflow_runs(workflow, head), key=lambda r: int(r.get("id", 0)))
    if not runs:
        raise UsageError(
            f"no successful {workflow} run for the head commit {head[:12]} of pull request "
            f"#{pr.get('number')}: the reviewed plan cannot be found",
            hint="re-run the plan workflow on the pull request, or apply by hand",
        )
    return int(pr["number"]), int(runs[-1]["id"])
