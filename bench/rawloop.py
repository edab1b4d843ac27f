"""The Braze ceiling: post a saved plan's payloads with a bare httpx loop, nothing else.

    .venv/bin/python bench/rawloop.py PLANFILE URL [--key sandbox-key] [--concurrency 4]

Loads a saved plan (`reconciler plan --out`) and packs its user deltas and events into request
bodies with the engine's own packing (so the bodies are the very ones apply sends, event
markers included), then posts them to URL/users/track from `--concurrency` keep-alive
connections: no state, no journal, no intents, no retries, no pacing. `reconciler apply
PLANFILE` does the same plus all of that; `raw / apply` time is what the bookkeeping costs.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx

from reconciler.apply.batching import pack
from reconciler.plan.planfile import load_plan
from reconciler.plan.sealing import plan_key


def read_bodies(planfile: Path) -> list[bytes]:
    """Every request body of the plan, JSON-encoded, in send order."""
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        plan, _inputs = load_plan(planfile, Path(tmp), key=plan_key())
        events = plan.events.events() if plan.events.due else ()
        batches = pack(plan.deltas(), events=events, token_prefix=f"raw-{plan.plan_id}")
        return [json.dumps(b.payload, separators=(",", ":")).encode() for b in batches]


async def post_all(url: str, key: str, bodies: list[bytes], concurrency: int) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    counts = {"requests": 0, "errors": 0}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60.0
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                r = await client.post("/users/track", content=body)
                counts["requests"] += 1
                if r.status_code != 201 or "errors" in r.json():
                    counts["errors"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("planfile", type=Path)
    parser.add_argument("url")
    parser.add_argument("--key", default="sandbox-key")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    started = time.perf_counter()
    bodies = read_bodies(args.planfile)
    read = time.perf_counter()
    counts = asyncio.run(post_all(args.url, args.key, bodies, args.concurrency))
    done = time.perf_counter()
    out = counts | {
        "read_seconds": round(read - started, 3),
        "post_seconds": round(done - read, 3),
        "requests_per_second": round(counts["requests"] / (done - read), 1),
    }
    print(json.dumps(out))
    return 0 if counts["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
