"""PostgreSQL-only properties: URLs and credentials, schemas, migrations, sessions and locks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from fixtures_postgres import PG_SERVER, pg_schema
from psycopg import sql
from test_crash import kill_mid_run
from worker import USERS_PER_BATCH

from reconciler.cli import cli
from reconciler.errors import LockHeldError, StateError
from reconciler.state import LedgerRow, LockRequest, open_state
from reconciler.state.pg_migrations import PG_MIGRATIONS, PgMigration
from reconciler.state.postgres import PostgresState
from reconciler.state.url import parse_postgres_url, redact_url

pytestmark = pytest.mark.postgres

WORKER = Path(__file__).with_name("worker.py")
EXAMPLE_MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
NEWEST = PG_MIGRATIONS[-1].version
NEXT = NEWEST + 1


def run_sql(query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        cur = conn.execute(query, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@pytest.fixture
def schema() -> Iterator[str]:
    with pg_schema() as name:
        yield name


def url_of(schema: str) -> str:
    return f"{PG_SERVER}?schema={schema}"


# -- URLs and credentials ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "conninfo", "schema"),
    [
        ("postgresql://u@h:5433/db", "postgresql://u@h:5433/db", "reconciler"),
        ("postgres://h/db?schema=team_a", "postgresql://h/db", "team_a"),
        (
            "postgresql://u@h/db?sslmode=require&schema=s1&connect_timeout=3",
            "postgresql://u@h/db?sslmode=require&connect_timeout=3",
            "s1",
        ),
    ],
)
def test_postgres_urls(url: str, conninfo: str, schema: str) -> None:
    parsed = parse_postgres_url(url)
    assert (parsed.conninfo, parsed.schema) == (conninfo, schema)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://bob:hunter2@db/x", "a password in the state URL is refused"),
        ("postgresql://bob:hun@ter2/x@db/x", "a password in the state URL is refused"),
        ("postgresql://db/x?password=hunter2", "a password in the state URL is refused"),
        ("postgresql://db/x?schema=Bad-Name", "bad schema name 'Bad-Name'"),
        ("postgresql://db/x?schema=", "bad schema name ''"),
    ],
)
def test_bad_postgres_urls_are_refused_without_showing_a_password(url: str, message: str) -> None:
    with pytest.raises(StateError) as e:
        open_state(url)
    assert message in e.value.message
    rendered = e.value.render()
    assert "hunter2" not in rendered and "ter2" not in rendered
    if "password" in message:
        assert "PGPASSWORD" in e.value.hint


def test_redact_url_hides_every_spelling_of_a_password() -> None:
    assert redact_url("postgresql://u:p@ss/w@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://h/db?password=x&sslmode=y") == (
        "postgresql://h/db?password=***&sslmode=y"
    )
    assert redact_url("sqlite:////home/a:b@c/state.db") == "sqlite:////home/a:b@c/state.db"


def test_an_unreachable_server_is_a_clear_error_without_the_environment_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGPASSWORD", "env-secret-value")
    with pytest.raises(StateError) as e:
        open_state("postgresql://postgres@127.0.0.1:1/test?schema=x")
    text = e.value.render()
    assert "cannot connect to state postgresql://postgres@127.0.0.1:1/test?schema=x" in text
    assert "PGPASSWORD or ~/.pgpass" in text
    assert "env-secret-value" not in text


def test_the_session_names_itself_and_keeps_libpq_options(schema: str) -> None:
    with open_state(url_of(schema) + "&application_name=ci-deploy") as state:
        state.meta()
        names = run_sql(
            "SELECT application_name FROM pg_stat_activity WHERE application_name = 'ci-deploy'"
        )
    assert names == [("ci-deploy",)]


# -- schemas and migrations ----------------------------------------------------------------------


def test_a_missing_schema_is_not_created_without_create(schema: str) -> None:
    with pytest.raises(StateError, match="no state at"):
        open_state(url_of(schema), create=False)
    assert run_sql("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)) == []


def test_each_schema_is_its_own_state(schema: str) -> None:
    with pg_schema() as other:
        with open_state(url_of(schema)) as a, open_state(url_of(other)) as b:
            assert a.meta().lineage != b.meta().lineage
            with a.lock(LockRequest("apply")), b.lock(LockRequest("apply")):
                pass  # one lock per schema


def test_a_schema_holding_other_tables_is_refused(schema: str) -> None:
    run_sql(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)).as_string())
    run_sql(sql.SQL("CREATE TABLE {}.orders (id int)").format(sql.Identifier(schema)).as_string())
    with pytest.raises(StateError) as e:
        open_state(url_of(schema))
    assert f"schema {schema} in" in e.value.message and "holds other tables" in e.value.message
    assert "?schema=NAME" in e.value.hint


def _notes(conn: psycopg.Connection) -> None:
    conn.execute("UPDATE ledger_notes SET note = 'backfilled'")


def _broken(_conn: psycopg.Connection) -> None:
    raise psycopg.errors.DiskFull("disk says no")


V_NEXT = PgMigration(
    NEXT,
    "test: ledger notes",
    ("CREATE TABLE ledger_notes (note text)", "INSERT INTO ledger_notes VALUES ('new')", _notes),
)


def _state_with_data(url: str) -> str:
    with open_state(url) as old, old.lock(LockRequest("apply")):
        apply_id = old.begin_apply()
        old.record_batch(apply_id, 0, [LedgerRow("u1", "A", "1")])
        return old.meta().lineage


def test_an_older_schema_migrates_step_by_step_and_keeps_its_data(schema: str) -> None:
    url = url_of(schema)
    lineage = _state_with_data(url)
    with PostgresState(url, migrations=(*PG_MIGRATIONS, V_NEXT)) as new:
        assert (new.meta().schema_version, new.meta().lineage) == (NEXT, lineage)
        assert new.ledger_count() == 1
    assert run_sql(f"SELECT note FROM {schema}.ledger_notes") == [("backfilled",)]
    versions = run_sql(f"SELECT version FROM {schema}.schema_version ORDER BY 1")
    assert versions == [(v,) for v in range(1, NEXT + 1)]


def test_a_failing_migration_leaves_the_schema_as_it_was(schema: str) -> None:
    url = url_of(schema)
    _state_with_data(url)
    broken = PgMigration(NEXT, "broken", ("CREATE TABLE half_done (x int)", _broken))
    with pytest.raises(StateError, match="disk says no"):
        PostgresState(url, migrations=(*PG_MIGRATIONS, broken))
    assert run_sql("SELECT 1 FROM pg_tables WHERE tablename = 'half_done'") == []
    with open_state(url) as again:
        assert again.meta().schema_version == NEWEST and again.ledger_count() == 1


def test_a_schema_newer_than_the_code_is_refused(schema: str) -> None:
    url = url_of(schema)
    with PostgresState(url, migrations=(*PG_MIGRATIONS, V_NEXT)):
        pass
    with pytest.raises(StateError) as e:
        open_state(url)
    assert f"schema version {NEXT} is newer than this reconciler supports ({NEWEST})" in (
        e.value.message
    )
    assert "upgrade reconciler" in e.value.hint


def test_a_v1_schema_gains_write_serials_and_old_rows_read_as_zero(schema: str) -> None:
    url = url_of(schema)
    with PostgresState(url, migrations=PG_MIGRATIONS[:1]) as old:
        assert old.meta().schema_version == 1
    run_sql(f"INSERT INTO {schema}.attributes VALUES (1, 'A')")
    run_sql(f"INSERT INTO {schema}.ledger VALUES (0, 'u1', 1, '1')")
    with open_state(url) as new:
        found = new.ledger_for_users([("external_id", "u1")])
        assert found[("external_id", "u1")].last_serial == 0


def test_two_processes_opening_a_new_schema_at_once_both_succeed(schema: str) -> None:
    code = "import sys; from reconciler.state import open_state; open_state(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, url_of(schema)]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert run_sql(f"SELECT count(*) FROM {schema}.meta WHERE key = 'lineage'") == [(1,)]


# -- sessions and the lock -----------------------------------------------------------------------


def _lock_sessions(state: PostgresState) -> list[int]:
    return [pid for pid, _app in state._holders()]


def test_a_second_store_in_the_same_process_is_refused(schema: str) -> None:
    with open_state(url_of(schema)) as a, open_state(url_of(schema)) as b:
        with a.lock(LockRequest("apply", info="first")), pytest.raises(LockHeldError):
            with b.lock(LockRequest("apply")):
                pass
        with b.lock(LockRequest("apply")):
            pass


def test_a_lock_whose_session_ended_is_taken_over_and_its_holder_stops(schema: str) -> None:
    url = url_of(schema)
    with open_state(url) as holder, open_state(url) as successor:
        assert isinstance(holder, PostgresState)
        with holder.lock(LockRequest("apply", info="network gone")):
            apply_id = holder.begin_apply()
            (session,) = _lock_sessions(holder)
            run_sql("SELECT pg_terminate_backend(%s, 5000)", (session,))  # its connection died
            with successor.lock(LockRequest("apply")) as mine:
                assert mine.replaced is not None and mine.replaced.info == "network gone"
                with pytest.raises(LockHeldError, match="was broken and is now held by"):
                    holder.record_batch(apply_id, 0, [LedgerRow("u", "A", "1")])
        assert successor.ledger_count() == 0
        assert [a.status for a in successor.applies()] == ["interrupted"]


def test_unlock_ends_the_holders_lock_session_only(schema: str) -> None:
    url = url_of(schema)
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), url, "hold"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "locked"
        with open_state(url) as state:
            assert isinstance(state, PostgresState)
            lock = state.current_lock()
            assert lock is not None and len(_lock_sessions(state)) == 1
            state.force_unlock(lock.lock_id)
            assert _lock_sessions(state) == []
            assert worker.poll() is None  # the process lives on; its next write would fail
            with state.lock(LockRequest("apply")) as mine:
                assert mine.replaced is None
    finally:
        worker.kill()
        worker.wait()
        assert worker.stdout is not None
        worker.stdout.close()


def test_kill_9_loses_no_journaled_batch_and_frees_the_lock(schema: str) -> None:
    url = url_of(schema)
    kill_mid_run(url, after_batches=3)
    with open_state(url, create=False) as state:
        journaled = sorted(e.batch_no for e in state.journal(limit=10_000))
        assert journaled == list(range(len(journaled))) and len(journaled) > 3
        assert state.meta().serial == len(journaled)
        assert state.ledger_count("A") == USERS_PER_BATCH * len(journaled)
        with state.lock(LockRequest("apply")) as mine:  # no waiting: the session ended
            assert mine.replaced is not None
        assert [a.status for a in state.applies()] == ["interrupted"]


def test_a_lock_row_without_a_session_is_not_a_lock(schema: str) -> None:
    """A row left by a session that ended (crash mid-release) never blocks anyone."""
    url = url_of(schema)
    with open_state(url) as state:
        run_sql(
            f"INSERT INTO {schema}.lock VALUES ('state', 'stale-id', 'ci', 'runner-9', 1, '',"
            " 'apply', '', now(), now())"
        )
        with state.lock(LockRequest("apply")) as mine:
            assert mine.replaced is not None and mine.replaced.host == "runner-9"


def test_the_lock_session_has_keepalives_so_a_vanished_host_lets_go(schema: str) -> None:
    with open_state(url_of(schema)) as state, state.lock(LockRequest("apply")):
        assert isinstance(state, PostgresState) and state._lock_conn is not None
        row = state._lock_conn.execute("SHOW tcp_keepalives_idle").fetchone()
        assert row == ("30",)


# -- the CLI ---------------------------------------------------------------------------------------


def test_state_commands_follow_the_workspace_state_url(
    schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team sets `state: postgresql://…` once; the lock refusal's unlock command then works."""
    manifests = tmp_path / "manifests"
    shutil.copytree(EXAMPLE_MANIFESTS, manifests)
    workspace = manifests / "workspace.yaml"
    text = workspace.read_text().replace(
        "  api_key_env: BRAZE_API_KEY\n",
        f"  api_key_env: BRAZE_API_KEY\n  state: {url_of(schema)}\n",
    )
    workspace.write_text(text)
    monkeypatch.chdir(tmp_path)
    with open_state(url_of(schema)) as state, state.lock(LockRequest("apply", info="merge #7")):
        held = state.current_lock()
        assert held is not None
        runner = CliRunner()
        shown = runner.invoke(cli, ["state", "show", "--manifests", str(manifests)])
        assert shown.exit_code == 0, shown.output
        assert f"state       {url_of(schema)}" in shown.stdout
        assert "for apply (merge #7)" in shown.stdout
        unlocked = runner.invoke(cli, ["state", "unlock", held.lock_id, "--manifests", "manifests"])
        assert unlocked.exit_code == 0, unlocked.output
        assert f"unlocked {held.lock_id}" in unlocked.stdout
    assert not (tmp_path / ".reconciler").exists()  # the SQLite default was never touched
