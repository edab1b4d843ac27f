"""Content block drift: a block edited in Braze after apply recorded it."""

from __future__ import annotations

from collections.abc import Callable

from drift.lab import Lab
from reconciler.braze.reads import BrazeReads
from reconciler.drift.content_blocks import check_content_blocks
from reconciler.drift.report import ContentBlockReport
from reconciler.state import LockRequest

SPEC = {"name": "promo_body", "content": '{"a": 1}\n{"b": 2}', "description": "managed"}


def applied_block(lab: Lab, **create: str) -> str:
    """Create a block as apply does and record it in state; returns its id."""

    async def go(reads: BrazeReads) -> str:
        client = reads.client
        return await client.create_content_block(
            SPEC["name"], SPEC["content"], description=SPEC["description"], **create
        )

    block_id: str = lab.with_reads(go)
    with lab.state() as state, state.lock(LockRequest("test")):
        state.put_resource("ContentBlock.promo_body", SPEC, remote_id=block_id)
    return block_id


def check(lab: Lab) -> ContentBlockReport:
    async def go(reads: BrazeReads) -> ContentBlockReport:
        with lab.state() as state:
            return await check_content_blocks(state.resources(), reads)

    result: ContentBlockReport = lab.with_reads(go)
    return result


def edit(lab: Lab, block_id: str, **fields: str) -> None:
    async def go(reads: BrazeReads) -> None:
        await reads.client.update_content_block(block_id, **fields)

    lab.with_reads(go)


def test_an_untouched_block_is_clean(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(1)
    applied_block(lab)
    report = check(lab)
    assert report.checked == 1 and report.findings == ()


def test_content_and_description_edited_in_braze_are_drift(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(1)
    block_id = applied_block(lab)
    edit(lab, block_id, content='{"a": 1}\n{"b": 3}\n', description="hand edited")
    report = check(lab)
    assert [(f.kind, f.block_id) for f in report.findings] == [
        ("content_changed", block_id),
        ("description_changed", block_id),
    ]
    assert "2 → 2 lines, first difference at line 2" in report.findings[0].message
    assert "reconciler apply" in report.findings[0].action


def test_a_draft_block_renamed_in_braze_is_drift(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(1)
    block_id = applied_block(lab, state="draft")
    edit(lab, block_id, name="promo_body_v2")
    (finding,) = check(lab).findings
    assert finding.kind == "renamed" and "'promo_body_v2'" in finding.message


def test_a_block_braze_cannot_return_is_reported(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(1)
    with lab.state() as state, state.lock(LockRequest("test")):
        state.put_resource("ContentBlock.gone", {**SPEC, "name": "gone"}, remote_id="no-such-id")
    (finding,) = check(lab).findings
    assert finding.kind == "unreadable" and finding.block_id == "no-such-id"


def test_drift_counts_content_block_drift(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(5)
    lab.apply()
    block_id = applied_block(lab)
    assert not lab.drift().has_drift
    edit(lab, block_id, content="changed")
    assert lab.drift().has_drift
