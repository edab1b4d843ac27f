"""Run a Plan: lock, journal, send batches concurrently, record every acknowledged batch.

Crash safety comes from the order of effects. Before a batch leaves, its cells are marked in
doubt (durably); its ledger cells and journal entry are written in ONE transaction, which also
drops the mark, only after Braze acknowledged it (a 2xx whose `errors` do not name the object).
A crash or a lost answer at any point therefore loses nothing and trusts nothing: the next plan
resends exactly the cells of the batches that were in flight, whatever the ledger says, and
nothing else. Marks and acks are group-committed (apply/journal.py): a batch's ack and the next
batch's mark share one commit, so the mark costs no extra round trip.

Ctrl-C stops taking new batches, lets in-flight ones finish and be recorded, and ends the
apply as "interrupted"; a second Ctrl-C abandons the in-flight requests (they resend later).

Events are not idempotent, so a request carrying them is bracketed by an intent and carries a
marker (reconciler.apply.events): a lost answer is settled by reading Braze, never by resending.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from reconciler.apply.batching import Batch, pack
from reconciler.apply.events import (
    EventsInDoubt,
    MarkerReader,
    clear_intent,
    event_outcome,
    intent,
    intent_address,
    prune,
    settle_intents,
    settler,
    token_prefix,
)
from reconciler.apply.guards import enforce_guards
from reconciler.apply.journal import GroupCommitter, delta_columns, marked
from reconciler.apply.pacing import Clock, RateGate, RetryPolicy, Sleep, send_with_retries
from reconciler.apply.progress import NullProgress, Progress
from reconciler.apply.protocol import BrazeWriter, TrackResult
from reconciler.apply.resources import apply_resource_changes
from reconciler.apply.result import ApplyResult, FinalStatus, Rejection
from reconciler.errors import BrazeUnavailableError, ReconcilerError
from reconciler.plan.model import OBJECTS_PER_REQUEST, Plan
from reconciler.render.masking import mask_identifier
from reconciler.state.base import BatchAck, CellColumns, LockRequest, ResourcePut, StateStore

DEFAULT_CONCURRENCY = 4
# Fold the log into the snapshot after an apply that leaves at least this many cells in it:
# below, overlaying the log costs a plan less than rewriting the snapshot costs the apply.
COMPACT_MIN_CELLS = 250_000
# While sending, the cyclic collector runs once this many more container objects are alive
# than were freed (Python's default is 700): see `_few_collections`.
GC_YOUNG_THRESHOLD = 100_000


@dataclass(frozen=True)
class ApplyOptions:
    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight at once
    batch_size: int = OBJECTS_PER_REQUEST
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    allow_large: bool = False
    check_binding: bool = True  # refuse a plan made against another lineage or serial
    lock_wait_seconds: float = 0.0
    handle_sigint: bool = True  # only in the main thread
    max_listed_rejections: int = 1000
    seed: int | None = None  # of the backoff jitter
    clock: Clock = time.time
    sleep: Sleep = asyncio.sleep
    # How long Braze may take to show a write: a request with events whose answer was lost is
    # settled by reading its marker back only after this long (0: at once, as the sandbox).
    settle_seconds: float = 300.0
    # the cap of the DuckDB that folds the ledger log after the apply (None: the default)
    memory_limit: str | None = None


async def apply_plan(
    plan: Plan,
    store: StateStore,
    writer: BrazeWriter,
    *,
    options: ApplyOptions | None = None,
    progress: Progress | None = None,
) -> ApplyResult:
    """Apply every delta of `plan` through `writer`, journaled in `store`.

    Refusals before anything is sent raise (GuardError, LockHeldError, StalePlanError). What
    happens once sending began is in the result (`status`, `raise_for_status()`).
    """
    opts = options or ApplyOptions()
    tripped = enforce_guards(plan, allow_large=opts.allow_large)
    result = ApplyResult(plan_id=plan.plan_id, tripped_guards=tripped)
    request = LockRequest(operation="apply", info=plan.plan_id)
    with store.lock(request, wait_seconds=opts.lock_wait_seconds):
        result.apply_id = store.begin_apply(
            plan.plan_id,
            expect_lineage=plan.binding.lineage if opts.check_binding else None,
            expect_serial=plan.binding.serial if opts.check_binding else None,
        )
        run = _Run(plan, store, writer, opts, progress or NullProgress(), result)
        try:
            blocks = await apply_resource_changes(plan, store, writer, opts.retry, opts.sleep)
            result.resource_lines = blocks.lines
            await run.settle()
            with _few_collections():
                await run.execute()
            if result.status in ("applied", "partial"):
                result.events_pruned = prune(store, plan.events)
            if blocks.error is not None and result.status in ("applied", "partial"):
                result.status, result.error = "failed", blocks.error
        except BaseException:
            result.status = "interrupted" if run.interrupted else "failed"
            raise
        finally:
            store.finish_apply(result.apply_id, result.status)
        _keep_digests(store, plan, progress or NullProgress())
        result.compacted = _compact(store, progress or NullProgress(), opts.memory_limit)
    return result


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """Collect cyclic garbage rarely while sending.

    Every delta parsed from the spool is a few dozen short-lived lists and strings. With the
    default threshold (700 net allocations) the collector ran thousands of times per 100k
    users, each time walking the batches in flight, and promoted them to older generations
    whose collections walk everything: a quarter of the apply's CPU at 100k users. Deltas are
    freed by reference counting and hold no cycles, so raising the young generation's
    threshold loses nothing; the little cyclic garbage asyncio and httpx make is still
    collected (a 100k-object bound: a few MB)."""
    threshold = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def _keep_digests(store: StateStore, plan: Plan, progress: Progress) -> None:
    """Keep the plan's digests, so the next plan types and diffs only what moved since.

    Whatever the outcome: a user whose writes did not all land has a ledger row unlike the
    one the digest expects, so the next plan reads that user again (plan/digests.py). Best
    effort: without them the next plan reads everything, and loses nothing."""
    if plan.digests is None:
        return
    try:
        store.put_plan_digests(plan.digests.fingerprint, plan.digests.path, plan.digests.rows)
    except (ReconcilerError, OSError) as e:
        message = e.message if isinstance(e, ReconcilerError) else str(e)
        progress.note(f"plan digests not kept: {message} (the next plan reads every row)")


def _compact(store: StateStore, progress: Progress, memory_limit: str | None = None) -> int:
    """Fold the ledger log into a new snapshot once it outgrows a fraction of the snapshot
    (still under the lock). Best effort: the log alone is a complete ledger, so a failure here
    is reported and loses nothing."""
    try:
        cells = store.log_cells()
        if cells < COMPACT_MIN_CELLS:
            return 0
        return store.compact_ledger(min_cells=COMPACT_MIN_CELLS, memory_limit=memory_limit)
    except ReconcilerError as e:
        hint = f"; {e.hint}" if e.hint else ""
        progress.note(f"ledger compaction skipped: {e.message} (the next apply retries{hint})")
        return 0


class _Run:
    """One apply's workers and shared counters (single event loop: no locks needed)."""

    def __init__(
        self,
        plan: Plan,
        store: StateStore,
        writer: BrazeWriter,
        options: ApplyOptions,
        progress: Progress,
        result: ApplyResult,
    ) -> None:
        self.plan, self.store, self.writer = plan, store, writer
        self.options, self.progress, self.result = options, progress, result
        self.gate = RateGate(options.retry, options.clock, options.sleep)
        self.rng = random.Random(options.seed)
        self.batches: Iterator[Batch] = iter(())
        self.exhausted = False
        self.interrupted = False
        self.error: ReconcilerError | None = None
        self.bug: BaseException | None = None
        self.workers: list[asyncio.Task[None]] = []
        self.markers = writer if isinstance(writer, MarkerReader) else None
        self.skip: set[str] = set()  # events settled (recorded) or held back before sending
        self.committer = GroupCommitter(store, result.apply_id)

    @property
    def stopping(self) -> bool:
        return self.interrupted or self.error is not None or self.bug is not None

    async def settle(self) -> None:
        """Settle what earlier applies left in doubt, before sending anything."""
        settled = await settle_intents(
            self.store,
            self.markers,
            self.result.apply_id,
            settle_seconds=self.options.settle_seconds,
            now=self.options.clock(),
        )
        self.skip = settled.skip
        r = self.result
        r.events_recovered, r.events_held = len(settled.landed), len(settled.held)
        r.event_lines.extend(settled.lines)

    async def execute(self) -> None:
        started = time.monotonic()
        summary = self.plan.summary
        self.progress.start(summary.users_changed, summary.requests)
        events = (e for e in self.plan.events.events() if e.event_id not in self.skip)
        self.batches = pack(
            self.plan.deltas(),
            self.options.batch_size,
            events=events,
            token_prefix=token_prefix(self.result.apply_id),
            update_only=frozenset(
                c.attribute for c in self.plan.attribute_changes if c.update_existing_only
            ),
        )
        self.committer.start()
        try:
            with self._sigint_handler():
                self.workers = [
                    asyncio.create_task(self._worker())
                    for _ in range(max(1, self.options.concurrency))
                ]
                await asyncio.gather(*self.workers, return_exceptions=True)
        finally:
            await self.committer.close()
            self.batches.close()  # type: ignore[attr-defined]  # a generator: close the spool
            self._tally(time.monotonic() - started)
            self.result.commits = self.committer.commits
        if self.bug is not None:
            raise self.bug
        if any(w.cancelled() for w in self.workers) and not self.interrupted:
            raise asyncio.CancelledError
        self.result.status = self._status()
        self.progress.finish(self.result.status)

    def _status(self) -> FinalStatus:
        if self.error is not None:
            self.result.error = self.error
            return "failed"
        if self.interrupted and not self.exhausted:
            return "interrupted"
        r = self.result
        pending = r.rejected or r.events_rejected or r.events_in_doubt or r.events_held
        return "partial" if pending else "applied"

    def _tally(self, elapsed: float) -> None:
        stats, r = self.gate.stats, self.result
        r.attempts, r.retries, r.rate_limited = stats.attempts, stats.retries, stats.rate_limited
        r.paced_waits, r.elapsed_seconds = stats.paced_waits, elapsed

    async def _worker(self) -> None:
        """Send batches one after another; each ack is committed with the next batch's mark."""
        batch = self._take()
        mark, cells = await self._mark(batch)
        while batch is not None:
            current: Batch = batch
            if self.stopping:
                self._unmark(mark)  # marked, but it never leaves
                if current.events:
                    clear_intent(self.store, current)
                return
            try:
                answer = await send_with_retries(
                    self.writer,
                    current.payload,
                    self.gate,
                    self.rng,
                    self.progress.note,
                    abandon=lambda: self.stopping,
                    settle=settler(
                        self.markers, current, self.options.settle_seconds, self.progress.note
                    )
                    if current.events
                    else None,
                )
                if answer is None:
                    self._unmark(mark)  # it never left
                    if current.events:
                        clear_intent(self.store, current)
                    return
                nxt = self._take()
                mark, cells = await self._record(current, answer, mark, cells, nxt)
                batch = nxt
                continue
            except EventsInDoubt as e:
                self.result.events_in_doubt += len(current.events)
                self.progress.note(
                    f"{e}: {len(current.events)} events left in doubt (settled by a later apply)"
                )
            except ReconcilerError as e:
                if not isinstance(e, BrazeUnavailableError):
                    self._unmark(mark)  # refused outright: nothing landed
                    if current.events:
                        clear_intent(self.store, current)
                if self.error is None:
                    self.error = e
                    self.progress.note(f"stopping: {e.message}")
            except Exception as e:  # noqa: BLE001 - a bug: stop the others, re-raise once drained
                self.bug = self.bug or e
            # the batch stays in doubt (its mark is kept); carry on with a fresh one
            batch = self._take()
            mark, cells = await self._mark(batch)

    def _take(self) -> Batch | None:
        if self.stopping:
            return None
        batch = next(self.batches, None)
        if batch is None:
            self.exhausted = True
        return batch

    async def _mark(self, batch: Batch | None) -> tuple[int | None, CellColumns | None]:
        """Mark a batch's cells in doubt and record its event intent, durably, in one commit
        before it leaves; returns the mark (None: events only) and the batch's cells."""
        cells, doubt, intent_ = _before_sending(batch)
        _, future = self.committer.submit(None, doubt, intent_)
        return (await future if future is not None else None), cells

    def _unmark(self, mark: int | None) -> None:
        if mark is not None:
            self.store.clear_doubt(mark)

    async def _record(
        self,
        batch: Batch,
        answer: TrackResult,
        mark: int | None,
        sent: CellColumns | None,
        nxt: Batch | None,
    ) -> tuple[int | None, CellColumns | None]:
        """Commit the ledger cells of every object the answer does not name (`sent`: the
        batch's cells, when it names none), together with the next batch's doubt mark and
        intent (group commit); returns that mark and the next batch's cells."""
        rejected = answer.rejected("attributes")
        everything = rejected.get(-1)  # an error without an index: nothing is confirmed
        accepted = []
        points = n_rejected = 0
        for i, delta in enumerate(batch.deltas):
            reason = everything if everything is not None else rejected.get(i)
            if reason is not None:
                n_rejected += 1
                self._reject(delta.user_id, delta.id_kind, reason, batch.no)
                continue
            accepted.append(delta)
            points += delta.data_points
        cells = sent if sent is not None and not n_rejected else delta_columns(accepted)
        events = event_outcome(batch, answer)
        for event, reason in events.rejected:
            self._reject_event(event.user_id, event.id_kind, f"{event.name}: {reason}", batch.no)
        points += len(events.acknowledged) + (1 if batch.events else 0)  # events, marker
        summary = {
            "objects": len(batch.deltas),
            "rejected": n_rejected,
            "data_points": points,
            "status": answer.status,
        }
        if batch.events:
            summary |= {"events": len(batch.events), "events_rejected": len(events.rejected)}
        ack = BatchAck(
            batch.no,
            (),
            (),
            tuple(events.acknowledged),
            summary,
            mark,
            cells,
            drop_resource=intent_address(batch) if batch.events else None,
        )
        # the ack (which clears the batch's intent) and the next batch's mark and intent: one
        # commit
        next_cells, doubt, intent_ = _before_sending(nxt)
        ack_f, mark_f = self.committer.submit(ack, doubt, intent_)
        assert ack_f is not None
        serial = await ack_f
        r = self.result
        r.events_sent += len(events.acknowledged)
        r.serial = max(serial, r.serial or 0)
        r.requests += 1
        r.objects_sent += len(batch.deltas)
        r.acknowledged += len(batch.deltas) - n_rejected
        r.data_points += points
        r.ledger_writes += cells.writes
        r.ledger_unsets += cells.unsets
        self.progress.advance(len(batch.deltas), n_rejected)
        return (await mark_f if mark_f is not None else None), next_cells

    def _reject_event(self, user_id: str, id_kind: str, reason: str, batch_no: int) -> None:
        r = self.result
        r.events_rejected += 1
        if len(r.event_rejections) < self.options.max_listed_rejections:
            r.event_rejections.append(
                Rejection(mask_identifier(user_id), id_kind, reason, batch_no)
            )

    def _reject(self, user_id: str, id_kind: str, reason: str, batch_no: int) -> None:
        r = self.result
        r.rejected += 1
        r.rejection_reasons[reason] += 1
        if len(r.rejections) < self.options.max_listed_rejections:
            r.rejections.append(Rejection(mask_identifier(user_id), id_kind, reason, batch_no))

    @contextlib.contextmanager
    def _sigint_handler(self) -> Iterator[None]:
        """Own Ctrl-C while sending: the first one drains, the second one abandons."""
        in_main = threading.current_thread() is threading.main_thread()
        if not self.options.handle_sigint or not in_main:
            yield
            return
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self.interrupt)
        except (NotImplementedError, RuntimeError, ValueError):
            yield
            return
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    def interrupt(self) -> None:
        """Stop taking batches (first call); cancel the in-flight ones (second call)."""
        if not self.interrupted:
            self.interrupted = True
            self.progress.note(
                "interrupted: finishing the requests in flight (Ctrl-C again to abandon them)"
            )
            return
        for worker in self.workers:
            worker.cancel()


def _before_sending(
    batch: Batch | None,
) -> tuple[CellColumns | None, CellColumns | None, ResourcePut | None]:
    """A batch's cells (built once: its ack writes them when Braze accepts every object), and
    what must be durable before it leaves: its doubt mark (None without attribute cells) and
    its event intent (None without events)."""
    if batch is None:
        return None, None, None
    cells = delta_columns(batch.deltas)
    return cells, marked(cells) if cells else None, intent(batch) if batch.events else None
