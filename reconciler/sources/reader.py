"""Read partner exports (CSV, JSONL, Parquet) as numbered rows, streaming."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.errors import Diagnostic, Location, SourceDataError
from reconciler.sources.remote import RemotePath

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def source_format(path: Path | RemotePath, declared: str | None) -> str:
    if declared:
        return declared
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceDataError(
            [Diagnostic(Location(str(path)), f"unknown source format '{path.suffix}'")],
            summary="declare `format: csv|jsonl|parquet` on the source",
        )
    return fmt


def read_rows(
    path: Path | RemotePath, fmt: str, display: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, row) pairs. CSV rows are numbered by file line (the header is row 1).

    A file that cannot be read, or holds a byte that is not UTF-8 anywhere in it (the text
    is decoded a chunk at a time, well after the header), is a located SourceDataError."""
    try:
        if fmt == "csv":
            yield from _csv(path, display)
        elif fmt == "jsonl":
            yield from _jsonl(path, display)
        else:
            yield from _parquet(path, display)
    except UnicodeDecodeError as e:
        raise SourceDataError([bad_utf8(path, display)]) from e
    except OSError as e:
        raise SourceDataError(
            [Diagnostic(Location(display), f"cannot read: {e.strerror or e}")]
        ) from e


def bad_utf8(path: Path | RemotePath, display: str) -> Diagnostic:
    """Where the first byte that is not UTF-8 is, by line and column (the decoder's own
    position is relative to the chunk it was decoding, not to the file)."""
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                col = len(raw[: e.start].decode("utf-8")) + 1
                return Diagnostic(
                    Location(display, line_no, col),
                    f"not UTF-8: byte 0x{raw[e.start]:02x} cannot start a character here",
                    hint="save the file as UTF-8",
                )
    return Diagnostic(Location(display), "cannot read: not UTF-8")


def _csv(path: Path | RemotePath, display: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        # strict: an unclosed quote is an error, not one cell holding the rest of the file
        # (every row after it would silently disappear, and its users read as missing)
        reader = csv.DictReader(fh, strict=True)
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as e:
                raise SourceDataError(
                    [
                        Diagnostic(
                            Location(display, reader.line_num + 1, 1),
                            f"malformed CSV: {e} (an unclosed quote from this line on?)",
                        )
                    ]
                ) from e
            if None in row:
                raise SourceDataError(
                    [
                        Diagnostic(
                            Location(display, reader.line_num, 1), "more cells than header columns"
                        )
                    ]
                )
            yield reader.line_num, row


class LineRow(dict[str, Any]):
    """A JSONL row that remembers its line, so an error can point at the field's column."""

    def __init__(self, row: dict[str, Any], line: str) -> None:
        super().__init__(row)
        self.line = line

    def column_of(self, field: str) -> int:
        """1-based column of `"key":` for `field` (`properties.price`: the nested key after its
        parent's); 1 when it is not in the line."""
        at = 0
        for key in field.split("."):
            found = self.line.find(json.dumps(key, ensure_ascii=False) + ":", at)
            if found < 0:
                found = self.line.find(json.dumps(key) + " :", at)
            if found < 0:
                return at + 1 if at else 1
            at = found
        return at + 1


def _jsonl(path: Path | RemotePath, display: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SourceDataError(
                    [Diagnostic(Location(display, n, e.colno), f"invalid JSON: {e.msg}")]
                ) from e
            if not isinstance(row, dict):
                raise SourceDataError(
                    [Diagnostic(Location(display, n, 1), "each line must be a JSON object")]
                )
            yield n, LineRow(row, line)


def _parquet(path: Path | RemotePath, display: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """A file that is not Parquet, or is cut or damaged, is a SourceDataError naming it (Arrow's
    ArrowInvalid is a ValueError, not an OSError)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    source = path.open("rb") if isinstance(path, RemotePath) else path
    try:
        batches = pq.ParquetFile(source).iter_batches(batch_size=65_536)
        while (batch := next(batches, None)) is not None:
            rows = batch.to_pylist()
            for row in rows:
                n += 1
                yield n, row
    except pa.ArrowException as e:
        raise SourceDataError([unreadable_parquet(display, e)]) from e


_UTF8_VALUE = re.compile(r'value ".*" is not valid UTF8', re.DOTALL)
_QUOTED = re.compile(r'"[^"]*"')


def scan_reason(error: BaseException, path: str) -> str:
    """The first line of DuckDB's message, without a value of the file: a value it quotes
    (a string that is not UTF-8, say) may be personal data, and an error must never leak one
    into a CI log. The file's own path, which it quotes too, stays; unprintable characters
    (a garbage byte it names) are escaped."""
    text = _UTF8_VALUE.sub('value "…" is not valid UTF8', str(error))
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = _QUOTED.sub(lambda m: m[0] if m[0][1:-1] == path else '"…"', first)
    first = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in first)
    return first or type(error).__name__


def unreadable_parquet(display: str, error: BaseException) -> Diagnostic:
    return Diagnostic(Location(display), f"cannot read Parquet: {scan_reason(error, display)}")
