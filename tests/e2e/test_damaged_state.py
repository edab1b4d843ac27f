"""A damaged SQLite state through the real CLI: a damaged cache (the plan digests) costs one
plan that reads everything and changes nothing in it; damage to what the state must keep is a
clear error naming the state (exit 1), never "this is a bug in reconciler" (exit 3)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_workspace import CliWorkspace
from fixtures_sandbox import SandboxServer

from reconciler.state import LockRequest, open_state

pytestmark = pytest.mark.e2e

BUG = "this is a bug in reconciler"


@pytest.fixture
def applied(
    tmp_path: Path, sandbox_server_factory: Callable[..., SandboxServer]
) -> Iterator[CliWorkspace]:
    """The example workspace planned and applied once, so its state keeps a ledger and the
    digests of the plan it applied."""
    ws = CliWorkspace.start(tmp_path, sandbox_server_factory, f"brz-{uuid.uuid4().hex}")
    plan = str(tmp_path / "first.plan")
    assert ws.cli("plan", "--out", plan).returncode == 0
    done = ws.cli("apply", plan)
    assert done.returncode == 0, done.stderr
    yield ws


def _sql(ws: CliWorkspace, statement: str) -> None:
    with sqlite3.connect(ws.state_path) as con:
        assert con.execute(statement).rowcount == 1


@pytest.mark.parametrize("description", ["{not json", "[1]", '"a string"', "{}"])
def test_a_damaged_digests_description_reads_as_no_digests(
    applied: CliWorkspace, description: str
) -> None:
    before = applied.cli("plan", "--format", "json")
    assert before.returncode == 0, before.stderr
    _sql(applied, f"UPDATE meta SET value = '{description}' WHERE key = 'plan_digests'")
    after = applied.cli("plan", "--format", "json")
    assert after.returncode == 0, after.stderr
    assert BUG not in after.stderr
    assert _plan(after.stdout) == _plan(before.stdout)


def _plan(text: str) -> dict[str, object]:
    """A JSON plan without its id, which every plan draws afresh."""
    plan = json.loads(text)
    assert isinstance(plan, dict) and plan.pop("plan_id")
    return plan


def _compacted(ws: CliWorkspace) -> None:
    """Fold the applied log into a snapshot, as an apply does past COMPACT_MIN_CELLS."""
    with open_state(f"sqlite:///{ws.state_path}") as state, state.lock(LockRequest("test")):
        assert state.compact_ledger(min_cells=1) > 0


def _cut_blob(table: str, key: str) -> Callable[[CliWorkspace], None]:
    def damage(ws: CliWorkspace) -> None:
        with sqlite3.connect(ws.state_path) as con:
            (k, data), *_ = con.execute(f"SELECT {key}, data FROM {table} ORDER BY {key} DESC")
            con.execute(f"UPDATE {table} SET data = ? WHERE {key} = ?", (data[: len(data) // 2], k))

    return damage


def _flip_snapshot_middle(ws: CliWorkspace) -> None:
    """Bytes inside a page: zstd may well decode them into other values without an error, so
    only the snapshot's checksum tells (a plan trusted such values, and planned other sends)."""
    with sqlite3.connect(ws.state_path) as con:
        (chunk, data), *_ = con.execute("SELECT chunk, data FROM ledger_snapshot ORDER BY chunk")
        damaged = bytearray(data)
        for at in range(len(damaged) // 3, len(damaged) // 3 + 8):
            damaged[at] ^= 0xFF
        con.execute("UPDATE ledger_snapshot SET data = ? WHERE chunk = ?", (bytes(damaged), chunk))


def _flip_blob_end(ws: CliWorkspace) -> None:
    with sqlite3.connect(ws.state_path) as con:
        (seq, data), *_ = con.execute("SELECT seq, data FROM ledger_log ORDER BY seq DESC")
        damaged = bytearray(data)
        damaged[-10] ^= 0xFF
        con.execute("UPDATE ledger_log SET data = ? WHERE seq = ?", (bytes(damaged), seq))


@pytest.mark.parametrize(
    ("compact", "damage", "reason"),
    [
        (False, _cut_blob("ledger_log", "seq"), "does not decode"),
        (False, _flip_blob_end, "does not decode"),
        (True, _cut_blob("ledger_snapshot", "chunk"), "the ledger snapshot does not read"),
        (True, _flip_snapshot_middle, "the ledger snapshot's bytes do not match its checksum"),
        (True, lambda ws: _sql(ws, "DELETE FROM ledger_snapshot"), "does not read as Parquet"),
        (
            True,
            lambda ws: _sql(ws, "UPDATE meta SET value = '{' WHERE key = 'ledger_snapshot'"),
            "the ledger snapshot's description is damaged",
        ),
        (
            True,
            lambda ws: _sql(ws, "UPDATE meta SET value = '{}' WHERE key = 'ledger_snapshot'"),
            "the ledger snapshot's description is damaged",
        ),
    ],
    ids=[
        "log-cut",
        "log-flipped",
        "snapshot-cut",
        "snapshot-flipped",
        "snapshot-gone",
        "not-json",
        "no-keys",
    ],
)
@pytest.mark.parametrize("command", [("plan",), ("state", "list"), ("drift",)])
def test_a_damaged_ledger_is_a_state_error(
    applied: CliWorkspace,
    command: tuple[str, ...],
    compact: bool,
    damage: Callable[[CliWorkspace], None],
    reason: str,
) -> None:
    if compact:
        _compacted(applied)
    assert applied.cli(*command).returncode in (0, 4)  # it read (drift: too soon to compare)
    damage(applied)
    done = applied.cli(*command)
    assert done.returncode == 1, done.stderr
    assert BUG not in done.stderr and "Traceback" not in done.stderr
    assert f"error: state {applied.state_path}: " in done.stderr
    assert reason in done.stderr
    assert "restore the state from a backup" in done.stderr


def _content_block(ws: CliWorkspace) -> str:
    with sqlite3.connect(ws.state_path) as con:
        (address,) = con.execute(
            "SELECT address FROM resources WHERE address LIKE 'ContentBlock.%' ORDER BY address"
        ).fetchone()
    return str(address)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda ws: _sql(ws, "UPDATE meta SET value = 'twelve' WHERE key = 'serial'"),
            "meta serial 'twelve' is not a whole number",
        ),
        (
            lambda ws: _sql(ws, "UPDATE meta SET value = 'yesterday' WHERE key = 'created_at'"),
            "meta created_at 'yesterday' is not a time",
        ),
        (
            lambda ws: _sql(ws, "DELETE FROM meta WHERE key = 'serial'"),
            "meta has no serial",
        ),
        (
            lambda ws: _sql(
                ws, f"UPDATE resources SET spec = '{{cut' WHERE address = '{_content_block(ws)}'"
            ),
            "resource ContentBlock.",
        ),
        (
            lambda ws: _sql(
                ws, f"UPDATE resources SET spec = '[1]' WHERE address = '{_content_block(ws)}'"
            ),
            "is not a JSON object",
        ),
    ],
    ids=["serial", "created-at", "serial-gone", "spec-not-json", "spec-not-object"],
)
@pytest.mark.parametrize("command", [("plan",), ("state", "list"), ("drift",)])
def test_a_damaged_meta_row_or_resource_is_a_state_error(
    applied: CliWorkspace,
    command: tuple[str, ...],
    damage: Callable[[CliWorkspace], None],
    reason: str,
) -> None:
    assert applied.cli(*command).returncode in (0, 4)  # it read (drift: too soon to compare)
    damage(applied)
    done = applied.cli(*command)
    assert done.returncode == 1, done.stderr
    assert BUG not in done.stderr and "Traceback" not in done.stderr
    assert f"error: state {applied.state_path}: " in done.stderr
    assert reason in done.stderr
    assert "restore the state from a backup" in done.stderr


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda ws: _sql(ws, "UPDATE meta SET value = 'twelve' WHERE key = 'serial'"),
            "meta serial 'twelve' is not a whole number",
        ),
        (
            lambda ws: _sql(ws, "UPDATE meta SET value = 'yesterday' WHERE key = 'created_at'"),
            "meta created_at 'yesterday' is not a time",
        ),
    ],
    ids=["serial", "created-at"],
)
def test_apply_of_a_saved_plan_refuses_a_damaged_meta(
    applied: CliWorkspace, tmp_path: Path, damage: Callable[[CliWorkspace], None], reason: str
) -> None:
    """The plan was saved before the damage: apply names it and writes nothing."""
    plan = str(tmp_path / "second.plan")
    assert applied.cli("plan", "--out", plan).returncode == 0
    damage(applied)
    with sqlite3.connect(applied.state_path) as con:
        before = con.execute("SELECT count(*) FROM journal").fetchone()
    done = applied.cli("apply", plan)
    assert done.returncode == 1, done.stderr
    assert BUG not in done.stderr and "Traceback" not in done.stderr
    assert f"error: state {applied.state_path}: " in done.stderr
    assert reason in done.stderr
    with sqlite3.connect(applied.state_path) as con:
        assert con.execute("SELECT count(*) FROM journal").fetchone() == before


