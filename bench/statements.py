"""Run one `reconciler` command in this process and list its slowest DuckDB statements.

    .venv/bin/python bench/statements.py [--top 25] [--profile PREFIX] -- \\
        plan --manifests W/churned --state sqlite:///W/original.db

Every connection the command opens is wrapped, so each `execute`/`sql` is timed with the thread
that ran it; the slowest are printed (to stderr) when the command ends. With `--profile PREFIX`
the first statement starting with PREFIX also runs under DuckDB's JSON profiler, and its
operator tree is printed with each operator's time and rows: where one statement spends.
This is how bench/RESULTS.md's "Where the time goes now" was measured.
"""

from __future__ import annotations

import argparse
import atexit
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb

_connect = duckdb.connect
_timed: list[tuple[float, str, str]] = []
_profile: dict[str, Any] = {"prefix": None, "done": False, "busy": False, "path": None}
_profile_lock = threading.Lock()  # the plan runs statements on several threads at once


class _Timed:
    """A DuckDB connection whose statements are timed (everything else passes through)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        object.__setattr__(self, "_con", con)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._con, name, value)

    def __enter__(self) -> _Timed:
        return self

    def __exit__(self, *exc: object) -> Any:
        return self._con.__exit__(*exc)

    def _run(self, method: str, query: object, *args: Any, **kw: Any) -> Any:
        text = str(query)
        with _profile_lock:  # one statement at a time is profiled, into the one file
            profiled = (
                _profile["prefix"] is not None
                and not _profile["done"]
                and not _profile["busy"]
                and text.startswith(_profile["prefix"])
            )
            _profile["busy"] = _profile["busy"] or profiled
        if profiled:
            Path(_profile["path"]).unlink(missing_ok=True)
            self._con.execute("SET enable_profiling = 'json'")
            self._con.execute(f"SET profiling_output = '{_profile['path']}'")
        started = time.perf_counter()
        try:
            result = getattr(self._con, method)(query, *args, **kw)
        finally:
            took = time.perf_counter() - started
            _timed.append((took, threading.current_thread().name, " ".join(text.split())))
            if profiled:
                self._con.execute("SET enable_profiling = 'no_output'")
                self._con.execute("PRAGMA disable_profiling")
                # done once a profile was written: a statement that failed writes none, and
                # then the next one starting so is profiled instead
                with _profile_lock:
                    _profile["done"] = Path(_profile["path"]).is_file()
                    _profile["busy"] = False
        return self if result is self._con else result

    def execute(self, query: object, *args: Any, **kw: Any) -> Any:
        return self._run("execute", query, *args, **kw)

    def sql(self, query: object, *args: Any, **kw: Any) -> Any:
        return self._run("sql", query, *args, **kw)

    def cursor(self) -> _Timed:
        return _Timed(self._con.cursor())


def _timed_connect(*args: Any, **kw: Any) -> _Timed:
    return _Timed(_connect(*args, **kw))


def operator_lines(node: dict[str, Any], depth: int = 0) -> list[str]:
    """A JSON profile's operator tree, one line per operator: name, seconds, rows."""
    extra = node.get("extra_info", {})
    where = extra.get("Table") or extra.get("Join Type") or ""
    line = (
        f"{'  ' * depth}{node.get('name')} {node.get('timing', 0):.3f} s, "
        f"{node.get('intermediate_rows', 0):,} rows {where}".rstrip()
    )
    out = [line]
    for child in node.get("children", []):
        out += operator_lines(child, depth + 1)
    return out


def _report(top: int, started: float) -> None:
    err = sys.stderr
    print(f"\n{time.perf_counter() - started:.2f} s in all; slowest statements:", file=err)
    for took, thread, text in sorted(_timed, reverse=True)[:top]:
        print(f"{took:8.3f} s  {thread[:14]:14}  {text[:150]}", file=err)
    path = _profile["path"]
    if _profile["done"] and path is not None and Path(path).exists():
        tree = json.loads(Path(path).read_text())
        print(f"\noperators of the statement starting {_profile['prefix']!r}:", file=err)
        for node in tree.get("operator", []):
            print("\n".join(operator_lines(node)), file=err)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--profile", metavar="PREFIX", help="profile the statement starting so")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then reconciler's args")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    _profile["prefix"] = args.profile
    _profile["path"] = str(Path(tempfile.mkdtemp(prefix="bench-profile-")) / "profile.json")
    duckdb.connect = _timed_connect  # type: ignore[assignment]
    atexit.register(_report, args.top, time.perf_counter())
    from reconciler.cli import main as reconciler

    sys.argv = ["reconciler", *command]
    try:
        reconciler()  # exits with the command's own code
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
