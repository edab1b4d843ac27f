"""A drift lab: a generated workspace, a real SQLite state and an in-process sandbox.

The workspace covers every attribute type drift normalises (string enum, boolean, integer,
decimal, date, datetime, array, a pii string and the standard `dob`), an ActionIQ audience
boolean and one event, for `users` generated users. Apply goes through the real executor
(run_apply) over the sandbox's ASGI transport, so the ledger holds what Braze acknowledged.
"""

from __future__ import annotations

import asyncio
import csv
import json
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from reconciler.apply.executor import ApplyOptions
from reconciler.apply.progress import NullProgress
from reconciler.apply.result import ApplyResult
from reconciler.apply.run import run_apply
from reconciler.braze.client import BrazeClient
from reconciler.braze.reads import BrazeReads
from reconciler.commands.drifting import DriftRequest, check_drift
from reconciler.commands.planning import make_plan
from reconciler.drift.report import DriftReport
from reconciler.manifests import Manifests, load_workspace
from reconciler.plan.model import UserDelta
from reconciler.sandbox.app import SandboxApp, create_app
from reconciler.sandbox.auth import DEFAULT_KEY
from reconciler.sandbox.inprocess import BASE_URL, SandboxASGITransport, SandboxTestClient
from reconciler.state import StateStore, open_state

WORKSPACE = """\
apiVersion: reconciler/v1
kind: Workspace
metadata: {name: lab}
spec:
  rest_endpoint: https://rest.iad-03.braze.com
  rate_limits: {users_export_per_minute: 6000}
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
kind: Integration
metadata: {name: shop}
spec: {partner: custom, identifier: external_id, owns: ["shop_*"]}
---
apiVersion: reconciler/v1
kind: AttributeSchema
metadata: {name: profile}
spec:
  integration: amperity
  attributes:
    - {name: loyalty_tier, type: string, enum: [bronze, silver, gold]}
    - {name: is_vip, type: boolean}
    - {name: order_count, type: integer}
    - {name: lifetime_value, type: decimal}
    - {name: first_order_date, type: date}
    - {name: last_order_at, type: datetime}
    - {name: personal_email, type: string, pii: true}
    - {name: dob, type: date, standard: true, pii: true}
---
apiVersion: reconciler/v1
kind: AttributeSchema
metadata: {name: shop}
spec:
  integration: shop
  attributes:
    - {name: shop_stores, type: array, max_length: 25}
---
apiVersion: reconciler/v1
kind: AttributeSync
metadata: {name: profile}
spec:
  integration: amperity
  source: {path: data/profile.csv}
  identifier_column: external_id
  columns:
    tier: loyalty_tier
    vip: is_vip
    orders: order_count
    ltv: lifetime_value
    first_order: first_order_date
    last_order: last_order_at
    mail: personal_email
    birthdate: dob
---
apiVersion: reconciler/v1
kind: AttributeSync
metadata: {name: shop}
spec:
  integration: shop
  source: {path: data/shop.jsonl}
  identifier_column: external_id
  columns: {stores: shop_stores}
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
---
apiVersion: reconciler/v1
kind: EventSchema
metadata: {name: shop-events}
spec:
  integration: shop
  events:
    - name: shop_order_placed
"""

TIERS = ("bronze", "silver", "gold")


def user_id(i: int) -> str:
    return f"user-{i:05d}"


def write_workspace(root: Path, users: int) -> Path:
    """The manifests directory for `users` users (all in the profile, half in the audience)."""
    manifests = root / "manifests"
    (manifests / "data").mkdir(parents=True)
    (manifests / "workspace.yaml").write_text(WORKSPACE, encoding="utf-8")
    with (manifests / "data" / "profile.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(
            [
                "external_id",
                "tier",
                "vip",
                "orders",
                "ltv",
                "first_order",
                "last_order",
                "mail",
                "birthdate",
            ]
        )
        for i in range(users):
            out.writerow(
                [
                    user_id(i),
                    TIERS[i % 3],
                    "true" if i % 2 else "false",
                    i,
                    f"{i}.25",
                    f"2020-01-{1 + i % 28:02d}",
                    f"2026-03-{1 + i % 28:02d}T10:{i % 60:02d}:00Z",
                    f"person{i}@example.com",
                    f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
                ]
            )
    with (manifests / "data" / "shop.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(users):
            stores = [f"store-{(i + k) % 7}" for k in range(1 + i % 3)]
            fh.write(json.dumps({"external_id": user_id(i), "stores": stores}) + "\n")
    with (manifests / "data" / "aiq.csv").open("w", encoding="utf-8") as fh:
        fh.write("external_id\n" + "".join(f"{user_id(i)}\n" for i in range(0, users, 2)))
    return manifests


class Lab:
    """The workspace, its state and the sandbox, with the steps drift tests take."""

    def __init__(self, root: Path, users: int) -> None:
        self.root = root
        self.manifests = write_workspace(root, users)
        self.state_url = f"sqlite:///{root / 'state.db'}"
        self.app: SandboxApp = create_app()
        self.users = users
        self.sent: list[UserDelta] = []

    def load(self) -> Manifests:
        return load_workspace(self.manifests)

    def transport(self) -> httpx.AsyncBaseTransport:
        return SandboxASGITransport(app=self.app)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        with SandboxTestClient(self.app, key=DEFAULT_KEY) as client:
            r = client.request(method, f"/_sandbox/{path.lstrip('/')}", json=body)
            r.raise_for_status()
            return r.json()

    def change_user(
        self,
        external_id: str,
        custom: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Edit a profile behind the engine's back (no ledger, no delay)."""
        self.admin(
            "POST",
            f"users/{external_id}",
            {"custom_attributes": dict(custom or {}), "fields": dict(fields or {})},
        )

    def apply(self) -> ApplyResult:
        """Plan and apply the workspace through the real executor; `self.sent` keeps the deltas."""
        with tempfile.TemporaryDirectory(prefix="lab-spool-") as spool:
            planned = make_plan(self.manifests, self.state_url, Path(spool))
            self.sent = list(planned.plan.deltas())
            result = run_apply(
                planned.plan,
                state_url=self.state_url,
                endpoint=BASE_URL,
                api_key=DEFAULT_KEY,
                progress=NullProgress(),
                options=ApplyOptions(handle_sigint=False),
                transport=self.transport(),
            )
        result.raise_for_status()
        return result

    def drift(self, *, sample: int = 500, seed: int = 7, window: float = 0.0) -> DriftReport:
        request = DriftRequest(self.manifests, self.state_url, sample, seed, window)
        return check_drift(request, transport=self.transport())

    @contextmanager
    def state(self) -> Iterator[StateStore]:
        with open_state(self.state_url) as store:
            yield store

    def with_reads(self, fn: Any) -> Any:
        """Run `await fn(reads)` with BrazeReads over the sandbox; returns its result."""

        async def go() -> Any:
            async with BrazeClient(BASE_URL, DEFAULT_KEY, transport=self.transport()) as c:
                return await fn(BrazeReads(c))

        return asyncio.run(go())


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
