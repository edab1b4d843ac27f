"""Plan events: every valid event of the streams that the ledger has not acknowledged, once.

The work happens in a DuckDB database in the spool directory, so memory stays bounded however
long the streams and the ledger are: the validated events go in as Arrow batches, the ledger's
acknowledged ids are joined against them (anti-join), and the due events come out ordered by
user, into the event spool the executor reads.

An id seen twice with the same content is one event (a partner re-export); an id reused for
different content is a located error, because exactly-once would then have to drop one.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from reconciler.errors import Diagnostic, Location, SourceDataError
from reconciler.manifests import Manifests
from reconciler.plan import cost
from reconciler.plan.event_model import (
    INTENT_PREFIX,
    NO_EVENTS,
    EventNameCount,
    EventSample,
    EventsPlan,
    EventSpool,
    PlannedEvent,
)
from reconciler.plan.model import Summary
from reconciler.plan.packing import Key, count_sorted
from reconciler.sources.events import (
    FUTURE_TOLERANCE,
    MAX_LISTED,
    SourceEvent,
    read_events,
    stream_reader,
)
from reconciler.state.base import StateReader

MAX_LOCATED = 5  # expired / skipped events located in the plan
MAX_SAMPLES = 3
ARROW_ROWS = 20_000
MEMORY_LIMIT = "256MB"  # beside the desired-state database (sources/desired.py)
PROBE_RATIO = 4  # probe the ledger id by id when it is this many times larger than the streams

_EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("stream", pa.string()),
        ("ord", pa.int64()),
        ("display", pa.string()),
        ("row_no", pa.int64()),
        ("id_kind", pa.string()),
        ("user_id", pa.string()),
        ("name", pa.string()),
        ("time", pa.string()),
        ("content", pa.string()),
        ("properties", pa.string()),
        ("expired", pa.bool_()),
    ]
)


@dataclass
class _Loaded:
    """What reading the streams found besides the events themselves."""

    read: int = 0
    bad: list[Diagnostic] = field(default_factory=list)
    bad_total: int = 0
    skipped: int = 0
    skipped_at: list[str] = field(default_factory=list)


def plan_events(
    m: Manifests,
    state: StateReader,
    spool_dir: Path,
    *,
    plan_id: str,
    now: dt.datetime | None = None,
    delta_keys: Iterable[Sequence[Key]] = (),
) -> EventsPlan:
    """The events part of a plan; SourceDataError lists bad events at `file:row:col`.

    `delta_keys` are the users of the plan's attribute deltas (one delta each), in send order,
    in batches: the due events are packed with them as they are written to the spool, which
    counts the requests apply will send (one pass over the events, none over the deltas).
    """
    loaded = load_events(m, state, spool_dir, tag=plan_id, now=now)
    return loaded.finish(plan_id, delta_keys) if loaded is not None else NO_EVENTS


@dataclass
class LoadedEvents:
    """The streams read, validated and matched against the ledger's acknowledged ids, in their
    own DuckDB database: what a plan's events are before they are packed with its deltas."""

    m: Manifests
    state: StateReader
    spool_dir: Path
    now: dt.datetime
    db: Path
    con: duckdb.DuckDBPyConnection
    loaded: _Loaded
    acknowledged: int

    def finish(self, plan_id: str, delta_keys: Iterable[Sequence[Key]]) -> EventsPlan:
        """Write the due events to the plan's spool, packed with `delta_keys`; closes."""
        con, now = self.con, self.now
        try:
            in_doubt_ids = _intent_ids(self.state)
            spool = EventSpool(self.spool_dir / f"plan-{plan_id}.events.jsonl.gz")
            try:
                requests, carrying = _write_due(con, spool, delta_keys)
            finally:
                spool.close()
            retention = max(s.spec.retention_days for s in self.m.event_streams)
            planned = EventsPlan(
                due=spool.count,
                by_name=_by_name(con),
                samples=_samples(con),
                expired=_scalar(con, f"SELECT count(DISTINCT event_id) FROM ev WHERE {_EXPIRED}"),
                expired_at=_located(con, _EXPIRED),
                duplicates=_scalar(con, "SELECT count(*) - count(DISTINCT event_id) FROM ev"),
                skipped=self.loaded.skipped,
                skipped_at=tuple(self.loaded.skipped_at),
                in_doubt=_count_in_doubt(con, in_doubt_ids),
                acknowledged=self.acknowledged,
                streams=tuple(s.name for s in self.m.event_streams),
                retention_days=retention,
                prune_before=(now - dt.timedelta(days=retention) - FUTURE_TOLERANCE).isoformat(),
                read=self.loaded.read,
                spool_path=spool.path,
            )
            return counted(planned, requests, carrying)
        finally:
            self.close()

    def close(self) -> None:
        self.con.close()
        self.db.unlink(missing_ok=True)


