"""The columnar ledger as DuckDB sees it: a wide snapshot overlaid with the log of batches.

Storage (both backends, docs/state.md): one Parquet snapshot with one row per user and one
column per attribute (`c0…cN`, named by the snapshot's attribute list, since DuckDB column
names are case-insensitive where Braze attribute names are not), plus an append-only log of
cell blobs (cells.py) written after it. `stored` is the view every reader uses:

    stored(id_kind, user_id, serial, c0 … cN)

where `serial` is the batch that last wrote any of the user's cells and each cN is the stored
value (values.py), NULL for none, or cells.DOUBT. The log is overlaid cell by cell, the latest
entry winning, so a plan never needs the log to have been folded in; compaction (`compact`)
writes `stored` back out as the next snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from reconciler.state.base import ID_KINDS
from reconciler.state.cells import DOUBT, LedgerDamaged, SpooledLog

if TYPE_CHECKING:  # DuckDB loads with the first plan or compaction, not with the state
    import duckdb


@dataclass(frozen=True)
class SnapshotInfo:
    """The current snapshot: which attribute each column holds, and up to which log entry."""

    attributes: tuple[str, ...]
    serial: int  # the state serial it reflects
    upto_seq: int  # log entries with seq <= this are folded in
    rows: int
    chunks: int
    # the snapshot keeps each row's S (`row_hash_sql`) in column `rh`, written by a DuckDB whose
    # hash gave this probe (`row_hash_probe`); None: no such column (older snapshots)
    row_hash: int | None = None
    # CRC-32 of the file's bytes, checked as it is read back: a damaged page can decompress
    # into other values without an error, and the plan would then trust them; None: not kept
    # (older snapshots)
    crc32: int | None = None


@dataclass(frozen=True)
class LedgerParts:
    """What a reader needs to build `stored`: the materialised snapshot and the log's tables."""

    snapshot: Path | None
    info: SnapshotInfo | None
    log: SpooledLog  # cells with their seq, in log order


def kind_order(column: str = "id_kind") -> str:
    """Sort key of an id kind as the backends always ordered them (base.ID_KINDS order)."""
    kinds = ", ".join(quote(k) for k in ID_KINDS)
    return f"list_position([{kinds}], {column})"


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def col(i: int) -> str:
    return f"c{i}"


ROW_HASH_SEED = "reconciler:row-hash/1"


def row_hash_sql(cells: Sequence[tuple[str, str]]) -> str:
    """S of a ledger row: the XOR of hash(attribute, value) over its cells that hold a value.

    `cells` are (attribute name, SQL expression of its stored value). S needs neither an order
    nor the manifests: compaction keeps it in the snapshot (column `rh`), so a plan reads one
    column instead of hashing every cell, and a plan computes what S will be once applied from
    the managed attributes alone (plan/digests.py). Cells in doubt count with their mark.
    """
    terms = [
        f"CASE WHEN ({v}) IS NULL THEN 0::UBIGINT ELSE hash({quote(a)}, ({v})::VARCHAR) END"
        for a, v in cells
    ]
    if not terms:
        return "0::UBIGINT"
    expr = terms[0]
    for term in terms[1:]:
        expr = f"xor({expr}, {term})"
    return expr


def row_hash_probe(con: duckdb.DuckDBPyConnection) -> int:
    """What this DuckDB's hash makes of a fixed cell: a snapshot's `rh` is read only when it was
    written by a hash that agrees (another DuckDB may hash otherwise)."""
    row = con.execute(f"SELECT {row_hash_sql([(ROW_HASH_SEED, quote(ROW_HASH_SEED))])}").fetchone()
    assert row is not None
    return int(row[0])


