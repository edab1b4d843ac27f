"""Rendering webhook templates as Braze would: the partner templates against sample users, and
each Braze Liquid rule (arrays, escapes, stubs, abort, JSON contract) on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from reconciler.errors import SourceDataError
from reconciler.manifests import load_workspace
from reconciler.manifests.kinds import WebhookTemplateSpec
from reconciler.render.template import request_text
from reconciler.templates.braze_liquid import parse_braze_liquid
from reconciler.templates.profile import (
    EMPTY_PROFILE,
    HIDDEN,
    UserProfile,
    load_profile,
    masked,
)
from reconciler.templates.render import (
    TemplateRenderError,
    render_field,
    render_request,
)

REPO = Path(__file__).resolve().parents[2]
USERS = Path(__file__).parent / "users"
M = load_workspace(REPO / "manifests")
TEMPLATES = {t.name: t for t in M.webhook_templates}

# Each partner template against its preview user and against the sample users of tests/.
CASES = [
    ("rokt-calendar-add-event", "preview"),
    ("rokt-calendar-add-event", "rokt_three_subscriptions"),
    ("rokt-calendar-add-event", "rokt_no_subscriptions"),
    ("rokt-calendar-update-event", "preview"),
    ("rokt-calendar-update-event", "rokt_three_subscriptions"),
    ("sendbird-notification", "preview"),
    ("sendbird-notification", "sendbird_no_name"),
]


def _user(template: str, user: str) -> UserProfile:
    if user == "preview":
        rel = TEMPLATES[template].spec.preview_user
        assert rel is not None
        return load_profile(M.path(rel), rel)
    return load_profile(USERS / f"{user}.json", f"users/{user}.json")


def _spec(**changes: object) -> WebhookTemplateSpec:
    base = {"integration": "x", "content_block": "b", "url": "https://example.com/hook"}
    return WebhookTemplateSpec.model_validate({**base, **changes})


def _field(source: str, fields: dict[str, object] | None = None, stubs: dict | None = None) -> str:
    user = UserProfile("test", fields or {})
    return render_field(parse_braze_liquid(source), user, stubs or {}).text


@pytest.mark.parametrize(("template", "user"), CASES)
def test_partner_template_renders_the_request_braze_would_send(
    template: str, user: str, snapshot: SnapshotAssertion
) -> None:
    r = render_request(template, TEMPLATES[template].spec, _user(template, user))
    assert r.aborted is None
    assert r.is_json and r.json_body is not None
    # The whole request as an HTTP message, and the JSON body on its own, both reviewed.
    assert request_text(r) == snapshot(name="request")
    assert json.dumps(r.json_body, indent=2, ensure_ascii=False) == snapshot(name="json_body")


def test_rokt_reads_accounts_and_subscriptions_from_the_array_attributes() -> None:
    r = render_request(
        "rokt-calendar-add-event",
        TEMPLATES["rokt-calendar-add-event"].spec,
        _user("rokt-calendar-add-event", "rokt_three_subscriptions"),
    )
    # `{{custom_attribute.${rokt:account_code}}}[0] | split: '/' | first` → the first account
    assert r.url == "https://api.roktcalendar.com/v1/subscriptionevent/acme-eu"
    assert r.json_body["subscriptionIds"] == [
        "sub-11/9b1f22c0aa10",
        "sub-12/9b1f22c0aa10",
        "sub-13/9b1f22c0aa10",
    ]
    assert r.json_body["event"]["eventId"] == "Event_0001_cust-rokt-0042"


def test_connected_content_is_stubbed_and_the_credential_is_named_only() -> None:
    spec = TEMPLATES["rokt-calendar-add-event"].spec
    r = render_request("rokt-calendar-add-event", spec, EMPTY_PROFILE)
    assert r.headers["Authorization"] == "Bearer <preview>"
    (call,) = {c.url: c for c in r.connected_content}.values()
    assert call.url == "https://api.roktcalendar.com/oauth2/token"
    assert (call.credential, call.save) == ("Rokt-Calendar-API", "token")
    assert r.credentials == ("Rokt-Calendar-API",)


def test_a_save_without_a_stub_renders_a_visible_placeholder_and_warns() -> None:
    spec = _spec(
        headers={
            "Authorization": "Bearer {% connected_content https://x.test :save tok %}"
            "{{tok.access_token}}"
        }
    )
    r = render_request("t", spec, EMPTY_PROFILE)
    assert r.headers["Authorization"] == "Bearer ⟪tok.access_token: connected_content, not stubbed⟫"
    assert r.warnings == (
        "spec.headers.Authorization: connected_content :save tok has no preview stub; its "
        "fields render as ⟪tok.…: connected_content, not stubbed⟫ (declare "
        "spec.preview.connected_content.tok to preview real ones)",
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{custom_attribute.${tags}}}", "a, b/c, 3"),  # Braze prints arrays ", "-joined
        ("{{custom_attribute.${tags} | join: '|'}}", "a|b/c|3"),
        ("{{custom_attribute.${tags}[1]}}", "b/c"),
        ("{{custom_attribute.${tags} | first}}", "a"),
        ("{{custom_attribute.${tags}.size}}", "3"),
        ("{% for t in {{custom_attribute.${tags}}} %}[{{t}}]{% endfor %}", "[a][b/c][3]"),
        ("{% if custom_attribute.${tags} contains 'a' %}yes{% endif %}", "yes"),
        ("{% if custom_attribute.${none} == empty %}E{% else %}N{% endif %}", "E"),
        ("{% if custom_attribute.${tags} == empty %}E{% else %}N{% endif %}", "N"),
        ("{{custom_attribute.${flags}}}", "true, false"),
        ("{{custom_attribute.${missing}}}", ""),
    ],
)
def test_arrays_render_as_braze_renders_them(source: str, expected: str) -> None:
    fields = {"custom_attributes": {"tags": ["a", "b/c", 3], "none": [], "flags": [True, False]}}
    assert _field(source, fields) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ '{{' }}custom_attribute.${sendbird_id}}}", "{{custom_attribute.${sendbird_id}}}"),
        ("{{ '{{' }}${user_id}}}", "{{${user_id}}}"),
        ("{{${user_id}}}|{{${email_address}}}|{{${braze_id}}}", "u-1|u@example.com|b-1"),
        ("{{${first_name} | default: 'there'}}", "there"),
        ("{{event_properties.${status}}}-{{canvas_entry_properties.${plan}}}", "SENT-gold"),
        ("{{custom_attribute.${profile}.tier}}", "gold"),  # nested objects stay objects
        ("Price: ${{custom_attribute.${price}}}", "Price: $9.5"),
    ],
)
def test_personalization_tags_and_escapes(source: str, expected: str) -> None:
    fields = {
        "external_id": "u-1",
        "braze_id": "b-1",
        "email": "u@example.com",
        "event_properties": {"status": "SENT"},
        "canvas_entry_properties": {"plan": "gold"},
        "custom_attributes": {"profile": {"tier": "gold"}, "price": 9.5},
    }
    assert _field(source, fields) == expected


def test_abort_message_means_nothing_is_sent() -> None:
    spec = _spec(
        body='{% if custom_attribute.${sendbird_id} == null %}{% abort_message("no id") %}'
        "{% endif %}{}",
        headers={"Content-Type": "application/json"},
    )
    r = render_request("t", spec, EMPTY_PROFILE)
    assert r.aborted == "no id"
    assert r.body == "" and r.json_body is None
    assert request_text(r) == "# not sent: abort_message('no id')\n"


@pytest.mark.parametrize(
    ("body", "line", "col", "why"),
    [
        # A literal comma is missing: JSON notices at the next key, written on line 3.
        ('{\n  "a": 1\n  "b": 2\n}', 3, 3, "Expecting ',' delimiter"),
        # An output tag wrote an unquoted string: the error points at the tag, not the text.
        ('{\n  "title": {{custom_attribute.${title}}}\n}', 2, 12, "Expecting value"),
        # A value with a quote breaks the string it was pasted into.
        ('{"id": "{{custom_attribute.${id}}}", "n": 1}', 1, 9, "Expecting ',' delimiter"),
        # Whitespace control: the text after `-%}` still maps to its own line.
        ('{% assign x = 1 -%}\n  {"a": 1,}', 2, 11, "Expecting property name"),
    ],
)
def test_a_json_body_that_does_not_parse_is_located_at_the_template_line(
    body: str, line: int, col: int, why: str
) -> None:
    spec = _spec(headers={"Content-Type": "application/json; charset=utf-8"}, body=body)
    user = UserProfile("u", {"custom_attributes": {"title": "Sale", "id": 'a"b'}})
    with pytest.raises(TemplateRenderError) as e:
        render_request("t", spec, user)
    (problem,) = e.value.problems
    assert problem.field == ("spec", "body")
    assert (problem.line, problem.col) == (line, col), problem
    assert why in problem.message
    assert e.value.partial is not None  # the rendered body is still available to show


def test_non_json_bodies_are_not_checked() -> None:
    spec = _spec(headers={"Content-Type": "text/plain"}, body="not json {{${user_id}}}")
    r = render_request("t", spec, UserProfile("u", {"external_id": "u-9"}))
    assert r.body == "not json u-9"
    assert r.json_body is None


def test_vendor_json_content_types_are_checked() -> None:
    spec = _spec(headers={"content-type": "application/vnd.api+json"}, body="{")
    with pytest.raises(TemplateRenderError):
        render_request("t", spec, EMPTY_PROFILE)


def test_a_liquid_error_at_render_time_is_located() -> None:
    spec = _spec(body="line one\n{{ 'x' | divided_by: 0 }}")
    with pytest.raises(TemplateRenderError) as e:
        render_request("t", spec, EMPTY_PROFILE)
    (problem,) = e.value.problems
    assert (problem.line, problem.field) == (2, ("spec", "body"))


def test_masking_keeps_shapes_and_hides_personal_data() -> None:
    user = load_profile(USERS / "rokt_three_subscriptions.json")
    shown = masked(user, ["rokt:subscriber_email"])
    # placeholders, never a masked value that could pass for what Braze would be sent
    assert shown.fields["external_id"] == "⟪external_id⟫"
    assert shown.fields["braze_id"] == "⟪braze_id⟫"
    assert shown.fields["first_name"] == shown.fields["email"] == HIDDEN
    assert shown.custom_attributes["rokt:subscriber_email"] == [HIDDEN]
    assert (
        shown.custom_attributes["rokt:subscription_id"]
        == user.custom_attributes["rokt:subscription_id"]
    )


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ('{"external_id": "x",\n "custom_attributes": {', "2:24", "not valid JSON"),
        ('["x"]', "1:1", "a user profile is a JSON object"),
        ('{\n  "custom_attributes": [1]\n}', "2:3", "custom_attributes: not an object"),
    ],
)
def test_a_bad_profile_is_a_located_error(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = tmp_path / "user.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceDataError) as e:
        load_profile(path, "user.json")
    (d,) = e.value.diagnostics
    assert f"{d.location.line}:{d.location.col}" == where
    assert message in d.message
    assert d.location.path == "user.json"
