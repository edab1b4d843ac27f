"""The one exception tree: user-facing errors carry a location; anything else is a bug.

Exit codes (the table users script against):

    0   success (plan with --detailed-exitcode: no changes; drift: clean)
    1   a user-facing error: invalid manifests, bad data rows, Braze refused, stale plan,
        usage errors, partial apply; plan: a guard tripped (unless --allow-large)
    2   plan --detailed-exitcode: changes present; drift: drift found
    3   a bug in reconciler (traceback only with --debug)
    4   drift: inconclusive (nothing could be compared)
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_BUG = 3
EXIT_INCONCLUSIVE = 4  # `drift`: nothing could be compared, so nothing is known
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, order=True)
class Location:
    """Where a problem is: a file, and a 1-based line and column when known."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.col or 1}"
        return self.path


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One located problem, rendered as `path:line:col: message` plus an optional hint."""

    location: Location
    message: str
    hint: str = field(default="", compare=False)

    def render(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.location.path,
            "line": self.location.line,
            "col": self.location.col,
            "message": self.message,
            "hint": self.hint or None,
        }


class ReconcilerError(Exception):
    """Base of every error meant for a user. Exit code 1; no traceback without --debug."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self, *, color: bool = False) -> str:
        hint = f"\n  {_paint(_CYAN, 'hint:', color)} {self.hint}" if self.hint else ""
        return f"{_paint(_RED, 'error:', color)} {self.message}{hint}"


class UsageError(ReconcilerError):
    """A command line that cannot be acted on."""


class DiagnosticsError(ReconcilerError):
    """Many located problems, all reported at once."""

    noun = "problem"

    def __init__(self, diagnostics: Iterable[Diagnostic], *, summary: str = "") -> None:
        self.diagnostics: Sequence[Diagnostic] = sorted(set(diagnostics))
        n = len(self.diagnostics)
        super().__init__(summary or f"{n} {self.noun}{'' if n == 1 else 's'} found")

    def render(self, *, color: bool = False) -> str:
        """Each problem as `path:line:col: message`, then (for a manifest file) its source
        line with a caret under the offending value, then its hint; the count last."""
        lines = []
        for d in self.diagnostics:
            lines.append(_paint(_BOLD, str(d.location), color) + f": {d.message}")
            lines += _snippet(d.location, color)
            if d.hint:
                lines.append("  " + _paint(_CYAN, "hint:", color) + f" {d.hint}")
        lines.append(_paint(_RED, "error:", color) + f" {self.message}")
        return "\n".join(lines)


_RED, _CYAN, _BOLD, _RESET = "\033[31m", "\033[36m", "\033[1m", "\033[0m"
# the token a caret underlines: a quoted string, or a run up to YAML's flow punctuation
_TOKEN = re.compile(r"""'(?:[^']|'')*'?|"(?:[^"\\]|\\.)*"?|(?:[^\s,\]\}#:]|:(?!\s|$))+""")


def _paint(code: str, text: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def _source_lines(path: str) -> tuple[str, ...]:
    try:
        stat = Path(path).stat()
    except OSError:
        return ()
    return _read_lines(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _read_lines(path: str, _mtime_ns: int, _size: int) -> tuple[str, ...]:
    """Cached per version of the file (an edited file is read again)."""
    try:
        return tuple(Path(path).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def _snippet(loc: Location, color: bool) -> list[str]:
    """The source line and a caret, for manifests only: a data file's row may hold personal
    data, and an error message must never leak it into a CI log."""
    if not loc.line or not loc.path.endswith((".yaml", ".yml")):
        return []
    lines = _source_lines(loc.path)
    if loc.line > len(lines):
        return []
    text = lines[loc.line - 1].rstrip()
    start = min(max(loc.col, 1) - 1, len(text))
    found = _TOKEN.match(text, start)
    width = max(1, len(found.group(0)) if found else 1)
    gutter = str(loc.line)
    caret = _paint(_RED, "^" * width, color)
    return [f" {gutter} | {text}", f" {' ' * len(gutter)} | {' ' * start}{caret}"]


class ManifestError(DiagnosticsError):
    """The manifests do not load or do not validate."""

    noun = "manifest error"


class SourceDataError(DiagnosticsError):
    """Rows of a partner export that cannot be coerced (`file:row:column: reason`)."""

    noun = "bad row"


class StateError(ReconcilerError):
    """The state store cannot be read, written or migrated."""


class LockHeldError(StateError):
    """Another run holds the state lock; the message names the holder."""


class StalePlanError(ReconcilerError):
    """A saved plan no longer matches the state or the manifests it was made from."""


class GuardError(ReconcilerError):
    """A guard tripped and --allow-large was not given."""


class BrazeError(ReconcilerError):
    """Braze (or the sandbox) refused a request. Never carries the API key."""

    def __init__(self, message: str, *, status: int = 0, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status


class BrazeAuthError(BrazeError):
    """401 or 403: the key is unknown, for another instance, or lacks a permission."""


class BrazeRateLimitError(BrazeError):
    """429 (after every retry was spent, when it reaches a user).

    `retry_at` is when the window resets, in epoch seconds, when Braze said so.
    """

    def __init__(
        self, message: str, *, status: int = 429, hint: str = "", retry_at: float | None = None
    ) -> None:
        super().__init__(message, status=status, hint=hint)
        self.retry_at = retry_at


class BrazeUnavailableError(BrazeError):
    """5xx, timeouts and dropped connections after every retry was spent."""


class PartialApplyError(ReconcilerError):
    """Some objects were rejected by Braze; the rest were applied and recorded."""


class SilentDropError(ReconcilerError):
    """`apply --verify`: Braze acknowledged values it did not keep (reference §11 gotcha 1)."""


class ApplyInterruptedError(ReconcilerError):
    """Ctrl-C during apply: in-flight batches were recorded, nothing more was sent (exit 130)."""

    exit_code = EXIT_INTERRUPTED


class MemoryLimitError(ReconcilerError):
    """The work database needed more memory than --memory-limit allows, even when spilling."""
