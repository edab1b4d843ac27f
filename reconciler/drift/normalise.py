"""Turn a value read back from /users/export/ids into the ledger's stored form, to compare.

The ledger holds what the plan wrote: canonical JSON of the wire value (arrays sorted), or a
keyed hash of it for `pii` attributes. Braze answers with its own spellings: times as
`YYYY-MM-DDTHH:MM:SS.sssZ`, dates as midnight times, numbers as doubles. This module undoes
those spellings, and only those: a JSON type that differs from the declared one (the string
"true" for a boolean, reference §11 gotcha 10) is reported as drift, never coerced away.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from reconciler.drift.catalog import AttributeInfo
from reconciler.state.values import canonical_value, is_hashed, stored_value

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


class TypeDrift(ValueError):
    """Braze holds a value of another JSON type than the attribute's declared type."""


@dataclass(frozen=True)
class ReadBack:
    """One exported value in the ledger's form. `stored` is None when Braze has no value."""

    stored: str | None
    shown: str | None  # canonical JSON of what Braze holds, for reports (pii hidden there)
    type_drift: bool = False


def read_back(raw: Any, info: AttributeInfo, ledger_value: str, key: bytes) -> ReadBack:
    """The comparable form of `raw`, in the ledger value's form: hashed exactly when it is.

    The ledger's form decides, not today's `pii` flag: a value stored before the flag changed
    is still compared (and the plan resends it in the new form anyway).
    """
    if raw is None:
        return ReadBack(None, None)
    hashed = is_hashed(ledger_value)
    try:
        typed = wire_value(raw, info.type)
    except TypeDrift:
        return ReadBack(None, canonical_value(raw), type_drift=True)
    stored = stored_value(typed, pii=hashed, key=key)
    if not hashed and stored != ledger_value and _same_time(ledger_value, typed):
        stored = ledger_value  # a date-looking string Braze turned into a time (§1.5)
    return ReadBack(stored, canonical_value(typed))


def wire_value(raw: Any, declared: str | None) -> Any:
    """The value the plan would have sent for what Braze holds, under the declared type."""
    if declared is None:
        return _sorted_if_array(raw)
    return _BY_TYPE[declared](raw)


def _boolean(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise TypeDrift
    return raw


def _number(raw: Any) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise TypeDrift
    return raw


def _integer(raw: Any) -> int | float:
    value = _number(raw)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # a fraction on an integer attribute: a changed value, compared as such


def _string(raw: Any) -> str:
    if not isinstance(raw, str):
        raise TypeDrift
    return raw


def _date(raw: Any) -> str:
    text = _string(raw)
    if _DATE.match(text):
        return text
    when = _parse_time(text)
    if when is None:
        raise TypeDrift
    if when.time() == dt.time(0, 0):
        return when.date().isoformat()  # Braze keeps a date as midnight UTC
    return _format_time(when)  # a time of day: a changed value


def _datetime(raw: Any) -> str:
    when = _parse_time(_string(raw))
    if when is None:
        raise TypeDrift
    return _format_time(when)


def _array(raw: Any) -> list[str]:
    if not isinstance(raw, list) or any(isinstance(v, dict | list) for v in raw):
        raise TypeDrift
    return sorted(v if isinstance(v, str) else json.dumps(v) for v in raw)


def _object(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise TypeDrift
    return raw


_BY_TYPE = {
    "boolean": _boolean,
    "integer": _integer,
    "float": _number,
    "decimal": _number,
    "date": _date,
    "datetime": _datetime,
    "string": _string,
    "varchar": _string,
    "array": _array,
    "object": _object,
}


def _sorted_if_array(raw: Any) -> Any:
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return sorted(raw)
    return raw


def _parse_time(text: str) -> dt.datetime | None:
    """ISO 8601 (Braze exports `YYYY-MM-DDTHH:MM:SS.sssZ`); no zone means UTC, as in Braze."""
    if _DATE.match(text):
        text += "T00:00:00"
    if not _ISO.match(text):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _format_time(when: dt.datetime) -> str:
    """As sources.coerce writes datetimes: UTC, seconds (milliseconds when present), `Z`."""
    spec = "milliseconds" if when.microsecond else "seconds"
    return when.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _same_time(ledger_value: str, typed: Any) -> bool:
    """True when a string we sent and the time Braze made of it name the same instant."""
    if not isinstance(typed, str):
        return False
    try:
        sent = json.loads(ledger_value)
    except ValueError:
        return False
    if not isinstance(sent, str) or sent == typed:
        return False
    a, b = _parse_time(sent.strip()), _parse_time(typed)
    return a is not None and a == b
