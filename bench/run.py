"""Measure the engine against the naive baseline, the I/O floor and the raw-HTTP ceiling.

    .venv/bin/python bench/run.py                      # 100k and 1M users; writes RESULTS.md
    .venv/bin/python bench/run.py --with-10m           # and 10M, ours only (long)
    .venv/bin/python bench/run.py --sizes 2000 --runs 1 --out /tmp/smoke   # a smoke run

For every size N it generates a workspace (bench/generate.py), plans the first sync of the
original, applies it for real against a sandbox (or, above --apply-max, records it in the state
directly with bench/seed.py), then measures, each step a fresh child process, `--runs` times:

- `reconciler plan` on the churned copy (the number that matters) and on the original (no-op);
- the I/O floor (bench/floor.py) and the naive baseline (bench/naive.py, up to --naive-max);
- `reconciler apply` of the first-sync plan and of the churn plan against the sandbox, each
  against bench/rawloop.py posting the same payloads to the same sandbox.

Every plan and every apply is checked against the generator's ground truth: planned and sent
data points equal the changed cells exactly, and requests equal ceil(changed users / 75).
Results go to RESULTS.md, results.json and results.png in --out (default: bench/).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    NO_CHANGES,
    Run,
    Sandbox,
    Series,
    StepFailed,
    check_naive,
    check_plan,
    check_sent,
    checkpoint,
    copy_state,
    git_revision,
    machine,
    measure,
)
from report import churn_label, write_plot, write_results

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HASH_KEY = "bench-only-hash-key"  # fixed, so every copy of a state hashes pii alike


@dataclass(frozen=True)
class Config:
    sizes: list[int]
    runs: int
    attributes: int
    audiences: int
    churn: float
    seed: int
    fmt: str
    work: Path
    out: Path
    naive_max: int
    naive_timeout: float
    apply_max: int
    events_pct: float
    max_rss_mb: float | None = None
    audience_shares: str = "0.1,0.25,0.4,0.05"  # bench/generate.py's default
    # the churned apply is compared once more with the sandbox answering this late (0: not)
    wire_latency_ms: int = 20
    engine: Path | None = None  # an exported revision to run instead of the work tree


@dataclass
class SizeResult:
    users: int
    truth: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)  # "ok: …" or "FAIL: …"
    figures: dict[str, Any] = field(default_factory=dict)  # counts planned and sent
    notes: list[str] = field(default_factory=list)

    def step(self, name: str, note: str = "") -> Series:
        return self.series.setdefault(name, Series(name, note=note))

    def check(self, what: str, problems: list[str]) -> None:
        self.checks.extend([f"FAIL: {what}: {p}" for p in problems] or [f"ok: {what}"])

    def as_dict(self) -> dict[str, Any]:
        def small(truth: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in truth.items() if k not in ("per_attribute", "attribute_names")}

        return {
            "users": self.users,
            "truth": small(self.truth) | {"first_sync": small(self.truth.get("first_sync", {}))},
            "series": {k: s.summary() for k, s in self.series.items()},
            "checks": self.checks,
            "figures": self.figures,
            "notes": self.notes,
        }


def child_env(engine: Path | None, **extra: str) -> dict[str, str]:
    """The environment of every measured child: no user settings leak in, a fixed hash key,
    and with --engine-rev the exported engine ahead of the editable install on sys.path."""
    drop = ("RECONCILER_STATE", "RECONCILER_MANIFESTS", "BRAZE_REST_ENDPOINT", "BRAZE_API_KEY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if engine is not None:
        env["PYTHONPATH"] = str(engine)
    return env | {"RECONCILER_HASH_KEY": HASH_KEY, "NO_COLOR": "1"} | extra


def export_engine(rev: str, work: Path) -> tuple[Path, str]:
    """`git archive REV reconciler` into --work: measure a commit, not a tree others edit."""
    short = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = work / f"engine-{short}"
    if not (dest / "reconciler").is_dir():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", short, "reconciler"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    return dest, short


def reconciler(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def script(name: str, *args: str) -> list[str]:
    return [sys.executable, str(BENCH / name), *args]


class SizeBench:
    """Every measurement for one number of users, in one directory under --work."""

    def __init__(self, cfg: Config, users: int) -> None:
        self.cfg, self.n = cfg, users
        self.dir = cfg.work / f"n{users}"
        self.result = SizeResult(users)
        self.env = child_env(cfg.engine)

    def log(self, message: str) -> None:
        print(f"[{dt.datetime.now():%H:%M:%S}] N={self.n:,}: {message}", flush=True)

    def measure(self, step: str, cmd: Sequence[str], note: str = "", **kw: Any) -> Run:
        env = kw.pop("env", self.env)
        run = measure(cmd, env=env, cwd=self.dir, max_rss_mb=self.cfg.max_rss_mb, **kw)
        self.result.step(step, note).add(run)
        self.log(f"{step}: {run.seconds:.2f} s, peak RSS {run.peak_rss_mb:,.0f} MB")
        return run

    def state(self, name: str) -> str:
        return f"sqlite:///{self.dir / name}"

    def go(self) -> SizeResult:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.generate()
        self.first_plan()
        sandbox = None
        if self.n <= self.cfg.apply_max:
            sandbox = Sandbox(self.dir / "sandbox.stderr", self.env)
        try:
            if sandbox is not None:
                self.apply_first(sandbox)
            else:
                self.seed_directly()
            self.plans()
            if sandbox is not None:
                self.apply_churn(sandbox)
        finally:
            if sandbox is not None:
                sandbox.stop()
        if self.n <= self.cfg.naive_max:
            self.naive()
        return self.result

    def generate(self) -> None:
        c = self.cfg
        args = [
            f"--users={self.n}",
            f"--attributes={c.attributes}",
            f"--audiences={c.audiences}",
            f"--churn={c.churn}",
            f"--seed={c.seed}",
            f"--format={c.fmt}",
            f"--events={round(self.n * c.events_pct / 100)}",
            f"--audience-shares={c.audience_shares}",
        ]
        self.measure("generate", script("generate.py", *args, str(self.dir)))
        self.result.truth = json.loads((self.dir / "ground_truth.json").read_text())

    def first_plan(self) -> None:
        """Plan the original's first sync against an empty state, saved for apply and seed."""
        for name in ("empty.db", "empty.db-wal", "empty.db-shm"):
            (self.dir / name).unlink(missing_ok=True)
        args = ["--manifests", "original", "--state", self.state("empty.db")]
        run = self.measure(
            "plan first sync",
            reconciler("plan", *args, "--format", "json", "--out", "first.plan"),
            note="original vs an empty state",
        )
        plan = run.json()["summary"]
        self.result.figures["first sync planned"] = _counts(plan)
        self.result.check(
            "first-sync plan", check_plan(run.json(), self.result.truth["first_sync"])
        )
        checkpoint(self.dir / "empty.db")

    def apply_first(self, sandbox: Sandbox) -> None:
        """The real apply of the original (the last run's state is what the churn plans diff)."""
        first = self.result.truth["first_sync"]
        runs = self.cfg.runs if self.n <= 100_000 else 1  # 13,334 requests at 1M: long enough
        for _ in range(runs):
            copy_state(self.dir / "empty.db", self.dir / "original.db")
            self.apply_and_raw(sandbox, "first.plan", "original", "original.db", first, "first")
        self.result.notes.append(
            f"the churned copy is planned against the state a real `reconciler apply` of the "
            f"original left (sandbox peak RSS: {sandbox.peak_rss_mb():,.0f} MB)"
            + ("; the first-sync apply and raw loop ran once at this N" if runs == 1 else "")
        )
        checkpoint(self.dir / "original.db")

    def seed_directly(self) -> None:
        copy_state(self.dir / "empty.db", self.dir / "original.db")
        self.measure("seed state", script("seed.py", "first.plan", self.state("original.db")))
        self.result.notes.append(
            "the original's apply was recorded in the state directly (bench/seed.py: the "
            "first-sync plan's ledger writes, no HTTP), not sent to a sandbox"
        )
        checkpoint(self.dir / "original.db")

    def plans(self) -> None:
        state = ["--state", self.state("original.db"), "--format", "json"]
        for _ in range(self.cfg.runs):
            run = self.measure(
                "plan churn",
                reconciler("plan", "--manifests", "churned", *state, "--out", "churn.plan"),
                note=f"{self.cfg.churn}% of cells changed",
            )
            self.result.figures["churn planned"] = _counts(run.json()["summary"])
            self.result.check("churn plan", check_plan(run.json(), self.result.truth))
            run = self.measure("plan no-op", reconciler("plan", "--manifests", "original", *state))
            self.result.check("no-op plan", check_plan(run.json(), NO_CHANGES))
            run = self.measure(
                "I/O floor",
                script("floor.py", "churned"),
                note="DuckDB reads and hashes every cell of the sources",
            )
            rows = sum(run.json()["source_rows"].values())
            self.result.check("floor read the sources", [] if rows > 0 else [str(rows)])

    def apply_churn(self, sandbox: Sandbox) -> None:
        latencies = [0] + ([self.cfg.wire_latency_ms] if self.cfg.wire_latency_ms else [])
        for latency in latencies:
            for _ in range(self.cfg.runs):
                copy_state(self.dir / "original.db", self.dir / "churn.db")
                self.apply_and_raw(
                    sandbox,
                    "churn.plan",
                    "churned",
                    "churn.db",
                    self.result.truth,
                    churn_label(latency),
                    latency,
                )

    def apply_and_raw(
        self,
        sandbox: Sandbox,
        plan: str,
        manifests: str,
        db: str,
        truth: Any,
        label: str,
        latency_ms: int = 0,
    ) -> None:
        """`reconciler apply` of `plan`, then the raw loop posting the same bodies, each to a
        freshly reset sandbox that answers every request `latency_ms` late."""
        env = child_env(self.cfg.engine, BRAZE_REST_ENDPOINT=sandbox.url, BRAZE_API_KEY=sandbox.key)
        sandbox.reset(latency_ms)
        self.measure(
            f"apply {label}",
            reconciler("apply", plan, "--manifests", manifests, "--state", self.state(db)),
            env=env,
        )
        stats = sandbox.stats()
        self.result.figures[f"{label} sent by apply"] = _sent(stats)
        self.result.check(f"{label} apply sent", check_sent(stats, truth))
        sandbox.reset(latency_ms)
        self.measure(
            f"raw httpx {label}",
            script("rawloop.py", plan, sandbox.url, "--key", sandbox.key),
            note="same payloads, 4 connections, no state",
        )
        stats = sandbox.stats()
        self.result.figures[f"{label} sent by raw loop"] = _sent(stats)
        self.result.check(f"{label} raw loop sent", check_sent(stats, truth))

    def naive(self) -> None:
        timeout = self.cfg.naive_timeout
        try:
            self.measure(
                "naive first sync",
                script("naive.py", "original", "--state", "naive.json", "--write-state"),
                timeout=timeout,
            )
            for _ in range(self.cfg.runs if self.n <= 100_000 else 1):
                run = self.measure(
                    "naive churn",
                    script("naive.py", "churned", "--state", "naive.json"),
                    note="pyyaml + pyarrow + dicts + DeepDiff",
                    timeout=timeout,
                )
                out = run.json()
                self.result.figures["churn planned by naive"] = {
                    k: out[k]
                    for k in ("changed_cells", "data_points", "users", "events", "requests")
                }
                self.result.check("naive payloads", check_naive(out, self.result.truth))
        except StepFailed as e:
            self.result.notes.append(f"naive baseline did not finish: {str(e).splitlines()[0]}")
            self.log(f"naive: {e}")


