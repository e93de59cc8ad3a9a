"""A site as ActivityPub sees it: fixed URLs, the actor, AS2 objects, collections, WebFinger.

Everything here is a pure function of the site's settings, its public entries and the address a
build is made for, so the home renders it into the snapshot as static files and every provider
serving the site serves the same documents with the same ids; only the inbox and delivery are
dynamic, at the provider. An entry's AS2 id is its canonical page URL: the provider answers it
with the page to browsers and with the object to ActivityPub clients (``wants_activity``).

Files in a build (``AS2_SUFFIX`` marks what is answered as ``application/activity+json``):

- ``activitypub/actor.as2``, ``outbox.as2``, ``outbox/page/N.as2``, ``followers.as2``,
  ``following.as2``, ``featured.as2``: answered at the same path without the suffix;
- ``<entry path>/index.as2``: the entry's object, beside its ``index.html``;
- ``activitypub/webfinger.json``: the JRD the provider answers WebFinger queries from
  (``webfinger_answer``), for any host the site is served at.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from homeport.content.types import ENTRY_TYPES
from homeport.render.model import EntryView, SiteModel
from homeport.render.urls import Urls, image_path, web_address

# --- fixed URLs, on the site's own origin -----------------------------------------------------
ACTOR = "/activitypub/actor"
OUTBOX = "/activitypub/outbox"
FOLLOWERS = "/activitypub/followers"
FOLLOWING = "/activitypub/following"
FEATURED = "/activitypub/featured"
INBOX = "/_homeport/activitypub/inbox"
SHARED_INBOX = "/_homeport/activitypub/shared-inbox"
KEY_FRAGMENT = "#main-key"
WEBFINGER = "/.well-known/webfinger"
NODEINFO_INDEX = "/.well-known/nodeinfo"
NODEINFO = "/nodeinfo/2.1"

AS2_SUFFIX = ".as2"
"""The suffix of a build's AS2 files; the provider answers them without it."""
WEBFINGER_FILE = "activitypub/webfinger.json"
ENTRY_FILE = "index.as2"

ACTIVITY_JSON = "application/activity+json"
LD_PROFILE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JRD_JSON = "application/jrd+json"
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
NODEINFO_JSON = f'application/json; profile="{NODEINFO_SCHEMA}#"'

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
EXTENSIONS: dict[str, Any] = {
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "sensitive": "as:sensitive",
    "Hashtag": "as:Hashtag",
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "toot": "http://joinmastodon.org/ns#",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    "schema": "http://schema.org#",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
}
"""The terms Mastodon reads beyond ActivityStreams, named as Mastodon names them."""
CONTEXT: list[Any] = [AS_CONTEXT, SECURITY_CONTEXT, EXTENSIONS]

PAGE_SIZE = 20
"""Activities per outbox page."""
USERNAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]{0,62}[a-z0-9_])?$")

OBJECT_TYPES = {"note": "Note", "photo": "Note", "bookmark": "Note",
                "article": "Article", "album": "Article", "paper": "Article"}
"""The AS2 type of each federated entry type; pages and files are not federated."""
MAX_FIELDS = 8


# --- the site's fediverse settings (``settings/site`` → ``fediverse``) ------------------------
@dataclass(frozen=True)
class Profile:
    """What the owner says about the actor (the ``fediverse`` object of the site's settings)."""

    username: str | None = None
    manually_approves: bool = False
    discoverable: bool = True
    fields: tuple[tuple[str, str], ...] = ()
    header: Mapping[str, Any] | None = None
    also_known_as: tuple[str, ...] = ()
    moved_to: str | None = None

    @classmethod
    def of(cls, model: SiteModel) -> Profile:
        raw = model.get("fediverse")
        raw = raw if isinstance(raw, dict) else {}
        name = raw.get("username")
        fields = []
        for item in raw.get("fields") or []:
            if isinstance(item, dict) and item.get("name"):
                fields.append((str(item["name"]), str(item.get("value") or "")))
        header = raw.get("header")
        aka = [a for a in (web_address(x) for x in raw.get("also_known_as") or []) if a]
        return cls(
            username=str(name).lower() if isinstance(name, str) and USERNAME.match(
                name.lower()) else None,
            manually_approves=bool(raw.get("manually_approves_followers", False)),
            discoverable=bool(raw.get("discoverable", True)),
            fields=tuple(fields[:MAX_FIELDS]),
            header=header if isinstance(header, dict) and "hash" in header else None,
            also_known_as=tuple(aka),
            moved_to=web_address(raw.get("moved_to")),
        )


def username_for(profile: Profile, base_url: str) -> str:
    """The ``preferredUsername``: the owner's choice, else the first label of the site's host
    (``alice`` for ``alice.example.net``), so ``@alice@alice.example.net`` finds the site."""
    if profile.username:
        return profile.username
    host = (urlsplit(base_url).hostname or "site").lower()
    label = re.sub(r"[^a-z0-9_-]", "", host.split(".")[0]).strip("-.")
    return label or "site"


