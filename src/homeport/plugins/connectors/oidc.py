"""OpenID Connect: any issuer by URL, client id and secret (joserfc, Authlib's JOSE library,
checks the tokens).

The owner's GUI login is the authorization-code flow; the ID token that comes back is checked
(signature against the issuer's published keys, ``iss``, ``aud`` = our client id, ``exp``, and
the ``nonce`` derived from the sign-in's state). On ``/v1`` a ``Bearer`` JWT from the issuer is
checked the same way, with ``aud`` one of the client id and ``oidc_audiences`` (API clients
registered at the same issuer), and names the principal ``<name>:<sub>``. With
``opaque_tokens`` on, a bearer that is not a JWT is an access token asked about at the
issuer's userinfo endpoint (as Kinto's OpenID plugin does), the answer kept a minute.

The issuer is the owner's choice, not someone else's, so its discovery and key fetches go
straight out (not through ``web/outbound.py``'s public-only rule: a company's issuer often
lives on its private network).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from homeport import jsonio
from homeport.plugins.connectors.oauth import callback_code
from homeport.plugins.kinds import Identity, SignInFailed

FETCH_TIMEOUT = 10.0
KEYS_MIN_REFRESH = 60.0
"""A token whose key id is unknown makes a fresh fetch of the issuer's keys (key rotation),
at most once a minute so that forged key ids cannot make us hammer the issuer."""
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
"""Signatures accepted (never ``none`` nor the HMAC ones, which a client secret could make)."""
LEEWAY = 2
"""Seconds of clock difference allowed on ``exp``/``nbf``/``iat`` (clocks kept by NTP)."""
USERINFO_TTL = 60.0
"""How long the userinfo endpoint's answer about an opaque token is trusted (a revoked token
keeps working that long; a bad one is not asked about again before)."""
USERINFO_KEPT = 10_000
"""Answers remembered at most (the oldest go first)."""


def nonce_of(state: str) -> str:
    """The nonce sent with a sign-in: bound to its state, so nothing else needs keeping."""
    return hashlib.sha256(b"homeport-oidc-nonce:" + state.encode()).hexdigest()


def unverified_claims(token: str) -> dict[str, Any] | None:
    """A JWT's payload before any check (only to see whose it is), None if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = jsonio.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


