"""Test support for events: a copy of manifests/ with event streams and files of our choosing."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
AIQ_EVENTS = "data/actioniq/events.jsonl"
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)

SENDBIRD_STREAM = """
---
apiVersion: reconciler/v1
kind: EventStream
metadata: {name: sendbird-tracking}
spec:
  integration: sendbird
  source: {path: data/sendbird/notifications.csv}
  fields: {id: message_id, name: event, identifier: user_id, time: sent_at, properties: properties}
"""


def copy_manifests(root: Path) -> Path:
    """manifests/ copied under `root`; returns the copy."""
    target = root / "manifests"
    shutil.copytree(REPO / "manifests", target)
    return target


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def aiq_event(n: int, when: dt.datetime = NOW, **overrides: Any) -> dict[str, Any]:
    """A valid ActionIQ product view (or whatever `overrides` make of it)."""
    event: dict[str, Any] = {
        "event_id": f"aiq-ev-{n:06d}",
        "event_name": "aiq_product_viewed",
        "external_id": f"cust-{n % 9000:04d}",
        "timestamp": iso(when - dt.timedelta(minutes=n % 600)),
        "properties": {"sku": f"SKU-{n}", "price": 10.5, "n": n},
    }
    event.update(overrides)
    return event


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]], *, append: bool = False) -> None:
    with path.open("a" if append else "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def refresh_example_events(manifests: Path, now: dt.datetime | None = None) -> None:
    """Shift the example ActionIQ events so the newest is an hour old: inside any horizon."""
    path = manifests / AIQ_EVENTS
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    times = [dt.datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) for r in rows]
    shift = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(hours=1) - max(times)
    for row, when in zip(rows, times, strict=True):
        row["timestamp"] = iso(when + shift)
    write_jsonl(path, rows)


def add_sendbird_stream(manifests: Path, rows: list[dict[str, str]]) -> Path:
    """A Sendbird tracking stream (CSV, properties as JSON text) with these rows."""
    with (manifests / "sendbird.yaml").open("a") as fh:
        fh.write(SENDBIRD_STREAM)
    path = manifests / "data/sendbird/notifications.csv"
    header = ["message_id", "event", "user_id", "sent_at", "properties"]
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(_csv_cell(row.get(h, "")) for h in header))
    path.write_text("\n".join(lines) + "\n")
    return path


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
