"""Load a partner export into a DuckDB table of raw cells: (row_no, c0, t0, c1, t1, …).

`cN` is the raw text of the Nth requested column and `tN` says whether that text is the value
itself (a CSV cell, a JSON string) or the JSON text of a non-string value. `row_no` is the
row as users count it: the CSV file line (the header is line 1), the JSONL line, or the 1-based
Parquet row. CSV and Parquet are read by DuckDB without a Python loop; JSONL goes through the
line reader, which keeps its exact line numbers and JSON error locations, and so does a CSV
that DuckDB's strict reader refuses (mixed line endings, ragged rows).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import duckdb
import pyarrow as pa

from reconciler.errors import Diagnostic, Location, SourceDataError
from reconciler.sources.fastpath import sql_literal
from reconciler.sources.reader import bad_utf8, read_rows, unreadable_parquet
from reconciler.sources.remote import RemotePath, register

BATCH_ROWS = 50_000


PART_SHIFT = 40  # a multi-object source numbers rows part << 40 | row (2^40 rows per object)


@dataclass(frozen=True)
class Scan:
    """How to read a prepared source's raw cells, before any table holds them.

    `row` is the row number's expression and `cells` the (cN, tN) expressions, over `source`
    (a file scan or a work table); `hashed` are the expressions a row's digest hashes: the
    file's own typed values where it has them, which is cheaper than their text and says the
    same (plan/digests.py)."""

    source: str
    row: str
    cells: tuple[str, ...]
    hashed: tuple[str, ...]
    drops: tuple[str, ...] = ()  # work objects to drop with the source ("TABLE x")
    in_place: bool = False  # `source` scans the file itself (a local Parquet file)
    lists: frozenset[int] = frozenset()  # cells that also come as a list of strings, `lN`
    shapes: tuple[tuple[int, str], ...] = ()  # (cell, "date" | "instant"): text DuckDB wrote


@dataclass(frozen=True)
class RawTable:
    name: str
    display: str
    header: tuple[str, ...]  # the file's own columns, for column numbers in messages
    requested: tuple[str, ...]  # c0, c1, … in this order
    parts: tuple[str, ...] = ()  # the objects of a globbed remote source, in order
    scan: Scan | None = None  # set until `materialize` creates table `name`
    # cells whose file holds a list of strings: table `name` has it as column `lN` beside the
    # JSON text cN, so typing need not parse the text back (sources/desired.py)
    lists: frozenset[int] = frozenset()
    # cells whose text DuckDB wrote from a typed column (a DATE, a TIMESTAMP), so its shape is
    # known and typing need not match it against a pattern (fastpath.canonical_sql)
    shapes: tuple[tuple[int, str], ...] = ()

    def digest_sql(self) -> str:
        """(row_no, c0, t0, h): every row's identifier cell and a 64-bit hash of its other
        requested cells, straight from the scan (no text conversion of typed columns)."""
        assert self.scan is not None
        sc = self.scan
        hashed = ", ".join(sc.hashed) or "NULL"
        return f"SELECT {sc.row} AS row_no, {sc.cells[0]}, hash({hashed}) AS h FROM {sc.source}"

    def column_no(self, column: str) -> int:
        return self.header.index(column) + 1 if column in self.header else 1

    def locate(self, row_no: int) -> tuple[str, int]:
        """(file, row) of a row number: the object it came from when the source has parts."""
        if not self.parts:
            return self.display, row_no
        return self.parts[row_no >> PART_SHIFT], row_no & ((1 << PART_SHIFT) - 1)


def prepare_parts(
    con: duckdb.DuckDBPyConnection,
    name: str,
    paths: Sequence[RemotePath],
    fmt: str,
    requested: Sequence[str],
) -> RawTable:
    """Every object of a globbed source as one work table, each row numbered by its object."""
    header: tuple[str, ...] = ()
    for n, path in enumerate(paths):
        part = load_raw(con, f"{name}_p{n}", path, fmt, path.url, requested)
        header = header or part.header
        cols = ", ".join(f"c{i}, t{i}" for i in range(len(requested)))
        select = f"SELECT ({n}::BIGINT << {PART_SHIFT}) | row_no AS row_no, {cols} FROM {part.name}"
        if n == 0:
            con.execute(f"CREATE TABLE {name}_parts AS {select}")
        else:
            con.execute(f"INSERT INTO {name}_parts {select}")
        con.execute(f"DROP TABLE {part.name}")
    scan = _table_scan(f"{name}_parts", len(requested))
    return RawTable(name, paths[0].url, header, tuple(requested), tuple(p.url for p in paths), scan)


def load_raw(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path | RemotePath,
    fmt: str,
    display: str,
    requested: Sequence[str],
) -> RawTable:
    """Create table `name` (prepare_raw, then materialize every row)."""
    return materialize(con, prepare_raw(con, name, path, fmt, display, requested))


def prepare_raw(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path | RemotePath,
    fmt: str,
    display: str,
    requested: Sequence[str],
) -> RawTable:
    """Open a source for reading; a file that cannot be read is a located SourceDataError.

    Nothing is copied yet where the file can be scanned again (a local Parquet file); a CSV
    file is read once into a work table. `materialize` then creates table `name` from the
    rows it is asked for, so a plan whose digests say most users did not change copies and
    types only the rest (plan/digests.py).

    A RemotePath is read in place: DuckDB through the registered fsspec filesystem, the line
    reader through a stream."""
    if isinstance(path, RemotePath):
        register(con, path.url, path.options)
    elif not path.is_file():
        raise SourceDataError([Diagnostic(Location(display), "cannot read: file not found")])
    if fmt == "csv":
        header, scan = _csv(con, name, path, display, requested)
    elif fmt == "parquet":
        header, scan = _parquet(con, name, path, display, requested)
    else:
        header, scan = _python_rows(con, name, path, "jsonl", display, requested)
    return RawTable(name, display, tuple(header), tuple(requested), scan=scan)


def materialize(con: duckdb.DuckDBPyConnection, raw: RawTable, keep: str | None = None) -> RawTable:
    """Create table `name` (row_no, c0, t0, …) from the prepared scan: every row, or only the
    rows whose row_no is in table `keep`. The filter sits under the text conversion, so the
    rows left out cost nothing more."""
    sc = raw.scan
    if sc is None:
        return raw
    where = f" WHERE {sc.row} IN (SELECT row_no FROM {keep})" if keep else ""
    try:
        con.execute(
            f"CREATE TABLE {raw.name} AS SELECT {sc.row} AS row_no, {', '.join(sc.cells)} "
            f"FROM {sc.source}{where}"
        )
    except duckdb.Error as e:
        raise_unreadable(con, [raw], e)
    for drop in sc.drops:
        con.execute(f"DROP {drop}")
    return RawTable(
        raw.name,
        raw.display,
        raw.header,
        raw.requested,
        raw.parts,
        lists=sc.lists,
        shapes=sc.shapes,
    )


def raise_unreadable(
    con: duckdb.DuckDBPyConnection, raws: Sequence[RawTable], error: duckdb.Error
) -> NoReturn:
    """Raise `error`, which a statement scanning `raws` raised, as a SourceDataError naming
    each file it scans in place that fails when scanned alone (a local Parquet file whose
    footer read but one of whose pages is damaged); `error` itself when none does, or when it
    is not the file's (out of memory, an interrupt).

    Only a statement that failed pays for this: each file is scanned again, alone, as its
    digests are (RawTable.digest_sql), which reads every column the source uses."""
    if isinstance(error, (duckdb.OutOfMemoryException, duckdb.InterruptException)):
        raise error
    found: list[Diagnostic] = []
    for raw in raws:
        if raw.scan is None or not raw.scan.in_place:
            continue
        try:
            con.execute(f"SELECT bit_xor(hash(row_no, c0, h)) FROM ({raw.digest_sql()})")
        except (duckdb.OutOfMemoryException, duckdb.InterruptException):
            raise error from None
        except duckdb.Error as e:
            found.append(unreadable_parquet(raw.display, e))
    if not found:
        raise error
    raise SourceDataError(found) from error


def release(con: duckdb.DuckDBPyConnection, raw: RawTable) -> None:
    """Drop a prepared source's work objects (when it was never materialised)."""
    for drop in raw.scan.drops if raw.scan else ():
        con.execute(f"DROP {drop.replace(' ', ' IF EXISTS ', 1)}")


