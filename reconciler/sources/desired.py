"""Desired state: every AttributeSync and AudienceMapping as one wide DuckDB table each.

Each source becomes `src_<n>(uid, v1, w1, …, vN, wN)`: one row per user, and per attribute
`vJ`, the canonical JSON text of the value (arrays sorted, as they compare as sets), and `wJ`,
set only where the text sent differs from it (arrays keep their order); both are NULL for an
empty cell, which means "no value" (the attribute unsets). An audience is `src_<n>(uid)`: its
members. The tables live in DuckDB, capped at MEMORY_LIMIT and spilling to the plan's spool
directory beyond it, so a million users times twenty attributes never sit in Python objects,
and they keep the shape of the sources: the diff joins each on the user (plan/diff.py).

Each source is typed in SQL (`fastpath`), and only the rows the SQL is not sure about go
through `coerce` in Python, which also writes every error message. Bad rows are reported as
`file:row:col: column: reason`; the default policy fails on them, listing the first 20 and the
total, and `on_invalid: skip` reports and skips them instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from reconciler.errors import Diagnostic, Location, SourceDataError
from reconciler.manifests import Manifests
from reconciler.manifests.documents import Resource
from reconciler.manifests.kinds import AttributeSyncSpec, AudienceMappingSpec
from reconciler.manifests.kinds.attribute_schema import AttributeDef
from reconciler.manifests.model import mapping_attribute
from reconciler.sources.coerce import CoerceError, coerce, reason
from reconciler.sources.fastpath import (
    array_items_sql,
    blank,
    canonical_sql,
    list_items_sql,
    sql_literal,
    visible,
)
from reconciler.sources.ingest import (
    RawTable,
    materialize,
    prepare_parts,
    prepare_raw,
    raw_value,
    release,
)
from reconciler.sources.reader import source_format
from reconciler.sources.remote import Options, RemotePath, is_remote, resolve
from reconciler.state.ledger_reads import MEMORY_ENV, MEMORY_LIMIT, open_duck
from reconciler.state.values import canonical_value

MAX_LISTED = 20
OnMissing = Literal["keep", "unset", "set_false"]


@dataclass(frozen=True)
class AttributePolicy:
    """How one managed attribute behaves: who writes it and what a missing user means."""

    attribute: str
    writer: str  # the resource address, e.g. AudienceMapping.aiq-high-value
    on_missing: OnMissing
    pii: bool
    is_array: bool
    audience: bool


@dataclass(frozen=True)
class Cell:
    id_kind: str
    user_id: str
    attribute: str
    value: Any  # the wire value; None means "no value" (the attribute unsets)


@dataclass(frozen=True)
class SourceTable:
    """One source's wide table: `attributes[j-1]` is in columns vJ/wJ (none: an audience,
    whose members get `audience` = true)."""

    table: str
    id_kind: str
    attributes: tuple[str, ...]
    audience: str | None = None
    # users whose row `on_invalid: skip` left out (table of uid): the diff leaves them alone,
    # as if the source had not mentioned them under `on_missing_row: keep`
    held: str | None = None

    def cells_sql(self) -> str:
        """The table as narrow (id_kind, user_id, attribute, canon, wire) rows."""
        kind = sql_literal(self.id_kind)
        if self.audience is not None:
            return (
                f"SELECT {kind} AS id_kind, uid AS user_id, {sql_literal(self.audience)} "
                f"AS attribute, 'true' AS canon, NULL::VARCHAR AS wire FROM {self.table}"
            )
        parts = [
            f"SELECT {kind} AS id_kind, uid AS user_id, {sql_literal(a)} AS attribute, "
            f"v{j} AS canon, w{j} AS wire FROM {self.table}"
            for j, a in enumerate(self.attributes, start=1)
        ]
        return " UNION ALL ".join(parts)


@dataclass
class Desired:
    """The typed sources (in `con`, one wide table each) and what the plan needs to know."""

    con: duckdb.DuckDBPyConnection
    policies: dict[str, AttributePolicy] = field(default_factory=dict)
    skipped: list[Diagnostic] = field(default_factory=list)
    audience_members: dict[str, int] = field(default_factory=dict)
    sources: list[SourceTable] = field(default_factory=list)
    # cells with a value of the users a selector left out of `sources` (unchanged since the
    # digests were taken: plan/digests.py), counted without typing them again
    untyped_values: int = 0

    def value_count(self) -> int:
        """Cells with a value: what a full resend would cost in data points."""
        total = self.untyped_values
        for src in self.sources:
            if src.audience is not None:
                counted = f"SELECT count(*) FROM {src.table}"
            elif src.attributes:
                counted = (
                    "SELECT "
                    + " + ".join(f"count(v{j})" for j in range(1, len(src.attributes) + 1))
                    + f" FROM {src.table}"
                )
            else:
                continue
            total += int(self.con.execute(counted).fetchall()[0][0])
        return total

    def iter_cells(self) -> Iterator[Cell]:
        """Every cell as Python values (tests and small tools; the planner stays in SQL)."""
        if not self.sources:
            return
        union = " UNION ALL ".join(f"({s.cells_sql()})" for s in self.sources if s.cells_sql())
        cur = self.con.cursor()
        cur.execute(
            f"SELECT id_kind, user_id, attribute, coalesce(wire, canon) FROM ({union}) "
            "ORDER BY id_kind, user_id, attribute"
        )
        while rows := cur.fetchmany(10_000):
            for kind, user, attribute, text in rows:
                yield Cell(kind, user, attribute, None if text is None else json.loads(text))
        cur.close()

    def close(self) -> None:
        self.con.close()


def open_workdb(workdir: Path | None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to `workdir` beyond `memory_limit` (bounded memory).

    The limit is `memory_limit`, else $RECONCILER_MEMORY_LIMIT, else MEMORY_LIMIT (768MB).

    In memory rather than a database file: nothing here must survive the process, and a file
    would write every table to disk even when it fits (measured: 2-3x slower at 100k users).
    """
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    limit = memory_limit or os.environ.get(MEMORY_ENV) or MEMORY_LIMIT
    return open_duck(workdir, limit, ordered=True)


