"""Which provider signs for the site, the home's side: after each publish the home makes sure
the first provider in its list (the one the site's address points at; moving is adding the new
provider and removing the old one) holds the ``activitypub-sign`` delegation, with the site's
key sealed to that provider's box key (``delivery.sign_params``, ``docs/format.md``), and that
no other provider holds one. So exactly one provider delivers and answers follows, and when
the site moves the new provider signs with the same key: followers' servers keep trusting it.

The delegation runs for a year and is renewed when less than 30 days are left; a change is
handed to the providers at once (``sync/grants.py``), not at the next publish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from urllib.parse import urljoin

from homeport.interop.activitypub.delivery import SIGN_POWER, sign_params
from homeport.publish.hooks import Published
from homeport.services import fediverse
from homeport.services import grants as records
from homeport.services.context import Context, run_blocking
from homeport.sync import grants as grant_sync
from homeport.sync.client import ProviderClient
from homeport.sync.providers import (
    HttpFactory,
    ProvidersError,
    credentials,
    default_http,
    site_name,
)
from homeport.sync.providers import load as load_providers

log = logging.getLogger("homeport.activitypub")

DAY_MS = 24 * 3600 * 1000
LIFETIME_MS = 365 * DAY_MS
RENEW_MS = 30 * DAY_MS
ACTOR_PATH = "/activitypub/actor"


def _ask(ctx: Context, url: str, http: HttpFactory) -> tuple[str | None, str]:
    """The provider's box key (None: it does not deliver) and the site's address there."""
    with http() as client:
        provider = ProviderClient(url, credentials(ctx.settings.data_dir), client)
        box = provider.info().get("box_key")
        site = str(provider.tenant().get("site") or "")
    return (str(box) if box else None), site


async def delegate(ctx: Context, site: str, url: str,
                   http: HttpFactory = default_http) -> bool:
    """Make ``url`` the one provider holding the signing delegation; whether anything
    changed (then the providers were handed the new lists)."""
    now = ctx.clock()
    held = [g for g in await records.list_grants(ctx)
            if g.get("power") == SIGN_POWER and g.get("source") == records.HOME
            and records.state(g, now) == "active"]
    changed = False
    for grant in held:
        if grant.get("audience") != url:
            await records.revoke(ctx, str(grant["id"]))
            changed = True
    mine = [g for g in held if g.get("audience") == url
            and int(g.get("expires") or 0) - now > RENEW_MS]
    if not mine:
        box, address = await asyncio.to_thread(_ask, ctx, url, http)
        if box is None or not address:
            log.info("activitypub: %s takes no signing key (no box key)", url)
        else:
            key = await fediverse.site_key(ctx, site)
            key_id = urljoin(address, ACTOR_PATH) + "#main-key"
            params = await asyncio.to_thread(sign_params, box, key_id, key.private_pem)
            for grant in held:
                if grant.get("audience") == url:  # about to run out: the new one replaces it
                    await records.revoke(ctx, str(grant["id"]))
            await records.create_delegation(ctx, url, SIGN_POWER, params,
                                            expires_in=LIFETIME_MS)
            changed = True
    if changed:
        for pushed in await grant_sync.sync(ctx, http=http):
            if pushed.error:
                log.warning("activitypub: signing delegation not handed to %s: %s",
                            pushed.url, pushed.error)
    return changed


def after_publish(event: Published, http: HttpFactory = default_http) -> None:
    """After a publish the first provider took, make it the one that signs."""
    try:
        site = site_name(event.settings, None)
    except ProvidersError:  # several sites built: which one was published is not known here
        return
    listed = load_providers(event.settings.data_dir)
    took = {p.url for p in event.providers if p.seq is not None}
    if site is None or not listed or listed[0]["url"] not in took:
        return  # the first provider failed this publish: nothing moves on a passing fault
    first = str(listed[0]["url"])

    def work(ctx: Context) -> Awaitable[bool]:
        return delegate(ctx, site, first, http)

    try:
        run_blocking(event.settings, work)
    except Exception as exc:  # a provider or the store away: tried again after the next publish
        log.warning("activitypub: signing delegation for %s not made: %s", first, exc)


__all__ = ["after_publish", "delegate"]
