"""Encrypted plan files (AES-256-GCM in chunks): a round trip is exact; a wrong key, a flipped
byte, a dropped, reordered or extra chunk, and a file cut short are each refused."""

from __future__ import annotations

import base64
import io
import os
import struct
from pathlib import Path

import pytest

from reconciler.errors import StalePlanError, UsageError
from reconciler.plan.sealing import CHUNK, MAGIC, PREFIX_BYTES, plan_key, seal, unseal

KEY = os.urandom(32)
PLAIN = os.urandom(CHUNK) + b"camille.martin@example.com" + os.urandom(CHUNK // 2)


def sealed(tmp_path: Path, data: bytes = PLAIN, key: bytes = KEY) -> Path:
    out = io.BytesIO()
    seal(io.BytesIO(data), out, key)
    path = tmp_path / "plan.bin"
    path.write_bytes(out.getvalue())
    return path


def opened(path: Path, key: bytes | None = KEY) -> bytes:
    out = io.BytesIO()
    unseal(path, out, key)
    return out.getvalue()


def chunks(raw: bytes) -> tuple[bytes, list[bytes]]:
    head, rest, parts = raw[: len(MAGIC) + PREFIX_BYTES], raw[len(MAGIC) + PREFIX_BYTES :], []
    while rest:
        (n,) = struct.unpack(">I", rest[:4])
        parts.append(rest[: 4 + n])
        rest = rest[4 + n :]
    return head, parts


def test_a_round_trip_is_exact_and_hides_the_plain_text(tmp_path: Path) -> None:
    path = sealed(tmp_path)
    assert b"camille.martin@example.com" not in path.read_bytes()
    assert opened(path) == PLAIN
    assert opened(sealed(tmp_path, b"")) == b""  # an empty file still has its final chunk


@pytest.mark.parametrize("damage", ["wrong_key", "flipped", "dropped", "reordered", "extra", "cut"])
def test_every_kind_of_damage_is_refused(tmp_path: Path, damage: str) -> None:
    path = sealed(tmp_path)
    head, parts = chunks(path.read_bytes())
    assert len(parts) == 2
    key = KEY
    if damage == "wrong_key":
        key = os.urandom(32)
    elif damage == "flipped":
        raw = bytearray(path.read_bytes())
        raw[len(head) + 100] ^= 1
        path.write_bytes(bytes(raw))
    elif damage == "dropped":
        path.write_bytes(head + parts[1])
    elif damage == "reordered":
        path.write_bytes(head + parts[1] + parts[0])
    elif damage == "extra":
        path.write_bytes(head + parts[0] + parts[1] + parts[1])
    elif damage == "cut":
        path.write_bytes(head + parts[0])
    with pytest.raises(StalePlanError):
        opened(path, key)


def test_a_sealed_plan_without_a_key_and_a_malformed_key_are_usage_errors(
    tmp_path: Path,
) -> None:
    with pytest.raises(UsageError, match="RECONCILER_PLAN_KEY is not set"):
        opened(sealed(tmp_path), None)
    with pytest.raises(UsageError, match="not the base64 of 32 bytes") as bad:
        plan_key({"RECONCILER_PLAN_KEY": "c2hvcnQ="})
    assert "c2hvcnQ" not in str(bad.value) + bad.value.hint
    good = base64.b64encode(KEY).decode()
    assert plan_key({"RECONCILER_PLAN_KEY": good}) == KEY
    assert plan_key({"RECONCILER_PLAN_KEY": base64.urlsafe_b64encode(KEY).decode()}) == KEY
    assert plan_key({}) is None
