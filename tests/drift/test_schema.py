"""Schema checks: every kind of mismatch, unit-level and against the sandbox's definitions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from drift.lab import Lab
from reconciler.braze.reads import BrazeReads
from reconciler.drift.catalog import AttributeInfo, build_catalog
from reconciler.drift.protocol import AttributeDefinition, EventDefinition, SchemaBudget
from reconciler.drift.report import SchemaFinding, SchemaReport
from reconciler.drift.run import check_schema
from reconciler.drift.schema import braze_family, check_attributes, check_events

BOOL = AttributeInfo("is_vip", "boolean", where="m.yaml:3:9")


def _one(findings: list[SchemaFinding]) -> SchemaFinding:
    assert len(findings) == 1, findings
    return findings[0]


def test_declared_boolean_braze_says_string_forced() -> None:
    f = _one(check_attributes({"is_vip": BOOL}, [AttributeDefinition("is_vip", "String")], {}))
    assert (f.kind, f.declared, f.braze, f.drift, f.where) == (
        "type_mismatch",
        "boolean",
        "String",
        True,
        "m.yaml:3:9",
    )
    assert "forced to String" in f.message and "coerced or dropped" in f.message
    assert "set the type to Boolean in the dashboard" in f.action
    assert "or declare the attribute as string" in f.action


def test_declared_boolean_braze_detected_string() -> None:
    found = [AttributeDefinition("is_vip", "String (Automatically Detected)")]
    f = _one(check_attributes({"is_vip": BOOL}, found, {}))
    assert f.kind == "type_mismatch" and f.braze == "String"
    assert "detected String from an earlier write" in f.message


def test_blocklisted_attribute() -> None:
    found = [AttributeDefinition("is_vip", "Boolean", status="Blocklisted")]
    f = _one(check_attributes({"is_vip": BOOL}, found, {"is_vip": 10}))
    assert (f.kind, f.braze, f.drift) == ("blocklisted", "Blocklisted", True)
    assert "dropped silently" in f.message and "un-blocklist" in f.action


def test_an_attribute_braze_does_not_know_yet_is_a_note_until_written() -> None:
    f = _one(check_attributes({"is_vip": BOOL}, [], {}))
    assert (f.kind, f.drift) == ("unknown", False)
    assert "first write registers it" in f.message
    assert "create it in the dashboard (Data Settings > Custom Attributes) as Boolean" in f.action


def test_an_attribute_we_wrote_that_braze_does_not_know_is_drift() -> None:
    f = _one(check_attributes({"is_vip": BOOL}, [], {"is_vip": 1200}))
    assert (f.kind, f.drift) == ("unknown_written", True)
    assert "1,200 acknowledged values" in f.message


def test_array_length_below_the_declared_max_drops_values() -> None:
    info = AttributeInfo("stores", "array", max_length=25)
    f = _one(
        check_attributes(
            {"stores": info}, [AttributeDefinition("stores", "Array", array_length=10)], {}
        )
    )
    assert (f.kind, f.drift) == ("array_length", True)
    assert "newest 10 values" in f.message and "Max Length to 25" in f.action


@pytest.mark.parametrize(
    ("declared", "data_type"),
    [
        ("boolean", "Boolean"),
        ("integer", "Number (Automatically Detected)"),
        ("decimal", "Number"),
        ("float", "Number"),
        ("string", "String"),
        ("varchar", "String (Automatically Detected)"),
        ("date", "Date"),
        ("datetime", "Time"),
        ("array", "Array"),
        ("object", "Object"),
    ],
)
def test_matching_types_are_quiet(declared: str, data_type: str) -> None:
    info = AttributeInfo("a", declared)
    assert check_attributes({"a": info}, [AttributeDefinition("a", data_type)], {}) == []


def test_an_unknown_data_type_is_a_note_and_standard_fields_are_skipped() -> None:
    f = _one(
        check_attributes(
            {"a": AttributeInfo("a", "string")}, [AttributeDefinition("a", "Hologram")], {}
        )
    )
    assert (f.kind, f.drift) == ("unrecognised", False)
    assert check_attributes({"dob": AttributeInfo("dob", "date", standard=True)}, [], {}) == []
    assert braze_family("  object ARRAY ") == "object_array"


def test_events_unknown_and_blocklisted() -> None:
    found = [EventDefinition("a"), EventDefinition("b", status="Blocklisted")]
    findings = check_events({"a": "x:1:1", "b": "x:2:1", "c": "x:3:1"}, found)
    assert [(f.name, f.kind, f.drift) for f in findings] == [
        ("b", "blocklisted", True),
        ("c", "unknown", False),
    ]


def test_schema_against_the_sandbox_dashboard_definitions(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(10)
    # What a human did in the dashboard before the first apply.
    lab.admin("POST", "custom_attributes", {"name": "is_vip", "data_type": "String"})
    lab.admin(
        "POST",
        "custom_attributes",
        {"name": "order_count", "data_type": "Number", "blocklisted": True},
    )
    lab.admin(
        "POST",
        "custom_attributes",
        {"name": "shop_stores", "data_type": "Array", "array_length": 2},
    )
    lab.apply()
    report = lab.with_reads(lambda reads: _schema(lab, reads))
    kinds = {(f.name, f.kind) for f in report.findings}
    assert kinds == {
        ("is_vip", "type_mismatch"),
        ("order_count", "blocklisted"),
        ("shop_stores", "array_length"),
        ("shop_order_placed", "unknown"),
    }
    assert report.attributes_checked == 9 and report.standard_skipped == 1
    assert report.budget.used == 2  # one page of attributes, one of events
    assert report.budget.limit == 1000 and report.budget.remaining is not None


async def _schema(lab: Lab, reads: BrazeReads) -> SchemaReport:
    with lab.state() as state:
        return await check_schema(lab.load(), state, reads)


def test_listings_follow_link_pages_and_are_cached_within_a_run(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(1)
    for i in range(120):
        lab.admin("POST", "custom_attributes", {"name": f"extra_{i:03d}", "data_type": "Number"})

    async def twice(
        reads: BrazeReads,
    ) -> tuple[Sequence[AttributeDefinition], Sequence[AttributeDefinition], SchemaBudget]:
        first = await reads.custom_attributes()
        again = await reads.custom_attributes()
        return first, again, reads.schema_budget()

    first, again, budget = lab.with_reads(twice)
    assert len(first) == 120 and first is again
    assert [a.name for a in first] == sorted(a.name for a in first)
    assert budget.used == 3  # pages of 50, 50 and 20; the second call cost nothing
    assert budget.remaining == 997


def test_a_written_attribute_missing_from_braze_is_found_through_the_sandbox(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(5)
    lab.apply()
    catalog = build_catalog(lab.load())
    with lab.state() as state:
        written = state.attribute_counts()
    findings = check_attributes(catalog, [], written)
    by_name = {f.name: f.kind for f in findings}
    assert by_name["loyalty_tier"] == "unknown_written"
    assert "dob" not in by_name  # a standard field is never a custom attribute


def test_a_name_braze_has_in_another_case_is_drift_with_the_name_to_use() -> None:
    """Amperity's page: align the names with the ones already in Braze. `loyalty_tier` where
    Braze has `Loyalty_Tier` would create a second attribute beside it on the first write."""
    from reconciler.drift.definitions import adopt_definitions

    tier = AttributeInfo("loyalty_tier", "string")
    found = [AttributeDefinition("Loyalty_Tier", "String (Automatically Detected)")]
    f = _one(check_attributes({"loyalty_tier": tier}, found, {}))
    assert (f.kind, f.drift) == ("case_differs", True)
    assert "Braze has 'Loyalty_Tier'" in f.message and "name it 'Loyalty_Tier'" in f.action
    _, notes = adopt_definitions({"loyalty_tier": tier}, found, {})
    assert notes[0].startswith("! loyalty_tier: not in Braze, which has 'Loyalty_Tier'")
