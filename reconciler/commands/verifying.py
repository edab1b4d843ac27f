"""`apply --verify N`: after an apply, read back a sample of the users it wrote."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from reconciler.commands.applying import Prepared, braze_target
from reconciler.drift.catalog import build_catalog
from reconciler.drift.pacing import ExportPacer
from reconciler.drift.verify import VerifyReport, verify_apply
from reconciler.errors import SilentDropError
from reconciler.state import LockRequest, open_state


def verify_applied(
    prepared: Prepared,
    n: int,
    window_seconds: float,
    *,
    seed: int | None = None,
    transport: Any = None,
) -> VerifyReport:
    """Read back up to n users the apply acknowledged, waiting out the consistency window."""
    m = prepared.manifests
    endpoint, api_key = braze_target(m)
    per_minute = m.workspace.spec.rate_limits.users_export_per_minute
    from reconciler.braze.client import BrazeClient  # httpx stays out of `import commands`
    from reconciler.braze.reads import BrazeReads

    with open_state(prepared.state_url, create=False) as state:

        async def go() -> VerifyReport:
            async with BrazeClient(endpoint, api_key, transport=transport) as client:
                return await verify_apply(
                    prepared.plan.deltas(),
                    state,
                    BrazeReads(client),
                    build_catalog(m),
                    n=n,
                    seed=seed if seed is not None else secrets.randbelow(1_000_000),
                    window_seconds=window_seconds,
                    pacer=ExportPacer(per_minute, time.time, asyncio.sleep),
                    clock=time.time,
                    sleep=asyncio.sleep,
                )

        return asyncio.run(go())


# Users read back after an apply to a braze_id-keyed integration when --verify is not given:
# Braze drops writes to unknown braze_ids silently, so a sample is always checked.
BRAZE_ID_VERIFY = 50


def default_verify(prepared: Prepared) -> int:
    """How many users to verify when `--verify` was not given: BRAZE_ID_VERIFY for a plan
    that writes to braze_id-keyed users, else none."""
    keyed = any(i.spec.identifier == "braze_id" for i in prepared.manifests.integrations.values())
    return BRAZE_ID_VERIFY if keyed else 0


def unrecord_missing(prepared: Prepared, report: VerifyReport) -> int:
    """Mark the cells of verified users Braze does not hold in doubt, so the next plan shows
    (and resends) them instead of trusting an acknowledgement Braze did not honour."""
    cells = sorted(
        {(d.id_kind, d.user_id, d.attribute) for d in report.dropped if d.kind == "user_missing"}
    )
    if not cells:
        return 0
    with open_state(prepared.state_url, create=False) as state:
        with state.lock(LockRequest("apply --verify", info=f"{len(cells)} cells")):
            state.mark_in_doubt(cells, bump_serial=True)
    return len(cells)


def raise_for_drops(report: VerifyReport) -> None:
    """Exit 1 when a verified write did not land."""
    if report.ok:
        return
    raise SilentDropError(
        f"{report.dropped_users:,} of {report.verified:,} verified users lost values Braze "
        "had acknowledged (silent drops)",
        hint="run `reconciler drift` for the schema checks: a forced type, a blocklisted "
        "attribute or an array length usually explains a drop",
    )
