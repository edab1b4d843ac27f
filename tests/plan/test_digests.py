"""Row digests (plan/digests.py): a plan that types and diffs only the users whose sources or
ledger moved is, line for line, the plan that reads everything; and it reads only those users.

Every scenario plans twice against the same state, with the digests and with
RECONCILER_DIGESTS=off, and compares the spool, the summary, the changes and the guards.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_workspace
import duckdb
import pytest

from reconciler.commands.planning import make_plan
from reconciler.errors import SourceDataError
from reconciler.plan import digests
from reconciler.plan.model import Plan
from reconciler.plan.planfile import load_plan, save_plan
from reconciler.state import LedgerRow, LedgerUnset, LockRequest, columnar, open_state
from reconciler.state.migrations import MIGRATIONS
from reconciler.state.pg_migrations import PG_MIGRATIONS
from reconciler.state.postgres import PostgresState
from reconciler.state.sqlite import SqliteState

USERS = 300


@dataclass
class Seen:
    """What the selector of the last plan did."""

    hit: bool = False
    clean: int = 0
    dirty_rows: int = 0
    whole: bool = False  # the two sums vouched for everyone: no per-user join
    files_unread: bool = False  # every source file had the kept sha256: none was read


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[Seen]:
    record = Seen()
    original = digests.DigestSelector.__call__

    def spy(self, con, desired, prepared):  # type: ignore[no-untyped-def]
        keep = original(self, con, desired, prepared)
        record.hit, record.clean, record.whole = self.hit, self.clean, self.whole
        record.files_unread = self.files_unread
        record.dirty_rows = sum(
            int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0])
            for t in keep.values()
            if t
        )
        return keep

    monkeypatch.setattr(digests.DigestSelector, "__call__", spy)
    yield record


def generate(root: Path) -> Path:
    return bench_workspace.generate(root, USERS) / "original"


def lines(plan: Plan) -> list[str]:
    """The plan's delta lines (a loaded plan's sit in its copy of the file, after the header)."""
    with gzip.open(plan.deltas_path, "rt", encoding="utf-8") as fh:
        found = fh.readlines()
    if plan.deltas_skip:
        return found[plan.deltas_skip : plan.deltas_skip + (plan.deltas_lines or 0)]
    return found


def plan_both(
    manifests: Path, url: str, spool: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen
) -> tuple[Plan, Seen]:
    """The plan with digests, checked equal to the plan without; and what the selector did."""
    monkeypatch.delenv(digests.ENV, raising=False)
    fast = make_plan(manifests, url, spool / "fast").plan
    picked = Seen(seen.hit, seen.clean, seen.dirty_rows, seen.whole, seen.files_unread)
    monkeypatch.setenv(digests.ENV, "off")
    full = make_plan(manifests, url, spool / "full").plan
    monkeypatch.delenv(digests.ENV)
    assert not seen.hit
    assert lines(fast) == lines(full)
    assert fast.summary == full.summary
    assert fast.attribute_changes == full.attribute_changes
    assert fast.guards == full.guards
    assert fast.samples == full.samples
    assert fast.digests is not None and full.digests is not None
    assert fast.digests.fingerprint == full.digests.fingerprint
    return fast, picked


def stepper(
    manifests: Path, url: str, root: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen
) -> Callable[[], tuple[Plan, Seen]]:
    """`plan_both` again and again, each plan in a spool directory of its own."""
    count = itertools.count(1)
    return lambda: plan_both(manifests, url, root / f"s{next(count)}", monkeypatch, seen)


def acknowledge(url: str, plan: Plan, *, only: int | None = None) -> None:
    """Record the plan as Braze acknowledged it (its first `only` users), as apply does,
    and keep its digests."""
    with open_state(url) as state, state.lock(LockRequest("apply", plan.plan_id)):
        apply_id = state.begin_apply(plan.plan_id)
        for n, d in enumerate(plan.deltas()):
            if only is not None and n >= only:
                break
            state.record_batch(
                apply_id,
                n,
                [LedgerRow(d.user_id, a, v, d.id_kind) for a, v in d.writes],
                [LedgerUnset(d.user_id, a, d.id_kind) for a in d.unsets],
            )
        state.finish_apply(apply_id, "applied" if only is None else "partial")
        assert plan.digests is not None
        state.put_plan_digests(plan.digests.fingerprint, plan.digests.path, plan.digests.rows)


def edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows = change(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, quoting=csv.QUOTE_MINIMAL).writerows(rows)


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_a_plan_reads_only_what_moved_and_equals_the_full_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen, state_url: str
) -> None:
    manifests = generate(tmp_path / "w")
    profile = manifests / "data" / "profile.csv"
    audience = manifests / "data" / "aiq_90001_1.csv"
    url = state_url

    step = stepper(manifests, url, tmp_path, monkeypatch, seen)

    first, picked = step()  # nothing kept yet: everything is read
    assert not picked.hit and first.summary.users_changed == USERS
    acknowledge(url, first)

    plan, picked = step()  # nothing moved: nobody is typed, and two sums said so
    assert picked.hit and picked.clean == USERS and picked.dirty_rows == 0
    assert picked.whole
    assert not lines(plan)
    acknowledge(url, plan)

    # one cell of one user: that user alone is read, in each of its sources
    with profile.open(encoding="utf-8") as fh:
        victim = list(csv.reader(fh))[5][0]
    edit(profile, lambda rows: [r if r[0] != victim else [r[0], "platinum", *r[2:]] for r in rows])
    plan, picked = step()
    assert picked.hit and picked.clean == USERS - 1 and not picked.whole
    assert len(lines(plan)) <= 1
    acknowledge(url, plan)
    plan, picked = step()  # applied: the sums moved with that user's ledger row, as planned
    assert picked.whole and picked.clean == USERS and not lines(plan)

    # a user leaves the audience (on_exit: set_false) and another leaves the profile (keep)
    with audience.open(encoding="utf-8") as fh:
        member = list(csv.reader(fh))[1][0]
    edit(audience, lambda rows: [r for r in rows if r[0] != member])
    edit(profile, lambda rows: rows[:3] + rows[4:])
    plan, picked = step()
    assert picked.hit and picked.clean == USERS - 2 and not picked.whole
    assert plan.summary.users_changed == 1  # the leaver; `keep` leaves the other alone
    acknowledge(url, plan)
    plan, picked = step()
    assert picked.whole and not lines(plan)

    # a cell in doubt: the digest of that user's ledger no longer matches, so it is resent
    with open_state(url) as state, state.lock(LockRequest("drift")):
        state.mark_in_doubt([("external_id", victim, "bench_03_boolean")])
    plan, picked = step()
    assert picked.hit and picked.clean == USERS - 1  # the others were acknowledged
    assert not picked.whole  # the ledger's sum moved with the mark
    assert plan.summary.cells_in_doubt == 1
    # an apply that lands only part of a plan: the rest is read and planned again
    edit(
        profile, lambda rows: [rows[0], *([r[0], "bronze", *r[2:]] for r in rows[1:40])] + rows[40:]
    )
    plan, picked = step()
    changed = plan.summary.users_changed
    assert changed > 10
    acknowledge(url, plan, only=10)
    plan, picked = step()
    assert picked.hit and plan.summary.users_changed == changed - 10
    assert not picked.whole  # the part that did not land moved the ledger's sum


def test_bad_rows_are_found_in_rows_the_digests_vouch_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duplicate of an unchanged row, and a bad cell, are refused exactly as without them."""
    manifests = generate(tmp_path / "w")
    profile = manifests / "data" / "profile.csv"
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = make_plan(manifests, url, tmp_path / "a").plan
    acknowledge(url, first)
    original = profile.read_text(encoding="utf-8")

    def errors(spool: str) -> list[str]:
        with pytest.raises(SourceDataError) as found:
            make_plan(manifests, url, tmp_path / spool)
        return [str(d) for d in found.value.diagnostics]

    edit(profile, lambda rows: [*rows, rows[7]])  # row 7 again, unchanged: a duplicate
    fast = errors("b")
    monkeypatch.setenv(digests.ENV, "off")
    assert errors("c") == fast
    monkeypatch.delenv(digests.ENV)
    assert any("duplicate identifier" in e for e in fast)

    profile.write_text(original, encoding="utf-8")
    edit(profile, lambda rows: [rows[0], rows[1][:2] + ["not a number", *rows[1][3:]], *rows[2:]])
    fast = errors("d")
    monkeypatch.setenv(digests.ENV, "off")
    assert errors("e") == fast
    assert any("line=2, col=3" in e and "not an integer" in e for e in fast), fast
    with pytest.raises(SourceDataError, match=r"^1 bad row in the sources$"):  # one, not "rows"
        make_plan(manifests, url, tmp_path / "f")


