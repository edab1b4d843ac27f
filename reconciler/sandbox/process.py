"""Run `reconciler sandbox` as a child process: start it, learn its URL, stop it with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from reconciler.sandbox.auth import DEFAULT_KEY, DEFAULT_WORKSPACE, KEY_ENV


class SandboxStartError(RuntimeError):
    """The child exited or stayed silent instead of printing its URL."""


@dataclass
class SandboxProcess:
    """A running sandbox: `.url`, `.key` (the default one), the banner lines, the process."""

    proc: subprocess.Popen[str]
    url: str
    banner: list[str]
    key: str = DEFAULT_KEY
    workspace: str = DEFAULT_WORKSPACE
    stderr_path: Path | None = None
    _drain: threading.Thread | None = field(default=None, repr=False)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the child and wait; returns its exit code (killed after `timeout`)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path else ""


def start_sandbox(
    *args: str,
    env: dict[str, str] | None = None,
    stderr_path: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 20.0,
) -> SandboxProcess:
    """`python -m reconciler sandbox --port 0 *args`, returned once its URL is printed.

    Without `env`, the child gets this environment minus `$BRAZE_API_KEY`, so its key is
    `sandbox-key`.
    """
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    command = [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", *args]
    err: IO[Any] | int = subprocess.DEVNULL
    if stderr_path is not None:
        err = stderr_path.open("w")
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=cwd
    )
    if stderr_path is not None and not isinstance(err, int):
        err.close()
    assert proc.stdout is not None
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # keeps the pipe drained for the child's whole life
            lines.append(line.rstrip("\n"))
            if len(lines) >= 4:
                ready.set()
        ready.set()

    drain = threading.Thread(target=read, daemon=True)
    drain.start()
    if not ready.wait(timeout) or not lines or not lines[0].startswith("http"):
        proc.kill()
        proc.wait()
        detail = stderr_path.read_text() if stderr_path else ""
        raise SandboxStartError(f"sandbox did not start: {lines!r} {detail}")
    key = env.get(KEY_ENV) or DEFAULT_KEY
    return SandboxProcess(proc, lines[0], lines, key, DEFAULT_WORKSPACE, stderr_path, drain)
