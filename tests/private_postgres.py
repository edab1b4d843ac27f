"""A PostgreSQL server of the test's own, for the faults the shared one must not suffer.

A restart of the shared server (127.0.0.1:5432) would break every other test using it, so a
test that restarts PostgreSQL mid-apply gets a throwaway cluster: `initdb` in a temporary
directory, a free loopback port, trust auth, fsync off. The binaries are the ones the shared
server runs (`/usr/lib/postgresql/<version>/bin`). As root, the server runs as `postgres`
(PostgreSQL refuses root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bindir() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if not found:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    def __init__(self, root: Path) -> None:
        self.bindir = _bindir()
        self.data = root / "data"
        self.port = _free_port()
        self.log = root / "server.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def _ctl(self, *args: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
            " -c fsync=off -c synchronous_commit=on -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", *args)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        self._ctl("start")

    def restart(self, down_seconds: float = 0.0) -> None:
        """A fast shutdown (every session ended, as on a failover), `down_seconds` without a
        server, and a start."""
        self._ctl("-m", "fast", "stop")
        time.sleep(down_seconds)
        self.start()

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    root = Path(tempfile.mkdtemp(prefix="pg-private-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = PrivateCluster(root)
    try:
        cluster.init()
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
