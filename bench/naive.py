"""The baseline: the reconciler a hurried team would write with pyyaml, pyarrow and deepdiff.

    .venv/bin/python bench/naive.py MANIFESTS --state naive-state.json [--write-state]

It reads the manifests with pyyaml, loads the desired state (the AttributeSync source and the
audience member files) into one dict {user: {attribute: value}}, loads the stored state (its
own JSON snapshot of what it last sent) into another, diffs the two with DeepDiff, and turns
the differences into /users/track objects; events whose ids the snapshot has not seen follow,
and everything is packed 75 objects per request. It prints what it would send as one JSON
line: changed cells, data points, users, events, requests. `--write-state` then saves the
desired state as the new snapshot (what "apply" means here; pii values are stored raw, which
the real engine refuses to do).

It is meant to be correct and not slow on purpose: values are typed per the AttributeSchema
(so the Parquet and CSV sources compare alike), arrays are sorted before the diff (Braze
compares them as sets, so a reordered export is not a change), and an array change is sent as
add/remove like the engine does, so both produce the same payload counts.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml
from deepdiff import DeepDiff

OBJECTS_PER_REQUEST = 75
Users = dict[str, dict[str, Any]]


def _iso_datetime(v: Any) -> str:
    when: dt.datetime = (
        dt.datetime.fromisoformat(v.replace("Z", "+00:00")) if isinstance(v, str) else v
    )
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.isoformat(timespec="seconds") + "Z"


def _iso_date(v: Any) -> str:
    return v.isoformat() if isinstance(v, dt.date) else dt.date.fromisoformat(v).isoformat()


def _boolean(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("true", "1", "yes")


def _array(v: Any) -> list[str]:
    items = json.loads(v) if isinstance(v, str) else v
    return sorted({str(x) for x in items})


def _number(v: Any) -> float | int:
    f = float(v)
    return int(f) if f.is_integer() else f


CONVERT: dict[str, Callable[[Any], Any]] = {
    "string": str,
    "varchar": str,
    "integer": int,
    "float": _number,
    "decimal": _number,
    "boolean": _boolean,
    "date": _iso_date,
    "datetime": _iso_datetime,
    "array": _array,
}


def load_manifests(root: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(root.glob("*.yaml")):
        with path.open() as fh:
            docs.extend(d for d in yaml.safe_load_all(fh) if d)
    return docs


def read_source(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".parquet":
        yield from pq.read_table(path).to_pylist()
    else:
        with path.open(newline="") as fh:
            yield from csv.DictReader(fh)


def load_desired(root: Path, docs: list[dict[str, Any]]) -> tuple[Users, dict[str, str]]:
    """{user: {attribute: typed value}}, and the on_exit of every audience attribute."""
    types = {
        a["name"]: a["type"].lower()
        for d in docs
        if d["kind"] == "AttributeSchema"
        for a in d["spec"]["attributes"]
    }
    users: Users = {}
    for d in (d for d in docs if d["kind"] == "AttributeSync"):
        spec = d["spec"]
        convert = {col: (attr, CONVERT[types[attr]]) for col, attr in spec["columns"].items()}
        for row in read_source(root / spec["source"]["path"]):
            profile = users.setdefault(str(row[spec["identifier_column"]]), {})
            for col, (attr, fn) in convert.items():
                if row.get(col) not in (None, ""):
                    profile[attr] = fn(row[col])
    on_exit = {}
    for d in (d for d in docs if d["kind"] == "AudienceMapping"):
        spec = d["spec"]
        attr = spec.get("attribute") or f"AIQ_{spec['audience_id']}_{spec['split_id']}"
        on_exit[attr] = spec.get("on_exit", "set_false")
        for row in read_source(root / spec["members"]["path"]):
            users.setdefault(row[spec["members"]["identifier_column"]], {})[attr] = True
    return users, on_exit


def new_events(root: Path, docs: list[dict[str, Any]], sent: set[str]) -> list[dict[str, Any]]:
    """Event objects of every EventStream whose id is not in the snapshot's sent ids."""
    out = []
    for d in (d for d in docs if d["kind"] == "EventStream"):
        spec, f = d["spec"], d["spec"]["fields"]
        with (root / spec["source"]["path"]).open() as fh:
            for line in fh:
                row = json.loads(line)
                if row[f["id"]] in sent:
                    continue
                out.append(
                    {
                        "id": row[f["id"]],
                        "external_id": row[f["identifier"]],
                        "name": row[f["name"]],
                        "time": row[f["time"]],
                        "properties": row.get(f.get("properties", ""), {}),
                    }
                )
    return out


