"""Mask user identifiers for PII-safe output: `ext…a91f` (first 3 + … + last 4)."""

from __future__ import annotations

ELLIPSIS = "…"


def mask_identifier(identifier: str) -> str:
    """Keep enough of an identifier to find it in your own data, never the whole of it.

    Ten characters or more show the first 3 and last 4 (`ext…a91f`). Shorter ones would be
    nearly whole at that rate, so they keep only their first and last character (`u…7`), and
    three characters or fewer keep nothing.
    """
    text = str(identifier)
    if len(text) >= 10:
        return f"{text[:3]}{ELLIPSIS}{text[-4:]}"
    if len(text) >= 4:
        return f"{text[0]}{ELLIPSIS}{text[-1]}"
    return ELLIPSIS
