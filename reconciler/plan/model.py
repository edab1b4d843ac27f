"""The frozen Plan: what would change, what it costs, and the per-user deltas apply sends.

The plan is data. Renderers and the executor consume the same object, so what is shown is
what runs (SQLMesh's rule). Per-user deltas live in a spool file so that a plan over millions
of users stays in bounded memory; everything else is small and held inline.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson

from reconciler.plan.event_model import NO_EVENTS, EventsPlan
from reconciler.plan.gz import READ_THREADS, WRITE_THREADS, open_gz

FORMAT_VERSION = "1"
OBJECTS_PER_REQUEST = 75  # /users/track, combined across attributes, events and purchases


class UserDelta(NamedTuple):
    """One user object for /users/track, and what to record in the ledger once acknowledged.

    `attributes` is the wire form: a scalar or full array sets, `None` unsets, and
    `{"add": [...], "remove": [...]}` edits an array. `writes` are (attribute, stored value)
    pairs for the ledger (stored value as reconciler.state.values encodes it: canonical JSON,
    or a keyed hash for pii), and `unsets` the attributes whose ledger rows go away.
    """

    id_kind: str
    user_id: str
    attributes: Mapping[str, Any]
    writes: Sequence[Sequence[str]]  # [attribute, stored value] pairs
    unsets: Sequence[str]
    data_points: int

    def wire(self) -> dict[str, Any]:
        """The attributes object exactly as /users/track receives it."""
        return {self.id_kind: self.user_id, **self.attributes}


@dataclass(frozen=True)
class Replace:
    """Cells to resend whatever the ledger says (`plan --replace`, `--replace-user`). Here, not
    beside the diff, so that `apply` of a saved plan names it without importing DuckDB."""

    attributes: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.attributes or self.users)


@dataclass(frozen=True)
class AttributeChange:
    """Per-attribute counts (the JSON plan contract: set, changed, unset)."""

    attribute: str
    set: int = 0
    changed: int = 0
    unset: int = 0
    data_points: int = 0
    pii: bool = False
    reason: str = ""  # e.g. "mapping removed" for a planned delete
    # sent with Braze's `_update_existing_only`: only users Braze already has are updated
    update_existing_only: bool = False


@dataclass(frozen=True)
class ResourceChange:
    """One workspace object (e.g. `ContentBlock.<name>`) and what apply does to it.

    `spec` is the desired spec, exactly what apply sends and records in state (for an orphan,
    the last applied one); `remote_id` is the Braze id known from state; `source` names the
    manifest resource that declares it; `dashboard` says a human must also set something in
    the Braze dashboard (`spec["dashboard"]` says what), which the plan prints once.
    """

    address: str
    action: str  # create | update | delete | no-op | orphan
    detail: str = ""
    spec: Mapping[str, Any] = field(default_factory=dict)
    remote_id: str | None = None
    source: str = ""
    dashboard: bool = False
    before: Mapping[str, Any] = field(default_factory=dict)  # the applied spec, for an update


@dataclass(frozen=True)
class GuardResult:
    name: str
    ok: bool
    value: float
    limit: float | None
    detail: str = ""


@dataclass(frozen=True)
class Sample:
    """A masked example of a change, for review (identifiers masked unless --show-values)."""

    user: str
    attribute: str
    before: str
    after: str


@dataclass(frozen=True)
class Summary:
    users_changed: int
    attribute_updates: int
    events: int
    data_points: int
    requests: int
    full_resend_data_points: int
    estimated_seconds: float
    resources: Mapping[str, int] = field(default_factory=dict)
    # changed cells resent because an interrupted apply (or drift --repair) left them in doubt,
    # and because `plan --replace/--replace-user` chose them: both already in the counts above
    cells_in_doubt: int = 0
    cells_replaced: int = 0


@dataclass(frozen=True)
class Binding:
    """What a saved plan is bound to; apply refuses the plan when any of these moved."""

    lineage: str
    serial: int
    inputs_hash: str  # manifests and every source file they reference


@dataclass(frozen=True)
class DigestFile:
    """The digests a plan leaves for the next one (plan/digests.py; Parquet: k, u, x, vals)."""

    path: Path
    fingerprint: str
    rows: int


@dataclass(frozen=True)
class Plan:
    plan_id: str
    workspace: str
    created_at: str
    binding: Binding
    summary: Summary
    attribute_changes: tuple[AttributeChange, ...]
    resource_changes: tuple[ResourceChange, ...]
    guards: tuple[GuardResult, ...]
    samples: tuple[Sample, ...]
    deltas_path: Path  # gzip JSONL spool of UserDelta rows, in send order
    events: EventsPlan = NO_EVENTS  # due events (their own spool), counts and refusals
    # the last `drift` run recorded in state (checked_at, result, users_checked, …), if any:
    # "no changes" is only ever "no changes against state", and this says what Braze looked like
    last_drift: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()  # about the workspace itself (e.g. braze_id-keyed sources)
    endpoint: str = ""  # the Braze REST endpoint apply would write to
    mask_key: str = ""  # keys the tags that keep masked identifiers distinct (masking.py)
    # what this plan saw, per user, for the next plan once it is applied (plan/digests.py)
    digests: DigestFile | None = None
    # lines in the deltas spool, when its writer counted them (saving need not read it twice)
    deltas_lines: int | None = field(default=None, compare=False)
    # lines before the deltas in `deltas_path` (a loaded plan reads its deltas out of its own
    # verified copy of the saved file, after the header and up to `deltas_lines`)
    deltas_skip: int = field(default=0, compare=False)

    @property
    def has_changes(self) -> bool:
        return (
            self.summary.users_changed > 0
            or self.events.due > 0
            or any(r.action not in ("no-op", "orphan") for r in self.resource_changes)
        )

    @property
    def guards_ok(self) -> bool:
        return all(g.ok for g in self.guards)

    def deltas(self) -> Iterator[UserDelta]:
        """Stream every user delta in send order (bounded memory)."""
        count = (self.deltas_lines or 0) if self.deltas_skip else None
        return read_deltas(self.deltas_path, self.deltas_skip, count)


def _loads(line: bytes) -> Any:
    """orjson where it can (several times faster: an apply parses every delta); the standard
    parser for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def section(lines: IO[bytes], skip: int = 0, count: int | None = None) -> Iterator[bytes]:
    """The `count` lines (None: all) after the first `skip` lines of an open file."""
    for _ in range(skip):
        lines.readline()
    return iter(lines) if count is None else itertools.islice(lines, count)


