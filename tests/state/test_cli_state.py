"""`reconciler state list|show|unlock` through the real CLI (click's runner), snapshotted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from syrupy.assertion import SnapshotAssertion

from reconciler.cli import cli
from reconciler.state import LedgerRow, LedgerUnset, LockRequest, keyed_hash, open_state

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "manifests").mkdir()
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def default_url(workdir: Path) -> str:
    """The state `--manifests manifests` points at by default, with one apply in it."""
    url = f"sqlite:///{workdir / '.reconciler' / 'state.db'}"
    with open_state(url) as state, state.lock(LockRequest("apply")):
        key = state.hash_key().key
        apply_id = state.begin_apply("plan-1")
        state.record_batch(
            apply_id,
            0,
            [LedgerRow(f"ext-{i}", "AIQ_48213_2", "true") for i in range(3)]
            + [LedgerRow("ext-0", "email", keyed_hash(key, "a@example.com"))],
            [],
            ["ev-1"],
        )
        state.record_batch(apply_id, 1, [], [LedgerUnset("ext-2", "AIQ_48213_2")])
        state.put_resource("ContentBlock.rokt", {"body": "x"}, remote_id="cb-1")
        state.finish_apply(apply_id, "applied")
    return url


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def normalise(text: str, workdir: Path) -> str:
    text = text.replace(str(workdir), "<TMP>")
    text = re.sub(UUID, "<UUID>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\+00:00|Z)", "<TIME>", text)
    text = re.sub(r"\S+@\S+ \(pid \d+\)", "<USER>@<HOST> (pid <PID>)", text)
    text = re.sub(r"fingerprint [0-9a-f]{16}", "fingerprint <FP>", text)
    text = re.sub(r"apply [0-9a-f]{8} batch", "apply <ID> batch", text)
    return re.sub(r"spec [0-9a-f]{12}", "spec <HASH>", text)


@pytest.mark.usefixtures("default_url")
def test_state_show(workdir: Path, snapshot: SnapshotAssertion) -> None:
    result = invoke("state", "show", "--manifests", "manifests")
    assert result.exit_code == 0, result.output
    assert normalise(result.stdout, workdir) == snapshot


def test_state_list(default_url: str, workdir: Path, snapshot: SnapshotAssertion) -> None:
    result = invoke("state", "list", "--state", default_url)
    assert result.exit_code == 0, result.output
    assert normalise(result.stdout, workdir) == snapshot


def test_state_url_from_the_environment(
    default_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECONCILER_STATE", default_url)
    result = invoke("state", "list", "--manifests", str(tmp_path / "elsewhere" / "manifests"))
    assert result.exit_code == 0, result.output
    assert "AIQ_48213_2" in result.stdout


def test_state_unlock(default_url: str, workdir: Path, snapshot: SnapshotAssertion) -> None:
    state = open_state(default_url)
    with state.lock(LockRequest("apply", info="plan.bin")) as held:
        shown = invoke("state", "show")
        assert f"reconciler state unlock {held.info.lock_id}" in shown.stdout
        wrong = invoke("state", "unlock", "nope")
        assert wrong.exit_code == 1
        assert "does not match the current lock" in wrong.stderr
        result = invoke("state", "unlock", held.info.lock_id)
        assert result.exit_code == 0, result.output
        assert normalise(result.stdout, workdir) == snapshot
    state.close()
    assert "not locked" in invoke("state", "show").stdout


def test_a_missing_state_is_an_error_not_a_new_file(
    workdir: Path, snapshot: SnapshotAssertion
) -> None:
    result = invoke("state", "show")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert normalise(result.stderr, workdir) == snapshot
    assert not (workdir / ".reconciler").exists()


@pytest.mark.usefixtures("workdir")
def test_a_password_in_the_url_is_refused_and_never_shown() -> None:
    result = invoke("state", "list", "--state", "postgresql://u:hunter2@db/x")
    assert result.exit_code == 1
    assert "a password in the state URL is refused: postgresql://u:***@db/x" in result.stderr
    assert "PGPASSWORD" in result.stderr
    assert "hunter2" not in result.output


def test_a_workspace_state_path_is_relative_to_the_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`state: sqlite:///.reconciler/ws.db` in the Workspace is the manifests directory's
    state wherever a command runs from (paths inside a spec are relative to the manifests),
    not a fresh state in the working directory, which would plan a full resend."""
    import shutil

    from reconciler.commands.planning import resolve_state_url
    from reconciler.manifests import load_workspace

    repo = Path(__file__).resolve().parents[2]
    manifests = tmp_path / "repo" / "manifests"
    shutil.copytree(repo / "manifests", manifests)
    workspace = manifests / "workspace.yaml"
    text = workspace.read_text(encoding="utf-8")
    assert "  api_key_env: BRAZE_API_KEY\n" in text
    workspace.write_text(
        text.replace(
            "  api_key_env: BRAZE_API_KEY\n",
            "  api_key_env: BRAZE_API_KEY\n  state: sqlite:///.reconciler/ws.db\n",
            1,
        ),
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("RECONCILER_STATE", raising=False)
    m = load_workspace(manifests)
    url = resolve_state_url(manifests, None, m)
    assert url == f"sqlite:///{manifests.resolve() / '.reconciler' / 'ws.db'}"
    assert resolve_state_url(manifests, "sqlite:///flag.db", m) == "sqlite:///flag.db"
