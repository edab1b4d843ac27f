"""ingest.raise_unreadable: a statement over local Parquet files that failed names the file
that fails alone, and only then; anything else stays the error it was."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reconciler.errors import SourceDataError
from reconciler.sources.ingest import RawTable, prepare_raw, raise_unreadable
from reconciler.sources.reader import scan_reason


def _parquet(tmp_path: Path, name: str, rows: int = 20_000) -> Path:
    path = tmp_path / f"{name}.parquet"
    ids = [f"user-{n:06d}" for n in range(rows)]
    pq.write_table(pa.table({"id": ids, "v": [str(n) for n in range(rows)]}), path)
    return path


def _damage_pages(path: Path) -> None:
    """Garbage over every page (their headers too), none over the footer."""
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    for i in range(4, len(data) - 8 - footer):
        data[i] = 0x41 + i % 26
    path.write_bytes(bytes(data))


def _prepared(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> RawTable:
    return prepare_raw(con, name, path, "parquet", path.name, ["id", "v"])


def _both(con: duckdb.DuckDBPyConnection, a: RawTable, b: RawTable) -> None:
    con.execute(
        f"SELECT bit_xor(x.h), bit_xor(y.h) FROM ({a.digest_sql()}) x "
        f"JOIN ({b.digest_sql()}) y USING (c0)"
    )


def test_the_damaged_one_of_two_sources_is_named(tmp_path: Path) -> None:
    con = duckdb.connect()
    good = _prepared(con, _parquet(tmp_path, "good"), "good")
    damaged_path = _parquet(tmp_path, "damaged")
    damaged = _prepared(con, damaged_path, "damaged")  # the footer reads
    _damage_pages(damaged_path)
    with pytest.raises(duckdb.Error) as failed:
        _both(con, good, damaged)
    with pytest.raises(SourceDataError) as named:
        raise_unreadable(con, [good, damaged], failed.value)
    (diagnostic,) = named.value.diagnostics
    assert diagnostic.location.path == "damaged.parquet"
    assert diagnostic.message.startswith("cannot read Parquet: ")
    assert "\n" not in diagnostic.message
    assert named.value.__cause__ is failed.value


def test_an_error_no_file_repeats_alone_is_raised_as_it_was(tmp_path: Path) -> None:
    con = duckdb.connect()
    raws = [_prepared(con, _parquet(tmp_path, n, 10), n) for n in ("a", "b")]
    error = duckdb.ConversionException("Conversion Error: not the files'")
    with pytest.raises(duckdb.ConversionException) as raised:
        raise_unreadable(con, raws, error)
    assert raised.value is error


def test_out_of_memory_is_not_blamed_on_a_file(tmp_path: Path) -> None:
    con = duckdb.connect()
    path = _parquet(tmp_path, "damaged")
    raw = _prepared(con, path, "damaged")
    _damage_pages(path)
    error = duckdb.OutOfMemoryException("Out of Memory Error: could not allocate")
    with pytest.raises(duckdb.OutOfMemoryException) as raised:
        raise_unreadable(con, [raw], error)
    assert raised.value is error


def test_the_reason_keeps_the_first_line_and_no_value() -> None:
    error = duckdb.InvalidInputException(
        'Invalid Input Error: Invalid string encoding found in Parquet file "a.parquet": '
        'value "jo\\xB2\n"e@example.com" is not valid UTF8!\n\nLINE 1: SELECT'
    )
    assert scan_reason(error, "a.parquet") == (
        'Invalid Input Error: Invalid string encoding found in Parquet file "a.parquet": '
        'value "…" is not valid UTF8!'
    )
    other = duckdb.Error('Conversion Error: could not convert "secret" in "b.parquet"\nLINE 1')
    assert scan_reason(other, "a.parquet") == 'Conversion Error: could not convert "…" in "…"'
    assert scan_reason(duckdb.Error("don't know what type: \x0f"), "a") == (
        "don't know what type: \\x0f"
    )