def _counts(summary: dict[str, Any]) -> dict[str, int]:
    return {
        "changed_cells": summary["attribute_updates"],
        "data_points": summary["data_points"],
        "users": summary["users_changed"],
        "events": summary["events"],
        "requests": summary["requests"],
    }


def _sent(stats: dict[str, Any]) -> dict[str, int]:
    return {
        "data_points": stats["data_points"],
        "objects": stats["objects"],
        "requests": stats["requests"].get("/users/track", 0),
    }


def parse(argv: Sequence[str] | None) -> tuple[Config, str, str | None]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000", help="comma-separated user counts")
    p.add_argument("--with-10m", action="store_true", help="add 10M users (ours only; long)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--attributes", type=int, default=20)
    p.add_argument("--audiences", type=int, default=4)
    p.add_argument("--churn", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--format", dest="fmt", choices=["parquet", "csv"], default="parquet")
    p.add_argument(
        "--events-pct",
        type=float,
        default=2.0,
        help="events in the original stream as a percent of users; the churned copy adds 10%%",
    )
    p.add_argument(
        "--audience-shares",
        default="0.1,0.25,0.4,0.05",
        help="each audience's share of users, in turn (the issue's CSV run: 0.33,0.20)",
    )
    p.add_argument(
        "--wire-latency-ms",
        type=int,
        default=20,
        help="compare the churned apply once more with the sandbox answering this many ms "
        "late, as a network between apply and Braze does (0: not)",
    )
    p.add_argument("--work", type=Path, default=Path("/tmp/reconciler-bench"))
    p.add_argument("--out", type=Path, default=BENCH, help="where RESULTS.md and the plot go")
    p.add_argument("--naive-max", type=int, default=1_000_000)
    p.add_argument("--naive-timeout", type=float, default=1800.0, help="seconds (30 min)")
    p.add_argument("--apply-max", type=int, default=1_000_000, help="larger N: seed directly")
    p.add_argument(
        "--max-rss-gb", type=float, default=16.0, help="kill a step above this RSS (0: never)"
    )
    p.add_argument(
        "--engine-rev", help="measure this git revision (exported) instead of the work tree"
    )
    args = p.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",")} | ({10**7} if args.with_10m else set()))
    cfg = Config(
        sizes,
        args.runs,
        args.attributes,
        args.audiences,
        args.churn,
        args.seed,
        args.fmt,
        args.work,
        args.out,
        min(args.naive_max, 1_000_000) if args.with_10m else args.naive_max,
        args.naive_timeout,
        args.apply_max,
        args.events_pct,
        args.max_rss_gb * 1024 if args.max_rss_gb else None,
        audience_shares=args.audience_shares,
        wire_latency_ms=args.wire_latency_ms,
    )
    rev = None
    if args.engine_rev:
        args.work.mkdir(parents=True, exist_ok=True)
        engine, rev = export_engine(args.engine_rev, args.work)
        cfg = dataclasses.replace(cfg, engine=engine)
    command = shlex.join([".venv/bin/python", "bench/run.py", *(argv or sys.argv[1:])])
    return cfg, command, rev


def main(argv: Sequence[str] | None = None) -> int:
    cfg, command, rev = parse(argv)
    cfg.out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    doc: dict[str, Any] = {
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "revision": f"{rev} (exported with git archive)" if rev else git_revision(REPO),
        "machine_at_start": machine(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(cfg).items()},
        "sizes": {},
    }
    failed = False
    for n in cfg.sizes:
        bench = SizeBench(cfg, n)
        try:
            result = bench.go()
        except StepFailed as e:  # keep what was measured, say where it stopped
            print(f"N={n:,}: {e}", file=sys.stderr)
            result = bench.result
            result.checks.append(f"FAIL: stopped: {str(e).splitlines()[0]}")
        doc["sizes"][str(n)] = result.as_dict()
        failed = failed or any(c.startswith("FAIL") for c in result.checks)
        doc["machine_at_end"] = machine()
        doc["minutes"] = round((dt.datetime.now(dt.UTC) - started).total_seconds() / 60, 1)
        (cfg.out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
        write_results(doc, cfg.out / "RESULTS.md")
        write_plot(doc, cfg.out / "results.png")
    print(f"wrote {cfg.out / 'RESULTS.md'}" + ("; some checks FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
