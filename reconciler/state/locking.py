"""Who holds the lock, whether that holder is provably dead, and how a refusal reads.

Backend-independent: a backend stores LockInfo rows; this module decides staleness and words
the LockHeldError. A lock is taken over automatically only when its holder is provably dead:
same host, and the pid is gone or now belongs to a process that started at another time (pid
reuse). Anything else (another host, a live pid) is refused with the holder named and the exact
`reconciler state unlock ID` to break it.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import LockHeldError
from reconciler.state.base import LockInfo, LockRequest

# A lock whose heartbeat is older than this is called "possibly stale" in the refusal.
STALE_HINT_AFTER_SECONDS = 15 * 60


def now() -> datetime:
    return datetime.now(UTC)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return f"uid{os.getuid()}"


def process_start(pid: int) -> str:
    """The kernel's start time of a pid (Linux /proc), so a reused pid is not mistaken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 (starttime) counts after the ")" that closes the command name.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def pid_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    if start:
        seen = process_start(pid)
        if seen and seen != start:
            return False  # the pid was reused by another process
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state != ["Z"]


def new_lock(request: LockRequest) -> LockInfo:
    pid = os.getpid()
    t = now()
    return LockInfo(
        lock_id=str(uuid.uuid4()),
        user=current_user(),
        host=socket.gethostname(),
        pid=pid,
        operation=request.operation,
        info=request.info,
        started_at=t,
        heartbeat_at=t,
        pid_start=process_start(pid),
    )


def holder_is_dead(held: LockInfo) -> bool:
    """True only when it is certain: same host and the holding process no longer exists."""
    if held.host != socket.gethostname():
        return False
    return not pid_alive(held.pid, held.pid_start)


def lock_held_error(held: LockInfo, where: str) -> LockHeldError:
    age = (now() - held.heartbeat_at).total_seconds()
    stale = ""
    if age > STALE_HINT_AFTER_SECONDS:
        stale = f"; its last heartbeat was {int(age // 60)} minutes ago, it may be stale"
    what = held.operation + (f" ({held.info})" if held.info else "")
    return LockHeldError(
        f"state {where} is locked by {held.holder} for {what} since "
        f"{held.started_at.isoformat(timespec='seconds')}, lock id {held.lock_id}{stale}",
        hint=f"if that run is gone, break the lock with: reconciler state unlock {held.lock_id}",
    )
