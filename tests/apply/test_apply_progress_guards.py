"""Progress rendering (bar on a TTY, lines in CI) and guard enforcement."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from apply.support import delta, make_plan
from syrupy.assertion import SnapshotAssertion

from reconciler.apply import BarProgress, LineProgress, progress_for
from reconciler.apply.guards import enforce_guards
from reconciler.errors import GuardError
from reconciler.plan.model import GuardResult


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def drive(progress: LineProgress | BarProgress) -> None:
    progress.start(300, 4)
    progress.advance(75, 0)
    progress.note("POST http://127.0.0.1:1/users/track failed (503); retry 1 in 0.20 s")
    progress.advance(75, 2)
    progress.advance(75, 0)
    progress.advance(75, 0)
    progress.finish("partial")


def test_plain_lines_for_ci(snapshot: SnapshotAssertion) -> None:
    out = io.StringIO()
    drive(LineProgress(out, every=2.5, clock=Ticks()))
    assert out.getvalue() == snapshot


def test_a_redrawn_bar_on_a_tty(snapshot: SnapshotAssertion) -> None:
    out = io.StringIO()
    drive(BarProgress(out, clock=Ticks()))
    assert "\r\x1b[2K" in out.getvalue() and "█" in out.getvalue()
    assert out.getvalue() == snapshot


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_only_on_a_terminal_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert isinstance(progress_for(FakeTty()), BarProgress)
    assert isinstance(progress_for(io.StringIO()), LineProgress)
    monkeypatch.setenv("CI", "true")
    assert isinstance(progress_for(FakeTty()), LineProgress)


def test_guards_refuse_unless_allowed_and_name_every_tripped_one(tmp_path: Path) -> None:
    guards = (
        GuardResult("max_data_points", False, 2_500_000, 2_000_000),
        GuardResult("max_audience_flip_pct", False, 31.5, 25, "audience vip: 31.5 % flip"),
        GuardResult("consent_fields", True, 0, None),
    )
    plan = make_plan(tmp_path, [delta("u-1", a=1)], guards=guards)
    with pytest.raises(GuardError) as caught:
        enforce_guards(plan, allow_large=False)
    assert caught.value.message == (
        "refusing to apply plan plan-1: 2 guards tripped: max_data_points is 2,500,000"
        " (limit 2,000,000); max_audience_flip_pct is 31.50 (limit 25): audience vip: 31.5 % flip"
    )
    assert "--allow-large" in caught.value.hint
    assert enforce_guards(plan, allow_large=True) == guards[:2]
    ok = make_plan(tmp_path, [delta("u-1", a=1)], guards=guards[2:], plan_id="ok")
    assert enforce_guards(ok, allow_large=False) == ()
