"""State stores: lineage, serial, lock, the per-user ledger and the apply journal.

`open_state(url)` is the one entry point; planning code types what it gets as StateReader.

The `pii` hash key is `RECONCILER_HASH_KEY` when set, else a random secret created with the
state and stored in it. Trade-off: whoever holds a state file that stores its own key can
brute-force low-entropy PII (birth dates, phone numbers) from the hashes, so teams should set
RECONCILER_HASH_KEY from a secret store. Changing the key makes every pii value look changed
once (`StateReader.hash_key().changed` tells the planner so).
"""

from __future__ import annotations

import os

from reconciler.errors import StateError
from reconciler.state.base import (
    DEFAULT_ID_KIND,
    ID_KINDS,
    ApplyRecord,
    ApplyStatus,
    HashKey,
    HeldLock,
    JournalEntry,
    LedgerRow,
    LedgerUnset,
    LedgerWrite,
    LockInfo,
    LockRequest,
    ResourceRecord,
    StateMeta,
    StateReader,
    StateStore,
    UserLedger,
)
from reconciler.state.url import default_state_url, parse_sqlite_url, redact_url, scheme_of
from reconciler.state.values import canonical_value, keyed_hash, spec_hash, stored_value

HASH_KEY_ENV = "RECONCILER_HASH_KEY"

__all__ = [
    "DEFAULT_ID_KIND",
    "HASH_KEY_ENV",
    "ID_KINDS",
    "ApplyRecord",
    "ApplyStatus",
    "HashKey",
    "HeldLock",
    "JournalEntry",
    "LedgerRow",
    "LedgerUnset",
    "LedgerWrite",
    "LockInfo",
    "LockRequest",
    "ResourceRecord",
    "StateMeta",
    "StateReader",
    "StateStore",
    "UserLedger",
    "canonical_value",
    "default_state_url",
    "keyed_hash",
    "open_state",
    "redact_url",
    "spec_hash",
    "stored_value",
]


def open_state(url: str, *, create: bool = True) -> StateStore:
    """Open (and migrate, or with create=True make) the state a URL names."""
    scheme = scheme_of(url)
    env_key = os.environ.get(HASH_KEY_ENV)
    hash_key = env_key.encode() if env_key else None
    if scheme == "sqlite":
        from reconciler.state.sqlite import SqliteState

        parsed = parse_sqlite_url(url)
        return SqliteState(
            parsed.path,
            create=create,
            synchronous=parsed.options.get("synchronous", "full"),
            hash_key=hash_key,
            url=url,
        )
    if scheme in {"postgresql", "postgres"}:
        from reconciler.state.postgres import PostgresState

        return PostgresState(url, create=create, hash_key=hash_key)
    raise StateError(
        f"unknown state URL scheme {scheme!r} in {redact_url(url)}",
        hint="use sqlite:///relative/path.db, sqlite:////absolute/path.db or"
        " postgresql://user@host/db?schema=reconciler",
    )
