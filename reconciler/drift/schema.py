"""Schema checks: declared attributes and events against Braze's definitions of them.

Braze creates an attribute on its first write and guesses the type, or takes the type a human
forced in the dashboard, and silently ignores writes to blocklisted attributes (reference §4.1,
§1.5, §11 gotchas 1 and 10). Each finding says what is wrong and what to do about it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from reconciler.drift.catalog import AttributeInfo
from reconciler.drift.protocol import AttributeDefinition, EventDefinition
from reconciler.drift.report import SchemaFinding

AUTO = "(automatically detected)"
DASHBOARD = "Data Settings > Custom Attributes"

# Declared type → the family Braze lists it as.
FAMILY = {
    "boolean": "boolean",
    "integer": "number",
    "float": "number",
    "decimal": "number",
    "string": "string",
    "varchar": "string",
    "date": "time",
    "datetime": "time",
    "array": "array",
    "object": "object",
}
_BRAZE_FAMILY = {
    "boolean": "boolean",
    "number": "number",
    "integer": "number",
    "float": "number",
    "string": "string",
    "date": "time",
    "time": "time",
    "array": "array",
    "object": "object",
    "object array": "object_array",
}
# How to name a declared type in Braze's dashboard.
DASHBOARD_TYPE = {
    "boolean": "Boolean",
    "number": "Number",
    "string": "String",
    "time": "Date",
    "array": "Array",
    "object": "Object",
}


def braze_family(data_type: str) -> str | None:
    """Braze's data_type, leniently (gotcha 20): "String (Automatically Detected)" → string."""
    text = data_type.strip().lower().replace(AUTO, "").strip()
    return _BRAZE_FAMILY.get(text)


def check_attributes(
    catalog: Mapping[str, AttributeInfo],
    definitions: Sequence[AttributeDefinition],
    written: Mapping[str, int],
) -> list[SchemaFinding]:
    """Every custom attribute of `catalog` against Braze. `written`: ledger values per name."""
    by_name = {d.name: d for d in definitions}
    findings: list[SchemaFinding] = []
    for name, info in sorted(catalog.items()):
        if info.standard or info.type is None:
            continue
        found = by_name.get(name)
        if found is None:
            unknown = _unknown(info, written.get(name, 0))
            other = same_but_case(name, by_name)
            if other is not None:
                unknown = dataclasses.replace(
                    unknown,
                    kind="case_differs",
                    message=f"Braze has '{other}', which differs only in case: names are "
                    f"case-sensitive, so the first write creates a second attribute beside it",
                    action=f"name it '{other}' in the manifests to write to the attribute Braze "
                    "has (and the partner's other writers use)",
                    drift=True,
                )
            findings.append(unknown)
            continue
        findings.extend(_compare(info, found))
    return findings


def same_but_case(name: str, known: Mapping[str, object]) -> str | None:
    """A name Braze has that equals `name` but for case (`Loyalty_Tier` for `loyalty_tier`)."""
    folded = name.casefold()
    return next((k for k in sorted(known) if k != name and k.casefold() == folded), None)


def _compare(info: AttributeInfo, found: AttributeDefinition) -> Iterable[SchemaFinding]:
    assert info.type is not None
    declared = info.type
    if found.blocklisted:
        yield SchemaFinding(
            "attribute",
            info.name,
            "blocklisted",
            declared,
            "Blocklisted",
            "Braze ignores every write to a blocklisted attribute: values are dropped silently",
            f"un-blocklist it in the dashboard ({DASHBOARD}), or remove it from the manifests",
            info.where,
        )
        return
    family = braze_family(found.data_type)
    want = FAMILY[declared]
    if family is None:
        yield SchemaFinding(
            "attribute",
            info.name,
            "unrecognised",
            declared,
            found.data_type,
            f"Braze lists a data type this version does not know ({found.data_type!r})",
            "check the type in the dashboard by hand",
            info.where,
            drift=False,
        )
    elif family != want:
        yield _mismatch(info, found, want)
    if want == "array" and info.max_length is not None and found.array_length is not None:
        if found.array_length < info.max_length:
            yield SchemaFinding(
                "attribute",
                info.name,
                "array_length",
                f"array, max_length {info.max_length}",
                f"Array, max length {found.array_length}",
                f"Braze keeps only the newest {found.array_length} values and drops older ones "
                "silently",
                f"raise the attribute's Max Length to {info.max_length} in the dashboard "
                f"({DASHBOARD}), or lower max_length in the manifest",
                info.where,
            )


