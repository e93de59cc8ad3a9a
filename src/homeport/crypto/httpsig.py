"""HTTP signatures as the fediverse sends them, both sides.

Two forms are in use. Mastodon (and most servers) sign with draft-cavage-http-signatures
(``Signature: keyId="…",algorithm="rsa-sha256",headers="(request-target) host date digest
content-type",signature="…"``) and bind the body with ``Digest: SHA-256=<base64>``; newer servers
(Fedify first of all) also speak RFC 9421 (``Signature-Input`` + ``Signature``, the body bound by
RFC 9530's ``Content-Digest``), which ``http-message-signatures`` implements. A server reads
both; we send draft-cavage, because every server reads that.

Verifying is split in two so the caller can fetch the key between the steps (the key is the
signer's actor document, somewhere on the web): ``parse`` says which key signed and what was
covered, ``verify`` checks the signature, the body's digest and the time window with the key
found. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import http_sf
from cryptography.exceptions import InvalidSignature as BadCryptoSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
)
from http_message_signatures.algorithms import ED25519, RSA_V1_5_SHA256

CAVAGE = "draft-cavage"
RFC9421 = "rfc9421"
PAST = 3600
"""Seconds a signature stays acceptable after it was made. Mastodon signs each delivery
attempt anew, so an hour is ample; a shorter window keeps the replay memory small."""
FUTURE = 300
"""Seconds of clock skew allowed the other way."""
SIGNED_HEADERS = ("(request-target)", "host", "date", "digest", "content-type")
"""What we sign, as Mastodon does."""
MAX_HEADER = 8192
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([0-9.]+))\s*(?:,|$)')


class SignatureError(ValueError):
    """A request whose signature is missing, malformed, forged, stale or does not cover what it
    must; ``status`` is what to answer (401, or 400 for a body that does not match its
    digest)."""

    def __init__(self, message: str, status: int = 401, mismatch: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.mismatch = mismatch
        """The signature itself did not verify with the key (a rotated key, perhaps)."""


PublicKey = RSAPublicKey | Ed25519PublicKey


@dataclass(frozen=True)
class Parsed:
    """What a request's signature claims, before it is checked."""

    scheme: str
    """``draft-cavage`` or ``rfc9421``."""
    key_id: str
    """The ``keyId``: an actor's key URL (``https://host/users/bob#main-key``)."""
    covered: tuple[str, ...]
    """The covered headers / components, lower case, in order."""
    algorithm: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class Verified:
    scheme: str
    key_id: str
    signed_at: int
    """Seconds since the epoch: the ``Date`` (or ``created``) the signature covers."""
    signature: bytes
    """The signature's bytes: what a replay memory keeps (its hash)."""