def test_another_key_or_manifest_reads_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen
) -> None:
    manifests = generate(tmp_path / "w")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    acknowledge(url, make_plan(manifests, url, tmp_path / "a").plan)
    make_plan(manifests, url, tmp_path / "b")
    assert seen.hit and seen.clean == USERS

    workspace = manifests / "workspace.yaml"
    text = workspace.read_text(encoding="utf-8")
    workspace.write_text(text.replace("on_missing_row: keep", "on_missing_row: unset"), "utf-8")
    plan, picked = plan_both(manifests, url, tmp_path / "c", monkeypatch, seen)
    assert not picked.hit  # the sync's spec is part of what a row means

    workspace.write_text(text, "utf-8")
    monkeypatch.setenv("RECONCILER_HASH_KEY", "a-different-key-for-pii-hashes-0123456789")
    plan, picked = plan_both(manifests, url, tmp_path / "d", monkeypatch, seen)
    assert not picked.hit  # pii values hash differently: every pii cell changes
    assert plan.summary.users_changed == USERS


def test_source_files_with_the_kept_bytes_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen, state_url: str
) -> None:
    """A plan whose every source file has the sha256 the kept digests name reads none of them
    (same bytes, same rows, same sums), and is still the plan that reads everything. The same
    rows in other bytes are read, the sums vouch for them, and the digests then name the new
    bytes; digests kept without file hashes (an older reconciler) gain them the same way; a
    changed byte is read and planned."""
    from reconciler.sources.ingest import RawTable

    manifests = generate(tmp_path / "w")
    profile = manifests / "data" / "profile.csv"
    edit(profile, lambda rows: rows)  # in edit's own line endings, as every later edit
    # a file written in the last seconds is never named (`_settled`); these were just written
    monkeypatch.setattr(digests, "RECENT_NS", 0)
    url = state_url
    scans: list[str] = []
    digest_sql = RawTable.digest_sql
    monkeypatch.setattr(
        RawTable, "digest_sql", lambda self: scans.append(self.name) or digest_sql(self)
    )

    def step() -> tuple[Plan, Seen, int]:
        scans.clear()
        plan = make_plan(manifests, url, tmp_path / f"s{next(count)}").plan
        read = len(scans)
        picked = Seen(seen.hit, seen.clean, seen.dirty_rows, seen.whole, seen.files_unread)
        monkeypatch.setenv(digests.ENV, "off")  # the plan that reads everything
        full = make_plan(manifests, url, tmp_path / f"s{next(count)}").plan
        monkeypatch.delenv(digests.ENV)
        assert lines(plan) == lines(full) and plan.summary == full.summary
        assert plan.guards == full.guards and plan.attribute_changes == full.attribute_changes
        return plan, picked, read

    count = itertools.count(1)
    first, picked, read = step()
    sources = read  # every source file, once: the profile and the audiences
    assert sources == 1 + len(list((manifests / "data").glob("aiq_*.csv"))) >= 3
    assert not picked.files_unread
    acknowledge(url, first)

    plan, picked, read = step()
    assert read == 0 and picked.files_unread and picked.whole and not lines(plan)
    assert plan.summary.users_changed == 0
    os.utime(profile, (1_000_000_000, 1_000_000_000))  # bytes, not times, are compared
    plan, picked, read = step()
    assert read == 0 and picked.files_unread

    # the same rows in another order: the same size but other bytes, so read (the sha256
    # decides, not the size); the sums still vouch for them
    size = profile.stat().st_size
    edit(profile, lambda rows: [rows[0], *reversed(rows[1:])])
    assert profile.stat().st_size == size
    plan, picked, read = step()
    assert read == sources and picked.whole and not picked.files_unread and not lines(plan)
    acknowledge(url, plan)  # its digests name the reordered file
    plan, picked, read = step()
    assert read == 0 and picked.files_unread

    # digests kept by an older reconciler, without the files' hashes: read once, then named
    assert plan.digests is not None
    bare = tmp_path / "bare.parquet"
    con = duckdb.connect()
    sums = dict(
        con.execute(
            "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)",
            [str(plan.digests.path)],
        ).fetchall()
    )
    assert digests.SOURCES_KEY in sums
    kv = ", ".join(f"{k}: '{sums[k]}'" for k in ("reconciler_sums", "g_src", "g_led"))
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{plan.digests.path}')) TO '{bare}' "
        f"(FORMAT parquet, KV_METADATA {{{kv}}})"
    )
    con.close()
    with open_state(url) as state, state.lock(LockRequest("apply", "old")):
        state.put_plan_digests(plan.digests.fingerprint, bare, plan.digests.rows)
    plan, picked, read = step()
    assert read == sources and picked.whole and not picked.files_unread
    acknowledge(url, plan)
    plan, picked, read = step()
    assert read == 0 and picked.files_unread

    # one changed cell: its file is read, and that user planned
    edit(profile, lambda rows: [rows[0], [rows[1][0], "platinum", *rows[1][2:]], *rows[2:]])
    plan, picked, read = step()
    assert read == sources and not picked.files_unread and not picked.whole
    assert plan.summary.users_changed == 1


