"""Cross-document rules on names and references: uniqueness, one Workspace, files, declarations."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.errors import Diagnostic, Location
from reconciler.manifests.documents import Resource, suggest
from reconciler.manifests.model import Manifests


def unique_names(resources: list[Resource[Any]]) -> Iterator[Diagnostic]:
    seen: dict[tuple[str, str], Resource[Any]] = {}
    for r in resources:
        first = seen.setdefault((r.kind, r.name), r)
        if first is not r:
            yield Diagnostic(
                r.doc.location(("metadata", "name")),
                f"duplicate {r.kind} name '{r.name}'",
                hint=f"first defined at {first.doc.location(('metadata', 'name'))}",
            )


def one_workspace(resources: list[Resource[Any]], first_file: Location) -> Iterator[Diagnostic]:
    workspaces = [r for r in resources if r.kind == "Workspace"]
    if not workspaces:
        yield Diagnostic(
            first_file,
            "no Workspace manifest found; exactly one is required",
            hint="add a `kind: Workspace` document with the instance and api_key_env",
        )
    for extra in workspaces[1:]:
        yield Diagnostic(
            extra.location,
            f"a second Workspace '{extra.name}'; exactly one is allowed per manifests directory",
            hint=f"the first is '{workspaces[0].name}' at {workspaces[0].location}",
        )


def integration_references(m: Manifests) -> Iterator[Diagnostic]:
    names = list(m.integrations)
    for r in m.resources:
        ref = getattr(r.spec, "integration", None)
        if ref is not None and ref not in m.integrations and not m.may_lack("Integration"):
            yield Diagnostic(
                r.at("integration"),
                f"spec.integration: integration '{ref}' is not defined",
                hint=suggest(ref, names) or f"defined integrations: {', '.join(names) or 'none'}",
            )


REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "http://", "https://")


def files_exist(m: Manifests) -> Iterator[Diagnostic]:
    refs: list[tuple[Resource[Any], tuple[str, ...], str]] = []
    for sync in m.attribute_syncs:
        refs.append((sync, ("source", "path"), sync.spec.source.path))
    for stream in m.event_streams:
        refs.append((stream, ("source", "path"), stream.spec.source.path))
    for mapping in m.audience_mappings:
        refs.append((mapping, ("members", "path"), mapping.spec.members.path))
    for template in m.webhook_templates:
        if template.spec.preview_user:
            refs.append((template, ("preview_user",), template.spec.preview_user))
    for r, path, rel in refs:
        if rel.startswith(REMOTE_SCHEMES):
            continue  # read (and its errors located) at validate and plan time, not here
        target = m.path(rel)
        if not target.is_file():
            near = _near_file(m.root, rel)
            where = f"paths are relative to the manifests directory ({_shown(m.root)})"
            yield Diagnostic(
                r.at(*path),
                f"spec.{'.'.join(path)}: file not found: {rel}",
                hint=f"did you mean '{near}'? ({where})" if near else where,
            )


def _near_file(root: Path, rel: str) -> str | None:
    """The closest existing file to `rel` (relative to root), by whole path then by name."""
    try:
        files = [
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        ]
    except OSError:
        return None
    close = difflib.get_close_matches(rel, files, n=1, cutoff=0.75)
    if close:
        return close[0]
    name = Path(rel).name
    by_name = difflib.get_close_matches(name, [Path(f).name for f in files], n=1, cutoff=0.75)
    return next((f for f in files if by_name and Path(f).name == by_name[0]), None)


def _shown(p: Path) -> str:
    return str(p) or "."


def writes_declared(m: Manifests) -> Iterator[Diagnostic]:
    declared = m.attributes
    if m.may_lack("AttributeSchema"):
        return
    for sync in m.attribute_syncs:
        for column, attribute in sync.spec.columns.items():
            if attribute not in declared:
                yield Diagnostic(
                    sync.at("columns", column),
                    f"spec.columns.{column}: attribute '{attribute}' is not declared in any "
                    "AttributeSchema",
                    hint=suggest(attribute, list(declared))
                    or "declare it (name and type) in an AttributeSchema of this integration",
                )
    for mapping in m.audience_mappings:
        name = m.attribute_of(mapping)
        found = declared.get(name) if name else None
        if found and found.definition.type != "boolean":
            yield Diagnostic(
                found.schema.at("attributes", found.index, "type"),
                f"attribute '{name}' is written by AudienceMapping '{mapping.name}' and must be "
                f"boolean, not {found.definition.type}",
                hint="audience membership is one boolean attribute per audience",
            )
