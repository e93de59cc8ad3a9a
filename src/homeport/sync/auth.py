"""Signed requests: how a home proves, on every request, that it speaks for its identity.

Both sides live here so they cannot drift: ``authorization`` builds the header a home sends,
``check_authorization`` is what a provider runs. Replay protection (remembering nonces) is the
provider's job; this module only parses and checks signatures and clocks.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.crypto.keys import did_key
from homeport.crypto.signing import sign, verify

SCHEME = "Homeport"
CLOCK_SKEW_MS = 5 * 60 * 1000
_FIELD = re.compile(r'(\w+)="([^"]*)"')


class AuthError(ValueError):
    """A request whose signature header is missing, malformed, stale or wrong."""


@dataclass(frozen=True)
class SignedBy:
    did: str
    key: str
    ts: int
    nonce: str


def message(
    method: str, target: str, ts: int, nonce: str, body: bytes, digest: str | None = None
) -> bytes:
    """What is signed. ``digest`` stands for the body when the body is checked piece by piece
    as it arrives (a pack's segments, ``segments.py``); otherwise it is the body's SHA-256."""
    digest = digest or hashlib.sha256(body).hexdigest()
    return "\n".join(["homeport/v1", method.upper(), target, str(ts), nonce, digest]).encode()


def authorization(
    key: Ed25519PrivateKey,
    did: str,
    method: str,
    target: str,
    body: bytes = b"",
    now_ms: int | None = None,
    digest: str | None = None,
) -> str:
    """The ``Authorization`` header value for a request to ``target`` (path and query)."""
    ts = now_ms if now_ms is not None else int(time.time() * 1000)
    nonce = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    key_did = did_key(key.public_key())
    sig = sign(key, message(method, target, ts, nonce, body, digest))
    return f'{SCHEME} did="{did}", key="{key_did}", ts="{ts}", nonce="{nonce}", sig="{sig}"'


def parse(header: str | None) -> dict[str, str]:
    if not header or not header.startswith(SCHEME + " "):
        raise AuthError("this request is not signed (Authorization: Homeport …)")
    fields = dict(_FIELD.findall(header[len(SCHEME) + 1 :]))
    missing = {"did", "key", "ts", "nonce", "sig"} - set(fields)
    if missing:
        raise AuthError(f"the signature header lacks {', '.join(sorted(missing))}")
    return fields


def check_authorization(
    header: str | None,
    method: str,
    target: str,
    body: bytes,
    allowed_keys: set[str],
    now_ms: int | None = None,
    digest: str | None = None,
) -> SignedBy:
    """Check the signature and the clock; ``allowed_keys`` are the dids that may sign for the
    tenant (its key in force and its root). Raises AuthError saying what is wrong."""
    fields = parse(header)
    if fields["key"] not in allowed_keys:
        raise AuthError("the request is signed by a key this tenant has not authorised")
    try:
        ts = int(fields["ts"])
    except ValueError:
        raise AuthError("the signature's timestamp is not a number") from None
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    if abs(now - ts) > CLOCK_SKEW_MS:
        raise AuthError("the request's timestamp is more than 5 minutes off: check the clock")
    raw = fields["sig"]
    try:
        signature = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except ValueError:
        raise AuthError("the signature is not base64url") from None
    signed = message(method, target, ts, fields["nonce"], body, digest)
    if not verify(fields["key"], signed, signature):
        raise AuthError("bad signature")
    return SignedBy(fields["did"], fields["key"], ts, fields["nonce"])
