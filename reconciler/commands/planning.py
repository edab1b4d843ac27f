"""`plan`: load manifests and sources, read state, build the frozen Plan."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import MemoryLimitError, UsageError
from reconciler.manifests import Manifests, load_workspace
from reconciler.manifests.kinds.audience_mapping import Members
from reconciler.manifests.kinds.common import SourceFile
from reconciler.manifests.loader import manifest_files
from reconciler.plan.model import Plan
from reconciler.sources.remote import Options, is_remote, resolve
from reconciler.state import open_state
from reconciler.state.url import default_state_url, parse_sqlite_url, state_name

if TYPE_CHECKING:
    from reconciler.plan.model import Replace


@dataclass(frozen=True)
class Planned:
    manifests: Manifests
    plan: Plan
    inputs: dict[str, str]
    state_url: str


def resolve_state_url(
    manifests_dir: Path, flag: str | None, m: Manifests | None, *, writing: bool = False
) -> str:
    """--state, then RECONCILER_STATE, then the Workspace `state`, then next to the manifests.

    `writing` (plan, apply): in CI, a state that resolves to a local file which does not exist
    is refused (see refuse_fresh_local_state)."""
    if flag:
        return flag
    if os.environ.get("RECONCILER_STATE"):
        return os.environ["RECONCILER_STATE"]
    url = m.workspace.spec.state if m is not None and m.workspace.spec.state else None
    if url and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        # a path inside a spec is relative to the manifests directory, wherever it is run
        # from: relative to the working directory, another directory plans a fresh state
        url = f"sqlite:///{(manifests_dir / url.removeprefix('sqlite:///')).resolve()}"
    url = url or default_state_url(manifests_dir)
    if writing:
        refuse_fresh_local_state(url)
    return url


ALLOW_LOCAL_ENV = "RECONCILER_ALLOW_LOCAL_STATE"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def refuse_fresh_local_state(url: str) -> None:
    """No silent local state in CI: a runner's fresh SQLite file would plan a full resend and
    forget which events were sent. Only a state nobody configured is refused: an explicit
    --state or RECONCILER_STATE, or RECONCILER_ALLOW_LOCAL_STATE=1, goes ahead."""
    if not in_ci() or os.environ.get(ALLOW_LOCAL_ENV, "").strip() in ("1", "true", "yes"):
        return
    if not url.startswith("sqlite:///"):
        return
    path = parse_sqlite_url(url).path
    if path.exists():
        return
    raise UsageError(
        f"refusing to start a fresh local state at {path} in CI: no state is configured, so "
        "this run would plan a full resend of every attribute and forget which events were sent",
        hint="set RECONCILER_STATE (a postgresql:// URL, from a secret), or pass --state; "
        f"{ALLOW_LOCAL_ENV}=1 allows a throwaway local state on purpose",
    )


def input_hashes(m: Manifests) -> dict[str, str]:
    """sha256 of every manifest and every local source file they reference, by relative path;
    for a remote source, each object's identity (ETag, version, size, last-modified) by URL,
    read from the listing without downloading it."""
    paths = {p.relative_to(m.root).as_posix() for p in manifest_files(m.root)}
    sources: list[SourceFile | Members] = [s.spec.source for s in m.attribute_syncs]
    sources += [a.spec.members for a in m.audience_mappings]
    sources += [e.spec.source for e in m.event_streams]
    out: dict[str, str] = {}
    for source in sources:
        if is_remote(source.path):
            options = Options(source.endpoint, source.region, source.pick)
            out |= {o.url: o.identity for o in resolve(source.path, options)}
        else:
            paths.add(source.path)
    for rel in sorted(paths):
        digest = hashlib.sha256()
        with (m.root / rel).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        out[rel] = digest.hexdigest()
    return out


def combined_hash(inputs: dict[str, str]) -> str:
    return hashlib.sha256(
        "".join(f"{k}\0{v}\n" for k, v in sorted(inputs.items())).encode()
    ).hexdigest()


# While a plan reads, the event streams are checked in Python on a thread, and every return of
# the main thread from a DuckDB statement (and of the input hashes from a read) needs the GIL
# back. At Python's default 5 ms switch interval each waited out the checking thread's turn:
# a 1M-user no-op plan with 20,000 events took 3.6-3.8 s, and 3.4 s at 0.2 ms.
GIL_SWITCH_SECONDS = 0.0002


@contextmanager
def gil_handoffs(seconds: float) -> Iterator[None]:
    """Python's thread switch interval set to `seconds` for the block, then restored."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def check_replaced(m: Manifests, replace: Replace) -> None:
    """`--replace ATTRIBUTE` names an attribute the manifests write: a typo (an attribute name
    copied from a drift report, say) resent nothing and said nothing."""
    from reconciler.manifests.documents import suggest

    written = m.written_attributes
    unknown = sorted(replace.attributes - written)
    if unknown:
        raise UsageError(
            f"--replace {unknown[0]}: no AttributeSync or AudienceMapping writes an attribute "
            "of that name, so nothing would be resent",
            hint=suggest(unknown[0], sorted(written))
            or "name an attribute the manifests write (attribute names are case-sensitive)",
        )


def make_plan(
    manifests_dir: Path,
    state_flag: str | None,
    spool_dir: Path,
    *,
    replace: Replace | None = None,
    memory_limit: str | None = None,
) -> Planned:
    # the engine (DuckDB, the planner, the sources) loads here, not with this module: `apply`
    # of a saved plan imports this module for `input_hashes` and never plans
    import duckdb

    from reconciler.plan.build import build_plan, open_ledger
    from reconciler.plan.events import EventsRead
    from reconciler.sources.desired import build_desired, open_workdb
    from reconciler.state.ledger_reads import raise_if_snapshot_damaged

    m = load_workspace(manifests_dir)
    if replace is not None:
        check_replaced(m, replace)
    url = resolve_state_url(manifests_dir, state_flag, m, writing=True)
    con = open_workdb(spool_dir / "work", memory_limit)
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    try:
        with (
            gil_handoffs(GIL_SWITCH_SECONDS),
            open_state(url) as state,
            ThreadPoolExecutor(1, "input-hashes") as hashing,
        ):
            # on threads from here: the ledger's read, the event streams' checks and the
            # inputs' sha256 (hashlib and DuckDB release the GIL), while the sources are read
            ledger = open_ledger(state, con, spool_dir, replace)
            events = EventsRead(m, state, spool_dir)
            try:
                sources = [s.spec.source.path for s in m.attribute_syncs]
                sources += [a.spec.members.path for a in m.audience_mappings]
                # unchanged files need no read (plan/digests.py): stamped before any read,
                # and the sha256 asked for only once `hashed` is running
                ledger.selector.watch(m.root, sources, lambda: hashed.result())
                hashed = hashing.submit(input_hashes, m)
                desired = build_desired(m, con=con, select=ledger.selector)
                inputs = hashed.result()
                plan = build_plan(
                    m,
                    desired,
                    state,
                    inputs_hash=combined_hash(inputs),
                    spool_dir=spool_dir,
                    replace=replace,
                    ledger=ledger,
                    events=events,
                )
            except duckdb.Error as e:
                raise_if_snapshot_damaged(con, ledger.snapshot(), state_name(url), e)
                raise
            finally:
                events.close()
                ledger.close()
    except duckdb.OutOfMemoryException as e:
        raise MemoryLimitError(
            f"planning needed more than the {limit} memory limit, even spilling to disk",
            hint="raise it with `--memory-limit 2GB` (or RECONCILER_MEMORY_LIMIT=2GB)",
        ) from e
    finally:
        con.close()
    return Planned(m, plan, inputs, url)
