"""Smoke runs of the benchmark harness at 2,000 users: generator, plans, applies, ground truth.

The real measurements live in bench/ (see bench/README.md); these only prove that every step
still runs and that the engine's payloads still equal the generator's ground truth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"


def bench(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def test_generator_writes_valid_workspaces_and_exact_churn(tmp_path: Path) -> None:
    done = bench(
        "generate.py",
        "--users=1000",
        "--attributes=12",
        "--audiences=3",
        "--churn=2",
        "--format=csv",
        str(tmp_path / "ws"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    truth = json.loads((tmp_path / "ws" / "ground_truth.json").read_text())
    assert truth["changed_sync_cells"] == round(1000 * 12 * 0.02)
    sync = [a for a in truth["per_attribute"] if a.startswith("bench_")]
    assert sum(truth["per_attribute"][a]["changed"] for a in sync) == 240
    flips = sum(truth["audience_flips"].values())
    assert truth["changed_cells"] == 240 + flips == truth["expected_data_points"]
    assert truth["expected_requests"] == -(-truth["changed_users"] // 75)
    assert truth["array_adds"] + truth["array_removes"] == sum(
        truth["per_attribute"][a]["changed"] for a in sync if a.endswith("_array")
    )
    for copy in ("original", "churned"):
        assert (tmp_path / "ws" / copy / "data" / "profile.csv").stat().st_size > 0


@pytest.mark.slow
def test_run_at_2k_users_matches_the_ground_truth_everywhere(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["--sizes=2000", "--runs=1", f"--work={tmp_path / 'work'}", f"--out={out}"]
    args.append("--wire-latency-ms=500")  # long enough to show in a 2k-user run's timings
    done = bench("run.py", *args, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((out / "results.json").read_text())
    size = doc["sizes"]["2000"]
    assert size["checks"] and all(c.startswith("ok: ") for c in size["checks"])
    truth = size["truth"]
    assert truth["events"] == 4 and truth["first_sync"]["events"] == 40  # 2% of users, +10%
    points, requests = truth["expected_data_points"], truth["expected_requests"]
    assert points == truth["changed_cells"] + 4 + truth["requests_carrying_events"]
    planned = size["figures"]["churn planned"]
    assert planned == {
        "changed_cells": truth["changed_cells"],
        "data_points": points,
        "users": truth["changed_users"],
        "events": 4,
        "requests": requests,
    }
    slow = "churn, 500 ms answers"  # the pair again, the sandbox answering 500 ms late
    for name in (
        "churn sent by apply",
        "churn sent by raw loop",
        f"{slow} sent by apply",
        f"{slow} sent by raw loop",
    ):
        sent = size["figures"][name]
        assert sent == {
            "data_points": points,
            "objects": truth["expected_objects"],
            "requests": requests,
        }
    naive = size["figures"]["churn planned by naive"]
    assert naive["data_points"] == truth["changed_cells"] + 4  # no event markers of its own
    assert set(size["series"]) >= {"plan churn", "plan no-op", "I/O floor", "naive churn"}
    # 4 connections waiting 500 ms for each answer cannot post the churn faster than this
    assert size["series"][f"raw httpx {slow}"]["min_s"] >= -(-requests // 4) * 0.5
    results = (out / "RESULTS.md").read_text()
    assert f"apply throughput / raw httpx ({slow})" in results
    assert "bench/run.py --sizes=2000" in results
    assert f"all {len(size['checks'])} checks passed" in results
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_statements_lists_a_plans_slowest_statements_and_one_profile(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    done = bench(
        "statements.py",
        "--top",
        "3",
        "--profile",
        "CREATE TABLE",
        "--",
        "plan",
        "--manifests",
        str(REPO / "manifests"),
        "--state",
        state,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "users to update" in done.stdout  # the command itself ran and printed its plan
    report = done.stderr.split("slowest statements:\n", 1)[1]
    timed = report.split("\n\n", 1)[0].splitlines()
    assert len(timed) == 3 and all(line.split()[1] == "s" for line in timed)
    operators = report.split("operators of the statement starting 'CREATE TABLE':\n", 1)[1]
    assert operators.startswith("RESULT_COLLECTOR ") and " rows" in operators
