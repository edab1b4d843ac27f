"""Every manifest rule, each with a failing manifest whose exact message is snapshot-tested."""

from __future__ import annotations

from pathlib import Path

import pytest
from manifests.helpers import Edit, copy_workspace, run_cli
from syrupy.assertion import SnapshotAssertion

W, A, Q, R, S = (
    "workspace.yaml",
    "amperity.yaml",
    "actioniq.yaml",
    "rokt_calendar.yaml",
    "sendbird.yaml",
)
HEAD = "apiVersion: reconciler/v1\n"

CASES: dict[str, list[Edit]] = {
    # Loading: YAML, envelope, fields.
    "yaml_syntax_error": [
        Edit(S, "  integration: sendbird\n  attributes:", "  integration: [sendbird\n  attributes:")
    ],
    "duplicate_key": [
        Edit(
            W, "  api_key_env: BRAZE_API_KEY\n", "  api_key_env: BRAZE_API_KEY\n  instance: US-02\n"
        )
    ],
    "missing_api_version": [
        Edit(Q, "apiVersion: reconciler/v1\nkind: EventStream", "kind: EventStream")
    ],
    "unsupported_api_version": [
        Edit(
            Q,
            "apiVersion: reconciler/v1\nkind: EventStream",
            "apiVersion: reconciler/v2\nkind: EventStream",
        )
    ],
    "unknown_kind_suggests": [Edit(Q, "kind: EventStream", "kind: EventStrem")],
    "unknown_field_suggests": [Edit(Q, "  on_exit: unset", "  on_exitt: unset")],
    "missing_required_field": [Edit(A, "  identifier_column: external_id\n", "")],
    "bad_enum_value": [Edit(Q, "  on_exit: unset", "  on_exit: delete")],
    "bad_attribute_type": [
        Edit(A, "{name: churn_score, type: Float}", "{name: churn_score, type: Flaot}")
    ],
    "not_a_mapping": [Edit("extra.yaml", "", "- just\n- a list\n")],
    # Names and references.
    "duplicate_name": [
        Edit(
            S,
            "metadata: {name: sendbird-user-ids}",
            "metadata: {name: amperity-customer-attributes}",
        )
    ],
    "no_workspace": [
        Edit(
            W,
            "kind: Workspace\nmetadata: {name: production}\nspec:\n  instance: US-03\n  api_key_env: BRAZE_API_KEY\n  guards:\n    max_data_points: 2000000\n    max_audience_flip_pct: 25\n---\n",
            "kind: Integration\nmetadata: {name: custom-one}\nspec: {partner: custom}\n---\n",
        )
    ],
    "two_workspaces": [
        Edit(
            "staging.yaml",
            "",
            HEAD + "kind: Workspace\nmetadata: {name: staging}\nspec: {instance: EU-01}\n",
        )
    ],
    "unknown_integration": [
        Edit(S, "  integration: sendbird\n  source:", "  integration: sendbrd\n  source:")
    ],
    "undeclared_sync_attribute": [
        Edit(A, "    churn_score: churn_score\n", "    churn_score: churn_scor\n")
    ],
    "missing_source_file": [
        Edit(A, "data/amperity/braze_customer_attributes.csv", "data/amperity/missing.csv")
    ],
    "missing_preview_user": [Edit(S, "fixtures/sendbird_user.json", "fixtures/nobody.json")],
    # Ownership.
    "two_writers": [
        Edit(
            S,
            "columns: {sendbird_user_id: sendbird_id}",
            "columns: {sendbird_user_id: sendbird_id, loyalty: loyalty_tier}",
        )
    ],
    "outside_owned_namespace": [
        Edit(
            R,
            '- {name: "rokt:account_name", type: array, max_length: 25}',
            '- {name: "account_name", type: array, max_length: 25}',
        )
    ],
    "inside_another_namespace": [
        Edit(A, "- {name: is_vip, type: Boolean}", '- {name: "rokt:vip", type: Boolean}')
    ],
    # ActionIQ.
    "actioniq_attribute_breaks_convention": [
        Edit(
            Q,
            '  split_id: "2"                   # attribute AIQ_48213_2\n',
            '  split_id: "2"\n  attribute: aiq_high_value\n',
        )
    ],
    "actioniq_attribute_not_boolean": [
        Edit(A, "    - {name: is_vip, type: Boolean}\n", "    - {name: is_vip, type: Boolean}\n"),
        Edit(
            "aiq_schema.yaml",
            "",
            HEAD
            + "kind: AttributeSchema\nmetadata: {name: aiq}\nspec:\n  integration: actioniq\n  attributes:\n    - {name: AIQ_48213_2, type: string}\n",
        ),
    ],
    "actioniq_split_required": [
        Edit(Q, '  split_id: "1"                   # attribute AIQ_51877_1\n', "")
    ],
    "custom_mapping_needs_attribute": [
        Edit(
            "custom.yaml",
            "",
            HEAD
            + "kind: Integration\nmetadata: {name: crm}\nspec: {partner: custom, owns: ['crm_*']}\n---\n"
            + HEAD
            + "kind: AudienceMapping\nmetadata: {name: crm-vip}\nspec:\n  integration: crm\n  members: {path: data/actioniq/aiq_48213_2.csv}\n",
        )
    ],
    # Rokt Calendar: only the attributes its page lists, spelled as it spells them.
    "rokt_attribute_wrong_case": [
        Edit(
            R,
            '    - {name: "rokt:subscriber_email", type: array, max_length: 25, pii: true}\n',
            '    - {name: "rokt:subscriber_email", type: array, max_length: 25, pii: true}\n'
            '    - {name: "rokt:optin1", type: array, max_length: 25}\n',
        )
    ],
    "rokt_attribute_not_sent_by_rokt": [
        Edit(
            R,
            '    - {name: "rokt:subscriber_email", type: array, max_length: 25, pii: true}\n',
            '    - {name: "rokt:subscriber_email", type: array, max_length: 25, pii: true}\n'
            '    - {name: "rokt:calendar_name", type: array, max_length: 25}\n',
        )
    ],
    # Standard fields: French names (the Amperity page is French), and Braze's own types.
    "french_name_for_a_standard_field": [
        Edit(
            A,
            "    - {name: is_vip, type: Boolean}\n",
            "    - {name: is_vip, type: Boolean}\n    - {name: Prénom, type: String}\n",
        )
    ],
    "standard_field_declared_with_another_type": [
        Edit(
            A,
            "{name: email, type: String, standard: true",
            "{name: email, type: Integer, standard: true",
        )
    ],
    "sendbird_id_not_text": [
        Edit(S, "{name: sendbird_id, type: string", "{name: sendbird_id, type: integer")
    ],
    # A stray quote in a CSV swallowed every later row, silently: now a located error.
    "csv_members_with_an_unclosed_quote": [
        Edit("data/actioniq/aiq_48213_2.csv", "\ncust-0002\n", '\n"cust-0002\n')
    ],
    "csv_sync_with_an_unclosed_quote": [
        Edit("data/sendbird/user_ids.csv", "cust-0002,sb-user-0002", 'cust-0002,"sb-user-0002')
    ],
    # One document's typo does not hide another file's errors (all of them at once).
    "a_kind_typo_does_not_hide_other_files_errors": [
        Edit(A, "  integration: amperity\n  source:", "  integration: amperityy\n  source:"),
        Edit(S, "kind: AttributeSync", "kind: AttributeSynk"),
    ],
    "a_duplicate_key_does_not_hide_later_documents": [
        Edit(Q, "  on_exit: unset\n---\napiVersion", "  on_exitt: unset\n---\napiVersion"),
        Edit(Q, "  on_exit: set_false\n", "  on_exit: set_false\n  on_exit: unset\n"),
    ],
    # Rokt Calendar's attributes are arrays, and its event is `subscribe`, spelled so.
    "rokt_attribute_not_an_array": [
        Edit(
            R,
            '{name: "rokt:account_code", type: array, max_length: 25}',
            '{name: "rokt:account_code", type: string, max_length: 25}',
        )
    ],
    "rokt_subscribe_event_misspelled": [
        Edit(R, "    - name: subscribe\n", "    - name: Subscribe\n")
    ],
    # One source per attribute: two writers would leave the plan one of them, silently.
    "actioniq_audience_mapped_twice": [
        Edit(
            Q,
            "",
            "---\n"
            + HEAD
            + "kind: AudienceMapping\nmetadata: {name: aiq-high-value-again}\nspec:\n"
            + "  integration: actioniq\n  audience_id: 48213\n  split_id: 2\n"
            + "  members: {path: data/actioniq/aiq_51877_1.csv, identifier_column: external_id}\n",
        )
    ],
    "actioniq_ids_collide_through_an_underscore": [
        Edit(Q, 'audience_id: "48213"\n  split_id: "2"', 'audience_id: "1_2"\n  split_id: "3"'),
        Edit(Q, 'audience_id: "51877"\n  split_id: "1"', 'audience_id: "1"\n  split_id: "2_3"'),
    ],
    "sync_writes_an_attribute_from_two_columns": [
        Edit(
            A, "    ltv: lifetime_value\n", "    ltv: lifetime_value\n    ltv_eur: lifetime_value\n"
        )
    ],
    # A braze_id column is never sent as external_id.
    "braze_id_column_read_as_external_id": [
        Edit(
            Q,
            "members: {path: data/actioniq/aiq_48213_2.csv, identifier_column: external_id}",
            "members: {path: data/actioniq/aiq_48213_2.csv, identifier_column: braze_id}",
        )
    ],
    "event_stream_braze_id_read_as_external_id": [
        Edit(Q, "identifier: external_id, time: timestamp", "identifier: braze_id, time: timestamp")
    ],
    "event_braze_id_fallback_under_braze_id": [
        Edit(
            W,
            "  partner: actioniq\n  identifier: external_id\n",
            "  partner: actioniq\n  identifier: braze_id\n",
        ),
        Edit(
            Q,
            "identifier: external_id, time: timestamp",
            "identifier: braze_id, braze_id: braze_id, time: timestamp",
        ),
    ],
    # ActionIQ's AIQ_ attributes are booleans, however written.
    "actioniq_declared_attribute_not_boolean": [
        Edit(
            Q,
            "",
            "---\n"
            + HEAD
            + "kind: AttributeSchema\nmetadata: {name: aiq-scores}\nspec:\n"
            + "  integration: actioniq\n  attributes:\n    - {name: AIQ_900_1, type: string}\n",
        )
    ],
    # Partner endpoints: what Rokt Calendar's and Sendbird's APIs accept.
    "rokt_request_not_posted": [Edit(R, "  method: POST\n", "  method: PUT\n")],
    "rokt_url_neither_endpoint": [
        Edit(
            R, "/v1/subscriptionevent/{{accountCode}}\n", "/v1/subscriptionevents/{{accountCode}}\n"
        )
    ],
    "rokt_body_not_sent_as_json": [
        Edit(R, "    Content-Type: application/json\n", "    Content-Type: text/plain\n")
    ],
    "sendbird_recipient_not_a_sendbird_id": [
        Edit(
            S,
            '"receivers": ["{{custom_attribute.${sendbird_id}}}"]',
            '"receivers": ["{{${email_address}}}"]',
        )
    ],
    "sendbird_token_from_an_attribute": [
        Edit(
            S,
            "    Api-Token: SENDBIRD_API_TOKEN ",
            '    Api-Token: "{{custom_attribute.${sendbird_id}}}" ',
        )
    ],
    "sendbird_not_a_sendbird_endpoint": [
        Edit(
            S,
            "url: https://api-example.notifications.sendbird.com/v3/notifications/realtime",
            "url: http://example.com/notifications",
        )
    ],
    "sendbird_token_header_missing": [
        Edit(
            S,
            "    Api-Token: SENDBIRD_API_TOKEN        # replaced in the dashboard's Settings tab, never here\n",
            "",
        )
    ],
    # Rokt Calendar's subscription event: the fields its page marks required.
    "rokt_event_notify_before_not_minutes": [
        Edit(
            R,
            "{% capture notifyBefore %}15{% endcapture %}",
            "{% capture notifyBefore %}15 min{% endcapture %}",
        )
    ],
    "rokt_event_start_not_a_datetime": [
        Edit(
            R,
            "{% capture eventStart %}2019-02-21T15:00:00{% endcapture %}",
            "{% capture eventStart %}21/02/2019 15:00{% endcapture %}",
        )
    ],
    # Sendbird's tracking event: a String `status`, SENT and READ.
    "sendbird_status_not_string": [
        Edit(
            S,
            "properties: {status: {type: string, enum: [SENT, READ], required: true}}",
            "properties: {status: {type: integer, required: true}}",
        )
    ],
    "sendbird_status_values": [
        Edit(
            S,
            "properties: {status: {type: string, enum: [SENT, READ], required: true}}",
            "properties: {status: {type: string, enum: [sent, read], required: true}}",
        )
    ],
    "sendbird_status_missing": [
        Edit(
            S,
            "properties: {status: {type: string, enum: [SENT, READ], required: true}}",
            "properties: {state: {type: string, enum: [SENT, READ], required: true}}",
        )
    ],
    # Amperity / standard fields.
    "birthday_is_dob": [
        Edit(
            A,
            "{name: dob, type: Date, standard: true, pii: true}",
            "{name: birthday, type: Date, pii: true}",
        ),
        Edit(A, "    birthdate: dob\n", "    birthdate: birthday\n"),
    ],
    "date_of_birth_is_dob": [
        Edit(
            A,
            "{name: dob, type: Date, standard: true, pii: true}",
            "{name: date_of_birth, type: Date}",
        ),
        Edit(A, "    birthdate: dob\n", "    birthdate: date_of_birth\n"),
    ],
    # The French Amperity page's own examples of names that would miss `dob`.
    "anniversaire_is_dob": [
        Edit(
            A,
            "{name: dob, type: Date, standard: true, pii: true}",
            "{name: anniversaire, type: Date, pii: true}",
        ),
        Edit(A, "    birthdate: dob\n", "    birthdate: anniversaire\n"),
    ],
    "date_de_naissance_is_dob": [
        Edit(
            A,
            "{name: dob, type: Date, standard: true, pii: true}",
            '{name: "Date de naissance", type: Date, pii: true}',
        ),
        Edit(A, "    birthdate: dob\n", '    birthdate: "Date de naissance"\n'),
    ],
    "email_address_is_email": [
        Edit(
            A,
            "{name: email, type: String, standard: true, pii: true}",
            "{name: email_address, type: String}",
        ),
        Edit(A, "    email_address: email\n", "    email_address: email_address\n"),
    ],
    "phone_number_is_phone": [
        Edit(
            A,
            "    - {name: email, type: String, standard: true, pii: true}\n",
            "    - {name: email, type: String, standard: true, pii: true}\n    - {name: phone_number, type: String}\n",
        )
    ],
    "firstname_is_first_name": [
        Edit(
            A,
            "    - {name: email, type: String, standard: true, pii: true}\n",
            "    - {name: email, type: String, standard: true, pii: true}\n    - {name: FirstName, type: String}\n",
        )
    ],
    "dob_is_a_date": [
        Edit(
            A,
            "{name: dob, type: Date, standard: true, pii: true}",
            "{name: dob, type: Datetime, standard: true, pii: true}",
        )
    ],
    "standard_field_needs_flag": [
        Edit(
            A,
            "{name: dob, type: Date, standard: true, pii: true}",
            "{name: dob, type: Date, pii: true}",
        )
    ],
    "standard_flag_on_custom_attribute": [
        Edit(A, "{name: is_vip, type: Boolean}", "{name: is_vip, type: Boolean, standard: true}")
    ],
    "identifier_is_not_an_attribute": [
        Edit(
            A,
            "    - {name: email, type: String, standard: true, pii: true}\n",
            "    - {name: email, type: String, standard: true, pii: true}\n    - {name: external_id, type: String, standard: true}\n",
        )
    ],
    # Consent.
    "consent_needed": [
        Edit(
            A,
            "    - {name: email, type: String, standard: true, pii: true}\n",
            "    - {name: email, type: String, standard: true, pii: true}\n    - {name: email_subscribe, type: String, standard: true}\n",
        )
    ],
    # Endpoint.
    "unknown_instance": [Edit(W, "  instance: US-03", "  instance: US-09")],
    "unknown_dashboard": [
        Edit(W, "  instance: US-03", "  dashboard_url: https://dashboard-42.braze.com")
    ],
    "conflicting_endpoints": [
        Edit(
            W,
            "  instance: US-03",
            "  instance: US-03\n  rest_endpoint: https://rest.fra-01.braze.eu",
        )
    ],
    "no_endpoint": [Edit(W, "  instance: US-03\n", "")],
    # Secrets: the message never echoes the value.
    "literal_braze_key": [
        Edit(
            W,
            "  api_key_env: BRAZE_API_KEY",
            "  api_key_env: BRAZE_API_KEY\n  state: sqlite:///x.db?key=3f2a9c1e-1b2c-4d5e-8f90-123456789abc",
        )
    ],
    "literal_bearer_token": [
        Edit(
            S,
            "    Api-Token: SENDBIRD_API_TOKEN",
            "    Api-Token: Bearer a81bc8f3e09d4c1f8e2a7b6d5c4e3f2a",
        )
    ],
    # Liquid.
    "liquid_error_in_block_body": [
        Edit(S, '"template_key": "order_update",', '"template_key": "{% if x %}order_update",')
    ],
    "liquid_error_in_url": [
        Edit(
            R,
            "/subscriptionevent/{{accountCode}}/update",
            "/subscriptionevent/{{accountCode | }}/update",
        )
    ],
    "liquid_bad_connected_content_option": [
        Edit(
            R,
            ":save token :retry %}{{token.access_token}}\n  credentials: [Rokt-Calendar-API]\n  body: |\n    {% capture eventId %}Event_0001{% endcapture %}\n    {% capture eventTitle %}Summer Sale 2019{% endcapture %}",
            ":save token :retyr %}{{token.access_token}}\n  credentials: [Rokt-Calendar-API]\n  body: |\n    {% capture eventId %}Event_0001{% endcapture %}\n    {% capture eventTitle %}Summer Sale 2019{% endcapture %}",
        )
    ],
    "liquid_undeclared_attribute": [
        Edit(
            S,
            '"receivers": ["{{custom_attribute.${sendbird_id}}}"]',
            '"receivers": ["{{custom_attribute.${sendbird_user}}}"]',
        )
    ],
    "liquid_unlisted_credential": [
        Edit(
            R,
            "  credentials: [Rokt-Calendar-API]\n  body: |\n    {% capture eventId %}Event_0001{% endcapture %}\n    {% capture eventTitle %}Summer Sale 2019{% endcapture %}",
            "  credentials: []\n  body: |\n    {% capture eventId %}Event_0001{% endcapture %}\n    {% capture eventTitle %}Summer Sale 2019{% endcapture %}",
        )
    ],
    # Events.
    "reserved_event_property": [
        Edit(
            S,
            "properties: {status: {type: string, enum: [SENT, READ], required: true}}",
            "properties: {status: {type: string, enum: [SENT, READ]}, time: {type: datetime}}",
        )
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_reports_a_located_error(
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


def test_secret_value_never_echoed(tmp_path: Path) -> None:
    root = copy_workspace(tmp_path)
    for edit in CASES["literal_braze_key"] + CASES["literal_bearer_token"]:
        edit.apply(root)
    code, out = run_cli(tmp_path, "validate", "--manifests", "manifests", "--format", "json")
    assert code == 1
    assert "3f2a9c1e" not in out and "a81bc8f3" not in out
    assert out.count("reference an environment variable or credential name instead") == 2


def test_dashboard_url_resolves_to_rest_endpoint(tmp_path: Path) -> None:
    root = copy_workspace(tmp_path)
    Edit(W, "  instance: US-03", "  dashboard_url: https://dashboard-03.braze.com").apply(root)
    code, out = run_cli(tmp_path, "validate", "--manifests", "manifests")
    assert code == 0, out
    assert "https://rest.iad-03.braze.com" in out


def test_planted_errors_across_three_files_all_reported_in_one_run(
    tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    root = copy_workspace(tmp_path)
    planted = [
        *CASES["unknown_instance"],  # workspace.yaml
        *CASES["bad_attribute_type"],  # amperity.yaml
        *CASES["unknown_field_suggests"],  # actioniq.yaml
        *CASES["missing_preview_user"],  # sendbird.yaml
    ]
    for edit in planted:
        edit.apply(root)
    code, out = run_cli(tmp_path, "validate", "--manifests", "manifests")
    assert code == 1
    located = [line for line in out.splitlines() if line.startswith("manifests/")]
    assert len(located) == 4
    assert {line.split(":")[0] for line in located} == {
        "manifests/workspace.yaml",
        "manifests/amperity.yaml",
        "manifests/actioniq.yaml",
        "manifests/sendbird.yaml",
    }
    assert out == snapshot


def test_a_rokt_event_missing_a_required_field_validates_with_a_note(tmp_path: Path) -> None:
    """A body that leaves out a field Rokt Calendar requires, or whose preview renders it empty,
    is a note (a sketch of the body, like the design's, still validates; the value may come
    from data the preview lacks); a field present with a wrong value is an error."""
    root = copy_workspace(tmp_path)
    Edit(R, '    "title": "{{eventTitle}}",\n', "").apply(root)
    Edit(R, '    "notifyBefore": "{{notifyBefore}}"\n', '    "x": 1\n').apply(root)
    # empty as previewed: the value may come from data the preview does not have
    Edit(
        R,
        "{% capture eventTZ %}Eastern Standard Time{% endcapture %}",
        "{% capture eventTZ %}{{canvas_entry_properties.${tz}}}{% endcapture %}",
    ).apply(root)
    code, out = run_cli(tmp_path, "validate", "--manifests", "manifests")
    assert code == 0, out
    notes = [line for line in out.splitlines() if "required by Rokt Calendar" in line]
    assert notes == [
        "manifests/rokt_calendar.yaml:59:9: note: spec.body: event.notifyBefore (notifyBefore) "
        "is required by Rokt Calendar but is missing",
        "manifests/rokt_calendar.yaml:59:9: note: spec.body: event.title (eventTitle) "
        "is required by Rokt Calendar but is missing",
        "manifests/rokt_calendar.yaml:75:5: note: spec.body: event.timezone (eventTz) "
        "is required by Rokt Calendar but renders empty in the preview",
    ], out


def test_a_bad_pii_cell_is_located_without_its_value(tmp_path: Path) -> None:
    """`validate` errors are posted in pull requests: a `pii: true` column's bad value is
    located and explained, never shown (the CSV's dob column is pii)."""
    root = copy_workspace(tmp_path)
    data = root / "data/amperity/braze_customer_attributes.csv"
    text = data.read_text(encoding="utf-8")
    header, first, rest = text.split("\n", 2)
    column = header.split(",").index("birthdate")  # written as dob
    cells = first.split(",")
    cells[column] = "1990-13-45"
    data.write_text("\n".join([header, ",".join(cells), rest]), encoding="utf-8")
    code, out = run_cli(tmp_path, "validate", "--manifests", "manifests")
    assert code == 1
    assert f"braze_customer_attributes.csv:2:{column + 1}: birthdate: the value (pii, not" in out
    assert "1990-13-45" not in out
