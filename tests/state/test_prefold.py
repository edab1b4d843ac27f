"""Folding the log ahead while an apply sends (state/prefold.py): the compaction that uses the
prefold writes the ledger a compaction of the whole log writes, the prefix never passes a doubt
mark of the apply in progress, and a prefix that no longer stands is set aside."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.state import LedgerRow, LedgerUnset, LockRequest, StateStore, columnar, prefold
from reconciler.state.columnar import LedgerParts


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[LedgerParts]]:
    """Every LedgerParts a compaction registers; the prefold's thread never wakes on its own
    (each test steps it by hand), and a part is 10 cells."""
    found: list[LedgerParts] = []
    register = columnar.register_stored

    def spy(con, parts, prefix=""):  # type: ignore[no-untyped-def]
        found.append(parts)
        return register(con, parts, prefix)

    monkeypatch.setattr(columnar, "register_stored", spy)
    monkeypatch.setattr(prefold, "POLL_SECONDS", 3600.0)
    monkeypatch.setattr(prefold, "PREFOLD_CELLS", 10)
    yield found


def rows(n: int, attribute: str, start: int = 0) -> list[LedgerRow]:
    return [LedgerRow(f"u{i}", attribute, str(i)) for i in range(start, start + n)]


def ledger(state: StateStore) -> list[LedgerRow]:
    return [r for batch in state.iter_ledger() for r in batch]


def earlier_apply(state: StateStore) -> int:
    """An apply before this one: acks, an unset and a mark it left in doubt (its seq)."""
    apply_id = state.begin_apply()
    state.record_batch(apply_id, 0, rows(12, "a"))
    state.record_batch(apply_id, 1, rows(3, "b"), [LedgerUnset("u1", "a")])
    old = state.mark_in_doubt([("external_id", "u2", "b")])
    state.finish_apply(apply_id, "interrupted")
    return old


def test_the_prefolded_compaction_writes_what_the_whole_log_would(
    state: StateStore, seen: list[LedgerParts]
) -> None:
    with state.lock(LockRequest("apply")):
        earlier_apply(state)
        apply_id = state.begin_apply()
        ahead = state.start_prefold()
        try:
            first = state.mark_in_doubt([("external_id", f"u{i}", "c") for i in range(12)])
            state.record_batch(apply_id, 0, rows(12, "c"), clear_doubt=first)
            # a batch whose answer never came: its mark stays, and the prefix stops before it
            lost = state.mark_in_doubt([("external_id", f"u{i}", "d") for i in range(12, 14)])
            later = state.mark_in_doubt([("external_id", f"u{i}", "d") for i in range(14, 40)])
            state.record_batch(apply_id, 2, rows(26, "d", 14), clear_doubt=later)
            steps = 0
            while ahead.step():  # parts of 10 cells or more, up to the lost batch's mark
                steps += 1
            assert steps == 2 and ahead._done < lost  # noqa: SLF001
            state.finish_apply(apply_id, "partial")
            before, doubt, cells = ledger(state), state.cells_in_doubt(), state.log_cells()
            assert doubt == 3 and cells == 17 + 12 + 2 + 26
            assert state.compact_ledger(prefold=ahead) == cells
        finally:
            ahead.close()
        used = [(p.prefolded, p.log) for p in seen if p.prefolded is not None]
        assert len(used) == 1 and used[0][1].max_seq > used[0][0].upto_seq  # and the rest
        assert ledger(state) == before and state.cells_in_doubt() == doubt
        assert state.log_cells() == 0


def test_a_prefix_that_changed_behind_the_prefold_is_set_aside(
    state: StateStore, seen: list[LedgerParts]
) -> None:
    with state.lock(LockRequest("apply")):
        old = earlier_apply(state)
        apply_id = state.begin_apply()
        ahead = state.start_prefold()
        try:
            state.record_batch(apply_id, 0, rows(12, "c"))
            while ahead.step():
                pass
            assert ahead._done > old  # noqa: SLF001 - the earlier mark was folded ahead
            # ... and is then deleted (nothing in reconciler does so under an apply's lock:
            # the check is what keeps that true)
            state.clear_doubt(old)
            state.finish_apply(apply_id, "applied")
            before = ledger(state)
            assert state.cells_in_doubt() == 0
            reads = len(seen)
            assert state.compact_ledger(prefold=ahead) > 0
        finally:
            ahead.close()
        assert [p.prefolded for p in seen[reads:]] == [None]  # the whole log was read instead
        assert ledger(state) == before and state.cells_in_doubt() == 0
