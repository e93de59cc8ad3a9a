"""A site built once per provider, for the address it is served at there: canonical URLs, feed
links and the sitemap must name the host a reader actually uses. Each build goes to
``sites/<site>@<provider host>`` in the data dir; the snapshot carries them all and each provider
is told to serve its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from homeport.content import sites
from homeport.services.context import Context
from homeport.settings import SITES_DIR
from homeport.sync import addresses
from homeport.sync.providers import load, variant_name

if TYPE_CHECKING:
    from homeport.render.model import EntryView


async def build_for_providers(
    ctx: Context, providers: list[dict[str, Any]], site: str | None = None
) -> list[str]:
    """Build ``site`` (default: the only one) for every provider that gave it an address;
    the names of the builds made. The site's address history is updated first
    (``sync/addresses.py``): each actor names the site's other actors when it moved."""
    names = await sites.list_sites(ctx)
    chosen = [site] if site else names if len(names) == 1 else []
    if not chosen or not any(entry.get("site") for entry in providers):
        return []
    from homeport.render.build import build_site  # the renderer, only when there is a build

    made = []
    for name in chosen:
        # the whole list decides the site's address, also when publishing to one provider
        every = load(ctx.settings.data_dir) or providers
        links = await addresses.note(ctx, name, every)
        for entry in providers:
            address = entry.get("site")
            if not address:
                continue
            variant = variant_name(name, str(entry["url"]))
            out = ctx.settings.data_dir / SITES_DIR / variant
            rules = entry.get("rules") or {}
            await build_site(
                ctx,
                name,
                out_dir=out,
                base_url=str(address),
                keep=keeper(rules),
                keep_key=json.dumps(rules, sort_keys=True),
                live=True,
                links=links.get(addresses.address_of(str(address))),
            )
            made.append(variant)
    return made


def keeper(rules: dict[str, Any]) -> Callable[[EntryView], bool] | None:
    """Whether an entry is published at a provider, from its rules: ``exclude_types`` (entry
    types) and ``exclude_tags``; an entry matching either is left out there."""
    types = set(rules.get("exclude_types") or ())
    tags = set(rules.get("exclude_tags") or ())
    if not types and not tags:
        return None
    return lambda entry: entry.type not in types and not tags.intersection(entry.tags)