def test_a_file_replaced_while_it_is_planned_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen
) -> None:
    """The rows are read and the file hashed at two moments. A new export renamed into place
    in between must not leave digests that name the new bytes with the old rows' sums: the
    next plan would then take the new file for one already planned and never send its change.
    Nor is a file written just before the plan named (its stamp could hide a later write)."""
    from reconciler.commands import planning

    manifests = generate(tmp_path / "w")
    profile = manifests / "data" / "profile.csv"
    url = f"sqlite:///{tmp_path / 'state.db'}"
    count = itertools.count(1)

    def plan() -> Plan:
        return make_plan(manifests, url, tmp_path / f"s{next(count)}").plan

    first = plan()  # its files were written a moment ago: read, and not named
    acknowledge(url, first)
    plan()
    assert seen.whole and not seen.files_unread
    monkeypatch.setattr(digests, "RECENT_NS", 0)

    # the main thread has read the old rows; the new export lands before they are hashed
    replaced = threading.Event()
    selector_call = digests.DigestSelector.__call__
    hashes = planning.input_hashes

    def late_export(self, con, desired, prepared):  # type: ignore[no-untyped-def]
        if not replaced.is_set():
            new = profile.with_name("new.csv")
            shutil.copyfile(profile, new)
            edit(new, lambda rows: [rows[0], [rows[1][0], "platinum", *rows[1][2:]], *rows[2:]])
            new.replace(profile)
            replaced.set()
        return selector_call(self, con, desired, prepared)

    def hashed_after(m):  # type: ignore[no-untyped-def]
        replaced.wait(30)
        return hashes(m)

    monkeypatch.setattr(digests.DigestSelector, "__call__", late_export)
    monkeypatch.setattr(planning, "input_hashes", hashed_after)
    before = plan()  # the old rows, the new bytes' sha256
    assert replaced.is_set() and before.summary.users_changed == 0
    acknowledge(url, before)
    monkeypatch.setattr(digests.DigestSelector, "__call__", selector_call)
    monkeypatch.setattr(planning, "input_hashes", hashes)
    after, picked = plan_both(manifests, url, tmp_path / "z", monkeypatch, seen)
    assert not picked.files_unread  # read again, not taken for the planned file
    assert after.summary.users_changed == 1


