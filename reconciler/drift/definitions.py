"""Custom attribute definitions as state resources: what `import` adopts, what drift re-reads.

Braze has no API to create or type a custom attribute (reference §4.1): the first write
registers it, or a human defines it in the dashboard. So reconciler never creates one; `import`
records the definitions Braze already has for the attributes the manifests declare, as
`CustomAttribute.<name>` resources, and drift reports when Braze's definition moved on since.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.drift.catalog import AttributeInfo
from reconciler.drift.protocol import AttributeDefinition
from reconciler.drift.report import SchemaFinding
from reconciler.drift.schema import AUTO, same_but_case
from reconciler.state.base import ResourceRecord

ADDRESS_PREFIX = "CustomAttribute."
COMPARED = ("data_type", "status", "array_length")


def address_of(name: str) -> str:
    return f"{ADDRESS_PREFIX}{name}"


def definition_spec(d: AttributeDefinition) -> dict[str, Any]:
    """The recorded form: Braze's type without "(Automatically Detected)", and how it is set."""
    return {
        "name": d.name,
        "data_type": d.data_type.replace(" (Automatically Detected)", "").strip(),
        "detected": AUTO in d.data_type.lower(),
        "status": d.status,
        "array_length": d.array_length,
        "description": d.description,
    }


@dataclass(frozen=True)
class DefinitionAdoption:
    address: str
    spec: Mapping[str, Any]
    note: str


def adopt_definitions(
    catalog: Mapping[str, AttributeInfo],
    definitions: Sequence[AttributeDefinition],
    applied: Mapping[str, ResourceRecord],
) -> tuple[list[DefinitionAdoption], list[str]]:
    """Adoptions (new or changed records) for declared custom attributes, and notes."""
    by_name = {d.name: d for d in definitions}
    adoptions: list[DefinitionAdoption] = []
    notes: list[str] = []
    declared = sorted(n for n, i in catalog.items() if not i.standard)
    for name in declared:
        found = by_name.get(name)
        if found is None:
            other = same_but_case(name, by_name)
            if other is not None:
                notes.append(
                    f"! {name}: not in Braze, which has '{other}' (names are case-sensitive: "
                    "the first write would create a second attribute); rename it in the "
                    "manifests to write to Braze's"
                )
            else:
                notes.append(f"+ {name}: not in Braze yet; the first write registers it")
            continue
        spec = definition_spec(found)
        record = applied.get(address_of(name))
        how = "detected" if spec["detected"] else "set in the dashboard"
        if record is None:
            note = f"← {name}: adopted ({spec['data_type']}, {how}, {spec['status']})"
        elif _compared(record.spec) != _compared(spec):
            note = f"← {name}: updated: {_changes(record.spec, spec)}"
        else:
            notes.append(f"= {name}: already in state")
            continue
        adoptions.append(DefinitionAdoption(address_of(name), spec, note))
        notes.append(note)
    others = sum(1 for n in by_name if n not in catalog)
    if others:
        notes.append(f"  {others} other custom attribute(s) in Braze: not declared, left alone")
    return adoptions, notes


def check_recorded(
    catalog: Mapping[str, AttributeInfo],
    definitions: Sequence[AttributeDefinition],
    applied: Mapping[str, ResourceRecord],
) -> list[SchemaFinding]:
    """Declared attributes whose Braze definition changed since `import` recorded it."""
    by_name = {d.name: d for d in definitions}
    findings: list[SchemaFinding] = []
    for name, info in sorted(catalog.items()):
        record = applied.get(address_of(name))
        if record is None or info.standard:
            continue
        found = by_name.get(name)
        if found is None:
            message = (
                "Braze no longer lists this attribute, which `import` recorded: it was deleted "
                "in the dashboard"
            )
            braze = "(not in Braze)"
        elif _compared(record.spec) != _compared(definition_spec(found)):
            message = "Braze's definition changed since `import` recorded it: " + _changes(
                record.spec, definition_spec(found)
            )
            braze = definition_spec(found)["data_type"]
        else:
            continue
        findings.append(
            SchemaFinding(
                "attribute",
                name,
                "definition_changed",
                str(info.type),
                str(braze),
                message,
                "if the change was intended, run `reconciler import` to record it; otherwise "
                "restore it in the dashboard (Data Settings > Custom Attributes)",
                info.where,
            )
        )
    return findings


def _compared(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(spec.get(k) for k in COMPARED)


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k} {before.get(k)} → {after.get(k)}" for k in COMPARED if before.get(k) != after.get(k)
    )
