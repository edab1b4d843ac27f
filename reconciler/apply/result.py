"""What an apply did: counts, masked rejections, the final status and the exit it maps to."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from reconciler.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ApplyInterruptedError,
    PartialApplyError,
    ReconcilerError,
)
from reconciler.plan.model import GuardResult

FinalStatus = Literal["applied", "partial", "failed", "interrupted"]


@dataclass(frozen=True)
class Rejection:
    """One object Braze skipped inside a 201; `user` is masked (`ext…a91f`)."""

    user: str
    id_kind: str
    reason: str
    batch_no: int


@dataclass
class ApplyResult:
    """Counts of one apply. `requests` and `objects_sent` count acknowledged (2xx) requests;
    `attempts` counts every HTTP request, retries and 429s included."""

    plan_id: str
    apply_id: str = ""
    status: FinalStatus = "applied"
    requests: int = 0
    objects_sent: int = 0
    acknowledged: int = 0  # objects recorded in the ledger
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # the first few, for display
    rejection_reasons: Counter[str] = field(default_factory=Counter)
    data_points: int = 0  # of acknowledged objects
    ledger_writes: int = 0
    ledger_unsets: int = 0
    commits: int = 0  # state transactions of the batches (group commit: marks and acks)
    compacted: int = 0  # log cells folded into a new ledger snapshot after the apply
    attempts: int = 0
    retries: int = 0
    rate_limited: int = 0
    paced_waits: int = 0
    serial: int | None = None
    elapsed_seconds: float = 0.0
    tripped_guards: tuple[GuardResult, ...] = ()
    error: ReconcilerError | None = None
    resource_lines: list[str] = field(default_factory=list)  # content blocks created/updated
    events_sent: int = 0  # events acknowledged and recorded
    events_rejected: int = 0  # named in a 201's errors: left pending, planned again
    event_rejections: list[Rejection] = field(default_factory=list)
    events_in_doubt: int = 0  # answer lost, not yet readable in Braze: settled by a later apply
    events_recovered: int = 0  # an earlier apply's lost answers, found landed and recorded
    events_held: int = 0  # an earlier apply's lost answers, too recent to settle
    events_pruned: int = 0  # ledger ids older than the retention horizon, forgotten
    event_lines: list[str] = field(default_factory=list)  # what settling earlier applies did

    @property
    def objects_per_second(self) -> float:
        return self.objects_sent / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.status == "applied":
            return EXIT_OK
        if self.status == "interrupted":
            return EXIT_INTERRUPTED
        return self.error.exit_code if self.error else EXIT_ERROR

    def summary_lines(self, max_rejections: int = 10) -> list[str]:
        """A PII-safe account for stderr: content blocks, counts, then the first rejections
        (masked ids)."""
        events = f" and {self.events_sent:,} events" if self.events_sent else ""
        lines = list(self.resource_lines) + list(self.event_lines)
        lines.append(
            f"{self.status}: {self.acknowledged:,} users{events} applied in {self.requests:,}"
            f" request{'' if self.requests == 1 else 's'}"
            f" ({self.data_points:,} data points, {self.elapsed_seconds:.1f} s,"
            f" {self.objects_per_second:,.0f} users/s)"
        )
        lines += self._event_lines(max_rejections)
        if self.retries or self.rate_limited:
            lines.append(f"  {self.retries:,} retries, {self.rate_limited:,} rate-limited (429)")
        for guard in self.tripped_guards:
            lines.append(f"  guard {guard.name} tripped, applied with --allow-large")
        if self.rejected:
            lines.append(f"  {self.rejected:,} users rejected by Braze, not recorded:")
            for r in sorted(self.rejections, key=lambda r: r.batch_no)[:max_rejections]:
                lines.append(f"    {r.id_kind} {r.user}: {r.reason}")
            if self.rejected > max_rejections:
                lines.append(f"    … and {self.rejected - max_rejections:,} more")
        return lines

    def _event_lines(self, max_rejections: int) -> list[str]:
        lines = []
        if self.events_rejected:
            lines.append(f"  {self.events_rejected:,} events rejected by Braze, left pending:")
            for r in sorted(self.event_rejections, key=lambda r: r.batch_no)[:max_rejections]:
                lines.append(f"    {r.id_kind} {r.user}: {r.reason}")
            if self.events_rejected > max_rejections:
                lines.append(f"    … and {self.events_rejected - max_rejections:,} more")
        if self.events_in_doubt:
            lines.append(
                f"  {self.events_in_doubt:,} events in doubt (an answer was lost): the next"
                " apply reads Braze and sends only those that did not land"
            )
        if self.events_pruned:
            lines.append(f"  {self.events_pruned:,} event ids past the retention horizon pruned")
        return lines

    def _pending_events(self) -> str:
        parts = [
            f"{n:,} events {what}"
            for n, what in (
                (self.events_rejected, "rejected by Braze"),
                (self.events_in_doubt, "in doubt after a lost answer"),
                (self.events_held, "held back until Braze can tell whether they landed"),
            )
            if n
        ]
        return "; ".join(parts)

    def raise_for_status(self) -> None:
        """Nothing when everything was applied; else the error the CLI reports (exit 1 or 130)."""
        if self.status == "applied":
            return
        done = f"{self.acknowledged:,} users were applied and recorded"
        if self.status == "interrupted":
            raise ApplyInterruptedError(
                f"apply interrupted: {done}; nothing more was sent",
                hint="apply again: only what Braze has not acknowledged is resent",
            )
        if self.status == "failed" and self.error is not None:
            if not self.error.hint:
                self.error.hint = f"{done}; plan again to resend only the rest"
            raise self.error
        if not self.rejected:
            raise PartialApplyError(
                f"not every event was delivered: {self._pending_events()}; {done}",
                hint="apply again later: pending events are sent once, never twice",
            )
        reasons = ", ".join(f"{reason} ({n:,})" for reason, n in self.rejection_reasons.items())
        events = self._pending_events()
        raise PartialApplyError(
            f"Braze rejected {self.rejected:,} of {self.objects_sent:,} users, which were not"
            f" recorded: {reasons}; {done}" + (f"; {events}" if events else ""),
            hint="fix the rejected rows; the next plan sends them again",
        )
