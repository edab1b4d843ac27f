"""`reconciler state migrate`: copy a whole state to another backend, then prove the copy.

The copy keeps everything that makes a state itself: lineage, serial, created_at, the hash
secret and the fingerprint of the key the ledger's hashes used, the columnar ledger (snapshot
and log, with each cell's write serial), resources, acknowledged event ids, applies and the
journal. Saved plans made against the source therefore apply against the copy, and pii hashes
still match.

Both stores are locked for the whole copy (so no apply writes under it), and the target is
written in one transaction: it holds either the old content or the whole copy. Afterwards the
target is read back and compared with what was read from the source: row counts per table and
a SHA-256 over every row of every table in primary-key order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from reconciler.errors import StateError
from reconciler.state.base import LockRequest, StateMeta, StateStore
from reconciler.state.tables import TABLES, time_indexes
from reconciler.state.url import redact_url


@runtime_checkable
class Portable(Protocol):
    """What both backends offer `state migrate` (tables.py says what a row looks like)."""

    def dump_table(
        self, table: str, batch_size: int = 50_000
    ) -> Iterator[list[tuple[Any, ...]]]: ...

    def load_tables(self, tables: Mapping[str, Iterable[list[tuple[Any, ...]]]]) -> None: ...


@dataclass
class Digest:
    """Row counts per table and one SHA-256 over all rows, fed as they stream past."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    _sha: Any = field(default_factory=hashlib.sha256, repr=False)

    def feed(self, table: str, rows: Iterable[list[tuple[Any, ...]]]) -> Iterator[list[Any]]:
        """Pass `rows` through, counting and hashing them on the way."""
        times = time_indexes(table)
        self._sha.update(f"\x1d{table}\x1d".encode())
        for batch in rows:
            self.counts[table] += len(batch)
            for row in batch:
                self._sha.update(repr(_canonical(row, times)).encode())
            yield batch

    @property
    def sha256(self) -> str:
        return str(self._sha.hexdigest())


def _canonical(row: tuple[Any, ...], times: tuple[int, ...]) -> tuple[Any, ...]:
    """The same row reads the same from either backend: times as UTC ISO text."""
    if not times:
        return tuple(row)
    out = list(row)
    for i in times:
        t = out[i]
        if isinstance(t, datetime):
            out[i] = t.astimezone(UTC).isoformat(timespec="microseconds")
    return tuple(out)


def digest_of(store: Portable) -> Digest:
    d = Digest()
    for table in TABLES:
        for _ in d.feed(table, store.dump_table(table)):
            pass
    return d


@dataclass(frozen=True)
class MigrationReport:
    source: str  # both URLs redacted
    target: str
    lineage: str
    serial: int
    counts: Mapping[str, int]
    sha256: str
    attributes: int
    values: int  # ledger cells with a value
    overwrote: StateMeta | None  # the target's own state, replaced under --force


def _portable(store: StateStore) -> Portable:
    if not isinstance(store, Portable):
        raise StateError(f"state {redact_url(store.url)} cannot be copied (no dump/load)")
    return store


def _holds_state(store: StateStore) -> bool:
    meta = store.meta()
    return bool(
        meta.serial
        or store.ledger_count()
        or store.resources()
        or store.event_count()
        or store.applies(1)
    )


def migrate_state(source: StateStore, target: StateStore, *, force: bool) -> MigrationReport:
    """Copy `source` over `target` (refused when the target holds a state, unless force)."""
    src, dst = _portable(source), _portable(target)
    where_from, where_to = redact_url(source.url), redact_url(target.url)
    if source.url == target.url:
        raise StateError(f"--to names the source state itself: {where_to}")
    with (
        source.lock(LockRequest("migrate", info=f"to {where_to}")),
        target.lock(LockRequest("migrate", info=f"from {where_from}")),
    ):
        meta = source.meta()
        previous = target.meta()
        overwrote = None
        if _holds_state(target):
            if not force:
                raise StateError(
                    f"{where_to} already holds a state (lineage {previous.lineage}, serial"
                    f" {previous.serial}, {target.ledger_count():,} ledger values)",
                    hint="pick an empty target (a new file or ?schema=), or pass --force to"
                    " replace it",
                )
            overwrote = previous
        read = Digest()
        dst.load_tables({t: read.feed(t, src.dump_table(t)) for t in TABLES})
        written = digest_of(dst)
    if written.counts != read.counts or written.sha256 != read.sha256:
        differ = [t for t in TABLES if written.counts[t] != read.counts[t]]
        raise StateError(
            f"the copy at {where_to} does not match the source"
            + (f" (row counts differ in {', '.join(differ)})" if differ else " (content hash)"),
            hint="do not use the target; the source is unchanged. Rerun with --force",
        )
    counts = target.attribute_counts()
    return MigrationReport(
        source=where_from,
        target=where_to,
        lineage=meta.lineage,
        serial=meta.serial,
        counts=dict(read.counts),
        sha256=read.sha256,
        attributes=len(counts),
        values=sum(counts.values()),
        overwrote=overwrote,
    )
