"""Sealing private objects: AES-256-GCM with a random 96-bit nonce and the object's id (and
header) bound as associated data, so a sealed object cannot be moved under another id.

AES-256-GCM rather than XChaCha20-Poly1305: measured here at about 1.4 GB/s against 0.3-0.6, and
``cryptography`` ships it. Random 96-bit nonces are safe for about 2**32 messages per key; a home
seals each distinct private object once (ids deduplicate), far below that.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_SIZE = 12
TAG_SIZE = 16


class SealError(ValueError):
    """Sealed bytes that do not open under this key and associated data."""


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, sealed: bytes | memoryview, associated: bytes) -> bytes:
    if len(sealed) < NONCE_SIZE + TAG_SIZE:
        raise SealError("sealed payload is shorter than a nonce and a tag")
    view = memoryview(sealed)
    try:
        return AESGCM(key).decrypt(bytes(view[:NONCE_SIZE]), bytes(view[NONCE_SIZE:]), associated)
    except InvalidTag:
        raise SealError("does not open with this home's data key (damaged or forged)") from None
