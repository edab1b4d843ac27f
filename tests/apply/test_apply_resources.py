"""The apply's content-block step with a scripted writer: what is sent, what state records,
and that a refused block neither hides its cause nor holds back the user batches."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from apply.support import delta, make_plan

from reconciler.apply.executor import ApplyOptions, apply_plan
from reconciler.apply.protocol import TrackResult
from reconciler.errors import BrazeError, BrazeUnavailableError
from reconciler.plan.model import Plan, ResourceChange
from reconciler.state import open_state
from reconciler.state.base import LockRequest, StateStore


def _spec(name: str, content: str = "{}", url: str = "https://x.test") -> dict[str, Any]:
    return {
        "name": name,
        "content": content,
        "description": f"Body of webhook template {name}",
        "dashboard": {"template": name, "method": "POST", "url": url, "headers": {}},
    }


class Writer:
    """Answers track with 201 and content-block calls from a script of failures."""

    def __init__(self, failures: list[BrazeError] | None = None) -> None:
        self.failures = list(failures or [])
        self.calls: list[tuple[str, Any]] = []

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def track(self, payload: Mapping[str, Any]) -> TrackResult:
        self.calls.append(("track", len(payload["attributes"])))
        return TrackResult(201, {"message": "success"})

    async def create_content_block(
        self, name: str, content: str, *, description: str | None = None, state: str = "active"
    ) -> str:
        self.calls.append(("create", (name, content, description, state)))
        self._maybe_fail()
        return f"id-{name}"

    async def update_content_block(self, block_id: str, **fields: Any) -> str:
        self.calls.append(("update", (block_id, fields)))
        self._maybe_fail()
        return block_id


async def _no_sleep(_: float) -> None:
    return None


def _apply(store: StateStore, plan: Plan, writer: Writer):  # type: ignore[no-untyped-def]
    options = ApplyOptions(handle_sigint=False, sleep=_no_sleep, check_binding=False)
    return asyncio.run(apply_plan(plan, store, writer, options=options))


def _plan(tmp_path: Path, store: StateStore, *changes: ResourceChange) -> Plan:
    plan = make_plan(tmp_path, [delta("u-1", tier="gold")], state=store)
    return replace(plan, resource_changes=changes)


def test_create_records_the_block_id_and_update_sends_only_what_changed(tmp_path: Path) -> None:
    with open_state(f"sqlite:///{tmp_path / 's.db'}") as store:
        writer = Writer()
        created = _apply(
            store,
            _plan(tmp_path, store, ResourceChange("ContentBlock.a", "create", spec=_spec("a"))),
            writer,
        )
        assert created.status == "applied"
        assert writer.calls[0] == ("create", ("a", "{}", "Body of webhook template a", "active"))
        record = store.resources()["ContentBlock.a"]
        assert (record.remote_id, record.spec["content"]) == ("id-a", "{}")
        assert created.summary_lines()[0] == "created content block a (id id-a)"

        writer = Writer()
        body = ResourceChange(
            "ContentBlock.a", "update", spec=_spec("a", '{"v": 2}'), remote_id="id-a"
        )
        updated = _apply(store, _plan(tmp_path, store, body), writer)
        assert writer.calls[0] == ("update", ("id-a", {"content": '{"v": 2}'}))
        assert updated.summary_lines()[0] == "updated content block a (content)"

        writer = Writer()
        url = ResourceChange(
            "ContentBlock.a",
            "update",
            spec=_spec("a", '{"v": 2}', "https://y.test"),
            remote_id="id-a",
        )
        _apply(store, _plan(tmp_path, store, url), writer)
        assert [c[0] for c in writer.calls] == ["track"]  # the dashboard part has no API
        assert store.resources()["ContentBlock.a"].spec["dashboard"]["url"] == "https://y.test"


def test_no_ops_and_orphans_send_nothing(tmp_path: Path) -> None:
    with open_state(f"sqlite:///{tmp_path / 's.db'}") as store:
        writer = Writer()
        plan = _plan(
            tmp_path,
            store,
            ResourceChange("ContentBlock.a", "no-op", spec=_spec("a"), remote_id="id-a"),
            ResourceChange("ContentBlock.b", "orphan", spec=_spec("b"), remote_id="id-b"),
        )
        result = _apply(store, plan, writer)
        assert result.status == "applied"
        assert [c[0] for c in writer.calls] == ["track"]
        assert store.resources() == {}


def test_a_refused_block_fails_the_apply_with_a_hint_but_users_still_go_out(
    tmp_path: Path,
) -> None:
    with open_state(f"sqlite:///{tmp_path / 's.db'}") as store:
        exists = BrazeError(
            "POST http://sandbox/content_blocks/create rejected the request (400): "
            "Content Block with this name already exists",
            status=400,
        )
        writer = Writer([exists])
        plan = _plan(
            tmp_path,
            store,
            ResourceChange("ContentBlock.a", "create", spec=_spec("a")),
            ResourceChange("ContentBlock.b", "create", spec=_spec("b")),
        )
        result = _apply(store, plan, writer)
        assert [c[0] for c in writer.calls] == ["create", "track"]  # b waits for the fix
        assert result.status == "failed" and result.acknowledged == 1
        assert store.ledger_count() == 1 and store.resources() == {}
        assert result.summary_lines()[0].startswith("content blocks stopped: POST http://sandbox")
        with pytest.raises(BrazeError) as e:
            result.raise_for_status()
        assert "`reconciler import` adopts it" in e.value.hint
        assert store.applies(1)[0].status == "failed"


def test_temporary_failures_are_retried(tmp_path: Path) -> None:
    with open_state(f"sqlite:///{tmp_path / 's.db'}") as store:
        down = BrazeUnavailableError("POST …/content_blocks/update failed (503)", status=503)
        writer = Writer([down, down])
        store_change = ResourceChange(
            "ContentBlock.a", "update", spec=_spec("a", "new"), remote_id="id-a"
        )
        with store.lock(LockRequest("seed")):
            store.put_resource("ContentBlock.a", _spec("a"), remote_id="id-a")
        result = _apply(store, _plan(tmp_path, store, store_change), writer)
        assert result.status == "applied"
        assert [c[0] for c in writer.calls] == ["update", "update", "update", "track"]
        assert store.resources()["ContentBlock.a"].spec["content"] == "new"
