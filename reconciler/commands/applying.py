"""`apply`: a fresh plan (confirmed) or a saved one (checked for staleness), then the executor."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.apply.executor import ApplyOptions
from reconciler.apply.guards import enforce_guards
from reconciler.apply.progress import Progress
from reconciler.apply.result import ApplyResult
from reconciler.apply.run import run_apply
from reconciler.braze.settings import api_key_from_env, resolve_endpoint
from reconciler.commands.planning import input_hashes, make_plan, resolve_state_url
from reconciler.errors import ReconcilerError, StalePlanError, UsageError
from reconciler.manifests import Manifests, load_workspace
from reconciler.manifests.endpoints import UnknownInstance, rest_base
from reconciler.plan.model import Plan
from reconciler.plan.planfile import load_plan, stale_reasons
from reconciler.plan.sealing import plan_key
from reconciler.state import LockRequest, open_state

if TYPE_CHECKING:
    from reconciler.plan.model import Replace


@dataclass(frozen=True)
class ApplyRequest:
    manifests_dir: Path
    state_flag: str | None
    planfile: Path | None
    allow_large: bool = False
    lock_wait_seconds: float = 0.0
    settle_seconds: float = 300.0  # see ApplyOptions.settle_seconds
    replace: Replace | None = None  # a fresh plan only: cells to resend whatever the ledger says
    memory_limit: str | None = None  # of the fresh plan's work database


@dataclass(frozen=True)
class Prepared:
    """What is about to be applied, and where; `fresh` plans still need a confirmation."""

    manifests: Manifests
    plan: Plan
    state_url: str
    fresh: bool


def prepare(request: ApplyRequest, spool_dir: Path) -> Prepared:
    """The plan to apply: the saved one (refused with the reasons when stale), or a fresh one."""
    if request.planfile is None:
        if request.lock_wait_seconds > 0:
            m = load_workspace(request.manifests_dir)
            url = resolve_state_url(request.manifests_dir, request.state_flag, m)
            wait_for_lock(url, request.lock_wait_seconds)
        planned = make_plan(
            request.manifests_dir,
            request.state_flag,
            spool_dir,
            replace=request.replace,
            memory_limit=request.memory_limit,
        )
        return Prepared(planned.manifests, planned.plan, planned.state_url, fresh=True)
    if request.replace:
        raise UsageError(
            "--replace and --replace-user shape a fresh plan; a saved plan already says what"
            " it sends",
            hint="pass them to `reconciler plan --out FILE`, then apply that file",
        )
    plan, saved_inputs = load_plan(request.planfile, spool_dir, key=plan_key())
    m = load_workspace(request.manifests_dir)
    url = resolve_state_url(request.manifests_dir, request.state_flag, m, writing=True)
    if plan.workspace != m.workspace.name:
        raise StalePlanError(
            f"{request.planfile}: the plan is for workspace {plan.workspace!r}, "
            f"the manifests are workspace {m.workspace.name!r}"
        )
    with open_state(url) as state:
        meta = state.meta()
    reasons = stale_reasons(plan, saved_inputs, meta.lineage, meta.serial, input_hashes(m))
    if reasons:
        raise StalePlanError(
            f"{request.planfile}: the saved plan is stale: " + "; ".join(reasons),
            hint="run `reconciler plan --out FILE` again, review it, then apply the new file",
        )
    return Prepared(m, plan, url, fresh=False)


def keep_digests_of_a_no_op(prepared: Prepared) -> None:
    """A plan with nothing to send still has the digests of every user it read: after a
    manifest change, all of them. Keep them when the state is still the one it read, so the
    plans after it do not read every row again until some change is applied. Best effort (a
    cache): skipped when another process holds the lock or the state moved on."""
    plan = prepared.plan
    if plan.digests is None:
        return
    try:
        with (
            open_state(prepared.state_url) as store,
            store.lock(LockRequest("apply", plan.plan_id)),
        ):
            meta = store.meta()
            if (meta.lineage, meta.serial) != (plan.binding.lineage, plan.binding.serial):
                return
            digests = plan.digests
            store.put_plan_digests(digests.fingerprint, digests.path, digests.rows)
    except (ReconcilerError, OSError):
        return


def wait_for_lock(url: str, seconds: float) -> None:
    """Wait (up to `seconds`) until no one holds the state lock, before planning.

    A fresh plan made while another apply runs would be stale the moment that apply records a
    batch, so waiting for the lock only at apply time would end in a StalePlanError. Waiting
    first means the plan sees what the other apply wrote (often: no changes left).
    """
    with (
        open_state(url) as state,
        state.lock(LockRequest("apply", info="waiting to plan"), wait_seconds=seconds),
    ):
        pass


def braze_endpoint(m: Manifests, environ: Mapping[str, str] | None = None) -> str:
    """The REST endpoint an apply sends to: $BRAZE_REST_ENDPOINT over the Workspace's."""
    spec = m.workspace.spec
    try:
        base = rest_base(spec.instance, spec.rest_endpoint, spec.dashboard_url)
    except UnknownInstance as e:  # validate reports it located; here it is a usage error
        raise UsageError(str(e)) from e
    return resolve_endpoint(base, environ)


def braze_target(m: Manifests, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The REST endpoint ($BRAZE_REST_ENDPOINT over the Workspace) and the key from its env var."""
    return braze_endpoint(m, environ), api_key_from_env(m.workspace.spec.api_key_env, environ)


def execute(
    prepared: Prepared,
    request: ApplyRequest,
    *,
    progress: Progress | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ApplyResult | None:
    """Apply `prepared`; None when there was nothing to do or the user declined.

    The key is read before anything is sent, so a missing key fails without side effects.
    """
    if not prepared.plan.has_changes:
        keep_digests_of_a_no_op(prepared)
        return None
    endpoint, api_key = braze_target(prepared.manifests, environ)
    enforce_guards(prepared.plan, allow_large=request.allow_large)  # before asking
    if confirm is not None and not confirm(prepared.plan):
        return None
    options = ApplyOptions(
        lock_wait_seconds=request.lock_wait_seconds,
        settle_seconds=request.settle_seconds,
        memory_limit=request.memory_limit,
    )
    return run_apply(
        prepared.plan,
        state_url=prepared.state_url,
        endpoint=endpoint,
        api_key=api_key,
        allow_large=request.allow_large,
        progress=progress,
        options=options,
    )
