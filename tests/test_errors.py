"""The one top-level handler maps user errors to 1, bugs to 3 and Ctrl-C to 130."""

from __future__ import annotations

import pytest

from reconciler.cli import run
from reconciler.errors import EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, StalePlanError


def _raise(exc: BaseException) -> int:
    raise exc


def test_user_error_exits_1_with_message_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(False, lambda: _raise(StalePlanError("plan is stale", hint="re-run plan")))
    assert code == EXIT_ERROR
    assert capsys.readouterr().err == "error: plan is stale\n  hint: re-run plan\n"


def test_bug_exits_3_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(False, lambda: _raise(RuntimeError("boom")))
    err = capsys.readouterr().err
    assert code == EXIT_BUG
    assert "internal error: RuntimeError: boom" in err
    assert "Traceback" not in err


def test_bug_shows_traceback_with_debug(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(True, lambda: _raise(RuntimeError("boom"))) == EXIT_BUG
    assert "Traceback" in capsys.readouterr().err


def test_interrupt_exits_130() -> None:
    assert run(False, lambda: _raise(KeyboardInterrupt())) == EXIT_INTERRUPTED
