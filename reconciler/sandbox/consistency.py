"""Eventual consistency: a write shows in `/users/export/ids` only after a delay (§0, §11.2)."""

from __future__ import annotations

import copy

from reconciler.sandbox.store import Profile

Snapshot = Profile | None  # None: the profile did not exist yet


class Visibility:
    """What exports see. With a zero delay (the default) that is simply the live profile."""

    def __init__(self, delay_ms: int) -> None:
        self.delay = delay_ms / 1000
        self._settled: dict[tuple[str, str], Snapshot] = {}
        self._pending: dict[tuple[str, str], list[tuple[float, Snapshot]]] = {}

    def set_delay(self, delay_ms: int) -> None:
        self.delay = delay_ms / 1000
        if not self.delay:
            self.clear()

    def clear(self) -> None:
        self._settled.clear()
        self._pending.clear()

    def before_write(self, workspace: str, profile: Profile, created: bool) -> None:
        """Remember what the profile looked like before a request changes it."""
        key = (workspace, profile["braze_id"])
        if self.delay and key not in self._pending and key not in self._settled:
            self._settled[key] = None if created else copy.deepcopy(profile)

    def after_write(self, workspace: str, profiles: list[Profile], now: float) -> None:
        if not self.delay:
            return
        for profile in profiles:
            entry = (now + self.delay, copy.deepcopy(profile))
            self._pending.setdefault((workspace, profile["braze_id"]), []).append(entry)

    def view(self, workspace: str, profile: Profile, now: float) -> Snapshot:
        key = (workspace, profile["braze_id"])
        if key not in self._settled:
            return profile
        queue = self._pending.get(key, [])
        while queue and queue[0][0] <= now:
            self._settled[key] = queue.pop(0)[1]
        if queue:
            return self._settled[key]
        self._pending.pop(key, None)
        del self._settled[key]
        return profile