def test_a_saved_plan_carries_its_digests(tmp_path: Path, seen: Seen) -> None:
    manifests = generate(tmp_path / "w")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    planned = make_plan(manifests, url, tmp_path / "a")
    assert planned.plan.digests is not None
    save_plan(planned.plan, tmp_path / "p.plan", planned.inputs)
    (tmp_path / "load").mkdir()
    loaded, _ = load_plan(tmp_path / "p.plan", tmp_path / "load")
    assert loaded.digests is not None
    assert loaded.digests.fingerprint == planned.plan.digests.fingerprint
    assert loaded.digests.path.read_bytes() == planned.plan.digests.path.read_bytes()
    assert lines(loaded) == lines(planned.plan)
    assert list(loaded.events.events()) == list(planned.plan.events.events())
    acknowledge(url, loaded)
    make_plan(manifests, url, tmp_path / "b")
    assert seen.hit and seen.clean == USERS
    shutil.rmtree(tmp_path / "load")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_v3_state_migrates_and_plans_empty_then_keeps_digests(
    tmp_path: Path,
    seen: Seen,
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Schema v4 adds the digests table: a v3 state (the columnar ledger, no digests) opens,
    plans empty where its ledger says so (reading everything once), and keeps digests after."""
    monkeypatch.setenv("RECONCILER_HASH_KEY", "one-key-for-both-states-0123456789abcdef")
    manifests = generate(tmp_path / "w")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = make_plan(manifests, f"sqlite:///{tmp_path / 'scratch.db'}", tmp_path / "a").plan
    if backend == "sqlite":
        old: Any = SqliteState(tmp_path / "old.db", migrations=MIGRATIONS[:3])
    else:
        url = str(request.getfixturevalue("pg_url"))
        old = PostgresState(url, migrations=PG_MIGRATIONS[:3])
    with old, old.lock(LockRequest("apply", first.plan_id)):
        assert old.meta().schema_version == 3
        apply_id = old.begin_apply(first.plan_id)
        for n, d in enumerate(first.deltas()):
            writes = [LedgerRow(d.user_id, a, v, d.id_kind) for a, v in d.writes]
            old.record_batch(apply_id, n, writes, [])
        old.finish_apply(apply_id, "applied")
    with open_state(url) as new:
        assert new.meta().schema_version == 4
        assert new.plan_digests(tmp_path) is None
    plan = make_plan(manifests, url, tmp_path / "b").plan
    assert not seen.hit and plan.summary.users_changed == 0
    acknowledge(url, plan)
    make_plan(manifests, url, tmp_path / "c")
    assert seen.hit and seen.clean == USERS and seen.dirty_rows == 0


def test_a_skipped_row_is_never_vouched_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen
) -> None:
    """With on_invalid: skip, a bad row is left out of the plan every time: its user is not
    recorded in the digests, so the next plan types that row again."""
    manifests = generate(tmp_path / "w")
    workspace = manifests / "workspace.yaml"
    text = workspace.read_text(encoding="utf-8")
    workspace.write_text(
        text.replace("on_missing_row: keep", "on_missing_row: keep\n  on_invalid: skip"), "utf-8"
    )
    profile = manifests / "data" / "profile.csv"
    edit(profile, lambda rows: [rows[0], rows[1][:2] + ["not a number", *rows[1][3:]], *rows[2:]])
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first, _ = plan_both(manifests, url, tmp_path / "a", monkeypatch, seen)
    assert first.summary.users_changed == USERS - 1
    acknowledge(url, first)
    plan, picked = plan_both(manifests, url, tmp_path / "b", monkeypatch, seen)
    assert picked.hit and picked.clean == USERS - 1 and picked.dirty_rows == 1
    assert not picked.whole  # no sum vouches for a plan that left a row out
    assert not lines(plan)
    assert plan.warnings == first.warnings  # the skipped row is reported every time


def test_a_diff_in_slices_is_the_same_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace too large for one diff statement is diffed in slices of contiguous users:
    the plan is the same, line for line (the spool in user order), first sync and churn."""
    from reconciler.plan import diff

    manifests = generate(tmp_path / "w")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    whole = make_plan(manifests, url, tmp_path / "a").plan
    monkeypatch.setattr(diff, "MIN_USERS_PER_SLICE", 40)
    monkeypatch.setattr(diff, "USERS_PER_SLICE_PER_GB", 1)
    sliced = make_plan(manifests, url, tmp_path / "b").plan
    assert len(diff._bounds(*_work(manifests, tmp_path / "e"))) > 3  # it did slice
    assert lines(sliced) == lines(whole) and sliced.summary == whole.summary
    assert sliced.attribute_changes == whole.attribute_changes
    acknowledge(url, whole)
    churned = tmp_path / "w" / "churned"
    monkeypatch.setenv(digests.ENV, "off")
    sliced = make_plan(churned, url, tmp_path / "c").plan
    monkeypatch.undo()
    monkeypatch.setenv(digests.ENV, "off")
    assert lines(make_plan(churned, url, tmp_path / "d").plan) == lines(sliced)
    assert sliced.summary.users_changed > 0


def _work(manifests: Path, spool: Path) -> tuple[Any, Any]:
    """A work database holding the sources' typed tables, for the slicing's own bounds."""
    from reconciler.manifests import load_workspace
    from reconciler.sources.desired import build_desired, open_workdb

    con = open_workdb(spool)
    desired = build_desired(load_workspace(manifests), con=con)
    return con, desired.sources


def compact(url: str) -> None:
    with open_state(url) as state, state.lock(LockRequest("apply", "compact")):
        assert state.compact_ledger() > 0


def stored_hash_reads_rh(url: str, workdir: Path, users: int) -> None:
    """`stored_hash` reads the snapshot's `rh` and equals S computed from every cell."""
    workdir.mkdir()
    with open_state(url) as state:
        parts = state.ledger_parts(workdir)
        assert parts.info is not None and parts.info.row_hash is not None
        con = duckdb.connect()
        attributes = columnar.register_stored(con, parts)
        (view,) = con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'stored_hash'"
        ).fetchone() or ("",)
        assert "rh AS s" in view  # read, not computed
        every = columnar.row_hash_sql([(a, columnar.col(i)) for i, a in enumerate(attributes)])
        differ = con.execute(
            f"SELECT count(*) FROM stored_hash h JOIN stored s USING (id_kind, user_id) "
            f"WHERE h.s <> {every}"
        ).fetchone()
        assert differ == (0,)
        assert con.execute("SELECT count(*) FROM stored_hash").fetchone() == (users,)
        con.close()


