"""The I/O floor: read every input a plan reads, touching every cell, and count rows.

    .venv/bin/python bench/floor.py MANIFESTS STATE_DB

DuckDB reads each source file under MANIFESTS/data (Parquet, or CSV as text) and hashes every
column, so no column can be skipped (a bare count(*) on Parquet reads only the footer). SQLite
then scans the state's whole ledger in C, summing the lengths of every user id and value. No
plan can be faster than reading its inputs once; `plan / floor` is how far above that we are.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

import duckdb

READERS = {
    ".parquet": "read_parquet(?)",
    ".csv": "read_csv(?, header = true, all_varchar = true)",
}


def read_sources(data_dir: Path) -> dict[str, int]:
    con = duckdb.connect()
    rows = {}
    for path in sorted(data_dir.iterdir()):
        reader = READERS.get(path.suffix)
        if reader is None:
            continue
        sql = f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {reader}"  # noqa: S608 - fixed text
        result = con.execute(sql, [str(path)]).fetchone()
        assert result is not None
        rows[path.name] = int(result[0])
    con.close()
    return rows


def read_ledger(state_db: Path) -> int:
    con = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True)
    try:
        count, _size = con.execute(
            "SELECT count(*), sum(length(user_id) + length(value)) FROM ledger"
        ).fetchone()
    finally:
        con.close()
    return int(count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", type=Path)
    parser.add_argument("state_db", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    sources = read_sources(args.manifests / "data")
    read = time.perf_counter()
    ledger = read_ledger(args.state_db)
    done = time.perf_counter()
    out = {
        "source_rows": sources,
        "ledger_rows": ledger,
        "sources_seconds": round(read - started, 3),
        "ledger_seconds": round(done - read, 3),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
