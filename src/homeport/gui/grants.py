"""The Tokens page: bearer tokens for apps and scripts (create one, see it once, revoke it) and
what each provider may do for this home (its delegations, revocable). The same use cases as
``homeport tokens`` and ``homeport providers delegations``; every change is handed to the
providers at once (``sync/grants.py``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from homeport.core.errors import HomeportError
from homeport.crypto.delegations import TOKEN
from homeport.gui import providers as providers_page  # noqa: F401  (its 'when' filter)
from homeport.gui import uploads
from homeport.gui.pages import PREFIX, Page, page
from homeport.services import grants
from homeport.sync import grants as grant_sync
from homeport.sync import providers

EXPIRIES = (("30d", "30 days"), ("90d", "90 days"), ("365d", "a year"), ("", "never"))


async def _push(p: Page) -> list[str]:
    """Hand the providers the new list; what could not be told (said on the page)."""
    if not providers.load(p.ctx.settings.data_dir):
        return []
    pushed = await grant_sync.sync(p.ctx)
    return [f"{o.url} was not told yet (the next publish will): {o.error}"
            for o in pushed if o.error]


async def _page(p: Page, status: int = 200, error: str | None = None,
                created: dict[str, Any] | None = None, warnings: list[str] | None = None,
                **form: str) -> Response:
    now = p.now
    rows = [grants.public_view(r, now) for r in await grants.list_grants(p.ctx)]
    return p.render(
        "tokens.html",
        status,
        tokens=[r for r in rows if r["power"] == TOKEN],
        delegations=[r for r in rows if r["power"] != TOKEN],
        every=grants.EVERY_PROVIDER,
        home=grants.HOME,
        expiries=EXPIRIES,
        error=error,
        created=created,
        warnings=warnings or [],
        form=form,
    )


@page()
async def index(p: Page) -> Response:
    return await _page(p)


@page()
async def create(p: Page) -> Response:
    form = await p.form()
    scope = " ".join(str(v) for v in form.getlist("scope"))
    scope = " ".join([scope, uploads.line(form, "more_scopes", 500)]).strip()
    client_id = uploads.line(form, "client_id", 2000) or None
    expires = uploads.line(form, "expires", 10)
    try:
        lifetime = grants.duration_ms(expires) if expires else None
        secret, record = await grants.create_token(p.ctx, scope, client_id=client_id,
                                                   expires_in=lifetime)
    except HomeportError as exc:
        return await _page(p, 400, str(exc.message), client_id=client_id or "")
    warnings = await _push(p)
    created = {"id": record["id"], "token": secret,
               "scope": " ".join(record["params"]["scope"])}
    # rendered, not redirected: the secret is shown on this answer only
    return await _page(p, 200, created=created, warnings=warnings)


@page()
async def revoke(p: Page) -> Response:
    form = await p.form()
    grant_id = uploads.line(form, "id", 64)
    try:
        found = await grants.revoke(p.ctx, grant_id)
    except HomeportError as exc:
        return await _page(p, 400, str(exc.message))
    warnings = await _push(p)
    what = "Token" if found.get("power") == TOKEN else "Delegation"
    p.flash(f"{what} {grant_id} revoked: every provider refuses it within seconds.")
    for warning in warnings:
        p.flash(warning)
    return p.redirect(PREFIX + "/tokens")
