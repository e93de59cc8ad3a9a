"""A local stand-in for GitHub's OAuth app flow and the REST API calls Homeport makes, on
loopback, written from GitHub's documentation ("Authorizing OAuth apps", "Get the
authenticated user", "Check a token"):

- ``GET /login/oauth/authorize`` (``client_id``, ``redirect_uri``, ``state``, ``scope``): a
  page where the person says who they are and authorizes (a ``login`` field and a button);
  ``POST`` sends them back to ``redirect_uri?code=…&state=…``. A ``redirect_uri`` outside the
  app's callback URL is refused on the page, as GitHub does; "Cancel" returns
  ``error=access_denied``.
- ``POST /login/oauth/access_token`` (``client_id``, ``client_secret``, ``code``,
  ``redirect_uri``): ``{"access_token": "gho_…", "token_type": "bearer", "scope": …}`` as JSON
  when asked with ``Accept: application/json``, form-encoded otherwise; a wrong or spent code is
  **200** with ``{"error": "bad_verification_code", …}``, as GitHub answers it. Codes are spent
  once and last 10 minutes.
- ``GET /user`` with ``Authorization: Bearer`` (or ``token``) → the user; ``401 {"message":
  "Bad credentials", …}`` otherwise.
- ``POST /applications/{client_id}/token`` with Basic auth ``client_id:client_secret`` and
  ``{"access_token": …}`` → the token's record with its ``user`` and ``app``; 404 when the
  token is not this app's; 401 for wrong app credentials.

One server plays both ``github.com`` and ``api.github.com`` (give its base to both settings).
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CODE_SECONDS = 600
DOCS = "https://docs.github.com/rest"


@dataclass
class App:
    client_id: str
    client_secret: str
    callback: str
    """The app's registered callback URL: ``redirect_uri`` must be it or below it."""


