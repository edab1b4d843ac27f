"""What both backends keep as text and read back: `meta`'s lineage, serial and created_at, and
each applied resource's spec (JSON). A value that does not read (an edit by hand, a bad copy
or restore) is damage: a StateError naming the state and the item, with what to do, never an
exception that escapes as a bug. Nothing here guesses a value: the serial binds saved plans
and orders the ledger's log, and a resource's spec is what Braze was sent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reconciler.errors import StateError
from reconciler.state.base import StateMeta

DAMAGED_META_HINT = (
    "restore the state from a backup: reconciler does not guess what the state's identity and "
    "serial were (a saved plan binds to them)"
)
DAMAGED_TIME_HINT = (
    "restore the state from a backup: reconciler does not guess when something happened "
    "(a lock's times tell a live holder from a dead one)"
)
DAMAGED_JOURNAL_HINT = (
    "restore the state from a backup: the journal is the state's record of what each apply "
    "sent, and nothing else holds it"
)
DAMAGED_DRIFT_HINT = (
    "run `reconciler drift` again, which records a new note in its place, or restore the state "
    "from a backup"
)
DAMAGED_HASH_SECRET_HINT = (
    "restore the state from a backup: the ledger's pii values are hashed with this secret, and "
    "nothing else holds it"
)
DAMAGED_RESOURCE_HINT = (
    "restore the state from a backup: the recorded spec is what the last apply sent Braze, "
    "and nothing else holds it"
)


def _shown(value: object) -> str:
    """A damaged value as a message shows it: quoted, and cut when long."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def state_meta(where: str, meta: Mapping[str, str], version: int) -> StateMeta:
    """StateMeta from the `meta` rows of the state at `where`."""
    missing = [k for k in ("lineage", "serial", "created_at") if k not in meta]
    if missing:
        raise StateError(
            f"state {where}: meta has no {' and no '.join(missing)}", hint=DAMAGED_META_HINT
        )
    try:
        serial = int(meta["serial"])
    except (ValueError, TypeError) as e:
        raise StateError(
            f"state {where}: meta serial {_shown(meta['serial'])} is not a whole number",
            hint=DAMAGED_META_HINT,
        ) from e
    try:
        created = datetime.fromisoformat(meta["created_at"])
    except (ValueError, TypeError) as e:
        raise StateError(
            f"state {where}: meta created_at {_shown(meta['created_at'])} is not a time",
            hint=DAMAGED_META_HINT,
        ) from e
    return StateMeta(meta["lineage"], serial, version, created)


def recorded_time(where: str, item: str, text: str) -> datetime:
    """A time the state at `where` recorded as ISO text (SQLite; PostgreSQL types its own):
    `item` names what it belongs to, as "resource X: updated_at"."""
    try:
        return datetime.fromisoformat(text)
    except (ValueError, TypeError) as e:
        raise StateError(
            f"state {where}: {item} {_shown(text)} is not a time", hint=DAMAGED_TIME_HINT
        ) from e


def resource_spec(where: str, address: str, text: str) -> Mapping[str, Any]:
    """The spec recorded for resource `address`: a JSON object."""
    what = f"resource {address}: its recorded spec"
    return _json_object(where, what, text, DAMAGED_RESOURCE_HINT)


def _json_object(where: str, what: str, text: str, hint: str) -> dict[str, Any]:
    """`text`, which the state at `where` keeps as `what`, read as a JSON object."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError) as e:  # JSONDecodeError, bytes that are not UTF-8, a number
        raise StateError(f"state {where}: {what} is not JSON ({e})", hint=hint) from e
    if not isinstance(value, dict):
        raise StateError(f"state {where}: {what} is not a JSON object", hint=hint)
    return value


def journal_summary(where: str, apply_id: str, batch_no: int, text: str) -> Mapping[str, Any]:
    """The summary recorded with batch `batch_no` of apply `apply_id`: a JSON object."""
    what = f"journal batch {batch_no} of apply {apply_id}: its summary"
    return _json_object(where, what, text, DAMAGED_JOURNAL_HINT)


# What a plan shows of the last drift run as numbers (commands/drifting.drift_note writes it).
_DRIFT_COUNTS = ("users_checked", "users_drifted", "cells_drifted", "repaired")


def drift_note(where: str, text: str) -> dict[str, Any]:
    """The note of the last drift run (meta `last_drift`): a JSON object whose counts are
    whole numbers."""
    note = _json_object(where, "meta last_drift", text, DAMAGED_DRIFT_HINT)
    for key in _DRIFT_COUNTS:
        value = note.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise StateError(
                f"state {where}: meta last_drift: {key} {_shown(value)} is not a whole number",
                hint=DAMAGED_DRIFT_HINT,
            )
    return note


def hash_secret(where: str, meta: Mapping[str, str]) -> bytes:
    """The key the state at `where` hashes pii values with (meta `hash_secret`, hex). A message
    never shows it, even damaged."""
    text = meta.get("hash_secret")
    if text is None:
        raise StateError(f"state {where}: meta has no hash_secret", hint=DAMAGED_HASH_SECRET_HINT)
    try:
        key = bytes.fromhex(text)
    except (ValueError, TypeError):
        size = len(text) if isinstance(text, str) else 0
        raise StateError(
            f"state {where}: meta hash_secret is not hexadecimal ({size} characters)",
            hint=DAMAGED_HASH_SECRET_HINT,
        ) from None  # the ValueError quotes the secret
    if not key:
        raise StateError(f"state {where}: meta hash_secret is empty", hint=DAMAGED_HASH_SECRET_HINT)
    return key
