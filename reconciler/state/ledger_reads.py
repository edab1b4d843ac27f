"""The ledger half of StateReader, shared by both backends: every read goes through DuckDB.

A backend supplies `_read_parts(workdir)` (the snapshot, materialised as a Parquet file, and
the log since it, read in one consistent database snapshot) and `_ledger_version()` (cheap: it
changes whenever the log or the snapshot does). Reads here register `stored` once per version
in a private DuckDB work database, so a drift run's several reads cost one materialisation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
import zlib
from abc import abstractmethod
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from reconciler.errors import StateError, UsageError
from reconciler.state import columnar
from reconciler.state.base import LedgerRow, StateMeta, UserLedger
from reconciler.state.cells import DAMAGED_HINT, LedgerDamaged
from reconciler.state.columnar import LedgerParts, SnapshotInfo

if TYPE_CHECKING:
    import duckdb

MEMORY_LIMIT = "768MB"
MEMORY_ENV = "RECONCILER_MEMORY_LIMIT"  # the same setting as the plan's work database


def memory_limit_of(memory_limit: str | None) -> str:
    """Compaction's cap: `apply --memory-limit`, else $RECONCILER_MEMORY_LIMIT, when it is
    above MEMORY_LIMIT (768MB), else MEMORY_LIMIT. A cap lowered for the plans does not lower
    it: a fold that fails leaves the whole log for every later plan to overlay, which needs
    more memory than the fold did (the reads here keep MEMORY_LIMIT)."""
    asked = memory_limit or os.environ.get(MEMORY_ENV)
    if not asked:
        return MEMORY_LIMIT
    size, floor = _bytes(asked), _bytes(MEMORY_LIMIT)
    return MEMORY_LIMIT if size is not None and floor is not None and size <= floor else asked


_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_UNITS |= {f"{u}b": n for u, n in _UNITS.items() if u not in ("", "b")}
_UNITS |= {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def _bytes(size: str) -> float | None:
    """DuckDB's reading of a size (KB = 1000 bytes, KiB = 1024); None when not this shape."""
    found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", size)
    if found is None or found.group(2).lower() not in _UNITS:
        return None
    return float(found.group(1)) * _UNITS[found.group(2).lower()]


