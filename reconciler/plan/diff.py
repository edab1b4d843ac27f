"""The diff: desired cells × ledger rows → per-user deltas, in DuckDB. No network, no manifests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from duckdb.sqltypes import VARCHAR

from reconciler.plan.cost import data_points
from reconciler.plan.model import UserDelta
from reconciler.state.values import keyed_hash_text

# One row per cell that must change. on_missing: keep | unset | set_false; NULL = unmanaged.
_CHANGES = """
SELECT coalesce(d.id_kind, l.id_kind) AS k, coalesce(d.user_id, l.user_id) AS u,
       coalesce(d.attribute, l.attribute) AS a, d.stored AS ds, d.wire AS dw, l.value AS lv,
       (d.user_id IS NOT NULL) AS wanted, p.on_missing AS on_missing
FROM desired_stored d
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


def load_ledger(con: duckdb.DuckDBPyConnection, batches: Iterable[pa.RecordBatch]) -> None:
    """Copy the ledger into the work database batch by batch (it spills; Python holds one batch).

    The batches are pulled here, on the caller's thread, because the state backend's cursor
    must not be driven from DuckDB's worker threads.
    """
    con.execute(
        "CREATE TABLE ledger (id_kind VARCHAR, user_id VARCHAR, attribute VARCHAR, value VARCHAR)"
    )
    for batch in batches:
        con.register("_ledger_batch", batch)
        con.execute(
            "INSERT INTO ledger SELECT CAST(id_kind AS VARCHAR), user_id, "
            "CAST(attribute AS VARCHAR), value FROM _ledger_batch"
        )
        con.unregister("_ledger_batch")


def diff(
    con: duckdb.DuckDBPyConnection,
    ledger: Iterable[pa.RecordBatch],
    policies: dict[str, Policy],
    hash_key: bytes,
) -> tuple[Iterator[UserDelta], DiffResult]:
    """Stream the user deltas (ordered by user) and fill the per-attribute counts as they go.

    `con` holds the table `desired(id_kind, user_id, attribute, canon, wire)`; `pii: true`
    attributes are compared by their keyed hash, computed here, so no raw pii value is ever
    compared with (or needs to be stored in) the ledger.
    """
    load_ledger(con, ledger)
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
    pii = sorted(p.attribute for p in policies.values() if p.pii)

    def keyed(values: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else keyed_hash_text(hash_key, v) for v in values.to_pylist()],
            pa.string(),
        )

    con.create_function("keyed_hash", keyed, [VARCHAR], VARCHAR, type="arrow")
    in_pii = "attribute IN (SELECT unnest(?::VARCHAR[]))"
    con.execute(
        "CREATE TEMP TABLE desired_stored AS SELECT id_kind, user_id, attribute, "
        f"CASE WHEN {in_pii} THEN keyed_hash(canon) ELSE canon END AS stored, "
        "coalesce(wire, canon) AS wire FROM desired",
        [pii],
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
