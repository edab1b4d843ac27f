"""`apply --verify N`: read back N just-written users and report silent drops.

A 201 from /users/track only means "queued": Braze can still drop a value later (a forced type
it cannot coerce, a blocklisted attribute, an over-long string; reference §11 gotcha 1). After
an apply, a seeded sample of the users it acknowledged is read back. Writes land
asynchronously, so a mismatch is read again with growing pauses until the consistency window
has passed; only what is still wrong then is reported as dropped.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.apply.pacing import Clock, Sleep
from reconciler.drift.catalog import AttributeInfo
from reconciler.drift.pacing import ExportPacer
from reconciler.drift.protocol import WorkspaceReads
from reconciler.drift.report import ValueDrift
from reconciler.drift.sampling import UserKey, rank
from reconciler.drift.users import exported_value, info_for, read_profiles, value_difference
from reconciler.plan.model import UserDelta
from reconciler.state.base import StateReader, UserLedger
from reconciler.state.values import canonical_value

FIRST_PAUSE_SECONDS = 2.0


@dataclass(frozen=True)
class VerifyReport:
    requested: int
    verified: int  # acknowledged users read back
    dropped_users: int
    dropped: tuple[ValueDrift, ...]
    window_seconds: float
    waited_seconds: float
    reads: int  # read-back rounds
    export_requests: int

    @property
    def ok(self) -> bool:
        return self.dropped_users == 0


def sample_deltas(deltas: Iterable[UserDelta], n: int, seed: int) -> list[UserDelta]:
    """n deltas drawn uniformly (bottom-n of the seeded rank), in rank order."""
    heap: list[tuple[int, UserKey, UserDelta]] = []
    for delta in deltas:
        key = (delta.id_kind, delta.user_id)
        r = rank(seed, key)
        if len(heap) < n:
            heapq.heappush(heap, (-r, key, delta))
        elif heap and r < -heap[0][0]:
            heapq.heapreplace(heap, (-r, key, delta))
    return [d for _, _, d in sorted(heap, key=lambda item: -item[0])]


def acknowledged(delta: UserDelta, ledger: UserLedger | None) -> bool:
    """True when the ledger holds this delta's writes and unsets (Braze answered 2xx for it)."""
    values = ledger.values if ledger is not None else {}
    return all(values.get(a) == v for a, v in delta.writes) and not any(
        a in values for a in delta.unsets
    )


async def verify_apply(
    deltas: Iterable[UserDelta],
    state: StateReader,
    reads: WorkspaceReads,
    catalog: Mapping[str, AttributeInfo],
    *,
    n: int,
    seed: int,
    window_seconds: float,
    pacer: ExportPacer,
    clock: Clock,
    sleep: Sleep,
    first_pause: float = FIRST_PAUSE_SECONDS,
) -> VerifyReport:
    """Read back up to n acknowledged users until each matches or `window_seconds` passed."""
    drawn = sample_deltas(deltas, n, seed)
    ledgers = state.ledger_for_users([(d.id_kind, d.user_id) for d in drawn])
    users = [d for d in drawn if acknowledged(d, ledgers.get((d.id_kind, d.user_id)))]
    users = [d for d in users if d.id_kind in ("external_id", "braze_id")]
    key = state.hash_key().key
    started = clock()
    deadline = started + window_seconds
    pause = min(first_pause, window_seconds)
    pending, problems, rounds = users, {}, 0
    while pending:
        if pause > 0:
            await sleep(pause)
        rounds += 1
        problems = await _check(pending, reads, pacer, catalog, key)
        pending = [d for d in pending if (d.id_kind, d.user_id) in problems]
        remaining = deadline - clock()
        if remaining <= 0:
            break
        pause = min(pause * 2 or first_pause, remaining)
    dropped = [v for d in pending for v in problems[(d.id_kind, d.user_id)]]
    return VerifyReport(
        requested=n,
        verified=len(users),
        dropped_users=len(pending),
        dropped=tuple(dropped),
        window_seconds=window_seconds,
        waited_seconds=max(0.0, clock() - started),
        reads=rounds,
        export_requests=pacer.requests,
    )


async def _check(
    deltas: list[UserDelta],
    reads: WorkspaceReads,
    pacer: ExportPacer,
    catalog: Mapping[str, AttributeInfo],
    key: bytes,
) -> dict[UserKey, list[ValueDrift]]:
    """Read these users back once; their writes and unsets that Braze does not show."""
    as_ledgers = [
        UserLedger(d.id_kind, d.user_id, _cells(d.writes) | dict.fromkeys(d.unsets, ""), 0)
        for d in deltas
    ]
    profiles = await read_profiles(reads, pacer, as_ledgers, catalog)
    out: dict[UserKey, list[ValueDrift]] = {}
    for d, ledger in zip(deltas, as_ledgers, strict=True):
        profile = profiles.get((d.id_kind, d.user_id))
        found: list[ValueDrift] = []
        for attribute, stored in d.writes:
            info = info_for(catalog, attribute)
            if info.export_field is None:
                continue
            diff = value_difference(ledger, profile, info, stored, key)
            if diff is not None:
                found.append(diff)
        for attribute in d.unsets:
            info = info_for(catalog, attribute)
            raw = exported_value(profile, info) if profile is not None else None
            if info.export_field is not None and raw is not None:
                found.append(
                    ValueDrift(
                        d.user_id,
                        d.id_kind,
                        attribute,
                        "not_removed",
                        None,
                        canonical_value(raw),
                        info.pii,
                    )
                )
        if found:
            out[(d.id_kind, d.user_id)] = found
    return out


def _cells(writes: Sequence[Sequence[str]]) -> dict[str, str]:
    return {attribute: stored for attribute, stored in writes}
