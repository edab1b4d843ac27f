"""Encrypted plan files: AES-256-GCM in chunks, for plans that leave the runner.

A saved plan holds the values it will send (identifiers, emails), so a plan uploaded as a CI
artifact must be unreadable to whoever can download it. When RECONCILER_PLAN_KEY is set (the
base64 of 32 random bytes, kept in a secret), `plan --out` writes:

    MAGIC (16 bytes) | nonce prefix (8 random bytes) | chunk*

and each chunk is `length (4 bytes, big endian) | AES-GCM(ciphertext + 16-byte tag)` of up to
1 MiB of the plain plan file. A chunk's nonce is the file's prefix, its 31-bit counter and a
final-chunk bit; the header is its associated data. So a chunk cannot be altered, dropped,
reordered or moved to another file, and a file cut short (no final chunk) is refused, all
before anything is applied. `apply` and `show` decrypt with the same key.

`cryptography`'s AES-GCM (OpenSSL) does the cipher; nothing here is home-made but the framing.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reconciler.errors import StalePlanError, UsageError

KEY_ENV = "RECONCILER_PLAN_KEY"
MAGIC = b"RECONCILER-SEAL1"  # 16 bytes
PREFIX_BYTES = 8
CHUNK = 1 << 20
_LAST = 1 << 31


def plan_key(environ: dict[str, str] | None = None) -> bytes | None:
    """The key from RECONCILER_PLAN_KEY, or None when unset; a malformed key is a usage error
    (never echoed)."""
    env = os.environ if environ is None else environ
    raw = env.get(KEY_ENV, "").strip()
    if not raw:
        return None
    key = _decode(raw)
    if len(key) != 32:
        raise UsageError(
            f"{KEY_ENV} is not the base64 of 32 bytes",
            hint="make one with: openssl rand -base64 32 (and keep it in a secret)",
        )
    return key


def _decode(raw: str) -> bytes:
    padded = raw + "=" * (-len(raw) % 4)
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return b""


def is_sealed(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= _LAST:
        raise ValueError("plan file too large to seal")
    return prefix + struct.pack(">I", counter | (_LAST if last else 0))


def seal(plain: BinaryIO, out: BinaryIO, key: bytes) -> None:
    """Encrypt the whole of `plain` into `out`, chunk by chunk."""
    aead = AESGCM(key)
    prefix = os.urandom(PREFIX_BYTES)
    header = MAGIC + prefix
    out.write(header)
    counter = 0
    chunk = plain.read(CHUNK)
    while True:
        following = plain.read(CHUNK)
        last = not following
        sealed = aead.encrypt(_nonce(prefix, counter, last), chunk, header)
        out.write(struct.pack(">I", len(sealed)) + sealed)
        if last:
            return
        chunk, counter = following, counter + 1


def _chunks(fh: BinaryIO, where: str) -> Iterator[tuple[int, bytes]]:
    counter = 0
    while True:
        size = fh.read(4)
        if not size:
            return
        if len(size) != 4:
            raise StalePlanError(f"{where}: the encrypted plan is cut short")
        (n,) = struct.unpack(">I", size)
        data = fh.read(n)
        if len(data) != n:
            raise StalePlanError(f"{where}: the encrypted plan is cut short")
        yield counter, data
        counter += 1


def unseal(path: Path, out: BinaryIO, key: bytes | None) -> None:
    """Decrypt the sealed plan at `path` into `out`; refuse a wrong key, any change, a cut."""
    where = str(path)
    if key is None:
        raise UsageError(
            f"{where} is an encrypted plan and {KEY_ENV} is not set",
            hint=f"set {KEY_ENV} to the key the plan was made with",
        )
    aead = AESGCM(key)
    with path.open("rb") as fh:
        header = fh.read(len(MAGIC) + PREFIX_BYTES)
        if len(header) != len(MAGIC) + PREFIX_BYTES or not header.startswith(MAGIC):
            raise StalePlanError(f"{where}: not an encrypted reconciler plan")
        prefix = header[len(MAGIC) :]
        finished = False
        for counter, data in _chunks(fh, where):
            if finished:
                raise StalePlanError(f"{where}: the encrypted plan has data after its end")
            try:
                try:
                    plain = aead.decrypt(_nonce(prefix, counter, False), data, header)
                except InvalidTag:
                    plain = aead.decrypt(_nonce(prefix, counter, True), data, header)
                    finished = True
            except InvalidTag:
                raise StalePlanError(
                    f"{where}: the encrypted plan does not decrypt: a different "
                    f"{KEY_ENV}, or the file was modified",
                    hint="use the key the plan was made with, or run `reconciler plan --out` again",
                ) from None
            out.write(plain)
        if not finished:
            raise StalePlanError(f"{where}: the encrypted plan is cut short (no final chunk)")