def _table_scan(table: str, width: int) -> Scan:
    cells = tuple(f"c{i}, t{i}" for i in range(width))
    hashed = tuple(f"c{i}, t{i}" for i in range(1, width))
    return Scan(table, "row_no", cells, hashed, (f"TABLE {table}",))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _csv_header(path: Path | RemotePath, display: str) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), [])
    except UnicodeDecodeError as e:
        raise SourceDataError([bad_utf8(path, display)]) from e
    except OSError as e:
        raise SourceDataError([Diagnostic(Location(display), f"cannot read: {e}")]) from e


def _csv(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path | RemotePath,
    display: str,
    requested: Sequence[str],
) -> tuple[list[str], Scan]:
    header = _csv_header(path, display)
    if not header:  # an empty file: the line reader makes the empty table
        return _python_rows(con, name, path, "csv", display, requested)
    columns = "{" + ", ".join(f"{sql_literal(h)}: 'VARCHAR'" for h in header) + "}"
    scan = (
        f"read_csv({sql_literal(str(path))}, header=true, auto_detect=false, "
        f"columns={columns}, delim=',', quote='\"', escape='\"', null_padding=true, "
        "parallel=false, encoding='utf-8')"
    )
    cols = [
        f"{_quote(c)} AS c{i}, true AS t{i}"
        if c in header
        else f"NULL::VARCHAR AS c{i}, true AS t{i}"
        for i, c in enumerate(requested)
    ]
    try:
        con.execute(f"CREATE TEMP TABLE {name}_file AS SELECT * FROM {scan}")
        rows = con.execute(f"SELECT count(*) FROM {name}_file").fetchall()[0][0]
        if rows != _data_lines(path):
            # a quoted cell spanning lines: a stray quote swallows every row after it into
            # one cell (or, padded, into nothing), which no check would see; and a real
            # multi-line cell shifts the line numbers errors are located by
            raise duckdb.InvalidInputException("rows and lines differ")
    except duckdb.Error:
        # Mixed line endings, stray quotes, ragged rows: the line reader is slower but exact,
        # and it locates what it cannot read.
        con.execute(f"DROP TABLE IF EXISTS {name}_file")
        return _python_rows(con, name, path, "csv", display, requested)
    hashed = tuple(_quote(c) for c in requested[1:] if c in header)
    return header, Scan(f"{name}_file", "rowid + 2", tuple(cols), hashed, (f"TABLE {name}_file",))