def changed_cells(stored: Users, desired: Users) -> set[tuple[str, str]]:
    """Every (user, attribute) whose value differs, from DeepDiff's tree view."""
    diff = DeepDiff(stored, desired, view="tree")
    cells: set[tuple[str, str]] = set()
    for report in diff.values():
        for level in report:
            path = level.path(output_format="list")
            if len(path) >= 2:
                cells.add((path[0], path[1]))
                continue
            # a whole user appeared or disappeared, or (path []) everything did
            for user in path or {*stored, *desired}:
                cells.update((user, a) for a in {**stored.get(user, {}), **desired.get(user, {})})
    return cells


def wire(old: Any, new: Any, absent_old: bool, absent_new: bool, on_exit: str | None) -> Any:
    if absent_new:
        return False if on_exit == "set_false" else None
    if isinstance(new, list) and not absent_old:
        edit = {}
        if added := [v for v in new if v not in old]:
            edit["add"] = added
        if removed := [v for v in old if v not in new]:
            edit["remove"] = removed
        return edit
    return new


def data_points(value: Any) -> int:
    if isinstance(value, dict):
        return max(1, len(value.get("add", [])) + (1 if "remove" in value else 0))
    return 1


def payloads(
    cells: set[tuple[str, str]], stored: Users, desired: Users, on_exit: dict[str, str]
) -> list[dict[str, Any]]:
    """One /users/track attributes object per changed user."""
    objects: dict[str, dict[str, Any]] = {}
    for user, attr in sorted(cells):
        old, new = stored.get(user, {}), desired.get(user, {})
        value = wire(
            old.get(attr), new.get(attr), attr not in old, attr not in new, on_exit.get(attr)
        )
        objects.setdefault(user, {"external_id": user})[attr] = value
    return list(objects.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", type=Path)
    parser.add_argument("--state", type=Path, required=True, help="the JSON snapshot")
    parser.add_argument("--write-state", action="store_true", help="save desired as the snapshot")
    args = parser.parse_args()
    started = time.perf_counter()
    docs = load_manifests(args.manifests)
    desired, on_exit = load_desired(args.manifests, docs)
    snapshot = json.loads(args.state.read_text()) if args.state.exists() else {}
    stored: Users = snapshot.get("users", {})
    sent_ids: set[str] = set(snapshot.get("sent_events", []))
    loaded = time.perf_counter()
    cells = changed_cells(stored, desired)
    objects = payloads(cells, stored, desired, on_exit)
    events = new_events(args.manifests, docs, sent_ids)
    stream = [*objects, *({k: v for k, v in e.items() if k != "id"} for e in events)]
    requests = [
        stream[i : i + OBJECTS_PER_REQUEST] for i in range(0, len(stream), OBJECTS_PER_REQUEST)
    ]
    points = sum(data_points(v) for o in objects for k, v in o.items() if k != "external_id")
    out = {
        "changed_cells": len(cells),
        "data_points": points + len(events),
        "users": len(objects),
        "events": len(events),
        "requests": len(requests),
        "expected_requests": math.ceil(len(stream) / OBJECTS_PER_REQUEST),
        "load_seconds": round(loaded - started, 2),
        "diff_seconds": round(time.perf_counter() - loaded, 2),
    }
    if args.write_state:
        sent_ids.update(e["id"] for e in events)
        args.state.write_text(json.dumps({"users": desired, "sent_events": sorted(sent_ids)}))
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
