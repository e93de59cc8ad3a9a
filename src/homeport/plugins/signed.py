"""Signed documents of plugin publishers (catalogues, licences): ``{"<kind>": body,
"signature": sig}``, the signature Ed25519 over the canonical JSON (RFC 8785) of ``body``,
base64url without padding, by the publisher's key named as a ``did:key``.

The home knows a publisher only by the key the owner gave with the catalogue's address, so a
catalogue served by anyone (a provider, a community, a USB stick) is trusted exactly as much
as that key.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport import jsonio
from homeport.core.canonical import CanonicalError, canonical
from homeport.crypto.signing import sign, verify


class SignedError(ValueError):
    """A document that is not what it says; the message says what is wrong."""


def signed(kind: str, body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``body`` signed as a publisher signs it (their tools; our tests)."""
    return {kind: body, "signature": sign(key, canonical(body))}


def open_signed(kind: str, raw: bytes, publisher: str) -> dict[str, Any]:
    """The body of a ``kind`` document signed by ``publisher`` (a did:key), or SignedError."""
    try:
        doc = jsonio.loads_untrusted(raw)
    except ValueError as exc:
        raise SignedError(f"the {kind} is not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get(kind), dict):
        raise SignedError(f"the {kind} has no {kind!r} object")
    body: dict[str, Any] = doc[kind]
    signature = doc.get("signature")
    if not isinstance(signature, str):
        raise SignedError(f"the {kind} is not signed")
    try:
        raw_signature = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        message = canonical(body)
    except (binascii.Error, ValueError, CanonicalError):
        raise SignedError(f"the {kind}'s signature cannot be read") from None
    if not verify(publisher, message, raw_signature):
        raise SignedError(f"the {kind}'s signature does not match its publisher's key "
                          f"{publisher}: it was changed, or someone else signed it")
    return body


__all__ = ["SignedError", "open_signed", "signed"]
