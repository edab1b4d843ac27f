"""Benchmark: how many `/users/track` requests of 75 ten-attribute objects the sandbox serves.

Starts the real server (`python -m reconciler sandbox --port 0`) as a subprocess, pinned to
one CPU when the platform allows, and drives it over loopback with httpx from this process.

    .venv/bin/python bench/sandbox_bench.py [--seconds 10] [--concurrency 4] [--cpu 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

OBJECTS = 75
ATTRIBUTES = 10


def payload(batch: int, users: int = 10_000) -> dict[str, Any]:
    objects = []
    for i in range(OBJECTS):
        n = (batch * OBJECTS + i) % users
        obj: dict[str, Any] = {"external_id": f"user-{n}"}
        for a in range(ATTRIBUTES):
            kind = a % 4
            obj[f"attr_{a}"] = (
                f"value-{n}-{a}"
                if kind == 0
                else n * a
                if kind == 1
                else bool(n % 2)
                if kind == 2
                else f"{batch % 97}.{a}"
            )
        objects.append(obj)
    return {"attributes": objects}


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server process (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:  # noqa: PTH123
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(cpu: int | None) -> tuple[subprocess.Popen[str], str]:
    def pin() -> None:
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {cpu})

    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=pin,  # noqa: PLW1509 - only sets CPU affinity
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"sandbox did not print its URL: {url!r}")
    return proc, url


async def drive(url: str, seconds: float, concurrency: int) -> tuple[int, int, int]:
    bodies = [payload(b) for b in range(64)]  # built up front: measure the server, not us
    encoded = [httpx.Request("POST", url, json=b).content for b in bodies]
    headers = {"Authorization": "Bearer sandbox-key", "Content-Type": "application/json"}
    done = errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:

        async def worker(offset: int) -> None:
            nonlocal done, errors
            i = offset
            while time.perf_counter() < deadline:
                r = await client.post("/users/track", content=encoded[i % len(encoded)])
                if r.status_code == 201:
                    done += 1
                else:
                    errors += 1
                i += concurrency

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done, done * OBJECTS, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--cpu", type=int, default=0, help="pin the server to this CPU (-1: no)")
    args = parser.parse_args()
    proc, url = start_server(None if args.cpu < 0 else args.cpu)
    try:
        asyncio.run(drive(url, 1.0, args.concurrency))  # warm-up
        cpu_before = server_cpu_seconds(proc.pid)
        started = time.perf_counter()
        requests, objects, errors = asyncio.run(drive(url, args.seconds, args.concurrency))
        elapsed = time.perf_counter() - started
        cpu = server_cpu_seconds(proc.pid) - cpu_before
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    print(
        f"sandbox /users/track: {requests / elapsed:.0f} req/s, {objects / elapsed:.0f} objects/s"
    )
    print(
        f"  {requests} requests of {OBJECTS} objects x {ATTRIBUTES} attributes in {elapsed:.1f} s,"
    )
    print(f"  concurrency {args.concurrency}, server pinned to CPU {args.cpu}, errors {errors}")
    if cpu > 0:
        print(
            f"  server busy {cpu / elapsed:.0%} of one core: "
            f"{requests / cpu:.0f} req per server CPU-second"
        )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
