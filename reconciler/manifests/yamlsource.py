"""Read YAML files with ruamel round-trip into plain data plus a line/column for every node."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from reconciler.errors import Diagnostic, Location

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Positions:
    """1-based (line, col) of each key and each value in one document, by data path."""

    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def key(self, path: PathKey) -> tuple[int, int]:
        """Where the key at `path` is written, else its nearest ancestor's."""
        return self._nearest(self.keys, path)

    def value(self, path: PathKey) -> tuple[int, int]:
        """Where the value at `path` starts, else its key's, else an ancestor's."""
        if path in self.values:
            return self.values[path]
        return self._nearest(self.keys, path)

    def _nearest(self, table: dict[PathKey, tuple[int, int]], path: PathKey) -> tuple[int, int]:
        for n in range(len(path), -1, -1):
            if path[:n] in table:
                return table[path[:n]]
            if path[:n] in self.values:
                return self.values[path[:n]]
        return (1, 1)


@dataclass(frozen=True)
class RawDocument:
    """One YAML document: its file, its index in the file, plain data and positions."""

    path: Path
    display_path: str
    index: int
    data: Any
    positions: Positions

    def location(self, path: PathKey = (), *, key: bool = False) -> Location:
        line, col = self.positions.key(path) if key else self.positions.value(path)
        return Location(self.display_path, line, col)


