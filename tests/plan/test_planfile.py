"""Saved plans: 0600, integrity-checked, and refused when stale with what changed."""

from __future__ import annotations

import gzip
import json
import re
import stat
from pathlib import Path

import pytest
from plan.conftest import Workbench

from reconciler.errors import StalePlanError
from reconciler.plan.gz import open_gz
from reconciler.plan.planfile import load_plan, save_plan, stale_reasons


def test_round_trip_and_mode(bench: Workbench, tmp_path: Path) -> None:
    plan = bench.plan()
    path = tmp_path / "p.plan"
    save_plan(plan, path, {"amperity.yaml": "abc"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded, inputs = load_plan(path, tmp_path)
    assert inputs == {"amperity.yaml": "abc"}
    assert loaded.summary == plan.summary
    assert list(loaded.deltas()) == list(plan.deltas())


def test_a_loaded_plan_sends_its_checked_copy_and_saves_again_as_it_was(
    bench: Workbench, tmp_path: Path
) -> None:
    plan = bench.plan()
    path = tmp_path / "p.plan"
    save_plan(plan, path, {"amperity.yaml": "abc"})
    (tmp_path / "load").mkdir()
    loaded, _ = load_plan(path, tmp_path / "load")
    # rewritten after the check (a plan with other deltas, or none): what is sent is what
    # was checked, read out of the private copy
    path.write_bytes(b"not a plan")
    assert list(loaded.deltas()) == list(plan.deltas())
    assert stat.S_IMODE(loaded.deltas_path.stat().st_mode) == 0o600
    # and saved again, a loaded plan is the same file content
    again = tmp_path / "again.plan"
    save_plan(loaded, again, {"amperity.yaml": "abc"})
    (tmp_path / "load2").mkdir()
    reloaded, inputs = load_plan(again, tmp_path / "load2")
    assert inputs == {"amperity.yaml": "abc"} and reloaded.summary == plan.summary
    assert list(reloaded.deltas()) == list(plan.deltas())
    assert not list(tmp_path.glob("*.tmp"))


def test_a_missing_plan_file_is_a_located_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(StalePlanError, match=r"missing\.plan: not a readable reconciler plan"):
        load_plan(tmp_path / "missing.plan", tmp_path)


def test_tampered_plan_is_refused(bench: Workbench, tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    save_plan(bench.plan(), path, {})
    lines = gzip.open(path, "rt").read().splitlines(keepends=True)
    lines[1] = lines[1].replace("gold", "bronze")
    with gzip.open(path, "wt") as fh:
        fh.writelines(lines)
    with pytest.raises(StalePlanError, match="modified"):
        load_plan(path, tmp_path)


def _decompressed(data: bytes, tmp_path: Path) -> bytes:
    """Every member of a gzip file, decompressed by the reader load_plan uses."""
    path = tmp_path / "any.gz"
    path.write_bytes(data)
    with open_gz(path, "rb") as fh:
        out: bytes = fh.read()
    return out


def test_every_flipped_or_cut_byte_of_the_compressed_file_is_refused(
    bench: Workbench, tmp_path: Path
) -> None:
    # A flip inside a deflate block raises the decompressor's own error (zlib.error or
    # IsalError, not OSError), one in a trailer a BadGzipFile, a cut file an EOFError: each
    # must read as "not a readable plan", never as a crash (CI once hit byte -20 this way).
    # Only the MTIME, XFL and OS bytes of each gzip member's header are covered by no check,
    # and they carry nothing of the plan: flipped there, the file loads as the same plan.
    # A flip anywhere else that still loads must at least decompress to the very same bytes:
    # CI once had one (byte 4305, outside every header) that loaded as the same plan, which
    # 60 more plans here and 29,000 flips of ISA-L streams did not reproduce; an unused deflate
    # bit is the likely cause, and a byte that changed what decompresses would fail here.
    plan = bench.plan()
    path = tmp_path / "p.plan"
    save_plan(plan, path, {})
    good = path.read_bytes()
    damaged = tmp_path / "d.plan"
    loaded_anyway = []
    for at in range(len(good)):
        data = bytearray(good)
        data[at] ^= 0xFF
        damaged.write_bytes(bytes(data))
        try:
            loaded, _ = load_plan(damaged, tmp_path)
        except StalePlanError:
            continue
        loaded_anyway.append(at)
        assert loaded.summary == plan.summary
        assert list(loaded.deltas()) == list(plan.deltas())
    members = [at for at in range(len(good) - 3) if good[at : at + 3] == b"\x1f\x8b\x08"]
    header_fields = {m + k for m in members for k in range(4, 10)}
    content = _decompressed(good, tmp_path)
    for at in set(loaded_anyway) - header_fields:
        data = bytearray(good)
        data[at] ^= 0xFF
        assert _decompressed(bytes(data), tmp_path) == content, at
    for size in range(0, len(good), max(1, len(good) // 50)):
        damaged.write_bytes(good[:size])
        with pytest.raises(StalePlanError):
            load_plan(damaged, tmp_path)


def test_stale_reasons_say_what_changed(bench: Workbench) -> None:
    plan = bench.plan()
    b = plan.binding
    assert stale_reasons(plan, {"a.yaml": "1"}, b.lineage, b.serial, {"a.yaml": "1"}) == []
    assert stale_reasons(
        plan, {"a.yaml": "1", "b.csv": "2"}, b.lineage, b.serial + 3, {"a.yaml": "9", "c.csv": "3"}
    ) == [
        f"the state changed since the plan (serial {b.serial} → {b.serial + 3})",
        "a.yaml changed",
        "b.csv was removed",
        "c.csv was added",
    ]


@pytest.mark.parametrize("field", ["inputs", "binding", "summary"])
def test_a_tampered_header_is_refused(bench: Workbench, tmp_path: Path, field: str) -> None:
    path = tmp_path / "p.plan"
    save_plan(bench.plan(), path, {"amperity.yaml": "abc"})
    lines = gzip.open(path, "rt").read().splitlines(keepends=True)
    header = json.loads(lines[0])
    header[field] = {**header[field], "tampered": 1}
    lines[0] = json.dumps(header, sort_keys=True) + "\n"
    with gzip.open(path, "wt") as fh:
        fh.writelines(lines)
    with pytest.raises(StalePlanError, match="modified"):
        load_plan(path, tmp_path)


def test_a_plan_id_cannot_steer_where_spools_are_written(bench: Workbench, tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    save_plan(bench.plan(), path, {})
    lines = gzip.open(path, "rt").read().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["plan_id"] = "../../escaped"
    lines[0] = json.dumps(header, sort_keys=True) + "\n"
    with gzip.open(path, "wt") as fh:
        fh.writelines(lines)
    spools = tmp_path / "spools"
    spools.mkdir()
    with pytest.raises(StalePlanError, match="modified"):
        load_plan(path, spools)
    assert not list(tmp_path.glob("*escaped*"))
    names = {p.name for p in spools.iterdir()}  # the deltas are read in the checked copy
    copies = {n for n in names if re.fullmatch(r"saved-[0-9a-f]{12}\.plan", n)}
    assert len(copies) == 1 and names - copies == {"saved-__.._escaped.events.jsonl.gz"}
