"""Partner rules from the seed pages: ownership, ActionIQ naming, standard fields, consent."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase

from reconciler.errors import Diagnostic, Location
from reconciler.manifests import endpoints
from reconciler.manifests.documents import Resource, suggest
from reconciler.manifests.kinds import WorkspaceSpec
from reconciler.manifests.model import Manifests, owns_patterns
from reconciler.manifests.partners import (
    ACTIONIQ_PREFIX,
    CONSENT_FIELDS,
    IDENTIFIER_FIELDS,
    ROKT_ATTRIBUTES,
    ROKT_PREFIX,
    ROKT_SUBSCRIBE_EVENT,
    SENDBIRD_STATUS_PROPERTY,
    SENDBIRD_STATUSES,
    STANDARD_FIELDS,
    STANDARD_TYPES,
    actioniq_attribute,
    standard_field_for,
)

SENDBIRD_ID = "sendbird_id"  # the recipient attribute its page names
RESERVED_EVENT_PROPERTIES = frozenset({"time", "event_name"})


def _writers(m: Manifests) -> dict[str, list[tuple[str, Location]]]:
    """attribute → [(integration, where it is written or declared)]."""
    out: dict[str, list[tuple[str, Location]]] = {}
    for schema in m.attribute_schemas:
        for i, attr in enumerate(schema.spec.attributes):
            out.setdefault(attr.name, []).append(
                (schema.spec.integration, schema.at("attributes", i, "name"))
            )
    for sync in m.attribute_syncs:
        for column, attribute in sync.spec.columns.items():
            out.setdefault(attribute, []).append(
                (sync.spec.integration, sync.at("columns", column))
            )
    for mapping in m.audience_mappings:
        name = m.attribute_of(mapping)
        if name:
            out.setdefault(name, []).append((mapping.spec.integration, mapping.location))
    return out


def ownership(m: Manifests) -> Iterator[Diagnostic]:
    """Each attribute has one writing integration, and its name is inside that one's `owns`."""
    for attribute, writers in sorted(_writers(m).items()):
        writers = [(name, loc) for name, loc in writers if name in m.integrations]
        integrations = list(dict.fromkeys(name for name, _ in writers))
        if not integrations:
            continue
        if len(integrations) > 1:
            first, second = integrations[0], integrations[1]
            where = next(loc for name, loc in writers if name == second)
            first_at = next(loc for name, loc in writers if name == first)
            yield Diagnostic(
                where,
                f"attribute '{attribute}' has two writers: integration '{first}' "
                f"({first_at}) and integration '{second}'",
                hint="each attribute has exactly one writing integration; pick one",
            )
            continue
        writer, where = integrations[0], writers[0][1]
        mine = owns_patterns(m.integrations[writer].spec)
        if mine and not any(fnmatchcase(attribute, p) for p in mine):
            yield Diagnostic(
                where,
                f"attribute '{attribute}' is outside integration '{writer}''s namespace "
                f"(owns: {', '.join(mine)})",
                hint="rename the attribute into the namespace, or widen `owns` on the integration",
            )
            continue
        for other, res in m.integrations.items():
            patterns = owns_patterns(res.spec)
            if other != writer and any(fnmatchcase(attribute, p) for p in patterns):
                yield Diagnostic(
                    where,
                    f"attribute '{attribute}' is in integration '{other}''s namespace "
                    f"({', '.join(patterns)}) but written by integration '{writer}'",
                    hint=f"let '{other}' write it, or rename the attribute",
                )


def one_source(m: Manifests) -> Iterator[Diagnostic]:
    """Each attribute is written by one column of one document. Two writers of one name (two
    mappings of one ActionIQ audience and split, `1_2`+`3` and `1`+`2_3`, two syncs, two
    columns of one sync) would leave the plan one of them: the other's rows would read as
    users missing from the source, and their cells be unset or flipped to false. (Writers of
    two integrations are `ownership`'s error already.)"""
    seen: dict[str, tuple[str, str, Location]] = {}
    for sync in m.attribute_syncs:
        for column, attribute in sync.spec.columns.items():
            writer = (sync.spec.integration, f"{sync.address} (column '{column}')")
            yield from _second_writer(seen, attribute, writer, sync.at("columns", column))
    for mapping in m.audience_mappings:
        spec = mapping.spec
        name = m.attribute_of(mapping)
        if name:
            field = "attribute" if spec.attribute else "audience_id" if spec.audience_id else None
            where = mapping.at(field) if field else mapping.location
            yield from _second_writer(seen, name, (spec.integration, mapping.address), where)