def load_events(
    m: Manifests,
    state: StateReader,
    spool_dir: Path,
    *,
    tag: str,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
) -> LoadedEvents | None:
    """Read and check every stream and load the ledger's ids that matter (None: no streams).

    It needs neither the sources nor the deltas, so a plan runs it on a thread while it reads
    its sources (EventsRead); SourceDataError lists bad events at `file:row:col`. A set `stop`
    ends the read early (the plan failed first): it raises _Stopped.
    """
    if not m.event_streams:
        return None
    now = now or dt.datetime.now(dt.UTC)
    db = spool_dir / f"events-{tag}.duckdb"
    con = _open(db, spool_dir / f"events-{tag}.spill")
    try:
        loaded = _load_streams(con, m, now, stop)
        _raise_bad(loaded)
        _raise_conflicts(con)
        acknowledged = _load_acked(con, state)
    except BaseException:
        con.close()
        db.unlink(missing_ok=True)
        raise
    return LoadedEvents(m, state, spool_dir, now, db, con, loaded, acknowledged)


class EventsRead:
    """`load_events` on a thread, started before the plan reads its sources: the streams are
    read and checked in Python while DuckDB hashes and types the sources (it releases the GIL),
    so a plan waits for whichever is longer, not for both."""

    def __init__(self, m: Manifests, state: StateReader, spool_dir: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events-read")
        self._future = self._pool.submit(
            load_events, m, state, spool_dir, tag=tag, now=utcnow(), stop=self._stop
        )
        self._taken = False

    def result(self) -> LoadedEvents | None:
        """The loaded events (raising what loading raised); the caller now owns them."""
        self._taken = True
        return self._future.result()

    def close(self) -> None:
        """Wait for the thread (stopping a read nobody will take); loaded events nobody took
        are dropped with their database."""
        if not self._taken:
            self._stop.set()
        self._pool.shutdown(wait=True)
        if self._taken or self._future.cancelled():
            return
        if self._future.exception() is None:
            loaded = self._future.result()
            if loaded is not None:
                loaded.close()


_EXPIRED = "expired AND event_id NOT IN (SELECT event_id FROM acked)"
_NO_PROPERTIES: dict[str, Any] = {}  # packing looks at users only


def counted(events: EventsPlan, requests: int, carrying: int) -> EventsPlan:
    """`events` once packed: `requests` in all, `carrying` of them with events (and a marker)."""
    if not events.due:
        return events
    points = events.due + carrying  # one per event, one marker value per request with events
    return replace(events, data_points=points, requests=requests, requests_with_events=carrying)


def with_events(summary: Summary, events: EventsPlan, per_3s: int) -> Summary:
    """The plan's summary once the events share its requests with the attribute deltas."""
    markers = max(0, events.data_points - events.due)  # one per request carrying events
    resend = summary.full_resend_data_points + events.read + markers
    if not events.due:
        return replace(summary, full_resend_data_points=resend)
    return replace(
        summary,
        events=events.due,
        data_points=summary.data_points + events.data_points,
        requests=events.requests,
        full_resend_data_points=resend,
        estimated_seconds=cost.estimated_seconds(events.requests, per_3s),
    )


def _open(path: Path, spill: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute(f"SET temp_directory = '{_quote(str(spill))}'")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute("SET enable_progress_bar = false")
    con.execute(
        "CREATE TABLE ev (event_id VARCHAR, stream VARCHAR, ord BIGINT, display VARCHAR, "
        "row_no BIGINT, id_kind VARCHAR, user_id VARCHAR, name VARCHAR, time VARCHAR, "
        "content VARCHAR, properties VARCHAR, expired BOOLEAN)"
    )
    con.execute("CREATE TABLE acked (event_id VARCHAR)")
    return con


def _quote(text: str) -> str:
    return text.replace("'", "''")


class _Stopped(Exception):
    """The plan no longer wants its events (it failed before asking for them)."""


def _load_streams(
    con: duckdb.DuckDBPyConnection,
    m: Manifests,
    now: dt.datetime,
    stop: threading.Event | None = None,
) -> _Loaded:
    loaded = _Loaded()
    rows: list[tuple[Any, ...]] = []
    ordinal = 0
    for stream in m.event_streams:
        reader = stream_reader(m, stream, now)
        skip = stream.spec.on_invalid == "skip"
        for item in read_events(reader):
            if isinstance(item, Diagnostic):
                _note_bad(loaded, item, skip)
                continue
            loaded.read += 1
            ordinal += 1
            rows.append(_row(item, ordinal, reader.display))
            if len(rows) >= ARROW_ROWS:
                if stop is not None and stop.is_set():
                    raise _Stopped
                _insert(con, rows)
                rows = []
    if rows:
        _insert(con, rows)
    return loaded


# "field: 'the raw value' is not …": the value a coercion message quotes first
_QUOTED_VALUE = re.compile(
    r"""(?P<field>[^:]+): (?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?P<rest> .*)""", re.S
)


def value_free(message: str) -> str:
    """A bad event's message without the raw value it quotes: skipped events are listed in
    the plan, which is posted in pull requests, and an invalid property may hold anything
    (`reconciler validate` shows the value)."""
    found = _QUOTED_VALUE.fullmatch(message)
    return f"{found['field']}: the value{found['rest']}" if found else message


def _note_bad(loaded: _Loaded, problem: Diagnostic, skip: bool) -> None:
    if skip:
        loaded.skipped += 1
        if len(loaded.skipped_at) < MAX_LOCATED:
            loaded.skipped_at.append(f"{problem.location}: {value_free(problem.message)}")
        return
    loaded.bad_total += 1
    if len(loaded.bad) < MAX_LISTED:
        loaded.bad.append(problem)


def _row(e: SourceEvent, ordinal: int, display: str) -> tuple[Any, ...]:
    return (
        e.event_id,
        e.stream,
        ordinal,
        display,
        e.row,
        e.id_kind,
        e.user_id,
        e.name,
        e.time,
        e.content,
        e.properties_json,
        e.expired,
    )


def _insert(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    columns = list(zip(*rows, strict=True))
    batch = pa.RecordBatch.from_arrays(
        [pa.array(col, f.type) for col, f in zip(columns, _EVENT_SCHEMA, strict=True)],
        schema=_EVENT_SCHEMA,
    )
    con.register("_events_batch", batch)
    con.execute("INSERT INTO ev SELECT * FROM _events_batch")
    con.unregister("_events_batch")


def _raise_bad(loaded: _Loaded) -> None:
    if not loaded.bad_total:
        return
    more = f" (first {MAX_LISTED} shown)" if loaded.bad_total > MAX_LISTED else ""
    raise SourceDataError(
        loaded.bad, summary=f"{loaded.bad_total} bad events in the event streams{more}"
    )


def _raise_conflicts(con: duckdb.DuckDBPyConnection) -> None:
    """An id reused for different content, located at each reuse."""
    query = """
        WITH firsts AS (
            SELECT event_id, arg_min(content, ord) AS content, min(ord) AS ord
            FROM ev GROUP BY event_id
        )
        SELECT e.display, e.row_no, e.event_id, f.row_no, f.display
        FROM ev e JOIN firsts x USING (event_id) JOIN ev f ON f.ord = x.ord
        WHERE e.content <> x.content ORDER BY e.ord
    """
    total = _scalar(con, f"SELECT count(*) FROM ({query})")
    if not total:
        return
    problems = [
        Diagnostic(
            Location(display, row, 1),
            f"event id {event_id!r} was already used for a different event at "
            + (f"row {first_row}" if first_display == display else f"{first_display}:{first_row}"),
            hint="an id names one event; a changed event needs a new id",
        )
        for display, row, event_id, first_row, first_display in con.execute(
            f"{query} LIMIT {MAX_LISTED}"
        ).fetchall()
    ]
    raise SourceDataError(problems, summary=f"{total} events reuse the id of a different event")


def _load_acked(con: duckdb.DuckDBPyConnection, state: StateReader) -> int:
    """Fill `acked` with the ledger's ids that matter; returns how many ids the ledger holds.

    A ledger much larger than the streams is probed for the streams' ids only; otherwise the
    whole ledger is copied in, batch by batch (both bounded).
    """
    total = state.event_count()
    if not total:
        return 0
    candidates = _scalar(con, "SELECT count(DISTINCT event_id) FROM ev")
    if total > PROBE_RATIO * candidates:
        batches: Iterator[list[str]] = _probed(con, state)
    else:
        batches = state.acked_event_ids()
    writer = con.cursor()
    try:
        for ids in batches:
            if ids:
                table = pa.table({"event_id": pa.array(ids, pa.string())})
                writer.register("_acked_batch", table)
                writer.execute("INSERT INTO acked SELECT event_id FROM _acked_batch")
                writer.unregister("_acked_batch")
    finally:
        writer.close()
    return total


def _probed(con: duckdb.DuckDBPyConnection, state: StateReader) -> Iterator[list[str]]:
    reader = con.cursor()
    try:
        result = reader.execute("SELECT DISTINCT event_id FROM ev")
        while chunk := result.fetchmany(5_000):
            yield sorted(state.has_events([r[0] for r in chunk]))
    finally:
        reader.close()


def _intent_ids(state: StateReader) -> set[str]:
    """Ids of events sent in requests whose answer never came (see reconciler.apply.events)."""
    ids: set[str] = set()
    for address, record in state.resources().items():
        if address.startswith(INTENT_PREFIX):
            ids.update(str(i) for i in record.spec.get("events", ()))
    return ids


_DUE = """
    SELECT event_id, id_kind, user_id, name, time, properties, stream, ord, display, row_no
    FROM ev
    WHERE NOT expired AND event_id NOT IN (SELECT event_id FROM acked)
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ord) = 1
"""


def _write_due(
    con: duckdb.DuckDBPyConnection, spool: EventSpool, delta_keys: Iterable[Sequence[Key]]
) -> tuple[int, int]:
    """Due events into the spool, ordered like the deltas (by user), then by time, packed with
    the deltas' users on the way: (requests, requests carrying events)."""
    con.execute(f"CREATE TABLE due AS {_DUE}")
    if not _scalar(con, "SELECT count(*) FROM due"):
        return 0, 0  # nothing to pack: the plan's requests stay its attribute ones
    result = con.execute(
        "SELECT event_id, id_kind, user_id, name, time, properties FROM due "
        "ORDER BY id_kind, user_id, time, event_id"
    )

    def written() -> Iterator[PlannedEvent]:
        while rows := result.fetchmany(10_000):
            for event_id, id_kind, user_id, name, time, props in rows:
                spool.add_json((event_id, id_kind, user_id, name, time), props)
                yield PlannedEvent(event_id, id_kind, user_id, name, time, _NO_PROPERTIES)

    return count_sorted(delta_keys, written())


def _by_name(con: duckdb.DuckDBPyConnection) -> tuple[EventNameCount, ...]:
    rows = con.execute(
        "SELECT stream, name, count(*) FROM due GROUP BY stream, name ORDER BY stream, name"
    ).fetchall()
    return tuple(EventNameCount(s, n, int(c)) for s, n, c in rows)


def _samples(con: duckdb.DuckDBPyConnection) -> tuple[EventSample, ...]:
    rows = con.execute(
        f"SELECT user_id, name, time, stream FROM due ORDER BY ord LIMIT {MAX_SAMPLES}"
    ).fetchall()
    return tuple(EventSample(u, n, t, s) for u, n, t, s in rows)


def _located(con: duckdb.DuckDBPyConnection, where: str) -> tuple[str, ...]:
    rows = con.execute(
        f"SELECT display, row_no, time FROM ev WHERE {where} ORDER BY ord LIMIT {MAX_LOCATED}"
    ).fetchall()
    return tuple(f"{d}:{r}:1: event at {t} is older than the horizon" for d, r, t in rows)


def _count_in_doubt(con: duckdb.DuckDBPyConnection, ids: set[str]) -> int:
    if not ids:
        return 0
    con.register("_in_doubt", pa.table({"event_id": pa.array(sorted(ids), pa.string())}))
    try:
        return _scalar(con, "SELECT count(*) FROM due WHERE event_id IN (SELECT * FROM _in_doubt)")
    finally:
        con.unregister("_in_doubt")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()  # all of it: an unfinished result blocks the connection
    return int(rows[0][0]) if rows else 0


def utcnow() -> dt.datetime:
    """The instant the retention horizon counts back from (tests freeze it)."""
    return dt.datetime.now(dt.UTC)


def add_events(
    m: Manifests,
    state: StateReader,
    spool_dir: Path,
    plan_id: str,
    summary: Summary,
    delta_keys: Iterable[Sequence[Key]],
    pending: EventsRead | None = None,
) -> tuple[Summary, EventsPlan]:
    """The one call build_plan makes: plan the events (loaded on a thread when `pending`),
    then fold them into the summary."""
    if pending is not None:
        loaded = pending.result()
        events = loaded.finish(plan_id, delta_keys) if loaded is not None else NO_EVENTS
    else:
        events = plan_events(
            m, state, spool_dir, plan_id=plan_id, now=utcnow(), delta_keys=delta_keys
        )
    per_3s = m.workspace.spec.rate_limits.users_track_per_3s
    return with_events(summary, events, per_3s), events
