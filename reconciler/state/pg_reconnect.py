"""Riding out a lost PostgreSQL connection: a server restart, a failover, a dropped socket.

A write that fails because the connection went away is not an error of the write: the state
reconnects with exponential backoff (jittered, capped at 5 s) and runs the transaction again,
for up to RECONCILER_STATE_RECONNECT_SECONDS (default 120). One case needs care: the connection
can drop while COMMIT is in flight, so the transaction may or may not have landed. Every write
takes its transaction id first (`txid_current()`), and after reconnecting asks the server
(`txid_status`) which it was: committed means done (and the values the body computed stand),
aborted means run it again. Nothing is written twice, nothing acknowledged is lost.
"""

from __future__ import annotations

import os
import random
import sys
import time

import psycopg

from reconciler.errors import StateError, UsageError

DEFAULT_RECONNECT_SECONDS = 120.0
_FIRST_DELAY = 0.1
_MAX_DELAY = 5.0
# SQLSTATEs of a connection that is gone or not yet back: class 08 (connection exception),
# admin/crash shutdown, the server starting up or shutting down.
_LOST_STATES = frozenset({"57P01", "57P02", "57P03"})


class ConnectionLost(StateError):
    """The state's connection dropped; the write may be retried once it is back."""


def is_lost(e: BaseException, conn: psycopg.Connection | None = None) -> bool:
    """Whether `e` means the connection is gone, rather than that the statement was wrong."""
    if not isinstance(e, psycopg.OperationalError):
        return False
    state = e.sqlstate or ""
    if state.startswith("08") or state in _LOST_STATES:
        return True
    # libpq reports a dead socket without a SQLSTATE; the connection then says it is broken
    return not state and (conn is None or conn.broken or conn.closed)


def reconnect_seconds() -> float:
    raw = os.environ.get("RECONCILER_STATE_RECONNECT_SECONDS", "")
    if not raw.strip():
        return DEFAULT_RECONNECT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise UsageError(
            f"RECONCILER_STATE_RECONNECT_SECONDS={raw!r} is not a number of seconds ≥ 0",
            hint="for example 120; 0 stops at the first lost connection",
        )
    return value


class Outage:
    """One spell without a connection: the deadline, the backoff, one line to the operator."""

    def __init__(self, where: str, cause: BaseException) -> None:
        self.where = where
        self.cause = cause
        self.started = time.monotonic()
        self.budget = reconnect_seconds()
        self._delay = _FIRST_DELAY
        self.attempts = 0
        print(
            f"state: lost the connection to {where} ({_one_line(cause)});"
            f" reconnecting for up to {self.budget:g} s",
            file=sys.stderr,
            flush=True,
        )

    def wait(self, cause: BaseException) -> None:
        """Sleep before the next attempt, or raise once the deadline has passed."""
        self.cause = cause
        elapsed = time.monotonic() - self.started
        if elapsed >= self.budget:
            raise StateError(
                f"lost the connection to state {self.where} and could not get it back within"
                f" {self.budget:g} s: {_one_line(cause)}",
                hint="every batch Braze acknowledged before the outage is recorded; the next"
                " plan resends only the cells still in doubt. Raise"
                " RECONCILER_STATE_RECONNECT_SECONDS to wait longer",
            ) from None
        self.attempts += 1
        pause = min(self._delay, self.budget - elapsed) * random.uniform(0.5, 1.0)  # noqa: S311
        self._delay = min(self._delay * 2, _MAX_DELAY)
        time.sleep(max(pause, 0.0))

    def over(self) -> None:
        print(
            f"state: reconnected to {self.where} after {time.monotonic() - self.started:.1f} s",
            file=sys.stderr,
            flush=True,
        )


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