def _data_lines(path: Path | RemotePath) -> int:
    """The lines of a CSV file after its header: a final line without a newline counts, and
    so would a blank line (DuckDB's reader skips those, so such a file takes the line reader,
    which is exact)."""
    newlines, size, last = 0, 0, b""
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            newlines += block.count(b"\n")
            size += len(block)
            last = block[-1:]
    lines = newlines + (1 if size and last != b"\n" else 0)
    return max(lines - 1, 0)


def _parquet(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path | RemotePath,
    display: str,
    requested: Sequence[str],
) -> tuple[list[str], Scan]:
    """A local file is scanned in place (twice at most: its digests, then the rows asked
    for); a remote one is copied once into a work table, so it is downloaded once."""
    scan = f"read_parquet({sql_literal(str(path))}, file_row_number = true)"
    drops: tuple[str, ...] = ()
    try:
        if isinstance(path, RemotePath):
            con.execute(f"CREATE TEMP TABLE {name}_file AS SELECT * FROM {scan}")
            scan, drops = f"{name}_file", (f"TABLE {name}_file",)
        described = con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    except duckdb.Error as e:
        raise SourceDataError([unreadable_parquet(display, e)]) from e
    types = {row[0]: row[1] for row in described if row[0] != "file_row_number"}
    cols = []
    lists = set()
    shapes = []
    for i, column in enumerate(requested):
        if column not in types:
            cols.append(f"NULL::VARCHAR AS c{i}, true AS t{i}")
            continue
        text, is_text = _parquet_text(_quote(column), types[column])
        cols.append(f"{text} AS c{i}, {is_text} AS t{i}")
        if i and (shape := _text_shape(types[column])) is not None:
            shapes.append((i, shape))
        if i and types[column] == "VARCHAR[]":
            cols[-1] += f", {_quote(column)} AS l{i}"
            lists.add(i)
    hashed = tuple(_quote(c) for c in requested[1:] if c in types)
    in_place = not drops  # a local file, scanned again by each statement that reads it
    row = "file_row_number + 1"
    scan_ = Scan(scan, row, tuple(cols), hashed, drops, in_place, frozenset(lists), tuple(shapes))
    return list(types), scan_


