"""API keys: each maps to one workspace and a fixed permission set (reference §0, §8)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml  # type: ignore[import-untyped]

DEFAULT_KEY = "sandbox-key"
DEFAULT_WORKSPACE = "default"
KEY_ENV = "BRAZE_API_KEY"

PERMISSIONS = frozenset(
    {
        "users.track",
        "users.track.sync",
        "users.track.bulk",
        "users.export.ids",
        "users.export.segment",
        "users.identify",
        "users.merge",
        "users.delete",
        "users.alias.new",
        "users.alias.update",
        "users.external_ids.rename",
        "users.external_ids.remove",
        "custom_attributes.get",
        "events.list",
        "events.get",
        "templates.email.create",
        "templates.email.update",
        "templates.email.list",
        "templates.email.info",
        "content_blocks.create",
        "content_blocks.update",
        "content_blocks.list",
        "content_blocks.info",
        "catalogs.create",
        "catalogs.get",
        "catalogs.delete",
        "catalogs.add_items",
        "catalogs.update_items",
        "catalogs.delete_items",
        "catalogs.replace_items",
        "catalogs.get_items",
        "catalogs.get_item",
        "catalogs.create_item",
        "catalogs.update_item",
        "catalogs.replace_item",
        "catalogs.delete_item",
        "catalogs.create_fields",
        "subscription.status.set",
        "subscription.status.get",
        "subscription.groups.get",
    }
)


class KeysFileError(ValueError):
    """The keys file is unreadable or malformed."""


@dataclass(frozen=True)
class ApiKey:
    key: str
    workspace: str
    permissions: frozenset[str]
    from_env: bool = False

    def label(self) -> str:
        """How the key may be printed: never the value of an environment variable."""
        return f"${KEY_ENV}" if self.from_env else self.key


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, ApiKey]
    source: str  # "default" or the keys file path

    def lookup(self, authorization: str | None) -> ApiKey | None:
        """The key named by an `Authorization: Bearer <key>` header (scheme casing is free)."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.keys.get(token.strip())

    def workspaces(self) -> list[str]:
        return sorted({k.workspace for k in self.keys.values()})

    def first(self) -> ApiKey:
        return next(iter(self.keys.values()))


def default_keyring(environ: dict[str, str] | None = None) -> KeyRing:
    """One key with every permission: `$BRAZE_API_KEY` if set, else `sandbox-key`."""
    env = os.environ if environ is None else environ
    value = env.get(KEY_ENV, "").strip()
    key = ApiKey(value or DEFAULT_KEY, DEFAULT_WORKSPACE, PERMISSIONS, from_env=bool(value))
    return KeyRing({key.key: key}, "default")


def load_keyring(path: Path) -> KeyRing:
    """Parse `keys: [{key, workspace, permissions: [...]}]`; omitted permissions mean all."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, ValueError) as e:  # ValueError: a date like 2026-02-30
        raise KeysFileError(f"{path}: cannot read keys file: {e}") from e
    entries = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KeysFileError(f"{path}: expected `keys:` with a non-empty list")
    keys: dict[str, ApiKey] = {}
    for i, entry in enumerate(entries):
        keys_entry = _parse_entry(path, i, entry)
        if keys_entry.key in keys:
            raise KeysFileError(f"{path}: keys[{i}]: duplicate key")
        keys[keys_entry.key] = keys_entry
    return KeyRing(keys, str(path))


def _parse_entry(path: Path, i: int, entry: object) -> ApiKey:
    where = f"{path}: keys[{i}]"
    if not isinstance(entry, dict):
        raise KeysFileError(f"{where}: expected a mapping")
    key, workspace = entry.get("key"), entry.get("workspace", DEFAULT_WORKSPACE)
    if not isinstance(key, str) or not key.strip():
        raise KeysFileError(f"{where}: `key` must be a non-empty string")
    if not isinstance(workspace, str) or not workspace:
        raise KeysFileError(f"{where}: `workspace` must be a non-empty string")
    perms = entry.get("permissions")
    if perms is None:
        return ApiKey(key.strip(), workspace, PERMISSIONS)
    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
        raise KeysFileError(f"{where}: `permissions` must be a list of names")
    unknown = sorted(set(perms) - PERMISSIONS)
    if unknown:
        raise KeysFileError(f"{where}: unknown permissions {unknown}")
    return ApiKey(key.strip(), workspace, frozenset(perms))