def test_a_compacted_snapshot_keeps_each_users_hash_and_plans_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen, state_url: str
) -> None:
    """Compaction keeps S in the snapshot (`rh`): a plan reads it instead of hashing the
    ledger, and what it vouches for is what hashing the ledger would vouch for."""
    manifests = generate(tmp_path / "w")
    url = state_url

    step = stepper(manifests, url, tmp_path, monkeypatch, seen)

    first, _ = step()
    acknowledge(url, first, only=USERS - 5)  # the last five users' writes never landed
    compact(url)
    stored_hash_reads_rh(url, tmp_path / "parts", USERS - 5)

    plan, picked = step()  # read from `rh`: the five are planned again, nobody else is read
    assert picked.hit and picked.clean == USERS - 5
    assert plan.summary.users_changed == 5
    acknowledge(url, plan)
    compact(url)

    plan, picked = step()
    assert picked.hit and picked.clean == USERS and picked.dirty_rows == 0 and not lines(plan)
    acknowledge(url, plan)

    # a cell in doubt, folded into the next snapshot: that user's kept hash no longer matches
    victim = next(iter(first.deltas())).user_id
    with open_state(url) as state, state.lock(LockRequest("drift")):
        state.mark_in_doubt([("external_id", victim, "bench_03_boolean")])
    compact(url)
    plan, picked = step()
    assert picked.hit and picked.clean == USERS - 1 and plan.summary.cells_in_doubt == 1

    # a log over that snapshot: S is computed for the users it touches, read for the others
    acknowledge(url, plan)
    stored_hash_reads_rh(url, tmp_path / "parts2", USERS)
    plan, picked = step()
    assert picked.hit and picked.clean == USERS and not lines(plan)
    with open_state(url) as state, state.lock(LockRequest("drift")):
        state.mark_in_doubt([("external_id", victim, "bench_03_boolean")])

    # a snapshot hashed by another DuckDB is not trusted: S is computed, with the same answer
    monkeypatch.setattr("reconciler.state.columnar.row_hash_probe", lambda _con: -1)
    plan, picked = step()
    assert picked.hit and picked.clean == USERS - 1 and plan.summary.cells_in_doubt == 1


