"""Group commit for the executor: doubt marks before a batch leaves, acks after it lands.

Every batch costs two durable facts: *this batch is about to leave* (its cells are marked in
doubt, so a write that lands while its answer is lost is resent by the next plan, never
trusted) and *Braze acknowledged it* (its cells enter the ledger and the mark goes). Each must
be durable before what depends on it: the mark before the request leaves, the ack before the
apply reports success. Neither must wait for the other batches.

So the workers hand both to one committer, which writes everything queued in ONE transaction
on a worker thread (SQLite's and PostgreSQL's commit wait releases the GIL), while the event
loop keeps the other requests flying. A worker that just got its answer queues its ack
together with the mark of its next batch, so one commit serves both; whatever else queued up
during a commit goes in the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from reconciler.plan.model import UserDelta
from reconciler.state.base import BatchAck, CellColumns, ResourcePut, StateStore
from reconciler.state.cells import DOUBT


def delta_columns(deltas: Sequence[UserDelta], doubt: bool = False) -> CellColumns:
    """The cells the deltas write (their stored values) and unset (None), or with `doubt`
    all marked DOUBT, as columns: per user a handful of list operations that run in C, not a
    Python object per cell (a first sync writes twenty cells per user)."""
    kinds: list[str] = []
    users: list[str] = []
    attributes: list[str] = []
    values: list[str | None] = []
    seen: set[tuple[str, str]] = set()
    distinct = True  # each user once, each of its attributes once (as the planner writes them)
    for d in deltas:
        n = len(d.writes) + len(d.unsets)
        seen.add((d.id_kind, d.user_id))
        start = len(attributes)
        kinds += [d.id_kind] * n
        users += [d.user_id] * n
        if d.writes:
            names, stored = zip(*d.writes, strict=True)
            attributes += names
            values += [DOUBT] * len(names) if doubt else stored
        if d.unsets:
            attributes += d.unsets
            values += [DOUBT if doubt else None] * len(d.unsets)
        distinct = distinct and len(set(attributes[start:])) == n
    distinct = distinct and len(seen) == len(deltas)
    return CellColumns(kinds, users, attributes, values, distinct)


def marked(cells: CellColumns) -> CellColumns:
    """The same cells marked in doubt, sharing their key columns (lists nobody mutates): the
    executor builds a batch's cells once for its mark and its ack."""
    return CellColumns(
        cells.kinds, cells.users, cells.attributes, [DOUBT] * len(cells), cells.distinct
    )


# a batch about to leave: its doubt mark and/or its event intent, and who waits for them
_Mark = tuple[CellColumns | None, ResourcePut | None, "asyncio.Future[int | None]"]


@dataclass
class _Pending:
    acks: list[BatchAck] = field(default_factory=list)
    ack_futures: list[asyncio.Future[int]] = field(default_factory=list)
    marks: list[_Mark] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.acks or self.marks)


class GroupCommitter:
    """Queues acks, doubt marks and intents; commits all that are queued in one transaction."""

    def __init__(self, store: StateStore, apply_id: str) -> None:
        self.store, self.apply_id = store, apply_id
        self._pending = _Pending()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.commits = 0
        # one thread of its own: commits are serial anyway, and the default pool's hand-off
        # (a context copy, a pick among idle threads) costs the event loop on every commit
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconciler-commit")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def submit(
        self,
        ack: BatchAck | None = None,
        doubt: CellColumns | None = None,
        intent: ResourcePut | None = None,
    ) -> tuple[asyncio.Future[int] | None, asyncio.Future[int | None] | None]:
        """Queue an ack and/or the next batch's doubt mark and event intent. The futures resolve
        once durable: the ack's to its serial, the mark's to its id (None with no cells)."""
        loop = asyncio.get_running_loop()
        ack_f: asyncio.Future[int] | None = None
        mark_f: asyncio.Future[int | None] | None = None
        if ack is not None:
            ack_f = loop.create_future()
            self._pending.acks.append(ack)
            self._pending.ack_futures.append(ack_f)
        if doubt is not None or intent is not None:
            mark_f = loop.create_future()
            self._pending.marks.append((doubt, intent, mark_f))
        self._wake.set()
        return ack_f, mark_f

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, _Pending()
            if batch:
                await self._commit(batch)
            if self._closed and not self._pending:
                return

    async def _commit(self, batch: _Pending) -> None:
        doubts = [d for d, _, _ in batch.marks if d is not None]
        puts = [p for _, p, _ in batch.marks if p is not None]
        marks = [f for _, _, f in batch.marks]
        try:
            serials, seqs = await asyncio.get_running_loop().run_in_executor(
                self._thread, self.store.commit_batches, self.apply_id, batch.acks, doubts, puts
            )
        except BaseException as e:  # noqa: BLE001 - handed to every waiter
            waiters: list[asyncio.Future[Any]] = [*batch.ack_futures, *marks]
            for f in waiters:
                if not f.done():
                    f.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        self.commits += 1
        for f, serial in zip(batch.ack_futures, serials, strict=True):
            if not f.done():
                f.set_result(serial)
        ids = iter(seqs)
        for doubt, _, f in batch.marks:
            seq = next(ids) if doubt is not None else None
            if not f.done():
                f.set_result(seq)

    async def close(self) -> None:
        """Commit whatever is queued, then stop. Never cancelled half way: a commit in flight
        finishes before the apply records its end."""
        self._closed = True
        self._wake.set()
        try:
            if self._task is not None:
                await asyncio.shield(self._task)
        finally:
            self._thread.shutdown(wait=False)
