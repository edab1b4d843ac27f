"""Schema migrations: step by step, all or nothing, and a newer state is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.state import LedgerRow, LockRequest
from reconciler.state.migrations import MIGRATIONS, Migration
from reconciler.state.sqlite import SqliteState


def _backfill(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE ledger_notes SET note = 'backfilled'")


NEWEST = MIGRATIONS[-1].version
NEXT = NEWEST + 1

# A future migration, as the next release would append it: DDL plus a data step.
V_NEXT = Migration(
    NEXT,
    "test: ledger notes",
    (
        "CREATE TABLE ledger_notes (note TEXT)",
        "INSERT INTO ledger_notes (note) VALUES ('new')",
        _backfill,
    ),
)


def _broken(_conn: sqlite3.Connection) -> None:
    raise sqlite3.OperationalError("disk says no")


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def _v1_state_with_data(path: Path) -> str:
    with SqliteState(path) as old:
        with old.lock(LockRequest("apply")):
            apply_id = old.begin_apply()
            old.record_batch(apply_id, 0, [LedgerRow("u1", "A", "1")])
        return old.meta().lineage


def test_an_older_state_migrates_step_by_step_and_keeps_its_data(sqlite_path: Path) -> None:
    lineage = _v1_state_with_data(sqlite_path)
    with SqliteState(sqlite_path, migrations=(*MIGRATIONS, V_NEXT)) as new:
        assert new.meta().schema_version == NEXT
        assert new.meta().lineage == lineage
        assert new.meta().serial == 1
        assert new.ledger_count() == 1
    conn = sqlite3.connect(sqlite_path)
    assert conn.execute("SELECT note FROM ledger_notes").fetchall() == [("backfilled",)]
    versions = conn.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
    assert versions == [(v,) for v in range(1, NEXT + 1)]
    conn.close()


def test_a_failing_migration_leaves_the_state_as_it_was(sqlite_path: Path) -> None:
    _v1_state_with_data(sqlite_path)
    broken = Migration(NEXT, "broken", ("CREATE TABLE half_done (x)", _broken))
    with pytest.raises(StateError, match="disk says no"):
        SqliteState(sqlite_path, migrations=(*MIGRATIONS, broken))
    assert "half_done" not in _tables(sqlite_path)
    with SqliteState(sqlite_path) as again:
        assert again.meta().schema_version == NEWEST


def test_a_state_newer_than_the_code_is_refused(sqlite_path: Path) -> None:
    with SqliteState(sqlite_path, migrations=(*MIGRATIONS, V_NEXT)):
        pass
    with pytest.raises(StateError) as e:
        SqliteState(sqlite_path)
    expected = f"schema version {NEXT} is newer than this reconciler supports ({NEWEST})"
    assert expected in e.value.message
    assert "upgrade reconciler" in e.value.hint


def test_a_v1_ledger_gains_write_serials_and_old_rows_read_as_zero(sqlite_path: Path) -> None:
    with SqliteState(sqlite_path, migrations=MIGRATIONS[:1]) as old:
        conn = sqlite3.connect(sqlite_path)
        conn.execute("INSERT INTO attributes (aid, name) VALUES (1, 'A')")
        conn.execute("INSERT INTO ledger VALUES (0, 'u1', 1, '1')")
        conn.commit()
        conn.close()
        assert old.meta().schema_version == 1
    with SqliteState(sqlite_path) as new:
        assert new.meta().schema_version == NEWEST
        found = new.ledger_for_users([("external_id", "u1")])
        assert found[("external_id", "u1")].last_serial == 0
        assert found[("external_id", "u1")].values == {"A": "1"}
