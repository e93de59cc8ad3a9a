"""A site's followers on the fediverse, as the home keeps them.

The provider that serves the site's address keeps the list it delivers to; the home keeps its
own copy, one private record per follower in the site's ``followers`` collection (sealed in the
signed repository, so it moves with the site and a new provider can be handed it), filled from
the inbox items the provider relays (``interop/activitypub/home.py``) and changed by the owner
(approve, remove, block) from the GUI, which tells the provider too. Blocked actors and domains
are the ``blocked`` record of the private ``fediverse_rules`` collection.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from homeport.content.errors import ContentError
from homeport.content.types import bucket_uri, collection_uri
from homeport.core.errors import ObjectNotFound
from homeport.services import writes
from homeport.services.context import OWNER, Context
from homeport.services.resources import COLLECTION, RECORD, find_object, unit_of_work
from homeport.store.protocols import JSONObject

FOLLOWERS_COLLECTION = "followers"
RULES_COLLECTION = "fediverse_rules"
BLOCKED_RECORD = "blocked"
ACCEPTED, PENDING = "accepted", "pending"
STATES = (ACCEPTED, PENDING)
MAX_URL = 2048


def follower_id(actor: str) -> str:
    return "f" + hashlib.sha256(actor.encode()).hexdigest()[:30]


def handle_of(actor: str) -> str:
    """``@bob@social.example`` for ``https://social.example/users/bob`` (or ``/@bob``): how a
    person is shown before anything else is known of them."""
    parts = urlsplit(actor)
    last = [p for p in parts.path.split("/") if p][-1:] or [""]
    name = last[0].removeprefix("@")
    host = (parts.hostname or "").lower()
    return f"@{name}@{host}" if name and host else actor


def domain_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


async def sites(ctx: Context) -> list[str]:
    buckets = await ctx.store.list_all("bucket", "")
    return sorted(str(b["id"]) for b in buckets if b.get("site"))


async def site_for(ctx: Context, url: str) -> str | None:
    """The site an actor or entry URL of ours names: the only site, else the one whose
    ``base_url`` or ``domains`` has the URL's host (a home with several sites)."""
    names = await sites(ctx)
    if len(names) <= 1:
        return names[0] if names else None
    host = domain_of(url)
    for name in names:
        try:
            settings = await ctx.store.get("record", collection_uri(name, "settings"), "site")
        except ObjectNotFound:
            continue
        hosts = {domain_of(str(settings.get("base_url") or ""))}
        hosts |= {str(d).lower().strip(".") for d in settings.get("domains") or []}
        if host in hosts:
            return name
    return names[0]


async def _ensure(ctx: Context, site: str) -> None:
    for name in (FOLLOWERS_COLLECTION, RULES_COLLECTION):
        if await find_object(ctx, COLLECTION, bucket_uri(site), name) is None:
            await writes.save(ctx, OWNER, COLLECTION, bucket_uri(site), name, {}, None,
                              existing=None, replace_permissions=False)


def _url(value: object) -> str:
    text = str(value or "")[:MAX_URL]
    return text if text.startswith(("https://", "http://")) else ""


async def save_follower(ctx: Context, site: str, actor: str, state: str,
                        details: Mapping[str, Any], item: str = "") -> JSONObject:
    """Add or update a follower (idempotent: the same item twice writes once). An accepted
    follower stays accepted when a follow arrives again."""
    if not _url(actor):
        raise ContentError(f"{actor!r} is not an actor's address")
    state = state if state in STATES else PENDING
    parent = collection_uri(site, FOLLOWERS_COLLECTION)
    rid = follower_id(actor)
    async with unit_of_work(ctx):
        await _ensure(ctx, site)
        existing = await find_object(ctx, RECORD, parent, rid)
        if existing is not None and item and existing.get("item") == item:
            return existing
        if existing is not None and existing.get("state") == ACCEPTED:
            state = ACCEPTED
        data = {
            "actor": actor,
            "handle": str(details.get("handle") or handle_of(actor))[:300],
            "inbox": _url(details.get("inbox")) or str((existing or {}).get("inbox") or ""),
            "shared_inbox": _url(details.get("shared_inbox")) or str(
                (existing or {}).get("shared_inbox") or ""),
            "follow_id": _url(details.get("follow_id")) or str(
                (existing or {}).get("follow_id") or ""),
            "state": state,
            "since": int((existing or {}).get("since") or ctx.clock()),
            "item": item,
        }
        written = await writes.save(ctx, OWNER, RECORD, parent, rid, data, None,
                                    existing=existing, replace_permissions=False)
    return written.obj


