"""Apply the plan's resource changes: one Content Block per WebhookTemplate.

Runs inside the apply's lock and journal, before the user batches (which still go out when a
block is refused: the two are independent). Each block is created (then
its `content_block_id` recorded with `put_resource`) or updated by that id; a change that only
touches the dashboard part sends nothing and is recorded, since no API can set it. No-ops and
orphans send nothing: Braze has no delete, and an orphan is only reported.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from reconciler.apply.pacing import RetryPolicy
from reconciler.errors import BrazeError, BrazeRateLimitError, BrazeUnavailableError
from reconciler.plan.content_blocks import BLOCK_STATE, remote_fields
from reconciler.plan.model import Plan, ResourceChange
from reconciler.state.base import StateStore

_SENDING = ("create", "update")


@runtime_checkable
class ContentBlockWriter(Protocol):
    """The content-block half of the Braze client (reconciler.braze.client.BrazeClient)."""

    async def create_content_block(
        self, name: str, content: str, *, description: str | None = None, state: str = "active"
    ) -> str: ...

    async def update_content_block(self, block_id: str, **fields: Any) -> str: ...


@dataclass
class ResourceOutcome:
    """What the resource step did (summary lines) and the Braze refusal that stopped it."""

    lines: list[str] = field(default_factory=list)
    error: BrazeError | None = None


async def apply_resource_changes(
    plan: Plan,
    store: StateStore,
    writer: object,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> ResourceOutcome:
    """Create or update every planned block, recording each in state as soon as Braze took it.

    A Braze refusal stops the resource step (the blocks before it stay recorded) and is
    returned rather than raised, so the user batches still go out; the apply then ends failed
    with that error. 5xx, timeouts and 429 are retried under the apply's retry policy.
    """
    outcome = ResourceOutcome()
    todo = [c for c in plan.resource_changes if c.action in _SENDING]
    if not todo:
        return outcome
    if not isinstance(writer, ContentBlockWriter):
        raise TypeError(f"{type(writer).__name__} cannot write content blocks")
    applied = store.resources()
    send = _Retrying(retry or RetryPolicy(), sleep)
    try:
        for change in todo:
            if change.action == "create":
                outcome.lines.append(await _create(change, store, writer, send))
            else:
                before = applied.get(change.address)
                spec = before.spec if before else {}
                outcome.lines.append(await _update(change, spec, store, writer, send))
    except BrazeError as e:
        outcome.error = e
        outcome.lines.append(f"content blocks stopped: {e.message}")
    return outcome


class _Retrying:
    """Send one content-block request, retrying what Braze says is temporary."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], Awaitable[Any]]) -> None:
        self.policy, self.sleep = policy, sleep
        self.rng = random.Random()
        self.retried = False

    async def __call__(self, request: Callable[[], Awaitable[str]]) -> str:
        failures = 0
        while True:
            try:
                return await request()
            except (BrazeUnavailableError, BrazeRateLimitError) as e:
                failures += 1
                if failures >= self.policy.max_attempts:
                    raise
                self.retried = True
                wait = self.policy.backoff(failures, self.rng)
                if isinstance(e, BrazeRateLimitError) and e.retry_at is not None:
                    wait = min(max(wait, e.retry_at - time.time()), self.policy.max_rate_wait)
                await self.sleep(wait)


async def _create(
    change: ResourceChange, store: StateStore, writer: ContentBlockWriter, send: _Retrying
) -> str:
    spec = change.spec
    try:
        block_id = await send(
            lambda: writer.create_content_block(
                str(spec["name"]),
                str(spec["content"]),
                description=spec.get("description") or None,
                state=BLOCK_STATE,
            )
        )
    except BrazeError as e:
        if "already exists" in e.message:
            maybe = " (a retried create may have made it)" if send.retried else ""
            e.hint = (
                f"a block named {spec['name']!r} exists in Braze but not in state{maybe}: "
                "`reconciler import` adopts it, then plan again"
            )
        raise
    store.put_resource(change.address, spec, remote_id=block_id)
    return f"created content block {spec['name']} (id {block_id})"


async def _update(
    change: ResourceChange,
    before: Mapping[str, Any],
    store: StateStore,
    writer: ContentBlockWriter,
    send: _Retrying,
) -> str:
    spec, block_id = change.spec, change.remote_id
    if block_id is None:
        raise BrazeError(
            f"{change.address}: state has no content_block_id to update",
            hint="`reconciler import` records the id of an existing block",
        )
    fields = {k: v for k, v in remote_fields(spec).items() if k != "name" and before.get(k) != v}
    if fields:
        await send(lambda: writer.update_content_block(block_id, **fields))
    store.put_resource(change.address, spec, remote_id=block_id)
    if not fields:
        return f"recorded content block {spec['name']}: dashboard settings only, set them by hand"
    return f"updated content block {spec['name']} ({', '.join(sorted(fields))})"
