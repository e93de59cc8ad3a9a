"""Sign in with GitHub: OAuth 2 web flow and the REST API's user (GitHub issues no ID tokens
to people, so it is not an OpenID Connect issuer; the ``github`` preset uses this instead).

The GUI login sends the person to ``<web>/login/oauth/authorize``, trades the code at
``<web>/login/oauth/access_token`` and asks ``<api>/user`` who that is: the principal is
``github:<numeric id>`` (a login name can be renamed and then taken by someone else; the id
stays). On ``/v1`` a GitHub token is checked with ``POST <api>/applications/<client id>/token``
(client id and secret as Basic auth), which answers only for tokens issued to this home's
OAuth app: another app's token or a personal one is refused (GitHub's audience check).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from homeport import jsonio
from homeport.plugins.connectors.oauth import callback_code
from homeport.plugins.kinds import Identity, SignInFailed

FETCH_TIMEOUT = 10.0
TOKEN_PREFIXES = ("gho_", "ghu_", "ghp_", "github_pat_")
"""How GitHub's tokens begin (OAuth app, user-to-server, personal, fine-grained personal)."""
CHECK_TTL = 60.0
"""How long GitHub's answer about a bearer token is kept (by the token's hash)."""
CHECKS_KEPT = 10_000
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


@dataclass
class GitHub:
    """This home's OAuth app at GitHub (or a GitHub Enterprise Server: ``web`` and ``api``)."""

    client_id: str
    client_secret: str
    name: str = "github"
    title: str = "Sign in with GitHub"
    web: str = "https://github.com"
    api: str = "https://api.github.com"
    scope: str = "read:user"
    _checked: dict[str, tuple[float, Identity]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.web, self.api = self.web.rstrip("/"), self.api.rstrip("/")

    def _identity(self, user: Any) -> Identity:
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise SignInFailed("GitHub's answer names no user")
        return Identity(self.name, str(user["id"]), str(user.get("name") or user.get("login")
                                                        or ""), str(user.get("email") or ""))

    async def begin(self, request: Request, callback_url: str, state: str) -> Response:
        query = urlencode({"client_id": self.client_id, "redirect_uri": callback_url,
                           "scope": self.scope, "state": state, "allow_signup": "false"})
        return RedirectResponse(f"{self.web}/login/oauth/authorize?{query}", 303)

    async def complete(self, request: Request, callback_url: str, state: str) -> Identity:
        code = callback_code(request, state, "GitHub")
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
                answer = await client.post(
                    f"{self.web}/login/oauth/access_token",
                    data={"client_id": self.client_id, "client_secret": self.client_secret,
                          "code": code, "redirect_uri": callback_url},
                    headers={"Accept": "application/json"})
                tokens = jsonio.loads(answer.content)
                # GitHub answers a bad code with 200 and an "error" member
                if answer.status_code != 200 or not isinstance(tokens, dict):
                    raise SignInFailed(f"GitHub refused the code ({answer.status_code})")
                if tokens.get("error") or not isinstance(tokens.get("access_token"), str):
                    why = tokens.get("error_description") or tokens.get("error") or "no token"
                    raise SignInFailed(f"GitHub refused the code: {why}")
                user = await client.get(f"{self.api}/user", headers={
                    **API_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"})
                if user.status_code != 200:
                    raise SignInFailed(f"GitHub did not say who signed in ({user.status_code})")
                return self._identity(jsonio.loads(user.content))
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInFailed(f"GitHub could not be reached: {exc}") from None

    async def authenticate(self, token: str) -> Identity | None:
        """A token GitHub issued to this home's OAuth app; None for what is not GitHub's."""
        if not token.startswith(TOKEN_PREFIXES):
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        kept = self._checked.get(key)
        if kept is not None and now - kept[0] < CHECK_TTL:
            return kept[1]
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
                answer = await client.post(
                    f"{self.api}/applications/{self.client_id}/token",
                    auth=(self.client_id, self.client_secret), headers=API_HEADERS,
                    content=jsonio.dumps({"access_token": token}))
            found = jsonio.loads(answer.content) if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInFailed(f"GitHub could not be reached: {exc}") from None
        if answer.status_code in (404, 422):
            raise SignInFailed("GitHub does not know this token as one issued to this "
                               "home's app")
        if not isinstance(found, dict):
            raise SignInFailed(f"GitHub could not check the token ({answer.status_code})")
        identity = self._identity(found.get("user"))
        if len(self._checked) >= CHECKS_KEPT:
            del self._checked[next(iter(self._checked))]
        self._checked[key] = (now, identity)
        return identity
