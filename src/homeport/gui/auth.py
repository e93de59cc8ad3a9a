"""Logging in and out of the GUI with the owner's password."""

from __future__ import annotations

from starlette.responses import Response

from homeport.gui.pages import PREFIX, Page, page, safe_next
from homeport.gui.sessions import store_of
from homeport.services import accounts

OWNER = "admin"


@page(login=False)
async def login_form(p: Page) -> Response:
    if p.session.user:
        return p.redirect(safe_next(p.request.query_params.get("next")))
    return p.render("login.html", next=safe_next(p.request.query_params.get("next")), error=None)


@page(login=False)
async def login(p: Page) -> Response:
    """Rate-limited per client address: a few failures a minute, then a wait."""
    form = await p.form()
    target = safe_next(str(form.get("next") or ""))
    client = p.request.client.host if p.request.client else "?"
    store = store_of(p.ctx)
    wait = store.login_blocked_for(client, p.now)
    if wait:
        error = f"Too many wrong passwords. Wait {wait} seconds, then try again."
        return p.render("login.html", 429, next=target, error=error)
    password = str(form.get("password") or "")
    if not password or not await accounts.check_password(p.ctx, OWNER, password):
        store.login_failed(client, p.now)
        error = "That password is not right. Check it and try again."
        return p.render("login.html", 401, next=target, error=error)
    store.login_succeeded(client)
    p.replace_session(store.login(p.session, OWNER, p.now))
    return p.redirect(target)


@page()
async def logout(p: Page) -> Response:
    store = store_of(p.ctx)
    store.drop(p.session)
    p.replace_session(store.new(p.now))
    p.flash("You are logged out.")
    return p.redirect(PREFIX + "/login")