_A_LOCK = (
    "INSERT INTO lock (name, lock_id, user, host, pid, pid_start, operation, info, started_at,"
    " heartbeat_at) VALUES ('state', 'lk-1', 'ci', 'host', 1, '', 'apply', '', {}, {})"
)
_A_TIME = "'2026-01-01T00:00:00.000000+00:00'"

# (id, statements, command, reason): one CLI run each, on one applied workspace.
DAMAGED_RECORDS = [
    (
        "updated-at",
        ["UPDATE resources SET updated_at = 'yesterday'"],
        ("plan",),
        "updated_at 'yesterday' is not a time",
    ),
    (
        "lock-started-at",
        [_A_LOCK.format("'noon'", _A_TIME)],
        ("apply", "--auto-approve", "--lock-timeout", "1"),
        "lock lk-1: started_at 'noon' is not a time",
    ),
    (
        "lock-heartbeat-at",
        [_A_LOCK.format(_A_TIME, "'noon'")],
        ("state", "list"),
        "lock lk-1: heartbeat_at 'noon' is not a time",
    ),
    (
        "apply-started-at",
        ["UPDATE applies SET started_at = 'noon'"],
        ("state", "show"),
        ": started_at 'noon' is not a time",
    ),
    (
        "journal-recorded-at",
        [
            "UPDATE journal SET recorded_at = 'noon' WHERE serial = (SELECT max(serial) FROM journal)"
        ],
        ("state", "list"),
        ": recorded_at 'noon' is not a time",
    ),
    (
        "journal-summary",
        ["UPDATE journal SET summary = '{cut' WHERE serial = (SELECT max(serial) FROM journal)"],
        ("state", "show"),
        ": its summary is not JSON",
    ),
    (
        "last-drift",
        ["INSERT OR REPLACE INTO meta (key, value) VALUES ('last_drift', '{cut')"],
        ("plan",),
        "meta last_drift is not JSON",
    ),
    (
        "last-drift-count",
        ["""INSERT OR REPLACE INTO meta (key, value) VALUES ('last_drift', '{"repaired": "x"}')"""],
        ("plan",),
        "meta last_drift: repaired 'x' is not a whole number",
    ),
    (
        "hash-secret",
        ["UPDATE meta SET value = 'c0ffee-not-hex' WHERE key = 'hash_secret'"],
        ("drift",),
        "meta hash_secret is not hexadecimal (14 characters)",
    ),
    (
        "hash-secret-gone",
        ["DELETE FROM meta WHERE key = 'hash_secret'"],
        ("plan",),
        "meta has no hash_secret",
    ),
]


