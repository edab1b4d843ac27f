"""Fuzzing through the CLI: malformed manifests and data rows end in a located error, exit 1.

Every example runs `reconciler validate` or `reconciler plan` in-process (click's CliRunner, so
the one top-level handler `run()` is exercised) on a copy of manifests/ with one to three
mutations. A traceback or "internal error" (exit 3) fails the test, and so does an example that
takes longer than `HANG_SECONDS`. Mutations built to be invalid must exit 1; the ones that may
happen to produce a valid workspace (a retyped scalar that still fits) may also exit 0.

`make test` runs the fast profile (60 examples per test); `HYPOTHESIS_PROFILE=slow` runs 10,000
per test (the command is in SECURITY.md).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.cli import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "manifests"
MANIFEST_FILES = sorted(p.name for p in EXAMPLE.glob("*.yaml"))
AMPERITY_CSV = "data/amperity/braze_customer_attributes.csv"
ROKT_JSONL = "data/rokt_calendar/subscribers.jsonl"
HANG_SECONDS = 30
# path:line:col: message — a manifest (yaml) or a source file (csv/jsonl)
LOCATED = re.compile(r"^\S[^\n]*\.(ya?ml|csv|jsonl):\d+:\d+: \S", re.MULTILINE)
FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass(frozen=True)
class Mutation:
    """One edit to the workspace copy; `must_fail` when it can never leave it valid."""

    path: str
    kind: str
    must_fail: bool
    text: str | None = None  # the file's new text
    data: bytes | None = None  # or its new bytes (invalid UTF-8 and the like)

    def apply(self, root: Path) -> None:
        target = root / self.path
        if self.data is not None:
            target.write_bytes(self.data)
        else:
            assert self.text is not None
            target.write_text(self.text, encoding="utf-8", errors="surrogatepass")


@contextmanager
def _no_hang(seconds: int) -> Iterator[None]:
    def _alarm(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"an example ran longer than {seconds}s: a hang")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _run(command: str, mutations: list[Mutation]) -> None:
    """Apply the mutations to a fresh copy, run the command, check how it ended."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "manifests"
        shutil.copytree(EXAMPLE, root)
        for mutation in mutations:
            mutation.apply(root)
        args = [command, "--manifests", str(root)]
        if command == "plan":
            args += ["--state", f"sqlite:///{tmp}/state.db"]
        with _no_hang(HANG_SECONDS):
            result = CliRunner().invoke(cli, args, catch_exceptions=False)
    output = result.output
    assert "Traceback" not in output and "internal error" not in output, output
    assert result.exit_code in (0, 1), (result.exit_code, output)
    must_fail = any(m.must_fail for m in mutations)
    event(f"{command}: exit {result.exit_code}{' (built invalid)' if must_fail else ''}")
    if must_fail:
        assert result.exit_code == 1, [m.kind for m in mutations]
    if result.exit_code == 1:
        assert LOCATED.search(output), output


# --- manifests: YAML syntax ------------------------------------------------------------------

GARBAGE = ["[", "{", "]", "}", "'", '"', "&a", "*nope", "\t", "%YAML 9", "!!python/object", "? "]


BLOCK_SCALAR = re.compile(r":\s*[|>][-+]?\s*$")


def _structural_lines(lines: list[str]) -> set[int]:
    """Indexes of lines that are YAML structure, not the text of a `|` or `>` block scalar."""
    found: set[int] = set()
    block_indent: int | None = None
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is not None and (not line.strip() or indent > block_indent):
            continue
        block_indent = None
        if line.strip() and not line.lstrip().startswith("#"):
            found.add(i)
            if BLOCK_SCALAR.search(line):
                block_indent = indent
    return found


