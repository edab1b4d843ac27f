"""`validate` runs every offline check plan runs, in one pass, through the real CLI.

One run of a workspace with five unrelated mistakes reports all five, each located: bad cells
in the Amperity attribute CSV, a repeated member in an ActionIQ audience file, a bad event in
the events JSONL, a misspelt integration name and a schema error. A good workspace names the
endpoint apply would write to, BRAZE_REST_ENDPOINT included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from syrupy.assertion import SnapshotAssertion

REPO = Path(__file__).resolve().parents[2]


def validate(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "--manifests", str(root)],
        capture_output=True,
        text=True,
        env={"PATH": "", "NO_COLOR": "1", **env},
        cwd=root.parent,
        check=False,
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_one_run_reports_bad_rows_in_every_kind_of_file_and_every_manifest_error(
    tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    root = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", root)
    csv = root / "data/amperity/braze_customer_attributes.csv"
    edit(csv, "cust-0001,gold,", "cust-0001,platinum,")
    edit(csv, "2021-06-01", "2021-13-45")
    edit(csv, "Lyon Part-Dieu,false,", "Lyon Part-Dieu,maybe,")
    audience = root / "data/actioniq/aiq_51877_1.csv"
    audience.write_text(audience.read_text(encoding="utf-8") + "cust-0004\n", encoding="utf-8")
    events = root / "data/actioniq/events.jsonl"
    events.write_text(
        events.read_text(encoding="utf-8")
        + '{"event_id": "aiq-ev-bad", "event_name": "aiq_product_viewed", '
        '"external_id": "cust-0003", "timestamp": "yesterday"}\n',
        encoding="utf-8",
    )
    sendbird = root / "sendbird.yaml"
    edit(
        sendbird,
        "metadata: {name: sendbird-notifications}\nspec:\n  integration: sendbird",
        "metadata: {name: sendbird-notifications}\nspec:\n  integration: sendbrid",
    )
    edit(sendbird, "  method: POST\n", "  method: POTS\n")

    done = validate(root)
    assert done.returncode == 1, done.stderr
    out = (done.stdout + done.stderr).replace(str(tmp_path), "<tmp>")
    for where in (
        "braze_customer_attributes.csv:2:",  # platinum
        "braze_customer_attributes.csv:3:",  # 2021-13-45 and maybe
        "aiq_51877_1.csv:",  # the repeated member
        "events.jsonl:",  # the bad timestamp
        "sendbird.yaml:",  # sendbrid and POTS
    ):
        assert where in out, (where, out)
    assert "platinum" in out and "2021-13-45" in out and "maybe" in out
    assert "sendbrid" in out and "POTS" in out
    assert "Traceback" not in out
    assert out == snapshot


def test_a_valid_workspace_names_the_effective_endpoint(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", root)
    default = validate(root)
    assert default.returncode == 0, default.stdout + default.stderr
    assert "→ https://rest.iad-03.braze.com" in default.stdout
    assert "data files valid" in default.stdout
    moved = validate(root, BRAZE_REST_ENDPOINT="http://127.0.0.1:8765")
    assert "→ http://127.0.0.1:8765" in moved.stdout


def test_an_unclosed_quote_is_reported_where_it_opened(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", root)
    sendbird = root / "sendbird.yaml"
    edit(sendbird, "description: Sendbird user id of the Braze user}",
         'description: "Sendbird user id of the Braze user}')  # fmt: skip
    opened = (
        sendbird.read_text()
        .splitlines()
        .index(
            '    - {name: sendbird_id, type: string, description: "Sendbird user id of the Braze user}'
        )
    )
    done = validate(root)
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if "unclosed" in x)
    assert line.startswith(f"{sendbird}:{opened + 1}:"), line
    assert "YAML syntax error: unclosed" in line


def test_a_missing_file_suggests_the_nearest_one(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", root)
    edit(root / "sendbird.yaml", "data/sendbird/user_ids.csv", "data/sendbird/user_id.csv")
    done = validate(root)
    assert done.returncode == 1
    assert "file not found: data/sendbird/user_id.csv" in done.stdout
    assert "hint: did you mean 'data/sendbird/user_ids.csv'?" in done.stdout
