"""Ed25519 signatures over bytes, keys named by did:key."""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.crypto.keys import public_key_from_did


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """The signature, base64url without padding."""
    return base64.urlsafe_b64encode(key.sign(message)).decode().rstrip("=")


def verify(did: str, message: bytes, signature: bytes) -> bool:
    try:
        public_key_from_did(did).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
