"""A seeded uniform sample of ledger users, in one streaming pass over the ledger.

Each user key gets a pseudo-random rank, HMAC(seed, id_kind/user_id); the users with the k
smallest ranks are a uniform sample without replacement (a bottom-k sketch). The same seed
gives the same sample on any machine, the pass holds k keys, not the ledger, and the ranks are
independent of the order the ledger streams in.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

UserKey = tuple[str, str]  # (id_kind, user_id)
_SEP = "\x1f"


@dataclass(frozen=True)
class LedgerSample:
    """Sampled users in rank order (a prefix of it is a smaller uniform sample)."""

    users: tuple[UserKey, ...]
    population: int  # distinct users in the ledger


def rank(seed: int, user: UserKey) -> int:
    """The user's place in the seed's random order (64 bits of a keyed BLAKE2b)."""
    digest = hashlib.blake2b(
        f"{user[0]}{_SEP}{user[1]}".encode(), digest_size=8, key=str(seed).encode()
    ).digest()
    return int.from_bytes(digest, "big")


def sample_users(batches: Iterable[pa.RecordBatch], k: int, seed: int) -> LedgerSample:
    """The k lowest-ranked distinct users of ledger Arrow batches (id_kind, user_id, …)."""
    heap: list[tuple[int, UserKey]] = []  # max-heap by rank, as (-rank, user)
    population = 0
    last: UserKey | None = None  # a user's rows are consecutive and may straddle batches
    for batch in batches:
        for user in _distinct_users(batch):
            if user == last:
                continue
            last = user
            population += 1
            if k <= 0:
                continue
            r = rank(seed, user)
            if len(heap) < k:
                heapq.heappush(heap, (-r, user))
            elif r < -heap[0][0]:
                heapq.heapreplace(heap, (-r, user))
    ordered = sorted((-neg, user) for neg, user in heap)
    return LedgerSample(tuple(user for _, user in ordered), population)


def _distinct_users(batch: pa.RecordBatch) -> list[UserKey]:
    """The batch's users in stream order, each once (rows arrive grouped by user)."""
    kinds = batch.column("id_kind")
    if isinstance(kinds, pa.DictionaryArray):
        kinds = kinds.dictionary_decode()
    users = batch.column("user_id")
    keys = pc.binary_join_element_wise(kinds, users, _SEP)
    if len(keys) == 0:
        return []
    # Vectorised: only the first row of each run of equal keys reaches Python.
    starts = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
    firsts = pc.add(pc.indices_nonzero(starts), 1).cast(pa.int64())
    taken = pc.take(keys, pa.concat_arrays([pa.array([0], pa.int64()), firsts]))
    return [_user_key(key) for key in taken.to_pylist()]


def _user_key(joined: str) -> UserKey:
    kind, _, user_id = joined.partition(_SEP)
    return kind, user_id
