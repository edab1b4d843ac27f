"""Benchmark plumbing: time a fresh child process with its own peak RSS, and check ground truth.

Every measured step runs as a fresh subprocess so that its wall time includes start-up and its
peak RSS is its own: `os.wait4` returns the rusage of exactly that child (RUSAGE_CHILDREN would
report the largest child so far, not this one).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class Run:
    """One measured child process."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    over_memory: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.over_memory

    def json(self) -> Any:
        """The last stdout line that parses as JSON (our scripts print one)."""
        for line in reversed(self.stdout.strip().splitlines()):
            try:
                return json.loads(line)
            except ValueError:
                continue
        return json.loads(self.stdout)


def rss_mb(pid: int) -> float:
    """Current RSS of a process (Linux /proc; 0 when unknown)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 7200.0,
    max_rss_mb: float | None = None,
) -> Run:
    """Run `cmd` to completion; wall time and the child's peak RSS.

    The child is killed after `timeout` seconds, or as soon as its RSS passes `max_rss_mb`
    (the machine is shared: a runaway plan must not push other people's work into swap).
    """
    out_path, err_path = cwd / ".measure.stdout", cwd / ".measure.stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=dict(env), cwd=cwd)
        expired, over, done = threading.Event(), threading.Event(), threading.Event()

        def watch() -> None:
            deadline = started + timeout
            while not done.wait(0.5):
                if time.perf_counter() > deadline:
                    expired.set()
                elif max_rss_mb is not None and rss_mb(proc.pid) > max_rss_mb:
                    over.set()
                else:
                    continue
                proc.kill()
                return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            watcher.join()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    run = Run(
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,
        returncode=proc.returncode,
        stdout=out_path.read_text(),
        stderr=err_path.read_text()[-4000:],
        timed_out=expired.is_set(),
        over_memory=over.is_set(),
    )
    out_path.unlink()
    err_path.unlink()
    return run


@dataclass
class Series:
    """Several runs of one step: median, min, max wall time and the largest peak RSS."""

    name: str
    runs: list[Run] = field(default_factory=list)
    note: str = ""

    def add(self, run: Run) -> Run:
        self.runs.append(run)
        if not run.ok:
            reason = (
                "timed out"
                if run.timed_out
                else f"killed above the memory cap at {run.peak_rss_mb:,.0f} MB"
                if run.over_memory
                else f"exit {run.returncode}"
            )
            said = next((line for line in run.stderr.splitlines() if line.strip()), "")
            detail = f" ({said.strip()[:200]})" if said else ""
            raise StepFailed(f"{self.name}: {reason}{detail}\n{run.stderr}")
        return run

    def summary(self) -> dict[str, Any]:
        """Over the runs that finished; a killed or failed run only counts in `failed`."""
        ok = [r for r in self.runs if r.ok]
        s = [r.seconds for r in ok]
        return {
            "name": self.name,
            "runs": len(s),
            "failed": len(self.runs) - len(ok),
            "median_s": round(statistics.median(s), 3) if s else None,
            "min_s": round(min(s), 3) if s else None,
            "max_s": round(max(s), 3) if s else None,
            "peak_rss_mb": round(max(r.peak_rss_mb for r in ok), 1) if s else None,
            "note": self.note,
        }


class StepFailed(RuntimeError):
    """A measured step exited non-zero or timed out."""


# --- ground truth --------------------------------------------------------------------------


def check_plan(plan: Mapping[str, Any], truth: Mapping[str, Any]) -> list[str]:
    """Mismatches between a `plan --format json` document and the generator's ground truth."""
    summary = plan["summary"]
    problems = _compare(
        {
            "data points": (summary["data_points"], truth["expected_data_points"]),
            "attribute updates (cells)": (summary["attribute_updates"], truth["changed_cells"]),
            "users": (summary["users_changed"], truth["changed_users"]),
            "events": (summary["events"], truth["events"]),
            "requests": (summary["requests"], truth["expected_requests"]),
        }
    )
    if "per_attribute" in truth:
        planned = {
            c["attribute"]: {k: c[k] for k in ("set", "changed", "unset")}
            for c in plan["attribute_changes"]
        }
        expected = {a: c for a, c in truth["per_attribute"].items() if any(c.values())}
        if planned != expected:
            problems.append(f"per-attribute counts differ: planned {planned}, truth {expected}")
    return problems


def check_sent(stats: Mapping[str, Any], truth: Mapping[str, Any]) -> list[str]:
    """Mismatches between the sandbox's `/_sandbox/stats` and the ground truth."""
    return _compare(
        {
            "data points sent": (stats["data_points"], truth["expected_data_points"]),
            "requests sent": (stats["requests"].get("/users/track", 0), truth["expected_requests"]),
            "objects accepted": (stats["objects"], truth["expected_objects"]),
            "objects rejected": (stats["rejected_objects"], 0),
        }
    )


def check_naive(out: Mapping[str, Any], truth: Mapping[str, Any]) -> list[str]:
    """The naive baseline fills requests to 75 objects without co-location or markers."""
    points = truth["changed_cells"] + truth["events"]
    return _compare(
        {
            "naive data points": (out["data_points"], points),
            "naive cells": (out["changed_cells"], truth["changed_cells"]),
            "naive users": (out["users"], truth["changed_users"]),
            "naive events": (out["events"], truth["events"]),
            "naive requests": (out["requests"], truth["requests_unmarked"]),
        }
    )


NO_CHANGES = {
    "expected_data_points": 0,
    "changed_cells": 0,
    "changed_users": 0,
    "events": 0,
    "expected_requests": 0,
    "per_attribute": {},
}


def _compare(pairs: Mapping[str, tuple[Any, Any]]) -> list[str]:
    return [f"{k}: got {got}, expected {want}" for k, (got, want) in pairs.items() if got != want]


# --- the sandbox ---------------------------------------------------------------------------


class Sandbox:
    """A `reconciler sandbox` child on loopback, with the admin calls the benchmark needs."""

    def __init__(self, log: Path, env: Mapping[str, str]) -> None:
        from reconciler.sandbox.process import start_sandbox  # the engine's own launcher

        child = {k: v for k, v in env.items() if k != "BRAZE_API_KEY"}
        self.process = start_sandbox(env=child, stderr_path=log)
        self.url, self.key = self.process.url, self.process.key

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"}
        r = httpx.request(
            method, f"{self.url}/_sandbox/{path}", headers=headers, json=body, timeout=60
        )
        r.raise_for_status()
        return r.json()

    def reset(self, latency_ms: int = 0) -> None:
        """Forget every user and setting; then answer each request `latency_ms` late (a
        reset restores the launch settings, so the latency is set after it)."""
        self._admin("POST", "reset")
        if latency_ms:
            settings = self._admin("POST", "config", {"latency_ms": latency_ms})
            if settings.get("latency_ms") != latency_ms:  # else the run would measure loopback
                raise RuntimeError(f"the sandbox did not take latency_ms={latency_ms}: {settings}")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "stats")
        return result

    def peak_rss_mb(self) -> float:
        """Peak RSS of the sandbox process so far (Linux /proc VmHWM)."""
        try:
            status = Path(f"/proc/{self.process.proc.pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.stop()


# --- files and the machine -----------------------------------------------------------------


def copy_state(src: Path, dst: Path) -> None:
    """Copy a SQLite state file (checkpointed: no -wal/-shm left beside it) over `dst`."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(src, dst)


def checkpoint(db: Path) -> None:
    """Fold the WAL into the main file so that a plain file copy is the whole state."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def git_revision(repo: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    rev = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no", "reconciler")
    return f"{rev} (engine files modified in the work tree)" if dirty else rev