def _lower(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    combined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        combined[key] = f"{combined[key]}, {value}" if key in combined else value
    return combined


def _items(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    if isinstance(headers, Mapping):
        return _lower(headers.items())
    return _lower(headers)


def digest(body: bytes) -> str:
    """The ``Digest`` header of ``body`` (RFC 3230, SHA-256), as Mastodon sends and checks."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


def public_key_pem(key: RSAPublicKey | Ed25519PublicKey) -> str:
    """The SubjectPublicKeyInfo PEM an actor's ``publicKey.publicKeyPem`` carries."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str) -> PublicKey:
    """An actor's ``publicKeyPem`` (RSA or Ed25519); ValueError for anything else."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a public key in PEM: {exc}") from None
    if not isinstance(key, RSAPublicKey | Ed25519PublicKey):
        raise ValueError("only RSA and Ed25519 keys sign activities")
    if isinstance(key, RSAPublicKey) and key.key_size < 2048:
        raise ValueError("an RSA key of fewer than 2048 bits is refused")
    return key


def sign(
    key: RSAPrivateKey,
    key_id: str,
    method: str,
    url: str,
    body: bytes | None,
    now: float,
    content_type: str = "application/activity+json",
) -> dict[str, str]:
    """The headers that sign a request the way Mastodon does (``Host``, ``Date``, and with a
    body ``Digest`` and ``Content-Type``, then ``Signature``)."""
    rest = url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    target = "/" + path.split("#", 1)[0]
    headers = {"Host": host, "Date": http_date(now)}
    covered = ["(request-target)", "host", "date"]
    if body is not None:
        headers["Digest"] = digest(body)
        headers["Content-Type"] = content_type
        covered += ["digest", "content-type"]
    text = _signing_string(covered, method, target, _items(headers), {})
    raw = key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(covered)}",'
        f'signature="{base64.b64encode(raw).decode()}"'
    )
    return headers


def _signing_string(
    covered: Iterable[str],
    method: str,
    target: str,
    headers: Mapping[str, str],
    params: Mapping[str, str],
) -> str:
    lines = []
    for name in covered:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name in ("(created)", "(expires)"):
            value = params.get(name[1:-1])
            if value is None:
                raise SignatureError(f"{name} is signed but the signature has no {name[1:-1]}")
            lines.append(f"{name}: {value}")
        else:
            if name not in headers:
                raise SignatureError(f"the signed header {name!r} is missing")
            lines.append(f"{name}: {headers[name].strip()}")
    return "\n".join(lines)


def parse(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Parsed:
    """Which key signed the request and what it covers; RFC 9421 when both forms are
    there. Raises ``SignatureError`` (401) for an unsigned or malformed request."""
    found = _items(headers)
    if "signature-input" in found:
        return _parse_rfc9421(found)
    raw = found.get("signature")
    if raw is None:
        authorization = found.get("authorization", "")
        if authorization[:10].lower() == "signature ":
            raw = authorization[10:]
    if raw is None:
        raise SignatureError("the request is not signed (no Signature header)")
    return _parse_cavage(raw)


def _parse_cavage(raw: str) -> Parsed:
    if len(raw) > MAX_HEADER:
        raise SignatureError("the Signature header is too long")
    params: dict[str, str] = {}
    at = 0
    while at < len(raw):
        match = _PARAM.match(raw, at)
        if match is None or match.end() == at:
            raise SignatureError("the Signature header is malformed")
        name = match.group(1)
        if name in params:
            raise SignatureError(f"the Signature header names {name} twice")
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[name] = re.sub(r"\\(.)", r"\1", value)
        at = match.end()
    key_id = params.get("keyId", "")
    if not key_id or "signature" not in params:
        raise SignatureError("the Signature header lacks keyId or signature")
    algorithm = params.get("algorithm", "hs2019").lower()
    if algorithm not in ("rsa-sha256", "hs2019"):
        raise SignatureError(f"the signature algorithm {algorithm!r} is not accepted")
    covered = tuple(params.get("headers", "date").lower().split())
    return Parsed(CAVAGE, key_id, covered, algorithm, params)


def _parse_rfc9421(found: Mapping[str, str]) -> Parsed:
    raw = found["signature-input"]
    if len(raw) > MAX_HEADER or len(found.get("signature", "")) > MAX_HEADER:
        raise SignatureError("the signature headers are too long")
    try:
        members = cast(dict[str, Any], http_sf.parse(raw.encode(), tltype="dictionary"))
    except Exception:  # the parser raises its own errors for any malformed field
        raise SignatureError("the Signature-Input header is malformed") from None
    if len(members) != 1:
        raise SignatureError("send exactly one signature in Signature-Input")
    (label, (inner, params)), = members.items()
    if not isinstance(inner, list) or not isinstance(params.get("keyid"), str):
        raise SignatureError("the signature lacks a keyid")
    covered = tuple(str(item[0]) for item in inner)
    return Parsed(
        RFC9421,
        params["keyid"],
        covered,
        str(params.get("alg", "")),
        {"label": str(label), **{str(k): str(v) for k, v in params.items()}},
    )


def verify(
    parsed: Parsed,
    key: PublicKey,
    method: str,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    now: float,
) -> Verified:
    """Check the signature ``parse`` read with the signer's ``key``: it must cover the request
    line and the host, be made within ``PAST``/``FUTURE`` of ``now``, and cover a digest that
    matches ``body`` when there is one. ``url`` is the request's full URL as the signer
    addressed it (scheme, the ``Host`` it named, path and query)."""
    found = _items(headers)
    if parsed.scheme == RFC9421:
        return _verify_rfc9421(parsed, key, method, url, found, body, now)
    covered = parsed.covered
    if "(request-target)" not in covered or "host" not in covered:
        raise SignatureError("the signature must cover (request-target) and host")
    if "date" in covered:
        signed_at = _date(found.get("date", ""))
    elif "(created)" in covered:
        signed_at = _seconds(parsed.params.get("created", ""))
    else:
        raise SignatureError("the signature must cover date or (created)")
    _window(signed_at, now)
    if body and "digest" not in covered:
        raise SignatureError("the signature must cover the body's Digest")
    if "digest" in covered:
        _check_digest(found.get("digest", ""), body)
    path = "/" + url.split("://", 1)[-1].partition("/")[2].split("#", 1)[0]
    text = _signing_string(covered, method, path, found, parsed.params).encode()
    try:
        raw = base64.b64decode(parsed.params["signature"], validate=True)
    except ValueError:
        raise SignatureError("the signature is not base64") from None
    try:
        if isinstance(key, RSAPublicKey):
            key.verify(raw, text, padding.PKCS1v15(), hashes.SHA256())
        elif parsed.algorithm == "hs2019":
            key.verify(raw, text)
        else:
            raise SignatureError("an rsa-sha256 signature made with another kind of key")
    except BadCryptoSignature:
        raise SignatureError("the signature does not match", mismatch=True) from None
    return Verified(CAVAGE, parsed.key_id, signed_at, raw)


def _date(value: str) -> int:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise SignatureError("the Date header is missing or not an HTTP date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def _seconds(value: str) -> int:
    if not re.fullmatch(r"\d{1,12}", value):
        raise SignatureError("created must be whole seconds since the epoch")
    return int(value)


def _window(signed_at: int, now: float) -> None:
    if signed_at < now - PAST:
        raise SignatureError("the signature is too old (more than an hour)")
    if signed_at > now + FUTURE:
        raise SignatureError("the signature is dated in the future")


def _check_digest(value: str, body: bytes) -> None:
    """``Digest: SHA-256=…`` (others in the list are ignored, as Mastodon does)."""
    wanted = hashlib.sha256(body).digest()
    for part in value.split(","):
        name, _, encoded = part.strip().partition("=")
        if name.lower() == "sha-256":
            try:
                given = base64.b64decode(encoded, validate=True)
            except ValueError:
                raise SignatureError("the Digest header is malformed", 400) from None
            if not hmac.compare_digest(given, wanted):
                raise SignatureError("the body does not match its Digest", 400)
            return
    raise SignatureError("the Digest header has no SHA-256 value", 400)


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, key_id: str, key: PublicKey) -> None:
        self.key_id = key_id
        self.key = key

    def resolve_public_key(self, key_id: str) -> PublicKey | None:
        return self.key if key_id == self.key_id else None


@dataclass
class _Message:
    method: str
    url: str
    headers: dict[str, str]


def _verify_rfc9421(
    parsed: Parsed,
    key: PublicKey,
    method: str,
    url: str,
    found: dict[str, str],
    body: bytes,
    now: float,
) -> Verified:
    covered = set(parsed.covered)
    if "@method" not in covered or not covered & {"@target-uri", "@path", "@request-target"}:
        raise SignatureError("the signature must cover @method and @target-uri")
    if not covered & {"@authority", "host", "@target-uri"}:
        raise SignatureError("the signature must cover @authority")
    if body and "content-digest" not in covered:
        raise SignatureError("the signature must cover the body's Content-Digest")
    signed_at = _seconds(parsed.params.get("created", ""))
    _window(signed_at, now)
    algorithm = RSA_V1_5_SHA256 if isinstance(key, RSAPublicKey) else ED25519
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithm, key_resolver=_OneKey(parsed.key_id, key)
    )
    verifier.max_clock_skew = timedelta(seconds=FUTURE)
    try:
        results = verifier.verify(
            _Message(method.upper(), url, found),
            max_age=timedelta(seconds=PAST),
            body=body if "content-digest" in covered else None,
        )
    except HTTPMessageSignaturesException as exc:
        text = str(exc)
        status = 400 if "digest" in text.lower() and "cover" not in text.lower() else 401
        raise SignatureError(f"the signature does not verify: {text}", status,
                             mismatch=status == 401) from None
    if not results:
        raise SignatureError("the signature does not verify")
    return Verified(RFC9421, parsed.key_id, signed_at, found.get("signature", "").encode())


def sign_rfc9421(
    key: RSAPrivateKey | Ed25519PrivateKey,
    key_id: str,
    method: str,
    url: str,
    body: bytes | None,
    now: float,
    content_type: str = "application/activity+json",
) -> dict[str, str]:
    """The headers of an RFC 9421 signature over the request line, host, date and (with a
    body) its ``Content-Digest``: the form Fedify sends first."""
    host = url.split("://", 1)[1].partition("/")[0]
    headers = {"Host": host, "Date": http_date(now)}
    covered = ["@method", "@target-uri", "@authority", "date"]
    if body is not None:
        headers["Content-Type"] = content_type
        covered += ["content-type", "content-digest"]
    algorithm = RSA_V1_5_SHA256 if isinstance(key, RSAPrivateKey) else ED25519
    signer = HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=_PrivateKey(key))
    message = _Message(method.upper(), url, headers)
    signer.sign(
        message, key_id=key_id, created=datetime.fromtimestamp(int(now), UTC), label="sig1",
        covered_component_ids=covered, body=body,
    )
    return message.headers


class _PrivateKey(HTTPSignatureKeyResolver):
    def __init__(self, key: RSAPrivateKey | Ed25519PrivateKey) -> None:
        self.key = key

    def resolve_private_key(self, key_id: str) -> RSAPrivateKey | Ed25519PrivateKey:
        return self.key


__all__ = [
    "CAVAGE",
    "RFC9421",
    "Parsed",
    "SignatureError",
    "Verified",
    "digest",
    "load_public_key",
    "parse",
    "public_key_pem",
    "sign",
    "sign_rfc9421",
    "verify",
]
