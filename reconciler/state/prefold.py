"""Folding the ledger log ahead, while an apply is still sending.

A first sync of a million users leaves twenty million cells in the log, and folding them into
the next snapshot after the last answer took 20-27 s on two cores, a fifth of the apply: the
log's entries are read and decoded (5 s), pivoted to one wide row per user (4-8 s), and only
then sorted and written out. While the apply sends, Braze (or the sandbox) is what it waits
for, so `LogPrefold` does the reading and pivoting of the acknowledged entries on a thread in
the meantime; the compaction after the apply then reads only the entries the prefold did not
take (state/ledger_reads.py `compact_ledger(prefold=…)`).

Nothing here writes the state. The prefold reads committed entries on connections of its own
and writes wide Parquet parts to a scratch directory; the compaction remains the one
transaction that swaps the snapshot, so a `kill -9` at any moment leaves what it left before.

What may be taken: the log is append-only except for the doubt marks of the apply in progress,
which its acknowledgements delete. The prefold takes only a *prefix* of the log (every entry up
to some seq K) that holds none of this apply's marks, so the entries it took can never change,
and the compaction overlays the entries after K on top of them in log order, exactly as it
would have read the whole log. It proves the prefix still stands before using it: the seqs at
or below K must be exactly the ones the prefold folded, else the prefold is set aside and the
whole log is read, as without one.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from reconciler.state.cells import decode_cells

PREFOLD_CELLS = 1_000_000  # cells per prefolded part, as a part of the spooled log
POLL_SECONDS = 1.0

# (seq, kind, cells) of the log entries after a seq, ascending
LogIndex = Callable[[int], list[tuple[int, str, int]]]
# (seq, blob) of the entries in (after, upto], ascending
LogBlobs = Callable[[int, int], list[tuple[int, bytes]]]


@dataclass(frozen=True)
class WidePart:
    """Entries of the log pivoted to one row per user (id_kind, user_id, serial and a column
    per attribute): `columns` names the file's column of each attribute."""

    path: Path
    columns: dict[str, str]
    rows: int


@dataclass(frozen=True)
class Prefolded:
    """What a prefold took: its parts in log order, and every seq they fold, ascending."""

    parts: tuple[WidePart, ...]
    seqs: tuple[int, ...]
    cells: int

    @property
    def upto_seq(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    @property
    def attributes(self) -> frozenset[str]:
        return frozenset(a for p in self.parts for a in p.columns)


class LogPrefold:
    """A thread that pivots the acknowledged prefix of the log, a million cells at a time.

    `start_seq` is the newest entry before the apply began: a doubt mark above it belongs to
    the apply, and may yet be deleted, so the prefix stops before the first one. Best effort:
    any error stops the thread, and `finish()` then returns None (the compaction reads the
    whole log)."""

    def __init__(
        self, index: LogIndex, blobs: LogBlobs, start_seq: int, min_cells: int | None = None
    ) -> None:
        self._index, self._blobs = index, blobs
        self._start = start_seq
        self._min = PREFOLD_CELLS if min_cells is None else min_cells
        self.workdir = Path(tempfile.mkdtemp(prefix="reconciler-prefold-"))
        self._parts: list[WidePart] = []
        self._seqs: list[int] = []
        self._cells = 0
        self._done = 0  # seqs up to here are folded (0: none yet)
        self._failed: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-prefold", daemon=True)

    def start(self) -> LogPrefold:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.wait(POLL_SECONDS):  # then every part that is ready
                while not self._stop.is_set() and self.step():
                    pass
        except BaseException as e:  # noqa: BLE001 - best effort: the compaction reads it all
            self._failed = e

    def step(self) -> bool:
        """Fold the next prefix of at least `min_cells` cells, if there is one (True)."""
        taken: list[int] = []
        cells = 0
        for seq, kind, n in self._index(self._done):
            if kind == "doubt" and seq > self._start:
                break  # this apply's mark: the prefix ends before it
            taken.append(seq)
            cells += n
            if cells >= self._min:
                break
        if not taken or cells < self._min:
            return False
        entries = self._blobs(self._done, taken[-1])
        if [seq for seq, _ in entries] != taken:
            raise RuntimeError("the log's prefix changed while it was read")
        tables = [decode_cells(blob, seq) for seq, blob in entries]
        table = pa.concat_tables(tables).combine_chunks()  # one chunk: the pivot is per chunk
        self._parts.append(pivot_part(table, self.workdir, len(self._parts)))
        self._seqs += taken
        self._cells += cells
        self._done = taken[-1]
        return True

    def finish(self) -> Prefolded | None:
        """Stop the thread; what it folded (None: nothing, or it failed)."""
        self._stop.set()
        self._thread.join()
        if self._failed is not None or not self._parts:
            return None
        return Prefolded(tuple(self._parts), tuple(self._seqs), self._cells)

    def close(self) -> None:
        """Stop the thread and delete its parts."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        shutil.rmtree(self.workdir, ignore_errors=True)


def pivot_part(table: pa.Table, workdir: Path, number: int) -> WidePart:
    """Pivot log cells (LOG_SCHEMA, in log order) to one row per user, into a Parquet file."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from reconciler.state.columnar import pivot_options, pivot_wide

    found = sorted(a for a in pc.unique(table["attribute"]).to_pylist() if a is not None)
    outs = [f"a{j}" for j in range(len(found))]
    wide = pivot_wide(table, pivot_options(found), outs, use_threads=False)
    path = workdir / f"part-{number}.parquet"
    pq.write_table(wide, str(path), compression="lz4")
    return WidePart(path, dict(zip(found, outs, strict=True)), wide.num_rows)


def part_select(part: WidePart, number: int, outs: Sequence[tuple[str, str]]) -> str:
    """SQL reading a prefolded part as load_overlay's wide rows: `outs` are (attribute, the
    overlay's column); an attribute the part lacks reads as NULL (no cell)."""
    from reconciler.state.columnar import quote

    cols = "".join(
        f", {part.columns[a]} AS {o}" if a in part.columns else f", NULL::VARCHAR AS {o}"
        for a, o in outs
    )
    return (
        f"SELECT id_kind, user_id, serial, {number}::INTEGER AS part{cols} "
        f"FROM read_parquet({quote(str(part.path))})"
    )