# --- content negotiation -------------------------------------------------------------------
AS2_TYPES = ("application/activity+json", "application/ld+json")


@functools.lru_cache(maxsize=256)
def wants_activity(accept: str) -> bool:
    """Whether an ``Accept`` header asks for the AS2 object rather than the page: an AS2 type
    with a q-value above 0 and not below any HTML type's (browsers send ``text/html`` first and
    ``*/*`` last; ActivityPub clients send only the AS2 types). Clients send a handful of
    distinct values, hence the cache (the provider asks on every page request)."""
    best_as2 = 0.0
    best_html = 0.0
    for item in accept.split(","):
        kind, _, params = item.partition(";")
        kind = kind.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        if kind in AS2_TYPES:
            best_as2 = max(best_as2, q)
        elif kind in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, q)
    return best_as2 > 0.0 and best_as2 >= best_html


# --- documents -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Actor:
    """Where a build's actor is and what it signs with."""

    urls: Urls
    username: str
    public_key_pem: str
    follower_count: int = 0
    """Accepted followers, as the home knows them: the followers collection's ``totalItems``."""
    also_known_as: tuple[str, ...] = ()
    """Earlier actors of the site this address replaced (the home's address history)."""
    moved_to: str | None = None
    """The actor the site moved to from this address (the home's address history)."""

    @property
    def id(self) -> str:
        return self.urls.absolute(ACTOR)

    @property
    def key_id(self) -> str:
        return self.id + KEY_FRAGMENT

    @property
    def followers(self) -> str:
        return self.urls.absolute(FOLLOWERS)

    @property
    def host(self) -> str:
        return (urlsplit(self.urls.base_url).hostname or "").lower()


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())


def _image(urls: Urls, ref: Mapping[str, Any], width: int = 960) -> dict[str, Any]:
    found: dict[str, Any] = {"type": "Image", "mediaType": "image/jpeg",
                             "url": urls.absolute(image_path(dict(ref), width, "jpg"))}
    return found


def actor_document(model: SiteModel, actor: Actor, profile: Profile) -> dict[str, Any]:
    """The actor (a ``Person``), with every field Mastodon reads."""
    urls = actor.urls
    name = str(model.get("author") or model.get("title") or actor.username)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": actor.id,
        "type": "Person",
        "preferredUsername": actor.username,
        "name": name,
        "summary": _paragraphs(str(model.get("description") or "")),
        "url": urls.absolute("/"),
        "inbox": urls.absolute(INBOX),
        "outbox": urls.absolute(OUTBOX),
        "followers": actor.followers,
        "following": urls.absolute(FOLLOWING),
        "featured": urls.absolute(FEATURED),
        "endpoints": {"sharedInbox": urls.absolute(SHARED_INBOX)},
        "publicKey": {"id": actor.key_id, "owner": actor.id,
                      "publicKeyPem": actor.public_key_pem},
        "manuallyApprovesFollowers": profile.manually_approves,
        "discoverable": profile.discoverable,
        "indexable": profile.discoverable,
        "attachment": [{"type": "PropertyValue", "name": key, "value": _field_value(value)}
                       for key, value in profile.fields],
        "tag": [],
    }
    avatar = model.get("avatar")
    if isinstance(avatar, dict) and "hash" in avatar:
        doc["icon"] = _image(urls, avatar, 480)
    if profile.header is not None:
        doc["image"] = _image(urls, profile.header, 1920)
    aka = list(dict.fromkeys([*profile.also_known_as, *actor.also_known_as]))
    if aka:
        doc["alsoKnownAs"] = aka
    moved_to = actor.moved_to or profile.moved_to
    if moved_to:
        doc["movedTo"] = moved_to
    return doc


def _field_value(value: str) -> str:
    """A profile field's value: a link when it is a web address (Mastodon verifies those with
    ``rel="me"``), else text."""
    link = web_address(value.strip())
    if link is not None and " " not in link:
        shown = _escape(link.split("://", 1)[1].rstrip("/"))
        return f'<a href="{_escape(link)}" rel="me nofollow noopener" target="_blank">{shown}</a>'
    return _escape(value)


_ROOT_RELATIVE = re.compile(r'(\s(?:href|src)=")(/[^/"][^"]*|/)"')


def absolute_html(html: str, urls: Urls) -> str:
    """Root-relative links made absolute: a remote server shows the content on its own host."""
    origin = urls.absolute("")
    return _ROOT_RELATIVE.sub(lambda m: f'{m.group(1)}{origin}{m.group(2)}"', html)


