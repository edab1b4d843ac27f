"""Apply progress on stderr: a redrawn bar on a TTY, plain throttled lines elsewhere (CI)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO


class Progress(Protocol):
    """What the executor reports; injected so tests and the CLI choose the rendering."""

    def start(self, total_objects: int, total_requests: int) -> None: ...

    def advance(self, objects: int, rejected: int) -> None:
        """One batch was acknowledged and recorded: `objects` sent, `rejected` of them."""
        ...

    def note(self, text: str) -> None:
        """A retry, a rate-limit wait, an interrupt: one line of text."""
        ...

    def finish(self, status: str) -> None: ...


class NullProgress:
    def start(self, total_objects: int, total_requests: int) -> None:
        pass

    def advance(self, objects: int, rejected: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def finish(self, status: str) -> None:
        pass


class _Counts:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.total_objects = self.total_requests = 0
        self.objects = self.requests = self.rejected = 0
        self.started = clock()

    def start(self, total_objects: int, total_requests: int) -> None:
        self.total_objects, self.total_requests = total_objects, total_requests
        self.started = self.clock()

    def advance(self, objects: int, rejected: int) -> None:
        self.objects += objects
        self.rejected += rejected
        self.requests += 1

    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.objects / elapsed if elapsed > 0 else 0.0

    def status_text(self) -> str:
        rejected = f", {self.rejected:,} rejected" if self.rejected else ""
        return (
            f"{self.objects:,}/{self.total_objects:,} users, "
            f"{self.requests:,}/{self.total_requests:,} requests{rejected}, {self.rate():,.0f}/s"
        )


class LineProgress(_Counts):
    """Plain lines for logs: at most one every `every` seconds, plus start and end."""

    def __init__(
        self, stream: TextIO, every: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(clock)
        self.stream = stream
        self.every = every
        self._last = 0.0

    def start(self, total_objects: int, total_requests: int) -> None:
        super().start(total_objects, total_requests)
        self._last = self.started
        self._line(
            f"applying {total_objects:,} users in about {total_requests:,}"
            + (" request" if total_requests == 1 else " requests")
        )

    def advance(self, objects: int, rejected: int) -> None:
        super().advance(objects, rejected)
        if self.clock() - self._last >= self.every:
            self._last = self.clock()
            self._line(self.status_text())

    def note(self, text: str) -> None:
        self._line(text)

    def finish(self, status: str) -> None:
        self._line(f"{status}: {self.status_text()}")

    def _line(self, text: str) -> None:
        self.stream.write(f"apply: {text}\n")
        self.stream.flush()


class BarProgress(_Counts):
    """A one-line bar redrawn in place at most 10 times a second."""

    WIDTH = 30

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.stream = stream
        self._drawn = 0.0

    def advance(self, objects: int, rejected: int) -> None:
        super().advance(objects, rejected)
        if self.clock() - self._drawn >= 0.1:
            self._draw()

    def note(self, text: str) -> None:
        self.stream.write(f"\r\x1b[2K{text}\n")
        self._draw()

    def finish(self, status: str) -> None:
        self._draw()
        self.stream.write(f"\n{status}\n")
        self.stream.flush()

    def _draw(self) -> None:
        self._drawn = self.clock()
        share = self.objects / self.total_objects if self.total_objects else 1.0
        filled = min(self.WIDTH, int(share * self.WIDTH))
        bar = "█" * filled + "░" * (self.WIDTH - filled)
        self.stream.write(f"\r\x1b[2K{bar} {share:4.0%} {self.status_text()}")
        self.stream.flush()


def progress_for(stream: TextIO | None = None) -> Progress:
    """A bar when `stream` (default stderr) is a terminal and not in CI, lines otherwise."""
    out = stream if stream is not None else sys.stderr
    tty = out.isatty() and os.environ.get("TERM") != "dumb" and not os.environ.get("CI")
    return BarProgress(out) if tty else LineProgress(out)
