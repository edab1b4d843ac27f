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