def _plain(node: Any, path: PathKey, pos: Positions) -> Any:
    """Convert ruamel's round-trip node tree to plain Python, recording positions."""
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for k, v in node.items():
            key = str(k)
            child = (*path, key)
            try:
                kl, kc = node.lc.key(k)
                pos.keys[child] = (kl + 1, kc + 1)
                vl, vc = node.lc.value(k)
                pos.values[child] = (vl + 1, vc + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            out[key] = _plain(v, child, pos)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, v in enumerate(node):
            child = (*path, i)
            try:
                il, ic = node.lc.item(i)
                pos.values[child] = (il + 1, ic + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            items.append(_plain(v, child, pos))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, dt.datetime | dt.date):
        return node.isoformat()
    return str(node)


def _opens(err: MarkedYAMLError) -> bool:
    """An unclosed quote (or flow collection): reported where it opened, not where the scanner
    gave up (the next `---` or the end of the file)."""
    context = err.context or ""
    return err.context_mark is not None and (
        context.startswith(("while scanning a quoted scalar", "while parsing a flow"))
    )


def _mark_location(display: str, err: MarkedYAMLError) -> Location:
    mark = err.context_mark if _opens(err) else (err.problem_mark or err.context_mark)
    if mark is None:
        return Location(display, 1, 1)
    return Location(display, mark.line + 1, mark.column + 1)


def _yaml_message(err: MarkedYAMLError) -> str:
    problem = (err.problem or "").strip()
    context = (err.context or "").strip()
    if "duplicate key" in problem or "duplicate key" in context:
        text = f"{context} {problem}".strip()
        return "duplicate key: " + text.split("duplicate key", 1)[1].strip(" :")
    if _opens(err) and err.problem_mark is not None:
        what = "quote" if "quoted scalar" in context else context.removeprefix("while parsing a ")
        return (
            f"YAML syntax error: unclosed {what} opened here ({problem} at line "
            f"{err.problem_mark.line + 1})"
        )
    parts = [p for p in (context, problem) if p]
    return "YAML syntax error: " + ("; ".join(parts) if parts else str(err).splitlines()[0])


def load_yaml_file(path: Path, display: str) -> tuple[list[RawDocument], list[Diagnostic]]:
    """Every document of one file, or located diagnostics for what could not be read.

    A file that does not load whole is read again document by document (split at its `---`
    lines), so that one document's syntax error or duplicate key does not hide the problems
    of the documents after it."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        return [], [Diagnostic(Location(display, 1, 1), f"not UTF-8 text: {e.reason}")]
    except OSError as e:
        return [], [Diagnostic(Location(display), f"cannot read file: {e.strerror}")]
    docs, diags = _load_text(text, path, display, 0, 0, whole=True)
    if not diags:
        return docs, diags
    chunks = _document_chunks(text)
    if len(chunks) <= 1:
        return docs, diags
    docs, diags = [], []
    for offset, chunk in chunks:
        found, problems = _load_text(chunk, path, display, offset, len(docs), whole=False)
        docs.extend(found)
        diags.extend(problems)
    return docs, diags


_SEPARATOR = re.compile(r"^---(?:[ \t#]|$)")


def _document_chunks(text: str) -> list[tuple[int, str]]:
    """(lines before it, text) of each part of `text` that starts at a `---` line."""
    lines = text.splitlines(keepends=True)
    starts = [0] + [i for i, line in enumerate(lines) if i and _SEPARATOR.match(line)]
    bounds = [*starts, len(lines)]
    return [(a, "".join(lines[a:b])) for a, b in zip(bounds, bounds[1:], strict=False)]


def _load_text(
    text: str, path: Path, display: str, offset: int, first_index: int, *, whole: bool
) -> tuple[list[RawDocument], list[Diagnostic]]:
    """The documents of `text`, which starts after `offset` lines of the file."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    docs: list[RawDocument] = []
    diags: list[Diagnostic] = []
    try:
        for index, node in enumerate(yaml.load_all(text), start=first_index):
            if node is None:
                continue
            pos = Positions()
            lc = getattr(node, "lc", None)
            if lc is not None and lc.line is not None:
                pos.values[()] = (lc.line + 1, (lc.col or 0) + 1)
            data = _plain(node, (), pos)
            if () not in pos.values:
                pos.values[()] = (1, 1)
            for where in (pos.keys, pos.values) if offset else ():
                for k, (line, col) in list(where.items()):
                    where[k] = (line + offset, col)
            docs.append(RawDocument(path, display, index, data, pos))
    except MarkedYAMLError as e:
        at = _mark_location(display, e)
        diags.append(
            Diagnostic(
                Location(at.path, at.line + offset, at.col) if at.line else at,
                _yaml_message(e),
                hint="later documents in this file were not read" if whole else "",
            )
        )
    except (YAMLError, ValueError, TypeError, IndexError, RecursionError) as e:
        # ruamel's constructors raise plain errors on scalars that look like a number or a
        # date but are not one (`-_`, `0x_`, `2026-02-30`): find the scalar, so the error is
        # located like any other
        bad = _unreadable_scalar(text)
        if bad is not None:
            (line, col), value = bad
            diags.append(
                Diagnostic(
                    Location(display, line + offset, col),
                    f"YAML error: {value!r} looks like a number or a date but is not one",
                    hint=f"quote it to keep it as text: '{value}'",
                )
            )
        else:
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            diags.append(Diagnostic(Location(display, 1 + offset, 1), f"YAML error: {message}"))
    return docs, diags


def _unreadable_scalar(text: str) -> tuple[tuple[int, int], str] | None:
    """The first scalar of `text` that YAML parses but cannot construct, with its place."""
    yaml = YAML(typ="rt")
    try:
        pending = [doc for doc in yaml.compose_all(text) if doc is not None]
        while pending:
            node = pending.pop(0)
            if isinstance(node, ScalarNode):
                try:
                    yaml.constructor.construct_object(node, deep=True)
                except (YAMLError, ValueError, TypeError, IndexError):
                    mark = node.start_mark
                    return (mark.line + 1, mark.column + 1), str(node.value)
            elif isinstance(node, MappingNode):
                pending[:0] = [part for pair in node.value for part in pair]
            elif isinstance(node, SequenceNode):
                pending[:0] = list(node.value)
    except (YAMLError, ValueError, TypeError, IndexError, RecursionError):
        return None
    return None
