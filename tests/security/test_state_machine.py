"""A stateful property test of plan → apply against the in-process sandbox (issue 10).

Hypothesis edits the sources of a small workspace (join/leave the audience, change a cell, add or
remove an array value, add or remove a user), plans, applies cleanly, applies under injected
faults (5xx, 429, dropped connections, before or after the write lands) and crashes mid-apply
(a transport that dies after k requests, with the k+1th landing or not). After every step:

- after an apply that returned "applied", the sandbox holds the desired state for every user
  and the next plan has no changes;
- every ledger row names a value the sandbox holds (the ledger never claims an unaccepted write);
- the sandbox's data points ≤ the sum of the applied plans' data points + the data points of
  requests that landed but whose answer never reached the engine (faults "after", the crash).

Fast profile: a few short runs inside `make test`; `HYPOTHESIS_PROFILE=slow` runs ≥ 2,000 steps.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from reconciler.apply.executor import ApplyOptions
from reconciler.apply.pacing import RetryPolicy
from reconciler.apply.progress import NullProgress
from reconciler.apply.result import ApplyResult
from reconciler.apply.run import run_apply
from reconciler.commands.planning import make_plan
from reconciler.plan.model import Plan
from reconciler.sandbox.app import SandboxApp, create_app
from reconciler.sandbox.auth import DEFAULT_KEY
from reconciler.sandbox.inprocess import BASE_URL, SandboxASGITransport
from reconciler.state import canonical_value, open_state

AIQ = "AIQ_48213_2"
USERS = tuple(f"user-{i:02d}" for i in range(8))
TIERS = ("bronze", "silver", "gold", "a,b", 'say "hi"', "ünïcode")
TAGS = ("red", "green", "blue", "x y", "z,w")

WORKSPACE = """\
apiVersion: reconciler/v1
kind: Workspace
metadata: {name: machine}
spec:
  rest_endpoint: https://rest.iad-03.braze.com
  guards: {max_data_points: 1000000, max_audience_flip_pct: 100}
---
apiVersion: reconciler/v1
kind: Integration
metadata: {name: amperity}
spec: {partner: amperity, identifier: external_id}
---
apiVersion: reconciler/v1
kind: Integration
metadata: {name: actioniq}
spec: {partner: actioniq, identifier: external_id}
---
apiVersion: reconciler/v1
kind: AttributeSchema
metadata: {name: profile}
spec:
  integration: amperity
  attributes:
    - {name: tier, type: string}
    - {name: visits, type: integer}
    - {name: tags, type: array, max_length: 10}
---
apiVersion: reconciler/v1
kind: AttributeSync
metadata: {name: profile}
spec:
  integration: amperity
  source: {path: data/profile.csv}
  identifier_column: external_id
  columns: {tier: tier, visits: visits, tags: tags}
  on_missing_row: unset
---
apiVersion: reconciler/v1
kind: AudienceMapping
metadata: {name: high-value}
spec:
  integration: actioniq
  audience_id: "48213"
  split_id: "2"
  members: {path: data/aiq.csv, identifier_column: external_id}
  on_exit: set_false
"""

# How many runs of the machine and how many steps each: fast inside `make test`, slow on demand.
SLOW = os.environ.get("HYPOTHESIS_PROFILE") == "slow"
MAX_EXAMPLES, STEPS = (120, 30) if SLOW else (4, 10)

# What the slow run reports (printed by the test; pytest -s shows it).
TOTALS: Counter[str] = Counter()


def stored_form(value: Any) -> str:
    """The ledger's text for a sandbox value: arrays are compared as sets (sorted)."""
    return canonical_value(sorted(value) if isinstance(value, list) else value)


class Crash(Exception):
    """The process dying mid-apply: raised by the transport, never caught by the engine."""


