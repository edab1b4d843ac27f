"""Desired state: every AttributeSync and AudienceMapping as typed (user, attribute, value)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.errors import Diagnostic, Location, SourceDataError
from reconciler.manifests import Manifests
from reconciler.manifests.documents import Resource
from reconciler.manifests.kinds import AttributeSyncSpec, AudienceMappingSpec
from reconciler.manifests.model import mapping_attribute
from reconciler.sources.coerce import CoerceError, coerce
from reconciler.sources.reader import read_rows, source_format

MAX_LISTED = 20
OnMissing = Literal["keep", "unset", "set_false"]


@dataclass(frozen=True)
class AttributePolicy:
    """How one managed attribute behaves: who writes it and what a missing user means."""

    attribute: str
    writer: str  # the resource address, e.g. AudienceMapping.aiq-high-value
    on_missing: OnMissing
    pii: bool
    is_array: bool
    audience: bool


@dataclass(frozen=True)
class Cell:
    id_kind: str
    user_id: str
    attribute: str
    value: Any  # the wire value; None means "no value" (the attribute unsets)


@dataclass
class Desired:
    policies: dict[str, AttributePolicy] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    skipped: list[Diagnostic] = field(default_factory=list)
    audience_members: dict[str, int] = field(default_factory=dict)


def build_desired(m: Manifests) -> Desired:
    """Read every source; raise SourceDataError listing the first 20 bad rows and the total."""
    desired = Desired()
    bad: list[Diagnostic] = []
    for sync in m.attribute_syncs:
        _read_sync(m, sync, desired, bad)
    for mapping in m.audience_mappings:
        _read_mapping(m, mapping, desired, bad)
    if bad:
        listed = bad[:MAX_LISTED]
        more = f" (first {MAX_LISTED} shown)" if len(bad) > MAX_LISTED else ""
        raise SourceDataError(listed, summary=f"{len(bad)} bad rows in the sources{more}")
    return desired


def _id_kind(m: Manifests, integration: str) -> str:
    found = m.integrations.get(integration)
    return found.spec.identifier if found else "external_id"


def _rows(
    m: Manifests, path: str, fmt: str | None
) -> tuple[str, Iterator[tuple[int, dict[str, Any]]]]:
    full = m.path(path)
    display = str(full)
    return display, read_rows(full, source_format(full, fmt), display)


def _read_sync(
    m: Manifests, sync: Resource[AttributeSyncSpec], desired: Desired, bad: list[Diagnostic]
) -> None:
    spec = sync.spec
    id_kind = _id_kind(m, spec.integration)
    attrs = {col: m.attributes[name].definition for col, name in spec.columns.items()}
    for attr in attrs.values():
        desired.policies[attr.name] = AttributePolicy(
            attr.name, sync.address, spec.on_missing_row, attr.pii, attr.type == "array", False
        )
    display, rows = _rows(m, spec.source.path, spec.source.format)
    seen: dict[str, int] = {}
    columns: list[str] | None = None
    for row_no, row in rows:
        if columns is None:
            columns = list(row)
            missing = [c for c in (spec.identifier_column, *spec.columns) if c not in row]
            if missing and spec.source.path.endswith(".csv"):
                raise SourceDataError(
                    [Diagnostic(Location(display, 1, 1), f"missing columns: {', '.join(missing)}")]
                )
        user = _identifier(row, spec.identifier_column)
        if user is None:
            bad.append(_bad(display, row_no, columns, spec.identifier_column, "empty identifier"))
            continue
        if user in seen:
            bad.append(
                _bad(
                    display,
                    row_no,
                    columns,
                    spec.identifier_column,
                    f"duplicate identifier {user!r} (first at row {seen[user]})",
                )
            )
            continue
        seen[user] = row_no
        cells, problems = [], []
        for col, attr in attrs.items():
            try:
                cells.append(Cell(id_kind, user, attr.name, coerce(row.get(col), attr)))
            except CoerceError as e:
                problems.append(_bad(display, row_no, columns, col, str(e)))
        if problems and spec.on_invalid == "skip":
            desired.skipped.extend(problems)
        elif problems:
            bad.extend(problems)
        else:
            desired.cells.extend(cells)


def _read_mapping(
    m: Manifests, mapping: Resource[AudienceMappingSpec], desired: Desired, bad: list[Diagnostic]
) -> None:
    spec = mapping.spec
    integration = m.integrations.get(spec.integration)
    attribute = mapping_attribute(spec, integration.spec if integration else None)
    assert attribute is not None  # validated
    id_kind = _id_kind(m, spec.integration)
    column = spec.members.identifier_column or id_kind
    on_missing: OnMissing = "set_false" if spec.on_exit == "set_false" else "unset"
    desired.policies[attribute] = AttributePolicy(
        attribute, mapping.address, on_missing, False, False, True
    )
    display, rows = _rows(m, spec.members.path, spec.members.format)
    seen: dict[str, int] = {}
    columns: list[str] | None = None
    for row_no, row in rows:
        columns = columns or list(row)
        user = _identifier(row, column)
        if user is None:
            bad.append(_bad(display, row_no, columns, column, "empty or missing identifier"))
        elif user in seen:
            bad.append(
                _bad(
                    display,
                    row_no,
                    columns,
                    column,
                    f"duplicate member {user!r} (first at row {seen[user]})",
                )
            )
        else:
            seen[user] = row_no
            desired.cells.append(Cell(id_kind, user, attribute, True))
    desired.audience_members[attribute] = len(seen)


def _identifier(row: dict[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _bad(display: str, row: int, columns: list[str] | None, column: str, reason: str) -> Diagnostic:
    col = columns.index(column) + 1 if columns and column in columns else 1
    return Diagnostic(Location(display, row, col), f"{column}: {reason}")
