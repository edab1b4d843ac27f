"""The Braze ceiling: post a saved plan's payloads with a bare httpx loop, nothing else.

    .venv/bin/python bench/rawloop.py PLANFILE URL [--key sandbox-key] [--concurrency 4]

Reads the user objects of a saved plan (`reconciler plan --out`), packs them 75 per request in
plan order, and posts them to URL/users/track from `--concurrency` keep-alive connections:
no state, no journal, no retries, no pacing. `reconciler apply PLANFILE` does the same work
plus all of that; `apply / rawloop` is what the bookkeeping costs. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import time
from pathlib import Path
from typing import Any

import httpx

OBJECTS_PER_REQUEST = 75


def read_batches(planfile: Path) -> list[list[dict[str, Any]]]:
    """The plan's user objects ({id kind: id, **attributes}), in order, 75 per request."""
    batches: list[list[dict[str, Any]]] = [[]]
    with gzip.open(planfile, "rt", encoding="utf-8") as fh:
        fh.readline()  # the plan header
        for line in fh:
            kind, user, attributes, *_ = json.loads(line)
            if len(batches[-1]) == OBJECTS_PER_REQUEST:
                batches.append([])
            batches[-1].append({kind: user, **attributes})
    return [b for b in batches if b]


async def post_all(
    url: str, key: str, batches: list[list[dict[str, Any]]], concurrency: int
) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    counts = {"requests": 0, "errors": 0, "objects": 0}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60.0
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                batch = queue.get_nowait()
                r = await client.post("/users/track", json={"attributes": batch})
                counts["requests"] += 1
                if r.status_code == 201:
                    counts["objects"] += len(batch)
                else:
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
    batches = read_batches(args.planfile)
    read = time.perf_counter()
    counts = asyncio.run(post_all(args.url, args.key, batches, args.concurrency))
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
