"""The shared StateStore suite: lineage, serial, ledger, events, resources, journal, staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from reconciler.errors import LockHeldError, StalePlanError, StateError
from reconciler.state import (
    LedgerRow,
    LedgerUnset,
    LockRequest,
    StateStore,
    UserLedger,
    keyed_hash,
    open_state,
)
from reconciler.state.migrations import MIGRATIONS


def apply_batches(
    state: StateStore, *batches: tuple[list[LedgerRow], list[LedgerUnset], list[str]]
) -> str:
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply("plan-1")
        for n, (writes, unsets, events) in enumerate(batches):
            state.record_batch(apply_id, n, writes, unsets, events, {"requests": 1})
        state.finish_apply(apply_id, "applied")
    return apply_id


def ledger(state: StateStore) -> set[LedgerRow]:
    return {row for batch in state.iter_ledger() for row in batch}


def test_a_new_state_has_a_lineage_and_serial_zero(state: StateStore, state_url: str) -> None:
    meta = state.meta()
    assert len(meta.lineage) == 36
    assert meta.serial == 0
    assert meta.schema_version == MIGRATIONS[-1].version
    state.close()
    with open_state(state_url, create=False) as again:
        assert again.meta().lineage == meta.lineage  # reopening keeps the lineage


def test_each_batch_bumps_the_serial_and_journal_only_writes_do_not(state: StateStore) -> None:
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply()
        assert state.meta().serial == 0
        assert state.record_batch(apply_id, 0, [LedgerRow("u1", "A", "1")]) == 1
        assert state.record_batch(apply_id, 1, [LedgerRow("u2", "A", "1")]) == 2
        state.finish_apply(apply_id, "applied")
    assert state.meta().serial == 2


def test_upsert_then_unset(state: StateStore) -> None:
    apply_batches(
        state,
        ([LedgerRow("u1", "A", "1"), LedgerRow("u1", "B", '"x"')], [], []),
        ([LedgerRow("u1", "A", "2"), LedgerRow("u2", "A", "3")], [LedgerUnset("u1", "B")], []),
    )
    assert ledger(state) == {LedgerRow("u1", "A", "2"), LedgerRow("u2", "A", "3")}
    assert state.ledger_count() == 2
    assert state.ledger_count("A") == 2
    assert state.attribute_counts() == {"A": 2}


def test_id_kinds_are_separate_keys(state: StateStore) -> None:
    apply_batches(
        state,
        ([LedgerRow("same", "A", "1"), LedgerRow("same", "A", "2", "braze_id")], [], []),
    )
    assert ledger(state) == {LedgerRow("same", "A", "1"), LedgerRow("same", "A", "2", "braze_id")}


def test_an_unknown_id_kind_is_refused_and_nothing_is_written(state: StateStore) -> None:
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply()
        with pytest.raises(StateError, match="unknown id kind 'email'"):
            state.record_batch(
                apply_id, 0, [LedgerRow("u", "A", "1"), LedgerRow("u", "B", "1", "email")]
            )
    assert state.ledger_count() == 0
    assert state.meta().serial == 0


def test_the_ledger_streams_in_bounded_ordered_batches(state: StateStore) -> None:
    rows = [LedgerRow(f"u{i:03d}", attr, str(i)) for i in range(250) for attr in ("A", "B")]
    apply_batches(state, (rows, [], []))
    batches = list(state.iter_ledger(batch_size=100))
    assert [len(b) for b in batches] == [100] * 5
    streamed = [r for b in batches for r in b]
    assert sorted(streamed) == sorted(rows)
    assert [r.user_id for r in streamed] == sorted(r.user_id for r in rows)  # users grouped
    only_b = [r for b in state.iter_ledger(batch_size=100, attributes=["B"]) for r in b]
    assert {r.attribute for r in only_b} == {"B"} and len(only_b) == 250
    assert list(state.iter_ledger(attributes=["never-written"])) == []


def test_arrow_batches_feed_duckdb(state: StateStore) -> None:
    rows = [LedgerRow(f"u{i}", attr, str(i)) for i in range(100) for attr in ("A", "B", "C")]
    apply_batches(state, (rows, [], []))
    batches = list(state.ledger_arrow_batches(batch_size=64, attributes=["A", "C"]))
    assert [b.num_rows for b in batches] == [64, 64, 64, 8]
    con = duckdb.connect()
    con.register("ledger", pa.Table.from_batches(batches))
    counts = con.sql(
        "SELECT attribute, count(*), min(id_kind) FROM ledger GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counts == [("A", 100, "external_id"), ("C", 100, "external_id")]


def test_event_ids_are_recorded_once_and_pruned(state: StateStore) -> None:
    apply_batches(state, ([], [], ["e1", "e2"]), ([], [], ["e2", "e3"]))
    assert state.has_events(["e1", "e3", "e9"]) == {"e1", "e3"}
    assert state.has_events([f"x{i}" for i in range(2000)] + ["e2"]) == {"e2"}
    assert [i for b in state.acked_event_ids(batch_size=2) for i in b] == ["e1", "e2", "e3"]
    assert state.event_count() == 3
    serial = state.meta().serial
    with state.lock(LockRequest("prune")):
        assert state.prune_events(datetime.now(UTC) - timedelta(days=1)) == 0
        assert state.meta().serial == serial
        assert state.prune_events(datetime.now(UTC) + timedelta(seconds=1)) == 3
    assert state.event_count() == 0
    assert state.meta().serial == serial + 1


def test_resources_round_trip(state: StateStore) -> None:
    with state.lock(LockRequest("apply")):
        made = state.put_resource("ContentBlock.a", {"body": "hi", "tags": ["x"]}, remote_id="cb1")
        state.put_resource("ContentBlock.b", {"body": "b"}, remote_id=None)
        state.put_resource("ContentBlock.a", {"tags": ["x"], "body": "hi"}, remote_id="cb1")
        state.delete_resource("ContentBlock.b")
        state.delete_resource("ContentBlock.missing")
    assert state.meta().serial == 4  # three puts and one real delete
    (record,) = state.resources().values()
    assert record.address == "ContentBlock.a"
    assert record.remote_id == "cb1"
    assert record.spec == {"body": "hi", "tags": ["x"]}
    assert record.spec_hash == made.spec_hash  # key order does not change the hash


def test_the_journal_records_each_batch_newest_first(state: StateStore) -> None:
    apply_id = apply_batches(
        state,
        ([LedgerRow("u1", "A", "1")], [], ["e"]),
        ([LedgerRow("u2", "A", "1"), LedgerRow("u3", "A", "1")], [LedgerUnset("u1", "A")], []),
    )
    entries = state.journal()
    assert [(e.apply_id, e.batch_no, e.serial) for e in entries] == [
        (apply_id, 1, 2),
        (apply_id, 0, 1),
    ]
    assert (entries[0].writes, entries[0].unsets, entries[0].events) == (2, 1, 0)
    assert entries[0].summary == {"requests": 1}
    assert state.journal(since_serial=1) == entries[:1]
    (record,) = state.applies()
    assert (record.apply_id, record.plan_id, record.status) == (apply_id, "plan-1", "applied")
    assert record.finished_at is not None


def test_ledger_for_users_reads_a_sample_with_the_serial_that_last_wrote_it(
    state: StateStore,
) -> None:
    apply_batches(
        state,
        (
            [LedgerRow("u1", "A", "1"), LedgerRow("u1", "B", '"x"'), LedgerRow("u2", "A", "2")],
            [],
            [],
        ),
        ([LedgerRow("u2", "B", '"y"'), LedgerRow("u3", "A", "3", "braze_id")], [], []),
    )
    found = state.ledger_for_users(
        [("external_id", "u1"), ("external_id", "u2"), ("braze_id", "u3"), ("external_id", "u3")]
    )
    assert found == {
        ("braze_id", "u3"): UserLedger("braze_id", "u3", {"A": "3"}, 2),
        ("external_id", "u1"): UserLedger("external_id", "u1", {"A": "1", "B": '"x"'}, 1),
        ("external_id", "u2"): UserLedger("external_id", "u2", {"A": "2", "B": '"y"'}, 2),
    }
    assert state.ledger_for_users([]) == {}


def test_ledger_users_streams_each_user_once_in_order(state: StateStore) -> None:
    apply_batches(
        state,
        ([LedgerRow("u2", "A", "1"), LedgerRow("u2", "B", "1"), LedgerRow("u1", "A", "1")], [], []),
        ([LedgerRow("u3", "A", "1", "braze_id"), LedgerRow("u0", "B", "2")], [], []),
    )
    batches = list(state.ledger_users(batch_size=2))
    assert batches == [
        [("external_id", "u0"), ("external_id", "u1")],
        [("external_id", "u2"), ("braze_id", "u3")],
    ]


def test_ledger_for_users_reads_more_users_than_one_sql_statement_binds(
    state: StateStore,
) -> None:
    rows = [LedgerRow(f"u{i:05}", "A", str(i)) for i in range(2000)]
    apply_batches(state, (rows, [], []))
    found = state.ledger_for_users([("external_id", r.user_id) for r in rows])
    assert len(found) == 2000
    assert found[("external_id", "u01999")].values == {"A": "1999"}


def test_serial_at_tells_which_batches_were_recorded_after_a_moment(state: StateStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    apply_batches(
        state, ([LedgerRow("u1", "A", "1")], [], []), ([LedgerRow("u2", "A", "1")], [], [])
    )
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert state.serial_at(before) == 0
    assert state.serial_at(after) == 2
    newest = state.journal(limit=1)[0]
    assert state.serial_at(newest.recorded_at) == 2


def test_writes_need_the_lock(state: StateStore) -> None:
    with pytest.raises(StateError, match="need the lock"):
        state.begin_apply()
    with pytest.raises(StateError, match="need the lock"):
        state.put_resource("X.y", {}, remote_id=None)


def test_a_broken_lock_stops_the_next_write(state: StateStore, state_url: str) -> None:
    with state.lock(LockRequest("apply")) as held:
        apply_id = state.begin_apply()
        with open_state(state_url) as other:
            other.force_unlock(held.info.lock_id)
        with pytest.raises(LockHeldError, match="was broken; nothing was written"):
            state.record_batch(apply_id, 0, [LedgerRow("u", "A", "1")])
    assert state.ledger_count() == 0
    assert state.applies()[0].status == "interrupted"


def test_releasing_the_lock_marks_an_unfinished_apply_interrupted(state: StateStore) -> None:
    with state.lock(LockRequest("apply")):
        state.begin_apply()
    assert state.applies()[0].status == "interrupted"
    assert state.current_lock() is None


def test_a_plan_made_at_an_older_serial_is_stale(state: StateStore) -> None:
    lineage = state.meta().lineage
    apply_batches(state, ([LedgerRow("u1", "A", "1")], [], []))
    with state.lock(LockRequest("apply")):
        with pytest.raises(StalePlanError) as e:
            state.begin_apply("p", expect_lineage=lineage, expect_serial=0)
        assert "serial 0 → 1" in e.value.message
        assert "recorded 1 batch(es), 1 value(s) set and 0 unset" in e.value.message
        with pytest.raises(StalePlanError, match="a different state"):
            state.begin_apply("p", expect_lineage="another", expect_serial=1)
        assert state.begin_apply("p", expect_lineage=lineage, expect_serial=1)


def test_hash_key_reports_a_changed_key(state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_state(state_url) as first:
        key = first.hash_key()
        assert key.source == "state" and key.ledger_fingerprint is None
        assert str(key.key.hex()) not in repr(key)
        apply_batches(first, ([LedgerRow("u", "email", keyed_hash(key.key, "a@b.c"))], [], []))
        assert first.hash_key().changed is False
    monkeypatch.setenv("RECONCILER_HASH_KEY", "team-secret")
    with open_state(state_url) as second:
        now = second.hash_key()
        assert (now.source, now.key, now.changed) == ("env", b"team-secret", True)
