"""Durations on the command line: `300`, `90s`, `5m`, `1h30m`, `0` (seconds when unitless)."""

from __future__ import annotations

import re

from reconciler.errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, option: str = "--window") -> float:
    """Seconds for `text`; a UsageError naming `option` when it is not a duration."""
    raw = text.strip().lower()
    try:
        return _seconds(raw)
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is not a duration",
            hint="use seconds (300) or units: 90s, 5m, 1h30m, 0 to check every user",
        ) from None


def _seconds(raw: str) -> float:
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return float(raw)
    pos, total = 0, 0.0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            raise ValueError(raw)
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if pos != len(raw) or not raw:
        raise ValueError(raw)
    return total


def format_duration(seconds: float) -> str:
    """`5m`, `90s`, `1h30m`: how reports name a window."""
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")