def _second_writer(
    seen: dict[str, tuple[str, str, Location]],
    attribute: str,
    writer: tuple[str, str],
    where: Location,
) -> Iterator[Diagnostic]:
    integration, label = writer
    first = seen.setdefault(attribute, (integration, label, where))
    if first[1:] == (label, where) or first[0] != integration:
        return
    yield Diagnostic(
        where,
        f"attribute '{attribute}' is written twice: by {first[1]} ({first[2]}) and by {label}",
        hint="each attribute has one source: merge the two into one file, or give one of "
        "them another attribute",
    )


def identifier_columns(m: Manifests) -> Iterator[Diagnostic]:
    """A column named after one Braze identifier is not read as another: ActionIQ exports both
    `braze_id` and `external_id`, and a `braze_id` column sent as external_id would make Braze
    create a profile per member whose external_id is someone's braze_id."""
    found: list[tuple[str, str | None, Location]] = []
    for sync in m.attribute_syncs:
        spec = sync.spec
        found.append((spec.integration, spec.identifier_column, sync.at("identifier_column")))
    for mapping in m.audience_mappings:
        column = mapping.spec.members.identifier_column
        where = mapping.at("members", "identifier_column")
        found.append((mapping.spec.integration, column, where))
    for stream in m.event_streams:
        column = stream.spec.fields.identifier
        found.append((stream.spec.integration, column, stream.at("fields", "identifier")))
        integration = m.integrations.get(stream.spec.integration)
        kind = integration.spec.identifier if integration else "external_id"
        if stream.spec.fields.braze_id is not None and kind != "external_id":
            yield Diagnostic(
                stream.at("fields", "braze_id"),
                f"fields.braze_id is the fallback of an external_id: integration "
                f"'{stream.spec.integration}' matches users on {kind} already",
                hint="remove fields.braze_id",
            )
    for name, column, where in found:
        integration = m.integrations.get(name)
        if integration is None or column is None:
            continue
        kind = integration.spec.identifier
        named = column.strip().lower()
        if named in IDENTIFIER_FIELDS and named != kind:
            harm = (
                f"Braze would create a profile per row whose {kind} is its {named}"
                if kind == "external_id"
                else f"each row's {named} would be looked up as a {kind} and match nobody"
            )
            yield Diagnostic(
                where,
                f"column '{column}' would be sent as {kind}: integration '{name}' matches users "
                f"on {kind}, and {harm}",
                hint=f"read the {kind} column, or set `identifier: {named}` on integration "
                f"'{name}'",
            )


def actioniq_mappings(m: Manifests) -> Iterator[Diagnostic]:
    for mapping in m.audience_mappings:
        integration = m.integrations.get(mapping.spec.integration)
        spec = mapping.spec
        if integration is None:
            continue  # reported as an unknown integration
        if integration.spec.partner != "actioniq":
            if not spec.attribute:
                yield Diagnostic(
                    mapping.at("integration"),
                    "spec.attribute: required for a non-ActionIQ AudienceMapping",
                    hint="name the boolean attribute this audience writes",
                )
            continue
        if not spec.audience_id or not spec.split_id:
            missing = "audience_id" if not spec.audience_id else "split_id"
            yield Diagnostic(
                mapping.at("integration", key=True),
                f"spec.{missing}: required for an ActionIQ audience "
                "(attribute AIQ_<audience_id>_<split_id>)",
            )
            continue
        expected = actioniq_attribute(spec.audience_id, spec.split_id)
        if spec.attribute and spec.attribute != expected:
            yield Diagnostic(
                mapping.at("attribute"),
                f"spec.attribute: '{spec.attribute}' breaks the ActionIQ convention; "
                f"this audience writes '{expected}'",
                hint="ActionIQ names the attribute AIQ_<Audience ID>_<Split ID>; drop `attribute:`",
            )


def rokt_attributes(m: Manifests) -> Iterator[Diagnostic]:
    """`rokt:` names are Rokt Calendar's: only the ones its page lists ever get a value.
    (Another integration declaring a `rokt:` name is an ownership error already.)"""
    for schema in m.attribute_schemas:
        integration = m.integrations.get(schema.spec.integration)
        if integration is None or integration.spec.partner != "rokt_calendar":
            continue
        for i, attr in enumerate(schema.spec.attributes):
            if attr.name in ROKT_ATTRIBUTES and attr.type != "array":
                yield Diagnostic(
                    schema.at("attributes", i, "type"),
                    f"'{attr.name}' is an array in Braze, not {attr.type}: Rokt Calendar adds "
                    "one '<value>/<account hash>' string per account, and its templates read "
                    "the items ([0] | split: '/', join)",
                    hint="declare it type: array",
                )
            if not attr.name.startswith(ROKT_PREFIX) or attr.name in ROKT_ATTRIBUTES:
                continue
            same = [a for a in ROKT_ATTRIBUTES if a.lower() == attr.name.lower()]
            if same:
                hint = f"Rokt Calendar spells it '{same[0]}' (attribute names are case-sensitive)"
            else:
                hint = suggest(attr.name, list(ROKT_ATTRIBUTES)) or (
                    "Rokt Calendar sends " + ", ".join(ROKT_ATTRIBUTES)
                )
            yield Diagnostic(
                schema.at("attributes", i, "name"),
                f"'{attr.name}' is not an attribute Rokt Calendar sends; a 'rokt:' name "
                "outside its list never gets a value",
                hint=hint,
            )


