"""Drift reports rendered as text, markdown (GitHub issue body) and JSON: syrupy snapshots."""

from __future__ import annotations

import dataclasses
import json

import pytest
from syrupy.assertion import SnapshotAssertion

from reconciler.drift.protocol import SchemaBudget
from reconciler.drift.report import (
    AttributeDriftCount,
    BlockFinding,
    ContentBlockReport,
    DriftReport,
    SchemaFinding,
    SchemaReport,
    UserDataReport,
    ValueDrift,
)
from reconciler.drift.stats import wilson
from reconciler.drift.verify import VerifyReport
from reconciler.render.drift import marker, render_json, render_markdown, render_text, verify_lines

FINDINGS = (
    SchemaFinding(
        "attribute",
        "is_vip",
        "type_mismatch",
        "boolean",
        "String",
        "declared boolean, but Braze's type is forced to String: writes of another type are "
        "coerced or dropped silently",
        "set the type to Boolean in the dashboard (Data Settings > Custom Attributes) and resend "
        "the values (stored values are not converted), or declare the attribute as string",
        "manifests/amperity.yaml:12:9",
    ),
    SchemaFinding(
        "attribute",
        "churn_score",
        "unknown",
        "float",
        "(not in Braze yet)",
        "Braze does not know this attribute yet: the first write registers it, with a type "
        "guessed from that value",
        "to fix the type up front, create it in the dashboard as Number before the first apply; "
        "otherwise nothing to do",
        "manifests/amperity.yaml:15:9",
        drift=False,
    ),
    SchemaFinding(
        "event",
        "sendbird_notification",
        "blocklisted",
        "event",
        "Blocklisted",
        "Braze drops every occurrence of a blocklisted event silently",
        "un-blocklist it in the dashboard (Data Settings > Custom Events), or remove it",
        "manifests/sendbird.yaml:28:13",
    ),
)

EXAMPLES = (
    ValueDrift(
        "cust-000123-abcdef", "external_id", "loyalty_tier", "changed", '"gold"', '"bronze"'
    ),
    ValueDrift("cust-000123-abcdef", "external_id", "is_vip", "type", "true", '"true"'),
    ValueDrift("cust-000123-abcdef", "external_id", "dob", "changed", None, '"2001-01-01"', True),
    ValueDrift("cust-000456-fedcba", "external_id", "shop_stores", "missing", '["a","b"]', None),
    ValueDrift("ghost-9", "external_id", "email", "user_missing", None, None, True),
)


def users(**changes: object) -> UserDataReport:
    base = {
        "population": 120_000,
        "sampled": 500,
        "checked": 488,
        "drifted_users": 3,
        "recent_skipped": 12,
        "unsupported_skipped": 0,
        "attributes": (
            AttributeDriftCount("dob", 480, 1, pii=True),
            AttributeDriftCount("email", 488, 1, pii=True),
            AttributeDriftCount("is_vip", 488, 1),
            AttributeDriftCount("loyalty_tier", 488, 1),
            AttributeDriftCount("order_count", 488, 0),
            AttributeDriftCount("shop_stores", 300, 1),
        ),
        "examples": EXAMPLES,
        "estimate": wilson(3, 488, 119_000),
        "window_seconds": 300.0,
        "seed": 42,
        "export_requests": 10,
        "export_per_minute": 250,
    }
    base.update(changes)
    return UserDataReport(**base)  # type: ignore[arg-type]


def report(**changes: object) -> DriftReport:
    base = {
        "workspace": "production",
        "checked_at": "2026-11-22T07:00:00+00:00",
        "state_serial": 1234,
        "schema": SchemaReport(17, 4, 2, FINDINGS, SchemaBudget(3, 1000, 961)),
        "content_blocks": ContentBlockReport(
            3,
            (
                BlockFinding(
                    "ContentBlock.rokt_calendar_add_event",
                    "rokt_calendar_add_event",
                    "de2e06ce-f8a1-4915-95b2-03842b4988de",
                    "content_changed",
                    "the content differs from what apply sent: 12 → 13 lines, first difference "
                    "at line 4",
                    "run `reconciler apply` to put the manifests' version back",
                ),
            ),
        ),
        "users": users(),
    }
    base.update(changes)
    return DriftReport(**base)  # type: ignore[arg-type]


