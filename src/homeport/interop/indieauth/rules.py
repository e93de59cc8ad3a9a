"""IndieAuth's rules on URLs, scopes and PKCE, with no I/O (spec: indieauth.spec.indieweb.org).

Every check raises ``OAuthError`` carrying the OAuth error code the spec names, so the
endpoints answer exactly what a client library expects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

SCOPES = ("profile", "email", "create", "update", "delete", "undelete", "media", "draft")
"""What the metadata lists in ``scopes_supported``: IndieAuth's and Micropub's usual scopes."""

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_URL = 2048


@dataclass
class OAuthError(Exception):
    """An answer in OAuth's error shape: ``{"error": code, "error_description": …}``."""

    code: str
    description: str
    status: int = 400


def _parts(url: str, what: str) -> tuple[str, str, str, str, str]:
    if not url or len(url) > MAX_URL or any(c.isspace() for c in url):
        raise OAuthError("invalid_request", f"{what} is missing or not a URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise OAuthError("invalid_request", f"{what} is not a URL") from None
    return parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment


def _dot_segments(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


def _loopback_only_ip(host: str) -> bool:
    """Hosts must be names; of IP literals only 127.0.0.1 and [::1] are allowed."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return str(address) in ("127.0.0.1", "::1")


def client_id(url: str) -> str:
    """A valid client identifier, unchanged (spec §3.2): http(s), a path, no dot segments,
    no fragment, no user info, a name or a loopback address for a host."""
    scheme, netloc, path, _query, fragment = _parts(url, "client_id")
    host = urlsplit(url).hostname or ""
    if scheme not in ("http", "https") or not host:
        raise OAuthError("invalid_request", "client_id must be an http or https URL")
    if not path or _dot_segments(path):
        raise OAuthError("invalid_request", "client_id needs a path without . or .. segments")
    if fragment or "#" in url:
        raise OAuthError("invalid_request", "client_id must not have a fragment")
    if "@" in netloc:
        raise OAuthError("invalid_request", "client_id must not carry a user name or password")
    if not _loopback_only_ip(host):
        raise OAuthError("invalid_request", "client_id's host must be a name, not an address")
    return url


def canonical_me(url: str) -> str:
    """A profile URL as the spec canonicalises it: scheme added, host lower-cased, ``/`` for
    an empty path. Ports and IP addresses are not profile URLs."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    scheme, netloc, path, query, fragment = _parts(text, "me")
    parts = urlsplit(text)
    if scheme.lower() not in ("http", "https") or not parts.hostname:
        raise OAuthError("invalid_request", "me must be an http or https URL")
    if fragment or "@" in netloc or (parts.port is not None and not _local(parts.hostname)):
        raise OAuthError("invalid_request", "me must not have a fragment, user info or port")
    if _dot_segments(path):
        raise OAuthError("invalid_request", "me must not have . or .. path segments")
    return urlunsplit((scheme.lower(), netloc.lower(), path or "/", query, ""))


def _local(host: str) -> bool:
    """Loopback names keep their port (a provider under test serves on one)."""
    return host == "localhost" or host.endswith(".localhost") or not _is_name(host)


def _is_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return False


def same_origin(a: str, b: str) -> bool:
    """Scheme, host and port equal: a redirect_uri there needs no published list."""
    pa, pb = urlsplit(a), urlsplit(b)
    try:
        return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)
    except ValueError:
        return False


def redirect_uri(url: str) -> str:
    """A redirect URI the endpoint may send the browser to: absolute, no fragment. Custom
    schemes (native apps) are allowed; whether this client may use it is checked apart."""
    scheme, _netloc, _path, _query, fragment = _parts(url, "redirect_uri")
    if not scheme or fragment or "#" in url:
        raise OAuthError("invalid_request", "redirect_uri must be absolute, without a fragment")
    if scheme.lower() in ("javascript", "data", "vbscript", "file", "blob"):
        raise OAuthError("invalid_request", f"redirect_uri may not use {scheme}:")
    return url


def scope(text: str | None) -> frozenset[str]:
    """The space-separated scope parameter (``+`` already decoded by the form parser)."""
    if not text:
        return frozenset()
    found = text.split()
    if not all(_SCOPE_TOKEN.fullmatch(item) for item in found):
        raise OAuthError("invalid_scope", "scope holds characters OAuth does not allow")
    return frozenset(found)


def scope_text(values: frozenset[str]) -> str:
    return " ".join(sorted(values))


def pkce_challenge(challenge: str | None, method: str | None) -> str:
    """The request's code_challenge: S256 only (plain is not offered)."""
    if not challenge:
        raise OAuthError("invalid_request", "code_challenge is required (PKCE)")
    if (method or "") != "S256":
        raise OAuthError("invalid_request", "code_challenge_method must be S256")
    if not _CHALLENGE.fullmatch(challenge):
        raise OAuthError("invalid_request", "code_challenge is not a base64url SHA-256")
    return challenge


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def pkce_verify(verifier: str | None, challenge: str) -> None:
    if not verifier or not _VERIFIER.fullmatch(verifier):
        raise OAuthError("invalid_request", "code_verifier is missing or malformed")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
