"""`reconciler plan` over a ~1M-row ledger, SQLite state next to the same state in PostgreSQL.

Run: .venv/bin/python bench/state_plan_bench.py [--users 50000] [--attributes 20] [--runs 2]
         [--pg-url postgresql://postgres@127.0.0.1:5432/test]

Generates a workspace (bench/generate.py: users × attributes cells, 1% churn), records its
first sync in a SQLite state (bench/seed.py), copies that state to a throwaway PostgreSQL
schema with `reconciler state migrate` (timed; dropped afterwards), then times `reconciler plan`
of the churned copy against each backend, alternating, and checks both plans found exactly the
generator's changed cells.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

BENCH = Path(__file__).resolve().parent
RECONCILER = [sys.executable, "-m", "reconciler"]
ENV = {**os.environ, "RECONCILER_HASH_KEY": "bench-only-hash-key"}


def run(args: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def plan(cwd: Path, state: str) -> tuple[float, int]:
    t = time.perf_counter()
    out = subprocess.run(
        [*RECONCILER, "plan", "--manifests", "churned", "--state", state, "--format", "json"],
        cwd=cwd,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return time.perf_counter() - t, int(json.loads(out)["summary"]["data_points"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--attributes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="state-plan-bench-"))
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    pg_state = f"{args.pg_url}?schema={schema}"
    try:
        generate = [sys.executable, str(BENCH / "generate.py"), "--users", str(args.users)]
        generate += ["--attributes", str(args.attributes), "--audiences", "2", "--no-validate"]
        run([*generate, str(work)], work)
        expected = json.loads((work / "ground_truth.json").read_text())
        empty = f"sqlite:///{work / 'empty.db'}"
        first = [*RECONCILER, "plan", "--manifests", "original", "--state", empty]
        run([*first, "--out", "first.plan"], work)
        shutil.copy(work / "empty.db", work / "seeded.db")
        sqlite_state = f"sqlite:///{work / 'seeded.db'}"
        run([sys.executable, str(BENCH / "seed.py"), "first.plan", sqlite_state], work)
        migrate = [*RECONCILER, "state", "migrate", "--state", sqlite_state, "--to", pg_state]
        print(f"state migrate SQLite → PostgreSQL (with verification): {run(migrate, work):.1f} s")
        for i in range(args.runs):
            for name, state in (("SQLite", sqlite_state), ("PostgreSQL", pg_state)):
                seconds, points = plan(work, state)
                ok = "as expected" if points == expected["expected_data_points"] else "WRONG"
                print(f"run {i + 1}: plan against {name}: {seconds:.1f} s ({points:,} points {ok})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


if __name__ == "__main__":
    main()
