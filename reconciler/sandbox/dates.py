"""Recognise the date formats Braze auto-detects (reference §1.5) and print them one way."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# ISO-8601 as clients write it. Fractions of 1 to 9 digits: .NET's round-trip "o" format has
# 7, Go's RFC3339Nano and Java's Instant up to 9; past microseconds they are truncated (and the
# sandbox stores milliseconds). Offsets `±HH:MM`, `±HHMM` and, after a time, `±HH`.
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.:](\d{1,9}))?)?)?"
    r"\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$"
)
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_CTIME = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2})"
    r"(?:\.(\d{1,6}))? ?(Z|UTC|GMT|[+-]\d{4})? (\d{4})$"
)
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
MAX_YEAR = 3000


def parse_date(text: str) -> datetime | None:
    """The UTC instant a date string names, or None when Braze would keep it a string."""
    if not text or not (text[0].isdigit() or text[0] in "MTWFS"):
        return None  # fast path: most strings are not dates
    try:
        m = _ISO.match(text)
        if m:
            y, mo, d, hh, mi, ss, frac, tz = m.groups()
            if hh is None and tz is not None and tz[0] in "+-" and len(tz) == 3:
                return None  # `2024-01-01-05`: an hour-only offset needs a time before it
            return _build(y, mo, d, hh, mi, ss, frac, tz)
        m = _US.match(text)
        if m:
            mo, d, y = m.groups()
            return _build(y, mo, d, None, None, None, None, None)
        m = _CTIME.match(text)
        if m:
            mon, d, hh, mi, ss, frac, tz, y = m.groups()
            if mon not in _MONTHS:
                return None
            return _build(y, str(_MONTHS[mon]), d, hh, mi, ss, frac, tz)
    except ValueError:
        return None
    return None


def _build(
    y: str,
    mo: str,
    d: str,
    hh: str | None,
    mi: str | None,
    ss: str | None,
    frac: str | None,
    tz: str | None,
) -> datetime | None:
    year = int(y)
    if year < 1 or year > MAX_YEAR:
        return None
    micros = int((frac or "0").ljust(6, "0")[:6])
    when = datetime(year, int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), micros)
    return when.replace(tzinfo=_zone(tz)).astimezone(UTC)


def _zone(tz: str | None) -> timezone:
    if tz is None or tz in ("Z", "UTC", "GMT"):
        return UTC  # no zone given: midnight / wall time in UTC (reference §1.5)
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0)))


def format_time(when: datetime) -> str:
    """The one spelling the sandbox exports: `2021-12-01T00:00:00.000Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def format_created_at(when: datetime) -> str:
    """`created_at` as the export sample shows it: `2020-07-10 15:00:00.000 UTC`."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d} UTC"


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
