"""The home's side of ActivityPub: apply what the provider's inbox relayed (``activitypub.*``).

The provider verified each activity's signature and actor before queueing it (kind
``activitypub.<type>``, lower case; meta ``{type, actor, id, object, state?}``; the body is the
activity as received, sealed to the home). Here:

- ``follow``: the follower is kept at home (``content/followers.py``), ``accepted`` or
  ``pending`` as the provider decided; ``undo`` of a follow, ``block`` and the actor's own
  ``delete`` drop it;
- ``create`` / ``update`` of a reply to one of our entries, ``like``, ``announce`` (a boost):
  stored as responses, exactly like webmentions (``content/mentions.py``): pending until the
  owner approves, then shown under the entry; ``undo`` of a like or boost and ``delete`` of a
  reply remove them;
- ``move`` of a follower: the home's copy follows the provider's (the new account follows).

Every handler is idempotent: responses are keyed by source and target, followers by actor, and
the item id is remembered. What does not concern one of our entries is dropped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import anyio.from_thread
import nh3

from homeport import jsonio
from homeport.content import followers, mentions
from homeport.core.errors import HomeportError
from homeport.interop.ports import Handler, InboxItem
from homeport.services.context import Context

PREFIX = "activitypub."
MAX_CONTENT = 20_000


def _activity(item: InboxItem) -> dict[str, Any]:
    try:
        doc = jsonio.loads_untrusted(item.body)
    except ValueError as exc:
        raise HomeportError(f"activitypub item {item.id} is not JSON: {exc}", code=400) from None
    if not isinstance(doc, dict):
        raise HomeportError(f"activitypub item {item.id} is not a JSON object", code=400)
    return doc


def _id(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _iso(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _actor(item: InboxItem, activity: Mapping[str, Any]) -> str:
    """The signer the provider checked (meta), else the activity's own ``actor``."""
    return str(item.meta.get("actor") or _id(activity.get("actor")))


def _text(content: str) -> str:
    """The words of a post's HTML, for the moderation list (the page shows the cleaned HTML)."""
    return " ".join(html.unescape(nh3.clean(content, tags=set())).split())[:5000]


def _author(actor: str) -> dict[str, str]:
    return {"name": followers.handle_of(actor), "url": actor, "photo": ""}


async def _respond(ctx: Context, item: InboxItem, payload: dict[str, Any]) -> dict[str, str]:
    if not payload.get("target") or not payload.get("source"):
        return {"status": "dropped"}
    site = await followers.site_for(ctx, str(payload["target"]))
    if site is not None and followers.is_blocked(
            str(payload["author"]["url"]), await followers.blocked(ctx, site)):
        return {"status": "dropped"}
    payload.setdefault("verified", _iso(item.received))
    return (await mentions.apply(ctx, item.id, payload)).result()


async def follow(ctx: Context, item: InboxItem) -> dict[str, str]:
    activity = _activity(item)
    actor = _actor(item, activity)
    site = await followers.site_for(ctx, _id(activity.get("object")))
    if site is None or not actor:
        return {"status": "dropped"}
    if followers.is_blocked(actor, await followers.blocked(ctx, site)):
        return {"status": "dropped"}
    state = str(item.meta.get("state") or followers.PENDING)
    details = {"follow_id": _id(activity.get("id")), "inbox": item.meta.get("inbox"),
               "shared_inbox": item.meta.get("shared_inbox")}
    saved = await followers.save_follower(ctx, site, actor, state, details, item.id)
    return {"id": str(saved["id"]), "status": str(saved["state"])}


async def _unfollow(ctx: Context, actor: str, url: str) -> dict[str, str]:
    site = await followers.site_for(ctx, url)
    if site is None:
        return {"status": "dropped"}
    removed = await followers.remove_follower(ctx, site, actor)
    return {"status": "removed" if removed else "dropped"}


