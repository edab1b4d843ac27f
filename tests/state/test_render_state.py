"""Snapshots of `state list|show|unlock` text, from fixed data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from syrupy.assertion import SnapshotAssertion

from reconciler.render.state import render_state_list, render_state_show, render_unlocked
from reconciler.state import ApplyRecord, JournalEntry, LockInfo, ResourceRecord, StateMeta
from reconciler.state.overview import StateOverview

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2025, 3, 1, 12, 5, 30, tzinfo=UTC)
LOCK = LockInfo(
    "6f1c2d3e-0000-4000-8000-000000000001", "ci", "runner-7", 4242, "apply", "plan.bin", T0, T1
)


def make(
    *, lock: LockInfo | None = None, empty: bool = False, env_key: bool = False
) -> StateOverview:
    return StateOverview(
        url="sqlite:////srv/repo/.reconciler/state.db",
        meta=StateMeta("0b7a1c52-5f0e-4b8e-9d7e-3a3c1f2e9d10", 0 if empty else 7, 1, T0),
        attribute_counts={} if empty else {"AIQ_48213_2": 1200, "email_hash": 1_000_000},
        resources={}
        if empty
        else {
            "ContentBlock.rokt-calendar": ResourceRecord(
                "ContentBlock.rokt-calendar", "ab" * 32, "cb-123", {}, T1
            ),
            "CustomAttribute.tier": ResourceRecord("CustomAttribute.tier", "cd" * 32, None, {}, T0),
        },
        events=0 if empty else 40,
        hash_key_source="env" if env_key else "state",
        hash_key_fingerprint="ff0bfbb408b37bc0",
        hash_key_changed=env_key,
        lock=lock,
        applies=[]
        if empty
        else [
            ApplyRecord(
                "a1b2c3d4-0000-4000-8000-000000000002",
                "plan-9",
                LOCK.lock_id,
                "ci@runner-7 (pid 4242)",
                T0,
                T1,
                "applied",
            ),
            ApplyRecord(
                "99999999-0000-4000-8000-000000000003",
                "",
                "x",
                "ana@laptop (pid 1)",
                T0,
                None,
                "interrupted",
            ),
        ],
        journal=[]
        if empty
        else [
            JournalEntry("a1b2c3d4-0000-4000-8000-000000000002", 1, 7, T1, 1500, 30, 2, {}),
            JournalEntry("a1b2c3d4-0000-4000-8000-000000000002", 0, 6, T0, 75, 0, 0, {}),
        ],
    )


@pytest.mark.parametrize(
    "case",
    [
        pytest.param({}, id="populated"),
        pytest.param({"empty": True}, id="empty"),
        pytest.param({"lock": LOCK, "env_key": True}, id="locked-env-key"),
    ],
)
def test_state_show(case: dict[str, object], snapshot: SnapshotAssertion) -> None:
    assert render_state_show(make(**case)) == snapshot  # type: ignore[arg-type]


@pytest.mark.parametrize("empty", [False, True], ids=["populated", "empty"])
def test_state_list(empty: bool, snapshot: SnapshotAssertion) -> None:
    assert render_state_list(make(empty=empty)) == snapshot


def test_unlocked(snapshot: SnapshotAssertion) -> None:
    assert render_unlocked(LOCK) == snapshot