CLEAN = report(
    schema=SchemaReport(17, 4, 2, (), SchemaBudget(2, 1000, 998)),
    content_blocks=ContentBlockReport(3),
    users=users(drifted_users=0, examples=(), estimate=wilson(0, 488, 119_000), attributes=()),
)
NOTHING_YET = report(
    schema=SchemaReport(0, 0, 0, (), SchemaBudget(0)),
    content_blocks=ContentBlockReport(0, note="no content blocks applied yet"),
    users=users(
        checked=0,
        drifted_users=0,
        examples=(),
        estimate=None,
        recent_skipped=500,
        attributes=(),
        population=500,
    ),
)

KEY_CHANGED = report(
    schema=SchemaReport(17, 4, 2, (), SchemaBudget(2, 1000, 998)),
    content_blocks=ContentBlockReport(3),
    users=users(
        drifted_users=0,
        examples=(),
        estimate=wilson(0, 488, 119_000),
        attributes=(AttributeDriftCount("loyalty_tier", 488, 0),),
        unchecked_attributes=("dob", "email"),
        notes=(
            "the pii hash key is not the one the ledger's hashes were made with "
            "(RECONCILER_HASH_KEY changed): pii values were not compared",
        ),
    ),
)

EDITED_BLOCK = BlockFinding(
    "ContentBlock.sendbird_notification",
    "sendbird_notification",
    "6247dea5-0c1e-4a57-9d1b-2f1f0d7a1c55",
    "content_changed",
    "the content differs from what apply sent: 7 → 1 lines, first difference at line 1",
    "run `reconciler drift --repair`, then `reconciler apply`, to put the manifests' version back",
    {"content": "edited by hand"},
)
BLOCK_ONLY = report(
    schema=SchemaReport(17, 4, 2, (), SchemaBudget(2, 1000, 998)),
    content_blocks=ContentBlockReport(3, (EDITED_BLOCK,)),
    users=users(drifted_users=0, examples=(), estimate=wilson(0, 488, 119_000), attributes=()),
)

CASES = {
    "drift": report(),
    "block_edited": BLOCK_ONLY,
    "block_edited_repaired": dataclasses.replace(BLOCK_ONLY, blocks_repaired=1),
    "clean": CLEAN,
    "nothing_yet": NOTHING_YET,
    "key_changed": KEY_CHANGED,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_text(case: str, snapshot: SnapshotAssertion) -> None:
    assert render_text(CASES[case]) == snapshot


@pytest.mark.parametrize("case", sorted(CASES))
def test_markdown(case: str, snapshot: SnapshotAssertion) -> None:
    text = render_markdown(CASES[case])
    assert text.startswith(marker("production") + "\n")
    assert text == snapshot


@pytest.mark.parametrize("case", sorted(CASES))
def test_json(case: str, snapshot: SnapshotAssertion) -> None:
    text = render_json(CASES[case])
    assert json.loads(text)["drift"] is CASES[case].has_drift
    assert text == snapshot


def test_values_are_revealed_only_when_asked(snapshot: SnapshotAssertion) -> None:
    hidden = render_text(report()) + render_json(report())
    assert "cust-000123-abcdef" not in hidden and "2001-01-01" not in hidden
    shown = render_text(report(), show_values=True)
    assert "cust-000123-abcdef" in shown and "2001-01-01" in shown
    assert shown == snapshot
    assert render_json(report(), show_values=True) == snapshot


def test_verify_lines(snapshot: SnapshotAssertion) -> None:
    ok = VerifyReport(100, 98, 0, (), 300.0, 2.1, 1, 2)
    dropped = VerifyReport(100, 98, 2, EXAMPLES[:2] + EXAMPLES[3:4], 300.0, 301.5, 9, 10)
    assert "\n".join(verify_lines(ok) + verify_lines(dropped)) == snapshot


def test_markdown_is_capped_for_an_issue_body() -> None:
    many = tuple(
        ValueDrift(f"user-{i:08d}-xxxxxxxx", "external_id", "a" * 200, "changed", '"x"', '"y"')
        for i in range(400)
    )
    text = render_markdown(report(users=users(examples=many)))
    assert len(text) <= 65_000 and text.endswith("--format json`.\n")
