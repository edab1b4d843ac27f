"""The stored form of a ledger value: canonical JSON, or a keyed hash for `pii: true` attributes.

The diff compares `stored_value(desired)` with the ledger's text, so the same function must be
used on both sides. A stored value is either canonical JSON text (which can never start with
`h`, since JSON values start with `{ [ " - t f n` or a digit) or `"h:" + hex(HMAC-SHA256)`, so
the two forms cannot collide.

Numbers are normalised so that `2`, `2.0` and `Decimal("2.00")` compare equal: Braze stores
every number as a double, so a non-integral Decimal is canonicalised as the double Braze keeps.
Dates and datetimes are ISO 8601 strings, which is how they are sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

HASH_PREFIX = "h:"


def _normalise(v: Any) -> Any:
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float | Decimal):
        if not math.isfinite(v):
            raise ValueError(f"not a finite number: {v!r}")
        if v == int(v):
            return int(v)
        return float(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Mapping):
        return {str(k): _normalise(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_normalise(x) for x in v]
    raise TypeError(f"cannot store a value of type {type(v).__name__}")


def canonical_value(v: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, UTF-8, normalised numbers and dates.

    Not ASCII-escaped, so that DuckDB's `to_json` produces the same text (the planner types
    sources in SQL; tests/plan/test_fastpath.py holds the two to the same bytes).
    """
    return json.dumps(
        _normalise(v), sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False
    )


def keyed_hash(key: bytes, v: Any) -> str:
    """`h:` + HMAC-SHA256(key, canonical JSON of v): detects change without storing the value."""
    return keyed_hash_text(key, canonical_value(v))


def keyed_hash_text(key: bytes, canonical: str) -> str:
    """`keyed_hash` of a value given as its canonical text (the planner works on text)."""
    return HASH_PREFIX + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def stored_value(v: Any, *, pii: bool, key: bytes) -> str:
    """The one function both the diff and the apply use to turn a typed value into ledger text."""
    return keyed_hash(key, v) if pii else canonical_value(v)


def is_hashed(stored: str) -> bool:
    return stored.startswith(HASH_PREFIX)


def spec_hash(spec: Mapping[str, Any]) -> str:
    """SHA-256 of a resource spec's canonical JSON (resources are not secret, so no key)."""
    return hashlib.sha256(canonical_value(spec).encode()).hexdigest()


def key_fingerprint(key: bytes) -> str:
    """A short public name for a hash key, so a changed key can be reported without showing it."""
    return hmac.new(key, b"reconciler hash key fingerprint", hashlib.sha256).hexdigest()[:16]
