#!/usr/bin/env bash
# The issue's end-to-end run through the CLI: a CSV workspace of USERS users x 20 attributes and
# two ActionIQ audiences holding 33% and 20% of them, planned and applied against `reconciler
# sandbox` on loopback, planned again (no changes), then its 1%-churned copy planned, applied
# and planned again. Prints each step's wall time, CPU and peak RSS, and the sandbox's totals.
#
#     bench/csv_e2e.sh WORKDIR [USERS]          # USERS defaults to 1,000,000
#
# Compare the printed counts with WORKDIR/ws/ground_truth.json.
set -euo pipefail
W=$(realpath -m "$1")
USERS=${2:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
mkdir -p "$W"
cd "$W"
step() { local label=$1; shift; /usr/bin/time -f "$label: %e s wall, %U s user, %M KB peak RSS, exit %x" "$@"; }

step generate "$PY" "$ROOT/bench/generate.py" --users="$USERS" --attributes=20 --audiences=2 \
  --audience-shares=0.33,0.20 --churn=1.0 --seed=11 --format=csv "$W/ws"
env -u BRAZE_API_KEY "$PY" -m reconciler sandbox --port 0 > sandbox.out 2> sandbox.err &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s sandbox.out ] && break; sleep 0.2; done
URL=$(head -1 sandbox.out)
export BRAZE_REST_ENDPOINT=$URL BRAZE_API_KEY=sandbox-key  # the sandbox's default key
STATE=sqlite:///$W/state.db
R=("$PY" -m reconciler)
step "plan first sync" "${R[@]}" plan --manifests ws/original --state "$STATE" --out first.plan | tail -2
step "apply first sync" "${R[@]}" apply first.plan --manifests ws/original --state "$STATE" | tail -1
step "plan again (no changes)" "${R[@]}" plan --manifests ws/original --state "$STATE" | grep -E "^(No changes|Plan:)"
step "plan churned" "${R[@]}" plan --manifests ws/churned --state "$STATE" --out churn.plan | tail -2
step "apply churned" "${R[@]}" apply churn.plan --manifests ws/churned --state "$STATE" | tail -1
step "plan churned again (no changes)" "${R[@]}" plan --manifests ws/churned --state "$STATE" | grep -E "^(No changes|Plan:)"
"$PY" - "$URL" <<'PY'
import json, sys
import httpx
stats = httpx.get(f"{sys.argv[1]}/_sandbox/stats", headers={"Authorization": "Bearer sandbox-key"}).json()
print("sandbox received:", json.dumps(stats))
PY
