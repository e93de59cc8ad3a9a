"""A site built once per provider, for the address it is served at there: canonical URLs, feed
links and the sitemap must name the host a reader actually uses. Each build goes to
``sites/<site>@<provider host>`` in the data dir; the snapshot carries them all and each provider
is told to serve its own."""

from __future__ import annotations

from typing import Any

from homeport.content import sites
from homeport.render.build import build_site
from homeport.services.context import Context
from homeport.services.repository import SITES_DIR
from homeport.sync.providers import variant_name


async def build_for_providers(
    ctx: Context, providers: list[dict[str, Any]], site: str | None = None
) -> list[str]:
    """Build ``site`` (default: the only one) for every provider that gave it an address;
    the names of the builds made."""
    names = await sites.list_sites(ctx)
    chosen = [site] if site else names if len(names) == 1 else []
    made = []
    for name in chosen:
        for entry in providers:
            address = entry.get("site")
            if not address:
                continue
            variant = variant_name(name, str(entry["url"]))
            out = ctx.settings.data_dir / SITES_DIR / variant
            await build_site(ctx, name, out_dir=out, base_url=str(address))
            made.append(variant)
    return made
