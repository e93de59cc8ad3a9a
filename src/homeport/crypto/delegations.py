"""Delegations: what a home signs to let one provider do one narrow thing for it.

Both sides live here so they cannot drift (as in ``sync/auth.py``): ``sign_delegation`` is what the
home runs, ``check_delegation`` what a provider (or anyone holding the document) runs. The format
is in ``docs/format.md`` ("Delegations"); a bearer token is a delegation of power ``token`` that
carries only the SHA-256 of its secret.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core.canonical import CanonicalError, canonical
from homeport.crypto.keys import did_key
from homeport.crypto.signing import sign, verify

TYPE = "homeport-delegation"
VERSION = 1
TOKEN = "token"
"""The power of a bearer token the home issued (params: ``hash``, ``scope``, ``client_id``,
``me``)."""
INDIEAUTH_TOKENS = "indieauth-tokens"
"""The power to issue IndieAuth tokens at the provider (params: ``scopes``, the most a token it
issues may carry)."""
TOKEN_PREFIX = "hpt_"
ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
POWER = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,64}$")
"""One scope token as RFC 6749 §3.3 allows it (printable ASCII but space, ``"`` and ``\\``)."""
ORIGIN = re.compile(r"^https?://[^/\s?#@]{1,300}:\d{1,5}$")
MAX_PARAMS = 16 * 1024
FIELDS = frozenset(
    {"type", "v", "id", "issuer", "key", "audience", "power", "params", "issued", "expires", "sig"}
)


class DelegationError(ValueError):
    """A delegation that is malformed, forged, meant for another provider, expired or revoked;
    the message says which."""


@dataclass(frozen=True)
class Checked:
    """A delegation whose signature, audience and expiry were checked."""

    id: str
    issuer: str
    audience: str
    power: str
    params: Mapping[str, Any]
    issued: int
    expires: int | None


def new_id() -> str:
    """Hex: a grant's id is also its record's id at home, and Kinto's ids start with a letter
    or digit (``token_urlsafe`` began with ``-`` or ``_`` one time in 32: that grant could not
    be found again, nor revoked)."""
    return secrets.token_hex(16)


def new_token() -> str:
    """A bearer token's secret: shown once, never stored (only ``token_hash`` of it)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the home and the providers keep of a token: its SHA-256, lowercase hex. The secret
    has 256 random bits, so a hash needs no salt and no slow function."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scope(scope: str | Collection[str]) -> list[str]:
    """Scopes, sorted and unique, each a valid RFC 6749 scope token."""
    items = scope.split() if isinstance(scope, str) else list(scope)
    for item in items:
        if not isinstance(item, str) or not SCOPE.match(item):
            raise DelegationError(f"{item!r} is not a scope (printable ASCII, no spaces)")
    if not items:
        raise DelegationError("give at least one scope")
    return sorted(set(items))


def signing_bytes(doc: Mapping[str, Any]) -> bytes:
    """What the signature covers: the document's canonical JSON without ``sig``."""
    return canonical({k: v for k, v in doc.items() if k != "sig"})


def sign_delegation(
    key: Ed25519PrivateKey,
    issuer: str,
    audience: str,
    power: str,
    params: Mapping[str, Any],
    *,
    issued: int,
    expires: int | None,
    delegation_id: str | None = None,
) -> dict[str, Any]:
    """A signed delegation for the provider whose origin is ``audience`` (``scheme://host:port``,
    as ``sync.auth.origin`` writes it)."""
    doc: dict[str, Any] = {
        "type": TYPE,
        "v": VERSION,
        "id": delegation_id or new_id(),
        "issuer": issuer,
        "key": did_key(key.public_key()),
        "audience": audience,
        "power": power,
        "params": dict(params),
        "issued": issued,
        "expires": expires,
    }
    _check_shape(doc)
    doc["sig"] = sign(key, signing_bytes(doc))
    return doc


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def _check_shape(doc: Mapping[str, Any]) -> None:
    if doc.get("type") != TYPE or doc.get("v") != VERSION:
        raise DelegationError(f"not a {TYPE} of version {VERSION}")
    extra = set(doc) - FIELDS
    if extra:
        raise DelegationError(f"unknown fields: {', '.join(sorted(extra))}")
    if not isinstance(doc.get("id"), str) or not ID.match(doc["id"]):
        raise DelegationError("the id must be 8 to 64 characters of A-Z a-z 0-9 _ -")
    for name in ("issuer", "key"):
        if not isinstance(doc.get(name), str) or not doc[name].startswith("did:key:z"):
            raise DelegationError(f"{name} must be a did:key")
    if not isinstance(doc.get("audience"), str) or not ORIGIN.match(doc["audience"]):
        raise DelegationError("the audience must be a provider's origin (scheme://host:port)")
    if not isinstance(doc.get("power"), str) or not POWER.match(doc["power"]):
        raise DelegationError("the power must be a short lowercase name (a-z 0-9 -)")
    _check_params(doc)


def _check_params(doc: Mapping[str, Any]) -> None:
    """params, the times, and a token's own fields."""
    params = doc.get("params")
    if not isinstance(params, Mapping):
        raise DelegationError("params must be an object")
    try:
        size = len(canonical(params))
    except (CanonicalError, TypeError):
        raise DelegationError("params must be plain JSON") from None
    if size > MAX_PARAMS:
        raise DelegationError(f"params are over {MAX_PARAMS} bytes")
    if not _int(doc.get("issued")):
        raise DelegationError("issued must be milliseconds since the epoch")
    expires = doc.get("expires")
    if expires is None:
        if doc["power"] != TOKEN:
            raise DelegationError("a delegation other than a token must have an expiry")
    elif not _int(expires):
        raise DelegationError("expires must be milliseconds since the epoch, or null")
    if doc["power"] == TOKEN:
        _check_token_params(params)


def _check_token_params(params: Mapping[str, Any]) -> None:
    digest = params.get("hash")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise DelegationError("a token's hash must be 64 lowercase hex digits (SHA-256)")
    scope = params.get("scope")
    if not isinstance(scope, list) or parse_scope(scope) != scope:
        raise DelegationError("a token's scope must be a sorted list of unique scopes")
    for name in ("client_id", "me"):
        if params.get(name) is not None and not isinstance(params[name], str):
            raise DelegationError(f"a token's {name} must be a URL or null")


_VERIFIED: OrderedDict[tuple[str, bytes, bytes], bool] = OrderedDict()
_VERIFIED_MAX = 4096
_VERIFIED_LOCK = threading.Lock()


def _verified(key: str, message: bytes, signature: bytes) -> bool:
    """``verify``, remembered: a provider checks the same few documents on every request, and
    the answer depends on nothing but these three values (kept by the message's hash, so the
    memory stays small whatever the documents' size)."""
    memo = (key, hashlib.sha256(message).digest(), signature)
    with _VERIFIED_LOCK:
        if memo in _VERIFIED:
            _VERIFIED.move_to_end(memo)
            return _VERIFIED[memo]
    answer = verify(key, message, signature)
    with _VERIFIED_LOCK:
        _VERIFIED[memo] = answer
        while len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.popitem(last=False)
    return answer


def check_delegation(
    doc: Any,
    allowed_keys: Collection[str],
    issuer: str,
    audiences: Collection[str],
    now_ms: int,
) -> Checked:
    """Check a delegation as a provider must on every use: its shape, that ``issuer`` signed it
    with one of ``allowed_keys`` (the root and the key in force), that it names one of
    ``audiences`` (this provider's origins) and that it has not expired. Revocation is the
    caller's to check (the latest list the home pushed)."""
    if not isinstance(doc, Mapping):
        raise DelegationError("a delegation is a JSON object")
    _check_shape(doc)
    if doc["issuer"] != issuer:
        raise DelegationError("this delegation was issued by another identity")
    if doc["key"] not in allowed_keys:
        raise DelegationError("the delegation is signed by a key this identity has not in force")
    raw = doc.get("sig")
    if not isinstance(raw, str):
        raise DelegationError("the delegation is not signed")
    try:
        signature = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except ValueError:
        raise DelegationError("the signature is not base64url") from None
    if not _verified(doc["key"], signing_bytes(doc), signature):
        raise DelegationError("bad signature")
    if doc["audience"] not in audiences:
        raise DelegationError(f"this delegation is for {doc['audience']}, not this provider")
    expires = doc["expires"]
    if expires is not None and expires <= now_ms:
        raise DelegationError("this delegation has expired")
    return Checked(
        doc["id"],
        doc["issuer"],
        doc["audience"],
        doc["power"],
        dict(doc["params"]),
        doc["issued"],
        expires,
    )


__all__ = [
    "INDIEAUTH_TOKENS",
    "TOKEN",
    "Checked",
    "DelegationError",
    "check_delegation",
    "new_token",
    "parse_scope",
    "sign_delegation",
    "token_hash",
]
