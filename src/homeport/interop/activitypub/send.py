"""The owner's own activities: like, boost or reply to someone's post by its URL.

The home looks the post up (its AS2 object, then its author's actor for the inbox: outbound
fetches through ``web/outbound.py``, private addresses refused unless ``fetch_allow_private``,
signed as the site's actor so that servers in authorized-fetch mode answer),
then hands the activity to the provider that delivers for the site (``sync/fediverse.py``),
which signs it with the site's key. A reply is also an entry of the site (a note with
``reply_to`` and the author as a mention), so it is published like any note and its ``Create``
goes to followers on publish; the author's inbox is sent it at once.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from homeport import jsonio
from homeport.content import sites
from homeport.content.errors import ContentError
from homeport.content.followers import handle_of
from homeport.content.types import ENTRY_TYPES
from homeport.interop.activitypub import remote as remote_docs
from homeport.render import activitypub as ap
from homeport.render.model import EntryView
from homeport.render.urls import Urls, web_address
from homeport.services import fediverse as fediverse_keys
from homeport.services.context import Context
from homeport.sync import fediverse as tell
from homeport.web import outbound

ACCEPT = f"{ap.ACTIVITY_JSON}, {ap.LD_PROFILE}"
LIMIT = 512 * 1024
KINDS = ("like", "boost", "reply")


class SendError(ContentError):
    """What could not be sent; the message says why and what to do."""


@dataclass(frozen=True)
class Remote:
    """A post found by its URL: its id, its author's actor and where to deliver to them."""

    id: str
    author: str
    inbox: str
    url: str


async def _json(ctx: Context, url: str, sign: outbound.Sign | None = None) -> dict[str, Any]:
    try:
        got = await outbound.fetch(url, permitted=outbound.policy(ctx.settings.fetch_allow_private),
                                   limit=LIMIT, accept=ACCEPT, timeout=10.0, sign=sign)
    except (outbound.FetchRefused, OSError, TimeoutError) as exc:
        raise SendError(f"could not fetch {url}: {exc}") from None
    except Exception as exc:  # httpx's errors: the remote server, not us
        raise SendError(f"could not fetch {url}: {type(exc).__name__}") from None
    if got.status != 200:
        raise SendError(f"{url} answered {got.status}")
    try:
        doc = jsonio.loads_untrusted(got.body)
    except ValueError:
        raise SendError(f"{url} is not an ActivityPub object (no JSON for it)") from None
    if not isinstance(doc, dict):
        raise SendError(f"{url} is not an ActivityPub object")
    return doc


def _id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, list) and value:
        return _id(value[0])
    return value if isinstance(value, str) else ""


async def signer(ctx: Context, site: str, actor: str) -> outbound.Sign:
    """Signs the home's fetches as the site's actor, for servers that answer only signed
    fetches (authorized fetch); the key is the one the actor publishes."""
    key = await fediverse_keys.site_key(ctx, site)
    private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    if not isinstance(private, RSAPrivateKey):
        raise SendError("the site's ActivityPub key is not an RSA key")
    return remote_docs.signer(actor + "#main-key", private)


async def resolve(ctx: Context, url: str, sign: outbound.Sign | None = None) -> Remote:
    """The post at ``url`` and its author's inbox (fetched signed when ``sign`` is given)."""
    if web_address(url) is None:
        raise SendError(f"{url!r} is not a web address (https://…)")
    obj = await _json(ctx, url, sign)
    object_id = _id(obj) or url
    author = _id(obj.get("attributedTo")) or _id(obj.get("actor"))
    if not web_address(author):
        raise SendError(f"{url} names no author")
    actor = await _json(ctx, author, sign)
    endpoints = actor.get("endpoints")
    shared = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
    inbox = web_address(actor.get("inbox")) or web_address(shared)
    if not inbox:
        raise SendError(f"{author} has no inbox")
    return Remote(object_id, author, inbox, web_address(obj.get("url")) or object_id)


def activity_id(actor: str, kind: str, object_id: str) -> str:
    """One id per (kind, post): liking twice is the same like."""
    return f"{actor}#{kind}/{hashlib.sha256(object_id.encode()).hexdigest()[:24]}"


def like(actor: str, remote: Remote) -> dict[str, Any]:
    return {"@context": ap.AS_CONTEXT, "id": activity_id(actor, "likes", remote.id),
            "type": "Like", "actor": actor, "object": remote.id, "to": [remote.author]}


def boost(actor: str, remote: Remote) -> dict[str, Any]:
    return {"@context": ap.AS_CONTEXT, "id": activity_id(actor, "boosts", remote.id),
            "type": "Announce", "actor": actor, "object": remote.id,
            "to": [ap.PUBLIC], "cc": [remote.author, actor.rsplit("/", 1)[0] + "/followers"]}


def _address(ctx: Context) -> str:
    found = tell.addresses(ctx.settings)
    if not found:
        raise SendError("the site is on no provider yet: add one on the Providers page first")
    return found[0][1]


async def send(ctx: Context, site: str, kind: str, url: str, text: str = "") -> str:
    """Like, boost or reply to the post at ``url``; what was done, in a sentence."""
    if kind not in KINDS:
        raise SendError(f"unknown action {kind!r} (one of: {', '.join(KINDS)})")
    if kind == "reply" and not text.strip():
        raise SendError("a reply needs some text")
    address = _address(ctx)
    actor = tell.actor_at(address)
    remote = await resolve(ctx, url, await signer(ctx, site, actor))
    if kind == "reply":
        entry = await sites.add_entry(ctx, site, "note", {
            "text": text, "reply_to": remote.id,
            "mentions": [{"name": handle_of(remote.author), "href": remote.author}]})
        view = EntryView("note", entry.id, entry.data, 0, ENTRY_TYPES["note"].path(entry.slug))
        obj = ap.entry_object(view, ap.Actor(Urls.for_base(address), "", ""))
        assert obj is not None
        activity = ap.create_activity(obj)
        done = f"Replied to {handle_of(remote.author)}: your note is on your site"
    else:
        activity = like(actor, remote) if kind == "like" else boost(actor, remote)
        done = ("Liked" if kind == "like" else "Boosted") + f" {remote.url}"
    told = await asyncio.to_thread(
        tell.tell, ctx.settings, {"activity": activity, "to": [remote.inbox]}, True)
    if not told or told[0].error:
        reason = told[0].error if told else "no provider"
        kept = " (your reply is kept as a note of your site)" if kind == "reply" else ""
        raise SendError(f"your provider did not take it{kept}: {reason}")
    return done + "."
