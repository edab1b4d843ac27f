"""State URLs: parse `sqlite:///…` and `postgresql://…`, pick the default, redact passwords."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from reconciler.errors import StateError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# user:password@ up to the LAST "@" of the authority, so a password holding "@" or "/" is hidden
# whole; a "/" before the ":" means a path (sqlite:////a:b@c.db), which has no password.
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):[^?#]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DEFAULT_PG_SCHEMA = "reconciler"


@dataclass(frozen=True)
class SqliteUrl:
    path: Path
    options: dict[str, str]


@dataclass(frozen=True)
class PostgresUrl:
    """A PostgreSQL state URL split into what libpq gets and the schema reconciler uses."""

    conninfo: str
    schema: str


def redact_url(url: str) -> str:
    """`postgresql://u:secret@h/db` → `postgresql://u:***@h/db` (and `?password=` likewise)."""
    return _QUERY_PASSWORD.sub(r"\1***", _PASSWORD.sub(r"\1:***@", url))


def state_name(url: str) -> str:
    """How messages name a state: a SQLite state by its file, another by its URL without a
    password (as the backends' own errors do)."""
    if url.startswith("sqlite:///"):
        return str(parse_sqlite_url(url).path)
    return redact_url(url)


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
            hint="use sqlite:///path/to/state.db or postgresql://user@host/db?schema=reconciler",
        )
    return m.group(1).lower()


def parse_postgres_url(url: str) -> PostgresUrl:
    """`postgresql://user@host:port/db?schema=NAME&sslmode=…`; the schema defaults to reconciler.

    A password in the URL is refused: URLs end up in CI logs, shell history and Workspace
    files. libpq reads it from PGPASSWORD or ~/.pgpass instead. Other query parameters are
    libpq's own (sslmode, connect_timeout, …) and pass through.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is not None or any(k.lower() == "password" for k, _ in query):
        raise StateError(
            f"a password in the state URL is refused: {redact_url(url)}",
            hint="remove it from the URL and set PGPASSWORD or use ~/.pgpass",
        )
    schemas = [v for k, v in query if k == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_PG_SCHEMA
    if not _SCHEMA_NAME.match(schema):
        raise StateError(
            f"bad schema name {schema!r} in state URL {redact_url(url)}",
            hint="use lower-case letters, digits and _ (at most 63), starting with a letter or _",
        )
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, rest, ""))
    return PostgresUrl(conninfo, schema)