def read_deltas(path: Path, skip: int = 0, count: int | None = None) -> Iterator[UserDelta]:
    """The UserDelta rows of a delta spool, in order (decompressed ahead on a thread); with
    `skip`, the `count` rows after that many other lines."""
    with open_gz(path, "rb", threads=READ_THREADS) as fh:
        for line in section(fh, skip, count):
            # the pairs stay the lists the parser made: converting them costs a Python object
            # per cell, and an apply reads twenty million cells per million users
            yield UserDelta(*_loads(line))


class DeltaSpool:
    """Writes UserDelta rows to the gzip JSONL spool a Plan reads back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open_gz(path, "wb", threads=WRITE_THREADS)  # compressed beside the diff
        self.count = 0

    def add(self, delta: UserDelta) -> None:
        row = [
            delta.id_kind,
            delta.user_id,
            delta.attributes,
            delta.writes,
            delta.unsets,
            delta.data_points,
        ]
        line = json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n"
        self._fh.write(line.encode("utf-8"))
        self.count += 1

    def add_block(self, block: Any, lines: int) -> None:
        """`lines` deltas already encoded as UTF-8 spool lines, each ending in a newline (the
        planner builds them in SQL and hands them over a buffer at a time)."""
        self._fh.write(block)
        self.count += lines

    def close(self) -> None:
        self._fh.close()
