"""The diff: desired cells × ledger rows → per-user deltas, in DuckDB. No network, no manifests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from duckdb.sqltypes import BIGINT, VARCHAR

from reconciler.plan.cost import data_points
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
"""

# Each change as Braze receives it: `kind` (set | changed | unset, set_false counting as a
# change), the wire JSON text, the stored value to record (NULL: the row goes away) and its
# data points. An array that is not pii and already in the ledger changes by add/remove, so
# values other writers added are left alone.
_TYPED = """
CREATE TEMP TABLE changes AS
WITH c AS (
  SELECT *,
    CASE WHEN NOT wanted AND on_missing = 'set_false' THEN 'changed'
         WHEN NOT wanted OR ds IS NULL THEN 'unset'
         WHEN lv IS NULL THEN 'set' ELSE 'changed' END AS kind,
    (wanted AND ds IS NOT NULL AND lv IS NOT NULL AND a IN (SELECT unnest(?::VARCHAR[])))
      AS edit
  FROM (__CHANGES__)
), e AS (
  SELECT *,
    CASE WHEN edit THEN list_filter(from_json(dw, '["VARCHAR"]'),
         lambda x: NOT list_contains(from_json(lv, '["VARCHAR"]'), x)) END AS added,
    CASE WHEN edit THEN list_filter(from_json(lv, '["VARCHAR"]'),
         lambda x: NOT list_contains(from_json(dw, '["VARCHAR"]'), x)) END AS removed
  FROM c
)
SELECT k, u, a, lv, on_missing, wanted, kind,
  CASE WHEN NOT wanted AND on_missing = 'set_false' THEN 'false'
       WHEN kind = 'unset' THEN 'null'
       WHEN edit THEN '{' || concat_ws(',',
            CASE WHEN len(added) > 0 THEN '"add":' || to_json(added) END,
            CASE WHEN len(removed) > 0 THEN '"remove":' || to_json(removed) END) || '}'
       ELSE dw END AS wire,
  CASE WHEN NOT wanted AND on_missing = 'set_false' THEN 'false'
       WHEN kind = 'unset' THEN NULL ELSE ds END AS stored,
  CASE WHEN edit THEN greatest(1, len(added) + CAST(len(removed) > 0 AS INTEGER))
       WHEN kind <> 'unset' AND starts_with(dw, '{') THEN object_points(dw)
       ELSE 1 END AS points
FROM e
""".replace("__CHANGES__", _CHANGES)

