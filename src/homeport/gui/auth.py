"""Logging in and out of the GUI with the owner's password."""

from __future__ import annotations

from starlette.responses import Response

from homeport.gui.pages import PREFIX, Page, page, safe_next
from homeport.gui.sessions import store_of
from homeport.services import accounts
from homeport.services.logins import TooManyAttempts
from homeport.web.auth import client_of

OWNER = "admin"


@page(login=False)
async def login_form(p: Page) -> Response:
    if p.session.user:
        return p.redirect(safe_next(p.request.query_params.get("next")))
    return p.render("login.html", next=safe_next(p.request.query_params.get("next")), error=None)


@page(login=False)
async def login(p: Page) -> Response:
    """Under the same login limit as the API's Basic auth (``services.logins``)."""
    form = await p.form()
    target = safe_next(str(form.get("next") or ""))
    password = str(form.get("password") or "")
    try:
        right = await accounts.check_password(p.ctx, OWNER, password, client_of(p.request))
    except TooManyAttempts as exc:
        response = p.render("login.html", 429, next=target, error=exc.message)
        response.headers["Retry-After"] = str(exc.wait_seconds)
        return response
    if not right:
        error = "That password is not right. Check it and try again."
        return p.render("login.html", 401, next=target, error=error)
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
