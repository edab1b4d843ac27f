"""`state migrate`: a state copied between backends is the same state, and the copy is proven."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures_postgres import PG_SERVER
from state_backends import BACKENDS
from syrupy.assertion import SnapshotAssertion

from reconciler.cli import cli
from reconciler.errors import StalePlanError, StateError
from reconciler.state import (
    LedgerRow,
    LedgerUnset,
    LockRequest,
    StateStore,
    keyed_hash,
    open_state,
)
from reconciler.state.transfer import digest_of, migrate_state

pytestmark = pytest.mark.postgres

DIRECTIONS = [("sqlite", "postgres"), ("postgres", "sqlite"), ("postgres", "postgres")]


def populate(state: StateStore) -> None:
    """A state with everything a copy must keep: hashes, unsets, events, resources, a crash."""
    key = state.hash_key().key
    with state.lock(LockRequest("apply")):
        apply_id = state.begin_apply("plan-1")
        state.record_batch(
            apply_id,
            0,
            [LedgerRow(f"u{i:04d}", "AIQ_score", str(i)) for i in range(300)]
            + [LedgerRow("u0001", "email", keyed_hash(key, "a@example.com"))]
            + [LedgerRow("b-1", "AIQ_score", '"x,y\\n\\"z\\""', "braze_id")],
            [],
            ["ev-1", "ev-2"],
            {"requests": 5},
        )
        state.record_batch(apply_id, 1, [], [LedgerUnset("u0002", "AIQ_score")], ["ev-3"])
        state.put_resource("ContentBlock.rokt", {"body": "hi", "tags": ["x"]}, remote_id="cb-1")
        state.finish_apply(apply_id, "applied")
        with tempfile.TemporaryDirectory() as tmp:  # the plan's digests, kept by the apply
            digests = Path(tmp) / "d.parquet"
            digests.write_bytes(b"PAR1 stands in for the digests of plan-1")
            state.put_plan_digests("fingerprint-1", digests, 300)
    with state.lock(LockRequest("apply")):
        state.begin_apply("plan-2")  # released unfinished: recorded as interrupted


def everything(state: StateStore) -> dict[str, object]:
    """What a reader can see of a state, through the public protocol only."""
    meta = state.meta()
    key = state.hash_key()
    return {
        "meta": (meta.lineage, meta.serial, meta.schema_version, meta.created_at),
        "key": (key.fingerprint, key.ledger_fingerprint, key.key),
        "ledger": [row for batch in state.iter_ledger(batch_size=7) for row in batch],
        "serials": state.ledger_for_users([("external_id", "u0001"), ("braze_id", "b-1")]),
        "counts": state.attribute_counts(),
        "resources": state.resources(),
        "events": [e for b in state.acked_event_ids() for e in b],
        "applies": state.applies(100),
        "journal": state.journal(100),
        "serial_at": state.serial_at(datetime.now(UTC) + timedelta(seconds=1)),
        "digests": _digests(state),
    }


def _digests(state: StateStore) -> tuple[str, bytes] | None:
    with tempfile.TemporaryDirectory() as tmp:
        found = state.plan_digests(Path(tmp))
        return (found[0], found[1].read_bytes()) if found else None


@pytest.fixture
def urls(tmp_path: Path) -> Iterator[dict[str, list[str]]]:
    """Two fresh URLs per backend."""
    with ExitStack() as stack:
        yield {
            name: [stack.enter_context(make(tmp_path / f"{name}{i}")) for i in range(2)]
            for name, make in BACKENDS.items()
        }


@pytest.mark.parametrize(("source_kind", "target_kind"), DIRECTIONS)
def test_a_copy_is_the_same_state(
    urls: dict[str, list[str]], source_kind: str, target_kind: str
) -> None:
    source_url, target_url = urls[source_kind][0], urls[target_kind][1]
    with open_state(source_url) as source:
        populate(source)
        before = everything(source)
        with open_state(target_url) as target:
            report = migrate_state(source, target, force=False)
        assert digest_of(source).sha256 == report.sha256
    assert report.counts == {
        "meta": 6,
        "resources": 1,
        "applies": 2,
        "journal": 2,
        "events": 3,
        "ledger_log": 2,  # one entry per acknowledged batch (the columnar ledger's log)
        "ledger_snapshot": 0,
        "plan_digests": 1,
    }
    with open_state(target_url, create=False) as copy:
        assert everything(copy) == before
        assert report.lineage == before["meta"][0] and report.serial == 3  # type: ignore[index]
        with copy.lock(LockRequest("apply")):  # a plan bound to the source applies to the copy
            lineage, serial = copy.meta().lineage, copy.meta().serial
            apply_id = copy.begin_apply("p", expect_lineage=lineage, expect_serial=serial)
            assert copy.record_batch(apply_id, 0, [LedgerRow("new", "fresh_attr", "1")]) == 4
            copy.finish_apply(apply_id, "applied")
        assert copy.attribute_counts()["fresh_attr"] == 1  # new attribute ids do not collide


def test_there_and_back_again_keeps_every_byte(urls: dict[str, list[str]]) -> None:
    first, back = urls["sqlite"]
    with open_state(first) as origin:
        populate(origin)
        expected = digest_of(origin)
        with open_state(urls["postgres"][0]) as middle:
            migrate_state(origin, middle, force=False)
            with open_state(back) as end:
                migrate_state(middle, end, force=False)
                assert digest_of(end).sha256 == expected.sha256
                assert everything(end) == everything(origin)


def test_a_target_holding_a_state_is_refused_unless_forced(urls: dict[str, list[str]]) -> None:
    with open_state(urls["sqlite"][0]) as source, open_state(urls["postgres"][0]) as target:
        populate(source)
        populate(target)
        theirs = target.meta()
        with pytest.raises(StateError) as e:
            migrate_state(source, target, force=False)
        assert f"already holds a state (lineage {theirs.lineage}, serial 3" in e.value.message
        assert "--force" in e.value.hint
        assert target.meta() == theirs  # untouched
        report = migrate_state(source, target, force=True)
        assert report.overwrote == theirs
        assert target.meta().lineage == source.meta().lineage
        with target.lock(LockRequest("apply")), pytest.raises(StalePlanError):
            target.begin_apply("p", expect_lineage=theirs.lineage)  # the old lineage is gone


def test_a_migrate_waits_for_nobody_and_copies_nothing_when_the_source_is_locked(
    urls: dict[str, list[str]],
) -> None:
    with (
        open_state(urls["postgres"][0]) as source,
        open_state(urls["postgres"][0]) as other,
        open_state(urls["sqlite"][0]) as target,
        other.lock(LockRequest("apply", info="busy")),
    ):
        with pytest.raises(StateError, match="is locked by .* for apply \\(busy\\)"):
            migrate_state(source, target, force=False)
        assert target.meta().serial == 0 and target.current_lock() is None


def normalise(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<TMP>").replace(PG_SERVER, "<PG>")
    text = re.sub(r"schema=test_[0-9a-f]+", "schema=<SCHEMA>", text)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<UUID>", text)
    return re.sub(r"sha256 [0-9a-f]{16}", "sha256 <HASH>", text)


def test_state_migrate_through_the_cli(
    urls: dict[str, list[str]], tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    source, target = urls["sqlite"][0], urls["postgres"][0]
    with open_state(source) as state:
        populate(state)
    runner = CliRunner()
    done = runner.invoke(cli, ["state", "migrate", "--state", source, "--to", target])
    assert done.exit_code == 0, done.output
    again = runner.invoke(cli, ["state", "migrate", "--state", source, "--to", target])
    assert again.exit_code == 1
    assert normalise(done.stdout + again.stderr, tmp_path) == snapshot
    shown = runner.invoke(cli, ["state", "show", "--state", target])
    assert "serial      3" in shown.stdout


def test_state_migrate_of_a_missing_state_creates_nothing(
    urls: dict[str, list[str]], tmp_path: Path
) -> None:
    target = urls["sqlite"][1]
    result = CliRunner().invoke(
        cli, ["state", "migrate", "--state", urls["postgres"][0], "--to", target]
    )
    assert result.exit_code == 1
    assert "no state at" in result.stderr
    assert not (tmp_path / "sqlite1").exists()