def rokt_events(m: Manifests) -> Iterator[Diagnostic]:
    """Rokt Calendar fires `subscribe` (event names are case-sensitive in Braze): a schema
    that spells it otherwise declares an event that never arrives."""
    for schema in m.event_schemas:
        integration = m.integrations.get(schema.spec.integration)
        if integration is None or integration.spec.partner != "rokt_calendar":
            continue
        for i, event in enumerate(schema.spec.events):
            folded = event.name.strip().lower()
            if event.name == ROKT_SUBSCRIBE_EVENT or folded not in ("subscribe", "subscribed"):
                continue
            why = " (event names are case-sensitive)" if folded == ROKT_SUBSCRIBE_EVENT else ""
            yield Diagnostic(
                schema.at("events", i, "name"),
                f"Rokt Calendar fires '{ROKT_SUBSCRIBE_EVENT}', not '{event.name}'{why}: a "
                "trigger on this name never fires",
                hint=f"name it '{ROKT_SUBSCRIBE_EVENT}'",
            )


def sendbird_ids(m: Manifests) -> Iterator[Diagnostic]:
    """Sendbird's user id, the recipient its template reads, is text (Sendbird user ids are
    strings, and the template writes it inside a JSON string)."""
    for schema in m.attribute_schemas:
        integration = m.integrations.get(schema.spec.integration)
        if integration is None or integration.spec.partner != "sendbird":
            continue
        for i, attr in enumerate(schema.spec.attributes):
            if attr.name == SENDBIRD_ID and attr.type not in ("string", "varchar"):
                yield Diagnostic(
                    schema.at("attributes", i, "type"),
                    f"'{SENDBIRD_ID}' holds Sendbird user ids, which are text, not {attr.type}",
                    hint="declare it type: string",
                )


def actioniq_booleans(m: Manifests) -> Iterator[Diagnostic]:
    """ActionIQ's AIQ_<Audience ID>_<Split ID> attributes are booleans, however written: a
    string or array under that name never matches an "is true" segment filter. (One an
    AudienceMapping writes is `writes_declared`'s error already.)"""
    mapped = set(map(m.attribute_of, m.audience_mappings))
    for schema in m.attribute_schemas:
        integration = m.integrations.get(schema.spec.integration)
        if integration is None or integration.spec.partner != "actioniq":
            continue
        for i, attr in enumerate(schema.spec.attributes):
            aiq = attr.name.startswith(ACTIONIQ_PREFIX) and attr.name not in mapped
            if aiq and attr.type != "boolean":
                yield Diagnostic(
                    schema.at("attributes", i, "type"),
                    f"'{attr.name}' is an ActionIQ audience attribute: a boolean in Braze, "
                    f"not {attr.type}",
                    hint="declare it type: boolean, or write it with an AudienceMapping",
                )


def standard_fields(m: Manifests) -> Iterator[Diagnostic]:
    for schema in m.attribute_schemas:
        for i, attr in enumerate(schema.spec.attributes):
            where = schema.at("attributes", i, "name")
            std = standard_field_for(attr.name)
            if attr.name in IDENTIFIER_FIELDS:
                yield Diagnostic(
                    where,
                    f"'{attr.name}' is a Braze identifier, not an attribute",
                    hint="identifiers are set by the integration's `identifier`",
                )
            elif std is not None and std != attr.name:
                yield Diagnostic(
                    where,
                    f"custom attribute '{attr.name}' duplicates the Braze standard profile "
                    f"field '{std}'",
                    hint=f"use the standard field: `{{name: {std}, standard: true}}`; a custom "
                    f"'{attr.name}' would never update '{std}'",
                )
            elif std is not None and not attr.standard:
                yield Diagnostic(
                    where,
                    f"'{attr.name}' is a Braze standard profile field; declare it with "
                    "`standard: true`",
                )
            elif attr.name == "dob" and attr.type != "date":
                yield Diagnostic(
                    schema.at("attributes", i, "type"),
                    f"'dob' is a date (YYYY-MM-DD) in Braze, not {attr.type}; Braze ignores "
                    "any other value",
                    hint="declare it type: Date",
                )
            elif attr.standard and attr.type not in STANDARD_TYPES.get(attr.name, (attr.type,)):
                wanted = " or ".join(STANDARD_TYPES[attr.name])
                yield Diagnostic(
                    schema.at("attributes", i, "type"),
                    f"'{attr.name}' is a {wanted} in Braze, not {attr.type}; Braze ignores or "
                    "refuses any other value",
                    hint=f"declare it type: {STANDARD_TYPES[attr.name][0]}",
                )
            elif attr.standard and attr.name not in STANDARD_FIELDS:
                yield Diagnostic(
                    schema.at("attributes", i, "standard"),
                    f"'{attr.name}' is not a Braze standard profile field",
                    hint="remove `standard: true` to declare a custom attribute",
                )


