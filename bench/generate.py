"""Generate a synthetic workspace, a churned copy of it, and the ground truth of what changed.

    .venv/bin/python bench/generate.py --users 100000 --attributes 20 --audiences 4 \
        --churn 1 --seed 7 /tmp/bench-100k

writes OUT/original/ and OUT/churned/ (two manifests directories in our manifest language:
Workspace with generous guards, two Integrations, an AttributeSchema mixing all the attribute
types including arrays and a pii string, one AttributeSync from Parquet or CSV, and A ActionIQ
AudienceMappings with CSV member files) and OUT/ground_truth.json.

Churn, for P percent:
- exactly round(P% of users x attributes) AttributeSync cells change, each to a value whose
  canonical form differs (an array cell gains one value or loses one, so every changed cell
  is exactly one Braze data point);
- in every audience, round(P% of its members) leave and as many non-members join;
- about P% of the untouched array cells are written in another order, which is NOT a change
  (Braze arrays are compared as sets), so a reconciler that diffs raw lists over-counts.
Rows of both source files come in a different random order, as warehouse exports do.

The ground truth: changed cells (= expected data points), changed users, expected requests
(ceil(changed users / 75)), and per-attribute set/changed/unset counts, plus the same for the
first sync of the original.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

OBJECTS_PER_REQUEST = 75
KINDS = (
    "enum",
    "integer",
    "float",
    "boolean",
    "date",
    "datetime",
    "decimal",
    "varchar",
    "array",
    "pii",
)
TIERS = ["bronze", "silver", "gold", "platinum"]
ARRAY_VOCAB = [f"cal-{k:02d}/{(k * 2654435761) % 2**32:08x}" for k in range(16)]
ARRAY_BITS = len(ARRAY_VOCAB)
AUDIENCE_SHARES = (0.10, 0.25, 0.40, 0.05)
DATE_EPOCH = np.datetime64("1950-01-01", "D")
DATETIME_EPOCH = np.datetime64("2020-01-01T00:00:00", "s")


# --- columns: each kind is a numeric code array, a change rule and a renderer ------------------


@dataclass(frozen=True)
class Column:
    index: int
    kind: str

    @property
    def source(self) -> str:
        return f"col_{self.index:02d}"

    @property
    def attribute(self) -> str:
        return f"bench_{self.index:02d}_{self.kind}"

    def schema(self) -> str:
        name = self.attribute
        extra = {
            "enum": f"type: String, enum: [{', '.join(TIERS)}]",
            "integer": "type: Integer",
            "float": "type: Float",
            "boolean": "type: Boolean",
            "date": "type: Date",
            "datetime": "type: Datetime",
            "decimal": "type: Decimal",
            "varchar": "type: Varchar, max_length: 64",
            "array": f"type: array, max_length: {ARRAY_BITS}",
            "pii": "type: String, pii: true",
        }[self.kind]
        return f"    - {{name: {name}, {extra}}}"

    def initial(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "array":
            return _random_masks(rng, n)
        high = {
            "enum": len(TIERS),
            "integer": 1_000_000,
            "float": 400_000,
            "boolean": 2,
            "date": 25_000,
            "datetime": 150_000_000,
            "decimal": 10_000_000,
            "varchar": 5_000,
            "pii": 1_000_000_000,
        }[self.kind]
        return rng.integers(0, high, n, dtype=np.int64)

    def change(self, rng: np.random.Generator, codes: np.ndarray) -> tuple[np.ndarray, int, int]:
        """New codes that all differ from `codes`; for arrays also (adds, removes)."""
        n = len(codes)
        if self.kind == "array":
            return _edit_masks(rng, codes)
        if self.kind == "enum":
            new = (codes + rng.integers(1, len(TIERS), n)) % len(TIERS)
        elif self.kind == "boolean":
            new = 1 - codes
        elif self.kind == "varchar":
            new = (codes + rng.integers(1, 5_000, n)) % 5_000
        else:
            new = codes + rng.integers(1, 1_000, n)
        return new, 0, 0

    def render(self, codes: np.ndarray, fmt: str, reversed_rows: np.ndarray | None) -> pa.Array:
        """The source column as Parquet or CSV would hold it (CSV: arrays as JSON text)."""
        codes_arr = pa.array(codes)
        if self.kind == "enum":
            return pc.take(pa.array(TIERS), codes_arr)
        if self.kind == "integer":
            return codes_arr
        if self.kind == "float":
            return pa.array(codes * 0.25)  # quarters: exact in binary and in CSV text
        if self.kind == "boolean":
            return pa.array(codes.astype(bool))
        if self.kind == "date":
            return pa.array(DATE_EPOCH + codes.astype("timedelta64[D]"))
        if self.kind == "datetime":
            stamps = pa.array(DATETIME_EPOCH + codes.astype("timedelta64[s]"))
            return pc.strftime(stamps, "%Y-%m-%dT%H:%M:%SZ") if fmt == "csv" else stamps
        if self.kind == "decimal":
            units = pc.cast(pa.array(codes // 100), pa.string())
            cents = pc.utf8_lpad(pc.cast(pa.array(codes % 100), pa.string()), 2, "0")
            return pc.binary_join_element_wise(units, cents, ".")
        if self.kind == "varchar":
            return _prefixed("store-", codes)
        if self.kind == "pii":
            return pc.binary_join_element_wise(_prefixed("user", codes), "example.com", "@")
        return _render_masks(codes, fmt, reversed_rows)


def _prefixed(prefix: str, codes: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(codes), pa.string()), "")


def _popcount(masks: np.ndarray) -> np.ndarray:
    counts: np.ndarray = ((masks[:, None] >> np.arange(ARRAY_BITS)) & 1).sum(axis=1)
    return counts


def _random_masks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Arrays of 1 to 5 distinct vocabulary values."""
    masks = np.zeros(n, dtype=np.int64)
    for _ in range(5):
        masks |= 1 << rng.integers(0, ARRAY_BITS, n)
    return masks