def register_stored(
    con: duckdb.DuckDBPyConnection, parts: LedgerParts, prefix: str = ""
) -> tuple[str, ...]:
    """Create the view `<prefix>stored`; return the attribute each column c0… holds.

    The log is copied into DuckDB table by table (it spills), so memory stays bounded even
    when a first sync's twenty million cells have not been compacted yet; its attributes come
    from the spool's summary, not from a scan.
    """
    p = prefix
    snap_attrs = parts.info.attributes if parts.info else ()
    log_attrs = sorted(parts.log.attributes)
    attributes = tuple(snap_attrs) + tuple(a for a in log_attrs if a not in set(snap_attrs))
    cols = [col(i) for i in range(len(attributes))]
    if parts.snapshot is not None:
        snap = f"read_parquet({quote(str(parts.snapshot))})"
        snap_cols = [f"{col(i)}" for i in range(len(snap_attrs))]
        extra = [f"NULL::VARCHAR AS {c}" for c in cols[len(snap_attrs) :]]
        snap_sql = f"SELECT id_kind, user_id, serial, {', '.join(snap_cols + extra)} FROM {snap}"
    else:
        nulls = ", ".join(f"NULL::VARCHAR AS {c}" for c in cols)
        snap_sql = (
            "SELECT NULL::VARCHAR AS id_kind, NULL::VARCHAR AS user_id, 0::BIGINT AS serial"
            + (f", {nulls}" if nulls else "")
            + " WHERE false"
        )
    every = row_hash_sql([(a, col(i)) for i, a in enumerate(attributes)])
    kept = parts.info.row_hash if parts.info is not None else None
    # the snapshot's `rh` is S as this DuckDB hashes it
    has_rh = parts.snapshot is not None and kept is not None and kept == row_hash_probe(con)
    if not log_attrs:
        con.execute(f"CREATE OR REPLACE VIEW {p}stored AS {snap_sql}")
        if has_rh:
            hashes = f"SELECT id_kind, user_id, rh AS s FROM {snap}"
        else:
            hashes = f"SELECT id_kind, user_id, {every} AS s FROM {p}stored"
        con.execute(f"CREATE OR REPLACE VIEW {p}stored_hash AS {hashes}")
        return attributes
    in_log = set(log_attrs)
    load_overlay(con, parts.log, {a: i for i, a in enumerate(attributes) if a in in_log}, p)
    merged = []
    for i, a in enumerate(attributes):
        if a in in_log:
            merged.append(
                f"CASE WHEN o.o{i} IS NULL THEN s.{col(i)} WHEN o.o{i} = {quote(UNSET)} "
                f"THEN NULL ELSE o.o{i} END AS {col(i)}"
            )
        else:
            merged.append(f"s.{col(i)} AS {col(i)}")
    con.execute(
        f"CREATE OR REPLACE VIEW {p}stored AS SELECT "
        "coalesce(s.id_kind, o.id_kind) AS id_kind, coalesce(s.user_id, o.user_id) AS user_id, "
        "greatest(coalesce(s.serial, 0), coalesce(o.serial, 0)) AS serial, "
        f"{', '.join(merged)} FROM ({snap_sql}) s FULL OUTER JOIN {p}overlay o "
        "ON s.id_kind = o.id_kind AND s.user_id = o.user_id"
    )
    # with a log to overlay, S is computed for the users it touches (the snapshot's `rh`
    # predates their entries) and read from `rh` for the others
    if has_rh:
        hashes = (
            f"SELECT s.id_kind, s.user_id, s.rh AS s FROM {snap} s ANTI JOIN {p}overlay o "
            "ON s.id_kind = o.id_kind AND s.user_id = o.user_id UNION ALL "
            f"SELECT id_kind, user_id, {every} AS s FROM {p}stored t SEMI JOIN {p}overlay o "
            "ON t.id_kind = o.id_kind AND t.user_id = o.user_id"
        )
    else:
        hashes = f"SELECT id_kind, user_id, {every} AS s FROM {p}stored"
    con.execute(f"CREATE OR REPLACE VIEW {p}stored_hash AS {hashes}")
    return attributes


# An unset in the log, as the overlay holds it (NULL there is "no cell in the log"): never a
# stored value, which is JSON text or a keyed hash (values.py), like the doubt mark.
UNSET = "?unset"