# One spool line per user: [id_kind, user_id, {wire}, [[attribute, stored]…], [unset…], points]
_LINES = """
SELECT '[' || to_json(k) || ',' || to_json(u) || ',{'
    || string_agg(to_json(a) || ':' || wire, ',' ORDER BY a) || '},['
    || coalesce(string_agg('[' || to_json(a) || ',' || to_json(stored) || ']', ',' ORDER BY a)
                FILTER (WHERE stored IS NOT NULL), '') || '],['
    || coalesce(string_agg(to_json(a), ',' ORDER BY a) FILTER (WHERE stored IS NULL), '')
    || '],' || CAST(sum(points) AS VARCHAR) || ']' AS line,
  CAST(sum(points) AS BIGINT) AS points
FROM changes GROUP BY k, u ORDER BY k, u
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


def load_ledger(
    con: duckdb.DuckDBPyConnection,
    batches: Iterable[pa.RecordBatch],
    stop: threading.Event | None = None,
) -> None:
    """Copy the ledger into the work database batch by batch (it spills; Python holds one batch).

    The batches are pulled here, on the caller's thread, because the state backend's cursor
    must not be driven from DuckDB's worker threads.
    """
    con.execute(
        "CREATE TABLE ledger (id_kind VARCHAR, user_id VARCHAR, attribute VARCHAR, value VARCHAR)"
    )
    for batch in batches:
        if stop is not None and stop.is_set():
            return
        con.register("_ledger_batch", batch)
        con.execute(
            "INSERT INTO ledger SELECT CAST(id_kind AS VARCHAR), user_id, "
            "CAST(attribute AS VARCHAR), value FROM _ledger_batch"
        )
        con.unregister("_ledger_batch")


class LedgerPreload:
    """Loads the ledger into the work database on a thread while the sources are being typed.

    Both sides spend their time in C (SQLite's step and DuckDB release the GIL), so on two
    cores the plan's wall time drops by the shorter of the two. `join` re-raises what failed.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, batches: Iterable[pa.RecordBatch]):
        self._cursor = con.cursor()  # a DuckDB connection is used by one thread at a time
        self._batches = batches
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ledger-preload", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            load_ledger(self._cursor, self._batches, stop=self._stop)
        except BaseException as e:  # noqa: BLE001 - handed to join()
            self._error = e
        finally:
            self._cursor.close()

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def diff(
    con: duckdb.DuckDBPyConnection,
    ledger: Iterable[pa.RecordBatch] | None,
    policies: dict[str, Policy],
    hash_key: bytes,
) -> tuple[Iterator[tuple[str, int]], DiffResult]:
    """The changes, as spool lines (one per user, ordered by user) with their data points.

    `con` holds the table `desired(id_kind, user_id, attribute, canon, wire)`; `pii: true`
    attributes are compared by their keyed hash, computed here, so no raw pii value is ever
    compared with (or needs to be stored in) the ledger. Everything is set-based: only the
    lines themselves pass through Python, so a first sync of millions of cells stays fast.
    `ledger` None means a LedgerPreload already filled the table.
    """
    if ledger is not None:
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
    edited = sorted(p.attribute for p in policies.values() if p.is_array and not p.pii)

    def keyed(values: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else keyed_hash_text(hash_key, v) for v in values.to_pylist()],
            pa.string(),
        )

    def object_points(values: pa.Array) -> pa.Array:
        return pa.array([data_points(json.loads(v)) for v in values.to_pylist()], pa.int64())

    con.create_function("keyed_hash", keyed, [VARCHAR], VARCHAR, type="arrow")  # type: ignore[call-overload]
    con.create_function("object_points", object_points, [VARCHAR], BIGINT, type="arrow")  # type: ignore[call-overload]
    in_pii = "attribute IN (SELECT unnest(?::VARCHAR[]))"
    con.execute(
        "CREATE TEMP TABLE desired_stored AS SELECT id_kind, user_id, attribute, "
        f"CASE WHEN {in_pii} THEN keyed_hash(canon) ELSE canon END AS stored, "
        "coalesce(wire, canon) AS wire FROM desired",
        [pii],
    )
    con.execute(_TYPED, [edited])
    return _lines(con), _result(con)


def _result(con: duckdb.DuckDBPyConnection) -> DiffResult:
    result = DiffResult()
    for a, set_, changed, unset, points in con.execute(
        "SELECT a, count(*) FILTER (kind = 'set'), count(*) FILTER (kind = 'changed'), "
        "count(*) FILTER (kind = 'unset'), sum(points) FROM changes GROUP BY a"
    ).fetchall():
        result.counts[a] = Counts(set_, changed, unset, int(points))
    result.removed_attributes = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT a FROM changes WHERE kind = 'unset' AND on_missing IS NULL"
        ).fetchall()
    }
    rows = con.execute("SELECT count(*) FROM (SELECT DISTINCT k, u FROM changes)").fetchall()
    result.users = int(rows[0][0])
    # the first change (in user order) of each attribute, for up to MAX_SAMPLES attributes
    result.samples = [
        (u, a, lv or "", json.loads(wire))
        for u, a, lv, wire in con.execute(
            "SELECT u, a, lv, wire FROM (SELECT *, row_number() OVER "
            "(PARTITION BY a ORDER BY k, u) AS n FROM changes) WHERE n = 1 "
            f"ORDER BY k, u, a LIMIT {MAX_SAMPLES}"
        ).fetchall()
    ]
    return result


def _lines(con: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, int]]:
    cur = con.execute(_LINES)
    while rows := cur.fetchmany(10_000):
        yield from rows