def open_duck(
    workdir: Path | None, limit: str = MEMORY_LIMIT, *, ordered: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB capped at `limit` that spills to `workdir` (the default temporary
    directory without one); `ordered` keeps insertion order (the plan's work database). A
    limit DuckDB does not read is a UsageError."""
    import duckdb  # here: an apply that does not compact never loads it

    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = {columnar.quote(limit)}")
    except duckdb.Error as e:
        con.close()
        raise UsageError(
            f"memory limit {limit!r} is not a size DuckDB understands",
            hint=f"use a size such as 768MB, 2GB or 4GiB (--memory-limit or {MEMORY_ENV})",
        ) from e
    if workdir is not None:
        con.execute(f"SET temp_directory = {columnar.quote(str(workdir / 'spill'))}")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET preserve_insertion_order = {'true' if ordered else 'false'}")
    return con


def write_snapshot_file(chunks: Iterator[bytes], path: Path, info: SnapshotInfo) -> None:
    """The snapshot's chunks into `path`; LedgerDamaged when the file's Parquet footer does not
    read or counts other rows than its description (a cut or missing chunk), or when its bytes
    do not match the CRC-32 the description keeps (any other damaged byte: a page can
    decompress into other values without an error; older snapshots keep no CRC)."""
    crc = 0
    with path.open("wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
            crc = zlib.crc32(chunk, crc)
    try:
        rows = pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError) as e:
        reason = " ".join(str(e).split())
        raise LedgerDamaged(f"the ledger snapshot does not read as Parquet ({reason})") from e
    if rows != info.rows:
        raise LedgerDamaged(f"the ledger snapshot holds {rows} rows, its description {info.rows}")
    if info.crc32 is not None and crc != info.crc32:
        raise LedgerDamaged("the ledger snapshot's bytes do not match its checksum (damaged)")


class ColumnarReads:
    """Mixin: the StateReader ledger methods over `stored` (columnar.py)."""

    _duck: duckdb.DuckDBPyConnection | None = None
    _duck_dir: Path | None = None
    _duck_version: object = None
    _duck_attrs: tuple[str, ...] = ()
    _duck_snapshot: Path | None = None

    @abstractmethod
    def _read_parts(self, workdir: Path) -> LedgerParts: ...

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def _ledger_version(self) -> object:
        """Changes whenever the snapshot or the log does (both backends, the same SQL)."""
        return tuple(
            self._query(
                "SELECT (SELECT value FROM meta WHERE key = 'ledger_snapshot'),"
                " (SELECT coalesce(max(seq), 0) FROM ledger_log),"
                " (SELECT count(*) FROM ledger_log)"
            )[0]
        )

    def plan_digests(self, workdir: Path) -> tuple[str, Path] | None:
        """The digests the last apply left (plan/digests.py) as (fingerprint, Parquet file in
        `workdir`), or None. A cache: anything that does not check out reads as none."""
        rows = self._query("SELECT value FROM meta WHERE key = 'plan_digests'")
        if not rows:
            return None
        try:
            info = json.loads(rows[0][0])
            sha256, fingerprint = info["sha256"], str(info["fingerprint"])
        except (ValueError, TypeError, KeyError):
            return None  # a damaged description: as if there were none
        chunks = self._query("SELECT chunk, data FROM plan_digests ORDER BY chunk")
        data = b"".join(bytes(d) for _, d in chunks)
        if hashlib.sha256(data).hexdigest() != sha256:
            return None  # replaced between the two reads, or damaged
        path = workdir / f"digests-{uuid.uuid4().hex[:8]}.parquet"
        path.write_bytes(data)
        return fingerprint, path

    def ledger_parts(self, workdir: Path) -> LedgerParts:
        """The snapshot (as a Parquet file in `workdir`) and the log: what a plan diffs against."""
        return self._read_parts(workdir)

    def _stored(self) -> tuple[duckdb.DuckDBPyConnection, tuple[str, ...]]:
        version = self._ledger_version()
        if self._duck is not None and version == self._duck_version:
            return self._duck, self._duck_attrs
        self._close_duck()
        self._duck_dir = Path(tempfile.mkdtemp(prefix="reconciler-ledger-"))
        con = open_duck(self._duck_dir)
        parts = self._read_parts(self._duck_dir)
        self._duck_snapshot = parts.snapshot
        with self._snapshot_errors(con):
            self._duck_attrs = columnar.register_stored(con, parts)
        self._duck, self._duck_version = con, version
        return con, self._duck_attrs

    @abstractmethod
    def _state_name(self) -> str:
        """How messages name this state (its file, or its URL without a password)."""

    @contextmanager
    def _snapshot_errors(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """A DuckDB error reading `stored` is a damaged state when the snapshot itself does
        not scan (raise_if_snapshot_damaged); anything else is raised as it is."""
        import duckdb

        try:
            yield
        except duckdb.Error as e:
            raise_if_snapshot_damaged(con, self._duck_snapshot, self._state_name(), e)
            raise

    def _close_duck(self) -> None:
        if self._duck is not None:
            self._duck.close()
            self._duck = None
        if self._duck_dir is not None:
            shutil.rmtree(self._duck_dir, ignore_errors=True)
            self._duck_dir = None
        self._duck_version = None

    def cells_in_doubt(self) -> int:
        """Cells whose last write may have landed without an answer: the next plan resends."""
        con, attrs = self._stored()
        with self._snapshot_errors(con):
            return columnar.doubt_count(con, attrs)

    def ledger_count(self, attribute: str | None = None) -> int:
        counts = self.attribute_counts()
        if attribute is None:
            return sum(counts.values())
        return counts.get(attribute, 0)

    def attribute_counts(self) -> dict[str, int]:
        con, attrs = self._stored()
        with self._snapshot_errors(con):
            return columnar.attribute_counts(con, attrs)

    def ledger_arrow_batches(
        self, batch_size: int = 50_000, attributes: Collection[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        con, attrs = self._stored()
        picked = [a for a in attrs if attributes is None or a in set(attributes)]
        keep = [attrs.index(a) for a in picked]
        narrow = " UNION ALL ".join(
            f"SELECT id_kind, user_id, {columnar.quote(attrs[i])} AS attribute, "
            f"{columnar.col(i)} AS value FROM stored "
            f"WHERE {columnar.doubt_free(i)} IS NOT NULL"
            for i in keep
        )
        if not narrow:
            return
        sql = f"SELECT * FROM ({narrow}) ORDER BY {columnar.kind_order()}, user_id, attribute"
        cur = con.cursor()
        try:
            with self._snapshot_errors(con):
                for batch in columnar.arrow_reader(cur, sql, batch_size):
                    if batch.num_rows:
                        yield batch
        finally:
            cur.close()

    def iter_ledger(
        self, batch_size: int = 50_000, attributes: Collection[str] | None = None
    ) -> Iterator[list[LedgerRow]]:
        for b in self.ledger_arrow_batches(batch_size, attributes):
            cols = [b.column(i).to_pylist() for i in range(4)]
            yield [LedgerRow(u, a, v, k) for k, u, a, v in zip(*cols, strict=True)]

    def ledger_users(self, batch_size: int = 50_000) -> Iterator[list[tuple[str, str]]]:
        con, attrs = self._stored()
        cur = con.cursor()
        try:
            with self._snapshot_errors(con):
                reader = columnar.arrow_reader(cur, columnar.users_sql(attrs), batch_size)
                for batch in reader:
                    if batch.num_rows:
                        kinds, users = batch.column(0).to_pylist(), batch.column(1).to_pylist()
                        yield list(zip(kinds, users, strict=True))
        finally:
            cur.close()

    def ledger_for_users(
        self, users: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], UserLedger]:
        wanted = sorted(set(users))
        if not wanted:
            return {}
        con, attrs = self._stored()
        cur = con.cursor()
        try:
            cur.register(
                "_wanted",
                pa.table(
                    {"k": [k for k, _ in wanted], "u": [u for _, u in wanted]},
                    schema=pa.schema([("k", pa.string()), ("u", pa.string())]),
                ),
            )
            cols = ", ".join(columnar.doubt_free(i) for i in range(len(attrs)))
            with self._snapshot_errors(con):
                rows = cur.execute(
                    f"SELECT s.id_kind, s.user_id, s.serial{', ' + cols if cols else ''} "
                    "FROM stored s JOIN _wanted w ON s.id_kind = w.k AND s.user_id = w.u "
                    f"ORDER BY {columnar.kind_order('s.id_kind')}, s.user_id"
                ).fetchall()
        finally:
            cur.close()
        out: dict[tuple[str, str], UserLedger] = {}
        for row in rows:
            values = {a: v for a, v in zip(attrs, row[3:], strict=True) if v is not None}
            if values:
                out[(row[0], row[1])] = UserLedger(row[0], row[1], values, int(row[2] or 0))
        return out


SNAPSHOT_CHUNK_BYTES = 64 << 20  # a blob per 64 MiB: under SQLite's and PostgreSQL's limits


def snapshot_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(SNAPSHOT_CHUNK_BYTES):
            yield chunk


class ColumnarCompaction(ColumnarReads):
    """Mixin for stores: fold the log into the next snapshot, in one transaction."""

    def _log_cells(self) -> int:
        return int(self._query("SELECT coalesce(sum(cells), 0) FROM ledger_log")[0][0])

    @abstractmethod
    def _replace_snapshot(self, info: SnapshotInfo, path: Path) -> None:
        """In ONE locked transaction: the new chunks, the new info, and the folded log gone."""
        ...

    @abstractmethod
    def meta(self) -> StateMeta: ...

    @abstractmethod
    def _replace_digests(self, info: str, chunks: list[bytes]) -> None:
        """In ONE locked transaction: the digests' chunks and their description."""
        ...

    def put_plan_digests(self, fingerprint: str, path: Path, rows: int) -> None:
        """Keep a plan's digests for the next plan (the caller holds the lock)."""
        data = path.read_bytes()
        info = json.dumps(
            {"fingerprint": fingerprint, "rows": rows, "sha256": hashlib.sha256(data).hexdigest()},
            sort_keys=True,
        )
        step = SNAPSHOT_CHUNK_BYTES
        self._replace_digests(info, [data[i : i + step] for i in range(0, len(data), step)])

    def log_cells(self) -> int:
        """Cells in the log since the snapshot: what every plan overlays until compaction."""
        return self._log_cells()

    def compact_ledger(self, *, min_cells: int = 1, memory_limit: str | None = None) -> int:
        """Fold the log into a new snapshot when it holds at least `min_cells` cells.

        Needs the lock (the caller holds it, so nothing is appended meanwhile). A kill at any
        moment leaves either the old snapshot and the whole log, or the new snapshot and the
        log after it: the transaction that swaps them is the only write. Returns the cells
        folded (0: nothing done). A fold that fails (the memory limit, a full disk) is a
        StateError and changes nothing: the log alone is a complete ledger.
        """
        import duckdb

        cells = self._log_cells()
        if cells == 0 or cells < min_cells:
            return 0
        workdir = Path(tempfile.mkdtemp(prefix="reconciler-compact-"))
        try:
            con = open_duck(workdir, memory_limit_of(memory_limit))
            try:
                parts = self._read_parts(workdir)
                attrs = columnar.register_stored(con, parts)
                upto = parts.log.max_seq
                if upto == 0:
                    return 0
                out = workdir / "next.parquet"
                kept, rows = columnar.compact(con, attrs, out)
                probe = columnar.row_hash_probe(con)
            except duckdb.OutOfMemoryException as e:
                raise StateError(
                    f"folding the ledger log ({cells:,} cells) into a new snapshot needed more "
                    f"than the {memory_limit_of(memory_limit)} memory limit, even spilling to "
                    "disk",
                    hint=f"raise it with --memory-limit 2GB or {MEMORY_ENV}=2GB; until then "
                    "every plan overlays the log, which loses nothing",
                ) from e
            except (duckdb.Error, OSError) as e:
                raise StateError(
                    f"folding the ledger log into a new snapshot failed: {_first_line(e)}"
                ) from e
            finally:
                con.close()
            chunks = -(-out.stat().st_size // SNAPSHOT_CHUNK_BYTES)
            info = SnapshotInfo(kept, self.meta().serial, upto, rows, chunks, probe, _crc32(out))
            self._replace_snapshot(info, out)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        self._close_duck()
        return cells


def raise_if_snapshot_damaged(
    con: duckdb.DuckDBPyConnection, snapshot: Path | None, state: str, error: BaseException
) -> None:
    """After `error` stopped a read of `stored`: a StateError naming `state` when the snapshot
    file itself does not scan (a damaged page of a snapshot that keeps no CRC, written before
    reconciler kept one, which DuckDB refuses); nothing otherwise, nor for running out of
    memory or an interrupt. Every column is read. The reason is the first line of DuckDB's,
    without the file's name (a temporary copy) or any value it quotes (maybe personal data)."""
    import duckdb

    quiet = (duckdb.OutOfMemoryException, duckdb.InterruptException)
    if snapshot is None or isinstance(error, quiet):
        return
    try:
        con.execute(
            f"SELECT bit_xor(hash(COLUMNS(*))) FROM read_parquet({columnar.quote(str(snapshot))})"
        )
    except quiet:
        return
    except duckdb.Error as e:
        first = re.sub(r'Failed to read file "[^"]*": ', "", _first_line(e))
        first = re.sub(r'"[^"]*"', '"…"', first)
        reason = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in first)
        raise StateError(
            f"state {state}: the ledger snapshot does not read ({reason})", hint=DAMAGED_HINT
        ) from error


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as fh:
        while block := fh.read(SNAPSHOT_CHUNK_BYTES):
            crc = zlib.crc32(block, crc)
    return crc


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
