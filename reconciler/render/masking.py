"""Mask user identifiers for PII-safe output: `ext…a91f#3c0e` (first 3 + … + last 4 + tag).

The tag is four hex digits of an HMAC of the whole identifier under the plan's `mask_key`
(derived from the state's secret hash key), so two identifiers that mask alike (`cust-0001`
and `cust-0011` are both `c…1`) stay distinct in a review, and a user keeps the same tag from
one plan to the next, while someone who sees only the rendered plan cannot test guesses
against the tag. The key travels in the plan file, which holds the identifiers anyway.
"""

from __future__ import annotations

import hashlib
import hmac

ELLIPSIS = "…"
TAG_HEX = 4


def mask_identifier(identifier: str, key: str = "") -> str:
    """Keep enough of an identifier to find it in your own data, never the whole of it.

    Ten characters or more show the first 3 and last 4 (`ext…a91f`). Shorter ones would be
    nearly whole at that rate, so they keep only their first and last character (`u…7`), and
    three characters or fewer keep nothing. With a `key`, a keyed tag follows (`u…7#9b1e`).
    """
    text = str(identifier)
    if len(text) >= 10:
        masked = f"{text[:3]}{ELLIPSIS}{text[-4:]}"
    elif len(text) >= 4:
        masked = f"{text[0]}{ELLIPSIS}{text[-1]}"
    else:
        masked = ELLIPSIS
    if not key:
        return masked
    tag = hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()[:TAG_HEX]
    return f"{masked}#{tag}"
