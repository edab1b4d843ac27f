"""The churned plan reading its sources from object storage against the same plan reading
local files (issue target: at most 1.5x slower).

    .venv/bin/python bench/s3_bench.py WORK STATE_DB [--runs 2]

WORK is a bench/generate.py output (WORK/churned) and STATE_DB a SQLite state holding its
first sync (bench/seed.py). A local S3 (moto's server on loopback) gets every data file of
WORK/churned; a copy of the manifests points each source at s3://bench/… (the same objects);
then `reconciler plan --format json` of each runs alternately, a fresh process each time, and
both must find the same data points. Prints one JSON line. moto is an in-process Python S3:
slower per byte than AWS's, so the ratio is an upper bound for the same network distance.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("moto did not start")


def plan(manifests: Path, state: Path, env: dict[str, str]) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--format", "json"]
        + ["--manifests", str(manifests), "--state", f"sqlite:///{state}"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return time.monotonic() - started, int(json.loads(done.stdout)["summary"]["data_points"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("work", type=Path)
    ap.add_argument("state", type=Path)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    proc, url = start_moto()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": url,
        "BRAZE_API_KEY": "unused",
    }
    try:
        import boto3

        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id="bench",
                          aws_secret_access_key="bench", region_name="us-east-1")  # fmt: skip
        s3.create_bucket(Bucket="bench")
        local = args.work / "churned"
        sizes = 0
        for path in sorted((local / "data").iterdir()):
            s3.upload_file(str(path), "bench", f"data/{path.name}")
            sizes += path.stat().st_size
        with tempfile.TemporaryDirectory(prefix="s3-bench-") as tmp:
            remote = Path(tmp) / "remote"
            shutil.copytree(local, remote, ignore=shutil.ignore_patterns("data"))
            for yaml in remote.glob("*.yaml"):
                text = yaml.read_text().replace("{path: data/", "{path: s3://bench/data/")
                yaml.write_text(text)
            times: dict[str, list[float]] = {"local": [], "s3": []}
            points: dict[str, int] = {}
            for _ in range(args.runs):
                for name, manifests in (("local", local), ("s3", remote)):
                    state = Path(tmp) / f"{name}.db"
                    shutil.copy(args.state, state)
                    seconds, points[name] = plan(manifests, state, env)
                    times[name].append(seconds)
        assert points["local"] == points["s3"], points
        best = {k: min(v) for k, v in times.items()}
        print(json.dumps({
            "bytes": sizes, "runs": args.runs, "local_seconds": times["local"],
            "s3_seconds": times["s3"], "ratio_best": round(best["s3"] / best["local"], 2),
            "data_points": points["local"],
        }))  # fmt: skip
    finally:
        proc.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
