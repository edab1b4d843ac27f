"""Content block drift: each block apply recorded, read back with /content_blocks/info.

State keeps the spec apply sent (`ContentBlock.<name>`, remote id = content_block_id). Someone
editing the block in the dashboard changes what every webhook including it sends, so the
remote name, content and description are compared with the recorded ones.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.drift.protocol import WorkspaceReads
from reconciler.drift.report import BlockFinding, BlockKind, ContentBlockReport
from reconciler.errors import BrazeAuthError, BrazeError
from reconciler.plan.content_blocks import ADDRESS_PREFIX, remote_fields
from reconciler.state.base import ResourceRecord

FIX = (
    "run `reconciler drift --repair`, then `reconciler apply`, to put the manifests' version "
    "back, or copy the dashboard edit into the WebhookTemplate so the next apply keeps it"
)


async def check_content_blocks(
    resources: Mapping[str, ResourceRecord], reads: WorkspaceReads
) -> ContentBlockReport:
    applied = [
        r for a, r in sorted(resources.items()) if a.startswith(ADDRESS_PREFIX) and r.remote_id
    ]
    findings: list[BlockFinding] = []
    for record in applied:
        assert record.remote_id is not None
        try:
            remote = await reads.content_block(record.remote_id)
        except BrazeAuthError:
            raise  # the key cannot read blocks at all: an error, not drift
        except BrazeError as e:
            findings.append(
                BlockFinding(
                    record.address,
                    str(record.spec.get("name", "")),
                    record.remote_id,
                    "unreadable",
                    f"Braze could not return the block: {e.message}",
                    "check that the block still exists in this workspace; if it was deleted, "
                    "remove its state record so the next apply creates it again",
                )
            )
            continue
        findings.extend(_compare(record, remote))
    note = "" if applied else "no content blocks applied yet"
    return ContentBlockReport(len(applied), tuple(findings), note)


def _compare(record: ResourceRecord, remote: Mapping[str, object]) -> list[BlockFinding]:
    assert record.remote_id is not None
    ours = remote_fields(record.spec)
    name = str(ours.get("name", ""))
    out: list[BlockFinding] = []

    def add(kind: BlockKind, message: str, braze: Mapping[str, str] | None = None) -> None:
        block = str(record.remote_id)
        out.append(BlockFinding(record.address, name, block, kind, message, FIX, braze or {}))

    if "name" in ours and remote.get("name") != ours["name"]:
        add("renamed", f"renamed in Braze to {remote.get('name')!r}: includes of {name!r} break")
    if "content" in ours and remote.get("content") != ours["content"]:
        theirs = str(remote.get("content") or "")
        add(
            "content_changed",
            "the content differs from what apply sent: " + _diffstat(str(ours["content"]), theirs),
            {"content": theirs},
        )
    if "description" in ours and (remote.get("description") or "") != (ours["description"] or ""):
        add(
            "description_changed",
            "the description differs from what apply sent",
            {"description": str(remote.get("description") or "")},
        )
    return out


def _diffstat(ours: str, theirs: str) -> str:
    """A one-line summary of a content change (content can be long; the diff is in Braze)."""
    a, b = ours.splitlines(), theirs.splitlines()
    first = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    return f"{len(a)} → {len(b)} lines, first difference at line {first + 1}"
