"""The diff: desired cells × ledger rows → per-user deltas, in DuckDB. No network, no manifests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from reconciler.plan.cost import data_points
from reconciler.plan.model import UserDelta

_SCHEMA = pa.schema(
    [
        ("id_kind", pa.string()),
        ("user_id", pa.string()),
        ("attribute", pa.string()),
        ("stored", pa.string()),
        ("wire", pa.string()),
    ]
)
_LEDGER = pa.schema(
    [
        ("id_kind", pa.string()),
        ("user_id", pa.string()),
        ("attribute", pa.string()),
        ("value", pa.string()),
    ]
)

# One row per cell that must change. on_missing: keep | unset | set_false; NULL = unmanaged.
_CHANGES = """
SELECT coalesce(d.id_kind, l.id_kind) AS k, coalesce(d.user_id, l.user_id) AS u,
       coalesce(d.attribute, l.attribute) AS a, d.stored AS ds, d.wire AS dw, l.value AS lv,
       (d.user_id IS NOT NULL) AS wanted, p.on_missing AS on_missing
FROM desired d
FULL OUTER JOIN ledger l
  ON d.id_kind = l.id_kind AND d.user_id = l.user_id AND d.attribute = l.attribute
LEFT JOIN policy p ON p.attribute = coalesce(d.attribute, l.attribute)
WHERE (d.user_id IS NOT NULL AND d.stored IS DISTINCT FROM l.value)
   OR (d.user_id IS NULL AND (p.on_missing IS NULL OR p.on_missing = 'unset'
       OR (p.on_missing = 'set_false' AND l.value <> 'false')))
ORDER BY k, u, a
"""


@dataclass(frozen=True)
class Policy:
    attribute: str
    on_missing: str
    pii: bool
    is_array: bool


@dataclass
class Counts:
    set: int = 0
    changed: int = 0
    unset: int = 0
    data_points: int = 0


MAX_SAMPLES = 5


@dataclass
class DiffResult:
    counts: dict[str, Counts] = field(default_factory=dict)
    removed_attributes: set[str] = field(default_factory=set)
    users: int = 0
    # (user, attribute, ledger value or "", wire value): the first change of up to 5 attributes
    samples: list[tuple[str, str, str, Any]] = field(default_factory=list)


def desired_batches(
    rows: Iterable[tuple[str, str, str, str | None, str | None]],
) -> Iterator[pa.RecordBatch]:
    """Arrow batches of (id_kind, user_id, attribute, stored, wire-json) rows."""
    chunk: list[tuple[str, str, str, str | None, str | None]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= 100_000:
            yield pa.RecordBatch.from_pylist(
                [dict(zip(_SCHEMA.names, r, strict=True)) for r in chunk], _SCHEMA
            )
            chunk = []
    yield pa.RecordBatch.from_pylist(
        [dict(zip(_SCHEMA.names, r, strict=True)) for r in chunk], _SCHEMA
    )


def diff(
    desired: Iterable[pa.RecordBatch],
    ledger: Iterable[pa.RecordBatch],
    policies: dict[str, Policy],
) -> tuple[Iterator[UserDelta], DiffResult]:
    """Stream the user deltas (ordered by user) and fill the per-attribute counts as they go."""
    con = duckdb.connect()
    con.register("desired", pa.Table.from_batches(list(desired), _SCHEMA))
    ledger_batches = list(ledger)
    con.register(
        "ledger",
        pa.Table.from_batches(ledger_batches) if ledger_batches else _LEDGER.empty_table(),
    )
    con.register(
        "policy",
        pa.table(
            {
                "attribute": [p.attribute for p in policies.values()],
                "on_missing": [p.on_missing for p in policies.values()],
            },
            schema=pa.schema([("attribute", pa.string()), ("on_missing", pa.string())]),
        ),
    )
    result = DiffResult()
    return _deltas(con, policies, result), result


def _deltas(
    con: duckdb.DuckDBPyConnection, policies: dict[str, Policy], result: DiffResult
) -> Iterator[UserDelta]:
    cur = con.execute(_CHANGES)
    current: tuple[str, str] | None = None
    cells: list[tuple[Any, ...]] = []
    while rows := cur.fetchmany(10_000):
        for row in rows:
            key = (row[0], row[1])
            if current is not None and key != current:
                yield _user_delta(current, cells, policies, result)
                cells = []
            current = key
            cells.append(row)
    if current is not None:
        yield _user_delta(current, cells, policies, result)
    con.close()


def _user_delta(
    key: tuple[str, str],
    cells: list[tuple[Any, ...]],
    policies: dict[str, Policy],
    result: DiffResult,
) -> UserDelta:
    attributes: dict[str, Any] = {}
    writes: list[tuple[str, str]] = []
    unsets: list[str] = []
    points = 0
    for _k, _u, attr, ds, dw, lv, wanted, on_missing in cells:
        counts = result.counts.setdefault(attr, Counts())
        policy = policies.get(attr)
        if not wanted and on_missing == "set_false":
            wire: Any = False
            writes.append((attr, "false"))
            counts.changed += 1
        elif not wanted or ds is None:
            wire = None
            unsets.append(attr)
            counts.unset += 1
            if on_missing is None:
                result.removed_attributes.add(attr)
        else:
            wire = json.loads(dw)
            writes.append((attr, ds))
            if lv is None:
                counts.set += 1
            else:
                counts.changed += 1
                if policy is not None and policy.is_array and not policy.pii:
                    wire = _array_edit(json.loads(lv), wire)
        attributes[attr] = wire
        if len(result.samples) < MAX_SAMPLES and all(s[1] != attr for s in result.samples):
            result.samples.append((key[1], attr, lv or "", wire))
        cost = data_points(wire)
        counts.data_points += cost
        points += cost
    result.users += 1
    return UserDelta(key[0], key[1], attributes, tuple(writes), tuple(unsets), points)


def _array_edit(old: list[Any], new: list[Any]) -> dict[str, list[Any]]:
    """An array change as Braze's add/remove, so values other writers added are left alone."""
    edit: dict[str, list[Any]] = {}
    added = [v for v in new if v not in old]
    removed = [v for v in old if v not in new]
    if added:
        edit["add"] = added
    if removed:
        edit["remove"] = removed
    return edit
