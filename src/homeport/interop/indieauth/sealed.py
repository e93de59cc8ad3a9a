"""Values the provider hands out and takes back unchanged (authorization codes, a pending
sign-in's request, a WebAuthn challenge): JSON signed with the provider's own key, so no
worker needs to remember them, and single use is enforced by ``OneTime.first_use`` on their
nonce. They are bearer values of short life; they carry nothing secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from homeport import jsonio


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def nonce() -> str:
    return secrets.token_urlsafe(18)


def seal(key: bytes, kind: str, payload: dict[str, Any]) -> str:
    body = _b64(jsonio.dumps({"k": kind, **payload}))
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def open_sealed(key: bytes, kind: str, value: str, now: int) -> dict[str, Any] | None:
    """The payload, or None if the value was not sealed here for ``kind`` or has expired
    (``exp``, milliseconds)."""
    if not isinstance(value, str) or value.count(".") != 1 or len(value) > 8192:
        return None
    body, mac = value.split(".")
    good = hmac.new(key, body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), good):
            return None
        payload = jsonio.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        return None
    expires = payload.get("exp")
    if not isinstance(expires, int) or expires <= now:
        return None
    return payload


def challenge(key: bytes, sealed: str) -> bytes:
    """The WebAuthn challenge bound to one sealed request: an assertion made for one sign-in
    cannot approve another."""
    return hmac.new(key, b"webauthn\0" + sealed.encode(), hashlib.sha256).digest()