def hashtag(tag: str) -> str:
    """``#tag`` as Mastodon writes it: no spaces."""
    return "#" + re.sub(r"\s+", "", tag)


def entry_object(entry: EntryView, actor: Actor, language: str = "en") -> dict[str, Any] | None:
    """The AS2 object of a public entry (None for types that are not federated)."""
    kind = OBJECT_TYPES.get(entry.type)
    if kind is None:
        return None
    urls = actor.urls
    url = urls.absolute(entry.path)
    data = entry.data
    content = absolute_html(str(entry.html), urls)
    if entry.type == "bookmark":
        link = web_address(data.get("url"))
        if link:
            content = f'<p><a href="{_escape(link)}">{_escape(entry.title)}</a></p>' + content
    if entry.type in ("album", "paper") and not content:
        content = f"<p>{_escape(entry.title)}</p>"
    hashtags = [{"type": "Hashtag", "href": urls.absolute(f"/tags/{slug}/"),
                 "name": hashtag(tag)} for tag, slug in entry.tag_slugs]
    mentions = _mentions(data.get("mentions"))
    mentions += _typed(entry, {m["href"] for m in mentions})
    if hashtags:
        links = " ".join(f'<a href="{_escape(h["href"])}" class="mention hashtag" rel="tag">'
                         f'#<span>{_escape(h["name"][1:])}</span></a>' for h in hashtags)
        content += f"<p>{links}</p>"
    obj: dict[str, Any] = {
        "@context": CONTEXT,
        "id": url,
        "type": kind,
        "attributedTo": actor.id,
        "url": url,
        "published": iso(entry.published),
        "to": [PUBLIC],
        "cc": [actor.followers, *(m["href"] for m in mentions)],
        "content": content,
        "contentMap": {language: content},
        "mediaType": "text/html",
        "attachment": _attachments(entry, urls),
        "tag": [*hashtags, *mentions],
        "sensitive": bool(data.get("sensitive")) or bool(data.get("content_warning")),
    }
    if entry.updated > entry.published:
        obj["updated"] = iso(entry.updated)
    if kind == "Article" or (entry.type == "photo" and data.get("title")):
        obj["name"] = entry.title
    warning = str(data.get("content_warning") or "")
    if warning:
        obj["summary"] = _escape(warning)
    elif entry.summary and kind == "Article":
        obj["summary"] = _escape(entry.summary)
    reply = web_address(data.get("reply_to") or data.get("in_reply_to"))
    obj["inReplyTo"] = reply
    return obj


def _mentions(raw: object) -> list[dict[str, str]]:
    """``mentions``: ``[{name: "@bob@example.net", href: <actor id>}]``, resolved by the home
    when the entry was written (a build does not look anything up)."""
    found = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        href = web_address(item.get("href"))
        name = str(item.get("name") or "")
        if href and name:
            found.append({"type": "Mention", "href": href,
                          "name": name if name.startswith("@") else "@" + name})
    return found


def _typed(entry: EntryView, known: set[str]) -> list[dict[str, str]]:
    """A ``Mention`` per ``@user@host`` in the entry's text that the home resolved (its
    ``mentioned``), beside those of its ``mentions`` field."""
    found = []
    for key, resolved in entry.typed_mentions:
        if resolved.actor not in known:
            known.add(resolved.actor)
            found.append({"type": "Mention", "href": resolved.actor, "name": "@" + key})
    return found


def _attachments(entry: EntryView, urls: Urls) -> list[dict[str, Any]]:
    found = []
    for ref in entry.images:
        item = _image(urls, ref, 1920)
        item["type"] = "Image" if entry.type != "note" else "Document"
        item["name"] = str(ref.get("alt") or "")
        if ref.get("width") and ref.get("height"):
            width = min(int(ref["width"]), 1920)
            item["width"] = width
            item["height"] = round(int(ref["height"]) * width / int(ref["width"]))
        found.append(item)
    attachment = entry.attachment
    if attachment is not None and entry.type == "paper":
        from homeport.render.model import safe_name

        found.append({"type": "Document", "mediaType": str(attachment.get("mimetype") or ""),
                      "url": urls.absolute(entry.path + safe_name(str(attachment["filename"]))),
                      "name": str(attachment["filename"])})
    return found


def without_context(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "@context"}


