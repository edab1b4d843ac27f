"""Coerce raw cells to Braze wire values under an AttributeSchema type (Amperity's eight+)."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from reconciler.manifests.kinds.attribute_schema import AttributeDef

MAX_STRING = 255  # Braze custom attribute strings (reference §1.5)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CoerceError(ValueError):
    """A cell that cannot become a value of its declared type; the message is the reason."""


def coerce(raw: Any, attr: AttributeDef) -> Any:
    """The wire value for one cell, or None for an empty cell (no value: the attribute unsets)."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    value = _BY_TYPE[attr.type](raw, attr)
    if attr.enum is not None and value not in attr.enum:
        allowed = ", ".join(str(v) for v in attr.enum)
        raise CoerceError(f"{_show(raw)} is not one of {allowed}")
    return value


def _show(raw: Any) -> str:
    text = str(raw)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def reason(error: CoerceError, raw: Any, attr: AttributeDef) -> str:
    """The error's message, with a `pii: true` attribute's value left out: `validate` posts its
    errors in pull requests, where a personal value must not appear."""
    message = str(error)
    return message.replace(_show(raw), "the value (pii, not shown)") if attr.pii else message


def _boolean(raw: Any, _: AttributeDef) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CoerceError(f"{_show(raw)} is not a boolean (true/false, 1/0, yes/no)")


def _integer(raw: Any, _: AttributeDef) -> int:
    if isinstance(raw, bool):
        raise CoerceError(f"{_show(raw)} is a boolean, not an integer")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise CoerceError(f"{_show(raw)} is not an integer")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise CoerceError(f"{_show(raw)} does not fit Braze's 64-bit integers")
    return value


def _float(raw: Any, _: AttributeDef) -> float:
    if isinstance(raw, bool):
        raise CoerceError(f"{_show(raw)} is a boolean, not a number")
    try:
        value = float(str(raw).strip())
    except ValueError as e:
        raise CoerceError(f"{_show(raw)} is not a number") from e
    if value != value or value in (float("inf"), float("-inf")):
        raise CoerceError(f"{_show(raw)} is not a finite number")
    return value


def _decimal(raw: Any, _: AttributeDef) -> float | int:
    """Exact decimals: refused when Braze's ~15-digit numbers would not hold them exactly."""
    if isinstance(raw, bool):
        raise CoerceError(f"{_show(raw)} is a boolean, not a decimal")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as e:
        raise CoerceError(f"{_show(raw)} is not a decimal") from e
    if not value.is_finite():
        raise CoerceError(f"{_show(raw)} is not a finite decimal")
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) != value.normalize():
        raise CoerceError(f"{_show(raw)} has more precision than Braze numbers keep (15 digits)")
    return as_float


def _date(raw: Any, _: AttributeDef) -> str:
    if isinstance(raw, dt.datetime):
        raw = raw.date()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    text = str(raw).strip()
    if not _DATE.match(text):
        raise CoerceError(f"{_show(raw)} is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError as e:
        raise CoerceError(f"{_show(raw)} is not a valid date: {e}") from e


def _datetime(raw: Any, _: AttributeDef) -> str:
    """ISO 8601, normalised to UTC with a Z; a value without a zone is taken as UTC (as Braze)."""
    if isinstance(raw, dt.datetime):
        value = raw
    else:
        text = str(raw).strip()
        if _DATE.match(text):
            text += "T00:00:00"
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as e:
            raise CoerceError(f"{_show(raw)} is not an ISO 8601 datetime") from e
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    if not 0 <= value.year <= 3000:
        raise CoerceError(f"{_show(raw)} is outside the years Braze stores as time (0-3000)")
    spec = "milliseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _string(raw: Any, attr: AttributeDef) -> str:
    if isinstance(raw, dict | list):
        raise CoerceError(f"a {type(raw).__name__} is not a string")
    text = raw if isinstance(raw, str) else json.dumps(raw)
    limit = attr.max_length if attr.max_length is not None else MAX_STRING
    if len(text) > min(limit, MAX_STRING):
        raise CoerceError(
            f"string of {len(text)} characters is longer than {min(limit, MAX_STRING)}"
        )
    return text


def _json_cell(raw: Any, error: str) -> Any:
    """A CSV cell holds arrays and objects as JSON text; JSONL and Parquet hold them as values."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise CoerceError(error) from e


def _array(raw: Any, attr: AttributeDef) -> list[str]:
    items = _json_cell(raw, "an array cell must be a JSON array of strings")
    if not isinstance(items, list):
        raise CoerceError("not an array")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise CoerceError("array items must be strings or numbers")
        text = str(item)
        if len(text) > MAX_STRING:
            raise CoerceError(f"an array item is longer than {MAX_STRING} characters")
        if text not in out:
            out.append(text)  # Braze arrays hold unique values, in order
    if attr.max_length is not None and len(out) > attr.max_length:
        raise CoerceError(
            f"array of {len(out)} values exceeds max_length {attr.max_length} "
            "(Braze would silently drop the oldest)"
        )
    return out


def _object(raw: Any, _: AttributeDef) -> dict[str, Any]:
    value = _json_cell(raw, "an object cell must be a JSON object")
    if not isinstance(value, dict):
        raise CoerceError("not an object")
    return value


_BY_TYPE = {
    "boolean": _boolean,
    "integer": _integer,
    "float": _float,
    "decimal": _decimal,
    "date": _date,
    "datetime": _datetime,
    "string": _string,
    "varchar": _string,
    "array": _array,
    "object": _object,
}
