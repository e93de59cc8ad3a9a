"""Followers move with the site: after every publish, each provider is handed the home's
follower list of the published site (``content/followers.py``) when it changed since that
provider last took it (the built-in plugin ``fediverse`` calls ``after_publish``).

So a provider that starts serving the site's address (DNS moved to it, issue F.4) already holds
the followers and delivers to them; nobody re-follows. The provider adds those it lacks and
keeps what it holds (``provider/fedmove.py``), so a follower that arrived there first is never
overwritten. What was handed where is remembered by a digest per provider in the data dir
(``activitypub-handed.json``), so an unchanged list costs no request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport import jsonio
from homeport.content import followers as records
from homeport.publish.hooks import Published
from homeport.services.context import Context, run_blocking
from homeport.settings import Settings
from homeport.sync.client import ProviderClient, ProviderError, normalise_url
from homeport.sync.providers import (
    HttpFactory,
    ProvidersError,
    credentials,
    default_http,
    load,
    site_name,
)

log = logging.getLogger("homeport.publish")
HANDED_FILE = "activitypub-handed.json"


@dataclass(frozen=True)
class Handed:
    url: str
    added: int = 0
    skipped: bool = False
    """Nothing to send: the provider already took this list."""
    error: str | None = None


def wire(record: Mapping[str, Any]) -> dict[str, Any]:
    """A follower record as a provider takes it (``PUT /_homeport/v1/activitypub/followers``,
    ``provider/fedmove.py``)."""
    return {
        "actor": str(record.get("actor") or ""),
        "inbox": str(record.get("inbox") or ""),
        "shared_inbox": str(record.get("shared_inbox") or ""),
        "state": str(record.get("state") or records.PENDING),
        "follow_id": str(record.get("follow_id") or ""),
        "created": int(record.get("since") or 0),
    }


def digest(followers: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(jsonio.dumps(list(followers))).hexdigest()


def _handed_path(settings: Settings) -> Path:
    return settings.data_dir / HANDED_FILE


def _read_handed(settings: Settings) -> dict[str, str]:
    try:
        found = jsonio.loads(_handed_path(settings).read_bytes())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _write_handed(settings: Settings, handed: Mapping[str, str]) -> None:
    path = _handed_path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(jsonio.dumps(dict(handed)))
    os.replace(tmp, path)


def hand(
    settings: Settings,
    followers: Sequence[Mapping[str, Any]],
    only: Collection[str] | None = None,
    http: HttpFactory = default_http,
) -> list[Handed]:
    """Send the list to each provider (or those of ``only``) that has not taken it yet; a
    failure at one is reported, never raised, and tried again at the next publish."""
    wanted = None if only is None else {normalise_url(url) for url in only}
    entries = [e for e in load(settings.data_dir) if wanted is None or e["url"] in wanted]
    if not entries or not followers:
        return []
    # one without an inbox yet cannot be delivered to: the provider would refuse the list
    doc = [wire(f) for f in followers if f.get("inbox")]
    now = digest(doc)
    handed = _read_handed(settings)
    creds = credentials(settings.data_dir)

    def one(entry: Mapping[str, Any]) -> Handed:
        url = str(entry["url"])
        if handed.get(url) == now:
            return Handed(url, skipped=True)
        try:
            with http() as client:
                answer = ProviderClient(url, creds, client).put_followers(doc)
        except ProviderError as exc:
            return Handed(url, error=str(exc))
        return Handed(url, added=int(answer.get("added") or 0))

    with ThreadPoolExecutor(max_workers=len(entries)) as pool:
        outcomes = list(pool.map(one, entries))
    fresh = {o.url: now for o in outcomes if o.error is None and not o.skipped}
    if fresh:
        _write_handed(settings, {**handed, **fresh})
    return outcomes


async def sync(ctx: Context, site: str, only: Collection[str] | None = None,
               http: HttpFactory = default_http) -> list[Handed]:
    followers = await records.list_followers(ctx, site)
    return await asyncio.to_thread(hand, ctx.settings, followers, only, http)


def after_publish(event: Published, http: HttpFactory = default_http) -> None:
    """Hand the published site's followers to the providers that took the publish (one that
    failed it gets them next time); a failure is logged and tried again after the next
    publish."""
    try:
        site = site_name(event.settings, None)
    except ProvidersError:  # several sites built: the one published is not known here
        return
    took = [p.url for p in event.providers if p.seq is not None]
    if site is None or not took:
        return

    def work(ctx: Context) -> Awaitable[list[Handed]]:
        return sync(ctx, site, took, http)

    try:
        outcomes = run_blocking(event.settings, work) or []
    except Exception as exc:  # the store could not be read: the next publish tries again
        log.warning("followers not handed to the providers: %s", exc)
        return
    for handed in outcomes:
        if handed.error:
            log.warning("followers not handed to %s: %s", handed.url, handed.error)


__all__ = ["HANDED_FILE", "Handed", "after_publish", "digest", "hand", "sync", "wire"]
