"""Signed requests: how a home proves, on every request, that it speaks for its identity.

Both sides live here so they cannot drift: ``authorization`` builds the header a home sends,
``check_authorization`` is what a provider runs. Every signature names its audience, the origin
of the provider it is meant for (protocol 2), so a provider cannot replay a home's request at
another provider. Replay protection at the same provider (remembering nonces) is the provider's
job; this module only parses and checks signatures, audiences and clocks.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.crypto.keys import did_key
from homeport.crypto.signing import sign, verify

SCHEME = "Homeport"
VERSION = "homeport/v2"
PROTOCOL = 2
CLOCK_SKEW_MS = 5 * 60 * 1000
_FIELD = re.compile(r'(\w+)="([^"]*)"')


class AuthError(ValueError):
    """A request whose signature header is missing, malformed, stale or wrong."""


class AudienceError(AuthError):
    """A request signed for another provider (or, protocol 1, for none)."""

    def __init__(self, message: str, expected: Collection[str]) -> None:
        super().__init__(message)
        self.expected = sorted(expected)


def origin(url: str) -> str:
    """``scheme://host:port`` of a provider address, the port always written: the audience a
    home signs for and a provider compares with its own public addresses."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url}: the port is not a number") from None
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url}: not a provider address (expected https://host[:port])")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}:{port or (443 if scheme == 'https' else 80)}"


@dataclass(frozen=True)
class SignedBy:
    did: str
    key: str
    ts: int
    nonce: str


def message(
    audience: str,
    method: str,
    target: str,
    ts: int,
    nonce: str,
    body: bytes,
    digest: str | None = None,
) -> bytes:
    """What is signed. ``digest`` stands for the body when the body is checked piece by piece
    as it arrives (a pack's segments, ``segments.py``); otherwise it is the body's SHA-256."""
    digest = digest or hashlib.sha256(body).hexdigest()
    fields = [VERSION, audience, method.upper(), target, str(ts), nonce, digest]
    return "\n".join(fields).encode()


def authorization(
    key: Ed25519PrivateKey,
    did: str,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    audience: str,
    now_ms: int | None = None,
    digest: str | None = None,
) -> str:
    """The ``Authorization`` header value for a request to ``target`` (path and query) at the
    provider whose address is ``audience`` (reduced to its origin)."""
    aud = origin(audience)
    ts = now_ms if now_ms is not None else int(time.time() * 1000)
    nonce = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    key_did = did_key(key.public_key())
    sig = sign(key, message(aud, method, target, ts, nonce, body, digest))
    return (
        f'{SCHEME} did="{did}", key="{key_did}", aud="{aud}", ts="{ts}", nonce="{nonce}", '
        f'sig="{sig}"'
    )


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
    audiences: Collection[str],
    now_ms: int | None = None,
    digest: str | None = None,
) -> SignedBy:
    """Check the audience, the signature and the clock; ``allowed_keys`` are the dids that may
    sign for the tenant (its key in force and its root), ``audiences`` the origins this
    provider answers as. Raises AuthError (AudienceError) saying what is wrong."""
    fields = parse(header)
    check_audience(fields.get("aud"), audiences)
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
    signed = message(fields["aud"], method, target, ts, fields["nonce"], body, digest)
    if not verify(fields["key"], signed, signature):
        raise AuthError("bad signature")
    return SignedBy(fields["did"], fields["key"], ts, fields["nonce"])


def check_audience(aud: str | None, audiences: Collection[str]) -> None:
    """Refuse a signature meant for another provider, or one that names none (protocol 1:
    refused everywhere, since even a read replayed elsewhere would hand out a tenant's data)."""
    expected = " or ".join(sorted(audiences)) or "(none configured)"
    if aud is None:
        raise AudienceError(
            "this request is signed with protocol 1, which does not name the provider it is "
            f"meant for; this provider accepts protocol 2 only (audience {expected}): "
            "update the home",
            audiences,
        )
    if aud not in audiences:
        raise AudienceError(
            f"this request was signed for {aud}, not for this provider, which answers as "
            f"{expected} (if the home reached this provider at that address, the operator "
            "should add it to the provider_public_url setting)",
            audiences,
        )
