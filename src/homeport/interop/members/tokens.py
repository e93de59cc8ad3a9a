"""The sign-in link and the member's session, both sealed (AES-256-GCM, ``crypto/seal.py``)
with keys only this provider holds (``ports.OneTime.secret``): a member's address is never in
a cookie in clear, and neither can be forged or moved to another site's host.

A link is good once (``OneTime.first_use``) and for ``LINK_MS``; a session names the host it
was made for and lasts ``SESSION_MS``.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

from homeport import jsonio
from homeport.crypto.seal import SealError, open_sealed, seal
from homeport.interop.ports import OneTime

LINK_MS = 15 * 60_000
SESSION_MS = 30 * 86_400_000
COOKIE = "hp_member"
MAX_TOKEN = 2048


@dataclass(frozen=True)
class Claim:
    host: str
    email: str
    expires: int
    next: str = "/"
    nonce: str = ""


def _key(once: OneTime, purpose: str) -> bytes:
    return once.secret(purpose)[:32]


def make(once: OneTime, purpose: str, claim: Claim) -> str:
    doc = {"h": claim.host, "e": claim.email, "x": claim.expires, "n": claim.next,
           "i": claim.nonce}
    sealed = seal(_key(once, purpose), jsonio.dumps(doc), purpose.encode())
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def read(once: OneTime, purpose: str, token: str, host: str, now: int) -> Claim | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc: Any = jsonio.loads(open_sealed(_key(once, purpose), raw, purpose.encode()))
    except (ValueError, SealError):
        return None
    if not isinstance(doc, dict) or doc.get("h") != host:
        return None
    expires = doc.get("x")
    if not isinstance(expires, int) or expires <= now:
        return None
    return Claim(host, str(doc.get("e") or ""), expires, str(doc.get("n") or "/"),
                 str(doc.get("i") or ""))


def make_link(once: OneTime, host: str, email: str, next_path: str, now: int) -> str:
    claim = Claim(host, email, now + LINK_MS, next_path, secrets.token_urlsafe(12))
    return make(once, "members_link", claim)


def read_link(once: OneTime, token: str, host: str, now: int) -> Claim | None:
    """The link's claim while it has not expired (not yet spent: see ``spend``)."""
    claim = read(once, "members_link", token, host, now)
    return claim if claim is not None and claim.nonce else None


def spend(once: OneTime, claim: Claim) -> bool:
    """True the first time a link is spent; a link is spent when it signs someone in."""
    return once.first_use(f"members-link:{claim.nonce}", claim.expires)


def make_session(once: OneTime, host: str, email: str, now: int) -> str:
    return make(once, "members_session", Claim(host, email, now + SESSION_MS))


def open_session(once: OneTime, token: str, host: str, now: int) -> Claim | None:
    return read(once, "members_session", token, host, now)
