"""`import` adopts custom attribute definitions; drift reports a definition changed since."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from drift.lab import Lab
from reconciler.commands.importing import ImportRequest, run_import
from reconciler.commands.planning import make_plan
from reconciler.drift.catalog import AttributeInfo
from reconciler.drift.definitions import adopt_definitions, check_recorded, definition_spec
from reconciler.drift.protocol import AttributeDefinition
from reconciler.state.base import ResourceRecord

CATALOG = {
    "is_vip": AttributeInfo("is_vip", "boolean", where="m.yaml:1:1"),
    "tier": AttributeInfo("tier", "string"),
    "dob": AttributeInfo("dob", "date", standard=True),
}


def record(d: AttributeDefinition) -> ResourceRecord:
    spec = definition_spec(d)
    return ResourceRecord(f"CustomAttribute.{d.name}", "h", d.name, spec, datetime.now(UTC))


def test_declared_definitions_are_adopted_and_the_rest_left_alone() -> None:
    found = [
        AttributeDefinition("is_vip", "Boolean (Automatically Detected)"),
        AttributeDefinition("someone_elses", "String"),
    ]
    adoptions, notes = adopt_definitions(CATALOG, found, {})
    assert [(a.address, a.spec["data_type"], a.spec["detected"]) for a in adoptions] == [
        ("CustomAttribute.is_vip", "Boolean", True)
    ]
    assert notes == [
        "← is_vip: adopted (Boolean, detected, Active)",
        "+ tier: not in Braze yet; the first write registers it",
        "  1 other custom attribute(s) in Braze: not declared, left alone",
    ]


def test_a_recorded_definition_is_kept_unless_braze_changed_it() -> None:
    before = AttributeDefinition("is_vip", "Boolean")
    applied = {"CustomAttribute.is_vip": record(before)}
    same, notes = adopt_definitions(CATALOG, [before], applied)
    assert same == [] and notes[0] == "= is_vip: already in state"
    changed, notes = adopt_definitions(CATALOG, [AttributeDefinition("is_vip", "String")], applied)
    assert notes[0] == "← is_vip: updated: data_type Boolean → String"
    assert len(changed) == 1


def test_drift_reports_a_definition_changed_or_deleted_since_import() -> None:
    applied = {
        "CustomAttribute.is_vip": record(AttributeDefinition("is_vip", "Boolean")),
        "CustomAttribute.tier": record(AttributeDefinition("tier", "String")),
    }
    now = [AttributeDefinition("is_vip", "Boolean", status="Blocklisted")]
    findings = check_recorded(CATALOG, now, applied)
    assert [(f.name, f.kind, f.braze) for f in findings] == [
        ("is_vip", "definition_changed", "Boolean"),
        ("tier", "definition_changed", "(not in Braze)"),
    ]
    assert "status Active → Blocklisted" in findings[0].message
    assert "deleted in the dashboard" in findings[1].message
    assert check_recorded(CATALOG, [AttributeDefinition("is_vip", "Boolean")], {}) == []


def test_import_on_a_live_workspace_then_plan_and_drift(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(10)
    # A live workspace: the attributes exist already, one typed by hand in the dashboard.
    lab.admin("POST", "custom_attributes", {"name": "order_count", "data_type": "Number"})
    for name in ("loyalty_tier", "is_vip", "shop_stores"):
        lab.admin("POST", "custom_attributes", {"name": name, "data_type": "String"})
    report = run_import(ImportRequest(lab.manifests, lab.state_url), transport=lab.transport())
    (section,) = [s for s in report.sections if s.title == "Custom attribute definitions"]
    assert sorted(a.address for a in section.adoptions) == [
        "CustomAttribute.is_vip",
        "CustomAttribute.loyalty_tier",
        "CustomAttribute.order_count",
        "CustomAttribute.shop_stores",
    ]
    assert section.requests == 1
    with lab.state() as state:
        recorded = state.resources()["CustomAttribute.order_count"]
    assert recorded.spec["data_type"] == "Number" and recorded.remote_id == "order_count"

    again = run_import(ImportRequest(lab.manifests, lab.state_url), transport=lab.transport())
    assert not [a for s in again.sections for a in s.adoptions if "CustomAttribute" in a.address]

    with tempfile.TemporaryDirectory() as spool:
        plan = make_plan(lab.manifests, lab.state_url, Path(spool)).plan
    # Braze has no API to create attributes: the plan never proposes to recreate them.
    assert not [r for r in plan.resource_changes if r.address.startswith("CustomAttribute.")]

    lab.admin("POST", "custom_attributes", {"name": "order_count", "data_type": "String"})
    drift = lab.drift()
    changed = [f for f in drift.schema.findings if f.kind == "definition_changed"]
    assert [(f.name, f.braze) for f in changed] == [("order_count", "String")]
    assert drift.has_drift
