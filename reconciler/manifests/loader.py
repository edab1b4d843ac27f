"""Load a manifests directory: read every file, validate every document, run every rule, at once."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reconciler.errors import Diagnostic, Location, ManifestError
from reconciler.manifests import rules_content, rules_partners, rules_refs, rules_requests
from reconciler.manifests.documents import DOCUMENT_MODELS, Resource, parse_document
from reconciler.manifests.model import Manifests
from reconciler.manifests.yamlsource import RawDocument, load_yaml_file

MANIFEST_SUFFIXES = (".yaml", ".yml")


def manifest_files(root: Path) -> list[Path]:
    """Every *.yaml / *.yml below root, skipping hidden directories, in a stable order."""
    found = [
        p
        for p in root.rglob("*")
        if p.suffix in MANIFEST_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found)


def load_workspace(root: Path, *, contract_checks: bool = True) -> Manifests:
    """The validated manifests in `root`, or a ManifestError listing every problem.

    `contract_checks=False` skips rendering webhook templates for their preview users, so
    that `reconciler render` can show a template whose rendered body breaks its contract.
    """
    manifests, diags = load_partial(root, contract_checks=contract_checks)
    if diags:
        raise ManifestError(diags)
    assert manifests is not None
    return manifests


def load_partial(
    root: Path, *, contract_checks: bool = True
) -> tuple[Manifests | None, list[Diagnostic]]:
    """Every document that loaded (None when nothing could), and every problem found.

    `validate` goes on from here to read the data files of the documents that did load, so
    that one run reports the manifest errors and the bad rows together.
    """
    if not root.is_dir():
        raise ManifestError(
            [Diagnostic(Location(str(root)), "manifests directory not found")],
            summary=f"no manifests directory at {root}",
        )
    files = manifest_files(root)
    if not files:
        raise ManifestError(
            [Diagnostic(Location(str(root)), "no *.yaml manifests found")],
            summary=f"no manifests in {root}",
        )
    diags: list[Diagnostic] = []
    docs: list[RawDocument] = []
    for path in files:
        found, problems = load_yaml_file(path, str(root / path.relative_to(root)))
        docs.extend(found)
        diags.extend(problems)
    resources: list[Resource[Any]] = []
    broken: set[str] = {"*"} if diags else set()
    for doc in docs:
        resource, problems = parse_document(doc)
        diags.extend(problems)
        if resource is not None:
            resources.append(resource)
        elif problems:
            kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
            broken.add(_meant_kind(kind))
    diags.extend(rules_content.literal_secrets(docs))
    first = Location(str(root / files[0].relative_to(root)), 1, 1)
    diags.extend(rules_refs.unique_names(resources))
    if not (broken & {"Workspace", "*"}):
        diags.extend(rules_refs.one_workspace(resources, first))
    workspaces = [r for r in resources if r.kind == "Workspace"]
    rest_endpoint = None
    if workspaces:
        rest_endpoint, problems = rules_partners.resolve_endpoint(workspaces[0])
        diags.extend(problems)
    manifests = Manifests(
        root=root,
        resources=tuple(resources),
        rest_endpoint=rest_endpoint or "",
        broken_kinds=frozenset(broken),
    )
    diags.extend(_cross_document(manifests))
    found_notes = list(rules_content.template_notes(manifests))
    if contract_checks:
        errors, contract_notes = rules_content.webhook_contracts(manifests)
        diags.extend(errors)
        found_notes += contract_notes
    notes = tuple(sorted(set(found_notes)))
    return dataclasses.replace(manifests, notes=notes), diags


def _meant_kind(kind: object) -> str:
    """The kind a document that failed to load was meant to be: its own, or the one a typo is
    closest to (`AttributeSynk`), so that only references to that kind are held back (they may
    point into it); "*" when nothing says (every reference is then held back)."""
    if not isinstance(kind, str):
        return "*"
    if kind in DOCUMENT_MODELS:
        return kind
    close = difflib.get_close_matches(kind, list(DOCUMENT_MODELS), n=1, cutoff=0.8)
    return close[0] if close else "*"


def _cross_document(m: Manifests) -> Iterable[Diagnostic]:
    rules = (
        rules_refs.integration_references,
        rules_refs.files_exist,
        rules_refs.writes_declared,
        rules_partners.ownership,
        rules_partners.one_source,
        rules_partners.identifier_columns,
        rules_partners.actioniq_mappings,
        rules_partners.rokt_attributes,
        rules_partners.rokt_events,
        rules_partners.actioniq_booleans,
        rules_partners.sendbird_ids,
        rules_partners.standard_fields,
        rules_partners.consent,
        rules_partners.event_properties,
        rules_partners.sendbird_events,
        rules_content.webhook_liquid,
        rules_requests.partner_requests,
    )
    for rule in rules:
        yield from rule(m)
