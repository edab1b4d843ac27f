"""While an apply sends, the cyclic collector runs rarely; afterwards it is as it was."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apply.support import delta, make_plan

from reconciler.apply.executor import GC_YOUNG_THRESHOLD, ApplyOptions, apply_plan
from reconciler.apply.protocol import TrackResult
from reconciler.state import open_state


class ThresholdWriter:
    """Answers every request with 201 and notes the collector's thresholds as it does."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int]] = []

    async def track(self, payload: Mapping[str, Any]) -> TrackResult:  # noqa: ARG002
        self.seen.append(gc.get_threshold())
        return TrackResult(201, {"message": "success"})


def test_the_young_generation_threshold_is_raised_while_sending_and_restored(
    tmp_path: Path,
) -> None:
    before = gc.get_threshold()
    writer = ThresholdWriter()
    with open_state(f"sqlite:///{tmp_path / 's.db'}") as store:
        plan = make_plan(tmp_path, [delta(f"u-{i}", tier="gold") for i in range(200)], state=store)
        options = ApplyOptions(handle_sigint=False, check_binding=False)
        result = asyncio.run(apply_plan(plan, store, writer, options=options))
    assert result.status == "applied"
    assert len(writer.seen) == 3  # 200 users: 75 + 75 + 50
    assert {t[0] for t in writer.seen} == {GC_YOUNG_THRESHOLD}
    assert {t[1:] for t in writer.seen} == {before[1:]}  # the older generations untouched
    assert gc.get_threshold() == before