def load_overlay(
    con: duckdb.DuckDBPyConnection, log: SpooledLog, columns: dict[str, int], prefix: str = ""
) -> None:
    """Create `<prefix>overlay`: one row per user the log names, with the serial of its newest
    cell and, for each attribute (column `o<i>` of `columns[attribute]`), its latest cell: the
    value, UNSET for an unset, NULL where the log has none.

    Each part of the spooled log (about a million cells) is pivoted to one wide row per user
    by Arrow, and only those rows go to DuckDB (through a Parquet file beside the spool): a
    first sync's twenty million cells become a million rows. Pivoting them in SQL (one
    `arg_max … FILTER` per attribute over every cell) took 14 of a 34-second compaction at
    1M users. A user found in several parts (several applies since the last compaction)
    gets, per attribute, the value of the newest part that has one; the parts come in log
    order (spool_log)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    outs = [f"o{i}" for i in columns.values()]
    options = pc.PivotWiderOptions(key_names=list(columns), unexpected_key_behavior="ignore")
    # the wide rows go through a Parquet file beside the spool: DuckDB reads that several
    # times faster than it inserts the same Arrow tables (measured at 1M users: 1.3 s to write
    # and read back against 5.7 s to insert)
    path = log.path.with_name(f"{log.path.stem}-{prefix}wide.parquet")
    schema = pa.schema(
        [("id_kind", pa.string()), ("user_id", pa.string()), ("serial", pa.int64())]
        + [("part", pa.int32())]
        + [(o, pa.string()) for o in outs]
    )
    parts = 0
    with pq.ParquetWriter(str(path), schema, compression="lz4") as writer:
        for table in log:
            if table.num_rows:
                wide = _pivot(table, options, outs)
                part = pa.array([parts] * wide.num_rows, pa.int32())
                writer.write_table(wide.add_column(3, "part", part).cast(schema))
                parts += 1
    con.execute(
        f"CREATE OR REPLACE VIEW {prefix}log_wide AS SELECT * FROM read_parquet({quote(str(path))})"
    )
    picked = "".join(f", {o}" for o in outs)
    one_row = f"SELECT id_kind, user_id, serial{picked} FROM {prefix}log_wide"
    multi = (
        f"SELECT id_kind, user_id FROM {prefix}log_wide GROUP BY id_kind, user_id "
        "HAVING count(*) > 1"
    )
    if parts <= 1 or not con.execute(f"SELECT count(*) FROM ({multi})").fetchall()[0][0]:
        con.execute(f"CREATE OR REPLACE VIEW {prefix}overlay AS {one_row}")  # a row per user
        return
    latest = "".join(f", arg_max({o}, part) AS {o}" for o in outs)  # NULLs are skipped
    same = "w.id_kind = m.id_kind AND w.user_id = m.user_id"
    con.execute(
        f"CREATE OR REPLACE TABLE {prefix}overlay AS WITH multi AS ({multi}) "
        f"{one_row} w ANTI JOIN multi m ON {same} UNION ALL "
        f"SELECT id_kind, user_id, max(serial) AS serial{latest} FROM {prefix}log_wide w "
        f"SEMI JOIN multi m ON {same} GROUP BY id_kind, user_id"
    )


def _pivot(table: pa.Table, options: object, outs: Sequence[str]) -> pa.Table:
    """One part of the log as one row per user: id_kind, user_id, serial (the newest) and the
    columns `outs`, one per attribute in `options.key_names` order (cells as load_overlay)."""
    import pyarrow.compute as pc

    cells = pa.table(
        {
            "id_kind": table["id_kind"],
            "user_id": table["user_id"],
            "attribute": pc.fill_null(table["attribute"], ""),  # none: ignored, as in SQL
            "value": pc.fill_null(table["value"], UNSET),
            "serial": table["serial"],
        }
    )
    try:
        return _wide(cells, options, outs)
    except pa.ArrowInvalid:
        # a cell written by two entries of this part: the later wins (a part is in log order,
        # and an unthreaded group-by keeps it)
        latest = cells.group_by(["id_kind", "user_id", "attribute"], use_threads=False).aggregate(
            [("value", "last"), ("serial", "max")]
        )
        deduped = pa.table(
            {
                "id_kind": latest["id_kind"],
                "user_id": latest["user_id"],
                "attribute": latest["attribute"],
                "value": latest["value_last"],
                "serial": latest["serial_max"],
            }
        )
        return _wide(deduped, options, outs)


def _wide(cells: pa.Table, options: object, outs: Sequence[str]) -> pa.Table:
    grouped = cells.group_by(["id_kind", "user_id"]).aggregate(
        [(("attribute", "value"), "pivot_wider", options), ("serial", "max")]
    )
    pivoted = grouped["attribute_value_pivot_wider"].combine_chunks()
    assert isinstance(pivoted, pa.StructArray)
    fields = pivoted.flatten()
    return pa.table(
        {
            "id_kind": grouped["id_kind"],
            "user_id": grouped["user_id"],
            "serial": grouped["serial_max"],
            **{o: fields[j] for j, o in enumerate(outs)},
        }
    )


def attribute_counts(
    con: duckdb.DuckDBPyConnection,
    attributes: Sequence[str],
    view: str = "stored",
    only: Collection[str] | None = None,
) -> dict[str, int]:
    """Acknowledged cells per attribute (cells in doubt hold no known value: not counted);
    with `only`, of those attributes alone (a narrower scan)."""
    picked = [(i, a) for i, a in enumerate(attributes) if only is None or a in only]
    if not picked:
        return {}
    counts = ", ".join(f"count({col(i)}) FILTER ({col(i)} <> {quote(DOUBT)})" for i, _ in picked)
    row = con.execute(f"SELECT {counts} FROM {view}").fetchone()
    assert row is not None
    found = {a: int(n) for (_, a), n in zip(picked, row, strict=True) if n}
    return dict(sorted(found.items()))


def users_sql(attributes: Sequence[str], view: str = "stored") -> str:
    known = " OR ".join(f"{doubt_free(i)} IS NOT NULL" for i in range(len(attributes)))
    return (
        f"SELECT id_kind, user_id FROM {view} WHERE {known or 'false'} "
        f"ORDER BY {kind_order()}, user_id"
    )


def arrow_reader(con: duckdb.DuckDBPyConnection, sql: str, batch_size: int) -> pa.RecordBatchReader:
    """The query's rows as a stream of Arrow batches, without a copy of the whole result."""
    rel = con.sql(sql)
    read = getattr(rel, "to_arrow_reader", None) or getattr(rel, "fetch_arrow_reader")  # noqa: B009
    reader: pa.RecordBatchReader = read(batch_size)
    return reader


