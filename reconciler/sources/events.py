"""Read an EventStream's file as validated events, each with a stable id, or located problems.

An event is checked against Braze's event object rules (reference §1.6) and against the
EventSchema of its integration: the name must be declared, required properties present, typed
properties of their type, enums respected. A bad event is reported at `file:row:col`.

The stable id is what makes delivery exactly-once: the declared `id` field, or a hash of the
event's content when none is declared. Ids are namespaced by the stream's name, so two streams
may reuse each other's ids; renaming a stream therefore makes its events new again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from reconciler.errors import Diagnostic, Location, SourceDataError
from reconciler.manifests import Manifests
from reconciler.manifests.documents import Resource
from reconciler.manifests.kinds import EventStreamSpec
from reconciler.manifests.kinds.event_schema import EventDef, EventProperty
from reconciler.sources.reader import LineRow, read_rows, source_format
from reconciler.sources.remote import Options, RemotePath, is_remote, resolve

MAX_STRING = 255  # names and string values (reference §1.6)
MAX_PROPERTIES_BYTES = 100_000  # properties with arrays or objects: 100 KB in all
MAX_EXTERNAL_ID_BYTES = 987  # EXTERNAL_USER_ID_TOO_LARGE (reference §1.3)
RESERVED_PROPERTIES = frozenset({"time", "event_name"})
# Braze clamps a future time to "now". A time this far ahead is refused: a clamped event could
# outlive the pruning of its id (the ledger keeps ids for the horizon after they were sent).
FUTURE_TOLERANCE = dt.timedelta(days=1)
MAX_LISTED = 20  # bad events listed in one error


class SourceEvent(NamedTuple):
    """One valid event, normalised to what /users/track receives."""

    event_id: str  # "<stream>:<declared id>" or "<stream>#<content hash>"
    stream: str
    row: int
    id_kind: str
    user_id: str
    name: str
    time: str  # ISO 8601 in UTC with a Z
    epoch: float
    properties: Mapping[str, Any]
    properties_json: str  # canonical JSON of `properties` (sorted keys), computed once
    content: str  # sha256 of (name, identifier, time, properties): spots reused ids
    expired: bool  # older than the stream's retention horizon: refused, reported


class EventError(ValueError):
    """One bad event: `field` names the column (or `properties.<name>`) at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class EventErrors(ValueError):
    """Every problem of one event."""

    def __init__(self, errors: list[EventError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class StreamReader:
    """Everything needed to check the rows of one EventStream."""

    stream: Resource[EventStreamSpec]
    id_kind: str
    schemas: Mapping[str, EventDef]
    path: Path | RemotePath
    display: str
    horizon: dt.datetime
    now: dt.datetime

    @property
    def spec(self) -> EventStreamSpec:
        return self.stream.spec


def stream_reader(
    m: Manifests, stream: Resource[EventStreamSpec], now: dt.datetime
) -> StreamReader:
    integration = m.integrations.get(stream.spec.integration)
    schemas = {
        event.name: event
        for schema in m.event_schemas
        if schema.spec.integration == stream.spec.integration
        for event in schema.spec.events
    }
    return StreamReader(
        stream=stream,
        id_kind=integration.spec.identifier if integration else "external_id",
        schemas=schemas,
        path=_stream_path(m, stream),
        display=str(_stream_path(m, stream)),
        horizon=now - dt.timedelta(days=stream.spec.retention_days),
        now=now,
    )


def _stream_path(m: Manifests, stream: Resource[EventStreamSpec]) -> Path | RemotePath:
    """The stream's one file: local, or one remote object (a glob must match exactly one)."""
    source = stream.spec.source
    if not is_remote(source.path):
        return m.path(source.path)
    options = Options(source.endpoint, source.region, source.pick)
    objects = resolve(source.path, options)
    if len(objects) > 1:
        raise SourceDataError(
            [
                Diagnostic(
                    Location(source.path),
                    f"an EventStream reads one object; the pattern matches {len(objects)}",
                    hint="name the object, or use {date} with pick: latest",
                )
            ]
        )
    return RemotePath(objects[0].url, options)


def read_events(reader: StreamReader) -> Iterator[SourceEvent | Diagnostic]:
    """Every row of the stream's file, in file order: a SourceEvent, or a located Diagnostic."""
    source = reader.spec.source
    fmt = source_format(reader.path, source.format)
    rows = read_rows(reader.path, fmt, reader.display)
    columns: list[str] | None = None
    for row_no, row in rows:
        columns = columns or list(row)
        try:
            yield check_event(reader, row_no, row)
        except EventErrors as errors:
            for e in errors.errors:  # every problem of the event, each at its own column
                yield Diagnostic(
                    Location(reader.display, row_no, _column(columns, reader, e.field, row)),
                    str(e),
                )


def check_event(reader: StreamReader, row_no: int, row: Mapping[str, Any]) -> SourceEvent:
    """The event in `row`, normalised; EventErrors lists every problem found (the name, the
    identifier, the time and the properties are each checked, the properties only against a
    known name's schema).

    An event of the usual shape (a declared name, a string identifier, a time like
    `2026-11-02T18:22:00Z`, properties of their declared types) is read by `_plain_event` in
    one pass; any other event, and every bad one, by `_every_problem`. The two agree on every
    event the first reads (tests/events/test_event_fast_path.py), and a stream's events cost
    a fraction of the Python they did: they are read on a thread beside the plan's DuckDB
    work, and at 20,000 events they were a no-op plan's longest wait."""
    return _plain_event(reader, row_no, row) or _every_problem(reader, row_no, row)


def _every_problem(reader: StreamReader, row_no: int, row: Mapping[str, Any]) -> SourceEvent:
    """check_event for any event: every problem of it, as one EventErrors."""
    fields = reader.spec.fields
    errors: list[EventError] = []

    def attempt(check: Any, *args: Any) -> Any:
        try:
            return check(*args)
        except EventError as e:
            errors.append(e)
            return None

    name = attempt(_name, row.get(fields.name), fields.name, reader)
    id_kind, column = reader.id_kind, fields.identifier
    if (
        fields.braze_id is not None
        and _blank(row.get(column))
        and not _blank(row.get(fields.braze_id))
    ):
        id_kind, column = "braze_id", fields.braze_id  # no external_id: matched by braze_id
    user = attempt(_identifier, row.get(column), column, id_kind)
    when = attempt(_time, row.get(fields.time), fields.time, reader)
    raw_props = row.get(fields.properties) if fields.properties else None
    props = (
        attempt(_properties, raw_props, fields.properties or "properties", reader.schemas[name])
        if name is not None
        else None
    )
    if errors:
        raise EventErrors(errors)
    assert name is not None and user is not None and when is not None and props is not None
    declared = None
    if fields.id is not None:
        try:
            declared = _declared_id(row.get(fields.id), fields.id)
        except EventError as e:
            raise EventErrors([e]) from None
    return _event(reader, row_no, name, user, when, props, declared, id_kind)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _event(
    reader: StreamReader,
    row_no: int,
    name: str,
    user: str,
    when: dt.datetime,
    props: dict[str, Any],
    declared: str | None,
    id_kind: str | None = None,
) -> SourceEvent:
    """The checked parts of an event as one SourceEvent (`declared`: its declared id, None
    when the stream declares none and the id is the content's hash; `id_kind`: the stream's
    unless the event is matched by its braze_id)."""
    id_kind = id_kind or reader.id_kind
    time_text = iso(when)
    props_json = canonical(props)
    content = content_hash(name, id_kind, user, time_text, props_json)
    stream = reader.stream.name
    event_id = f"{stream}:{declared}" if declared is not None else f"{stream}#{content[:32]}"
    return SourceEvent(
        event_id,
        stream,
        row_no,
        id_kind,
        user,
        name,
        time_text,
        when.timestamp(),
        props,
        props_json,
        content,
        when < reader.horizon,
    )


_PLAIN_TIME = len("2026-11-02T18:22:00Z")
# declared types a value of exactly this Python type already has, unchanged (no enum)
_PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "float": (int, float),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
}


def _plain_event(reader: StreamReader, row_no: int, row: Mapping[str, Any]) -> SourceEvent | None:
    """The event when it has the usual shape and no problem; None sends it to
    `_every_problem`. Every test here is one of `_every_problem`'s checks, or narrower."""
    fields = reader.spec.fields
    name = row.get(fields.name)
    if type(name) is not str or name not in reader.schemas:
        return None
    if len(name) > MAX_STRING or name.startswith("$") or not name.strip():
        return None
    user = row.get(fields.identifier)
    if type(user) is not str:
        return None
    user = user.strip()
    if not user or len(user.encode()) > MAX_EXTERNAL_ID_BYTES:
        return None
    raw_time = row.get(fields.time)
    if type(raw_time) is not str or len(raw_time) != _PLAIN_TIME or raw_time[-1] != "Z":
        return None
    try:
        when = dt.datetime.fromisoformat(raw_time[:-1] + "+00:00")
    except ValueError:
        return None
    if when > reader.now + FUTURE_TOLERANCE:
        return None
    props = _plain_properties(
        row.get(fields.properties) if fields.properties else None, reader.schemas[name]
    )
    if props is None:
        return None
    declared = None
    if fields.id is not None:
        raw_id = row.get(fields.id)
        if type(raw_id) is str:
            declared = raw_id.strip()
        elif type(raw_id) is int:
            declared = str(raw_id)
        if not declared:
            return None
    return _event(reader, row_no, name, user, when, props, declared)


def _plain_properties(raw: Any, event: EventDef) -> dict[str, Any] | None:
    """`_properties` of a JSON object whose values are strings, numbers or booleans of their
    declared types (no enum to check, no datetime to normalise); None otherwise."""
    if raw is None:
        raw = {}
    elif type(raw) is not dict:
        return None
    props: dict[str, Any] = {}
    declared = event.properties
    for key, value in raw.items():
        if value is None:
            continue  # a null property is an absent one
        if type(key) is not str or len(key) > MAX_STRING or not key.strip():
            return None
        if key.startswith("$") or key in RESERVED_PROPERTIES:
            return None
        kind = type(value)
        if kind is str:
            if len(value) > MAX_STRING:
                return None
        elif kind is float:
            if not math.isfinite(value):
                return None
        elif kind is not int and kind is not bool:
            return None  # an array or an object: `_properties` weighs them
        spec = declared.get(key)
        if spec is not None and (
            spec.enum is not None or kind not in _PLAIN_TYPES.get(spec.type, ())
        ):
            return None
        props[key] = value
    for key, spec in declared.items():
        if spec.required and key not in props:
            return None
    return props


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: one text per value (one encoder, built once)."""
    return _CANONICAL.encode(value)


def content_hash(name: str, id_kind: str, user: str, time: str, props_json: str) -> str:
    """sha256 over the event's content; `props_json` is canonical(properties)."""
    text = f"{canonical([name, id_kind, user, time])}{props_json}"
    return hashlib.sha256(text.encode()).hexdigest()


def iso(when: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z, milliseconds only when present (as Braze prints times)."""
    spec = "milliseconds" if when.microsecond else "seconds"
    if when.tzinfo is dt.UTC:  # as the checks leave it: only the "+00:00" to replace
        return when.isoformat(timespec=spec)[:-6] + "Z"
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _name(raw: Any, field: str, reader: StreamReader) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise EventError(field, "an event name is required")
    if len(raw) > MAX_STRING or raw.startswith("$"):
        raise EventError(field, f"{_show(raw)} is not a valid Braze event name")
    if raw not in reader.schemas:
        raise EventError(
            field,
            f"event {raw!r} is not declared in an EventSchema of integration "
            f"'{reader.spec.integration}'",
        )
    return raw


def _identifier(raw: Any, field: str, id_kind: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise EventError(field, f"a {id_kind} is required")
    text = str(raw).strip()
    if not text:
        raise EventError(field, f"a {id_kind} is required")
    if len(text.encode()) > MAX_EXTERNAL_ID_BYTES:
        raise EventError(field, f"the {id_kind} is longer than {MAX_EXTERNAL_ID_BYTES} bytes")
    return text


def _declared_id(raw: Any, field: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise EventError(field, "the event id is required (spec.fields.id names this column)")
    text = str(raw).strip()
    if not text:
        raise EventError(field, "the event id is required (spec.fields.id names this column)")
    return text


def parse_time(raw: Any) -> dt.datetime | None:
    """An aware datetime from an ISO 8601 string or a datetime (Parquet); None otherwise."""
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, str) and raw.strip():
        text = raw.strip()
        if len(text) == 10:
            text += "T00:00:00"
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _time(raw: Any, field: str, reader: StreamReader) -> dt.datetime:
    if raw is None or raw == "":
        raise EventError(field, "the event time is required")
    when = parse_time(raw)
    if when is None:
        raise EventError(field, f"{_show(raw)} is not an ISO 8601 time")
    if when > reader.now + FUTURE_TOLERANCE:
        raise EventError(
            field, f"{iso(when)} is more than a day in the future (Braze would record it as now)"
        )
    return when.astimezone(dt.UTC)


def _properties(raw: Any, field: str, event: EventDef) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as e:
            raise EventError(field, f"not a JSON object ({e.msg})") from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise EventError(field, "properties must be an object")
    props = {k: v for k, v in raw.items() if v is not None}  # a null property is an absent one
    for key, value in props.items():
        _check_braze_property(field, key, value)
    for key, declared in event.properties.items():
        if key in props:
            props[key] = _typed(f"{field}.{key}", props[key], declared)
        elif declared.required:
            raise EventError(f"{field}.{key}", f"required by event {event.name!r}")
    if any(isinstance(v, dict | list) for v in props.values()):
        size = len(json.dumps(props, separators=(",", ":")).encode())
        if size > MAX_PROPERTIES_BYTES:
            raise EventError(field, f"{size:,} bytes of properties exceed Braze's 100 KB")
    return props


def _check_braze_property(field: str, key: Any, value: Any) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_STRING:
        raise EventError(field, f"{_show(key)} is not a valid property name")
    if key.startswith("$") or key in RESERVED_PROPERTIES:
        raise EventError(
            f"{field}.{key}", "reserved by Braze (time, event_name and names starting with '$')"
        )
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise EventError(f"{field}.{key}", f"string of {len(value)} characters is over 255")
    if isinstance(value, float) and not math.isfinite(value):
        raise EventError(f"{field}.{key}", f"{value} is not a finite number")


def _typed(where: str, value: Any, declared: EventProperty) -> Any:
    value = _BY_TYPE[declared.type](where, value)
    if declared.enum is not None and value not in declared.enum:
        allowed = ", ".join(str(v) for v in declared.enum)
        raise EventError(where, f"{_show(value)} is not one of {allowed}")
    return value


def _expect(kinds: type | tuple[type, ...], what: str) -> Callable[[str, Any], Any]:
    """A check that `value` is one of `kinds`; a boolean is never a number."""

    def check(where: str, value: Any) -> Any:
        if isinstance(value, bool) and kinds is not bool:
            raise EventError(where, f"{_show(value)} is a boolean, not {what}")
        if not isinstance(value, kinds):
            raise EventError(where, f"{_show(value)} is not {what}")
        return value

    return check


def _integer(where: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    result: int = _expect(int, "an integer")(where, value)
    return result


def _datetime(where: str, value: Any) -> str:
    when = parse_time(value)
    if when is None:
        raise EventError(where, f"{_show(value)} is not an ISO 8601 time")
    return iso(when)


_BY_TYPE = {
    "string": _expect(str, "a string"),
    "integer": _integer,
    "float": _expect((int, float), "a number"),
    "number": _expect((int, float), "a number"),
    "boolean": _expect(bool, "a boolean"),
    "datetime": _datetime,
    "array": _expect(list, "an array"),
    "object": _expect(dict, "an object"),
}


def _column(
    columns: list[str] | None, reader: StreamReader, field: str, row: Mapping[str, Any]
) -> int:
    """The 1-based column of `field`: its CSV header position, or where its key sits on a
    JSONL line; 1 for Parquet rows."""
    column = field.split(".", 1)[0]
    if columns and column in columns and reader.display.endswith(".csv"):
        return columns.index(column) + 1
    if isinstance(row, LineRow):
        return row.column_of(field)
    return 1


def validate_streams(m: Manifests, now: dt.datetime | None = None) -> None:
    """Check every event of every `on_invalid: fail` stream (what `reconciler validate` runs).

    Raises SourceDataError listing the first MAX_LISTED bad events and the total.
    """
    now = now or dt.datetime.now(dt.UTC)
    bad: list[Diagnostic] = []
    total = 0
    for stream in m.event_streams:
        local = not is_remote(stream.spec.source.path)
        if stream.spec.on_invalid == "skip" or (
            local and not m.path(stream.spec.source.path).is_file()
        ):
            continue  # (a missing file is a manifest error already)
        for item in read_events(stream_reader(m, stream, now)):
            if isinstance(item, Diagnostic):
                total += 1
                if len(bad) < MAX_LISTED:
                    bad.append(item)
    if total:
        more = f" (first {MAX_LISTED} shown)" if total > MAX_LISTED else ""
        raise SourceDataError(bad, summary=f"{total} bad events in the event streams{more}")
