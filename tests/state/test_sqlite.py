"""SQLite-only properties: URLs, file permissions, bytes on disk, WAL mode, bad files."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.state import LedgerRow, LockRequest, default_state_url, keyed_hash, open_state
from reconciler.state.url import parse_sqlite_url, redact_url

RAW_EMAIL = "jane.doe.unique-marker@example.com"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative/state.db", Path("relative/state.db")),
        ("sqlite:////abs/state.db", Path("/abs/state.db")),
        ("sqlite:///state.db?synchronous=normal", Path("state.db")),
    ],
)
def test_sqlite_urls(url: str, path: Path) -> None:
    assert parse_sqlite_url(url).path == path


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://bob:hunter2@db/x",
            "a password in the state URL is refused: postgresql://bob:***@db/x",
        ),
        ("s3://bucket/key", "unknown state URL scheme 's3'"),
        ("state.db", "not a state URL"),
        ("sqlite://", "not a SQLite state URL"),
        ("sqlite:///x.db?journal=off", "unknown option(s)"),
        ("sqlite:///x.db?synchronous=off", "synchronous must be full or normal"),
    ],
)
def test_bad_urls_are_refused_with_passwords_redacted(url: str, message: str) -> None:
    with pytest.raises(StateError) as e:
        open_state(url)
    assert message in e.value.message
    assert "hunter2" not in e.value.render()


def test_redact_url() -> None:
    assert (
        redact_url("postgresql://u:p@h:5432/db?schema=r") == "postgresql://u:***@h:5432/db?schema=r"
    )
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_default_url_sits_next_to_the_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = f"sqlite:///{tmp_path.resolve() / '.reconciler' / 'state.db'}"
    assert default_state_url(tmp_path / "manifests") == expected
    monkeypatch.setenv("RECONCILER_STATE", "sqlite:///elsewhere.db")
    assert default_state_url(tmp_path / "manifests") == "sqlite:///elsewhere.db"


def test_the_state_file_and_its_wal_are_private(sqlite_path: Path) -> None:
    with open_state(f"sqlite:///{sqlite_path}") as store, store.lock(LockRequest("apply")):
        store.begin_apply()
        for suffix in ("", "-wal", "-shm"):
            mode = stat.S_IMODE(Path(f"{sqlite_path}{suffix}").stat().st_mode)
            assert mode == 0o600, (suffix, oct(mode))
    assert stat.S_IMODE(sqlite_path.parent.stat().st_mode) == 0o700


def test_wal_mode_and_full_sync(sqlite_path: Path) -> None:
    with open_state(f"sqlite:///{sqlite_path}") as store:
        store.meta()
    conn = sqlite3.connect(sqlite_path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_pii_is_stored_only_as_a_hash(sqlite_path: Path) -> None:
    with open_state(f"sqlite:///{sqlite_path}") as store:
        key = store.hash_key().key
        with store.lock(LockRequest("apply")):
            apply_id = store.begin_apply()
            store.record_batch(apply_id, 0, [LedgerRow("u1", "email", keyed_hash(key, RAW_EMAIL))])
            store.finish_apply(apply_id, "applied")
        (row,) = next(store.iter_ledger())
        assert row.value == keyed_hash(key, RAW_EMAIL)
    on_disk = b"".join(p.read_bytes() for p in sqlite_path.parent.iterdir())
    assert b"u1" in on_disk  # the scan does see the ledger
    assert RAW_EMAIL.encode() not in on_disk
    assert b"unique-marker" not in on_disk


def test_missing_state_without_create(sqlite_path: Path) -> None:
    with pytest.raises(StateError, match="no state at"):
        open_state(f"sqlite:///{sqlite_path}", create=False)
    assert not sqlite_path.exists()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("this is not sqlite, just some text that is long enough " * 20)
    with pytest.raises(StateError, match="file is not a database"):
        open_state(f"sqlite:///{bad}")
