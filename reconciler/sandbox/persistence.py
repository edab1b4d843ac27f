"""`--db FILE`: the workspaces in SQLite, so they survive a restart. Memory is the default."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from reconciler.sandbox.store import Stats, Workspace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    workspace TEXT NOT NULL, braze_id TEXT NOT NULL, profile TEXT NOT NULL,
    PRIMARY KEY (workspace, braze_id));
CREATE TABLE IF NOT EXISTS meta (
    workspace TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (workspace, name));
CREATE TABLE IF NOT EXISTS occurrences (
    workspace TEXT NOT NULL, seq INTEGER NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (workspace, seq));
"""
_META = ("attributes", "event_names", "products", "content_blocks", "email_templates")


class SqliteStore:
    """Writes each request's changes in one transaction; reads everything back at start."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def load(self) -> dict[str, Workspace]:
        workspaces: dict[str, Workspace] = {}

        def get(name: str) -> Workspace:
            return workspaces.setdefault(name, Workspace(name))

        for name, key, value in self.conn.execute("SELECT workspace, name, value FROM meta"):
            _restore_meta(get(name), key, json.loads(value))
        for name, braze_id, profile in self.conn.execute(
            "SELECT workspace, braze_id, profile FROM users"
        ):
            get(name).users[braze_id] = json.loads(profile)
        for name, record in self.conn.execute(
            "SELECT workspace, record FROM occurrences ORDER BY workspace, seq"
        ):
            get(name).occurrences.append(json.loads(record))
        for ws in workspaces.values():
            ws.reindex()
        return workspaces

    def save(self, ws: Workspace) -> None:
        rows: list[tuple[str, str, str]] = [
            (ws.name, "stats", json.dumps(ws.stats.as_dict())),
            (ws.name, "counter", json.dumps(ws.counter)),
        ]
        if ws.dirty_meta:
            rows += [(ws.name, key, json.dumps(getattr(ws, key))) for key in _META]
            rows.append((ws.name, "tags", json.dumps(sorted(ws.tags))))
        users = [(ws.name, b, json.dumps(ws.users[b])) for b in ws.dirty_users if b in ws.users]
        fresh = ws.occurrences[len(ws.occurrences) - ws.new_occurrences :]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?, ?)", rows)
            self.conn.executemany("INSERT OR REPLACE INTO users VALUES (?, ?, ?)", users)
            self.conn.executemany(
                "INSERT OR REPLACE INTO occurrences VALUES (?, ?, ?)",
                [(ws.name, o["seq"], json.dumps(o)) for o in fresh],
            )
        ws.dirty_users.clear()
        ws.dirty_meta = False
        ws.new_occurrences = 0

    def wipe(self) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            for table in ("users", "meta", "occurrences"):
                self.conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names


def _restore_meta(ws: Workspace, key: str, value: Any) -> None:
    if key == "stats":
        ws.stats = Stats(**value)
    elif key == "counter":
        ws.counter = value
    elif key == "tags":
        ws.tags = set(value)
    elif key in _META:
        setattr(ws, key, value)
