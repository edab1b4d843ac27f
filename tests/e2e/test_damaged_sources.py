"""Damaged partner exports through the real CLI: `validate` and `plan` end in a located error
(exit 1) naming the file, never "this is a bug in reconciler" (exit 3)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BUG = "this is a bug in reconciler"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--manifests", "manifests"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "", "RECONCILER_HASH_KEY": "damaged-sources-key"},
        check=False,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    return tmp_path


def _insert_on_line(path: Path, line: int, col: int, blob: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[line - 1] = lines[line - 1][: col - 1] + blob + lines[line - 1][col - 1 :]
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize(
    ("rel", "line", "col"),
    [
        ("data/rokt_calendar/subscribers.jsonl", 2, 7),  # an AttributeSync's JSONL
        ("data/actioniq/events.jsonl", 3, 5),  # an EventStream
    ],
)
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_jsonl_byte_that_is_not_utf8_is_located(
    site: Path, command: str, rel: str, line: int, col: int
) -> None:
    _insert_on_line(site / "manifests" / rel, line, col, b"\xff")
    done = run(site, command)
    assert done.returncode == 1, done.stdout + done.stderr
    assert BUG not in done.stderr and "Traceback" not in done.stderr
    located = f"manifests/{rel}:{line}:{col}: not UTF-8: byte 0xff cannot start a character here"
    assert located in done.stdout + done.stderr


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_csv_byte_that_is_not_utf8_past_the_first_chunk_is_located(
    site: Path, command: str
) -> None:
    """The header read decodes only the file's first chunk; DuckDB refuses the bad byte and
    the line reader, which took over, decoded it a chunk at a time."""
    members = site / "manifests/data/actioniq/aiq_48213_2.csv"
    extra = b"".join(b"cust-x%05d\n" % n for n in range(2_000))  # 22 kB past the header
    members.write_bytes(members.read_bytes() + extra + b"cust-\xffy\n")
    line = members.read_bytes().count(b"\n")
    done = run(site, command)
    assert done.returncode == 1, done.stdout + done.stderr
    assert BUG not in done.stderr and "Traceback" not in done.stderr
    located = f"manifests/data/actioniq/aiq_48213_2.csv:{line}:6: not UTF-8: byte 0xff"
    assert located in done.stdout + done.stderr


def _events_as_parquet(site: Path) -> Path:
    """The ActionIQ EventStream read from a Parquet copy of its JSONL."""
    manifests = site / "manifests"
    lines = (manifests / "data/actioniq/events.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    target = manifests / "data/actioniq/events.parquet"
    pq.write_table(
        pa.Table.from_pylist([{**r, "properties": json.dumps(r["properties"])} for r in rows]),
        target,
    )
    stream = manifests / "actioniq.yaml"
    stream.write_text(
        stream.read_text().replace("data/actioniq/events.jsonl", "data/actioniq/events.parquet")
    )
    return target


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda _: b"event_id,event_name\naiq-ev-0001,x\n", id="not-parquet"),
        pytest.param(lambda data: data[: len(data) // 2], id="cut"),
        pytest.param(lambda _: b"", id="empty"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_an_event_stream_parquet_file_that_does_not_read_is_named(
    site: Path, command: str, damage: Callable[[bytes], bytes]
) -> None:
    target = _events_as_parquet(site)
    assert run(site, command).returncode == 0  # the copy itself reads
    target.write_bytes(damage(target.read_bytes()))
    done = run(site, command)
    assert done.returncode == 1, done.stdout + done.stderr
    assert BUG not in done.stderr and "Traceback" not in done.stderr
    assert "manifests/data/actioniq/events.parquet: cannot read Parquet: " in (
        done.stdout + done.stderr
    )


def _sources_as_parquet(site: Path) -> dict[str, Path]:
    """The Amperity AttributeSync and the first ActionIQ AudienceMapping read from Parquet
    copies of their CSV files, with 5,000 more users each: enough pages that the middle of the
    file is data, far from its footer."""
    manifests = site / "manifests"
    out = {}
    for name, csv_rel, manifest in [
        ("sync", "data/amperity/braze_customer_attributes.csv", "amperity.yaml"),
        ("audience", "data/actioniq/aiq_48213_2.csv", "actioniq.yaml"),
    ]:
        table = pacsv.read_csv(
            manifests / csv_rel,
            convert_options=pacsv.ConvertOptions(column_types={"external_id": pa.string()}),
        )
        rows = table.to_pylist()
        extra = [{**rows[0], "external_id": f"cust-x{n:05d}"} for n in range(5_000)]
        target = manifests / csv_rel.replace(".csv", ".parquet")
        pq.write_table(pa.Table.from_pylist(rows + extra, schema=table.schema), target)
        doc = manifests / manifest
        doc.write_text(doc.read_text().replace(csv_rel, csv_rel.replace(".csv", ".parquet")))
        out[name] = target
    return out


def _pages(path: Path) -> tuple[int, int]:
    """The byte range of a Parquet file's data pages: past the magic, before the footer."""
    data = path.read_bytes()
    footer = int.from_bytes(data[-8:-4], "little")
    return 4, len(data) - 8 - footer


def _flip_middle(path: Path) -> None:
    start, end = _pages(path)
    data = bytearray(path.read_bytes())
    middle = (start + end) // 2
    for i in range(middle - 8, middle + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _garbage_range(path: Path) -> None:
    start, end = _pages(path)
    data = bytearray(path.read_bytes())
    for i in range(start + 4, (start + end) // 2):
        data[i] = 0x41 + i % 26
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_flip_middle, _garbage_range], ids=["flipped", "garbage"])
@pytest.mark.parametrize("source", ["sync", "audience"])
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_damaged_parquet_page_is_named(
    site: Path, command: str, source: str, damage: Callable[[Path], None]
) -> None:
    """The footer reads; DuckDB fails while scanning a page (the digests' scan in `plan`, the
    copy in `validate`). The damaged file is named, the other one is not."""
    files = _sources_as_parquet(site)
    assert run(site, command).returncode == 0  # the copies themselves read
    damage(files[source])
    done = run(site, command)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert BUG not in done.stderr and "Traceback" not in done.stderr
    named = f"{files[source].relative_to(site)}: cannot read Parquet: "
    assert named in out
    (other,) = (p for s, p in files.items() if s != source)
    assert str(other.relative_to(site)) not in out
    assert "LINE 1" not in out  # the first line of DuckDB's message, not its SQL


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_parquet_value_that_is_not_utf8_is_named_without_the_value(
    site: Path, command: str
) -> None:
    """DuckDB quotes the value it refuses; an error must not leak a cell into a CI log."""
    target = _sources_as_parquet(site)["sync"]
    table = pq.read_table(target)
    emails = table["email_address"].combine_chunks().cast(pa.binary()).to_pylist()
    emails[1] = b"jiwoo.\xb2kim@example.com"
    raw = pa.array(emails, pa.binary())
    not_utf8 = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # unvalidated
    column = table.schema.get_field_index("email_address")
    pq.write_table(table.set_column(column, "email_address", not_utf8), target)
    done = run(site, command)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert BUG not in done.stderr and "Traceback" not in done.stderr
    assert "manifests/data/amperity/braze_customer_attributes.parquet: cannot read Parquet: " in out
    assert 'value "…" is not valid UTF8' in out
    assert "kim@example.com" not in out
