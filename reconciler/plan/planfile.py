"""Saved plans: one gzip JSONL file (a header, then the deltas), integrity-hashed, mode 0600."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from reconciler.errors import StalePlanError
from reconciler.plan.event_model import NO_EVENTS, EventsPlan
from reconciler.plan.gz import CORRUPT, READ_THREADS, compress, open_gz
from reconciler.plan.model import (
    FORMAT_VERSION,
    AttributeChange,
    Binding,
    DigestFile,
    GuardResult,
    Plan,
    ResourceChange,
    Sample,
    Summary,
    section,
)
from reconciler.plan.sealing import is_sealed, seal, unseal


def save_plan(plan: Plan, path: Path, inputs: dict[str, str], *, key: bytes | None = None) -> None:
    """Header, then the delta lines, then the event lines (`deltas_lines` says where they part).

    One sha256 covers the header (without the hash itself) and every spool line, so an edited
    content-block body, binding or input hash is refused as surely as an edited delta.

    The file is a multi-member gzip: the header is compressed here, and each spool is
    appended as the gzip member it already is, so saving a first sync of a million users does
    not compress its lines a second time; the digest reads them in 1 MiB chunks.

    With a `key` (RECONCILER_PLAN_KEY), the file is then sealed with AES-GCM (sealing.py), so
    a plan uploaded as a CI artifact shows nothing to whoever downloads it.
    """
    header = dataclasses.asdict(plan)
    header.pop("deltas_path")
    header.pop("digests")
    header.pop("deltas_lines")
    header.pop("deltas_skip")
    header["format_version"] = FORMAT_VERSION
    header["inputs"] = inputs
    header["events"] = plan.events.to_header()
    deltas = plan.deltas_path
    if plan.deltas_skip:  # a loaded plan: its deltas sit inside its copy of the saved file
        deltas = path.with_name(path.name + ".deltas.tmp")
        _section(plan.deltas_path, plan.deltas_skip, plan.deltas_lines or 0, deltas)
    spools = [deltas]
    if plan.events.spool_path is not None:
        spools.append(plan.events.spool_path)
    lines = plan.deltas_lines
    header["deltas_lines"] = lines if lines is not None else _digest_spool(plan.deltas_path, None)
    if plan.digests is not None:
        # the next plan's digests ride along as base64 lines after the events, so that the
        # apply of a reviewed plan can keep them (plan/digests.py)
        packed = path.with_name(path.name + ".digests.tmp")
        _pack_digests(plan.digests.path, packed)
        spools.append(packed)
        header["events_lines"] = (
            _digest_spool(plan.events.spool_path, None) if plan.events.spool_path else 0
        )
        header["digests"] = {"fingerprint": plan.digests.fingerprint, "rows": plan.digests.rows}
    digest = _header_digest(header)
    for spool in spools:
        _digest_spool(spool, digest)
    header[INTEGRITY_FIELD] = digest.hexdigest()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw:
        # in the plan's own order (a template's headers as declared), so `show` renders the
        # loaded plan exactly as `plan` did; the digest sorts its own copy
        raw.write(compress((json.dumps(header) + "\n").encode()))
        for spool in spools:
            with spool.open("rb") as member:
                shutil.copyfileobj(member, raw, CHUNK)
    if key is not None:
        sealed = path.with_name(path.name + ".sealed.tmp")
        fd = os.open(sealed, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with tmp.open("rb") as plain, os.fdopen(fd, "wb") as out:
                seal(plain, out, key)
        finally:
            tmp.unlink()
        tmp = sealed
    tmp.replace(path)
    if plan.digests is not None:
        spools[-1].unlink(missing_ok=True)
    if deltas != plan.deltas_path:
        deltas.unlink(missing_ok=True)


def _section(source: Path, skip: int, count: int, out: Path) -> None:
    """Lines skip+1 … skip+count of the gzip file `source`, as a gzip file of their own."""
    with open_gz(source, "rb") as fh, open_gz(out, "wb") as dst:
        dst.writelines(section(fh, skip, count))


DIGEST_LINE = 3 << 18  # raw bytes per base64 line (1 MiB of text)


def _pack_digests(parquet: Path, out: Path) -> None:
    with parquet.open("rb") as fh, open_gz(out, "wb") as gz:
        while chunk := fh.read(DIGEST_LINE):
            gz.write(base64.b64encode(chunk) + b"\n")


def _unpack_digests(packed: Path, parquet: Path) -> None:
    with packed.open("rb") as fh, parquet.open("wb") as out:
        for line in fh:
            out.write(base64.b64decode(line))


CHUNK = 1 << 20


def _digest_spool(spool: Path, digest: Any) -> int:
    """Feed the spool's decompressed bytes to `digest` (if any); return its line count."""
    lines = 0
    with open_gz(spool, "rb", threads=READ_THREADS) as fh:  # this plan's own spool
        while chunk := fh.read(CHUNK):
            if digest is not None:
                digest.update(chunk)
            lines += chunk.count(b"\n")
    return lines


# a damaged file (CORRUPT), or one that decompresses to something that is not a plan
_UNREADABLE: tuple[type[BaseException], ...] = (*CORRUPT, ValueError, KeyError, TypeError)

INTEGRITY_FIELD = "sha256"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]|^\.+")


