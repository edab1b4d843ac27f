"""Saved plans: one gzip JSONL file (a header, then the deltas), integrity-hashed, mode 0600."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from reconciler.errors import StalePlanError
from reconciler.plan.event_model import NO_EVENTS, EventsPlan
from reconciler.plan.model import (
    FORMAT_VERSION,
    AttributeChange,
    Binding,
    GuardResult,
    Plan,
    ResourceChange,
    Sample,
    Summary,
)


def save_plan(plan: Plan, path: Path, inputs: dict[str, str]) -> None:
    """Header, then the delta lines, then the event lines (`deltas_lines` says where they part);
    each part carries its own sha256."""
    header = dataclasses.asdict(plan)
    header.pop("deltas_path")
    header["format_version"] = FORMAT_VERSION
    header["inputs"] = inputs
    header["deltas_sha256"], header["deltas_lines"] = _sha_of_spool(plan.deltas_path)
    header["events"] = plan.events.to_header()
    spools = [plan.deltas_path]
    if plan.events.spool_path is not None:
        header["events_sha256"], _ = _sha_of_spool(plan.events.spool_path)
        spools.append(plan.events.spool_path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as out:
        out.write(json.dumps(header, sort_keys=True) + "\n")
        for spool in spools:
            with gzip.open(spool, "rt", encoding="utf-8") as lines:
                for line in lines:
                    out.write(line)
    tmp.replace(path)


def _sha_of_spool(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    n = 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            digest.update(line.encode())
            n += 1
    return digest.hexdigest(), n


def load_plan(path: Path, spool_dir: Path) -> tuple[Plan, dict[str, str]]:
    """The saved plan and its input hashes; a tampered or unreadable file is refused."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            header: dict[str, Any] = json.loads(fh.readline())
            spool = spool_dir / f"saved-{header['plan_id']}.deltas.jsonl.gz"
            events_spool = spool_dir / f"saved-{header['plan_id']}.events.jsonl.gz"
            digest, events_digest = hashlib.sha256(), hashlib.sha256()
            delta_lines = header.get("deltas_lines")  # absent: a plan saved before events
            with (
                gzip.open(spool, "wt", encoding="utf-8", compresslevel=1) as out,
                gzip.open(events_spool, "wt", encoding="utf-8", compresslevel=1) as events_out,
            ):
                for n, line in enumerate(fh):
                    if delta_lines is None or n < delta_lines:
                        digest.update(line.encode())
                        out.write(line)
                    else:
                        events_digest.update(line.encode())
                        events_out.write(line)
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise StalePlanError(f"{path}: not a readable reconciler plan ({e})") from e
    if header.get("format_version") != FORMAT_VERSION:
        raise StalePlanError(
            f"{path}: plan format {header.get('format_version')!r} is not supported"
        )
    events_sha = header.get("events_sha256", hashlib.sha256().hexdigest())
    if digest.hexdigest() != header.get("deltas_sha256") or events_digest.hexdigest() != (
        events_sha
    ):
        raise StalePlanError(
            f"{path}: the plan's contents do not match its integrity hash; it was modified",
            hint="run `reconciler plan --out FILE` again",
        )
    plan = Plan(
        plan_id=header["plan_id"],
        workspace=header["workspace"],
        created_at=header["created_at"],
        binding=Binding(**header["binding"]),
        summary=Summary(**header["summary"]),
        attribute_changes=tuple(AttributeChange(**c) for c in header["attribute_changes"]),
        resource_changes=tuple(ResourceChange(**c) for c in header["resource_changes"]),
        guards=tuple(GuardResult(**g) for g in header["guards"]),
        samples=tuple(Sample(**s) for s in header["samples"]),
        deltas_path=spool,
        events=EventsPlan.from_header(header["events"], events_spool)
        if "events" in header
        else NO_EVENTS,
    )
    return plan, dict(header.get("inputs", {}))


def stale_reasons(
    plan: Plan, saved_inputs: dict[str, str], lineage: str, serial: int, inputs: dict[str, str]
) -> list[str]:
    """Why a saved plan no longer applies, in words; empty when it still does."""
    reasons = []
    if plan.binding.lineage != lineage:
        reasons.append(
            f"the state is a different one (lineage {lineage[:8]}, plan {plan.binding.lineage[:8]})"
        )
    elif plan.binding.serial != serial:
        reasons.append(
            f"the state changed since the plan (serial {plan.binding.serial} → {serial})"
        )
    for name in sorted(set(saved_inputs) | set(inputs)):
        if name not in inputs:
            reasons.append(f"{name} was removed")
        elif name not in saved_inputs:
            reasons.append(f"{name} was added")
        elif saved_inputs[name] != inputs[name]:
            reasons.append(f"{name} changed")
    return reasons