def consent(m: Manifests) -> Iterator[Diagnostic]:
    for schema in m.attribute_schemas:
        for i, attr in enumerate(schema.spec.attributes):
            if attr.name in CONSENT_FIELDS and not attr.consent:
                yield Diagnostic(
                    schema.at("attributes", i, "name"),
                    f"'{attr.name}' is subscription state, which Braze owns; writing it "
                    "needs `consent: true`",
                    hint="add `consent: true` only if this integration is the system of record "
                    "for consent",
                )


def resolve_endpoint(ws: Resource[WorkspaceSpec]) -> tuple[str | None, list[Diagnostic]]:
    spec = ws.spec
    found: list[tuple[str, str]] = []
    diags: list[Diagnostic] = []
    checks = (
        ("instance", spec.instance, endpoints.instance_by_name),
        ("rest_endpoint", spec.rest_endpoint, endpoints.instance_by_rest_endpoint),
        ("dashboard_url", spec.dashboard_url, endpoints.instance_by_dashboard),
    )
    for field, value, resolve in checks:
        if value is None:
            continue
        try:
            found.append((field, resolve(value)))
        except endpoints.UnknownInstance as e:
            diags.append(Diagnostic(ws.at(field), f"spec.{field}: {e}"))
    if len({rest for _, rest in found}) > 1:
        (f1, r1), (f2, r2) = found[0], next(x for x in found if x[1] != found[0][1])
        diags.append(
            Diagnostic(
                ws.at(f2),
                f"spec.{f2} resolves to {r2} but spec.{f1} resolves to {r1}",
                hint="give one of instance, rest_endpoint or dashboard_url",
            )
        )
    return (found[0][1] if found and not diags else None), diags


def event_properties(m: Manifests) -> Iterator[Diagnostic]:
    for schema in m.event_schemas:
        for i, event in enumerate(schema.spec.events):
            if event.name.startswith("$"):
                yield Diagnostic(
                    schema.at("events", i, "name"),
                    f"event name '{event.name}' may not start with '$'",
                )
            for prop in event.properties:
                if prop in RESERVED_EVENT_PROPERTIES or prop.startswith("$") or not prop.strip():
                    yield Diagnostic(
                        schema.at("events", i, "properties", prop, key=True),
                        f"event property '{prop}' is reserved by Braze "
                        "(time, event_name and names starting with '$')",
                        hint="rename the property",
                    )


def sendbird_events(m: Manifests) -> Iterator[Diagnostic]:
    """Sendbird's tracking event carries a String `status`: SENT, then READ."""
    statuses = ", ".join(SENDBIRD_STATUSES)
    for schema in m.event_schemas:
        integration = m.integrations.get(schema.spec.integration)
        if integration is None or integration.spec.partner != "sendbird":
            continue
        for i, event in enumerate(schema.spec.events):
            prop = event.properties.get(SENDBIRD_STATUS_PROPERTY)
            if prop is None:
                yield Diagnostic(
                    schema.at("events", i, "name"),
                    f"Sendbird's tracking event '{event.name}' needs a String property "
                    f"'{SENDBIRD_STATUS_PROPERTY}' ({statuses})",
                    hint=f"add properties: {{{SENDBIRD_STATUS_PROPERTY}: {{type: string, "
                    f"enum: [{statuses}]}}}}",
                )
                continue
            path = ("events", i, "properties", SENDBIRD_STATUS_PROPERTY)
            if prop.type != "string":
                yield Diagnostic(
                    schema.at(*path, "type"),
                    f"Sendbird sends '{SENDBIRD_STATUS_PROPERTY}' as a String, not {prop.type}",
                    hint="declare it type: string, as the Sendbird page says",
                )
            elif prop.enum is not None and sorted(map(str, prop.enum)) != sorted(SENDBIRD_STATUSES):
                yield Diagnostic(
                    schema.at(*path, "enum"),
                    f"Sendbird sends '{SENDBIRD_STATUS_PROPERTY}' {statuses} (the event fires "
                    f"once sent, once read), not {', '.join(map(str, prop.enum))}",
                    hint=f"enum: [{statuses}]",
                )