@st.composite
def yaml_syntax_errors(draw: st.DrawFn) -> Mutation:
    """A manifest whose YAML no longer parses: an unclosed bracket or quote, a tab, an alias."""
    name = draw(st.sampled_from(MANIFEST_FILES))
    lines = (EXAMPLE / name).read_text(encoding="utf-8").splitlines()
    index = draw(st.integers(0, len(lines) - 1))
    kind = draw(st.sampled_from(["unclosed", "tab", "alias", "garble", "binary"]))
    line = lines[index]
    # a structural line with no comment: a block scalar's text or a comment would swallow it
    plain = index in _structural_lines(lines) and "#" not in line
    # after a plain scalar, `[`, `"` and `*x` are just more text; after `key:` or a flow
    # collection or a quoted scalar they cannot be
    value = line.split(": ", 1)[1].strip() if ": " in line else ""
    closed = line.rstrip().endswith(":") or value[:1] in ("{", "[", '"', "'")
    if kind == "unclosed":
        lines[index] = line + draw(st.sampled_from([" [", " {", ' "', " '"]))
        must_fail = plain and closed
    elif kind == "tab":
        lines[index] = "\t" + line
        must_fail = plain
    elif kind == "alias":
        lines[index] = line + " *undefined_alias"
        must_fail = plain and closed
    elif kind == "garble":
        cut = draw(st.integers(0, len(line)))
        lines[index] = line[:cut] + draw(st.sampled_from(GARBAGE)) + line[cut:]
        must_fail = False  # some garbage lands in a comment or a string
    else:
        raw = (EXAMPLE / name).read_bytes()
        at = draw(st.integers(0, len(raw)))
        blob = draw(st.sampled_from([b"\xff\xfe", b"\x00", b"\xc3\x28", b"\x80abc"]))
        return Mutation(name, "yaml:binary", must_fail=True, data=raw[:at] + blob + raw[at:])
    return Mutation(name, f"yaml:{kind}", must_fail, text="\n".join(lines) + "\n")


# --- manifests: schema level -----------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _paths(child, (*prefix, i))


def _wrong_type(value: Any) -> Any:
    """A value of another shape: a mapping for a scalar or list, a list for a mapping."""
    if isinstance(value, dict):
        return ["not", "a", "mapping"]
    return {"not_a": "scalar_or_list"}


@st.composite
def schema_errors(draw: st.DrawFn) -> Mutation:
    """A manifest that parses but breaks its kind's schema (or, for `retype`, may not)."""
    name = draw(st.sampled_from(MANIFEST_FILES))
    docs = [d for d in yaml.safe_load_all((EXAMPLE / name).read_text(encoding="utf-8")) if d]
    doc = docs[draw(st.integers(0, len(docs) - 1))]
    paths = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(paths))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    kind = draw(st.sampled_from(["unknown_field", "wrong_shape", "drop", "retype", "bad_kind"]))
    must_fail = True
    if kind == "unknown_field":
        # the document, its metadata or its spec: strict everywhere (deeper mappings such as
        # `columns`, `headers` or `preview.connected_content` are free-form by design)
        strict = [d for d in (doc, doc.get("metadata"), doc.get("spec")) if isinstance(d, dict)]
        target = draw(st.sampled_from(strict))
        target["zz_unknown_" + draw(st.text("abc", min_size=1, max_size=4))] = draw(values)
    elif kind == "wrong_shape":
        parent[last] = _wrong_type(parent[last])
        # a field of the document, its metadata or its spec has one shape; deeper values may
        # sit in free-form mappings (`preview.connected_content` takes any JSON)
        must_fail = len(path) <= 2
    elif kind == "drop":
        parent_key = path[-2] if len(path) > 1 else None
        required = {"apiVersion", "kind", "metadata", "spec", "name", "type", "integration"}
        must_fail = isinstance(last, str) and last in required and parent_key != "columns"
        del parent[last]
    elif kind == "retype":
        parent[last] = draw(values)
        must_fail = False  # a new value may well be a valid one
    else:
        doc["kind"] = draw(st.sampled_from(["", "Attributeschema", "Nope", "EventSync", "42"]))
    text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
    return Mutation(name, f"schema:{kind}", must_fail, text=text)


@FUZZ
@given(st.lists(st.one_of(yaml_syntax_errors(), schema_errors()), min_size=1, max_size=3))
def test_malformed_manifests_end_in_a_located_error(mutations: list[Mutation]) -> None:
    _run("validate", _merge(mutations))


def _merge(mutations: list[Mutation]) -> list[Mutation]:
    """Two mutations of one file: keep the last (each was made from the pristine file)."""
    by_path = {m.path: m for m in mutations}
    return list(by_path.values())


# --- data rows: CSV --------------------------------------------------------------------------

suffix = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)

BAD_CELLS: dict[str, st.SearchStrategy[str]] = {
    "loyalty_tier": suffix.map(lambda s: "platinum" + s),
    "is_vip": suffix.map(lambda s: "maybe" + s),
    "first_order_date": st.sampled_from(["2021-13-01", "2021-02-30", "21/02/2021", "soon"]),
    "last_order_at": st.sampled_from(["2026-11-02T25:00:00Z", "yesterday", "2026-11-02T"]),
    "ltv": st.sampled_from(["1.2.3", "$40", "12,50", "e5"]),
    "churn_score": st.sampled_from(["high", "0..5", "1e", "--1"]),
    "order_count": suffix.map(lambda s: "x" + s),
    "favorite_store": suffix.map(lambda s: "S" * 65 + s),
    "birthdate": st.sampled_from(["1984-02-30", "not a date", "1984/07/09x"]),
}