class Harness(httpx.AsyncBaseTransport):
    """The sandbox's ASGI transport, serialised, with data-point bookkeeping and a crash point.

    Requests go through one at a time (the engine still keeps several in flight), so the stats
    delta around each /users/track request is that request's own cost. A request that spent data
    points but whose 2xx answer never reached the engine is `unanswered`: its resend is allowed.
    """

    def __init__(self, app: SandboxApp, crash_after: int | None, crash_lands: bool) -> None:
        self.inner = SandboxASGITransport(app=app)
        self.app = app
        self.lock = asyncio.Lock()
        self.crash_after, self.crash_lands = crash_after, crash_lands
        self.sent = 0
        self.crashed = False
        self.unanswered = 0  # data points of landed requests whose answer was lost
        self.doubt: set[str] = set()  # users named in such requests

    async def _points(self) -> int:
        request = httpx.Request(
            "GET",
            f"{BASE_URL}/_sandbox/stats",
            headers={"Authorization": f"Bearer {DEFAULT_KEY}"},
        )
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return int(json.loads(response.content)["data_points"])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self.lock:
            if self.crashed:
                raise Crash("the process is gone")
            self.sent += 1
            crash_now = self.crash_after is not None and self.sent > self.crash_after
            if crash_now and not self.crash_lands:
                self.crashed = True
                raise Crash("died before the request left")
            before = await self._points()
            try:
                response = await self.inner.handle_async_request(request)
                await response.aread()
            except httpx.TransportError:
                TOTALS["faults_hit"] += 1
                self.lost(request, await self._points() - before)
                raise
            spent = await self._points() - before
            if crash_now:
                self.crashed = True
                self.lost(request, spent)
                raise Crash("died before the answer arrived")
            if not 200 <= response.status_code < 300 or response.status_code == 202:
                TOTALS["faults_hit"] += 1
                self.lost(request, spent)
            return response

    def lost(self, request: httpx.Request, spent: int) -> None:
        """A request that may have landed without the engine learning so."""
        self.unanswered += spent
        if spent and request.url.path == "/users/track":
            body = json.loads(request.content)
            self.doubt.update(str(a.get("external_id")) for a in body.get("attributes", []))


