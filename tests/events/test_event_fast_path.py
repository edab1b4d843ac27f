"""The one-pass read of a plain event agrees with the careful read on every event it takes.

`check_event` reads an event of the usual shape with `_plain_event`, in one pass, and any other
with `_every_problem`, which finds every problem. The plain path must never read an event
differently: the same id, time, properties and content hash, or exactly-once breaks (an id
derived from the content would change, and the event would be sent again).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import pytest
from events.support import NOW, copy_manifests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.manifests import load_workspace
from reconciler.sources.events import (
    EventErrors,
    StreamReader,
    _every_problem,
    _plain_event,
    check_event,
    iso,
    stream_reader,
)

# every declared type, an enum, a required property, and a datetime the plain path leaves out
EXTRA = """        n: {type: integer}
        flag: {type: boolean}
        amount: {type: number}
        at: {type: datetime}
        tags: {type: array}
        meta: {type: object}
"""


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StreamReader]:
    manifests = copy_manifests(tmp_path_factory.mktemp("events"))
    yaml = manifests / "actioniq.yaml"
    text = yaml.read_text()
    anchor = "        loyalty_tier: {type: string, enum: [bronze, silver, gold]}\n"
    assert anchor in text
    yaml.write_text(text.replace(anchor, anchor + EXTRA))
    m = load_workspace(manifests)
    (stream,) = [s for s in m.event_streams if s.name == "aiq-events"]
    declared = stream_reader(m, stream, NOW)
    # the same stream with no declared id: the id is the content's hash
    fields = declared.spec.fields.model_copy(update={"id": None})
    spec = declared.spec.model_copy(update={"fields": fields})
    hashed = dataclasses.replace(declared, stream=dataclasses.replace(stream, spec=spec))
    return {"declared": declared, "hashed": hashed}


TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", " ", " x ", "\u00a0y", "é", "SKU-1", "gold", "a\nb", '"q"', "x" * 256]),
)
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([3.0, -0.0, 1e16, 10.5, 2**53 + 0.0]),
)
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=3), st.dictionaries(TEXT, SCALAR, max_size=2))
TIME = st.one_of(
    st.sampled_from(
        [
            "2026-11-20T10:00:00Z",
            "2026-11-22T11:59:59Z",
            "2026-10-01T00:00:00Z",  # past the 30-day horizon: expired
            "2026-11-24T10:00:00Z",  # more than a day ahead: refused
            "2026-11-20T10:00:00.250Z",
            "2026-11-20T10:00:00+02:00",
            "2026-11-20T10:00:00z",
            "2026-11-20 10:00:00Z",
            "2026-11-20T10:00:00",
            "2026-11-20",
            "2026-02-30T10:00:00Z",
            "2026-11-20T25:00:00Z",
            " 2026-11-20T10:00:00Z",
            "0001-01-01T00:00:00Z",
            "now",
            "",
        ]
    ),
    st.none(),
    st.integers(),
    TEXT,
)
KEYS = st.sampled_from(
    ["sku", "price", "loyalty_tier", "n", "flag", "amount", "at", "tags", "meta", "cart_value",
     "items", "extra", "$x", "time", "event_name", "", " ", "k" * 256]
)  # fmt: skip
PROPS = st.one_of(
    st.dictionaries(KEYS, VALUE, max_size=6),
    st.fixed_dictionaries({"sku": TEXT}, optional={"price": NUMBER, "n": NUMBER, "flag": VALUE}),
    st.none(),
    st.sampled_from(['{"sku": "A"}', "[1]", "", "{"]),
    st.lists(SCALAR, max_size=2),
)
PLAIN: dict[str, Any] = {
    "event_id": "ev-1",
    "event_name": "aiq_product_viewed",
    "external_id": "cust-0001",
    "timestamp": "2026-11-20T10:00:00Z",
    "properties": {"sku": "SKU-1", "price": 10.5, "n": 3, "flag": True, "amount": 2},
}
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.one_of(TEXT, st.integers(), st.booleans(), st.none()),
    "event_name": st.one_of(
        st.sampled_from(["aiq_product_viewed", "aiq_cart_abandoned", "unknown", "$x", " "]),
        st.none(),
        st.integers(),
    ),
    "external_id": st.one_of(TEXT, st.integers(), st.booleans(), st.none(), st.just("é" * 500)),
    "timestamp": TIME,
    "properties": PROPS,
}
ANY_ROW = st.fixed_dictionaries({}, optional=FIELDS)


@st.composite
def near_plain(draw: st.DrawFn) -> dict[str, Any]:
    """A plain event with one field, or one property, changed or left out: often still
    valid, so the plain path is taken, and each of its checks meets values at its edge."""
    row = dict(PLAIN)
    name = draw(st.sampled_from([*FIELDS, "properties.", None]))
    if name == "properties.":
        props = dict(PLAIN["properties"])
        key = draw(KEYS)
        if draw(st.booleans()):
            props[key] = draw(VALUE)
        else:
            props.pop(key, None)
        row["properties"] = props
    elif name is not None:
        if draw(st.booleans()):
            row[name] = draw(FIELDS[name])
        else:
            del row[name]
    return row


ROW = st.one_of(ANY_ROW, near_plain())


def _outcome(read: Any, reader: StreamReader, row: dict[str, Any]) -> Any:
    try:
        return ("event", read(reader, 7, row))
    except EventErrors as e:
        return ("errors", str(e))


@settings(max_examples=600, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=ROW, hashed=st.booleans())
@example(row=PLAIN, hashed=False)
@example(row=PLAIN, hashed=True)
@example(row={**PLAIN, "properties": {"sku": "x", "price": math.inf}}, hashed=False)
@example(row={**PLAIN, "event_id": " ev-2 "}, hashed=False)
@example(row={**PLAIN, "event_id": 12}, hashed=False)
@example(row={**PLAIN, "event_id": True}, hashed=False)
@example(row={**PLAIN, "event_id": " "}, hashed=False)
@example(row={**PLAIN, "external_id": " cust-0001\u00a0"}, hashed=False)
@example(row={**PLAIN, "external_id": 1234}, hashed=True)
@example(row={**PLAIN, "properties": {"price": 1.0}}, hashed=False)
@example(row={**PLAIN, "properties": {"sku": "x", "n": 3.0}}, hashed=False)
@example(row={**PLAIN, "properties": {"sku": "x", "n": True}}, hashed=False)
@example(row={**PLAIN, "properties": {"sku": "x", "tags": ["a"]}}, hashed=False)
def test_the_plain_read_is_the_careful_read(
    readers: dict[str, StreamReader], row: dict[str, Any], hashed: bool
) -> None:
    reader = readers["hashed" if hashed else "declared"]
    careful = _outcome(_every_problem, reader, row)
    plain = _plain_event(reader, 7, row)
    if plain is not None:
        assert careful == ("event", plain)
    assert _outcome(check_event, reader, row) == careful


def test_a_plain_event_takes_the_one_pass_read(readers: dict[str, StreamReader]) -> None:
    reader = readers["declared"]
    event = _plain_event(reader, 7, PLAIN)
    assert event is not None
    assert (event.event_id, event.time, event.expired) == (
        "aiq-events:ev-1",
        "2026-11-20T10:00:00Z",
        False,
    )
    # what it leaves to the careful read: a datetime to normalise, an offset, an enum
    for leave in (
        {"properties": {"sku": "x", "at": "2026-11-20 10:00"}},
        {"timestamp": "2026-11-20T12:00:00+02:00"},
        {"properties": {"sku": "x", "loyalty_tier": "gold"}},
    ):
        assert _plain_event(reader, 7, {**PLAIN, **leave}) is None
        assert isinstance(check_event(reader, 7, {**PLAIN, **leave}), type(event))


def test_the_fixture_streams_differ_only_in_the_id(readers: dict[str, StreamReader]) -> None:
    declared, hashed = readers["declared"], readers["hashed"]
    assert declared.spec.fields.id == "event_id" and hashed.spec.fields.id is None
    one = check_event(declared, 1, PLAIN)
    two = check_event(hashed, 1, PLAIN)
    assert one.content == two.content and two.event_id == f"aiq-events#{one.content[:32]}"


def test_the_extra_properties_are_declared(readers: dict[str, StreamReader]) -> None:
    props = readers["declared"].schemas["aiq_product_viewed"].properties
    assert {"n", "flag", "amount", "at", "tags", "meta"} <= set(props)


def test_iso_writes_every_instant_in_utc_with_a_z() -> None:
    """`iso` shortcuts a time already in UTC (what the checks leave); any other zone is
    converted first, so a datetime property with an offset is sent as its UTC instant."""
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert iso(dt.datetime(2026, 11, 21, 10, 0, tzinfo=plus_two)) == "2026-11-21T08:00:00Z"
    assert iso(dt.datetime(2026, 11, 21, 8, 0, 0, 250000, tzinfo=dt.UTC)) == (
        "2026-11-21T08:00:00.250Z"
    )
    assert iso(dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)) == "2026-11-21T08:00:00Z"