@dataclass
class Prepared:
    """One source opened but not typed yet: what a selector needs to pick its rows."""

    name: str  # its work-table stem, e.g. sync_0
    raw: RawTable  # prepared (ingest.prepare_raw): nothing materialised yet
    id_kind: str
    id_column: str
    attrs: list[AttributeDef]  # an attribute sync's columns, in order (none: an audience)
    audience: str | None = None  # an audience mapping's attribute
    spec: Any = None


# A selector sees every prepared source and the work database, and names for each source the
# work table of the row numbers to type (`row_no`), None for all of them, or NONE_KEPT when
# none of its rows needs typing. It may also set Desired.untyped_values and count audience
# members it left out (plan/digests.py).
NONE_KEPT = ""
Selector = Callable[[duckdb.DuckDBPyConnection, "Desired", "list[Prepared]"], dict[str, str | None]]


def build_desired(
    m: Manifests,
    workdir: Path | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    select: Selector | None = None,
) -> Desired:
    """Read every source; raise SourceDataError listing the first 20 bad rows and the total.

    `con` is a work database to build in (see open_workdb), which stays the caller's to close
    (a LedgerPreload may be using it); by default a new one, closed here on failure. With
    `select`, every source is opened first and only the rows it picks are typed.
    """
    owned = con is None
    con = con if con is not None else open_workdb(workdir)
    desired = Desired(con)
    bad: list[Diagnostic] = []
    try:
        prepared = [
            _prepare_sync(m, sync, desired, f"sync_{n}") for n, sync in enumerate(m.attribute_syncs)
        ]
        prepared += [
            _prepare_mapping(m, mapping, desired, f"mapping_{n}")
            for n, mapping in enumerate(m.audience_mappings)
        ]
        keep: dict[str, str | None] = select(con, desired, prepared) if select else {}
        for source in prepared:
            if source.audience is None:
                _type_sync(source, desired, bad, keep.get(source.name))
            else:
                _type_mapping(source, desired, bad, keep.get(source.name))
    except BaseException:
        if owned:
            con.close()
        raise
    if bad:
        if owned:
            con.close()
        listed = bad[:MAX_LISTED]
        more = f" (first {MAX_LISTED} shown)" if len(bad) > MAX_LISTED else ""
        rows = "bad row" if len(bad) == 1 else "bad rows"
        raise SourceDataError(listed, summary=f"{len(bad)} {rows} in the sources{more}")
    return desired


