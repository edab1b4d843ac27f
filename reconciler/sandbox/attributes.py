"""Custom attribute writes: type detection, arrays, `inc`, null, nested objects (§1.5)."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.dates import format_time, parse_date
from reconciler.sandbox.nested import (
    InvalidNested,
    apply_object_array_ops,
    check_size,
    clean_object,
    deep_merge,
)
from reconciler.sandbox.rules import MAX_STRING, SKIP, is_number

ARRAY_OPS = frozenset({"add", "remove"})
OBJECT_ARRAY_OPS = frozenset({"$add", "$remove", "$update"})
AUTO = " (Automatically Detected)"
_TRUE = frozenset({"1", "true", "t"})
_FALSE = frozenset({"0", "false", "f"})


def op_kind(value: dict[str, Any]) -> str:
    """How a JSON object value is read: array op, increment, object-array op or nested object."""
    keys = value.keys()
    if keys and keys <= ARRAY_OPS:
        return "array_op"
    if keys == {"inc"}:
        return "inc"
    if keys and keys <= OBJECT_ARRAY_OPS:
        return "object_array_op"
    return "object"


class AttributeWriter:
    """Applies one custom attribute key of an accepted object to a profile and the schema."""

    def __init__(self, schema: dict[str, dict[str, Any]], default_array_length: int) -> None:
        self.schema = schema
        self.default_array_length = default_array_length
        self.schema_changed = False

    def blocklisted(self, name: str) -> bool:
        defn = self.schema.get(name)
        return defn is not None and defn["status"] == "Blocklisted"

    def write_scalar(
        self, custom: dict[str, Any], name: str, value: Any, defn: dict[str, Any] | None
    ) -> None:
        """A string, number or boolean on an attribute whose type is not forced."""
        cls = value.__class__
        if cls is str:
            if len(value) > MAX_STRING:
                return  # the REST API drops over-long strings (UNCONFIRMED)
            when = parse_date(value)
            kind = "Date" if when else "String"
            if when:
                value = format_time(when)
        else:
            kind = "Boolean" if cls is bool else "Number"
        if defn is None:
            self.register(name, kind)
        custom[name] = value

    def register(self, name: str, kind: str) -> None:
        self.schema[name] = {
            "data_type": kind + AUTO,
            "array_length": None,
            "description": None,
            "status": "Active",
            "tag_names": [],
            "forced": False,
        }
        self.schema_changed = True

    def write(self, custom: dict[str, Any], name: str, value: Any, merge_objects: bool) -> None:
        defn = self.schema.get(name)
        if defn is not None and defn["status"] == "Blocklisted":
            return  # blocklisted attributes ignore writes (managing_custom_data)
        if value is None:
            custom.pop(name, None)
            return
        kind, stored = self._evaluate(custom.get(name), value, merge_objects, defn)
        if stored is SKIP:
            return
        if defn is None:
            self.register(name, kind)
        custom[name] = stored

    def _evaluate(
        self, current: Any, value: Any, merge: bool, defn: dict[str, Any] | None, auto: bool = False
    ) -> tuple[str, Any]:
        forced = defn["data_type"] if defn is not None and defn.get("forced") else None
        if forced is not None and not auto:
            return forced, self._coerce(forced, current, value, merge, defn)
        if isinstance(value, bool):
            return "Boolean", value
        if is_number(value):
            return "Number", value
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                return "String", SKIP  # the REST API drops over-long strings (UNCONFIRMED)
            when = parse_date(value)
            return ("Date", format_time(when)) if when else ("String", value)
        if isinstance(value, list):
            if value and all(isinstance(v, dict) for v in value):
                return "Object Array", _nested(lambda: [clean_object(v) for v in value])
            if all(_scalar(v) for v in value):
                return "Array", self._trim(_unique(value), defn)
            return "Array", SKIP
        if isinstance(value, dict):
            return self._op(current, value, merge, defn)
        return "String", SKIP

    def _op(self, current: Any, op: dict[str, Any], merge: bool, defn: Any) -> tuple[str, Any]:
        kind = op_kind(op)
        if kind == "array_op":
            return "Array", self._array_op(current, op, defn)
        if kind == "inc":
            step = op["inc"]
            if not isinstance(step, int) or isinstance(step, bool):
                return "Number", SKIP
            if current is None:
                return "Number", step  # UNCONFIRMED: a missing attribute starts from 0
            return "Number", current + step if is_number(current) else SKIP
        if kind == "object_array_op":
            return "Object Array", _nested(lambda: apply_object_array_ops(current, op, merge))
        cleaned = _nested(lambda: clean_object(op))
        if cleaned is not SKIP and merge and isinstance(current, dict):
            cleaned = deep_merge(current, cleaned)
        return "Object", cleaned

    def _array_op(self, current: Any, op: dict[str, Any], defn: Any) -> Any:
        adds, removes = op.get("add", []), op.get("remove", [])
        if not isinstance(adds, list) or not isinstance(removes, list):
            return SKIP
        if not all(_scalar(v) for v in adds) or not all(_scalar(v) for v in removes):
            return SKIP
        items = list(current) if isinstance(current, list) else []
        for v in adds:  # adding an existing value moves it to the end
            same = _same(v)
            items = [i for i in items if _same(i) != same]
            items.append(v)
        if removes:
            gone = {_same(v) for v in removes}
            items = [v for v in items if _same(v) not in gone]
        return self._trim(items, defn)

    def _trim(self, items: list[Any], defn: dict[str, Any] | None) -> list[Any]:
        limit = self.default_array_length
        if defn is not None and defn.get("array_length") is not None:
            limit = defn["array_length"]
        return items[len(items) - limit :] if len(items) > limit else items  # FIFO

    def _coerce(self, forced: str, current: Any, value: Any, merge: bool, defn: Any) -> Any:
        """Dashboard-forced types coerce what they can and ignore the rest."""
        if forced == "Boolean":
            if isinstance(value, bool):
                return value
            text = str(value).lower() if isinstance(value, str | int) else ""
            return True if text in _TRUE else False if text in _FALSE else SKIP
        if forced == "Number":
            return (
                value
                if is_number(value)
                else (self._op(current, value, merge, defn)[1] if isinstance(value, dict) else SKIP)
            )
        if forced == "String":
            if isinstance(value, str):
                return value if len(value) <= MAX_STRING else SKIP
            return (
                str(value).lower()
                if isinstance(value, bool)
                else (str(value) if is_number(value) else SKIP)
            )
        if forced == "Date":
            when = parse_date(value) if isinstance(value, str) else None
            return format_time(when) if when else SKIP
        kind, stored = self._evaluate(current, value, merge, defn, auto=True)
        return stored if kind == forced else SKIP


def _scalar(v: Any) -> bool:
    return v is not None and not isinstance(v, dict | list)


def _same(value: Any) -> Any:
    """What array de-duplication compares: the JSON value, not Python's `==`.

    JSON tells `true` from `1` and `false` from `0`, Python's `True == 1` does not, so booleans
    are keyed apart. `1` and `1.0` stay one value: JSON has a single number type, `1.0` is the
    same number as `1`, and Braze's Number type makes no int/float distinction either (forced
    Number "accepts ints/floats", reference §1.5). The first spelling sent is the one kept.
    """
    return ("bool", value) if value.__class__ is bool else value


def _unique(values: list[Any]) -> list[Any]:
    seen: dict[Any, Any] = {}
    for v in values:
        seen.setdefault(_same(v), v)  # first occurrence wins, order kept
    return list(seen.values())


def _nested(build: Any) -> Any:
    try:
        value = build()
        check_size(value)
    except InvalidNested:
        return SKIP  # every nested update of that attribute is dropped (post_user_track FAQ)
    return value