def test_two_sums_vouch_for_everyone_through_unsets_compaction_and_a_saved_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen, state_url: str
) -> None:
    """The whole-workspace sums (G_src over source rows, G_led over ledger rows) advance with
    each applied plan: a user unset everywhere (S = 0) and then dropped by compaction adds
    nothing on either side, so the no-op plan after still skips the per-user join; and the
    sums ride in a saved plan's digests."""
    manifests = generate(tmp_path / "w")
    workspace = manifests / "workspace.yaml"
    text = workspace.read_text(encoding="utf-8")
    workspace.write_text(text.replace("on_missing_row: keep", "on_missing_row: unset"), "utf-8")
    profile = manifests / "data" / "profile.csv"
    url = state_url

    step = stepper(manifests, url, tmp_path, monkeypatch, seen)

    first, picked = step()
    assert not picked.whole
    acknowledge(url, first)
    plan, picked = step()
    assert picked.whole and not lines(plan)

    # users in no audience leave the profile: every cell of theirs is unset
    members = set()
    for audience in (manifests / "data").glob("aiq_*.csv"):
        with audience.open(encoding="utf-8") as fh:
            members |= {r[0] for r in list(csv.reader(fh))[1:]}
    with profile.open(encoding="utf-8") as fh:
        leavers = [r[0] for r in list(csv.reader(fh))[1:] if r[0] not in members][:3]
    assert len(leavers) == 3
    with profile.open(encoding="utf-8") as fh:
        original = list(csv.reader(fh))
    edit(profile, lambda rows: [r for r in rows if r[0] not in leavers])
    plan, picked = step()
    assert not picked.whole and plan.summary.users_changed == 3
    planned = make_plan(manifests, url, tmp_path / "saved")
    save_plan(planned.plan, tmp_path / "p.plan", planned.inputs)
    (tmp_path / "load").mkdir()
    loaded, _ = load_plan(tmp_path / "p.plan", tmp_path / "load")
    acknowledge(url, loaded)  # the digests (and their sums) as the saved plan carried them
    plan, picked = step()
    assert picked.whole and not lines(plan)
    compact(url)  # the three rows hold nothing now: compaction drops them
    plan, picked = step()
    assert picked.whole and not lines(plan)

    # one of them comes back: its row is new to G_src, and it alone is planned
    edit(profile, lambda rows: [*rows, *[r for r in original if r[0] == leavers[0]]])
    plan, picked = step()
    assert not picked.whole and plan.summary.users_changed == 1


