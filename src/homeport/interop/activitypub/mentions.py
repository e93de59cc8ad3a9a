"""``@user@host`` typed in an entry becomes a mention: before each publish's snapshot the home
finds the handles its public entries name that it has not resolved yet, asks each host's
WebFinger for ``acct:user@host``, fetches the actor it names (signed as the site, for servers
in authorized-fetch mode) and keeps the answers in one private record (``services/handles.py``).
The build then gives the entry's object a ``Mention`` tag and a ``cc`` per resolved handle and
links the handle to the person's profile; the provider delivers the object to the actor.

Entries are not rewritten (their ``updated`` stays). The look-ups are bounded: at most
``MAX_LOOKUPS`` a publish, ``CONCURRENCY`` at a time, all within ``BUDGET`` seconds, through
``web/outbound.py`` (private addresses refused unless ``fetch_allow_private``). A handle that
could not be resolved is asked again after ``RETRY_MS`` (a dead host is not asked at every
publish); a resolved one is checked again after ``REFRESH_MS`` and kept if that check fails.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from homeport import jsonio
from homeport.content import sites
from homeport.interop.activitypub import remote
from homeport.render import activitypub as ap
from homeport.render import handles as parse
from homeport.render.model import BODY_FIELDS, load_site
from homeport.services import handles as store
from homeport.services.context import Context
from homeport.sync import fediverse as tell
from homeport.web import outbound

log = logging.getLogger("homeport.activitypub")

MAX_LOOKUPS = 20
CONCURRENCY = 4
BUDGET = 10.0
"""Seconds all of a publish's look-ups may take together (the publish waits for them)."""
TIMEOUT = 5.0
RETRY_MS = 3600 * 1000
REFRESH_MS = 30 * 24 * 3600 * 1000
JRD_LIMIT = 64 * 1024
JRD_ACCEPT = "application/jrd+json, application/json"
AS2_TYPES = (ap.ACTIVITY_JSON, "application/ld+json")


