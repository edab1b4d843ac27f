"""`drift`: load the manifests, open state read-only, read Braze, and build the DriftReport."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.braze.settings import api_key_from_env, resolve_endpoint
from reconciler.commands.planning import resolve_state_url
from reconciler.drift.report import DriftReport
from reconciler.drift.run import DriftOptions, run_drift
from reconciler.drift.users import DEFAULT_SAMPLE, DEFAULT_WINDOW_SECONDS, UserCheckOptions
from reconciler.errors import UsageError
from reconciler.manifests import load_workspace
from reconciler.state import LockRequest, StateStore, open_state


@dataclass(frozen=True)
class DriftRequest:
    manifests_dir: Path
    state_flag: str | None
    sample: int = DEFAULT_SAMPLE
    seed: int | None = None  # None: a fresh seed, reported so the run can be repeated
    window_seconds: float = DEFAULT_WINDOW_SECONDS
    environ: Mapping[str, str] | None = None  # None: the process environment (the demo passes one)
    repair: bool = False  # mark every drifted cell found in doubt, for the next apply


def check_drift(request: DriftRequest, *, transport: Any = None) -> DriftReport:
    """Run every drift check. `transport` is an httpx transport, for tests only."""
    if request.sample < 0:
        raise UsageError(f"--sample must be 0 or more, not {request.sample}")
    if request.window_seconds < 0:
        raise UsageError("--window must not be negative")
    m = load_workspace(request.manifests_dir)
    url = resolve_state_url(request.manifests_dir, request.state_flag, m)
    endpoint = resolve_endpoint(m.rest_endpoint, request.environ)
    api_key = api_key_from_env(m.workspace.spec.api_key_env, request.environ)
    seed = request.seed if request.seed is not None else secrets.randbelow(1_000_000)
    options = DriftOptions(UserCheckOptions(request.sample, seed, request.window_seconds))
    from reconciler.braze.client import BrazeClient  # httpx stays out of `import commands`
    from reconciler.braze.reads import BrazeReads

    with open_state(url, create=False) as state:

        async def go() -> DriftReport:
            async with BrazeClient(endpoint, api_key, transport=transport) as client:
                return await run_drift(
                    m,
                    state,
                    BrazeReads(client),
                    options,
                    now=datetime.now(UTC),
                    clock=time.time,
                    sleep=asyncio.sleep,
                )

        report = asyncio.run(go())
        if request.repair and (report.users.drifted_cells or report.content_blocks.edited):
            report = repair(state, report)
        state.note_drift(drift_note(report))
        return report


def repair(state: StateStore, report: DriftReport) -> DriftReport:
    """Mark the drifted cells in doubt (under the lock): the next plan resends them. A content
    block edited in Braze is recorded as Braze holds it, so the next plan shows the edit as an
    update and apply puts the manifests' version back (its spec hash no longer matches)."""
    cells = sorted(set(report.users.drifted_cells))
    edited = report.content_blocks.edited
    info = f"{len(cells)} cells, {len(edited)} content blocks"
    with state.lock(LockRequest("drift --repair", info=info)):
        if cells:
            state.mark_in_doubt(cells, bump_serial=True)
        records = state.resources()
        blocks = 0
        for address in sorted({f.address for f in edited}):
            record = records.get(address)
            if record is None:
                continue
            held = {k: v for f in edited if f.address == address for k, v in f.braze.items()}
            state.put_resource(address, {**record.spec, **held}, remote_id=record.remote_id)
            blocks += 1
    return dataclasses.replace(report, repaired=len(cells), blocks_repaired=blocks)


def drift_note(report: DriftReport) -> dict[str, Any]:
    """What a plan says about the last drift run (StateReader.last_drift)."""
    u = report.users
    result = "inconclusive" if report.inconclusive else ("drift" if report.has_drift else "clean")
    return {
        "checked_at": report.checked_at,
        "result": result,
        "users_checked": u.checked,
        "users_drifted": u.drifted_users,
        "cells_drifted": len(u.drifted_cells),
        "repaired": report.repaired,
        "blocks_repaired": report.blocks_repaired,
    }