def _mismatch(info: AttributeInfo, found: AttributeDefinition, want: str) -> SchemaFinding:
    forced = AUTO not in found.data_type.lower()
    braze = found.data_type.replace(" (Automatically Detected)", "")
    if forced:
        message = (
            f"declared {info.type}, but Braze's type is forced to {braze}: writes of another "
            "type are coerced or dropped silently"
        )
    else:
        message = (
            f"declared {info.type}, but Braze detected {braze} from an earlier write: segments "
            f"and Liquid compare values as {braze}"
        )
    action = (
        f"set the type to {DASHBOARD_TYPE[want]} in the dashboard ({DASHBOARD}) and resend the "
        f"values (stored values are not converted), or declare the attribute as "
        f"{_declared_for(braze_family(found.data_type))}"
    )
    return SchemaFinding(
        "attribute", info.name, "type_mismatch", str(info.type), braze, message, action, info.where
    )


def _declared_for(family: str | None) -> str:
    return {
        "boolean": "boolean",
        "number": "float or integer",
        "string": "string",
        "time": "datetime",
        "array": "array",
        "object": "object",
    }.get(family or "", "the type Braze lists")


def _unknown(info: AttributeInfo, written: int) -> SchemaFinding:
    dashboard_type = DASHBOARD_TYPE.get(FAMILY[str(info.type)], "its type")
    if written:
        return SchemaFinding(
            "attribute",
            info.name,
            "unknown_written",
            str(info.type),
            "(not in Braze)",
            f"state holds {written:,} acknowledged values, but Braze does not know the "
            "attribute: the writes were dropped, or it was deleted in the dashboard",
            "check the dashboard's deleted and blocklisted attributes; `reconciler drift` "
            "samples show which users lack it, and removing their ledger rows makes the next "
            "apply resend them",
            info.where,
        )
    return SchemaFinding(
        "attribute",
        info.name,
        "unknown",
        str(info.type),
        "(not in Braze yet)",
        "Braze does not know this attribute yet: the first write registers it, with a type "
        "guessed from that value",
        f"to fix the type up front, create it in the dashboard ({DASHBOARD}) as "
        f"{dashboard_type} before the first apply; otherwise nothing to do",
        info.where,
        drift=False,
    )


def check_events(
    declared: Mapping[str, str], definitions: Sequence[EventDefinition]
) -> list[SchemaFinding]:
    """Declared events (name → manifest location) against GET /events."""
    by_name = {d.name: d for d in definitions}
    findings: list[SchemaFinding] = []
    for name, where in sorted(declared.items()):
        found = by_name.get(name)
        if found is None:
            findings.append(
                SchemaFinding(
                    "event",
                    name,
                    "unknown",
                    "event",
                    "(not in Braze yet)",
                    "Braze lists an event once it has received one",
                    "nothing to do until the first event is sent; if events were sent, check "
                    "the name's spelling and case",
                    where,
                    drift=False,
                )
            )
        elif found.blocklisted:
            findings.append(
                SchemaFinding(
                    "event",
                    name,
                    "blocklisted",
                    "event",
                    "Blocklisted",
                    "Braze drops every occurrence of a blocklisted event silently",
                    "un-blocklist it in the dashboard (Data Settings > Custom Events), or "
                    "remove it from the manifests",
                    where,
                )
            )
    return findings