class NotFound(Exception):
    """A handle without an actor; the message says why."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webfinger_url(key: str, allow_private: bool) -> str:
    """Where ``user@host`` is asked: ``https://host/.well-known/webfinger``. A home that may
    fetch private addresses (development, tests) asks a loopback host over plain HTTP."""
    host_port = key.split("@", 1)[1]
    host = host_port.rsplit(":", 1)[0] if ":" in host_port else host_port
    scheme = "http" if allow_private and _loopback(host) else "https"
    return f"{scheme}://{host_port}{ap.WEBFINGER}?resource={quote('acct:' + key, safe='@:')}"


def _links(jrd: Any) -> tuple[str, str]:
    """The actor (``rel=self`` of an AS2 type) and profile page a JRD names."""
    if not isinstance(jrd, Mapping):
        raise NotFound("WebFinger answered no JSON object")
    actor = profile = ""
    for item in jrd.get("links") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("href"), str):
            continue
        rel, kind, href = item.get("rel"), str(item.get("type") or ""), str(item["href"])
        if rel == "self" and kind.split(";")[0].strip() in AS2_TYPES and not actor:
            actor = href
        elif rel == "http://webfinger.net/rel/profile-page" and not profile:
            profile = href
    if not actor.startswith(("https://", "http://")):
        raise NotFound("WebFinger names no ActivityPub actor")
    return actor, profile


def _profile(doc: Mapping[str, Any], fallback: str) -> str:
    url = doc.get("url")
    if isinstance(url, list):
        url = url[0] if url else None
    if isinstance(url, Mapping):
        url = url.get("href")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return url
    return fallback


async def look_up(key: str, permitted: outbound.Permitted, allow_private: bool,
                  sign: outbound.Sign | None) -> dict[str, str]:
    """``{"actor", "url"}`` for ``user@host``; NotFound or RemoteError when it has none."""
    try:
        got = await outbound.fetch(webfinger_url(key, allow_private), permitted=permitted,
                                   limit=JRD_LIMIT, timeout=TIMEOUT, accept=JRD_ACCEPT)
    except outbound.FetchRefused as exc:
        raise NotFound(str(exc)) from None
    except Exception as exc:  # the host away or wrong: its failure, kept as such
        raise NotFound(f"WebFinger could not be asked: {type(exc).__name__}") from None
    if got.status != 200:
        raise NotFound(f"WebFinger answered {got.status}")
    try:
        actor, profile = _links(jsonio.loads_untrusted(got.body))
    except ValueError:
        raise NotFound("WebFinger answered no JSON") from None
    doc = await remote.fetch_document(actor, permitted, sign)
    found = remote.actor_of(doc)
    if found.id.split("#", 1)[0] != actor.split("#", 1)[0]:
        raise NotFound("the actor's id is not the URL WebFinger named")
    assert isinstance(doc, Mapping)
    return {"actor": found.id, "url": _profile(doc, profile or found.id)}


def due(answer: Any, now: int) -> bool:
    """Whether a handle is to be looked up (again)."""
    if not isinstance(answer, Mapping):
        return True
    age = now - int(answer.get("checked") or 0)
    return age >= (REFRESH_MS if answer.get("actor") else RETRY_MS)


async def resolve(ctx: Context, keys: Iterable[str], sign: outbound.Sign | None = None,
                  ) -> dict[str, Any]:
    """Look up the handles among ``keys`` that are due and keep the answers: the record as
    it now is (only ``keys`` are kept in it). Written only when something changed."""
    wanted = list(dict.fromkeys(keys))
    before = await store.read(ctx)
    now = ctx.clock()
    todo = [k for k in wanted if due(before.get(k), now)][:MAX_LOOKUPS]
    allow = ctx.settings.fetch_allow_private
    permitted = outbound.policy(allow)
    gate = asyncio.Semaphore(CONCURRENCY)
    answers: dict[str, dict[str, Any]] = {}

    async def one(key: str) -> None:
        async with gate:
            try:
                answers[key] = {**await look_up(key, permitted, allow, sign), "checked": now}
            except (NotFound, remote.RemoteError) as exc:
                answers[key] = {"error": str(exc)[:300], "checked": now}

    tasks = [asyncio.create_task(one(k)) for k in todo]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=BUDGET)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for key in todo:  # too slow counts as a failure: not asked again at once
            answers.setdefault(key, {"error": f"no answer within {BUDGET:g} s", "checked": now})
    after: dict[str, Any] = {}
    for key in wanted:
        old, new = before.get(key), answers.get(key)
        if new is not None and "error" in new and isinstance(old, Mapping) and old.get("actor"):
            new = {**old, "checked": now}  # a resolved handle outlives one failed re-check
        if new is not None:
            after[key] = new
        elif key in before:
            after[key] = before[key]
    if after != before:
        await store.write(ctx, after)
    return after


def entry_handles(texts: Iterable[str]) -> list[str]:
    found: dict[str, None] = {}
    for text in texts:
        for key in parse.find(text):
            found.setdefault(key)
    return list(found)


async def _signer(ctx: Context, site: str) -> outbound.Sign | None:
    """Fetches signed as the site's actor at its first provider (None: no provider yet)."""
    found = tell.addresses(ctx.settings)
    if not found:
        return None
    from homeport.interop.activitypub.send import signer

    return await signer(ctx, site, tell.actor_at(found[0][1]))


async def before_snapshot(ctx: Context) -> None:
    """Resolve the handles the sites' public entries name, so this publish's build has them."""
    try:
        names = await sites.list_sites(ctx)
        texts: list[str] = []
        for site in names:
            model = await load_site(ctx, site)
            texts += [str(e.data.get(name) or "") for e in model.entries
                      if e.type in ap.OBJECT_TYPES for name in BODY_FIELDS]
        keys = entry_handles(t for t in texts if "@" in t)
        if keys or await store.read(ctx):
            await resolve(ctx, keys, await _signer(ctx, names[0]) if keys and names else None)
    except Exception as exc:  # a mention is not worth a failed publish: tried next time
        log.warning("activitypub: handles not resolved: %s", exc)


__all__ = ["before_snapshot", "entry_handles", "look_up", "resolve", "webfinger_url"]