def create_activity(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Create`` of an object, as outboxes list it and delivery sends it."""
    return {"@context": CONTEXT, "id": f"{obj['id']}#create", "type": "Create",
            "actor": obj["attributedTo"], "published": obj["published"],
            "to": obj["to"], "cc": obj["cc"], "object": without_context(obj)}


def update_activity(obj: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The ``Update`` of an edited object; ``version`` (its ``updated`` time, say) makes each
    edit's activity id distinct."""
    return {"@context": CONTEXT, "id": f"{obj['id']}#update-{version}", "type": "Update",
            "actor": obj["attributedTo"], "to": obj["to"], "cc": obj["cc"],
            "object": without_context(obj)}


def delete_activity(object_id: str, actor_id: str, followers: str) -> dict[str, Any]:
    """The ``Delete`` of an object no longer published, with a ``Tombstone``."""
    return {"@context": CONTEXT, "id": f"{object_id}#delete", "type": "Delete",
            "actor": actor_id, "to": [PUBLIC], "cc": [followers],
            "object": {"id": object_id, "type": "Tombstone"}}


def federated(entries: Iterable[EntryView]) -> list[EntryView]:
    """The entries the outbox lists, newest first (those in the feeds)."""
    return [e for e in entries if e.type in OBJECT_TYPES and ENTRY_TYPES[e.type].in_feed]


def outbox(actor: Actor, total: int) -> dict[str, Any]:
    urls = actor.urls
    pages = max(1, -(-total // PAGE_SIZE))
    return {"@context": CONTEXT, "id": urls.absolute(OUTBOX), "type": "OrderedCollection",
            "totalItems": total, "first": outbox_page_url(urls, 1),
            "last": outbox_page_url(urls, pages)}


def outbox_page_url(urls: Urls, number: int) -> str:
    return urls.absolute(f"{OUTBOX}/page/{number}")


def outbox_page(actor: Actor, number: int, pages: int,
                objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    urls = actor.urls
    doc: dict[str, Any] = {
        "@context": CONTEXT, "id": outbox_page_url(urls, number),
        "type": "OrderedCollectionPage", "partOf": urls.absolute(OUTBOX),
        "orderedItems": [without_context(create_activity(o)) for o in objects],
    }
    if number > 1:
        doc["prev"] = outbox_page_url(urls, number - 1)
    if number < pages:
        doc["next"] = outbox_page_url(urls, number + 1)
    return doc


def collection(urls: Urls, path: str, items: Sequence[Any] | None = None,
               total: int | None = None) -> dict[str, Any]:
    """An ``OrderedCollection`` in one document; ``items`` None leaves them out (followers:
    the count is public, who they are is not)."""
    doc: dict[str, Any] = {"@context": CONTEXT, "id": urls.absolute(path),
                           "type": "OrderedCollection",
                           "totalItems": len(items) if total is None and items else total or 0}
    if items is not None:
        doc["orderedItems"] = list(items)
    return doc


def featured(actor: Actor, objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pinned entries (``pinned: true``), embedded as Mastodon expects."""
    return collection(actor.urls, FEATURED, [without_context(o) for o in objects], len(objects))


# --- WebFinger and NodeInfo (answered by the provider) ---------------------------------------
def webfinger_document(actor: Actor) -> dict[str, Any]:
    """The JRD a build carries: the provider answers queries for it at any of the site's hosts."""
    return {
        "subject": f"acct:{actor.username}@{actor.host}",
        "aliases": [actor.id, actor.urls.absolute("/")],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor.id},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
             "href": actor.urls.absolute("/")},
        ],
    }


def webfinger_answer(jrd: Mapping[str, Any], resource: str, host: str) -> dict[str, Any] | None:
    """The answer to ``?resource=…`` asked at ``host`` (one the site is served at: its provider
    address or a verified custom domain), or None (404): ``acct:<user>@<host>`` for the site's
    user at that host or at the host it was built for, or the actor's or site's own URL."""
    subject = str(jrd.get("subject") or "")
    user, _, built_host = subject.removeprefix("acct:").partition("@")
    value = resource.strip()
    aliases = [str(a) for a in jrd.get("aliases") or []]
    if value in aliases:
        return dict(jrd)
    if value.lower().startswith("acct:"):
        value = value[5:]
    asked_user, at, asked_host = unquote(value).removeprefix("@").rpartition("@")
    if not at or asked_user.lower() != user.lower():
        return None
    asked_host = asked_host.lower().rstrip(".")
    if asked_host not in (host.lower(), built_host.lower()):
        return None
    return {**jrd, "subject": f"acct:{user}@{asked_host}"}


def nodeinfo_index(origin: str) -> dict[str, Any]:
    return {"links": [{"rel": NODEINFO_SCHEMA, "href": origin + NODEINFO}]}


def nodeinfo(version: str, open_registrations: bool, local_posts: int,
             name: str = "homeport") -> dict[str, Any]:
    """NodeInfo 2.1 for a site's host: one user, the provider's software and sign-up policy."""
    return {
        "version": "2.1",
        "software": {"name": name, "version": version},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["atom1.0", "rss2.0"]},
        "openRegistrations": open_registrations,
        "usage": {"users": {"total": 1, "activeMonth": 1, "activeHalfyear": 1},
                  "localPosts": local_posts},
        "metadata": {},
    }
