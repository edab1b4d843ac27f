"""State URLs: parse `sqlite:///path.db`, pick the default, and redact passwords for messages."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from reconciler.errors import StateError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@/]*@")


@dataclass(frozen=True)
class SqliteUrl:
    path: Path
    options: dict[str, str]


def redact_url(url: str) -> str:
    """`postgresql://u:secret@h/db` → `postgresql://u:***@h/db`."""
    return _PASSWORD.sub(r"\1:***@", url)


def default_state_url(manifests_dir: Path) -> str:
    """RECONCILER_STATE, else `sqlite:///<manifests>/../.reconciler/state.db` (absolute)."""
    env = os.environ.get("RECONCILER_STATE")
    if env:
        return env
    path = manifests_dir.resolve().parent / ".reconciler" / "state.db"
    return f"sqlite:///{path}"


def parse_sqlite_url(url: str) -> SqliteUrl:
    """`sqlite:///rel/path.db` is relative to the working directory; `sqlite:////abs.db` is not."""
    if not url.startswith("sqlite:///"):
        raise StateError(
            f"not a SQLite state URL: {redact_url(url)}",
            hint="write sqlite:///relative/path.db or sqlite:////absolute/path.db",
        )
    parts = urlsplit(url)
    path = parts.path[1:]  # drop the one "/" that separates the empty host from the path
    if not path or path == ":memory:":
        raise StateError(f"a SQLite state URL needs a file path: {url}")
    options = dict(parse_qsl(parts.query))
    unknown = sorted(set(options) - {"synchronous"})
    if unknown:
        raise StateError(f"unknown option(s) in state URL {url}: {', '.join(unknown)}")
    if options.get("synchronous", "full").lower() not in {"full", "normal"}:
        raise StateError(f"{url}: synchronous must be full or normal")
    return SqliteUrl(Path(path), options)


def scheme_of(url: str) -> str:
    m = _SCHEME.match(url)
    if not m:
        raise StateError(
            f"not a state URL: {redact_url(url)!r}",
            hint="use sqlite:///path/to/state.db (postgresql:// comes with the team backend)",
        )
    return m.group(1).lower()
