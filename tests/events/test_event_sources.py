"""Reading event streams: every event checked against Braze and its EventSchema, located."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from events.support import (
    AIQ_EVENTS,
    NOW,
    add_sendbird_stream,
    aiq_event,
    copy_manifests,
    write_jsonl,
)

from reconciler.errors import Diagnostic, SourceDataError
from reconciler.manifests import load_workspace
from reconciler.sources.events import SourceEvent, read_events, stream_reader, validate_streams


def read(manifests: Path, stream: str = "aiq-events") -> list[SourceEvent | Diagnostic]:
    m = load_workspace(manifests)
    (found,) = [s for s in m.event_streams if s.name == stream]
    return list(read_events(stream_reader(m, found, NOW)))


def one_bad(manifests: Path, event: dict[str, Any]) -> str:
    write_jsonl(manifests / AIQ_EVENTS, [aiq_event(1), event])
    first, second = read(manifests)
    assert isinstance(first, SourceEvent)
    assert isinstance(second, Diagnostic)
    return second.render()


def test_the_example_stream_reads_as_five_events_with_namespaced_ids(tmp_path: Path) -> None:
    events = read(copy_manifests(tmp_path))
    assert all(isinstance(e, SourceEvent) for e in events)
    first = events[0]
    assert isinstance(first, SourceEvent)
    assert (first.event_id, first.user_id, first.name) == (
        "aiq-events:aiq-ev-0001",
        "cust-0001",
        "aiq_product_viewed",
    )
    assert first.time == "2026-11-20T09:15:00Z"
    assert dict(first.properties) == {"sku": "SKU-1042", "price": 49.9, "loyalty_tier": "gold"}
    assert [e.row for e in events if isinstance(e, SourceEvent)] == [1, 2, 3, 4, 5]


BAD = {
    "no_name": ({"event_name": None}, "1: event_name: an event name is required"),
    "undeclared": (
        {"event_name": "aiq_unknown"},
        "1: event_name: event 'aiq_unknown' is not declared in an EventSchema of integration "
        "'actioniq'",
    ),
    "dollar_name": ({"event_name": "$x"}, "1: event_name: '$x' is not a valid Braze event name"),
    "no_identifier": ({"external_id": " "}, "1: external_id: a external_id is required"),
    "long_identifier": (
        {"external_id": "x" * 988},
        "1: external_id: the external_id is longer than 987 bytes",
    ),
    "no_time": ({"timestamp": None}, "1: timestamp: the event time is required"),
    "bad_time": ({"timestamp": "yesterday"}, "1: timestamp: 'yesterday' is not an ISO 8601 time"),
    "future": (
        {"timestamp": "2026-11-24T12:00:00Z"},
        "1: timestamp: 2026-11-24T12:00:00Z is more than a day in the future",
    ),
    "required": (
        {"properties": {"price": 1.0}},
        "1: properties.sku: required by event 'aiq_product_viewed'",
    ),
    "type": (
        {"properties": {"sku": "S", "price": "cheap"}},
        "1: properties.price: 'cheap' is not a number",
    ),
    "bool_number": (
        {"properties": {"sku": "S", "price": True}},
        "1: properties.price: 'true' is a boolean, not a number",
    ),
    "enum": (
        {"properties": {"sku": "S", "loyalty_tier": "platinum"}},
        "1: properties.loyalty_tier: 'platinum' is not one of bronze, silver, gold",
    ),
    "reserved": (
        {"properties": {"sku": "S", "time": "now"}},
        "1: properties.time: reserved by Braze (time, event_name and names starting with '$')",
    ),
    "dollar_property": (
        {"properties": {"sku": "S", "$price": 1}},
        "1: properties.$price: reserved by Braze",
    ),
    "long_string": (
        {"properties": {"sku": "S" * 256}},
        "1: properties.sku: string of 256 characters is over 255",
    ),
    "not_object": ({"properties": [1, 2]}, "1: properties: properties must be an object"),
    "no_id": ({"event_id": ""}, "1: event_id: the event id is required"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_event_is_located_at_its_file_row_with_the_reason(tmp_path: Path, case: str) -> None:
    manifests = copy_manifests(tmp_path)
    overrides, expected = BAD[case]
    rendered = one_bad(manifests, aiq_event(2, **overrides))
    assert rendered.startswith(f"{manifests / AIQ_EVENTS}:2:")
    assert expected.removeprefix("1: ") in rendered
    # the column is where the field's key sits on the JSONL line, not always 1
    field = expected.removeprefix("1: ").split(":", 1)[0]
    line = (manifests / AIQ_EVENTS).read_text().splitlines()[1]
    col = int(rendered.removeprefix(f"{manifests / AIQ_EVENTS}:2:").split(":", 1)[0])
    keys = [k for k in field.split(".") if f'"{k}":' in line]  # a missing key: its parent's
    assert keys and line[col - 1 :].startswith(f'"{keys[-1]}"'), (col, line)


def test_the_sendbird_status_enum_is_enforced_at_file_row_column(tmp_path: Path) -> None:
    manifests = copy_manifests(tmp_path)
    rows = [
        {"message_id": "m1", "event": "sendbird_notification", "user_id": "cust-0001"},
        {"message_id": "m2", "event": "sendbird_notification", "user_id": "cust-0002"},
        {"message_id": "m3", "event": "sendbird_notification", "user_id": "cust-0003"},
    ]
    statuses = ['{"status": "SENT"}', '{"status": "DELIVERED"}', "{}"]
    for row, props in zip(rows, statuses, strict=True):
        row |= {"sent_at": "2026-11-21T08:00:00Z", "properties": props}
    path = add_sendbird_stream(manifests, rows)
    sent, delivered, missing = read(manifests, "sendbird-tracking")
    assert isinstance(sent, SourceEvent) and sent.properties == {"status": "SENT"}
    assert sent.event_id == "sendbird-tracking:m1"
    assert isinstance(delivered, Diagnostic) and isinstance(missing, Diagnostic)
    # CSV rows are numbered by file line (the header is line 1); column 5 is `properties`
    assert delivered.render() == (
        f"{path}:3:5: properties.status: 'DELIVERED' is not one of SENT, READ"
    )
    assert missing.render() == (
        f"{path}:4:5: properties.status: required by event 'sendbird_notification'"
    )


def test_without_a_declared_id_the_id_is_a_hash_of_the_content(tmp_path: Path) -> None:
    manifests = copy_manifests(tmp_path)
    yaml = manifests / "actioniq.yaml"
    yaml.write_text(yaml.read_text().replace("fields: {id: event_id, ", "fields: {"))
    same = aiq_event(1, properties={"price": 10.5, "sku": "A"})
    reordered = aiq_event(2, properties={"sku": "A", "price": 10.5}, timestamp=same["timestamp"])
    reordered["external_id"] = same["external_id"]
    other = aiq_event(1, properties={"price": 10.5, "sku": "B"})
    write_jsonl(manifests / AIQ_EVENTS, [same, reordered, other])
    a, b, c = read(manifests)
    assert isinstance(a, SourceEvent) and isinstance(b, SourceEvent) and isinstance(c, SourceEvent)
    assert a.event_id.startswith("aiq-events#") and len(a.event_id) == len("aiq-events#") + 32
    assert a.event_id == b.event_id  # the same event, whatever the key order
    assert a.event_id != c.event_id


def test_times_are_sent_as_iso_8601_utc_and_datetime_properties_too(tmp_path: Path) -> None:
    manifests = copy_manifests(tmp_path)
    yaml = manifests / "actioniq.yaml"
    yaml.write_text(yaml.read_text().replace("items: {type: integer}", "at: {type: datetime}"))
    event = aiq_event(
        1,
        event_name="aiq_cart_abandoned",
        timestamp="2026-11-21T10:00:00.250+02:00",
        properties={"cart_value": 3, "at": "2026-11-21 10:00"},
    )
    write_jsonl(manifests / AIQ_EVENTS, [event])
    (e,) = read(manifests)
    assert isinstance(e, SourceEvent)
    assert e.time == "2026-11-21T08:00:00.250Z"
    assert dict(e.properties) == {"cart_value": 3, "at": "2026-11-21T10:00:00Z"}


def test_events_older_than_the_horizon_are_marked_expired(tmp_path: Path) -> None:
    manifests = copy_manifests(tmp_path)
    old = aiq_event(1, timestamp="2026-10-23T11:59:59Z")  # 30 days and a second before NOW
    fresh = aiq_event(2, timestamp="2026-10-23T12:00:01Z")
    write_jsonl(manifests / AIQ_EVENTS, [old, fresh])
    a, b = read(manifests)
    assert isinstance(a, SourceEvent) and isinstance(b, SourceEvent)
    assert (a.expired, b.expired) == (True, False)


def test_parquet_streams_with_timestamp_columns(tmp_path: Path) -> None:
    manifests = copy_manifests(tmp_path)
    when = dt.datetime(2026, 11, 21, 7, 30, tzinfo=dt.UTC)
    table = pa.table(
        {
            "event_id": ["p1"],
            "event_name": ["aiq_cart_abandoned"],
            "external_id": ["cust-0004"],
            "timestamp": pa.array([when], pa.timestamp("ms", tz="UTC")),
            "properties": [json.dumps({"cart_value": 12.0})],
        }
    )
    pq.write_table(table, manifests / "data/actioniq/events.parquet")
    yaml = manifests / "actioniq.yaml"
    yaml.write_text(yaml.read_text().replace("events.jsonl", "events.parquet"))
    (e,) = read(manifests)
    assert isinstance(e, SourceEvent)
    assert (e.event_id, e.time, dict(e.properties)) == (
        "aiq-events:p1",
        "2026-11-21T07:30:00Z",
        {"cart_value": 12.0},
    )


def test_validate_streams_lists_the_first_twenty_and_the_total(tmp_path: Path) -> None:
    manifests = copy_manifests(tmp_path)
    write_jsonl(
        manifests / AIQ_EVENTS,
        [aiq_event(i, properties={"price": 1}) for i in range(25)],  # no sku
    )
    with pytest.raises(SourceDataError) as caught:
        validate_streams(load_workspace(manifests), NOW)
    assert len(caught.value.diagnostics) == 20
    assert caught.value.message == "25 bad events in the event streams (first 20 shown)"


def test_a_skip_stream_is_not_an_error_for_validate(tmp_path: Path) -> None:
    manifests = copy_manifests(tmp_path)
    yaml = manifests / "actioniq.yaml"
    yaml.write_text(yaml.read_text().replace("retention_days: 30", "on_invalid: skip"))
    write_jsonl(manifests / AIQ_EVENTS, [aiq_event(1, properties={})])
    validate_streams(load_workspace(manifests), NOW)
    (bad,) = read(manifests)
    assert isinstance(bad, Diagnostic)


def test_an_event_without_an_external_id_is_sent_by_its_braze_id_when_asked(
    tmp_path: Path,
) -> None:
    """ActionIQ's events carry either identifier: with `fields.braze_id`, an event whose
    external_id cell is empty goes by its braze_id; without it, the empty cell is an error."""
    manifests = copy_manifests(tmp_path)
    rows = [
        aiq_event(1, braze_id="5f1e2d3c4b5a69788796a5b4"),
        aiq_event(2, external_id="", braze_id="5f1e2d3c4b5a69788796a5b5"),
        aiq_event(3, external_id=None),
    ]
    write_jsonl(manifests / AIQ_EVENTS, rows)
    before = read(manifests)
    assert [type(e) for e in before] == [SourceEvent, Diagnostic, Diagnostic]
    assert "external_id: a external_id is required" in before[1].render()

    actioniq = manifests / "actioniq.yaml"
    text = actioniq.read_text(encoding="utf-8")
    old = "identifier: external_id, time: timestamp"
    assert old in text
    actioniq.write_text(
        text.replace(old, "identifier: external_id, braze_id: braze_id, time: timestamp"),
        encoding="utf-8",
    )
    first, second, third = read(manifests)
    assert isinstance(first, SourceEvent) and isinstance(second, SourceEvent)
    assert (first.id_kind, first.user_id) == ("external_id", "cust-0001")  # external_id first
    assert (second.id_kind, second.user_id) == ("braze_id", "5f1e2d3c4b5a69788796a5b5")
    assert isinstance(third, Diagnostic)  # neither identifier: still an error
    assert "external_id: a external_id is required" in third.render()
