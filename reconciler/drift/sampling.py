"""A seeded uniform sample of ledger users, in one streaming pass over the ledger's users.

Each user key gets a pseudo-random rank, HMAC(seed, id_kind/user_id); the users with the k
smallest ranks are a uniform sample without replacement (a bottom-k sketch). The same seed
gives the same sample on any machine, the pass holds k keys, not the ledger, and the ranks are
independent of the order the ledger streams in.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


def sample_users(batches: Iterable[Sequence[UserKey]], k: int, seed: int) -> LedgerSample:
    """The k lowest-ranked users of a stream of distinct users (StateReader.ledger_users)."""
    heap: list[tuple[int, UserKey]] = []  # max-heap by rank, as (-rank, user)
    population = 0
    for batch in batches:
        population += len(batch)
        if k <= 0:
            continue
        for user in batch:
            r = rank(seed, user)
            if len(heap) < k:
                heapq.heappush(heap, (-r, user))
            elif r < -heap[0][0]:
                heapq.heapreplace(heap, (-r, user))
    ordered = sorted((-neg, user) for neg, user in heap)
    return LedgerSample(tuple(user for _, user in ordered), population)
