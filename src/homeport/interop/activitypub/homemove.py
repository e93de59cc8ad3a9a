"""The old provider sends ``Move`` when the site's address changes (issue F.4).

The site's address history (``sync/addresses.py``) says, at build time, which old addresses
moved where; their builds already carry ``movedTo`` and the new one ``alsoKnownAs``, and the old
provider sends readers on to the new address (``provider/serve.py``). After the publish, for
each move not yet announced, the home asks the first provider serving the old address — the one
holding that actor's signing key (``interop/activitypub/homekey.py``) — to deliver
``Move`` to the old actor's followers (``POST /_homeport/v1/activitypub`` with ``to:
"followers"``), once, by Mastodon's rules (``moves.py``: the new actor as published
must list the old one, one move per actor in 30 days, never the same target twice). A move that
fails or must wait is tried again after a later publish.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeport import jsonio
from homeport.interop.activitypub import moves
from homeport.publish.hooks import Published
from homeport.services.context import Context, run_blocking
from homeport.settings import SITES_DIR, Settings
from homeport.sync import addresses
from homeport.sync.client import ProviderClient, ProviderError
from homeport.sync.providers import (
    HttpFactory,
    ProvidersError,
    credentials,
    default_http,
    load,
    site_name,
    variant_name,
)

log = logging.getLogger("homeport.activitypub")


@dataclass(frozen=True)
class Sent:
    origin: str
    target: str
    provider: str | None = None
    error: str | None = None
    """Why no Move went out this time (a ``moves`` rule's code, or the provider's answer)."""


def _first(providers: list[dict[str, Any]], address: str, took: set[str]) -> str | None:
    for entry in providers:
        if entry.get("site") and addresses.address_of(str(entry["site"])) == address:
            return str(entry["url"]) if entry["url"] in took else None
    return None


def _published_actor(settings: Settings, site: str, url: str) -> Mapping[str, Any]:
    """The new actor as this publish made it live at ``url`` (its build in the data dir)."""
    path = (settings.data_dir / SITES_DIR / variant_name(site, url) / "activitypub"
            / "actor.as2")
    try:
        found = jsonio.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


async def announce(ctx: Context, site: str, took: set[str], now: int | None = None,
                   http: HttpFactory = default_http) -> list[Sent]:
    """Send each pending move of ``site`` through its old provider; what happened to each.
    What was sent is kept in the site's address history (a record: the next commit has it)."""
    settings = ctx.settings
    now = int(time.time() * 1000) if now is None else now
    entry = await addresses.read(ctx, site)
    if not entry.get("moves"):
        return []
    providers = load(settings.data_dir)
    sent_log: dict[str, Any] = dict(entry.get("sent") or {})
    results: list[Sent] = []
    for old, move in sorted(entry["moves"].items()):
        if move.get("sent") is not None:
            continue
        origin, target = addresses.actor_of(old), addresses.actor_of(str(move["to"]))
        url, new_url = _first(providers, old, took), _first(providers, str(move["to"]), took)
        if url is None or new_url is None:
            results.append(Sent(origin, target, error="not-published"))
            continue
        found = sent_log.get(old)
        last: dict[str, Any] = found if isinstance(found, dict) else {}
        try:
            moves.check_outgoing(origin, _published_actor(settings, site, new_url),
                                   moved_to=last.get("to"), last_move=last.get("at"), now=now)
        except moves.MoveRefused as exc:
            log.warning("activitypub: no Move from %s to %s yet: %s", origin, target, exc)
            if exc.code == "already-moved":
                move["sent"] = last.get("at")
            results.append(Sent(origin, target, url, exc.code))
            continue
        number = int(last.get("count") or 0) + 1
        activity = moves.move_activity(origin, target, number)
        try:
            with http() as client:
                ProviderClient(url, credentials(settings.data_dir), client).activitypub(
                    {"activity": activity, "to": "followers"})
        except ProviderError as exc:
            log.warning("activitypub: the Move from %s was not queued at %s: %s",
                        origin, url, exc)
            results.append(Sent(origin, target, url, str(exc)))
            continue
        move["sent"] = now
        sent_log[old] = {"to": target, "at": now, "count": number}
        results.append(Sent(origin, target, url))
    updated = {**entry, "sent": sent_log}
    if updated != await addresses.read(ctx, site):
        await addresses.write(ctx, site, updated)
    return results


def after_publish(event: Published, http: HttpFactory = default_http) -> None:
    try:
        site = site_name(event.settings, None)
    except ProvidersError:  # several sites built: the one published is not known here
        return
    took = {p.url for p in event.providers if p.seq is not None}
    if site is None or not took:
        return
    try:
        run_blocking(event.settings, lambda ctx: announce(ctx, site, took, http=http))
    except Exception as exc:  # a provider away: tried again after the next publish
        log.warning("activitypub: moves not announced: %s", exc)


__all__ = ["Sent", "after_publish", "announce"]
