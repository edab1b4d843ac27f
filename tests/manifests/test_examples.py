"""The example workspace and every example in the design validate as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from manifests.helpers import REPO, copy_workspace, run_cli

from reconciler.manifests import load_workspace
from reconciler.manifests.jsonschema import check_schemas
from reconciler.manifests.loader import manifest_files

DESIGN_EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "design_example"


def test_example_workspace_validates_through_the_real_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "--manifests", "manifests"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "20 documents and 6 data files valid" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_example_workspace_uses_every_kind_for_all_four_partners() -> None:
    m = load_workspace(REPO / "manifests")
    kinds = {r.kind for r in m.resources}
    assert kinds == {
        "Workspace",
        "Integration",
        "AttributeSchema",
        "AudienceMapping",
        "AttributeSync",
        "EventSchema",
        "EventStream",
        "WebhookTemplate",
    }
    partners = {i.spec.partner for i in m.integrations.values()}
    assert partners == {"actioniq", "amperity", "rokt_calendar", "sendbird"}
    amperity_types = {
        a.definition.type for a in m.attributes.values() if a.schema.spec.integration == "amperity"
    }
    assert amperity_types >= {
        "boolean",
        "date",
        "datetime",
        "decimal",
        "float",
        "integer",
        "string",
        "varchar",
    }
    assert "dob" in m.attributes
    assert len(m.audience_mappings) == 2
    assert len([t for t in m.webhook_templates if t.spec.integration == "rokt_calendar"]) == 2


def test_design_example_validates_as_written() -> None:
    m = load_workspace(DESIGN_EXAMPLE)
    assert m.rest_endpoint == "https://rest.iad-03.braze.com"
    assert len(m.resources) == 12


def test_every_manifest_file_points_editors_at_the_schema() -> None:
    files = manifest_files(REPO / "manifests")
    assert files
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/manifest.json", path


def test_committed_schemas_are_fresh() -> None:
    assert check_schemas(REPO / "schemas") == []


def test_schemas_check_fails_when_stale(tmp_path: Path) -> None:
    code, _ = run_cli(tmp_path, "schemas", "--out", "schemas")
    assert code == 0
    (tmp_path / "schemas" / "workspace.json").write_text("{}\n")
    code, out = run_cli(tmp_path, "schemas", "--out", "schemas", "--check")
    assert code == 1
    assert "schemas/workspace.json: stale" in out


def test_update_existing_only_names_the_attributes_only_such_syncs_write(tmp_path: Path) -> None:
    root = copy_workspace(tmp_path)
    assert load_workspace(root).update_existing_only == frozenset()  # off unless asked for
    amperity = root / "amperity.yaml"
    text = amperity.read_text(encoding="utf-8")
    amperity.write_text(
        text.replace(
            "  on_missing_row: keep\n", "  on_missing_row: keep\n  update_existing_only: true\n"
        ),
        encoding="utf-8",
    )
    only = load_workspace(root).update_existing_only
    assert only == {
        "loyalty_tier",
        "favorite_store",
        "is_vip",
        "first_order_date",
        "last_order_at",
        "lifetime_value",
        "churn_score",
        "order_count",
        "dob",
        "email",
    }
