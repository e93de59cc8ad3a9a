"""Logging in and out of the GUI: the owner's password, or a sign-in connector
(``plugins/kinds.py``) vouching for a person ``signin_owners`` names."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import Response

from homeport.gui.pages import PREFIX, Page, page, safe_next
from homeport.gui.sessions import store_of
from homeport.plugins.kinds import SignInFailed
from homeport.plugins.manager import setting
from homeport.services import accounts
from homeport.services.logins import TooManyAttempts
from homeport.web.auth import CONNECTORS, client_of
from homeport.web.hosts import origin_of

OWNER = "admin"
STATE_SECONDS = 600
"""How long a sign-in at an issuer may take."""


@page(login=False)
async def login_form(p: Page) -> Response:
    if p.session.user:
        return p.redirect(safe_next(p.request.query_params.get("next")))
    return p.render("login.html", next=safe_next(p.request.query_params.get("next")), error=None,
                    connectors=connectors_of(p))


@page(login=False)
async def login(p: Page) -> Response:
    """Under the same login limit as the API's Basic auth (``services.logins``)."""
    form = await p.form()
    target = safe_next(str(form.get("next") or ""))
    password = str(form.get("password") or "")
    try:
        right = await accounts.check_password(p.ctx, OWNER, password, client_of(p.request))
    except TooManyAttempts as exc:
        response = p.render("login.html", 429, next=target, error=exc.message,
                                connectors=connectors_of(p))
        response.headers["Retry-After"] = str(exc.wait_seconds)
        return response
    if not right:
        error = "That password is not right. Check it and try again."
        return p.render("login.html", 401, next=target, error=error,
                        connectors=connectors_of(p))
    store = store_of(p.ctx)
    p.replace_session(store.login(p.session, OWNER, p.now))
    return p.redirect(target)


@page()
async def logout(p: Page) -> Response:
    store = store_of(p.ctx)
    store.drop(p.session)
    p.replace_session(store.new(p.now))
    p.flash("You are logged out.")
    return p.redirect(PREFIX + "/login")


# ---- signing in through a connector (plugins' register_connectors) -----------------------

STATE_COOKIE = "homeport_signin"
"""The sign-in's state while the person is at the issuer. SameSite=Lax, unlike the session's
Strict cookie, because it must come back with the issuer's cross-site redirect."""
STATE_PATH = PREFIX + "/login/"


def connectors_of(p: Page) -> dict[str, Any]:
    found: dict[str, Any] = p.ctx.caches.get(CONNECTORS) or {}
    return found


def _callback_url(p: Page, name: str) -> str:
    return f"{origin_of(p.request)}{PREFIX}/login/{name}/callback"


@page(login=False)
async def connector_begin(p: Page) -> Response:
    """Send the person to the connector's issuer, remembering where they were going."""
    name = p.request.path_params["name"]
    connector = connectors_of(p).get(name)
    if connector is None:
        return p.render("login.html", 404, next=PREFIX + "/", connectors=connectors_of(p),
                        error=f"There is no sign-in named {name!r} here.")
    state = secrets.token_urlsafe(24)
    target = safe_next(p.request.query_params.get("next"))
    try:
        response = await connector.begin(p.request, _callback_url(p, name), state)
    except SignInFailed as exc:
        status = 400 if exc.code == 400 else 502  # what the person gave, or the issuer
        return p.render("login.html", status, next=target, connectors=connectors_of(p),
                        error=exc.message)
    response.set_cookie(STATE_COOKIE, f"{name} {state} {target}", max_age=STATE_SECONDS,
                        path=STATE_PATH, httponly=True, samesite="lax",
                        secure=p.request.url.scheme == "https")
    return p.finish(response)


@page(login=False)
async def connector_complete(p: Page) -> Response:
    """Back from the issuer: the person is the owner when ``signin_owners`` names them (or
    the connector vouches only for the owner: passkeys the owner added)."""
    name = p.request.path_params["name"]
    connector = connectors_of(p).get(name)
    saved = (p.request.cookies.get(STATE_COOKIE) or "").split(" ", 2)
    if connector is None or len(saved) != 3 or saved[0] != name:
        error = "This sign-in was not started here, or took too long. Try again."
        return _signin_failed(p, 400, PREFIX + "/", error)
    _, state, target = saved
    target = safe_next(target)
    try:
        identity = await connector.complete(p.request, _callback_url(p, name), state)
    except SignInFailed as exc:
        return _signin_failed(p, 401, target, exc.message or "The sign-in failed.")
    owners = tuple(setting(p.ctx.settings, "signin_owners"))
    if not getattr(connector, "owner_only", False) and identity.principal not in owners:
        error = (f"You signed in as {identity.principal}, who is not this home's owner "
                 "(signin_owners does not name you).")
        return _signin_failed(p, 403, target, error)
    p.replace_session(store_of(p.ctx).login(p.session, OWNER, p.now))
    # A page, not a redirect: the session cookie is SameSite=Strict and a redirect chain that
    # began at the issuer would not carry it to the next page.
    response = p.render("signed_in.html", target=target, who=identity.principal)
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
    return response


def _signin_failed(p: Page, status: int, target: str, error: str) -> Response:
    response = p.render("login.html", status, next=target, connectors=connectors_of(p),
                        error=error)
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
    return response
