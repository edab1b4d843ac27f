"""An apply big enough to be compacted folds the log ahead while it sends (state/prefold.py),
and the compaction after it takes the prefold's parts: the ledger is what Braze acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from apply.support import delta, make_plan

from reconciler.apply import executor
from reconciler.apply.executor import ApplyOptions, apply_plan
from reconciler.apply.protocol import TrackResult
from reconciler.state import LedgerRow, columnar, open_state, prefold
from reconciler.state.columnar import LedgerParts


class SlowWriter:
    """Answers every request with 201 after a few milliseconds, as a network would."""

    def __init__(self) -> None:
        self.requests = 0

    async def track(self, payload: Mapping[str, Any]) -> TrackResult:  # noqa: ARG002
        self.requests += 1
        await asyncio.sleep(0.005)
        return TrackResult(201, {"message": "success"})


@pytest.mark.parametrize("users", [600, 60])
def test_a_big_apply_folds_its_log_while_sending_and_the_ledger_is_what_was_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, users: int
) -> None:
    # thresholds scaled down: a part of 150 cells, compaction past 100
    monkeypatch.setattr(executor, "COMPACT_MIN_CELLS", 100)
    monkeypatch.setattr(executor, "PREFOLD_CELLS", 150)
    monkeypatch.setattr(prefold, "PREFOLD_CELLS", 150)
    monkeypatch.setattr(prefold, "POLL_SECONDS", 0.001)
    registered: list[LedgerParts] = []
    register = columnar.register_stored

    def spy(con, parts, prefix=""):  # type: ignore[no-untyped-def]
        registered.append(parts)
        return register(con, parts, prefix)

    monkeypatch.setattr(columnar, "register_stored", spy)
    started: list[prefold.LogPrefold] = []
    start = prefold.LogPrefold.start

    def noted(self: prefold.LogPrefold) -> prefold.LogPrefold:
        started.append(self)
        return start(self)

    monkeypatch.setattr(prefold.LogPrefold, "start", noted)
    deltas = [delta(f"u-{i:04}", tier="gold", score=i) for i in range(users)]
    with open_state(f"sqlite:///{tmp_path / 's.db'}") as store:
        plan = make_plan(tmp_path, deltas, state=store)
        options = ApplyOptions(handle_sigint=False, check_binding=False)
        result = asyncio.run(apply_plan(plan, store, SlowWriter(), options=options))
        assert result.status == "applied"
        assert result.compacted == 2 * users and store.log_cells() == 0
        held = [r for batch in store.iter_ledger() for r in batch]
    expected = [
        LedgerRow(f"u-{i:04}", a, v)
        for i in range(users)
        for a, v in (("score", str(i)), ("tier", '"gold"'))
    ]
    assert sorted(held) == sorted(expected)
    if users == 600:  # 1,200 cells: folded ahead, in parts, and the parts were used
        assert len(started) == 1 and not started[0].workdir.exists()  # closed after
        used = [p.prefolded for p in registered if p.prefolded is not None]
        assert len(used) == 1 and len(used[0].parts) >= 2
    else:  # 120 cells: compacted, but not worth a prefold
        assert started == []
