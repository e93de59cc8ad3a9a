"""The owner's word on ActivityPub, handed to the providers (signed ``POST /activitypub``).

Decisions on followers (approve, remove) and the block list go to every provider serving the
site (the one that delivers acts on them; the others keep their copy in step for a move); an
activity the owner sends (a like, a boost, a reply) goes to one provider only, the first with
an address for the site, so it is delivered once, signed by that address's actor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from homeport.settings import Settings
from homeport.sync.client import ProviderClient, ProviderError
from homeport.sync.providers import HttpFactory, credentials, default_http, load

log = logging.getLogger("homeport.fediverse")
ACTOR_PATH = "/activitypub/actor"


@dataclass(frozen=True)
class Told:
    url: str
    answer: dict[str, Any] | None
    error: str = ""


def addresses(settings: Settings) -> list[tuple[str, str]]:
    """(provider URL, the site's address there) for each provider serving the site."""
    return [(str(p["url"]), str(p["site"])) for p in load(settings.data_dir) if p.get("site")]


def actor_at(address: str) -> str:
    return address.rstrip("/") + ACTOR_PATH


def tell(settings: Settings, doc: dict[str, Any], first_only: bool = False,
         http: HttpFactory = default_http) -> list[Told]:
    """``doc`` to each provider (or the first); a provider that fails is reported, not
    raised: the others still hear it."""
    targets = addresses(settings)[:1] if first_only else addresses(settings)
    if not targets:
        return []
    creds = credentials(settings.data_dir)
    told = []
    with http() as client:
        for url, _ in targets:
            try:
                told.append(Told(url, ProviderClient(url, creds, client).activitypub(doc)))
            except (ProviderError, OSError) as exc:
                log.warning("activitypub: %s did not take %s: %s", url, sorted(doc), exc)
                told.append(Told(url, None, str(exc)))
    return told