def _csv_rows() -> list[list[str]]:
    with (EXAMPLE / AMPERITY_CSV).open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@st.composite
def csv_errors(draw: st.DrawFn) -> Mutation:
    """The Amperity CSV (on_invalid: fail) with a bad cell, a broken row or broken bytes."""
    rows = _csv_rows()
    header = rows[0]
    row = draw(st.integers(1, len(rows) - 1))
    kind = draw(st.sampled_from(["bad_cell", "bad_cell", "no_id", "short", "long", "bytes"]))
    if kind == "bad_cell":
        column = draw(st.sampled_from(sorted(BAD_CELLS)))
        rows[row][header.index(column)] = draw(BAD_CELLS[column])
        return Mutation(AMPERITY_CSV, f"csv:{column}", must_fail=True, text=_csv_text(rows))
    if kind == "no_id":
        rows[row][header.index("external_id")] = ""
        return Mutation(AMPERITY_CSV, "csv:no_id", must_fail=True, text=_csv_text(rows))
    if kind == "short":
        rows[row] = rows[row][: draw(st.integers(1, len(header) - 1))]
        return Mutation(AMPERITY_CSV, "csv:short", must_fail=False, text=_csv_text(rows))
    if kind == "long":
        rows[row] = rows[row] + draw(st.lists(suffix, min_size=1, max_size=3))
        return Mutation(AMPERITY_CSV, "csv:long", must_fail=False, text=_csv_text(rows))
    raw = _csv_text(rows).encode()
    at = draw(st.integers(len(raw) // 2, len(raw)))
    blob = draw(st.sampled_from([b"\xff", b"\xc3\x28", b'"unterminated', b"\x00"]))
    return Mutation(AMPERITY_CSV, "csv:bytes", must_fail=False, data=raw[:at] + blob + raw[at:])


# --- data rows: JSONL ------------------------------------------------------------------------


@st.composite
def jsonl_errors(draw: st.DrawFn) -> Mutation:
    """The Rokt subscribers JSONL with a broken line, a non-object or a wrongly typed value."""
    lines = (EXAMPLE / ROKT_JSONL).read_text(encoding="utf-8").splitlines()
    index = draw(st.integers(0, len(lines) - 1))
    kind = draw(st.sampled_from(["truncated", "not_object", "no_id", "wrong_type"]))
    row = json.loads(lines[index])
    if kind == "truncated":
        lines[index] = lines[index][: draw(st.integers(1, len(lines[index]) - 2))]
        must_fail = True
    elif kind == "not_object":
        lines[index] = json.dumps(draw(st.one_of(st.lists(scalars, max_size=3), scalars)))
        must_fail = True
    elif kind == "no_id":
        row.pop("external_id")
        lines[index] = json.dumps(row)
        must_fail = True
    else:
        key = draw(st.sampled_from(sorted(k for k in row if k != "external_id")))
        row[key] = draw(st.one_of(st.dictionaries(st.text(max_size=4), scalars, max_size=2)))
        lines[index] = json.dumps(row)
        must_fail = True
    return Mutation(ROKT_JSONL, f"jsonl:{kind}", must_fail, text="\n".join(lines) + "\n")


@FUZZ
@given(st.lists(st.one_of(csv_errors(), jsonl_errors()), min_size=1, max_size=2))
def test_malformed_data_rows_end_in_a_located_error(mutations: list[Mutation]) -> None:
    _run("plan", _merge(mutations))


def test_a_byte_that_is_not_utf8_is_located_by_line_and_column() -> None:
    """Found by the fuzzer: the CSV header read reported the decoder's chunk offset, unlocated."""
    raw = (EXAMPLE / AMPERITY_CSV).read_bytes()
    line = raw.splitlines()[3]
    at = raw.index(line) + 12
    broken = Mutation(AMPERITY_CSV, "csv:bytes", True, data=raw[:at] + b"\xff" + raw[at:])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "manifests"
        shutil.copytree(EXAMPLE, root)
        broken.apply(root)
        state = f"sqlite:///{tmp}/state.db"
        result = CliRunner().invoke(cli, ["plan", "--manifests", str(root), "--state", state])
    assert result.exit_code == 1
    assert f"{AMPERITY_CSV}:4:13: not UTF-8: byte 0xff cannot start a character here" in (
        result.output
    )
