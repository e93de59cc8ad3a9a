"""Which provider signs for the site, the home's side. Each address the site is served at
(``name.provider-a``, ``name.provider-b``, a custom domain) is an actor of its own; before each
publish's snapshot the home makes sure that, for each address, the first provider in its list
serving it holds the ``activitypub-sign`` delegation, with the site's key sealed to that
provider's box key (``delivery.sign_params``, ``docs/format.md``), and no other provider does.
So one provider delivers and answers follows for each actor, and when the site moves to a new
provider on the same address (added, DNS pointed at it, the old one removed) the new one signs
with the same key: followers' servers keep trusting it.

The delegation runs for a year and is renewed when less than 30 days are left; a change is
handed to the providers at once (``sync/grants.py``), not at the next publish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from urllib.parse import urljoin

from homeport.content import sites
from homeport.interop.activitypub.delivery import SIGN_POWER, sign_params
from homeport.services import fediverse
from homeport.services import grants as records
from homeport.services.context import Context
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


def _address(grant: Mapping[str, object]) -> str | None:
    """The site address a delegation was made for, from the key id it names."""
    params = grant.get("params")
    key_id = params.get("key_id") if isinstance(params, Mapping) else None
    suffix = ACTOR_PATH + "#main-key"
    if isinstance(key_id, str) and key_id.endswith(suffix):
        return key_id.removesuffix(suffix) + "/"
    return None


async def _addresses(
    ctx: Context, urls: Sequence[str], by_url: Mapping[str, Mapping[str, object]],
    took: Collection[str], http: HttpFactory,
) -> tuple[dict[str, str], dict[str, str | None]]:
    """Each provider's address for the site (from its delegation, else asked if it took the
    publish), and the box keys of those asked."""
    address: dict[str, str] = {}
    box: dict[str, str | None] = {}
    for url in urls:
        known = _address(by_url[url]) if url in by_url else None
        if known is not None:
            address[url] = known
        elif url in took:
            try:
                box[url], found = await asyncio.to_thread(_ask, ctx, url, http)
            except Exception as exc:  # this provider away: the others still get theirs
                log.info("activitypub: %s not asked for its address: %s", url, exc)
                continue
            if found:
                address[url] = found
    return address, box


async def delegate(ctx: Context, site: str, urls: Sequence[str], took: Collection[str],
                   http: HttpFactory = default_http) -> bool:
    """For each address the site is served at, make the first of ``urls`` (the home's
    providers, in order) serving it the one that holds the signing delegation, and no other;
    whether anything changed (then the providers were handed the new lists). A provider is
    asked its address (and box key) only when it holds no delegation and is in ``took``; one
    that cannot be asked keeps what it holds."""
    now = ctx.clock()
    held = [g for g in await records.list_grants(ctx)
            if g.get("power") == SIGN_POWER and g.get("source") == records.HOME
            and records.state(g, now) == "active"]
    by_url = {str(g.get("audience")): g for g in held}
    address, box = await _addresses(ctx, urls, by_url, took, http)
    first: dict[str, str] = {}
    for url in urls:
        if url in address:
            first.setdefault(address[url], url)
    signers = set(first.values())
    changed = False
    for grant in held:
        url = str(grant.get("audience"))
        fresh = int(grant.get("expires") or 0) - now > RENEW_MS
        if url not in signers or not fresh:
            await records.revoke(ctx, str(grant["id"]))
            changed = True
    for url in sorted(signers):
        current = by_url.get(url)
        if current is not None and int(current.get("expires") or 0) - now > RENEW_MS:
            continue
        if url not in box:
            box[url], _ = await asyncio.to_thread(_ask, ctx, url, http)
        if not box[url]:
            log.info("activitypub: %s takes no signing key (no box key)", url)
            continue
        key = await fediverse.site_key(ctx, site)
        key_id = urljoin(address[url], ACTOR_PATH) + "#main-key"
        params = await asyncio.to_thread(sign_params, str(box[url]), key_id, key.private_pem)
        await records.create_delegation(ctx, url, SIGN_POWER, params, expires_in=LIFETIME_MS)
        changed = True
    if changed:
        for pushed in await grant_sync.sync(ctx, http=http):
            if pushed.error:
                log.warning("activitypub: signing delegation not handed to %s: %s",
                            pushed.url, pushed.error)
    return changed


async def before_snapshot(ctx: Context, http: HttpFactory = default_http) -> None:
    """Before each publish's snapshot, the signing delegations follow the home's list of
    providers: a new one rides in that publish's commit, and the provider holds the key when
    the publish that makes it deliver arrives."""
    names = await sites.list_sites(ctx)  # the build picks the only site the same way
    try:
        site = names[0] if len(names) == 1 else site_name(ctx.settings, None)
    except ProvidersError:  # several sites built: which one is published is not known here
        return
    urls = [str(e["url"]) for e in load_providers(ctx.settings.data_dir)]
    if site is None or not urls:
        return
    try:
        await delegate(ctx, site, urls, urls, http)
    except Exception as exc:  # a provider or the store away: tried again at the next publish
        log.warning("activitypub: signing delegations not made: %s", exc)


__all__ = ["before_snapshot", "delegate"]
