"""Sealed boxes: bytes anyone can seal to a home's public key and only the home can open.

A provider seals what the public sends a home (inbox bodies) as it stores them, so its
database holds them unreadable. X25519 with a fresh ephemeral key per box, HKDF-SHA256 over the
shared secret and both public keys, AES-256-GCM (a fresh key per box, so a fixed nonce), the
caller's associated data bound in (a box cannot be moved to another item). The home's key is
derived from its data key, itself derived from the recovery phrase, so a home restored from the
phrase opens what was sealed before.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_SIZE = 32
NONCE = bytes(12)
INFO = b"homeport/sealed-box/v1"


class BoxError(ValueError):
    """A box that does not open with this key and associated data (damaged or forged)."""


def box_key(data_key: bytes) -> X25519PrivateKey:
    """The home's box key, derived from its data key."""
    seed = HKDF(hashes.SHA256(), KEY_SIZE, salt=b"homeport", info=b"inbox box key").derive(data_key)
    return X25519PrivateKey.from_private_bytes(seed)


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY_SIZE, salt=ephemeral + recipient, info=INFO).derive(shared)


def seal_box(recipient: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """``ephemeral public key (32) || AES-GCM ciphertext and tag`` for ``recipient`` (raw
    X25519 public key bytes). Raises ValueError for a key that is not one."""
    if len(recipient) != KEY_SIZE:
        raise ValueError("an X25519 public key is 32 bytes")
    ephemeral = X25519PrivateKey.generate()
    mine = public_bytes(ephemeral)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    return mine + AESGCM(_key(shared, mine, recipient)).encrypt(NONCE, plaintext, associated)


def open_box(key: X25519PrivateKey, sealed: bytes, associated: bytes) -> bytes:
    if len(sealed) < KEY_SIZE + 16:
        raise BoxError("a sealed box is shorter than a key and a tag")
    ephemeral = sealed[:KEY_SIZE]
    try:
        shared = key.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        aead = AESGCM(_key(shared, ephemeral, public_bytes(key)))
        return aead.decrypt(NONCE, sealed[KEY_SIZE:], associated)
    except (InvalidTag, ValueError):
        raise BoxError("this box does not open with this home's key (damaged or forged)") from None


__all__ = ["BoxError", "box_key", "open_box", "public_bytes", "seal_box"]