def _reaction(actor: str, activity: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """A like or a boost as a response: its source is the activity's id (what an Undo names)."""
    return {"source": _id(activity.get("id")), "target": _id(activity.get("object")),
            "type": kind, "url": _id(activity.get("id")), "author": _author(actor),
            "published": str(activity.get("published") or "")}


async def like(ctx: Context, item: InboxItem) -> dict[str, str]:
    activity = _activity(item)
    return await _respond(ctx, item, _reaction(_actor(item, activity), activity, "like"))


async def announce(ctx: Context, item: InboxItem) -> dict[str, str]:
    activity = _activity(item)
    return await _respond(ctx, item, _reaction(_actor(item, activity), activity, "repost"))


async def create(ctx: Context, item: InboxItem) -> dict[str, str]:
    """A reply to one of our entries (``inReplyTo`` names it); anything else is dropped."""
    activity = _activity(item)
    obj = activity.get("object")
    if not isinstance(obj, Mapping):
        return {"status": "dropped"}
    actor = _actor(item, activity)
    if _id(obj.get("attributedTo")) not in ("", actor):
        return {"status": "dropped"}  # someone else's post, relayed: not theirs to send
    content = str(obj.get("content") or "")[:MAX_CONTENT]
    url = obj.get("url")
    payload = {
        "source": _id(obj), "target": _id(obj.get("inReplyTo")), "type": "reply",
        "url": url if isinstance(url, str) else _id(obj), "author": _author(actor),
        "content": {"html": content, "text": _text(content)},
        "published": str(obj.get("published") or ""),
    }
    return await _respond(ctx, item, payload)


async def undo(ctx: Context, item: InboxItem) -> dict[str, str]:
    """Of a follow (embedded, or named by the id its follower used), a like, a boost."""
    activity = _activity(item)
    actor = _actor(item, activity)
    inner = activity.get("object")
    if isinstance(inner, Mapping) and inner.get("type") == "Follow":
        return await _unfollow(ctx, actor, _id(inner.get("object")))
    if await _remove_source(ctx, _id(inner), actor):
        return {"status": "removed"}
    for site in await followers.sites(ctx):
        for record in await followers.list_followers(ctx, site):
            if record.get("actor") == actor and record.get("follow_id") == _id(inner):
                await followers.remove_follower(ctx, site, actor)
                return {"status": "removed"}
    return {"status": "dropped"}


async def _remove_source(ctx: Context, source: str, actor: str) -> int:
    """Remove the responses whose source is ``source`` and whose author is ``actor``."""
    if not source:
        return 0
    count = 0
    for record in await mentions.list_mentions(ctx):
        author = record.get("author")
        url = author.get("url") if isinstance(author, Mapping) else ""
        if record.get("source") == source and url == actor:
            payload = {"source": source, "target": str(record.get("target") or ""),
                       "action": "delete", "verified": "9999"}
            applied = await mentions.apply(ctx, f"delete:{source}", payload)
            count += applied.status == "removed"
    return count


async def delete(ctx: Context, item: InboxItem) -> dict[str, str]:
    activity = _activity(item)
    actor = _actor(item, activity)
    target = _id(activity.get("object"))
    if target and target == actor:  # the account is gone: so is its following
        for site in await followers.sites(ctx):
            await followers.remove_follower(ctx, site, actor)
        return {"status": "removed"}
    return {"status": "removed" if await _remove_source(ctx, target, actor) else "dropped"}


async def update(ctx: Context, item: InboxItem) -> dict[str, str]:
    activity = _activity(item)
    obj = activity.get("object")
    if isinstance(obj, Mapping) and obj.get("inReplyTo"):
        return await create(ctx, item)
    return {"status": "dropped"}  # a profile's update: nothing kept of it here


async def block(ctx: Context, item: InboxItem) -> dict[str, str]:
    activity = _activity(item)
    actor = _actor(item, activity)
    for site in await followers.sites(ctx):
        await followers.remove_follower(ctx, site, actor)
    return {"status": "removed"}


async def move(ctx: Context, item: InboxItem) -> dict[str, str]:
    """A follower moved: the provider let the new account follow in its place (when it names
    the old one in ``alsoKnownAs`` and the mover had no Move acted on in 7 days); the home's
    copy does the same, and nothing when the provider said it ignored the Move (``moved``)."""
    activity = _activity(item)
    old = _actor(item, activity)
    if item.meta.get("moved") is False:
        return {"status": "dropped"}
    new = str(item.meta.get("target") or _id(activity.get("target")))
    if not new.startswith(("https://", "http://")):
        return {"status": "dropped"}
    moved = "dropped"
    for site in await followers.sites(ctx):
        for record in await followers.list_followers(ctx, site):
            if record.get("actor") != old:
                continue
            await followers.save_follower(ctx, site, new, str(record.get("state")), {
                "follow_id": record.get("follow_id"), "inbox": item.meta.get("inbox"),
                "shared_inbox": item.meta.get("shared_inbox")}, item.id)
            await followers.remove_follower(ctx, site, old)
            moved = "moved"
    return {"status": moved}


Apply = Callable[[Context, InboxItem], Coroutine[Any, Any, dict[str, str]]]
APPLY: dict[str, Apply] = {
    "follow": follow, "undo": undo, "like": like, "announce": announce, "create": create,
    "update": update, "delete": delete, "block": block, "move": move,
}


def _handler(apply: Apply) -> Handler:
    def handle(ctx: Context, item: InboxItem) -> Mapping[str, Any]:
        """Run in a worker thread: on the serving loop when anyio made the thread."""
        try:
            return anyio.from_thread.run(apply, ctx, item)
        except RuntimeError as exc:
            if "AnyIO worker thread" not in str(exc) and "event loop" not in str(exc):
                raise
        return asyncio.run(apply(ctx, item))

    return handle


def home_handlers() -> dict[str, Handler]:
    return {PREFIX + kind: _handler(apply) for kind, apply in APPLY.items()}


__all__ = ["APPLY", "home_handlers"]
