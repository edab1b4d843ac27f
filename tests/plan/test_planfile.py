"""Saved plans: 0600, integrity-checked, and refused when stale with what changed."""

from __future__ import annotations

import gzip
import json
import stat
from pathlib import Path

import pytest
from plan.conftest import Workbench

from reconciler.errors import StalePlanError
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


def test_tampered_plan_is_refused(bench: Workbench, tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    save_plan(bench.plan(), path, {})
    lines = gzip.open(path, "rt").read().splitlines(keepends=True)
    lines[1] = lines[1].replace("gold", "bronze")
    with gzip.open(path, "wt") as fh:
        fh.writelines(lines)
    with pytest.raises(StalePlanError, match="modified"):
        load_plan(path, tmp_path)


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
    assert sorted(p.name for p in spools.iterdir()) == [
        "saved-__.._escaped.deltas.jsonl.gz",
        "saved-__.._escaped.events.jsonl.gz",
    ]