def check_sources(
    m: Manifests, workdir: Path | None = None, skipped: list[Diagnostic] | None = None
) -> list[Diagnostic]:
    """Every bad row that `plan` would refuse, in every attribute sync and audience file whose
    manifest loaded, by the very code plan reads them with (for `validate`, which must agree
    with plan). Sources whose manifest is broken (an unknown attribute or integration, a
    missing file) are left to the manifest errors that already name them. The rows an
    `on_invalid: skip` source leaves out go to `skipped`, with their reasons (plan names only
    their places)."""
    con = open_workdb(workdir)
    desired = Desired(con)
    bad: list[Diagnostic] = []
    try:
        for n, sync in enumerate(m.attribute_syncs):
            spec = sync.spec
            if _readable(m, spec.source.path) and all(
                a in m.attributes for a in spec.columns.values()
            ):
                _collect(_read_sync, (m, sync, desired, bad, f"sync_{n}"), bad)
        for n, mapping in enumerate(m.audience_mappings):
            spec_m = mapping.spec
            integration = m.integrations.get(spec_m.integration)
            if (
                _readable(m, spec_m.members.path)
                and integration is not None
                and mapping_attribute(spec_m, integration.spec) is not None
            ):
                _collect(_read_mapping, (m, mapping, desired, bad, f"mapping_{n}"), bad)
    finally:
        con.close()
    if skipped is not None:
        skipped.extend(desired.skipped)
    return bad


def _readable(m: Manifests, path: str) -> bool:
    """A local file that exists (a missing one is a manifest error already), or a remote
    source (whose errors are found by reading it)."""
    return is_remote(path) or m.path(path).is_file()


def _collect(read: Any, args: tuple[Any, ...], bad: list[Diagnostic]) -> None:
    try:
        read(*args)
    except SourceDataError as e:  # an unreadable file, missing columns: located already
        bad.extend(e.diagnostics)


def _id_kind(m: Manifests, integration: str) -> str:
    found = m.integrations.get(integration)
    return found.spec.identifier if found else "external_id"


def _load(
    m: Manifests,
    path: str,
    fmt: str | None,
    con: duckdb.DuckDBPyConnection,
    name: str,
    requested: list[str],
    options: Options | None = None,
) -> RawTable:
    """The source opened for reading (ingest.prepare_raw): `materialize` copies its rows."""
    if is_remote(path):
        objects = resolve(path, options or Options())
        paths = [RemotePath(o.url, options or Options()) for o in objects]
        kind = source_format(paths[0], fmt)
        if len(paths) == 1:
            return prepare_raw(con, name, paths[0], kind, paths[0].url, requested)
        return prepare_parts(con, name, paths, kind, requested)
    full = m.path(path)
    return prepare_raw(con, name, full, source_format(full, fmt), str(full), requested)


def remote_options(spec: Any) -> Options:
    return Options(spec.endpoint, spec.region, spec.pick)


