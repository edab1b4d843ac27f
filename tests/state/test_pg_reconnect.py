"""PostgreSQL faults mid-apply: a dropped connection or a server restart reconnects with backoff
and carries on; a COMMIT whose answer was lost is settled by txid_status, never written twice;
past the deadline the run stops with a clear error and keeps everything acknowledged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fixtures_postgres import PG_SERVER
from private_postgres import private_cluster

from reconciler.errors import LockHeldError, StateError, UsageError
from reconciler.state import LedgerRow, LockRequest
from reconciler.state.base import BatchAck
from reconciler.state.pg_reconnect import ConnectionLost
from reconciler.state.postgres import PostgresState

pytestmark = pytest.mark.postgres


def terminate(*pids: int) -> None:
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def ack(batch_no: int, user: str, value: str) -> BatchAck:
    return BatchAck(batch_no, [LedgerRow(user, "tier", value)], [], [], {}, None)


def ledger(store: PostgresState) -> dict[str, str | None]:
    return {r.user_id: r.value for rows in store.iter_ledger() for r in rows}


def test_a_dropped_connection_mid_apply_reconnects_and_records_each_batch_once(
    pg_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with PostgresState(pg_url) as store, store.lock(LockRequest("apply")):
        apply_id = store.begin_apply()
        store.commit_batches(apply_id, [ack(0, "u0", "gold")])
        terminate(store._conn.info.backend_pid)
        store.commit_batches(apply_id, [ack(1, "u1", "silver")])
        assert store._lock_conn is not None
        # both sessions gone, as on a server restart: the advisory lock is taken again
        terminate(store._conn.info.backend_pid, store._lock_conn.info.backend_pid)
        store.commit_batches(apply_id, [ack(2, "u2", "bronze")])
        lock_pid = store._lock_conn.info.backend_pid
        holders = [pid for pid, _ in store._holders()]
        store.finish_apply(apply_id, "succeeded")
        assert holders == [lock_pid]
        assert [j.batch_no for j in store.journal()] == [2, 1, 0]
        assert ledger(store) == {"u0": "gold", "u1": "silver", "u2": "bronze"}
    err = capfd.readouterr().err
    assert "state: lost the connection to postgresql://postgres@127.0.0.1:5432/test" in err
    assert "state: reconnected to" in err


def test_a_commit_whose_answer_is_lost_is_settled_by_txid_status_and_not_written_twice(
    pg_url: str,
) -> None:
    with PostgresState(pg_url) as store, store.lock(LockRequest("apply")):
        apply_id = store.begin_apply()
        real_tx = store._tx
        dropped: list[int] = []

        @contextmanager
        def tx_losing_one_answer() -> Iterator[psycopg.Connection]:
            with real_tx() as c:
                yield c
            if not dropped:  # committed; the answer "never arrives"
                dropped.append(c.info.backend_pid)
                c.close()
                raise ConnectionLost("state: server closed the connection unexpectedly")

        store._tx = tx_losing_one_answer  # type: ignore[method-assign]
        serials, _ = store.commit_batches(apply_id, [ack(0, "u0", "gold")])
        store._tx = real_tx  # type: ignore[method-assign]
        assert dropped
        assert [(j.batch_no, j.serial) for j in store.journal()] == [(0, serials[0])]
        assert store.meta().serial == serials[0]
        assert ledger(store) == {"u0": "gold"}


def test_a_transaction_cut_before_its_commit_runs_again(pg_url: str) -> None:
    with PostgresState(pg_url) as store, store.lock(LockRequest("apply")):
        apply_id = store.begin_apply()
        real_tx = store._tx
        cut: list[bool] = []

        @contextmanager
        def tx_cut_once() -> Iterator[psycopg.Connection]:
            with real_tx() as c:
                yield c
                if not cut:  # the body ran; the server goes before COMMIT
                    cut.append(True)
                    terminate(c.info.backend_pid)
            # (the COMMIT above failed: ConnectionLost, the transaction rolled back)

        store._tx = tx_cut_once  # type: ignore[method-assign]
        store.commit_batches(apply_id, [ack(0, "u0", "gold")])
        store._tx = real_tx  # type: ignore[method-assign]
        assert cut
        assert [j.batch_no for j in store.journal()] == [0]
        assert ledger(store) == {"u0": "gold"}


def test_a_session_that_took_the_lock_during_the_outage_stops_the_writer(pg_url: str) -> None:
    with PostgresState(pg_url) as store, store.lock(LockRequest("apply")):
        apply_id = store.begin_apply()
        store.commit_batches(apply_id, [ack(0, "u0", "gold")])
        assert store._lock_conn is not None
        terminate(store._conn.info.backend_pid, store._lock_conn.info.backend_pid)
        with PostgresState(pg_url) as other, other.lock(LockRequest("apply")):
            with pytest.raises(LockHeldError, match="another session took the state lock"):
                store.commit_batches(apply_id, [ack(1, "u1", "silver")])
            assert ledger(other) == {"u0": "gold"}


def test_past_the_deadline_it_stops_with_a_clear_error_and_keeps_what_was_acknowledged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECONCILER_STATE_RECONNECT_SECONDS", "1.5")
    with private_cluster() as server:
        url = f"{server.url}?schema=team"
        with PostgresState(url) as store, store.lock(LockRequest("apply")):
            apply_id = store.begin_apply()
            store.commit_batches(apply_id, [ack(0, "u0", "gold")])
            server._ctl("-m", "fast", "stop")
            started = time.monotonic()
            with pytest.raises(StateError) as lost:
                store.commit_batches(apply_id, [ack(1, "u1", "silver")])
            waited = time.monotonic() - started
            server.start()
        assert "could not get it back within 1.5 s" in str(lost.value)
        assert "every batch Braze acknowledged before the outage is recorded" in str(
            lost.value.hint
        )
        assert 1.0 <= waited < 10
        with PostgresState(url) as again:
            assert ledger(again) == {"u0": "gold"}


def test_a_bad_reconnect_budget_is_refused_before_anything_is_written(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_STATE_RECONNECT_SECONDS", "soon")
    with pytest.raises(UsageError, match="RECONCILER_STATE_RECONNECT_SECONDS='soon'"):
        PostgresState(pg_url)
