"""Every workspace of one sandbox, in memory, optionally backed by SQLite."""

from __future__ import annotations

from pathlib import Path

from reconciler.sandbox.persistence import SqliteStore
from reconciler.sandbox.store import Workspace


class Workspaces:
    def __init__(self, db_file: Path | None = None) -> None:
        self.db = SqliteStore(db_file) if db_file is not None else None
        self.all: dict[str, Workspace] = self.db.load() if self.db else {}

    def get(self, name: str) -> Workspace:
        ws = self.all.get(name)
        if ws is None:
            ws = self.all[name] = Workspace(name)
        return ws

    def flush(self, ws: Workspace) -> None:
        """Persist what a request changed (a no-op in memory)."""
        if self.db is not None:
            self.db.save(ws)
        else:
            ws.dirty_users.clear()
            ws.new_occurrences = 0

    def reset(self) -> None:
        self.all.clear()
        if self.db is not None:
            self.db.wipe()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