@dataclass
class _Typed:
    """One source typed into table `<raw>_typed`: uid, slow flag and canon/wire per attribute."""

    raw: RawTable
    attrs: list[AttributeDef]
    bad: list[Diagnostic] = field(default_factory=list)  # this source's, in row order
    problems: list[Diagnostic] = field(default_factory=list)  # coerce errors of unique rows
    fixed: list[tuple[int, str, list[tuple[str, str | None, str | None]]]] = field(
        default_factory=list
    )  # slow rows that coerced: (row_no, uid, [(attribute, canon, wire)])
    slow: int = 0  # rows SQL was not sure of (or with a blank identifier): Python read them

    @property
    def table(self) -> str:
        return f"{self.raw.name}_typed"


def _type_source(
    con: duckdb.DuckDBPyConnection, raw: RawTable, attrs: list[AttributeDef]
) -> _Typed:
    """Type every cell in SQL; mark the rows whose identifier or cells need Python.

    One statement in two projections, so that each cell's expression is evaluated once: the
    values and blank flags, then the row's `slow` flag from them.
    """
    typed = _Typed(raw, attrs)
    tidy = f"{visible('c0')} AND {visible('right(c0, 1)')}"  # no whitespace to strip
    cols = [
        f"CASE WHEN t0 AND {tidy} THEN c0 END AS uid",
        f"{blank('c0')} AS b0",
    ]
    slow = ["(NOT b0 AND uid IS NULL)"]
    outs = ["uid", "b0 AS id_blank"]
    shapes = dict(raw.shapes)
    for j, attr in enumerate(attrs, start=1):
        canon, wire = canonical_sql(attr, f"c{j}", f"t{j}", shapes.get(j))
        cols.append(f"{blank(f'c{j}')} AS b{j}")
        cols.append(f"{canon} AS v{j}")
        cols.append(f"{wire} AS w{j}" if wire else f"NULL::VARCHAR AS w{j}")
        slow.append(f"(NOT b{j} AND v{j} IS NULL)")
        # VARCHAR, not the JSON type `to_json` gives: the diff compares and quotes them as text
        outs += [
            f"CAST(CASE WHEN NOT b{j} THEN v{j} END AS VARCHAR) AS v{j}",
            f"CAST(CASE WHEN NOT b{j} THEN w{j} END AS VARCHAR) AS w{j}",
        ]
    lists = [
        f"{list_items_sql(f'l{j}') if j in raw.lists else array_items_sql(f'c{j}')} AS c{j}_items"
        for j, attr in enumerate(attrs, start=1)
        if attr.type == "array"
    ]
    source = raw.name
    if lists:  # parse each array cell once, not once per use
        source = f"(SELECT *, {', '.join(lists)} FROM {raw.name})"
    # one statement, the cells' expressions in an inner projection: evaluated once per cell,
    # with no intermediate table (materialising one cost 4x at 1M users)
    con.execute(
        f"CREATE TABLE {typed.table} AS SELECT row_no, {', '.join(outs)}, "
        f"{' OR '.join(slow)} AS slow FROM (SELECT row_no, {', '.join(cols)} FROM {source})"
    )
    return typed


def _slow_rows(
    con: duckdb.DuckDBPyConnection, typed: _Typed, id_column: str, empty_reason: str
) -> None:
    """Coerce the rows SQL was not sure of in Python: their identifiers, values and errors."""
    raw, attrs = typed.raw, typed.attrs
    width = len(attrs) + 1
    picks = ", ".join(f"r.c{i}, r.t{i}" for i in range(width))
    cur = con.execute(
        f"SELECT r.row_no, {picks} FROM {raw.name} r JOIN {typed.table} t USING (row_no) "
        f"WHERE t.slow OR t.id_blank ORDER BY r.row_no"
    )
    ids: list[tuple[int, str]] = []
    while rows := cur.fetchmany(10_000):
        typed.slow += len(rows)
        for row in rows:
            row_no = row[0]
            values = [raw_value(row[1 + 2 * i], row[2 + 2 * i]) for i in range(width)]
            user = _identifier(values[0])
            if user is None:
                typed.bad.append(_bad(raw, row_no, id_column, empty_reason))
                continue
            if any(ord(c) < 32 for c in user):
                why = "a line break or control character inside the identifier"
                typed.bad.append(_bad(raw, row_no, id_column, why))
                continue
            ids.append((row_no, user))
            cells, problems = [], []
            for attr, column, value in zip(attrs, raw.requested[1:], values[1:], strict=True):
                try:
                    wire = coerce(value, attr)
                except CoerceError as e:
                    problems.append(_bad(raw, row_no, column, reason(e, value, attr)))
                    continue
                cells.append(_canon_wire(attr, wire))
            if problems:
                typed.problems.extend(problems)
            else:
                typed.fixed.append((row_no, user, cells))
    con.execute(f"CREATE TABLE {typed.table}_ids (row_no BIGINT, uid VARCHAR)")
    _insert_rows(con, f"{typed.table}_ids", [pa.int64(), pa.string()], ids)


