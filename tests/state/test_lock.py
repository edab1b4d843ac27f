"""The one-writer lock: refusal names the holder, unlock by id, a dead holder is taken over."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from reconciler.errors import LockHeldError, StateError
from reconciler.state import LockInfo, LockRequest, StateStore, locking

WORKER = Path(__file__).with_name("worker.py")


def start_worker(url: str, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), url, mode], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def holder(state_url: str) -> Iterator[subprocess.Popen[str]]:
    proc = start_worker(state_url, "hold")
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def normalise(text: str, pid: int) -> str:
    text = re.sub(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<LOCK-ID>", text
    )
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "<TIME>", text)
    text = re.sub(r"\S+@\S+ \(pid " + str(pid) + r"\)", "<USER>@<HOST> (pid <PID>)", text)
    return re.sub(r"state \S+ is locked", "state <PATH> is locked", text)


def test_a_second_writer_is_refused_with_the_holder_named(
    state: StateStore, holder: subprocess.Popen[str], snapshot: SnapshotAssertion
) -> None:
    with pytest.raises(LockHeldError) as e, state.lock(LockRequest("apply")):
        pass
    held = state.current_lock()
    assert held is not None and held.pid == holder.pid
    assert held.lock_id in e.value.message
    assert f"reconciler state unlock {held.lock_id}" in e.value.hint
    assert normalise(e.value.render(), holder.pid) == snapshot


def test_waiting_for_the_lock_gives_up_after_the_timeout(
    state: StateStore, holder: subprocess.Popen[str]
) -> None:
    with (
        pytest.raises(LockHeldError, match="worker hold"),
        state.lock(LockRequest("apply"), wait_seconds=0.6),
    ):
        pass
    assert holder.poll() is None


def test_unlock_by_id_breaks_a_live_holders_lock(
    state: StateStore, holder: subprocess.Popen[str]
) -> None:
    held = state.current_lock()
    assert held is not None
    with pytest.raises(StateError, match="does not match the current lock"):
        state.force_unlock("not-the-id")
    assert state.force_unlock(held.lock_id) == held
    assert state.current_lock() is None
    assert holder.poll() is None  # breaking a lock does not stop its holder
    with state.lock(LockRequest("apply")) as mine:
        assert mine.replaced is None
    with pytest.raises(StateError, match="is not locked"):
        state.force_unlock(held.lock_id)


def test_the_lock_of_a_killed_holder_is_taken_over(
    state: StateStore, holder: subprocess.Popen[str]
) -> None:
    dead = state.current_lock()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with state.lock(LockRequest("apply")) as mine:
        assert mine.replaced == dead
        assert mine.info.pid == os.getpid()
    assert state.current_lock() is None


def test_one_process_cannot_take_the_lock_twice(state: StateStore) -> None:
    with state.lock(LockRequest("apply")):
        with (
            pytest.raises(StateError, match="already holds the lock"),
            state.lock(LockRequest("apply")),
        ):
            pass
        assert state.current_lock() is not None
    assert state.current_lock() is None


def _info(**changes: object) -> LockInfo:
    base = locking.new_lock(LockRequest("apply"))
    return replace(base, **changes)  # type: ignore[arg-type]


def test_only_a_provably_dead_holder_counts_as_dead() -> None:
    me = _info()
    assert not locking.holder_is_dead(me)
    assert locking.holder_is_dead(replace(me, pid_start="1"))  # the pid was reused since
    assert not locking.holder_is_dead(replace(me, host="another-host", pid=999_999_999))


def test_a_holder_silent_for_long_is_called_possibly_stale() -> None:
    old = _info(heartbeat_at=locking.now() - timedelta(hours=2), host="ci-runner-3")
    message = locking.lock_held_error(old, "state.db").message
    assert "its last heartbeat was 120 minutes ago, it may be stale" in message
    assert "stale" not in locking.lock_held_error(_info(), "state.db").message
