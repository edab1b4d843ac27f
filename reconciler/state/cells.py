"""Ledger log entries: a batch of cells as one compressed Arrow IPC blob, and the doubt mark.

The ledger's log is append-only and holds one entry per acknowledged batch (or per batch in
flight, see DOUBT), not one row per cell: an apply appends a blob in the transaction that
records its journal entry, which costs the same for 10 cells as for 1,500, and a plan reads
the blobs straight into DuckDB with no per-cell Python.

A cell is (id_kind, user_id, attribute, value): `value` is the stored form (values.py), None
for an acknowledged unset, or DOUBT for a write that may have landed without an answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from reconciler.errors import StateError
from reconciler.state.base import ID_KINDS, BatchAck, CellColumns, DoubtGroup
from reconciler.state.values import HASH_PREFIX

# Stored values are canonical JSON text or "h:…" hashes, neither of which can start with "?",
# so the mark never equals a desired value: a cell in doubt is always resent.
DOUBT = "?in-doubt"

CELL_SCHEMA = pa.schema(
    [
        pa.field("id_kind", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("attribute", pa.string()),
        pa.field("value", pa.string()),
        pa.field("serial", pa.int64()),
    ]
)
_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")
# A blob is one batch of a few hundred to 1,500 cells: handing its dozen buffers to Arrow's
# thread pool to compress (or decompress) costs five times the work itself, 140 against 24 us
# a blob, on the thread that commits every acknowledged batch. The bytes are the same.
_BLOB_WRITE = pa.ipc.IpcWriteOptions(compression="lz4", use_threads=False)
_BLOB_READ = pa.ipc.IpcReadOptions(use_threads=False)

Cell = tuple[str, str, str, str | None]  # id_kind, user_id, attribute, value


def encode_cells(cells: CellColumns, serial: int) -> bytes:
    """One blob for a batch of cells written at `serial`."""
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(cells.kinds, pa.string()),
            pa.array(cells.users, pa.string()),
            pa.array(cells.attributes, pa.string()),
            pa.array(cells.values, pa.string()),
            pa.array([serial] * len(cells), pa.int64()),
        ],
        schema=CELL_SCHEMA,
    )
    return encode_batch(batch)


def encode_batch(batch: pa.RecordBatch | pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, CELL_SCHEMA, options=_BLOB_WRITE) as writer:
        writer.write(batch)
    return bytes(sink.getvalue().to_pybytes())


DAMAGED_HINT = (
    "the ledger records what Braze acknowledged and nothing rebuilds it: restore the state "
    "from a backup, or start a new one, whose first plan resends every value"
)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


class LedgerDamaged(Exception):
    """The ledger a state keeps does not read back (a damaged blob or description). The
    backend that read it raises it again as a StateError naming the state."""


def decode_cells(blob: bytes, seq: int) -> pa.Table:
    """The blob's cells with the entry's `seq` (log order), as the overlay reads them."""
    try:
        table = pa.ipc.open_stream(pa.py_buffer(blob), options=_BLOB_READ).read_all()
        # every offset and string checked before anything reads them: a damaged blob can
        # decompress into offsets that point anywhere, and reading those crashed the process
        table.validate(full=True)
    except (pa.ArrowException, OSError, ValueError) as e:  # lz4, flatbuffers, lengths
        raise LedgerDamaged(f"ledger log entry {seq} does not decode ({_one_line(e)})") from e
    if not table.schema.equals(CELL_SCHEMA):  # a damaged name or type in the schema message
        raise LedgerDamaged(f"ledger log entry {seq} does not decode (not the ledger's columns)")
    return table.append_column("seq", pa.array([seq] * table.num_rows, pa.int64()))


LOG_SCHEMA = CELL_SCHEMA.append(pa.field("seq", pa.int64()))


SPOOL_BATCH_ROWS = 500_000  # cells per record batch of the spooled log


@dataclass(frozen=True)
class SpooledLog:
    """The log as `spool_log` wrote it: iterate it for its tables (each time from the file);
    its attributes and newest entry are known without reading it again."""

    path: Path
    cells: int
    attributes: frozenset[str]  # every attribute a cell names
    max_seq: int  # the newest entry (0: none)

    def __iter__(self) -> Iterator[pa.Table]:
        return read_spooled_log(self.path)


def spool_log(entries: Iterable[tuple[int, bytes]], path: Path) -> SpooledLog:
    """Decode the log entries, in log order (`seq` ascending), into one Arrow IPC file at `path`.

    Written while the backend's read snapshot is open, so that the file is consistent with the
    snapshot; read back lazily by `read_spooled_log`, so memory stays bounded. lz4, as the
    blobs themselves: a 10M-user first sync's log is 200M cells, and uncompressed it filled
    the temporary disk before compaction could fold it. The entries (one per batch of 75
    users) are gathered into record batches of about SPOOL_BATCH_ROWS cells: written and read
    back one entry at a time, a first sync's log cost a per-batch overhead 13,600 times per
    million users, as much as the rest of its compaction.
    """
    cells = max_seq = 0
    attributes: set[str] = set()
    pending: list[pa.Table] = []
    rows = 0
    with (
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_file(sink, LOG_SCHEMA, options=_OPTIONS) as writer,
    ):

        def flush() -> None:
            if pending:
                try:
                    table = pa.concat_tables(pending).combine_chunks()
                    attributes.update(pc.unique(table["attribute"]).to_pylist())
                except (UnicodeDecodeError, pa.ArrowException) as e:
                    raise LedgerDamaged(f"a ledger log entry does not read ({e})") from e
                for batch in table.to_batches():
                    writer.write_batch(batch)
                pending.clear()

        for seq, blob in entries:
            if seq <= max_seq:  # the overlay takes the spool's order for the log's
                raise ValueError(f"log entry {seq} spooled after {max_seq}: not in log order")
            table = decode_cells(blob, seq)
            cells += table.num_rows
            max_seq = max(max_seq, seq)
            pending.append(table)
            rows += table.num_rows
            if rows >= SPOOL_BATCH_ROWS:
                flush()
                rows = 0
        flush()
    return SpooledLog(path, cells, frozenset(a for a in attributes if a is not None), max_seq)


def read_spooled_log(path: Path, group_rows: int = 1_000_000) -> Iterator[pa.Table]:
    """The spooled log in tables of about `group_rows` cells.

    Read, not memory-mapped: a mapped page stays in the process's resident set once touched,
    so a first sync's log (twenty million cells per million users) would show as gigabytes of
    RSS; read, only the tables in flight are held."""
    with pa.OSFile(str(path)) as source:
        reader = pa.ipc.open_file(source)
        pending: list[pa.RecordBatch] = []
        rows = 0
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            pending.append(batch)
            rows += batch.num_rows
            if rows >= group_rows:
                yield pa.Table.from_batches(pending, LOG_SCHEMA)
                pending, rows = [], 0
        if pending:
            yield pa.Table.from_batches(pending, LOG_SCHEMA)


def ledger_cells(writes: Sequence[Any], unsets: Sequence[Any]) -> list[Cell]:
    """LedgerRow writes and LedgerUnset unsets as cells, one per key."""
    # one cell per key, the last word winning (writes first, then unsets, as the old row-wise
    # upsert-then-delete did): the overlay cannot order two cells of one entry
    last: dict[tuple[str, str, str], str | None] = {}
    for w in writes:
        last[(w[3], w[0], w[1])] = w[2]
    for u in unsets:
        last[(u[2], u[0], u[1])] = None
    return [(k, u, a, v) for (k, u, a), v in last.items()]


def check_kinds(cells: CellColumns) -> None:
    bad = set(cells.kinds) - set(ID_KINDS)
    if bad:
        raise StateError(f"unknown id kind {sorted(bad)[0]!r}; expected one of {ID_KINDS}")


def ack_columns(ack: BatchAck) -> CellColumns:
    """The ack's cells as columns: as the executor built them, or from its row form (one cell
    per key, the last word winning, as `ledger_cells`); id kinds checked."""
    cols = ack.columns
    if cols is None:
        rows = ledger_cells(ack.writes, ack.unsets)
    elif cols.distinct or len(set(_keys(cols))) == len(cols):
        check_kinds(cols)
        return cols
    else:
        listed = list(zip(cols.kinds, cols.users, cols.attributes, cols.values, strict=True))
        rows = ledger_cells(
            [(u, a, v, k) for k, u, a, v in listed if v is not None],
            [(u, a, k) for k, u, a, v in listed if v is None],
        )
    kinds, users, attributes, values = _transpose(rows, 4)
    merged = CellColumns(kinds, users, attributes, values, distinct=True)
    check_kinds(merged)
    return merged


def _keys(cols: CellColumns) -> Iterator[tuple[str, str, str]]:
    return zip(cols.kinds, cols.users, cols.attributes, strict=True)


def doubt_columns(group: DoubtGroup) -> CellColumns:
    """A doubt mark's cells as columns, values DOUBT; id kinds checked."""
    if isinstance(group, CellColumns):
        cols = group
    else:
        kinds, users, attributes = _transpose(group, 3)
        cols = CellColumns(kinds, users, attributes, [DOUBT] * len(attributes))
    check_kinds(cols)
    return cols


def _transpose(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def any_hashed(cells: CellColumns) -> bool:
    """Whether any value is a keyed hash (the state then records which key made it)."""
    if not cells.values:
        return False
    found = pc.any(pc.starts_with(pa.array(cells.values, pa.string()), HASH_PREFIX)).as_py()
    return bool(found)


LEGACY_BATCH = 200_000  # rows of a pre-columnar ledger per log entry, when migrating


def legacy_blob(rows: Sequence[tuple[Any, ...]], names: Mapping[int, str]) -> bytes:
    """(kind index, user_id, aid, value, serial) rows of the old ledger table as one blob."""
    return encode_batch(
        pa.RecordBatch.from_arrays(
            [
                pa.array([ID_KINDS[r[0]] for r in rows], pa.string()),
                pa.array([r[1] for r in rows], pa.string()),
                pa.array([names[r[2]] for r in rows], pa.string()),
                pa.array([r[3] for r in rows], pa.string()),
                pa.array([int(r[4]) for r in rows], pa.int64()),
            ],
            schema=CELL_SCHEMA,
        )
    )