def _insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    types: list[pa.DataType],
    rows: list[tuple[Any, ...]],
) -> None:
    """INSERT `rows` into `table` (columns of `types`, in order) in one statement, through
    Arrow: DuckDB's executemany runs one statement per row, about 1 ms each (5 s for the
    5,000 rows of a Parquet file whose every row needed Python)."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    data = pa.table(
        {
            f"c{i}": pa.array(column, type=t)
            for i, (column, t) in enumerate(zip(columns, types, strict=True))
        }
    )
    view = f"{table}_rows"
    con.register(view, data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM {view}")
    finally:
        con.unregister(view)


def _canon_wire(attr: AttributeDef, wire: Any) -> tuple[str, str | None, str | None]:
    if wire is None:
        return attr.name, None, None
    if attr.type == "array":
        return attr.name, canonical_value(sorted(wire)), canonical_value(wire)
    return attr.name, canonical_value(wire), None


def _duplicates(
    con: duckdb.DuckDBPyConnection, typed: _Typed, id_column: str, noun: str
) -> set[int]:
    """Rows whose identifier appeared on an earlier row: reported, and none of their cells kept."""
    con.execute(
        f"CREATE TABLE {typed.table}_all AS "
        f"SELECT row_no, uid FROM {typed.table} WHERE uid IS NOT NULL AND NOT slow "
        f"UNION ALL SELECT row_no, uid FROM {typed.table}_ids"
    )
    # a grouped aggregate and a join rather than a window: both spill past the memory limit
    # (a window over a 4M-member audience did not fit in 768 MB)
    rows = con.execute(
        f"WITH d AS (SELECT uid, min(row_no) AS first FROM {typed.table}_all "
        f"GROUP BY uid HAVING count(*) > 1) "
        f"SELECT a.row_no, a.uid, d.first FROM {typed.table}_all a JOIN d USING (uid) "
        f"WHERE a.row_no <> d.first ORDER BY a.row_no"
    ).fetchall()
    for row_no, _uid, first in rows:  # the identifier is not shown: errors reach PRs
        typed.bad.append(
            _bad(
                typed.raw,
                row_no,
                id_column,
                f"duplicate {noun}: the same as {_row(typed.raw, first)}",
            )
        )
    return {r[0] for r in rows}


def _insert(
    con: duckdb.DuckDBPyConnection,
    typed: _Typed,
    dups: set[int],
    problem_rows: set[int],
    out: str,
) -> None:
    """Table `out(uid, v1, w1, …)`: the rows SQL typed, then the rows Python fixed."""
    excluded = dups | problem_rows
    if not excluded and not typed.slow:
        # every row typed in SQL and kept (the usual case): the typed table is the source as
        # it stands, renamed rather than copied (its row_no, id_blank and slow columns are
        # never read again); copying it cost 1.7 s of a 1M-user first sync
        con.execute(f"ALTER TABLE {typed.table} RENAME TO {out}")
        return
    con.execute(f"CREATE TABLE {typed.table}_skip (row_no BIGINT)")
    _insert_rows(con, f"{typed.table}_skip", [pa.int64()], [(r,) for r in sorted(excluded)])
    n = len(typed.attrs)
    cols = "".join(f", v{j}, w{j}" for j in range(1, n + 1))
    con.execute(
        f"CREATE TABLE {out} AS SELECT uid{cols} FROM {typed.table} t "
        f"WHERE uid IS NOT NULL AND NOT slow "
        f"AND NOT EXISTS (SELECT 1 FROM {typed.table}_skip s WHERE s.row_no = t.row_no)"
    )
    con.execute(f"DROP TABLE {typed.table}")
    fixed = [
        (uid, *[x for _, canon, wire in cells for x in (canon, wire)])
        for row_no, uid, cells in typed.fixed
        if row_no not in dups
    ]
    _insert_rows(con, out, [pa.string()] * (1 + 2 * n), fixed)


def _read_sync(
    m: Manifests,
    sync: Resource[AttributeSyncSpec],
    desired: Desired,
    bad: list[Diagnostic],
    name: str,
) -> None:
    _type_sync(_prepare_sync(m, sync, desired, name), desired, bad, None)


def _prepare_sync(
    m: Manifests, sync: Resource[AttributeSyncSpec], desired: Desired, name: str
) -> Prepared:
    spec = sync.spec
    id_kind = _id_kind(m, spec.integration)
    attrs = [m.attributes[a].definition for a in spec.columns.values()]
    for attr in attrs:
        desired.policies[attr.name] = AttributePolicy(
            attr.name, sync.address, spec.on_missing_row, attr.pii, attr.type == "array", False
        )
    requested = [spec.identifier_column, *spec.columns]
    raw = _load(
        m,
        spec.source.path,
        spec.source.format,
        desired.con,
        name,
        requested,
        remote_options(spec.source),
    )
    missing = [c for c in requested if c not in raw.header]
    if missing and raw.header and raw.display.endswith(".csv"):
        release(desired.con, raw)
        raise SourceDataError(
            [Diagnostic(Location(raw.display, 1, 1), f"missing columns: {', '.join(missing)}")]
        )
    return Prepared(name, raw, id_kind, spec.identifier_column, attrs, None, spec)


def _type_sync(source: Prepared, desired: Desired, bad: list[Diagnostic], keep: str | None) -> None:
    spec, name, attrs = source.spec, source.name, source.attrs
    if keep == NONE_KEPT:
        _none_typed(source, desired)
        return
    raw = materialize(desired.con, source.raw, keep)
    typed = _type_source(desired.con, raw, attrs)
    _slow_rows(desired.con, typed, spec.identifier_column, "empty identifier")
    dups = _duplicates(desired.con, typed, spec.identifier_column, "identifier")
    problems = [p for p in typed.problems if p.location.line not in dups]
    problem_rows = {p.location.line for p in problems}
    if spec.on_invalid == "skip":
        desired.skipped.extend(problems)
    else:
        typed.bad.extend(problems)
    bad.extend(sorted(typed.bad, key=lambda d: (d.location.line, d.location.col)))
    out = f"src_{name}"
    _insert(desired.con, typed, dups, problem_rows, out)
    held = None
    if spec.on_invalid == "skip" and problem_rows:
        # a skipped row is not an absent user: `on_missing_row: unset` must not wipe it
        held = f"held_{name}"
        desired.con.execute(
            f"CREATE OR REPLACE TABLE {held} AS SELECT DISTINCT uid FROM {typed.table}_ids "
            "WHERE uid IS NOT NULL AND list_contains(?::BIGINT[], row_no)",
            [sorted(problem_rows - dups)],
        )
    desired.sources.append(
        SourceTable(out, source.id_kind, tuple(a.name for a in attrs), held=held)
    )
    _drop_work(desired.con, typed)


def _read_mapping(
    m: Manifests,
    mapping: Resource[AudienceMappingSpec],
    desired: Desired,
    bad: list[Diagnostic],
    name: str,
) -> None:
    _type_mapping(_prepare_mapping(m, mapping, desired, name), desired, bad, None)


def _prepare_mapping(
    m: Manifests, mapping: Resource[AudienceMappingSpec], desired: Desired, name: str
) -> Prepared:
    spec = mapping.spec
    integration = m.integrations.get(spec.integration)
    attribute = mapping_attribute(spec, integration.spec if integration else None)
    assert attribute is not None  # validated
    id_kind = _id_kind(m, spec.integration)
    column = spec.members.identifier_column or id_kind
    on_missing: OnMissing = "set_false" if spec.on_exit == "set_false" else "unset"
    desired.policies[attribute] = AttributePolicy(
        attribute, mapping.address, on_missing, False, False, True
    )
    raw = _load(
        m,
        spec.members.path,
        spec.members.format,
        desired.con,
        name,
        [column],
        remote_options(spec.members),
    )
    return Prepared(name, raw, id_kind, column, [], attribute, spec)


def _type_mapping(
    source: Prepared, desired: Desired, bad: list[Diagnostic], keep: str | None
) -> None:
    name, column, attribute = source.name, source.id_column, source.audience
    assert attribute is not None
    if keep == NONE_KEPT:
        _none_typed(source, desired)
        return
    raw = materialize(desired.con, source.raw, keep)
    typed = _type_source(desired.con, raw, [])
    _slow_rows(desired.con, typed, column, "empty or missing identifier")
    if source.spec.on_invalid == "skip":
        # a member row with no identifier names nobody: left out, warned about by place;
        # a duplicate member is still an error
        desired.skipped.extend(typed.bad)
        typed.bad.clear()
    dups = _duplicates(desired.con, typed, column, "member")
    bad.extend(sorted(typed.bad, key=lambda d: (d.location.line, d.location.col)))
    out = f"src_{name}"
    desired.con.execute(
        f"CREATE TABLE {out} AS SELECT uid FROM {typed.table}_all "
        f"WHERE row_no NOT IN (SELECT unnest(?::BIGINT[]))",
        [sorted(dups)],
    )
    rows = desired.con.execute(f"SELECT count(*) FROM {out}").fetchall()
    # distinct members (a selector may have counted the ones it left out already)
    desired.audience_members[attribute] = desired.audience_members.get(attribute, 0) + int(
        rows[0][0]
    )
    desired.sources.append(SourceTable(out, source.id_kind, (), attribute))
    _drop_work(desired.con, typed)


def _none_typed(source: Prepared, desired: Desired) -> None:
    """The source's wide table when the selector kept none of its rows: empty, and made
    without reading the source again or compiling its typing (a no-op plan's whole cost,
    once the digests vouched for every user)."""
    out = f"src_{source.name}"
    cells = "".join(f", v{j} VARCHAR, w{j} VARCHAR" for j in range(1, len(source.attrs) + 1))
    desired.con.execute(f"CREATE TABLE {out} (uid VARCHAR{cells})")
    names = tuple(a.name for a in source.attrs)
    desired.sources.append(SourceTable(out, source.id_kind, names, source.audience))
    for drop in source.raw.scan.drops if source.raw.scan else ():
        desired.con.execute(f"DROP {drop}")
    desired.con.execute(f"DROP TABLE IF EXISTS {source.raw.name}")


def _drop_work(con: duckdb.DuckDBPyConnection, typed: _Typed) -> None:
    """Free the raw and intermediate tables of a source once its wide table exists."""
    for table in (typed.raw.name, typed.table, *(f"{typed.table}_{x}" for x in WORK_TABLES)):
        con.execute(f"DROP TABLE IF EXISTS {table}")


WORK_TABLES = ("all", "ids", "skip")


def _identifier(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _row(raw: RawTable, row_no: int) -> str:
    where, line = raw.locate(row_no)
    return f"{where}:{line}" if raw.parts else f"row {line}"


def _bad(raw: RawTable, row: int, column: str, reason: str) -> Diagnostic:
    where, line = raw.locate(row)
    return Diagnostic(Location(where, line, raw.column_no(column)), f"{column}: {reason}")
