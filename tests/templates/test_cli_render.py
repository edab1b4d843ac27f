"""`reconciler render` through the real CLI: stdout is the request, stderr the notes; JSON, the
dashboard view, located errors, and credential values that never appear."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

REPO = Path(__file__).resolve().parents[2]
USERS = Path(__file__).parent / "users"
TEMPLATES = ("rokt-calendar-add-event", "rokt-calendar-update-event", "sendbird-notification")
SECRETS = {
    "BRAZE_API_KEY": "braze-key-7c1d9e0a4b5f",
    "SENDBIRD_API_TOKEN": "sb-token-1f2e3d4c5b6a",
    "ROKT_CALENDAR_API": "rokt-secret-9a8b7c6d5e4f",
}


def render(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "render", *args, "--manifests", "manifests"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env or {k: v for k, v in os.environ.items() if not k.startswith("BRAZE_")},
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("template", TEMPLATES)
def test_render_prints_the_request_and_says_what_it_stubbed(
    template: str, snapshot: SnapshotAssertion
) -> None:
    proc = render(template)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == snapshot(name="stdout")
    assert proc.stderr == snapshot(name="stderr")


def test_render_hides_personal_data_unless_asked() -> None:
    user = str(USERS / "rokt_three_subscriptions.json")
    hidden = render("rokt-calendar-add-event", "--user", user)
    shown = render("rokt-calendar-add-event", "--user", user, "--show-values")
    assert hidden.returncode == shown.returncode == 0
    assert '"eventId": "Event_0001_⟪external_id⟫"' in hidden.stdout
    assert "cus…0042" not in hidden.stdout + hidden.stderr
    assert '"eventId": "Event_0001_cust-rokt-0042"' in shown.stdout
    assert "placeholders" in hidden.stderr and "placeholders" not in shown.stderr


def test_render_json_has_the_parsed_body(snapshot: SnapshotAssertion) -> None:
    proc = render("rokt_calendar_update_event", "--format", "json", "--show-values")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["json_body"]["event"]["notifyBefore"] == "30"
    assert out["connected_content"] == [
        {
            "url": "https://api.roktcalendar.com/oauth2/token",
            "credential": "Rokt-Calendar-API",
            "save": "token",
            "called": False,
        }
    ]
    assert proc.stdout == snapshot


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_render_dashboard_says_what_to_set_by_hand(fmt: str, snapshot: SnapshotAssertion) -> None:
    proc = render("rokt-calendar-add-event", "--dashboard", "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    assert "{{content_blocks.${rokt_calendar_add_event}}}" in proc.stdout
    assert proc.stdout == snapshot


def test_a_user_that_breaks_the_json_body_shows_the_body_then_the_located_error() -> None:
    proc = render("sendbird-notification", "--user", str(USERS / "sendbird_quote_in_id.json"))
    assert proc.returncode == 1
    assert '"receivers": ["sb-"weird""],' in proc.stdout  # what Braze would have sent
    lines = proc.stderr.splitlines()
    assert lines[-4] == (
        "manifests/sendbird.yaml:48:22: spec.body: the rendered body is not valid JSON "
        "(Expecting ',' delimiter, rendered line 4 column 22) but Content-Type is "
        "application/json"
    )
    assert lines[-3].startswith(" 48 | ")  # the source line, then a caret under the spot
    assert lines[-2].index("^") == lines[-3].index("|") + 2 + 21
    assert lines[-1] == "error: the template breaks its contract"


def test_json_format_reports_the_contract_problem_too() -> None:
    user = str(USERS / "sendbird_quote_in_id.json")
    proc = render("sendbird-notification", "--user", user, "--format", "json")
    assert proc.returncode == 1
    (problem,) = json.loads(proc.stdout)["problems"]
    assert (problem["path"], problem["line"], problem["col"]) == ("manifests/sendbird.yaml", 48, 22)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("rokt-calendar-add",),
            "error: no WebhookTemplate named 'rokt-calendar-add' in manifests\n"
            "  hint: did you mean 'rokt-calendar-add-event'?\n",
        ),
        (
            ("mailchimp",),
            "error: no WebhookTemplate named 'mailchimp' in manifests\n"
            "  hint: templates: rokt-calendar-add-event, rokt-calendar-update-event, "
            "sendbird-notification\n",
        ),
        (
            ("sendbird-notification", "--user", "tests/templates/users/missing.json"),
            "tests/templates/users/missing.json: user profile file not found\n"
            '  hint: shape: {"external_id": …, "first_name": …, "custom_attributes": {…}}\n'
            "error: cannot use tests/templates/users/missing.json as a user profile\n",
        ),
    ],
)
def test_usage_errors_are_one_located_line(args: tuple[str, ...], expected: str) -> None:
    proc = render(*args)
    assert proc.returncode == 1
    assert proc.stderr == expected
    assert proc.stdout == ""


def test_credential_values_appear_nowhere() -> None:
    env = {**os.environ, **SECRETS}
    outputs = []
    for template in TEMPLATES:
        for extra in ((), ("--format", "json"), ("--dashboard",), ("--show-values",)):
            proc = render(template, *extra, env=env)
            assert proc.returncode == 0, proc.stderr
            outputs.append(proc.stdout + proc.stderr)
    text = "".join(outputs)
    for value in SECRETS.values():
        assert value not in text
    assert "Rokt-Calendar-API" in text and "SENDBIRD_API_TOKEN" in text  # named, not valued