@dataclass
class OpenIDConnect:
    """One issuer. ``name`` is the principal prefix (``oidc`` gives ``oidc:<sub>``)."""

    issuer: str
    client_id: str
    client_secret: str
    name: str = "oidc"
    title: str = "Sign in with OpenID Connect"
    audiences: tuple[str, ...] = ()
    scope: str = "openid email profile"
    opaque_tokens: bool = False
    """Accept non-JWT access tokens on ``/v1``, checked at the userinfo endpoint."""
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _keys: KeySet | None = field(default=None, repr=False)
    _keys_at: float = field(default=0.0, repr=False)
    _userinfo: dict[str, tuple[float, Identity | None]] = field(default_factory=dict,
                                                                repr=False)

    def __post_init__(self) -> None:
        self.issuer = self.issuer.rstrip("/")

    # ---- the issuer's documents ----------------------------------------------------------

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
                answer = await client.get(url, headers={"Accept": "application/json"})
            answer.raise_for_status()
            found = jsonio.loads(answer.content)
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInFailed(f"The issuer {self.issuer} could not be read: {exc}") from None
        if not isinstance(found, dict):
            raise SignInFailed(f"The OpenID issuer {self.issuer} sent something else than JSON")
        return found

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (kept for the life of the process)."""
        if self._metadata is None:
            found = await self._get_json(self.issuer + "/.well-known/openid-configuration")
            if str(found.get("issuer", "")).rstrip("/") != self.issuer:
                raise SignInFailed(f"{self.issuer} says its issuer is {found.get('issuer')!r}")
            self._metadata = found
        return self._metadata

    async def keys(self, kid: str | None) -> KeySet:
        """The issuer's signing keys, fetched again when ``kid`` is not among them."""
        known = self._keys is not None and (
            kid is None or any(k.kid == kid for k in self._keys)
        )
        stale = time.monotonic() - self._keys_at > KEYS_MIN_REFRESH
        if self._keys is None or (not known and stale):
            meta = await self.metadata()
            jwks = await self._get_json(str(meta.get("jwks_uri", "")))
            try:
                self._keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError) as exc:
                raise SignInFailed(f"The issuer's keys cannot be read: {exc}") from None
            self._keys_at = time.monotonic()
        assert self._keys is not None
        return self._keys

    # ---- checking a token ----------------------------------------------------------------

    async def verify(self, token: str, audiences: tuple[str, ...],
                     nonce: str | None = None) -> Identity:
        """The person a JWT from this issuer names; ``SignInFailed`` saying what is wrong."""
        header = token.split(".", 1)[0]
        try:
            kid = jsonio.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
            kid = kid.get("kid") if isinstance(kid, dict) else None
        except (binascii.Error, ValueError):
            raise SignInFailed("The token is not a JWT") from None
        keys = await self.keys(kid if isinstance(kid, str) else None)
        rules: dict[str, Any] = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "values": list(audiences)},
            "sub": {"essential": True},
            "exp": {"essential": True},
        }
        if nonce is not None:
            rules["nonce"] = {"essential": True, "value": nonce}
        try:
            claims = jwt.decode(token, keys, algorithms=ALGORITHMS).claims
            jwt.JWTClaimsRegistry(leeway=LEEWAY, **rules).validate(claims)
        except JoseError as exc:
            raise SignInFailed(f"The token does not hold: {_reason(exc)}") from None
        except (ValueError, TypeError) as exc:  # a key id not among the issuer's keys…
            raise SignInFailed(f"The token's signature cannot be checked: {exc}") from None
        sub = str(claims["sub"])
        return Identity(self.name, sub, str(claims.get("name") or ""),
                        str(claims.get("email") or ""))

    async def authenticate(self, token: str) -> Identity | None:
        claims = unverified_claims(token)
        if claims is None:
            return await self.userinfo(token) if self.opaque_tokens else None
        if str(claims.get("iss", "")).rstrip("/") != self.issuer:
            return None
        return await self.verify(token, (self.client_id, *self.audiences))

    async def userinfo(self, token: str) -> Identity | None:
        """The person an opaque access token belongs to, as the issuer's userinfo endpoint
        says; None when the issuer does not know the token (another connector's, or made
        up). Answers are kept ``USERINFO_TTL`` seconds by the token's hash."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        kept = self._userinfo.get(key)
        if kept is not None and now - kept[0] < USERINFO_TTL:
            return kept[1]
        endpoint = str((await self.metadata()).get("userinfo_endpoint") or "")
        if not endpoint:
            raise SignInFailed(f"The issuer {self.issuer} has no userinfo endpoint, so it "
                               "cannot vouch for opaque tokens")
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
                answer = await client.get(endpoint, headers={
                    "Authorization": f"Bearer {token}", "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SignInFailed(f"The issuer's userinfo endpoint failed: {exc}") from None
        found: Identity | None = None
        if answer.status_code == 200:
            try:
                claims = jsonio.loads(answer.content)
            except ValueError:
                claims = None
            if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
                raise SignInFailed("The issuer's userinfo answer names no subject")
            found = Identity(self.name, claims["sub"], str(claims.get("name") or ""),
                             str(claims.get("email") or ""))
        elif answer.status_code not in (400, 401, 403):
            raise SignInFailed(f"The issuer's userinfo endpoint answered {answer.status_code}")
        if len(self._userinfo) >= USERINFO_KEPT:
            del self._userinfo[next(iter(self._userinfo))]
        self._userinfo[key] = (now, found)
        return found

    # ---- the GUI's sign-in ---------------------------------------------------------------

    async def begin(self, request: Request, callback_url: str, state: str) -> Response:
        meta = await self.metadata()
        query = urlencode({
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": callback_url, "scope": self.scope,
            "state": state, "nonce": nonce_of(state),
        })
        return RedirectResponse(f"{meta['authorization_endpoint']}?{query}", 303)

    async def complete(self, request: Request, callback_url: str, state: str) -> Identity:
        code = callback_code(request, state, "The issuer")
        meta = await self.metadata()
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
                answer = await client.post(
                    str(meta["token_endpoint"]),
                    data={"grant_type": "authorization_code", "code": code,
                          "redirect_uri": callback_url},
                    auth=(self.client_id, self.client_secret),
                    headers={"Accept": "application/json"},
                )
            tokens = jsonio.loads(answer.content)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise SignInFailed(f"The issuer's token endpoint failed: {exc}") from None
        if answer.status_code != 200 or not isinstance(tokens, dict):
            raise SignInFailed(f"The issuer refused the code ({answer.status_code})")
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("The issuer sent no ID token")
        return await self.verify(id_token, (self.client_id,), nonce=nonce_of(state))


def _reason(exc: JoseError) -> str:
    """joserfc's error in words: which claim, or the signature."""
    if exc.error == "bad_signature":
        return "its signature is not the issuer's"
    if exc.error == "expired_token":
        return "it has expired"
    return str(exc.description or exc.error)
