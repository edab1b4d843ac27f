"""A `meta` row or a resource's spec that does not read back is a StateError naming the state
and the damaged item, on both backends (the CLI's side: tests/e2e/test_damaged_state.py)."""

from __future__ import annotations

import sqlite3

import pytest
from fixtures_postgres import pg_execute
from psycopg import sql

from reconciler.errors import StateError
from reconciler.state import LockRequest, StateStore, open_state
from reconciler.state.base import BatchAck, CellColumns
from reconciler.state.url import parse_postgres_url, redact_url


def _delete(url: str, key: str) -> None:
    """DELETE `meta`'s row `key`, behind the store."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
            assert con.execute("DELETE FROM meta WHERE key = ?", (key,)).rowcount == 1
        return
    schema = parse_postgres_url(url).schema
    query = sql.SQL("DELETE FROM {}.meta WHERE key = %s").format(sql.Identifier(schema))
    pg_execute(url, query, (key,))


def _damage(url: str, table: str, column: str, value: str, key: str, where: str) -> None:
    """SET `column` = `value` in `table`'s row whose `key` is `where`, behind the store."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
            done = con.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (value, where))
            assert done.rowcount == 1
        return
    schema = parse_postgres_url(url).schema
    query = sql.SQL("UPDATE {}.{} SET {} = %s WHERE {} = %s").format(
        sql.Identifier(schema), sql.Identifier(table), sql.Identifier(column), sql.Identifier(key)
    )
    pg_execute(url, query, (value, where))


def _named(state_url: str) -> str:
    """How a message names the state: its file, or its URL without a password."""
    where = state_url.removeprefix("sqlite:///") if state_url.startswith("sqlite:") else state_url
    return f"state {redact_url(where)}: "


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("serial", "12x", "meta serial '12x' is not a whole number"),
        ("created_at", "2026-13-45", "meta created_at '2026-13-45' is not a time"),
    ],
)
def test_a_damaged_meta_value_is_a_state_error(
    state: StateStore, state_url: str, key: str, value: str, reason: str
) -> None:
    assert state.meta().serial == 0
    _damage(state_url, "meta", "value", value, "key", key)
    with pytest.raises(StateError) as raised:
        state.meta()
    assert raised.value.message.startswith(_named(state_url))
    assert reason in raised.value.message
    assert "restore the state from a backup" in raised.value.hint


@pytest.mark.parametrize(
    ("spec", "reason"),
    [("{cut", "its recorded spec is not JSON"), ("[1]", "its recorded spec is not a JSON object")],
)
def test_a_resource_whose_spec_does_not_read_is_a_state_error(
    state: StateStore, state_url: str, spec: str, reason: str
) -> None:
    with state.lock(LockRequest("test")):
        state.put_resource("ContentBlock.welcome", {"name": "welcome"}, remote_id="cb-1")
        state.put_resource("ContentBlock.other", {"name": "other"}, remote_id="cb-2")
    assert state.resources()["ContentBlock.welcome"].spec == {"name": "welcome"}
    _damage(state_url, "resources", "spec", spec, "address", "ContentBlock.welcome")
    with pytest.raises(StateError) as raised:
        state.resources()
    assert raised.value.message.startswith(_named(state_url))
    assert f"resource ContentBlock.welcome: {reason}" in raised.value.message
    assert "restore the state from a backup" in raised.value.hint