class FastClock:
    """Wall time plus every sleep taken: a 429's reset arrives at once instead of in seconds
    (the gate polls `clock` against the reset, so a no-op sleep alone would spin)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)
        await asyncio.sleep(0)


FAULT_STATUSES = st.sampled_from([500, 502, 503, 429, "drop"])
FAULT = st.fixed_dictionaries(
    {
        "n": st.integers(1, 3),
        "status": FAULT_STATUSES,
        "when": st.sampled_from(["before", "after"]),
    }
)


class ReconcilerMachine(RuleBasedStateMachine):
    """The model is the sources (`rows`, `members`); the sandbox and the ledger are checked
    against it."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="reconciler-machine-"))
        self.manifests = self.root / "manifests"
        (self.manifests / "data").mkdir(parents=True)
        (self.manifests / "workspace.yaml").write_text(WORKSPACE, encoding="utf-8")
        self.state_url = f"sqlite:///{self.root / 'state.db'}"
        self.app: SandboxApp = create_app()
        self.rows: dict[str, dict[str, Any]] = {}
        self.members: set[str] = set()
        self.clean = False  # the last apply returned "applied" and no edit came since
        self.budget = 0  # Σ data points of the plans handed to an apply
        self.unanswered = 0
        self.plans = 0
        self.doubt: set[str] = set()  # users a write may have reached unacknowledged
        self.history: dict[tuple[str, str], set[str]] = {}  # every value the sandbox held

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- the sources -------------------------------------------------------------------------

    def write_sources(self) -> None:
        data = self.manifests / "data"
        with (data / "profile.csv").open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["external_id", "tier", "visits", "tags"])
            for uid in sorted(self.rows):
                row = self.rows[uid]
                out.writerow([uid, row["tier"], row["visits"], json.dumps(row["tags"])])
        with (data / "aiq.csv").open("w", newline="", encoding="utf-8") as fh:
            fh.write("external_id\n" + "".join(f"{uid}\n" for uid in sorted(self.members)))
        self.clean = False

    @initialize(
        users=st.dictionaries(
            st.sampled_from(USERS),
            st.tuples(
                st.sampled_from(TIERS),
                st.integers(0, 10**6),
                st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
            ),
            min_size=1,
            max_size=5,
        ),
        members=st.sets(st.sampled_from(USERS), max_size=4),
    )
    def start(self, users: dict[str, tuple[str, int, list[str]]], members: set[str]) -> None:
        self.rows = {u: {"tier": t, "visits": v, "tags": tags} for u, (t, v, tags) in users.items()}
        self.members = set(members)
        self.write_sources()

    @rule(uid=st.sampled_from(USERS))
    def join(self, uid: str) -> None:
        self.members.add(uid)
        self.write_sources()

    @rule(data=st.data())
    @precondition(lambda self: bool(self.members))
    def leave(self, data: st.DataObject) -> None:
        self.members.discard(data.draw(st.sampled_from(sorted(self.members))))
        self.write_sources()

    @rule(data=st.data(), tier=st.sampled_from(TIERS), visits=st.integers(0, 10**6))
    @precondition(lambda self: bool(self.rows))
    def change_cell(self, data: st.DataObject, tier: str, visits: int) -> None:
        uid = data.draw(st.sampled_from(sorted(self.rows)))
        column = data.draw(st.sampled_from(["tier", "visits"]))
        self.rows[uid][column] = tier if column == "tier" else visits
        self.write_sources()

    @rule(data=st.data(), tag=st.sampled_from(TAGS))
    @precondition(lambda self: bool(self.rows))
    def add_tag(self, data: st.DataObject, tag: str) -> None:
        tags = self.rows[data.draw(st.sampled_from(sorted(self.rows)))]["tags"]
        if tag not in tags:
            tags.append(tag)
        self.write_sources()

    @rule(data=st.data())
    @precondition(lambda self: any(r["tags"] for r in self.rows.values()))
    def remove_tag(self, data: st.DataObject) -> None:
        uid = data.draw(st.sampled_from(sorted(u for u, r in self.rows.items() if r["tags"])))
        tags = self.rows[uid]["tags"]
        tags.remove(data.draw(st.sampled_from(tags)))
        self.write_sources()

    @rule(
        uid=st.sampled_from(USERS),
        tier=st.sampled_from(TIERS),
        visits=st.integers(0, 10**6),
        tags=st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
    )
    def add_user(self, uid: str, tier: str, visits: int, tags: list[str]) -> None:
        self.rows[uid] = {"tier": tier, "visits": visits, "tags": tags}
        self.write_sources()

    @rule(data=st.data())
    @precondition(lambda self: len(self.rows) > 1)
    def remove_user(self, data: st.DataObject) -> None:
        del self.rows[data.draw(st.sampled_from(sorted(self.rows)))]
        self.write_sources()

    # ---- plan and apply ----------------------------------------------------------------------

    def plan(self) -> tuple[Plan, Path]:
        spool = Path(tempfile.mkdtemp(prefix="spool-", dir=self.root))
        self.plans += 1
        TOTALS["plans"] += 1
        return make_plan(self.manifests, self.state_url, spool).plan, spool

    def apply(
        self,
        *,
        concurrency: int = 4,
        batch_size: int = 75,
        crash_after: int | None = None,
        crash_lands: bool = False,
    ) -> ApplyResult | None:
        """Plan and apply through the real executor; None when the harness crashed it."""
        plan, spool = self.plan()
        harness = Harness(self.app, crash_after, crash_lands)
        clock = FastClock()
        options = ApplyOptions(
            concurrency=concurrency,
            batch_size=batch_size,
            retry=RetryPolicy(max_attempts=4, base_delay=0.0, max_rate_limited=4),
            handle_sigint=False,
            clock=clock.now,
            sleep=clock.sleep,
            seed=0,
        )
        self.budget += plan.summary.data_points
        TOTALS["applies"] += 1
        try:
            result = run_apply(
                plan,
                state_url=self.state_url,
                endpoint=BASE_URL,
                api_key=DEFAULT_KEY,
                allow_large=True,  # an audience flip can be 200 % while the guard caps at 100
                progress=NullProgress(),
                options=options,
                transport=harness,
            )
        except Crash:
            result = None
            TOTALS["crashes"] += 1
        finally:
            self.unanswered += harness.unanswered
            self.doubt |= harness.doubt
            shutil.rmtree(spool, ignore_errors=True)
        self.remember()
        self.clean = result is not None and result.status == "applied"
        if result is not None:
            TOTALS[f"status_{result.status}"] += 1
            TOTALS["retries"] += result.retries
            TOTALS["rate_limited"] += result.rate_limited
        return result

    @rule()
    def plan_only(self) -> None:
        plan, spool = self.plan()
        shutil.rmtree(spool, ignore_errors=True)
        if self.clean:
            assert not plan.has_changes, plan.summary

    @rule(batch_size=st.sampled_from([1, 2, 75]))
    def apply_clean(self, batch_size: int) -> None:
        result = self.apply(batch_size=batch_size)
        assert result is not None
        assert result.status == "applied", (result.status, result.error)

    @rule(faults=st.lists(FAULT, min_size=1, max_size=4), batch_size=st.sampled_from([1, 2, 75]))
    def apply_under_faults(self, faults: list[dict[str, Any]], batch_size: int) -> None:
        self.admin("POST", "faults", {"fail_requests": faults})
        TOTALS["faults_scheduled"] += len(faults)
        self.apply(batch_size=batch_size)
        self.admin("POST", "faults", {"fail_requests": []})

    @rule(
        k=st.integers(0, 5),
        lands=st.booleans(),
        batch_size=st.sampled_from([1, 2]),
        concurrency=st.sampled_from([1, 4]),
    )
    def crash_mid_apply(self, k: int, lands: bool, batch_size: int, concurrency: int) -> None:
        self.apply(concurrency=concurrency, batch_size=batch_size, crash_after=k, crash_lands=lands)

    # ---- reading the sandbox -----------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        async def go() -> Any:
            transport = SandboxASGITransport(app=self.app)
            headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
            async with httpx.AsyncClient(
                transport=transport, base_url=BASE_URL, headers=headers
            ) as client:
                r = await client.request(method, f"/_sandbox/{path}", json=body)
                return r.status_code, (r.json() if r.content else None)

        status, payload = asyncio.run(go())
        assert status in (200, 404), (path, status, payload)
        return payload if status == 200 else None

    def remember(self) -> None:
        """Add what the sandbox holds now to `history` (one delta per user per apply, so no
        acknowledged value can be overwritten before this look)."""
        for uid in USERS:
            for attr, value in self.stored(uid).items():
                self.history.setdefault((uid, attr), set()).add(stored_form(value))

    def stored(self, uid: str) -> dict[str, Any]:
        found = self.admin("GET", f"users/{uid}")
        return dict(found["user"].get("custom_attributes", {})) if found else {}

    # ---- invariants --------------------------------------------------------------------------

    @invariant()
    def sandbox_holds_desired_after_applied(self) -> None:
        if not self.clean:
            return
        for uid in USERS:
            attrs = self.stored(uid)
            row = self.rows.get(uid)
            if row is None:
                assert not {"tier", "visits", "tags"} & attrs.keys(), (uid, attrs)
            else:
                assert attrs.get("tier") == row["tier"], (uid, attrs, row)
                assert attrs.get("visits") == row["visits"], (uid, attrs, row)
                assert sorted(attrs.get("tags") or []) == sorted(row["tags"]), (uid, attrs, row)
            if uid in self.members:
                assert attrs.get(AIQ) is True, (uid, attrs)
            else:
                assert attrs.get(AIQ) is not True, (uid, attrs)
        plan, spool = self.plan()
        shutil.rmtree(spool, ignore_errors=True)
        assert not plan.has_changes, plan.summary

    @invariant()
    def ledger_never_claims_more_than_sandbox(self) -> None:
        with open_state(self.state_url) as state:
            rows = [r for batch in state.iter_ledger() for r in batch]
        stored: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r.user_id not in stored:
                stored[r.user_id] = self.stored(r.user_id)
            held = stored[r.user_id]
            # Exact even for users a lost answer touched: the cells of a batch whose answer was
            # lost stay marked in doubt (not ledger values), so every value the ledger does
            # claim is what the sandbox holds.
            assert r.attribute in held, (r, held, r.user_id in self.doubt)
            assert stored_form(held[r.attribute]) == r.value, (r, held, r.user_id in self.doubt)
        TOTALS["ledger_checks"] += len(rows)

    @invariant()
    def data_points_within_budget(self) -> None:
        spent = int(self.admin("GET", "stats")["data_points"])
        assert spent <= self.budget + self.unanswered, (spent, self.budget, self.unanswered)

    @invariant()
    def count_step(self) -> None:
        TOTALS["steps"] += 1


ReconcilerMachine.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class TestReconcilerMachine(ReconcilerMachine.TestCase):  # type: ignore[misc,valid-type]
    """Collected by pytest; the totals are printed for the slow profile's report."""

    @classmethod
    def tearDownClass(cls) -> None:
        print("state machine totals:", dict(sorted(TOTALS.items())))
        assert TOTALS["steps"] > 0
        super().tearDownClass()