@dataclass
class FakeGitHub:
    apps: dict[str, App] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, tuple[str, str, str, float]] = field(default_factory=dict)
    """code → (client id, login, redirect_uri, expiry)."""
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    """token → (client id, login)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def app(self, callback: str) -> App:
        made = App("Iv1." + secrets.token_hex(8), secrets.token_hex(20), callback)
        self.apps[made.client_id] = made
        return made

    def user(self, login: str, name: str = "") -> dict[str, Any]:
        found = self.users.get(login)
        if found is None:
            found = {"login": login, "id": 1000 + len(self.users), "node_id": "U_" + login,
                     "type": "User", "name": name or None, "email": None,
                     "html_url": f"{self.base}/{login}"}
            self.users[login] = found
        return found

    def issue(self, client_id: str, login: str) -> str:
        """A token for ``login`` issued to the app (as the web flow would)."""
        token = "gho_" + secrets.token_urlsafe(27)
        self.user(login)
        self.tokens[token] = (client_id, login)
        return token


def _authorize_page(message: str = "", login: str = "", query: str = "") -> HTMLResponse:
    if message:
        body = f"<h1>Error</h1><p role=alert>{html.escape(message)}</p>"
        return HTMLResponse(f"<!doctype html><html lang=en><title>GitHub</title>{body}</html>",
                            400)
    form = (f"<form method=post action='/login/oauth/authorize?{html.escape(query)}'>"
            f"<label for=login>Username</label> <input id=login name=login "
            f"value='{html.escape(login)}' required>"
            "<button type=submit name=authorize value=1>Authorize</button>"
            "<button type=submit name=cancel value=1 formnovalidate>Cancel</button></form>")
    return HTMLResponse(f"<!doctype html><html lang=en><title>Authorize application</title>"
                        f"<h1>Authorize application</h1>{form}</html>")


class Handlers:
    """The endpoints, over one ``FakeGitHub``."""

    def __init__(self, state: FakeGitHub) -> None:
        self.state = state

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        app = self.state.apps.get(q.get("client_id", ""))
        if app is None:
            return _authorize_page("The client_id is not known.")
        redirect = q.get("redirect_uri") or app.callback
        if not redirect.startswith(app.callback):
            return _authorize_page("The redirect_uri MUST match the registered callback URL "
                                   "for this application.")
        if request.method == "GET":
            return _authorize_page(query=str(request.url.query))
        form = dict(parse_qsl((await request.body()).decode()))
        back: dict[str, str] = {}
        if form.get("cancel"):
            back = {"error": "access_denied",
                    "error_description": "The user has denied your application access."}
        else:
            login = form.get("login", "").strip()
            if not login:
                return _authorize_page(query=str(request.url.query))
            code = secrets.token_hex(10)
            with self.state.lock:
                self.state.user(login)
                expiry = time.time() + CODE_SECONDS
                self.state.codes[code] = (app.client_id, login, redirect, expiry)
            back = {"code": code}
        if q.get("state"):
            back["state"] = q["state"]
        joiner = "&" if "?" in redirect else "?"
        return RedirectResponse(redirect + joiner + urlencode(back), 302)

    async def access_token(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        form = dict(parse_qsl(raw)) if raw else dict(request.query_params)
        if request.headers.get("content-type", "").startswith("application/json"):
            form = {k: str(v) for k, v in json.loads(raw or "{}").items()}
        app = self.state.apps.get(form.get("client_id", ""))
        with self.state.lock:
            if app is None or form.get("client_secret") != app.client_secret:
                answer = {"error": "incorrect_client_credentials",
                          "error_description": "The client_id and/or client_secret passed "
                          "are incorrect."}
            else:
                spent = self.state.codes.pop(form.get("code", ""), None)
                if (spent is None or spent[0] != app.client_id or spent[3] < time.time()):
                    answer = {"error": "bad_verification_code",
                              "error_description": "The code passed is incorrect or expired."}
                elif form.get("redirect_uri") and form["redirect_uri"] != spent[2]:
                    answer = {"error": "redirect_uri_mismatch",
                              "error_description": "The redirect_uri MUST match the "
                              "registered callback URL for this application."}
                else:
                    answer = {"access_token": self.state.issue(app.client_id, spent[1]),
                              "token_type": "bearer", "scope": "read:user"}
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(answer)
        return Response(urlencode(answer), media_type="application/x-www-form-urlencoded")

    @staticmethod
    def bad_credentials() -> JSONResponse:
        return JSONResponse({"message": "Bad credentials", "documentation_url": DOCS,
                             "status": "401"}, 401)

    async def user(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = self.state.tokens.get(token.strip()) if scheme.lower() in ("bearer", "token") \
            else None
        if found is None:
            return self.bad_credentials()
        return JSONResponse(self.state.users[found[1]])

    async def check_token(self, request: Request) -> Response:
        import base64

        client_id = request.path_params["client_id"]
        app = self.state.apps.get(client_id)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        try:
            pair = base64.b64decode(given).decode() if scheme.lower() == "basic" else ""
        except ValueError:
            pair = ""
        if app is None or pair != f"{app.client_id}:{app.client_secret}":
            return self.bad_credentials()
        try:
            token = str(json.loads(await request.body()).get("access_token") or "")
        except (ValueError, AttributeError):
            return JSONResponse({"message": "Validation Failed", "status": "422"}, 422)
        found = self.state.tokens.get(token)
        if found is None or found[0] != client_id:
            return JSONResponse({"message": "Not Found", "documentation_url": DOCS,
                                 "status": "404"}, 404)
        return JSONResponse({
            "id": abs(hash(token)) % 10**8, "token": token, "token_last_eight": token[-8:],
            "scopes": ["read:user"], "app": {"client_id": client_id, "name": "Homeport",
                                            "url": self.state.base},
            "user": self.state.users[found[1]]})


def create_app(state: FakeGitHub) -> Starlette:
    h = Handlers(state)
    return Starlette(routes=[
        Route("/login/oauth/authorize", h.authorize, methods=["GET", "POST"]),
        Route("/login/oauth/access_token", h.access_token, methods=["POST"]),
        Route("/user", h.user),
        Route("/applications/{client_id}/token", h.check_token, methods=["POST"]),
    ])


@contextmanager
def running(state: FakeGitHub | None = None) -> Iterator[FakeGitHub]:
    """A ``FakeGitHub`` served by uvicorn on a free loopback port (``state.base``), in a
    thread, until the block ends."""
    from homeport.testing.live import free_port, serving_in_thread

    state = state or FakeGitHub()
    port = free_port()
    state.base = f"http://127.0.0.1:{port}"
    with serving_in_thread(create_app(state), port, "the local GitHub"):
        yield state


__all__ = ["App", "FakeGitHub", "create_app", "running"]