def doubt_free(i: int) -> str:
    """Column ci with cells in doubt read as no value (readers that want known values)."""
    return f"nullif({col(i)}, {quote(DOUBT)})"


def compact(
    con: duckdb.DuckDBPyConnection, attributes: Sequence[str], out: Path, view: str = "stored"
) -> tuple[tuple[str, ...], int]:
    """Write `stored` as the next snapshot; return (its attributes, its rows).

    Attributes with no value left are dropped, and so are users with none.
    """
    row = (
        con.execute(
            "SELECT "
            + ", ".join(f"count({col(i)})" for i in range(len(attributes)))
            + f" FROM {view}"
        ).fetchone()
        if attributes
        else ()
    )
    assert row is not None
    keep = [(i, a) for i, a in enumerate(attributes) if row[i]]  # doubt marks are kept
    select = ", ".join(f"{col(i)} AS {col(j)}" for j, (i, _) in enumerate(keep))
    select = f", {select}" if select else ""
    select += f", {row_hash_sql([(a, col(i)) for i, a in keep])} AS rh"  # S, for plans to read
    where = " OR ".join(f"{col(i)} IS NOT NULL" for i, _ in keep) or "false"
    con.execute(
        f"COPY (SELECT id_kind, user_id, serial{select} FROM {view} WHERE {where} "
        f"ORDER BY id_kind, user_id) TO {quote(str(out))} "
        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)"
    )
    rows = con.execute(f"SELECT count(*) FROM read_parquet({quote(str(out))})").fetchone()
    assert rows is not None
    return tuple(a for _, a in keep), int(rows[0])


def doubt_count(con: duckdb.DuckDBPyConnection, attributes: Sequence[str]) -> int:
    if not attributes:
        return 0
    total = " + ".join(
        f"count(*) FILTER ({col(i)} = {quote(DOUBT)})" for i in range(len(attributes))
    )
    row = con.execute(f"SELECT {total} FROM stored").fetchone()
    assert row is not None
    return int(row[0])


def snapshot_info(text: str) -> SnapshotInfo:
    """SnapshotInfo from the JSON the backends keep in `meta` under `ledger_snapshot`."""
    try:
        d = json.loads(text)
        return SnapshotInfo(
            tuple(str(a) for a in d["attributes"]),
            int(d["serial"]),
            int(d["upto_seq"]),
            int(d["rows"]),
            int(d["chunks"]),
            int(d["row_hash"]) if d.get("row_hash") is not None else None,
            int(d["crc32"]) if d.get("crc32") is not None else None,
        )
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise LedgerDamaged(f"the ledger snapshot's description is damaged ({e!r})") from e


def snapshot_info_text(info: SnapshotInfo) -> str:
    return json.dumps(
        {
            "attributes": list(info.attributes),
            "serial": info.serial,
            "upto_seq": info.upto_seq,
            "rows": info.rows,
            "chunks": info.chunks,
            **({"row_hash": info.row_hash} if info.row_hash is not None else {}),
            **({"crc32": info.crc32} if info.crc32 is not None else {}),
        },
        sort_keys=True,
    )