def _text_shape(duck_type: str) -> str | None:
    """The shape of the text `_parquet_text` writes for a column of this type, if it is one
    typing knows (fastpath._shaped)."""
    if duck_type == "DATE":
        return "date"
    if duck_type.startswith("TIMESTAMP"):
        return "instant"
    return None


def _parquet_text(col: str, duck_type: str) -> tuple[str, str]:
    """The raw text of a typed Parquet column, and whether it is the value itself."""
    if duck_type == "VARCHAR":
        return col, "true"
    if duck_type == "DATE":
        return f"CAST({col} AS VARCHAR)", "true"
    if duck_type.startswith("TIMESTAMP"):
        # an instant with a zone is written in UTC: as text it would be in the session's
        # zone, the machine's (a laptop and a CI runner would disagree), and "+00" is not the
        # ISO form the fast path reads, so every row went through Python
        at = f"timezone('UTC', {col})" if "TIME ZONE" in duck_type else col
        text = (
            f"CASE WHEN microsecond({at}) % 1000000 = 0 "
            f"THEN strftime({at}, '%Y-%m-%dT%H:%M:%SZ') "
            f"ELSE strftime({at}, '%Y-%m-%dT%H:%M:%S.%fZ') END"
        )
        return text, "true"
    numbers = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE")
    if duck_type in numbers or duck_type.startswith("DECIMAL"):
        return f"CAST({col} AS VARCHAR)", "false"
    if duck_type.startswith(("U", "TIME")):
        return f"CAST({col} AS VARCHAR)", "true"
    return f"CAST(to_json({col}) AS VARCHAR)", "false"  # lists, structs, maps


def _python_rows(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path | RemotePath,
    fmt: str,
    display: str,
    requested: Sequence[str],
) -> tuple[list[str], Scan]:
    """Load through the row reader (JSONL always; CSV that DuckDB's strict reader refused)."""
    fields: list[tuple[str, pa.DataType]] = [("row_no", pa.int64())]
    for i in range(len(requested)):
        fields += [(f"c{i}", pa.string()), (f"t{i}", pa.bool_())]
    schema = pa.schema(fields)
    header: dict[str, None] = {}
    created = False
    for batch in _row_batches(path, fmt, display, requested, schema, header):
        con.register("_jsonl_batch", batch)
        if not created:
            con.execute(f"CREATE TABLE {name}_rows AS SELECT * FROM _jsonl_batch")
            created = True
        else:
            con.execute(f"INSERT INTO {name}_rows SELECT * FROM _jsonl_batch")
        con.unregister("_jsonl_batch")
    return list(header), _table_scan(f"{name}_rows", len(requested))


def _row_batches(
    path: Path | RemotePath,
    fmt: str,
    display: str,
    requested: Sequence[str],
    schema: pa.Schema,
    header: dict[str, None],
) -> Iterator[pa.RecordBatch]:
    columns: list[list[Any]] = [[] for _ in schema.names]

    def flush() -> pa.RecordBatch:
        batch = pa.RecordBatch.from_arrays(
            [pa.array(c, t) for c, t in zip(columns, schema.types, strict=True)], schema=schema
        )
        for c in columns:
            c.clear()
        return batch

    for row_no, row in read_rows(path, fmt, display):
        if not header:
            header.update(dict.fromkeys(row))
        columns[0].append(row_no)
        for i, column in enumerate(requested):
            value = row.get(column)
            if value is None or isinstance(value, str):
                columns[2 * i + 1].append(value)
                columns[2 * i + 2].append(True)
            else:
                columns[2 * i + 1].append(json.dumps(value, ensure_ascii=False))
                columns[2 * i + 2].append(False)
        if len(columns[0]) >= BATCH_ROWS:
            yield flush()
    yield flush()


def raw_value(text: str | None, is_text: bool) -> Any:
    """The Python value a raw cell stands for, as the row readers would have produced it."""
    if text is None or is_text:
        return text
    return json.loads(text)
