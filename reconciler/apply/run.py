"""The one call the CLI makes: build the Braze client and the state store, run the executor."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from reconciler.apply.executor import ApplyOptions, apply_plan
from reconciler.apply.guards import enforce_guards
from reconciler.apply.progress import Progress, progress_for
from reconciler.apply.result import ApplyResult
from reconciler.plan.model import Plan
from reconciler.state import open_state


def run_apply(
    plan: Plan,
    *,
    state_url: str,
    endpoint: str,
    api_key: str,
    allow_large: bool = False,
    progress: Progress | None = None,
    options: ApplyOptions | None = None,
    transport: Any = None,
) -> ApplyResult:
    """Apply `plan` to the Braze REST `endpoint`, journaled in the state at `state_url`.

    Raises before sending (GuardError, LockHeldError, StalePlanError, StateError); otherwise
    returns the result, whose `raise_for_status()` gives the CLI its error and exit code.
    `progress` defaults to a bar on a terminal stderr and plain lines elsewhere. `transport`
    is an httpx transport, for tests only.
    """
    opts = replace(options or ApplyOptions(), allow_large=allow_large)
    enforce_guards(plan, allow_large=allow_large)  # before the state file is even opened
    from reconciler.braze.client import BrazeClient  # httpx stays out of `import apply`

    async def go() -> ApplyResult:
        client = BrazeClient(
            endpoint, api_key, transport=transport, max_connections=2 * opts.concurrency
        )
        async with client:
            return await apply_plan(
                plan, store, client, options=opts, progress=progress or progress_for()
            )

    store = open_state(state_url)
    try:
        return asyncio.run(go())
    finally:
        store.close()
