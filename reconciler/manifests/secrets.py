"""Spot literal secrets in manifests (keys, tokens) without ever echoing them."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from reconciler.manifests.yamlsource import PathKey

_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_PREFIXED = re.compile(
    r"\b(sk_(live|test)_[A-Za-z0-9]{8,}|xox[abposr]-[A-Za-z0-9-]{10,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|AKIA[0-9A-Z]{16}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*)"
)
_BEARER_LITERAL = re.compile(r"(?i)\b(bearer|basic|token)\s+([A-Za-z0-9._~+/=-]{16,})")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_+/=-]{32,}")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://")
_LIQUID = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def _entropy(s: str) -> float:
    counts = {c: s.count(c) for c in set(s)}
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


def looks_like_secret(text: str) -> bool:
    """True when a string holds what looks like a key or token literal.

    Braze REST keys are UUID-shaped; tokens come after `Bearer`; long high-entropy runs of
    letters and digits are treated as tokens. Liquid expressions are ignored.
    """
    plain = _LIQUID.sub(" ", text)
    if _UUID.search(plain) or _PREFIXED.search(plain) or _BEARER_LITERAL.search(plain):
        return True
    # a URL's path segments (s3://exports-2f9c/amperity/…) are names, not one long token
    pieces = plain.split("/") if _URL.match(plain) else [plain]
    for run in (r for piece in pieces for r in _LONG_TOKEN.findall(piece)):
        has_mix = any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
        if has_mix and _entropy(run) > 3.5:
            return True
    return False


def find_secrets(data: Any, path: PathKey = ()) -> Iterator[PathKey]:
    """Paths of every string scalar (or mapping key) that looks like a secret."""
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(k, str) and looks_like_secret(k):
                yield (*path, k)
            yield from find_secrets(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from find_secrets(v, (*path, i))
    elif isinstance(data, str) and looks_like_secret(data):
        yield path
