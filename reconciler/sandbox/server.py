"""`reconciler sandbox`: bind, print the base URL first, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import uvicorn

from reconciler.errors import EXIT_OK, UsageError
from reconciler.sandbox.app import create_app
from reconciler.sandbox.auth import KeyRing, KeysFileError, default_keyring, load_keyring
from reconciler.sandbox.config import BRAZE_TRACK_LIMIT, SandboxConfig
from reconciler.sandbox.faults import parse_schedule
from reconciler.sandbox.runtime import build_runtime
from reconciler.sandbox.workspaces import Workspaces


@dataclass(frozen=True)
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 0
    keys_file: Path | None = None
    db_file: Path | None = None
    rate_limit: int | None = None
    fail_rate: float = 0.0
    latency_ms: int = 0
    consistency_delay_ms: int = 0
    fail_schedule: str | None = None  # "3,7:drop,9:502@after"
    seed: int | None = None


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal after a graceful stop; we exit 0 instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def serve(options: SandboxOptions, out: TextIO) -> int:
    """Serve until stopped. The first stdout line is the base URL, then the key and workspace."""
    keyring = _keyring(options.keys_file)
    try:
        config = SandboxConfig(
            rate_limit=options.rate_limit or BRAZE_TRACK_LIMIT,
            fail_rate=options.fail_rate,
            latency_ms=options.latency_ms,
            consistency_delay_ms=options.consistency_delay_ms,
            seed=options.seed,
        )
        config.validate()
        schedule = parse_schedule(options.fail_schedule or [])
    except ValueError as e:
        raise UsageError(str(e)) from e
    sock = _bind(options.host, options.port)
    app = create_app(build_runtime(config, keyring, Workspaces(options.db_file), schedule))
    _announce(out, _base_url(options.host, sock.getsockname()[1]), keyring, options.db_file)
    server = _Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=3,
        )
    )
    server.run(sockets=[sock])
    return EXIT_OK


def _keyring(keys_file: Path | None) -> KeyRing:
    if keys_file is None:
        return default_keyring()
    try:
        return load_keyring(keys_file)
    except KeysFileError as e:
        raise UsageError(str(e)) from e


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from e
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _announce(out: TextIO, url: str, keyring: KeyRing, db_file: Path | None) -> None:
    lines: list[Any] = [url]
    if keyring.source == "default":
        key = keyring.first()
        lines += [f"key: {key.label()}", f"workspace: {key.workspace}"]
    else:
        lines += [
            f"keys: {len(keyring.keys)} from {keyring.source}",
            f"workspaces: {', '.join(keyring.workspaces())}",
        ]
    lines.append(f"db: {db_file}" if db_file else "db: in memory")
    out.write("\n".join(str(x) for x in lines) + "\n")
    out.flush()
