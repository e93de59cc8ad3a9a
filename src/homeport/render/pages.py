"""The plan of a build: every output file, how to make it, and what it depends on.

A page's ``deps`` are fingerprint tokens of what it shows (an entry's ``full`` or ``listing``
fingerprint, page numbers, tag counts…). The builder hashes them with the theme, settings and
base URL; a page whose hash is unchanged since the last build is neither rendered nor written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

from markupsafe import Markup

from homeport import jsonio
from homeport.content import support
from homeport.content.slugs import slugify
from homeport.content.types import ENTRY_TYPES
from homeport.members.entitlements import PATH as ENTITLEMENTS
from homeport.members.publishing import MembersBuild
from homeport.members.sealing import PAGES, seal_page
from homeport.render import activitypub as ap
from homeport.render import citations, discovery, feeds
from homeport.render.model import BODY_FIELDS, EntryView, SiteModel
from homeport.render.themes import Theme
from homeport.render.urls import Urls, image_path, safe_link

Render = Callable[[], bytes]


@dataclass
class Page:
    path: str
    """Output path relative to the output directory (``articles/x/index.html``)."""
    render: Render
    deps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pagination:
    number: int
    pages: int
    prev: str | None
    next: str | None


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def chunks(items: Sequence[EntryView], size: int) -> list[Sequence[EntryView]]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


class Planner:
    """Builds the page list for one site, one theme and one base URL."""

    def __init__(self, model: SiteModel, theme: Theme, urls: Urls,
                 media: Callable[[EntryView], list[Page]], live: bool = False,
                 members: MembersBuild | None = None, actor: ap.Actor | None = None) -> None:
        self.model = model
        self.members = members
        """A provider's build: the members' entitlements and the tiers' content keys."""
        self.actor = actor
        """The site's actor in a provider's build: its AS2 documents are written too."""
        self.theme = theme
        self.urls = urls
        self.live = live
        """Served by a provider: pages name its endpoints, feeds its WebSub hub."""
        self.origin = discovery.origin_of(urls.base_url)
        self.media = media
        self.per_page = int(model.get("per_page") or 20)
        self.feed_entries = [e for e in model.entries if ENTRY_TYPES[e.type].in_feed]
        self.nav = self._nav()
        self.cards: dict[tuple[str, str], Markup] = {}

    def card(self, entry: EntryView, heading: str = "h2") -> Markup:
        """An entry as lists show it (``_card.html``), rendered once per build however many
        lists (home, its type, each tag) show it."""
        key = (entry.full, heading)
        found = self.cards.get(key)
        if found is None:
            values = {"site": self.model, "urls": self.urls, "iso": iso, "e": entry,
                      "heading": heading}
            found = self.cards[key] = Markup(self.theme.render("_card.html", values))
        return found

    # --- helpers -------------------------------------------------------------------------
    def _nav(self) -> list[dict[str, str]]:
        items = [{"title": "Home", "href": self.urls.url("/")}]
        present = {e.type for e in self.model.entries}
        for kind in ENTRY_TYPES.values():
            if kind.in_feed and kind.name in present:
                items.append({"title": kind.collection.capitalize(),
                              "href": self.urls.url(f"/{kind.collection}/")})
        pages = [e for e in self.model.entries if e.type == "page" and "nav" in e.data]
        for page in sorted(pages, key=lambda e: int(e.data["nav"])):
            items.append({"title": page.title, "href": self.urls.url(page.path)})
        for link in self.model.get("navigation") or []:
            href = safe_link(link.get("url")) if isinstance(link, dict) else None
            if href is not None:  # a javascript: (or any other) link is left out
                items.append({"title": str(link.get("title") or href), "href": href})
        return items

    @cached_property
    def support(self) -> dict[str, Any]:
        """Donation links (``rel="payment"``) and the Web Monetization wallet, checked."""
        links, wallet = support.rendered(self.model)
        return {"links": links, "monetization": wallet}

    @cached_property
    def common(self) -> list[str]:
        """What every page depends on: theme, settings, base URL and the navigation."""
        nav = "|".join(f"{i['title']}>{i['href']}" for i in self.nav)
        live = "live" if self.live else "static"
        found = [self.theme.fingerprint, self.model.fingerprint, self.urls.base_url, nav, live]
        if self.actor is not None:
            found.append(f"actor:{self.actor.username}")
        return found

    def page_info(self, path: str, title: str, kind: str, **extra: Any) -> dict[str, Any]:
        info: dict[str, Any] = {
            "path": path, "title": title, "kind": kind,
            "canonical": self.urls.absolute(path),
            "description": str(self.model.get("description") or ""),
            "og_type": "website", "image": None, "meta": [], "feeds": self.feed_links("/", ""),
            "endpoints": discovery.page_links() if self.live else [],
        }
        info.update(extra)
        return info

    def feed_links(self, base: str, label: str) -> list[dict[str, str]]:
        title = f"{self.model.get('title')}{label}"
        return [
            {"type": "application/atom+xml", "href": self.urls.absolute(base + "feed.atom"),
             "title": f"{title} (Atom)", "label": "Atom"},
            {"type": "application/rss+xml", "href": self.urls.absolute(base + "feed.rss"),
             "title": f"{title} (RSS)", "label": "RSS"},
            {"type": "application/feed+json", "href": self.urls.absolute(base + "feed.json"),
             "title": f"{title} (JSON Feed)", "label": "JSON Feed"},
        ]

    def html(self, template: str, page: Callable[[], dict[str, Any]], **context: Any) -> Render:
        """Render later, and only if needed: ``page`` (the head's data) is made then too, so
        an unchanged page costs its fingerprint and nothing else."""
        def render() -> bytes:
            values = {"site": self.model, "urls": self.urls, "iso": iso, "nav": self.nav,
                      "page": page(), "card": self.card, "support": self.support,
                      "theme_css": self.theme.inline_css(), **context}
            return self.theme.render(template, values).encode()

        return render

    # --- the plan ------------------------------------------------------------------------
    def pages(self) -> Iterator[Page]:
        yield from self.listing("/", f"{self.model.get('title')}", "home", self.feed_entries,
                                "home.html")
        for kind in ENTRY_TYPES.values():
            entries = [e for e in self.model.entries if e.type == kind.name]
            if kind.in_feed and entries:
                yield from self.listing(f"/{kind.collection}/", kind.collection.capitalize(),
                                        "list", entries, "list.html")
        yield from self.tags()
        yield from self.feeds("/", "", self.feed_entries)
        for entry in self.model.entries:
            yield from self.entry(entry)
        for old, new in sorted(self.model.redirects.items()):
            yield self.redirect(old, new)
        yield self.archive()
        yield Page("404.html", self.html("404.html", lambda: self.page_info(
            "/404.html", "Page not found", "error")), self.common)
        yield self.sitemap()
        yield self.robots()
        yield from self.site_images()
        if self.actor is not None:
            yield from self.activitypub(self.actor)
        for name, file in self.theme.static_files().items():
            yield Page(f"theme/{name}", file.read_bytes, [self.theme.fingerprint])
        if self.members is not None:
            data = self.members.entitlements
            yield Page(ENTITLEMENTS, lambda: data, [self.members.digest])
            for entry in self.model.gated:
                yield from self.gated(entry, self.members)

    def listing(self, base: str, title: str, kind: str, entries: Sequence[EntryView],
                template: str, **extra: Any) -> Iterator[Page]:
        groups = chunks(entries, self.per_page)
        for number, group in enumerate(groups, start=1):
            path = base if number == 1 else f"{base}page/{number}/"
            prev = None if number == 1 else (base if number == 2 else f"{base}page/{number - 1}/")
            nxt = f"{base}page/{number + 1}/" if number < len(groups) else None
            pagination = Pagination(number, len(groups), prev and self.urls.url(prev),
                                    nxt and self.urls.url(nxt))
            heading = title if number == 1 else f"{title} (page {number})"
            deps = [*self.common, template, path, f"{number}/{len(groups)}",
                    *(e.listing for e in group)]

            def info(path: str = path, heading: str = heading) -> dict[str, Any]:
                more = {k: v() if callable(v) else v for k, v in extra.items()}
                return self.page_info(path, heading, kind, **more)

            yield Page(_index(path), self.html(template, info, entries=group,
                                               pagination=pagination, feeds_here=bool(extra)),
                       deps)

    def tag_groups(self) -> tuple[dict[str, list[EntryView]], dict[str, str]]:
        """Entries by tag slug (newest first) and each slug's display name."""
        by_tag: dict[str, list[EntryView]] = {}
        names: dict[str, str] = {}
        for entry in self.feed_entries:
            for tag, slug in entry.tag_slugs:
                by_tag.setdefault(slug, []).append(entry)
                names.setdefault(slug, tag)
        return by_tag, names

    def affected(self, edited: set[str]) -> Iterator[Page]:
        """The pages that show the full content of the ``edited`` entries: their own pages,
        albums holding them, the feeds they are recent in, and the sitemap. Enough when the
        edits do not change what lists show (the builder checks that)."""
        for entry in self.model.entries:
            if entry.id in edited or any(p.id in edited for p in entry.photos):
                yield from self.entry(entry)
        if any(e.id in edited for e in self.feed_entries[: feeds.FEED_SIZE]):
            yield from self.feeds("/", "", self.feed_entries)
        by_tag, names = self.tag_groups()
        slugs = {slug for e in self.model.entries if e.id in edited for _, slug in e.tag_slugs}
        for slug in sorted(slugs & set(by_tag)):
            if any(e.id in edited for e in by_tag[slug][: feeds.FEED_SIZE]):
                yield from self.feeds(f"/tags/{slug}/", f" · {names[slug]}", by_tag[slug])
        yield self.sitemap()
        if self.actor is not None:  # pages whose entries did not change are not rendered
            yield from self.activitypub(self.actor)

    def tags(self) -> Iterator[Page]:
        by_tag, names = self.tag_groups()
        for slug, entries in sorted(by_tag.items()):
            base = f"/tags/{slug}/"
            label = f" · {names[slug]}"
            feed_links = partial(self.feed_links, base, label)
            yield from self.listing(base, f"Tagged “{names[slug]}”", "tag", entries,
                                    "list.html", feeds=feed_links)
            yield from self.feeds(base, label, entries)
        tags = [{"name": names[s], "slug": s, "count": len(e)} for s, e in sorted(by_tag.items())]
        info = partial(self.page_info, "/tags/", "Tags", "tags")
        deps = [*self.common, "tags", *(f"{t['slug']}={t['count']}" for t in tags)]
        yield Page("tags/index.html", self.html("tags.html", info, tags=tags), deps)

    def feeds(self, base: str, label: str, entries: Sequence[EntryView]) -> Iterator[Page]:
        latest = list(entries[: feeds.FEED_SIZE])
        title = f"{self.model.get('title')}{label}"
        page_url = self.urls.absolute(base)
        hub = discovery.hub_url(self.origin) if self.live else None
        deps = [*self.common, *(e.full for e in latest)]
        for name, make in (("feed.atom", feeds.atom), ("feed.rss", feeds.rss),
                           ("feed.json", feeds.json_feed)):
            self_url = self.urls.absolute(base + name)

            def render(make: Any = make, self_url: str = self_url) -> bytes:
                return bytes(make(self.model, title, latest, self_url, page_url,
                                  self.urls.absolute, hub=hub))

            yield Page(base.lstrip("/") + name, render, [*deps, name])

    def entry(self, entry: EntryView) -> Iterator[Page]:
        deps = [*self.common, "entry", entry.full, *(p.full for p in entry.photos),
                *entry.mention_deps]
        url = self.urls.absolute(entry.path)
        yield from self.media(entry)
        paper = entry.type == "paper" and entry.attachment is not None
        if paper:
            yield Page(_file(entry.path, "cite.bib"),
                       lambda: citations.bibtex(entry, url).encode(), [*deps, "bib"])
            yield Page(_file(entry.path, "cite.json"),
                       lambda: citations.csl_json_text(entry, url).encode(), [*deps, "csl"])

        def info() -> dict[str, Any]:
            extra: dict[str, Any] = {"og_type": "article", "description": _describe(entry)}
            shown = entry.images[0] if entry.images else entry.featured
            if shown is not None:
                extra["image"] = self.urls.absolute(image_path(shown, 1920, "jpg"))
            if paper and entry.attachment is not None:
                pdf_url = url + str(entry.attachment["filename"])
                extra["meta"] = citations.citation_meta(entry, url, pdf_url)
            return self.page_info(entry.path, entry.title, "entry", **extra)

        citation = _Citation(entry, url) if paper else None
        template = ENTRY_TYPES[entry.type].template or "entry.html"
        yield Page(_index(entry.path), self.html(template, info, entry=entry,
                                                 citation=citation), deps)
        if self.actor is not None and entry.type in ap.OBJECT_TYPES:
            yield Page(_file(entry.path, ap.ENTRY_FILE),
                       partial(self._as2, self.actor, entry), [*deps, "as2"])

    def site_images(self) -> Iterator[Page]:
        """The variants of the site's own images (the avatar, the fediverse header), which no
        entry carries: the h-card and the actor's ``icon`` and ``image`` name them."""
        fedi = self.model.get("fediverse")
        header = fedi.get("header") if isinstance(fedi, dict) else None
        for ref in (self.model.get("avatar"), header):
            if isinstance(ref, dict) and "hash" in ref:
                holder = EntryView("photo", "_site", {"image": ref, "slug": "_site"}, 0, "/")
                yield from self.media(holder)

    # --- ActivityPub (a provider's build) ------------------------------------------------
    def _object(self, actor: ap.Actor, entry: EntryView) -> dict[str, Any] | None:
        return ap.entry_object(entry, actor, str(self.model.get("language") or "en"))

    def _as2(self, actor: ap.Actor, entry: EntryView) -> bytes:
        return jsonio.dumps(self._object(actor, entry))

    def activitypub(self, actor: ap.Actor) -> Iterator[Page]:
        """The actor, its collections and WebFinger's JRD (entries' objects come with their
        pages). An outbox page depends only on its own entries: a new post renders page 1 and
        moves the others, an edit renders the one page that shows it."""
        profile = ap.Profile.of(self.model)
        entries = ap.federated(self.feed_entries)
        base = [*self.common, actor.public_key_pem, *actor.also_known_as, actor.moved_to or ""]
        yield Page("activitypub/actor.as2",
                   lambda: jsonio.dumps(ap.actor_document(self.model, actor, profile)),
                   [*base, "ap-actor"])
        yield Page(ap.WEBFINGER_FILE, lambda: jsonio.dumps(ap.webfinger_document(actor)),
                   [*base, "ap-webfinger"])
        groups = chunks(entries, ap.PAGE_SIZE)
        yield Page("activitypub/outbox.as2",
                   lambda: jsonio.dumps(ap.outbox(actor, len(entries))),
                   [*base, "ap-outbox", str(len(entries))])
        for number, group in enumerate(groups, start=1):
            def render(number: int = number, group: Sequence[EntryView] = group) -> bytes:
                objects = [o for o in (self._object(actor, e) for e in group) if o]
                return jsonio.dumps(ap.outbox_page(actor, number, len(groups), objects))

            yield Page(f"activitypub/outbox/page/{number}.as2", render,
                       [*base, "ap-page", f"{number}/{len(groups)}", *(e.full for e in group)])
        pinned = [e for e in entries if e.data.get("pinned") is True]

        def render_featured() -> bytes:
            objects = [o for o in (self._object(actor, e) for e in pinned) if o]
            return jsonio.dumps(ap.featured(actor, objects))

        yield Page("activitypub/featured.as2", render_featured,
                   [*base, "ap-featured", *(e.full for e in pinned)])
        yield Page("activitypub/followers.as2",
                   lambda: jsonio.dumps(ap.collection(self.urls, ap.FOLLOWERS,
                                                      total=actor.follower_count)),
                   [*base, "ap-followers", str(actor.follower_count)])
        yield Page("activitypub/following.as2",
                   lambda: jsonio.dumps(ap.collection(self.urls, ap.FOLLOWING)),
                   [*base, "ap-following"])

    def gated(self, entry: EntryView, members: MembersBuild) -> Iterator[Page]:
        """A members-only entry: a public teaser (summary or first paragraph, no media) with
        the sign-in form, and the whole page sealed with its tier's key. An entry for a tier
        that no longer exists is not published at all."""
        tier = str(entry.data.get("visibility"))
        key = members.keys.get(tier)
        if key is None:
            return
        path = _index(entry.path)
        offer = members.offers.get(tier, "")
        deps = [*self.common, "gated", entry.full, hashlib.sha256(key).hexdigest()[:16], offer]
        teaser = EntryView("article", entry.id, {
            "title": entry.title, "slug": entry.slug, "summary": "",
            "published": entry.data.get("published"), "tags": entry.tags,
            "body": teaser_text(entry)}, entry.last_modified, entry.path)
        gate = {"action": SIGNIN, "next": entry.path, "tier": tier, "offer": offer,
                "checkout": CHECKOUT}

        def info() -> dict[str, Any]:
            return self.page_info(entry.path, entry.title, "entry", og_type="article",
                                  description=_describe(teaser))

        yield Page(path, self.html("entry.html", info, entry=teaser, gate=gate), deps)
        whole = self.html("entry.html", info, entry=entry, citation=None)
        yield Page(PAGES + path, lambda: seal_page(key, path, tier, whole()), deps)

    def redirect(self, old: str, new: str) -> Page:
        target = self.urls.absolute(new)
        render = self.html("redirect.html", partial(self.page_info, old, "Moved", "redirect"),
                           target=target, target_title=target)
        return Page(_index(old), render, [*self.common, "redirect", new])

    def archive(self) -> Page:
        years = [(year, list(items)) for year, items in
                 itertools.groupby(self.feed_entries, key=lambda e: e.published.year)]
        info = partial(self.page_info, "/archive/", "Archive", "archive")
        deps = [*self.common, "archive", *(e.listing for e in self.feed_entries)]
        return Page("archive/index.html", self.html("archive.html", info, years=years), deps)

    def sitemap(self) -> Page:
        rows = [("/", None)] + [(e.path, e.updated) for e in self.model.entries]

        def render() -> bytes:
            lines = ['<?xml version="1.0" encoding="utf-8"?>',
                     '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
            for path, updated in rows:
                loc = _xml(self.urls.absolute(path))
                mod = f"<lastmod>{iso(updated)}</lastmod>" if updated else ""
                lines.append(f"<url><loc>{loc}</loc>{mod}</url>")
            lines.append("</urlset>\n")
            return "\n".join(lines).encode()

        deps = [self.urls.base_url, "sitemap", *(f"{e.path}@{e.full}" for e in self.model.entries)]
        return Page("sitemap.xml", render, deps)

    def robots(self) -> Page:
        text = f"User-agent: *\nAllow: /\nSitemap: {self.urls.absolute('/sitemap.xml')}\n"
        return Page("robots.txt", lambda: text.encode(), [text])


class _Citation:
    """What a paper page's template shows; the BibTeX is made only when the page renders."""

    def __init__(self, paper: EntryView, url: str) -> None:
        self.paper = paper
        self.url = url

    @property
    def bibtex(self) -> str:
        return citations.bibtex(self.paper, self.url)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _index(path: str) -> str:
    return (path.strip("/") + "/index.html").lstrip("/")


def _file(path: str, name: str) -> str:
    return f"{path.strip('/')}/{name}"


SIGNIN = "/_homeport/members/signin"
CHECKOUT = "/_homeport/payments/checkout"
"""Where a members-only page's form asks for a sign-in link (``interop/members.py``)."""
TEASER_MAX = 600


def teaser_text(entry: EntryView) -> str:
    """What the public sees of a members-only entry: its summary, else its first paragraph."""
    if entry.summary:
        return entry.summary[:TEASER_MAX]
    for name in BODY_FIELDS:
        value = entry.data.get(name)
        if isinstance(value, str) and value.strip():
            first = value.strip().split("\n\n", 1)[0]
            return first if len(first) <= TEASER_MAX else first[:TEASER_MAX].rsplit(" ", 1)[0] + "…"
    return ""


def _describe(entry: EntryView) -> str:
    if entry.summary:
        return entry.summary
    for name in ("abstract", "caption", "text", "comment", "description", "body"):
        value = entry.data.get(name)
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            return text if len(text) <= 200 else text[:199].rsplit(" ", 1)[0] + "…"
    return entry.title


def slug_of(tag: str) -> str:
    return slugify(tag, "tag")

