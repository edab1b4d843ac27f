"""`validate` holds webhook templates to their contract: located errors for each rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from manifests.helpers import Edit, copy_workspace, run_cli
from syrupy.assertion import SnapshotAssertion

R, S = "rokt_calendar.yaml", "sendbird.yaml"

CASES: dict[str, list[Edit]] = {
    # The rendered body must parse as JSON; the error is at the template text that wrote it.
    "json_missing_comma": [Edit(S, '"receiver_type": "user",', '"receiver_type": "user"')],
    "json_unquoted_output": [Edit(R, '"title": "{{eventTitle}}",', '"title": {{eventTitle}},')],
    "json_trailing_comma": [
        Edit(
            R,
            '"notifyBefore": "{{notifyBefore}}"\n    },',
            '"notifyBefore": "{{notifyBefore}}",\n    },',
        )
    ],
    # The preview user is part of the contract: a bad file is located in that file.
    "preview_user_not_json": [
        Edit("fixtures/sendbird_user.json", '"first_name": "Jiwoo",', '"first_name": "Jiwoo"')
    ],
    # References.
    "unknown_profile_tag": [Edit(S, "{{${first_name} | default", "{{${firstname} | default")],
    "two_templates_one_block": [
        Edit(
            R, "content_block: rokt_calendar_update_event", "content_block: rokt_calendar_add_event"
        )
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_contract_breaks_are_located(
    case: str, tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    root = copy_workspace(tmp_path)
    for edit in CASES[case]:
        edit.apply(root)
    code, out = run_cli(tmp_path, "validate", "--manifests", "manifests")
    assert code == 1
    assert "Traceback" not in out
    assert out.startswith("manifests/"), out
    assert out == snapshot


def test_the_example_templates_meet_their_contract(tmp_path: Path) -> None:
    copy_workspace(tmp_path)
    code, out = run_cli(tmp_path, "validate", "--manifests", "manifests")
    assert code == 0, out


def test_a_template_without_preview_user_is_checked_for_a_user_with_no_attributes(
    tmp_path: Path,
) -> None:
    root = copy_workspace(tmp_path)
    Edit(S, "  preview_user: fixtures/sendbird_user.json\n", "").apply(root)
    assert run_cli(tmp_path, "validate", "--manifests", "manifests")[0] == 0
    # An attribute printed bare into JSON leaves `"receivers": ,` for a user without it.
    Edit(
        S,
        '"receivers": ["{{custom_attribute.${sendbird_id}}}"]',
        '"receivers": {{custom_attribute.${sendbird_id}}}',
    ).apply(root)
    code, out = run_cli(tmp_path, "validate", "--manifests", "manifests")
    assert code == 1
    assert "rendered for (a user with no attributes)" in out
