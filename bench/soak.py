"""Fault soak: repeated plan → apply cycles against a sandbox that fails 20% of requests.

Not in CI. Bounded (`--minutes`, default 5). Each cycle edits a random slice of the Amperity
source, saves a plan, applies it with the real CLI against `reconciler sandbox --fail-rate 0.2
--rate-limit 10` (a scaled-down rate limit), then plans again to learn what is left. At the end
it applies until the plan is empty and compares every user in Braze with the desired state.

Reported: applies (ok / failed), faults the client saw (retries and 429s, from apply's own
summary), objects and data points the sandbox accepted against what was needed (the
difference is what was resent), and the final equality check. Exit 1 if anything was resent
that should not have been, or Braze differs from the sources.

    .venv/bin/python bench/soak.py                 # 5 minutes
    .venv/bin/python bench/soak.py --minutes 1 --users 600 --seed 3
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from reconciler.manifests import load_workspace
from reconciler.sandbox.process import start_sandbox
from reconciler.sources.desired import build_desired

REPO = Path(__file__).resolve().parents[1]
AMPERITY = "data/amperity/braze_customer_attributes.csv"
STANDARD = ("email", "dob")
TIERS = ("bronze", "silver", "gold")
SUMMARY = re.compile(r"([\d,]+) retries, ([\d,]+) rate-limited")


@dataclass
class Totals:
    """What the soak counts across cycles."""

    applies_ok: int = 0
    applies_failed: int = 0
    retries: int = 0
    rate_limited: int = 0
    needed_objects: int = 0  # users the plans needed written (and that were acknowledged)
    needed_points: int = 0
    exit_codes: dict[int, int] = field(default_factory=dict)


class Soak:
    """One workspace copy, one SQLite state and one faulty sandbox."""

    def __init__(self, root: Path, url: str, key: str, verbose: bool = False) -> None:
        self.root, self.url, self.key, self.verbose = root, url, key, verbose
        self.manifests = root / "manifests"
        self.state = f"sqlite:///{root / 'state.db'}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"BRAZE_REST_ENDPOINT": self.url, "BRAZE_API_KEY": self.key, "PATH": "/usr/bin"}
        command = [sys.executable, "-m", "reconciler", *args]
        command += ["--manifests", str(self.manifests), "--state", self.state]
        started = time.monotonic()
        proc = subprocess.run(
            command, capture_output=True, text=True, env=env, check=False, timeout=600
        )
        if self.verbose:
            took = time.monotonic() - started
            print(f"    {' '.join(args)}: exit {proc.returncode} in {took:.1f} s", flush=True)
            if args[0] == "apply":
                print("      " + (proc.stdout + proc.stderr).strip().replace("\n", "\n      "))
        return proc

    def pending(self) -> tuple[int, int]:
        """(users, data points) the current plan would write."""
        proc = self.cli("plan", "--format", "json")
        if proc.returncode != 0:
            raise SystemExit(f"plan failed:\n{proc.stderr}")
        plan = json.loads(proc.stdout)
        summary = plan["summary"]
        # events are objects too (one per event in /users/track), counted apart from users
        events = int(summary.get("events", 0) or 0)
        return int(summary["users_changed"]) + events, int(summary["data_points"])

    def apply(self, totals: Totals) -> int:
        """Save a plan and apply it; count the faults apply reports."""
        saved = self.root / "cycle.plan"
        proc = self.cli("plan", "--out", str(saved))
        if proc.returncode != 0:
            raise SystemExit(f"plan --out failed:\n{proc.stderr}")
        proc = self.cli("apply", str(saved))
        totals.exit_codes[proc.returncode] = totals.exit_codes.get(proc.returncode, 0) + 1
        if proc.returncode not in (0, 1) or "Traceback" in proc.stderr:
            raise SystemExit(f"apply ended with {proc.returncode}:\n{proc.stderr}")
        for m in SUMMARY.finditer(proc.stdout + proc.stderr):
            totals.retries += int(m.group(1).replace(",", ""))
            totals.rate_limited += int(m.group(2).replace(",", ""))
        if proc.returncode == 0:
            totals.applies_ok += 1
        else:
            totals.applies_failed += 1
        return proc.returncode

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON request, retried through the sandbox's injected faults."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(30):
            req = urllib.request.Request(self.url + path, data=data, method=method)
            req.add_header("Authorization", f"Bearer {self.key}")
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback
                    return json.loads(resp.read())
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(min(0.1 * 2**attempt, 3))
        raise SystemExit(f"{method} {path}: no answer after 30 attempts")

    def stats(self) -> dict[str, Any]:
        return self.request("GET", "/_sandbox/stats")  # type: ignore[no-any-return]


def grow(manifests: Path, users: int) -> None:
    """Append `users` customers to the Amperity source."""
    path = manifests / AMPERITY
    with path.open(newline="") as fh:
        header = next(csv.reader(fh))
    with path.open("a", newline="") as fh:
        writer = csv.writer(fh)
        for i in range(users):
            row = {
                "external_id": f"soak-{i:05d}",
                "loyalty_tier": TIERS[i % 3],
                "favorite_store": f"Store {i % 7}",
                "is_vip": "false",
                "first_order_date": "2022-01-01",
                "last_order_at": "2026-11-01T10:00:00Z",
                "ltv": f"{i}.50",
                "churn_score": "0.5",
                "order_count": str(i),
                "birthdate": "1990-01-01",
                "email_address": f"soak{i}@example.org",
            }
            writer.writerow([row[h] for h in header])


def edit(manifests: Path, rng: random.Random, share: float) -> int:
    """Change the tier and order count of a random `share` of the users; returns how many."""
    path = manifests / AMPERITY
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    fieldnames = list(rows[0])
    picked = rng.sample(range(len(rows)), max(1, int(len(rows) * share)))
    for i in picked:
        row = rows[i]
        row["loyalty_tier"] = rng.choice([t for t in TIERS if t != row["loyalty_tier"]])
        row["order_count"] = str(int(row["order_count"]) + 1)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return len(picked)


_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def normal(value: Any) -> Any:
    """One spelling per value: times as UTC seconds, numbers as floats, arrays sorted."""
    if isinstance(value, dict) and set(value) == {"$time"}:
        value = value["$time"]
    if isinstance(value, str) and _TIME.match(value):
        if len(value) == 10:
            value += "T00:00:00Z"
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return sorted(normal(v) for v in value)
    return value


def differences(soak: Soak) -> list[str]:
    """Users whose exported values differ from the desired state (an empty list: equal)."""
    desired: dict[str, dict[str, Any]] = {}
    for cell in build_desired(load_workspace(soak.manifests)).iter_cells():
        if cell.value is not None:
            desired.setdefault(cell.user_id, {})[cell.attribute] = normal(cell.value)
    ids = sorted(desired)
    remote: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 50):
        body = {
            "external_ids": ids[i : i + 50],
            "fields_to_export": ["external_id", "custom_attributes", *STANDARD],
        }
        for user in soak.request("POST", "/users/export/ids", body)["users"]:
            custom = user.get("custom_attributes", {}).items()
            # reconciler's own bookkeeping (the exactly-once event-batch marker) is not a source
            values = {k: normal(v) for k, v in custom if not k.startswith("reconciler_")}
            values.update({f: normal(user[f]) for f in STANDARD if user.get(f) is not None})
            remote[user["external_id"]] = values
    differ = [u for u in ids if remote.get(u) != desired[u]]
    if soak.verbose:
        for u in differ[:5]:
            want, got = desired[u], remote.get(u, {})
            keys = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
            shown = ", ".join(f"{k} {want.get(k)!r}≠{got.get(k)!r}" for k in keys)
            print(f"    differs: {u}: {shown}")
    return differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=1500, help="users added to Amperity")
    parser.add_argument("--share", type=float, default=0.1, help="users edited per cycle")
    parser.add_argument("--fail-rate", type=float, default=0.2)
    parser.add_argument("--rate-limit", type=int, default=10, help="/users/track per 3 s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="each command, its time, diffs")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "manifests", root / "manifests")
        grow(root / "manifests", args.users)
        sandbox = start_sandbox(
            "--fail-rate",
            str(args.fail_rate),
            "--rate-limit",
            str(args.rate_limit),
            "--seed",
            str(args.seed),
        )
        try:
            return run(Soak(root, sandbox.url, sandbox.key, args.verbose), args, rng)
        finally:
            sandbox.stop()


def run(soak: Soak, args: argparse.Namespace, rng: random.Random) -> int:
    totals = Totals()
    deadline = time.monotonic() + args.minutes * 60
    started = time.monotonic()
    cycles = edited = 0
    while time.monotonic() < deadline:
        users, points = soak.pending()
        soak.apply(totals)
        left_users, left_points = soak.pending()
        totals.needed_objects += users - left_users
        totals.needed_points += points - left_points
        cycles += 1
        edited += edit(soak.manifests, rng, args.share)
    for _ in range(20):  # drain: apply until nothing is left
        users, points = soak.pending()
        if users == 0:
            break
        soak.apply(totals)
        left_users, left_points = soak.pending()
        totals.needed_objects += users - left_users
        totals.needed_points += points - left_points
    stats = soak.stats()
    diff = differences(soak)
    left, _ = soak.pending()
    resent_objects = stats["objects"] - totals.needed_objects
    resent_points = stats["data_points"] - totals.needed_points
    elapsed = time.monotonic() - started
    track = stats["requests"].get("/users/track", 0)
    print(f"soak: {elapsed:.0f} s, {cycles} cycles, {edited:,} user edits, seed {args.seed}")
    print(
        f"  sandbox: fail-rate {args.fail_rate}, rate limit {args.rate_limit}/3 s; "
        f"{track:,} /users/track requests"
    )
    print(
        f"  applies: {totals.applies_ok} ok, {totals.applies_failed} failed "
        f"(exit codes {dict(sorted(totals.exit_codes.items()))})"
    )
    print(f"  faults seen by apply: {totals.retries:,} retries, {totals.rate_limited:,} 429s")
    print(
        f"  objects accepted {stats['objects']:,}, needed {totals.needed_objects:,}, "
        f"resent {resent_objects:,}; data points {stats['data_points']:,}, "
        f"needed {totals.needed_points:,}, resent {resent_points:,}"
    )
    print(
        f"  final: plan has {left} users left; Braze equals the sources for "
        f"{'every' if not diff else 'NOT every'} user ({len(diff)} differ)"
    )
    return 0 if not diff and left == 0 and resent_objects == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
