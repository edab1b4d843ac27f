"""A separate process for the kill -9 test: applies a pickled Plan, printing each acked batch.

Usage: python apply_worker.py PLAN_PICKLE STATE_URL ENDPOINT   (key in $BRAZE_API_KEY)
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

from reconciler.apply import NullProgress
from reconciler.apply.run import run_apply


class Acks(NullProgress):
    def __init__(self) -> None:
        self.batches = 0

    def advance(self, objects: int, rejected: int) -> None:
        self.batches += 1
        print(f"acked {self.batches} {objects} {rejected}", flush=True)


def main(plan_file: str, state_url: str, endpoint: str) -> None:
    plan = pickle.loads(Path(plan_file).read_bytes())
    result = run_apply(
        plan,
        state_url=state_url,
        endpoint=endpoint,
        api_key=os.environ["BRAZE_API_KEY"],
        progress=Acks(),
    )
    print(f"done {result.status}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
