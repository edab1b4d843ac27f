"""More of the shared suite (both backends): odd bytes, repeated keys, waiting, half-read streams."""

from __future__ import annotations

import threading
import time

import pytest

from reconciler.state import LedgerRow, LedgerUnset, LockRequest, StateStore, open_state

ODD_USERS = ["plain", "comma,user", 'quote"user', "new\nline", "tab\tuser", "ünï©ødé", "", " "]
ODD_VALUES = ['"a,b"', '"say ""hi"""', "line1\nline2", "\\N", "", "NULL", '"\\u00e9"', "é\r\n"]


def write(state: StateStore, *batches: tuple[list[LedgerRow], list[LedgerUnset]]) -> None:
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply()
        for n, (writes, unsets) in enumerate(batches):
            state.record_batch(apply_id, n, writes, unsets)
        state.finish_apply(apply_id, "applied")


def test_odd_identifiers_and_values_round_trip_exactly(state: StateStore) -> None:
    rows = [
        LedgerRow(user, f"attr,{i % 3}", value)
        for i, (user, value) in enumerate(zip(ODD_USERS, ODD_VALUES, strict=True))
    ]
    write(state, (rows, []))
    streamed = [r for b in state.iter_ledger(batch_size=3) for r in b]
    assert sorted(streamed) == sorted(rows)
    assert [r.user_id for r in streamed] == sorted(ODD_USERS)  # byte order on both backends
    batches = list(state.ledger_arrow_batches(batch_size=3))
    assert [b.num_rows for b in batches] == [3, 3, 2]
    assert sorted(v for b in batches for v in b.column("value").to_pylist()) == sorted(ODD_VALUES)


def test_a_key_repeated_in_one_batch_keeps_its_last_value(state: StateStore) -> None:
    write(
        state,
        ([LedgerRow("u", "A", "1"), LedgerRow("v", "A", "1"), LedgerRow("u", "A", "2")], []),
        ([LedgerRow("v", "A", "3")], [LedgerUnset("v", "A")]),  # set, then unset: gone
    )
    assert {r for b in state.iter_ledger() for r in b} == {LedgerRow("u", "A", "2")}
    assert [e.writes for e in state.journal()] == [1, 3]  # the journal counts what was sent


def test_a_big_batch_is_written_whole(state: StateStore) -> None:
    rows = [LedgerRow(f"user-{i:06d}", f"A{i % 4}", f'"{i}"') for i in range(30_000)]
    write(state, (rows + rows[:10], []), (rows[:5000], [LedgerUnset("user-000001", "A1")]))
    assert state.ledger_count() == 29_999
    assert state.attribute_counts() == {"A0": 7500, "A1": 7499, "A2": 7500, "A3": 7500}
    serials = state.ledger_for_users(
        [("external_id", "user-000000"), ("external_id", "user-029999")]
    )
    assert [u.last_serial for u in serials.values()] == [2, 1]


def test_a_ledger_stream_abandoned_half_way_frees_its_connection(state: StateStore) -> None:
    write(state, ([LedgerRow(f"u{i:04d}", "A", "1") for i in range(1000)], []))
    for _ in range(20):  # leaking a connection or a snapshot per stream would show here
        stream = state.ledger_arrow_batches(batch_size=10)
        assert next(stream).num_rows == 10
        stream.close()
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply()
        state.record_batch(apply_id, 0, [], [LedgerUnset("u0000", "A")])
    assert state.ledger_count() == 999


def test_a_waiting_writer_gets_the_lock_once_it_is_released(
    state: StateStore, state_url: str
) -> None:
    taken = threading.Event()

    def hold_briefly() -> None:
        with open_state(state_url) as other, other.lock(LockRequest("apply", info="brief")):
            taken.set()
            time.sleep(1.0)

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    assert taken.wait(30)
    started = time.monotonic()
    with state.lock(LockRequest("apply"), wait_seconds=30) as mine:
        waited = time.monotonic() - started
        assert mine.replaced is None  # released cleanly, not taken over
    holder.join()
    assert 0.2 < waited < 10


@pytest.mark.parametrize("batch_size", [1, 7, 50_000])
def test_event_ids_page_in_order(state: StateStore, batch_size: int) -> None:
    ids = [f"ev-{i:03d}" for i in range(40)] + ["Z", "a", "é"]
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply()
        state.record_batch(apply_id, 0, [], [], list(reversed(ids)))
    assert [e for b in state.acked_event_ids(batch_size=batch_size) for e in b] == sorted(ids)