def _edit_masks(rng: np.random.Generator, masks: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Each array gains one value or (when it has two or more) loses one: one data point each."""
    new = masks.copy()
    remove = (rng.random(len(masks)) < 0.5) & (_popcount(masks) >= 2)
    pick = rng.random((len(masks), ARRAY_BITS))  # choose a random set (remove) or unset bit
    bits = (masks[:, None] >> np.arange(ARRAY_BITS)) & 1
    candidates = np.where(remove[:, None], bits == 1, bits == 0)
    chosen = np.argmax(np.where(candidates, pick, -1.0), axis=1)
    new ^= np.int64(1) << chosen
    return new, int((~remove).sum()), int(remove.sum())


def _render_masks(masks: np.ndarray, fmt: str, reversed_rows: np.ndarray | None) -> pa.Array:
    bits = ((masks[:, None] >> np.arange(ARRAY_BITS)) & 1).astype(bool)
    rows, cols = np.nonzero(bits)
    if reversed_rows is not None and reversed_rows.any():
        key = rows * ARRAY_BITS + np.where(reversed_rows[rows], ARRAY_BITS - 1 - cols, cols)
        cols = cols[np.argsort(key, kind="stable")]
    offsets = np.concatenate([[0], np.cumsum(bits.sum(axis=1))]).astype(np.int32)
    vocab = [json.dumps(v) for v in ARRAY_VOCAB] if fmt == "csv" else ARRAY_VOCAB
    values = pc.take(pa.array(vocab), pa.array(cols))
    lists = pa.ListArray.from_arrays(pa.array(offsets), values)
    if fmt != "csv":
        return lists
    inner = pc.binary_join(lists, ",")
    return pc.binary_join_element_wise("[", inner, "]", "")


def columns_for(m: int) -> list[Column]:
    return [Column(i, KINDS[i % len(KINDS)]) for i in range(m)]


# --- the workspace --------------------------------------------------------------------------


@dataclass
class Audience:
    audience_id: str
    on_exit: str
    members: np.ndarray  # bool per user, original
    churned: np.ndarray  # bool per user, churned copy

    @property
    def attribute(self) -> str:
        return f"AIQ_{self.audience_id}_1"

    @property
    def path(self) -> str:
        return f"data/aiq_{self.audience_id}_1.csv"


@dataclass
class Truth:
    """Counts of what the churned copy changes, by construction."""

    per_attribute: dict[str, dict[str, int]] = field(default_factory=dict)
    changed_users: np.ndarray | None = None
    array_adds: int = 0
    array_removes: int = 0
    array_reorders: int = 0

    def count(self, attribute: str, how: str, n: int) -> None:
        counts = self.per_attribute.setdefault(attribute, {"set": 0, "changed": 0, "unset": 0})
        counts[how] += n


EVENT_DOCS = """apiVersion: reconciler/v1
kind: EventSchema
metadata: {name: bench-events}
spec:
  integration: actioniq
  events:
    - name: bench_viewed
      properties: {sku: {type: string, required: true}, price: {type: float}}
    - name: bench_carted
      properties: {cart_value: {type: float, required: true}, items: {type: integer}}
---
apiVersion: reconciler/v1
kind: EventStream
metadata: {name: bench-events}
spec:
  integration: actioniq
  source: {path: data/events.jsonl}
  fields:
    id: event_id
    name: event_name
    identifier: external_id
    time: timestamp
    properties: properties
  retention_days: 30"""


def manifests_text(
    cols: list[Column], audiences: list[Audience], source: str, events: bool = False
) -> str:
    docs = [
        """apiVersion: reconciler/v1
kind: Workspace
metadata: {name: bench}
spec:
  instance: US-03
  api_key_env: BRAZE_API_KEY
  guards:                          # generous: a first sync of 10M users must not trip them
    max_data_points: 1000000000000
    max_audience_flip_pct: 100""",
        """apiVersion: reconciler/v1
kind: Integration
metadata: {name: amperity, description: synthetic customer attributes}
spec: {partner: amperity, identifier: external_id}""",
        """apiVersion: reconciler/v1
kind: Integration
metadata: {name: actioniq, description: synthetic audiences}
spec: {partner: actioniq, identifier: external_id, owns: ["AIQ_*"]}""",
        "apiVersion: reconciler/v1\nkind: AttributeSchema\nmetadata: {name: bench-profile}\n"
        "spec:\n  integration: amperity\n  attributes:\n" + "\n".join(c.schema() for c in cols),
        "apiVersion: reconciler/v1\nkind: AttributeSync\nmetadata: {name: bench-profile}\n"
        f"spec:\n  integration: amperity\n  source: {{path: {source}}}\n"
        "  identifier_column: external_id\n  on_missing_row: keep\n  columns:\n"
        + "\n".join(f"    {c.source}: {c.attribute}" for c in cols),
    ]
    for a in audiences:
        docs.append(
            "apiVersion: reconciler/v1\nkind: AudienceMapping\n"
            f"metadata: {{name: aiq-{a.audience_id}}}\n"
            f'spec:\n  integration: actioniq\n  audience_id: "{a.audience_id}"\n'
            f'  split_id: "1"\n  members: {{path: {a.path}, identifier_column: external_id}}\n'
            f"  on_exit: {a.on_exit}"
        )
    if events:
        docs.append(EVENT_DOCS)
    header = "# Generated by bench/generate.py: a synthetic workspace for the benchmarks.\n"
    return header + "\n---\n".join(docs) + "\n"


def user_ids(users: np.ndarray) -> pa.Array:
    """`bench-00000042` for user 42."""
    digits = pc.cast(pa.array(users), pa.string())
    return pc.binary_join_element_wise("bench-", pc.utf8_lpad(digits, 8, "0"), "")


CHUNK_ROWS = 262_144  # rows rendered and written at a time: memory stays flat at 10M users


def write_source(
    path: Path,
    fmt: str,
    cols: list[Column],
    codes: list[np.ndarray],
    reordered: list[np.ndarray | None],
    order: np.ndarray,
) -> None:
    """The AttributeSync source, rows in `order`, rendered and written a chunk at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    try:
        for start in range(0, len(order), CHUNK_ROWS):
            users = order[start : start + CHUNK_ROWS]
            data = {"external_id": user_ids(users)}
            for col, c, r in zip(cols, codes, reordered, strict=True):
                data[col.source] = col.render(c[users], fmt, None if r is None else r[users])
            table = pa.table(data)
            if writer is None:
                writer = (
                    pq.ParquetWriter(path, table.schema, compression="zstd")
                    if fmt == "parquet"
                    else pacsv.CSVWriter(path, table.schema)
                )
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def write_members(path: Path, members: np.ndarray, rng: np.random.Generator) -> None:
    chosen = np.flatnonzero(members)
    rng.shuffle(chosen)
    pacsv.write_csv(pa.table({"external_id": user_ids(chosen)}), path)


@dataclass(frozen=True)
class Options:
    users: int
    attributes: int
    audiences: int
    churn: float
    seed: int
    fmt: str
    out: Path
    events: int = 0  # events in the original's stream
    new_events: int = 0  # events the churned copy's stream adds
    shares: tuple[float, ...] = AUDIENCE_SHARES  # each audience's share of users, in turn


def generate(opts: Options, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write OUT/original, OUT/churned and OUT/ground_truth.json; return the ground truth."""
    started = time.perf_counter()
    rng = np.random.default_rng(opts.seed)
    n, cols = opts.users, columns_for(opts.attributes)
    truth = Truth(changed_users=np.zeros(n, dtype=bool))
    assert truth.changed_users is not None
    total_cells = n * len(cols)
    k = round(total_cells * opts.churn / 100)
    flat = _distinct_sample(rng, total_cells, k)
    cell_rows, cell_cols = flat // len(cols), flat % len(cols)
    truth.changed_users[cell_rows] = True

    # Per column: the original codes, the churned codes, and (arrays) the reordered rows.
    original: list[np.ndarray] = []
    churned: list[np.ndarray] = []
    reordered: list[np.ndarray | None] = []
    for j, col in enumerate(cols):
        codes = col.initial(rng, n)
        rows = cell_rows[cell_cols == j]
        new_codes = codes.copy()
        new_codes[rows], adds, removes = col.change(rng, codes[rows])
        truth.count(col.attribute, "changed", len(rows))
        truth.array_adds += adds
        truth.array_removes += removes
        shuffled = None
        if col.kind == "array":
            untouched = np.ones(n, dtype=bool)
            untouched[rows] = False
            shuffled = untouched & (rng.random(n) < opts.churn / 100) & (_popcount(codes) >= 2)
            truth.array_reorders += int(shuffled.sum())
        original.append(codes)
        churned.append(new_codes)
        reordered.append(shuffled)

    audiences = _audiences(rng, opts, truth)
    source = f"data/profile.{opts.fmt}"
    in_order: list[np.ndarray | None] = [None] * len(cols)
    copies = (("original", original, in_order), ("churned", churned, reordered))
    for name, codes_of, reordered_of in copies:
        root = opts.out / name
        order = rng.permutation(n)
        write_source(root / source, opts.fmt, cols, codes_of, reordered_of, order)
        (root / "workspace.yaml").write_text(
            manifests_text(cols, audiences, source, events=bool(opts.events or opts.new_events))
        )
        for a in audiences:
            write_members(root / a.path, a.members if name == "original" else a.churned, rng)
    event_users = _write_events(rng, opts)
    result = _ground_truth(opts, cols, audiences, truth, k, event_users)
    (opts.out / "ground_truth.json").write_text(json.dumps(result, indent=2) + "\n")
    log(
        f"generated {n:,} users x {len(cols)} attributes, {len(audiences)} audiences, "
        f"{opts.churn}% churn in {time.perf_counter() - started:.1f} s: "
        f"{result['changed_cells']:,} changed cells, {result['changed_users']:,} users"
    )
    return result


def _write_events(rng: np.random.Generator, opts: Options) -> np.ndarray:
    """The event streams: the churned copy's is the original's plus `new_events` new lines.

    Times are within the last two days (inside the 30-day retention). Returns each event's user.
    """
    total = opts.events + opts.new_events
    users = rng.integers(0, opts.users, total)
    if not total:
        return users
    now = int(time.time())
    stamps = now - rng.integers(60, 2 * 86_400, total)
    carted = rng.random(total) < 0.3
    amounts = rng.integers(1, 40_000, total) * 0.25
    lines = []
    for i in range(total):
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(stamps[i])))
        if carted[i]:
            name, props = "bench_carted", {"cart_value": amounts[i], "items": i % 7 + 1}
        else:
            name, props = "bench_viewed", {"sku": f"SKU-{i % 5000}", "price": amounts[i]}
        event = {
            "event_id": f"ev-{i:09d}",
            "event_name": name,
            "external_id": f"bench-{users[i]:08d}",
            "timestamp": when,
            "properties": props,
        }
        lines.append(json.dumps(event) + "\n")
    (opts.out / "original" / "data" / "events.jsonl").write_text("".join(lines[: opts.events]))
    (opts.out / "churned" / "data" / "events.jsonl").write_text("".join(lines))
    return users


@dataclass(frozen=True)
class Packing:
    requests: int
    carrying_events: int  # requests with events: each also carries one marker data point
    marker_objects: int  # requests with events but no attribute object: the marker's own


def pack_counts(attribute_users: np.ndarray, event_users: np.ndarray) -> Packing:
    """Requests under the combined 75-object limit, as docs/plan.md states the packing rule.

    One attribute object per user; the streams are merged by user, a user's attribute object
    before that user's events; a request with events carries one marker value, in an object of
    its own when the request has no attribute object. Requests fill up to 75 objects.
    """
    keys = np.sort(np.concatenate([attribute_users * 2, event_users * 2 + 1]))
    requests = carrying = markers = 0
    attrs = evs = 0

    def objects(a: int, e: int) -> int:
        return a + e + (1 if e and not a else 0)

    def flush() -> None:
        nonlocal requests, carrying, markers, attrs, evs
        requests += 1
        carrying += 1 if evs else 0
        markers += 1 if evs and not attrs else 0
        attrs = evs = 0

    for is_event in (keys & 1).tolist():
        if is_event:
            if objects(attrs, evs + 1) > OBJECTS_PER_REQUEST:
                flush()
            evs += 1
        else:
            if objects(attrs + 1, evs) > OBJECTS_PER_REQUEST:
                flush()
            attrs += 1
    if attrs or evs:
        flush()
    return Packing(requests, carrying, markers)


def _expected(cells: int, users: np.ndarray, events: np.ndarray) -> dict[str, int]:
    """What a plan and its apply must count: data points, requests, objects accepted."""
    packing = pack_counts(users, events)
    return {
        "changed_cells": cells,
        "changed_users": len(users),
        "events": len(events),
        "expected_data_points": cells + len(events) + packing.carrying_events,
        "expected_requests": packing.requests,
        "expected_objects": len(users) + len(events) + packing.marker_objects,
        "requests_carrying_events": packing.carrying_events,
        "requests_if_attributes_only": math.ceil(len(users) / OBJECTS_PER_REQUEST),
        "requests_unmarked": math.ceil((len(users) + len(events)) / OBJECTS_PER_REQUEST),
    }


def _distinct_sample(rng: np.random.Generator, population: int, k: int) -> np.ndarray:
    """k distinct indices below `population`, without materialising a permutation of it."""
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k > population // 4:
        return rng.permutation(population)[:k].astype(np.int64)
    picked = np.unique(rng.integers(0, population, int(k * 1.1) + 16, dtype=np.int64))
    while len(picked) < k:
        more = rng.integers(0, population, k, dtype=np.int64)
        picked = np.unique(np.concatenate([picked, more]))
    return rng.permutation(picked)[:k]


def _audiences(rng: np.random.Generator, opts: Options, truth: Truth) -> list[Audience]:
    assert truth.changed_users is not None
    out = []
    for a in range(opts.audiences):
        share = opts.shares[a % len(opts.shares)]
        members = rng.random(opts.users) < share
        inside, outside = np.flatnonzero(members), np.flatnonzero(~members)
        flips = min(round(len(inside) * opts.churn / 100), len(outside))
        leave = rng.choice(inside, flips, replace=False)
        join = rng.choice(outside, flips, replace=False)
        churned = members.copy()
        churned[leave] = False
        churned[join] = True
        truth.changed_users[leave] = True
        truth.changed_users[join] = True
        on_exit = "set_false" if a % 2 == 0 else "unset"
        audience = Audience(str(90_001 + a), on_exit, members, churned)
        truth.count(audience.attribute, "set", flips)
        truth.count(audience.attribute, "changed" if on_exit == "set_false" else "unset", flips)
        out.append(audience)
    return out


def _ground_truth(
    opts: Options,
    cols: list[Column],
    audiences: list[Audience],
    truth: Truth,
    sync_cells: int,
    event_users: np.ndarray,
) -> dict[str, Any]:
    assert truth.changed_users is not None
    changed_cells = sum(sum(c.values()) for c in truth.per_attribute.values())
    members = {a.attribute: int(a.members.sum()) for a in audiences}
    first_cells = opts.users * len(cols) + sum(members.values())
    churn = _expected(
        changed_cells, np.flatnonzero(truth.changed_users), event_users[opts.events :]
    )
    first = _expected(first_cells, np.arange(opts.users), event_users[: opts.events])
    return {
        "users": opts.users,
        "attributes": len(cols),
        "audiences": len(audiences),
        "churn_pct": opts.churn,
        "seed": opts.seed,
        "format": opts.fmt,
        "attribute_names": [c.attribute for c in cols] + [a.attribute for a in audiences],
        "changed_sync_cells": sync_cells,
        "audience_flips": {a.attribute: int((a.members != a.churned).sum()) for a in audiences},
        "array_adds": truth.array_adds,
        "array_removes": truth.array_removes,
        "array_reorders_not_changes": truth.array_reorders,
        # every changed cell is one data point; each event one more, and one marker value
        # per request that carries events
        **churn,
        "per_attribute": dict(sorted(truth.per_attribute.items())),
        "first_sync": {
            **first,
            "audience_members": members,
            "per_attribute": {
                **{c.attribute: {"set": opts.users, "changed": 0, "unset": 0} for c in cols},
                **{a: {"set": m, "changed": 0, "unset": 0} for a, m in members.items()},
            },
        },
    }


def validate(root: Path) -> None:
    """`reconciler validate` on a generated copy: the generator must write valid manifests."""
    for name in ("original", "churned"):
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "validate", "--manifests", str(root / name)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"generated {name} does not validate:\n{done.stdout}{done.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--attributes", type=int, default=20)
    parser.add_argument("--audiences", type=int, default=4)
    parser.add_argument("--churn", type=float, default=1.0, help="percent of cells that change")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", dest="fmt", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--events", type=int, default=0, help="events in the original stream")
    parser.add_argument(
        "--new-events", type=int, default=None, help="events the churned stream adds (events/10)"
    )
    parser.add_argument(
        "--audience-shares",
        default=",".join(str(s) for s in AUDIENCE_SHARES),
        help="each audience's share of users, in turn (the issue's CSV run: 0.33,0.20)",
    )
    parser.add_argument("--no-validate", action="store_true", help="skip `reconciler validate`")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    shares = tuple(float(s) for s in args.audience_shares.split(","))
    if not shares or not all(0 < s < 1 for s in shares):
        parser.error("--audience-shares: fractions between 0 and 1, comma-separated")
    if args.users < 1 or args.attributes < 1 or not 0 <= args.churn <= 100:
        parser.error("need --users >= 1, --attributes >= 1 and 0 <= --churn <= 100")
    new_events = args.events // 10 if args.new_events is None else args.new_events
    opts = Options(
        args.users,
        args.attributes,
        args.audiences,
        args.churn,
        args.seed,
        args.fmt,
        args.out,
        args.events,
        new_events,
        shares,
    )
    generate(opts)
    if not args.no_validate:
        validate(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
