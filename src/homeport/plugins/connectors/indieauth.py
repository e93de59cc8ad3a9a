"""IndieAuth: sign in with your website (https://indieauth.spec.indieweb.org/), as a client.

The login page asks for a site's address; the site's ``rel="indieauth-metadata"`` (a Link
header or ``<link>``, else the older ``rel="authorization_endpoint"``) names its server, the
person approves there, and the code comes back to the home, which redeems it at the
authorization endpoint with the PKCE verifier (a profile-only sign-in: no token). The person is
``indieauth:<their canonical site URL>``. Homeport's own providers are such servers (E's
IndieAuth with passkeys), so a Homeport site signs in to another home this way.

The address is typed by someone not yet signed in: every fetch goes through
``web/outbound.py``'s public-addresses-only rule (``fetch_allow_private`` lifts it).
Pending sign-ins are kept in memory ten minutes (one home process answers its GUI).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from homeport import jsonio
from homeport.interop import discovery
from homeport.interop.indieauth import rules
from homeport.plugins.kinds import Identity, SignInFailed
from homeport.web import outbound

PENDING_SECONDS = 600.0
PENDING_KEPT = 1_000
FETCH_LIMIT = 256 * 1024


@dataclass
class Pending:
    me: str
    metadata: dict[str, Any]
    verifier: str
    expires: float


@dataclass
class IndieAuth:
    """This home as an IndieAuth client: ``client_id`` is the home's own address."""

    permitted: outbound.Permitted = outbound.public_only
    name: str = "indieauth"
    title: str = "Sign in with your website"
    asks: str = "url"
    """The login page asks for this (a field of that name) before ``begin``."""
    _pending: dict[str, Pending] = field(default_factory=dict, repr=False)

    async def _get(self, url: str, accept: str) -> outbound.Fetched:
        try:
            found = await outbound.fetch(url, permitted=self.permitted, limit=FETCH_LIMIT,
                                         accept=accept)
        except (outbound.FetchRefused, OSError, TimeoutError) as exc:
            raise SignInFailed(f"{url} could not be read: {exc}", code=400) from None
        except Exception as exc:  # httpx's errors: the site is down, not our failure
            raise SignInFailed(f"{url} could not be read: {type(exc).__name__}",
                               code=400) from None
        if found.status != 200:
            raise SignInFailed(f"{url} answered {found.status}", code=400)
        return found

    async def discover(self, me: str) -> dict[str, Any]:
        """The site's IndieAuth server metadata (or the legacy endpoint alone)."""
        page = await self._get(me, "text/html")
        where = discovery.from_response(page, "indieauth-metadata")
        if where:
            document = await self._get(urljoin(page.url, where), "application/json")
            try:
                metadata = jsonio.loads_untrusted(document.body)
            except ValueError:
                metadata = None
            if not isinstance(metadata, dict) or not isinstance(
                    metadata.get("authorization_endpoint"), str):
                raise SignInFailed(f"{me}'s IndieAuth metadata names no authorization "
                                   "endpoint", code=400)
            return metadata
        legacy = discovery.from_response(page, "authorization_endpoint")
        if legacy:
            return {"authorization_endpoint": urljoin(page.url, legacy)}
        raise SignInFailed(f"{me} names no IndieAuth server (rel=\"indieauth-metadata\")",
                           code=400)

    async def begin(self, request: Request, callback_url: str, state: str) -> Response:
        try:
            me = rules.canonical_me(request.query_params.get("url", ""))
        except rules.OAuthError as exc:
            raise SignInFailed(f"Give your website's address: {exc.description}",
                               code=400) from None
        metadata = await self.discover(me)
        verifier = secrets.token_urlsafe(48)
        now = time.monotonic()
        for old in [k for k, v in self._pending.items() if v.expires < now]:
            del self._pending[old]
        if len(self._pending) >= PENDING_KEPT:
            del self._pending[next(iter(self._pending))]
        self._pending[state] = Pending(me, metadata, verifier, now + PENDING_SECONDS)
        query = urlencode({
            "response_type": "code", "client_id": _client_id(callback_url),
            "redirect_uri": callback_url, "state": state, "me": me,
            "code_challenge": rules.s256(verifier), "code_challenge_method": "S256",
        })
        endpoint = str(metadata["authorization_endpoint"])
        glue = "&" if "?" in endpoint else "?"
        return RedirectResponse(endpoint + glue + query, 303)

    async def complete(self, request: Request, callback_url: str, state: str) -> Identity:
        params = request.query_params
        pending = self._pending.pop(state, None) if params.get("state") == state else None
        if pending is None or pending.expires < time.monotonic():
            raise SignInFailed("This sign-in was not started here, or took too long")
        issuer = pending.metadata.get("issuer")
        if issuer is not None and params.get("iss") != issuer:
            raise SignInFailed("The answer does not come from your site's IndieAuth server "
                               "(its iss differs)")
        if params.get("error"):
            why = params.get("error_description") or params["error"]
            raise SignInFailed(f"Your site's server refused: {why}")
        code = params.get("code")
        if not code:
            raise SignInFailed("Your site's server sent no code back")
        form = urlencode({"grant_type": "authorization_code", "code": code,
                          "client_id": _client_id(callback_url), "redirect_uri": callback_url,
                          "code_verifier": pending.verifier}).encode()
        endpoint = str(pending.metadata["authorization_endpoint"])
        try:
            answer = await outbound.exchange(
                "POST", endpoint, permitted=self.permitted, limit=FETCH_LIMIT, content=form,
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "Accept": "application/json"})
            redeemed = jsonio.loads_untrusted(answer.body)
        except (outbound.FetchRefused, ValueError, OSError, TimeoutError) as exc:
            raise SignInFailed(f"Your site's server could not redeem the code: {exc}") from None
        if answer.status != 200 or not isinstance(redeemed, dict):
            raise SignInFailed(f"Your site's server refused the code ({answer.status})")
        try:
            me = rules.canonical_me(str(redeemed.get("me") or ""))
        except rules.OAuthError:
            raise SignInFailed("Your site's server named no site") from None
        if me != pending.me:
            # Spec §5.3.4: another URL is only believed when it names the same server.
            again = await self.discover(me)
            if again.get("authorization_endpoint") != endpoint:
                raise SignInFailed(f"{me} does not use the server that signed you in")
        profile = redeemed.get("profile")
        name = str(profile.get("name") or "") if isinstance(profile, dict) else ""
        return Identity(self.name, me, name)

    async def authenticate(self, token: str) -> Identity | None:
        """No bearer tokens: a sign-in here is for the GUI only."""
        return None


def _client_id(callback_url: str) -> str:
    """The home's root: the callback is on its origin, so the server needs no published
    list of redirect URIs (spec §4.2.2)."""
    scheme, _, rest = callback_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/"