def test_a_damaged_record_is_a_state_error(applied: CliWorkspace, tmp_path: Path) -> None:
    """Each damage on a fresh copy of one applied state: an error naming it, nothing written."""
    good = tmp_path / "good.db"
    with sqlite3.connect(applied.state_path) as live, sqlite3.connect(good) as copy:
        live.backup(copy)
    failures = []
    for name, statements, command, reason in DAMAGED_RECORDS:
        with sqlite3.connect(good) as copy, sqlite3.connect(applied.state_path) as live:
            copy.backup(live)
            for statement in statements:
                assert live.execute(statement).rowcount >= 1, name
            (journal,) = live.execute("SELECT count(*) FROM journal").fetchone()
        done = applied.cli(*command)
        with sqlite3.connect(applied.state_path) as live:
            (after,) = live.execute("SELECT count(*) FROM journal").fetchone()
        if not (
            done.returncode == 1
            and BUG not in done.stderr
            and "Traceback" not in done.stderr
            and f"error: state {applied.state_path}: " in done.stderr
            and reason in done.stderr
            and "restore the state from a backup" in done.stderr
            and after == journal
        ):
            failures.append(f"{name} ({' '.join(command)}): exit {done.returncode}: {done.stderr}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("command", [("plan",), ("state", "list"), ("drift",)])
def test_a_damaged_page_of_a_snapshot_that_keeps_no_checksum_is_a_state_error(
    applied: CliWorkspace, command: tuple[str, ...]
) -> None:
    """A snapshot written before reconciler kept its CRC: when DuckDB refuses one of its pages,
    the command probes the snapshot and names the damaged state (exit 1), where it used to end
    as "internal error: … ZSTD Decompression failure" (exit 3)."""
    _compacted(applied)
    with sqlite3.connect(applied.state_path) as con:
        (text,) = con.execute("SELECT value FROM meta WHERE key = 'ledger_snapshot'").fetchone()
        info = json.loads(text)
        assert info.pop("crc32")  # as an older reconciler wrote it
        con.execute("UPDATE meta SET value = ? WHERE key = 'ledger_snapshot'", (json.dumps(info),))
        (data,) = con.execute("SELECT data FROM ledger_snapshot WHERE chunk = 0").fetchone()
        damaged = bytearray(data)
        meta = pq.ParquetFile(pa.BufferReader(data)).metadata
        for r in range(meta.num_row_groups):  # each column's pages past their headers: the
            for c in range(meta.num_columns):  # footer stays whole, so the file opens
                chunk = meta.row_group(r).column(c)
                start = chunk.data_page_offset + 24
                for at in range(start, chunk.data_page_offset + chunk.total_compressed_size):
                    damaged[at] ^= 0xA5
        con.execute("UPDATE ledger_snapshot SET data = ? WHERE chunk = 0", (bytes(damaged),))
    done = applied.cli(*command, env=applied.env(RECONCILER_DIGESTS="off"))
    assert done.returncode == 1, done.stderr
    assert BUG not in done.stderr and "Traceback" not in done.stderr
    assert (
        f"error: state {applied.state_path}: the ledger snapshot does not read (" in done.stderr
    ), done.stderr
    assert "restore the state from a backup" in done.stderr
    assert "/reconciler-" not in done.stderr  # not the temporary copy's name