def _header_digest(header: dict[str, Any]) -> Any:
    """A sha256 seeded with the header's canonical JSON, the integrity field left out.

    The header is written in its own key order, and JSON round-trips what it holds (strings,
    ints, floats by repr, lists), so a reader that sorts it again recomputes it exactly.
    """
    canonical = {k: v for k, v in header.items() if k != INTEGRITY_FIELD}
    return hashlib.sha256((json.dumps(canonical, sort_keys=True) + "\n").encode())


def _split_lines(source: Any, parts: list[tuple[int, Any]], digest: Any, rest: Any) -> None:
    """Copy `source` in 1 MiB chunks: each part's count of lines to its file in turn, the
    others to `rest`, every byte through `digest` (no per-line Python: a first sync has a
    million lines)."""
    queue = list(parts)
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        while chunk:
            if not queue:
                rest.write(chunk)
                break
            left, out = queue[0]
            lines = chunk.count(b"\n")
            if lines < left:
                out.write(chunk)
                queue[0] = (left - lines, out)
                break
            cut = 0
            for _ in range(left):  # the boundary is in this chunk
                cut = chunk.index(b"\n", cut) + 1
            out.write(chunk[:cut])
            chunk = chunk[cut:]
            queue.pop(0)


class _Uncopied:
    """Where load_plan's split sends the delta lines: nowhere (they are hashed, not copied)."""

    def write(self, data: bytes) -> int:
        return len(data)


def load_plan(
    path: Path, spool_dir: Path, *, key: bytes | None = None
) -> tuple[Plan, dict[str, str]]:
    """The saved plan and its input hashes; a tampered or unreadable file is refused.

    The file is first copied (or, encrypted with sealing.py, decrypted with `key`) into
    `spool_dir`, and that private copy is what is verified and then sent: the deltas are read
    out of it in place, after the header, rather than decompressed and compressed again into a
    spool of their own (3 s of a 1M-user first sync's apply), and a file changed after the
    check is never read."""
    source = spool_dir / f"saved-{os.urandom(6).hex()}.plan"
    fd = os.open(source, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        if is_sealed(path):
            unseal(path, out, key)
        else:
            try:
                with path.open("rb") as given:
                    shutil.copyfileobj(given, out, CHUNK)
            except OSError as e:  # missing, unreadable: as before the copy, not a crash
                raise StalePlanError(f"{path}: not a readable reconciler plan ({e})") from e
    try:
        with open_gz(source, "rb", threads=READ_THREADS) as fh:  # decompressed while hashed
            header: dict[str, Any] = json.loads(fh.readline().decode("utf-8"))
            if not isinstance(header, dict):
                raise ValueError("the first line is not a plan header")
            name = _SAFE_NAME.sub("_", str(header["plan_id"]))  # not yet verified: no ../
            events_spool = spool_dir / f"saved-{name}.events.jsonl.gz"
            digest = _header_digest(header)
            delta_lines = int(header.get("deltas_lines", 0))
            packed = spool_dir / f"saved-{name}.digests.b64"
            skipped = _Uncopied()  # the deltas stay where they are, in `source`
            with open_gz(events_spool, "wb") as events_out:
                if "events_lines" in header:  # the next plan's digests follow the events
                    events = int(header["events_lines"])
                    with packed.open("wb") as digests_out:
                        parts = [(delta_lines, skipped), (events, events_out)]
                        _split_lines(fh, parts, digest, digests_out)
                else:
                    _split_lines(fh, [(delta_lines, skipped)], digest, events_out)
    except _UNREADABLE as e:
        raise StalePlanError(f"{path}: not a readable reconciler plan ({e})") from e
    if header.get("format_version") != FORMAT_VERSION:
        raise StalePlanError(
            f"{path}: plan format {header.get('format_version')!r} is not supported"
        )
    if INTEGRITY_FIELD not in header:
        raise StalePlanError(
            f"{path}: the plan has no whole-file integrity hash (saved by an older reconciler)",
            hint="run `reconciler plan --out FILE` again",
        )
    if digest.hexdigest() != header[INTEGRITY_FIELD]:
        raise StalePlanError(
            f"{path}: the plan's contents do not match its integrity hash; it was modified",
            hint="run `reconciler plan --out FILE` again",
        )
    try:
        plan = _plan_from_header(header, source, events_spool)
        if isinstance(header.get("digests"), dict):
            parquet = spool_dir / f"saved-{name}.digests.parquet"
            _unpack_digests(packed, parquet)
            found = header["digests"]
            plan = dataclasses.replace(
                plan, digests=DigestFile(parquet, str(found["fingerprint"]), int(found["rows"]))
            )
        return plan, dict(header.get("inputs", {}))
    except (ValueError, KeyError, TypeError) as e:  # hashed but not a plan we can read
        raise StalePlanError(f"{path}: not a readable reconciler plan ({e})") from e


def _plan_from_header(header: dict[str, Any], spool: Path, events_spool: Path) -> Plan:
    return Plan(
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
        deltas_lines=int(header.get("deltas_lines", 0)),
        deltas_skip=1,  # the deltas follow the header line in the loaded copy
        events=EventsPlan.from_header(header["events"], events_spool)
        if "events" in header
        else NO_EVENTS,
        last_drift=header.get("last_drift"),
        warnings=tuple(header.get("warnings", ())),
        endpoint=str(header.get("endpoint", "")),
        mask_key=str(header.get("mask_key", "")),
    )


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
