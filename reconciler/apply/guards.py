"""Enforce the plan's guards at apply time: a tripped guard refuses unless --allow-large."""

from __future__ import annotations

from reconciler.errors import GuardError
from reconciler.plan.model import GuardResult, Plan


def describe(guard: GuardResult) -> str:
    limit = "" if guard.limit is None else f" (limit {_num(guard.limit)})"
    detail = f": {guard.detail}" if guard.detail else ""
    return f"{guard.name} is {_num(guard.value)}{limit}{detail}"


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.2f}"


def enforce_guards(plan: Plan, *, allow_large: bool) -> tuple[GuardResult, ...]:
    """The tripped guards (empty when all pass); GuardError when any tripped and not allowed.

    The plan computed the guards; apply only enforces them, so what was reviewed is what is
    checked. With `allow_large` the tripped guards are returned for the caller to show.
    """
    tripped = tuple(g for g in plan.guards if not g.ok)
    if tripped and not allow_large:
        lines = "; ".join(describe(g) for g in tripped)
        noun = "guard" if len(tripped) == 1 else "guards"
        raise GuardError(
            f"refusing to apply plan {plan.plan_id}: {len(tripped)} {noun} tripped: {lines}",
            hint="review the plan, then apply again with --allow-large if it is intended",
        )
    return tripped