@pytest.mark.parametrize(
    ("summary", "reason"),
    [("{cut", "its summary is not JSON"), ("[1]", "its summary is not a JSON object")],
)
def test_a_journal_summary_that_does_not_read_is_a_state_error(
    state: StateStore, state_url: str, summary: str, reason: str
) -> None:
    with state.lock(LockRequest("test")):
        apply_id = state.begin_apply("plan-1")
        state.record_batch(apply_id, 1, [], summary={"users": 1})
    (entry,) = state.journal()
    assert entry.summary == {"users": 1}
    _damage(state_url, "journal", "summary", summary, "apply_id", apply_id)
    with pytest.raises(StateError) as raised:
        state.journal()
    assert raised.value.message.startswith(_named(state_url))
    assert f"journal batch 1 of apply {apply_id}: {reason}" in raised.value.message
    assert "restore the state from a backup" in raised.value.hint


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        ("{cut", "meta last_drift is not JSON"),
        ("[1]", "meta last_drift is not a JSON object"),
        ('{"users_drifted": "3"}', "meta last_drift: users_drifted '3' is not a whole number"),
    ],
)
def test_a_drift_note_that_does_not_read_is_a_state_error(
    state: StateStore, state_url: str, note: str, reason: str
) -> None:
    state.note_drift({"result": "clean", "users_checked": 2, "users_drifted": 0, "repaired": 0})
    assert state.last_drift() == {
        "result": "clean",
        "users_checked": 2,
        "users_drifted": 0,
        "repaired": 0,
    }
    _damage(state_url, "meta", "value", note, "key", "last_drift")
    with pytest.raises(StateError) as raised:
        state.last_drift()
    assert raised.value.message.startswith(_named(state_url))
    assert reason in raised.value.message
    assert "run `reconciler drift` again" in raised.value.hint
    assert "restore the state from a backup" in raised.value.hint


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (
            "0123456789abcdef-and-then-not-hex",
            "meta hash_secret is not hexadecimal (33 characters)",
        ),
        ("", "meta hash_secret is empty"),
        (None, "meta has no hash_secret"),
    ],
)
def test_a_hash_secret_that_does_not_read_is_a_state_error(
    state: StateStore, state_url: str, secret: str | None, reason: str
) -> None:
    """hash_key() refuses it, and so does an apply before it sends anything."""
    assert len(state.hash_key().key) == 32
    if secret is None:
        _delete(state_url, "hash_secret")
    else:
        _damage(state_url, "meta", "value", secret, "key", "hash_secret")
    with pytest.raises(StateError) as raised:
        state.hash_key()
    assert raised.value.message.startswith(_named(state_url))
    assert reason in raised.value.message
    assert "0123456789abcdef" not in raised.value.message  # the secret is never shown
    assert "restore the state from a backup" in raised.value.hint
    with state.lock(LockRequest("test")), pytest.raises(StateError) as refused:
        state.begin_apply("plan-1")
    assert reason in refused.value.message
    assert state.applies() == []


def _overwrite_snapshot_bytes(url: str) -> None:
    """Eight bytes a third of the way into the snapshot's first chunk set to 0xFF, behind the
    store: inside a page, where zstd may decode them into other values without an error."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
            (data,) = con.execute("SELECT data FROM ledger_snapshot WHERE chunk = 0").fetchone()
            at = len(data) // 3
            damaged = data[:at] + b"\xff" * 8 + data[at + 8 :]
            assert damaged != data
            con.execute("UPDATE ledger_snapshot SET data = ? WHERE chunk = 0", (damaged,))
        return
    schema = parse_postgres_url(url).schema
    query = sql.SQL(
        "UPDATE {}.ledger_snapshot SET data = overlay(data placing %s from length(data) / 3 "
        "for 8) WHERE chunk = 0"
    ).format(sql.Identifier(schema))
    pg_execute(url, query, (b"\xff" * 8,))


def test_a_snapshot_whose_bytes_changed_is_a_state_error(state: StateStore, state_url: str) -> None:
    users = [f"cust-{i:04d}" for i in range(2_000)]
    cells = CellColumns(
        ["external_id"] * len(users) * 2,
        users * 2,
        ["tier"] * len(users) + ["score"] * len(users),
        [f'"t{i % 7}"' for i in range(len(users))] + [str(i) for i in range(len(users))],
        distinct=True,
    )
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply("plan-1")
        state.commit_batches(apply_id, [BatchAck(0, (), (), columns=cells)])
        state.finish_apply(apply_id, "applied")
        assert state.compact_ledger(min_cells=1) == 4_000
    assert state.attribute_counts() == {"score": 2_000, "tier": 2_000}
    _overwrite_snapshot_bytes(state_url)
    with open_state(state_url) as fresh, pytest.raises(StateError) as raised:
        fresh.attribute_counts()  # a reader of its own: `state` keeps what it read before
    assert raised.value.message.startswith(_named(state_url))
    assert "the ledger snapshot's bytes do not match its checksum" in raised.value.message
    assert "restore the state from a backup" in raised.value.hint
