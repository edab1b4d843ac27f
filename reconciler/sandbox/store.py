"""One workspace's data: profiles with their lookup indexes, schema, objects and the ledger."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox.dates import format_created_at, from_epoch
from reconciler.sandbox.rules import phone_key

Profile = dict[str, Any]


@dataclass
class Stats:
    """The data-point ledger and request counters behind `GET /_sandbox/stats`."""

    data_points: int = 0
    objects: int = 0
    rejected_objects: int = 0
    requests: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_points": self.data_points,
            "requests": dict(sorted(self.requests.items())),
            "objects": self.objects,
            "rejected_objects": self.rejected_objects,
        }


@dataclass
class Workspace:
    """Everything Braze keeps per workspace; plain dicts so the hot path stays cheap."""

    name: str
    users: dict[str, Profile] = field(default_factory=dict)  # braze_id -> profile
    by_external_id: dict[str, str] = field(default_factory=dict)
    by_alias: dict[tuple[str, str], str] = field(default_factory=dict)
    by_email: dict[str, set[str]] = field(default_factory=dict)
    by_phone: dict[str, set[str]] = field(default_factory=dict)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)  # schema
    event_names: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    occurrences: list[dict[str, Any]] = field(default_factory=list)  # events + purchases
    content_blocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    email_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    stats: Stats = field(default_factory=Stats)
    counter: int = 0  # orders updates (email lookup) and mints ids
    dirty_users: set[str] = field(default_factory=set)
    dirty_meta: bool = False
    new_occurrences: int = 0  # occurrences not yet persisted

    # -- identity -------------------------------------------------------------------------
    def by_braze_id(self, braze_id: str) -> Profile | None:
        return self.users.get(braze_id)

    def external(self, external_id: str) -> Profile | None:
        bid = self.by_external_id.get(external_id)
        return self.users[bid] if bid else None

    def alias(self, name: str, label: str) -> Profile | None:
        bid = self.by_alias.get((name, label))
        return self.users[bid] if bid else None

    def email_matches(self, email: str) -> list[Profile]:
        return [self.users[b] for b in self.by_email.get(email.lower(), ())]

    def phone_matches(self, phone: str) -> list[Profile]:
        return [self.users[b] for b in self.by_phone.get(phone_key(phone), ())]

    def best_match(self, profiles: list[Profile]) -> Profile | None:
        """Most recently updated, preferring one with an external_id (reference §1.3)."""
        if not profiles:
            return None
        return max(profiles, key=lambda p: (p["external_id"] is not None, p["updated"]))

    def create(
        self,
        now: float,
        external_id: str | None = None,
        alias: tuple[str, str] | None = None,
    ) -> Profile:
        self.counter += 1
        braze_id = f"{int(now):08x}{self.counter:016x}"
        profile: Profile = {
            "braze_id": braze_id,
            "external_id": external_id,
            "user_aliases": [],
            "created_at": format_created_at(from_epoch(now)),
            "updated": self.counter,
            "fields": {},
            "custom_attributes": {},
            "custom_events": {},
            "purchases": {},
            "total_revenue": 0.0,
            "subscription_groups": {},
        }
        self.users[braze_id] = profile
        if external_id is not None:
            self.by_external_id[external_id] = braze_id
        if alias is not None:
            profile["user_aliases"].append({"alias_name": alias[0], "alias_label": alias[1]})
            self.by_alias[alias] = braze_id
        self.dirty_users.add(braze_id)
        return profile

    def touch(self, profile: Profile) -> None:
        self.counter += 1
        profile["updated"] = self.counter
        self.dirty_users.add(profile["braze_id"])

    def set_field(self, profile: Profile, name: str, value: Any) -> None:
        """Write a standard field, keeping the email and phone indexes in step."""
        fields = profile["fields"]
        old = fields.get(name)
        if name in ("email", "phone") and old is not None and old != value:
            self._unindex(name, old, profile["braze_id"])
        if value is None:
            fields.pop(name, None)
            return
        fields[name] = value
        if name == "email":
            self.by_email.setdefault(value.lower(), set()).add(profile["braze_id"])
        elif name == "phone":
            self.by_phone.setdefault(phone_key(value), set()).add(profile["braze_id"])

    def _unindex(self, name: str, value: str, braze_id: str) -> None:
        index, key = (
            (self.by_email, value.lower()) if name == "email" else (self.by_phone, phone_key(value))
        )
        index.get(key, set()).discard(braze_id)
        if not index.get(key, True):
            del index[key]

    def reindex(self) -> None:
        """Rebuild every lookup index from the profiles (after loading from disk)."""
        self.by_external_id.clear()
        self.by_alias.clear()
        self.by_email.clear()
        self.by_phone.clear()
        for bid, profile in self.users.items():
            if profile["external_id"] is not None:
                self.by_external_id[profile["external_id"]] = bid
            for alias in profile["user_aliases"]:
                self.by_alias[(alias["alias_name"], alias["alias_label"])] = bid
            for name in ("email", "phone"):
                value = profile["fields"].get(name)
                if value is not None:
                    self.set_field(profile, name, value)


def wall_clock() -> float:
    return time.time()
