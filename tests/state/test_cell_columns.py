"""Acks and doubt marks as columns (the executor's form) store exactly what the row form does,
on every backend: values, unsets, journal counts, the last word per key, refused id kinds."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.apply.journal import delta_columns
from reconciler.errors import StateError
from reconciler.plan.model import UserDelta
from reconciler.state import LedgerRow, LedgerUnset, LockRequest, StateStore
from reconciler.state import cells as cells_module
from reconciler.state.base import BatchAck, CellColumns
from reconciler.state.cells import (
    DOUBT,
    ack_columns,
    doubt_columns,
    encode_cells,
    read_spooled_log,
    spool_log,
)


def ledger(state: StateStore) -> set[LedgerRow]:
    return {row for batch in state.iter_ledger() for row in batch}


def commit(state: StateStore, *acks: BatchAck) -> None:
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply("plan-1")
        state.commit_batches(apply_id, list(acks))
        state.finish_apply(apply_id, "applied")


DELTAS = [
    UserDelta("external_id", "u1", {"A": 1, "B": "x"}, [["A", "1"], ["B", '"x"']], [], 2),
    UserDelta("braze_id", "u1", {"A": 2}, [["A", "2"]], [], 1),
    UserDelta("external_id", "u2", {"A": 3, "C": None}, [["A", "3"]], ["C"], 2),
]


def test_an_ack_in_columns_records_values_unsets_and_counts(state: StateStore) -> None:
    commit(state, BatchAck(0, [LedgerRow("u2", "C", "9")], summary={"requests": 1}))
    cells = delta_columns(DELTAS)
    commit(state, BatchAck(0, (), (), (), {"requests": 1}, None, cells))
    assert ledger(state) == {
        LedgerRow("u1", "A", "1"),
        LedgerRow("u1", "B", '"x"'),
        LedgerRow("u1", "A", "2", "braze_id"),
        LedgerRow("u2", "A", "3"),
    }
    newest = state.journal()[0]
    assert (newest.writes, newest.unsets) == (4, 1)


def test_columns_with_a_repeated_key_keep_the_last_word(state: StateStore) -> None:
    cells = CellColumns(
        ["external_id", "external_id", "external_id"], ["u", "u", "v"], ["A", "A", "A"],
        ["1", None, "2"],
    )  # fmt: skip
    commit(state, BatchAck(0, [LedgerRow("u", "A", "0")]))
    commit(state, BatchAck(0, (), (), columns=cells))
    assert ledger(state) == {LedgerRow("v", "A", "2")}


def test_columns_with_an_unknown_id_kind_are_refused_and_nothing_is_written(
    state: StateStore,
) -> None:
    cells = CellColumns(["external_id", "email"], ["u", "u"], ["A", "B"], ["1", "1"])
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply()
        with pytest.raises(StateError, match="unknown id kind 'email'"):
            state.commit_batches(apply_id, [BatchAck(0, (), (), columns=cells)])
        with pytest.raises(StateError, match="unknown id kind 'email'"):
            state.mark_in_doubt(cells)
    assert state.ledger_count() == 0
    assert state.meta().serial == 0


def test_a_doubt_mark_in_columns_marks_every_cell_and_an_ack_clears_it(
    state: StateStore,
) -> None:
    commit(state, BatchAck(0, [LedgerRow("u1", "A", "1")]))
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply("plan-2")
        _, (mark,) = state.commit_batches(apply_id, [], [delta_columns(DELTAS[:1], doubt=True)])
        assert state.cells_in_doubt() == 2  # A (over its acknowledged value) and B
        assert ledger(state) == set()  # a cell in doubt is no known value
        cells = delta_columns(DELTAS[:1])
        state.commit_batches(apply_id, [BatchAck(0, (), (), (), {}, mark, cells)])
        state.finish_apply(apply_id, "applied")
    assert ledger(state) == {LedgerRow("u1", "A", "1"), LedgerRow("u1", "B", '"x"')}


KINDS = st.sampled_from(["external_id", "braze_id"])
NAMES = st.sampled_from(["A", "B", "C", "D"])


@st.composite
def deltas(draw: st.DrawFn) -> list[UserDelta]:
    out = []
    for n in range(draw(st.integers(0, 6))):
        names = draw(st.lists(NAMES, unique=True, max_size=4))
        cut = draw(st.integers(0, len(names)))
        writes = [[a, draw(st.sampled_from(["1", '"x"', "h:ab", "[]"]))] for a in names[:cut]]
        out.append(UserDelta(draw(KINDS), f"u{n}", {}, writes, names[cut:], len(names)))
    return out


@settings(max_examples=200, deadline=None)
@given(deltas())
def test_delta_columns_equal_the_row_form(batch: list[UserDelta]) -> None:
    rows = [LedgerRow(d.user_id, a, v, d.id_kind) for d in batch for a, v in d.writes]
    unsets = [LedgerUnset(d.user_id, a, d.id_kind) for d in batch for a in d.unsets]
    as_rows = ack_columns(BatchAck(0, rows, unsets))
    as_columns = ack_columns(BatchAck(0, (), (), columns=delta_columns(batch)))
    assert sorted(cells(as_columns)) == sorted(cells(as_rows))
    assert as_columns.distinct  # built a user at a time: no dedupe pass
    assert (as_columns.writes, as_columns.unsets) == (len(rows), len(unsets))
    doubt = doubt_columns(delta_columns(batch, doubt=True))
    keys = [
        (d.id_kind, d.user_id, a) for d in batch for a in (*(w[0] for w in d.writes), *d.unsets)
    ]
    assert cells(doubt_columns(keys)) == cells(doubt)
    assert set(doubt.values) <= {DOUBT}


def cells(cols: CellColumns) -> list[tuple[str, str, str, str | None]]:
    return list(zip(cols.kinds, cols.users, cols.attributes, cols.values, strict=True))


def test_deltas_that_repeat_a_user_are_not_taken_as_distinct() -> None:
    twice = [DELTAS[0], UserDelta("external_id", "u1", {"A": None}, [], ["A"], 1)]
    cols = delta_columns(twice)
    assert not cols.distinct
    kept = ack_columns(BatchAck(0, (), (), columns=cols))
    assert sorted(cells(kept)) == [
        ("external_id", "u1", "A", None),
        ("external_id", "u1", "B", '"x"'),
    ]


def test_the_spooled_log_gathers_entries_into_large_batches_in_log_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [
        (seq, encode_cells(CellColumns(["external_id"] * 3, [f"u{seq}"] * 3, list("ABC"),
                                       ["1", None, DOUBT]), serial=seq))
        for seq in range(1, 8)
    ]  # fmt: skip
    monkeypatch.setattr(cells_module, "SPOOL_BATCH_ROWS", 6)  # two entries fill a batch
    path = tmp_path / "log.arrow"
    spooled = spool_log(entries, path)
    assert (spooled.cells, spooled.attributes, spooled.max_seq) == (21, frozenset("ABC"), 7)
    with pa.OSFile(str(path)) as source:
        reader = pa.ipc.open_file(source)
        sizes = [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
    assert sizes == [6, 6, 6, 3]  # not seven batches of three
    read = pa.concat_tables(spooled).to_pylist()
    assert read == pa.concat_tables(read_spooled_log(path)).to_pylist()
    assert [(r["seq"], r["user_id"], r["attribute"], r["value"], r["serial"]) for r in read] == [
        (seq, f"u{seq}", a, v, seq)
        for seq in range(1, 8)
        for a, v in zip("ABC", ["1", None, DOUBT], strict=True)
    ]


def test_a_blob_is_the_same_bytes_as_arrows_threaded_writer_made_and_reads_back() -> None:
    """Blobs are compressed on the committing thread, not Arrow's pool: the format (lz4 Arrow
    IPC) and so every state an older reconciler wrote or reads stays the same."""
    users = [f"cust-{n:05d}" for n in range(300)]
    cells = CellColumns(
        ["external_id"] * 300, users, ["tier"] * 300, [f'"gold-{n}"' for n in range(300)], True
    )
    blob = encode_cells(cells, 7)
    threaded = pa.BufferOutputStream()
    batch = pa.ipc.open_stream(pa.py_buffer(blob)).read_next_batch()
    options = pa.ipc.IpcWriteOptions(compression="lz4")  # the writer before, threads on
    with pa.ipc.new_stream(threaded, cells_module.CELL_SCHEMA, options=options) as writer:
        writer.write(batch)
    assert blob == threaded.getvalue().to_pybytes()
    table = cells_module.decode_cells(blob, 3)
    assert table.column("user_id").to_pylist() == users
    assert table.column("seq").to_pylist() == [3] * 300
    assert table.schema.field("value").type == pa.string()


def test_a_damaged_blob_is_refused_or_read_never_a_crash() -> None:
    """Every byte of a blob flipped in turn: each either fails to decode (LedgerDamaged, which
    the backends report as a damaged state) or decodes to a valid table. Before the blob was
    validated in full, some flips decompressed into offsets that pointed anywhere and reading
    them killed the process (a segmentation fault, not even a traceback)."""
    n = 400
    cells = CellColumns(
        ["external_id"] * n,
        [f"cust-{i:05d}" for i in range(n)],
        [f"attr_{i % 20}" for i in range(n)],
        [f'"v{i % 13}"' if i % 7 else None for i in range(n)],
        distinct=True,
    )
    blob = encode_cells(cells, 7)
    refused = 0
    for at in range(len(blob)):
        damaged = bytearray(blob)
        damaged[at] ^= 0x55
        try:
            table = cells_module.decode_cells(bytes(damaged), 1)
        except cells_module.LedgerDamaged:
            refused += 1
            continue
        table.validate(full=True)
        assert table.num_rows == len(table.column("user_id").to_pylist())
    assert refused > len(blob) // 2