def test_an_apply_with_nothing_to_send_keeps_the_digests_a_manifest_change_made(
    tmp_path: Path, seen: Seen, state_url: str
) -> None:
    """A manifest change that moves no value reads every row once (its digests' fingerprint is
    new) and plans nothing; `apply` has nothing to send but keeps those digests, so the next
    plan vouches for everyone instead of reading every row again. Not when the state moved on
    since the plan, nor while another process holds the lock."""
    from reconciler.commands.applying import ApplyRequest, Prepared, execute
    from reconciler.manifests import load_workspace

    manifests = generate(tmp_path / "w")
    url = state_url
    first = make_plan(manifests, url, tmp_path / "a").plan
    acknowledge(url, first)
    workspace = manifests / "workspace.yaml"
    text = workspace.read_text(encoding="utf-8")
    # every user is in the profile: `unset` and `keep` send the same, and mean another row
    workspace.write_text(text.replace("on_missing_row: keep", "on_missing_row: unset"), "utf-8")

    def no_op(spool: str) -> Prepared:
        plan = make_plan(manifests, url, tmp_path / spool).plan
        assert not plan.has_changes
        return Prepared(load_workspace(manifests), plan, url, fresh=False)

    request = ApplyRequest(manifests, url, None)
    stale = no_op("b")
    assert not seen.hit  # the new fingerprint: every row read
    with open_state(url) as state, state.lock(LockRequest("apply", "someone else")):
        assert execute(no_op("c"), request) is None  # the lock is held: nothing kept
    # another apply lands (the same value again: the ledger reads the same, its serial moved)
    delta = next(iter(first.deltas()))
    attribute, value = delta.writes[0]
    with open_state(url) as state, state.lock(LockRequest("apply", "again")):
        apply_id = state.begin_apply("again")
        state.record_batch(apply_id, 0, [LedgerRow(delta.user_id, attribute, value)], [])
        state.finish_apply(apply_id, "applied")
    assert execute(stale, request) is None  # made before the serial moved: nothing kept
    make_plan(manifests, url, tmp_path / "d")
    assert not seen.hit

    assert execute(no_op("e"), request) is None
    make_plan(manifests, url, tmp_path / "f")
    assert seen.hit and seen.clean == USERS and seen.dirty_rows == 0