async def remove_follower(ctx: Context, site: str, actor: str) -> bool:
    parent = collection_uri(site, FOLLOWERS_COLLECTION)
    async with unit_of_work(ctx):
        existing = await find_object(ctx, RECORD, parent, follower_id(actor))
        if existing is None:
            return False
        await writes.delete(ctx, OWNER, RECORD, parent, follower_id(actor))
    return True


async def list_followers(ctx: Context, site: str, state: str | None = None) -> list[JSONObject]:
    """Oldest first; ``state`` None: pending ones too."""
    try:
        found = await ctx.store.list_all("record", collection_uri(site, FOLLOWERS_COLLECTION))
    except ObjectNotFound:
        return []
    rows = [r for r in found if state is None or r.get("state") == state]
    return sorted(rows, key=lambda r: (int(r.get("since") or 0), str(r["id"])))


async def get_follower(ctx: Context, site: str, rid: str) -> JSONObject:
    try:
        return await ctx.store.get("record", collection_uri(site, FOLLOWERS_COLLECTION), rid)
    except ObjectNotFound:
        raise ContentError("there is no such follower") from None


async def set_state(ctx: Context, site: str, actor: str, state: str) -> JSONObject:
    if state not in STATES:
        raise ContentError(f"unknown state {state!r} (one of: {', '.join(STATES)})")
    parent = collection_uri(site, FOLLOWERS_COLLECTION)
    async with unit_of_work(ctx):
        existing = await find_object(ctx, RECORD, parent, follower_id(actor))
        if existing is None:
            raise ContentError("there is no such follower")
        data = {k: v for k, v in existing.items() if k not in ("id", "last_modified")}
        data["state"] = state
        written = await writes.save(ctx, OWNER, RECORD, parent, follower_id(actor), data, None,
                                    existing=existing, replace_permissions=False)
    return written.obj


_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9-]+(\.[a-z0-9-]+)+$")


async def blocked(ctx: Context, site: str) -> list[str]:
    """Blocked actors (URLs) and domains, sorted."""
    found = await find_object(ctx, RECORD, collection_uri(site, RULES_COLLECTION), BLOCKED_RECORD)
    return sorted(str(x) for x in (found or {}).get("items", []))


async def block(ctx: Context, site: str, target: str) -> list[str]:
    """Block an actor (its URL) or a whole domain; they stop being followers. The new list."""
    value = target.strip()
    if not _url(value) and not _DOMAIN.match(value.lower()):
        raise ContentError(f"{target!r} is neither an actor's address nor a domain")
    value = value if _url(value) else value.lower()
    parent = collection_uri(site, RULES_COLLECTION)
    async with unit_of_work(ctx):
        await _ensure(ctx, site)
        existing = await find_object(ctx, RECORD, parent, BLOCKED_RECORD)
        items = sorted({*(str(x) for x in (existing or {}).get("items", [])), value})
        await writes.save(ctx, OWNER, RECORD, parent, BLOCKED_RECORD, {"items": items}, None,
                          existing=existing, replace_permissions=False)
    for follower in await list_followers(ctx, site):
        actor = str(follower["actor"])
        if actor == value or domain_of(actor) == value:
            await remove_follower(ctx, site, actor)
    return items


def is_blocked(actor: str, items: list[str]) -> bool:
    return actor in items or domain_of(actor) in items
