"""`apply --verify`: silent drops found after the consistency window, lag waited out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from drift.lab import Lab
from reconciler.braze.reads import BrazeReads
from reconciler.drift.catalog import build_catalog
from reconciler.drift.pacing import ExportPacer
from reconciler.drift.verify import VerifyReport, sample_deltas, verify_apply


def verify(lab: Lab, n: int, window: float, first_pause: float = 0.05) -> VerifyReport:
    async def go(reads: BrazeReads) -> VerifyReport:
        with lab.state() as state:
            return await verify_apply(
                lab.sent,
                state,
                reads,
                build_catalog(lab.load()),
                n=n,
                seed=5,
                window_seconds=window,
                pacer=ExportPacer(6000, time.time, asyncio.sleep),
                clock=time.time,
                sleep=asyncio.sleep,
                first_pause=first_pause,
            )

    result: VerifyReport = lab.with_reads(go)
    return result


def test_a_clean_apply_verifies(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(40)
    lab.apply()
    report = verify(lab, 25, window=0)
    assert report.ok and report.verified == 25 and report.reads == 1
    assert report.export_requests == 1


def test_writes_to_a_blocklisted_attribute_are_acknowledged_then_dropped(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(40)
    lab.admin("POST", "custom_attributes", {"name": "loyalty_tier", "blocklisted": True})
    lab.apply()  # Braze answers 201 for every object: the drop is silent
    report = verify(lab, 10, window=0.3)
    assert not report.ok
    assert report.dropped_users == 10
    assert {(d.attribute, d.kind) for d in report.dropped} == {("loyalty_tier", "missing")}
    assert report.reads >= 2  # a mismatch is read again until the window has passed
    assert report.waited_seconds >= 0.3


def test_a_value_a_forced_type_cannot_take_is_dropped(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(12)
    lab.admin("POST", "custom_attributes", {"name": "first_order_date", "data_type": "Boolean"})
    lab.apply()
    report = verify(lab, 12, window=0)
    assert report.dropped_users == 12
    assert {d.attribute for d in report.dropped} == {"first_order_date"}


def test_lag_within_the_window_is_waited_out_not_reported(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(20)
    lab.admin("POST", "config", {"consistency_delay_ms": 400})
    lab.apply()
    report = verify(lab, 20, window=10, first_pause=0.1)
    assert report.ok
    assert report.reads >= 2  # the first read came too early and saw nothing
    assert report.waited_seconds < 5


def test_only_acknowledged_users_are_verified(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(10)
    lab.apply()
    lab.sent[0] = lab.sent[0]._replace(writes=(("loyalty_tier", '"never-acked"'),))
    chosen = sample_deltas(lab.sent, 10, seed=5)
    assert len(chosen) == 10
    report = verify(lab, 10, window=0)
    assert report.verified == 9 and report.ok
