"""``build_site``: a site's public entries → a folder of static files, incrementally.

Nothing is rendered into place directly: changed files are staged under temporary names and
renamed into place only once every page has rendered, so a failed build (a broken theme, a
full disk) leaves the folder exactly as the previous build left it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from homeport import __version__
from homeport.content import followers
from homeport.content.variants import (
    Variant,
    cached_variants,
    variant_folder,
    variant_widths,
)
from homeport.members.publishing import for_build
from homeport.render import activitypub as ap
from homeport.render import handles
from homeport.render.model import EntryView, SiteModel, load_site, safe_name
from homeport.render.output import Output, OutputFile, files_of, load_files
from homeport.render.pages import Page, Planner
from homeport.render.parallel import render_all, worker_count
from homeport.render.themes import find_theme, load_theme
from homeport.render.urls import Urls, web_address
from homeport.services import fediverse
from homeport.services import handles as handle_answers
from homeport.services.context import Context
from homeport.sync.addresses import ActorLinks


@dataclass
class BuildResult:
    site: str
    out_dir: Path
    written: list[str]
    """Paths (relative to ``out_dir``) whose bytes were written by this build."""
    removed: list[str]
    unchanged: int
    manifest: dict[str, list[str | int]] = field(default_factory=dict, repr=False)
    seconds: float = 0.0

    @property
    def files(self) -> list[OutputFile]:
        """Every file of the site as built, with its SHA-256 and size (for snapshots)."""
        return files_of(self.manifest)


def default_base_url(site: str) -> str:
    return f"http://127.0.0.1:8750/preview/{site}/"


def manifest_path(ctx: Context, site: str, out_dir: Path) -> Path:
    key = hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:16]
    return ctx.settings.data_dir / "cache" / "build" / f"{site}-{key}.json"


def default_out_dir(ctx: Context, site: str) -> Path:
    return ctx.settings.data_dir / "sites" / site


async def build_site(
    ctx: Context,
    site: str,
    out_dir: Path | None = None,
    base_url: str | None = None,
    theme: str | Path | None = None,
    workers: int | None = None,
    keep: Callable[[EntryView], bool] | None = None,
    keep_key: str = "",
    live: bool = False,
    links: ActorLinks | None = None,
) -> BuildResult:
    """Build ``site`` into ``out_dir`` (default ``<data>/sites/<site>``) for ``base_url``
    (default: the site's ``base_url`` setting, else the home's ``/preview/<site>/``).
    ``theme`` overrides the site's theme by name or folder. Only pages whose inputs changed
    since the last build into the same folder are rendered, and only changed files written.
    Many pages render in ``workers`` forked processes (default: one per core, up to four).
    ``keep`` leaves entries out (a provider's rules); ``keep_key`` names that choice, so a
    change of rules is a new build, not an edit. ``live``: the build a provider serves, whose
    pages name its endpoints (webmention, micropub, IndieAuth) and feeds its WebSub hub.
    ``links``: the actor's ``alsoKnownAs`` and ``movedTo`` from the site's address history."""
    started = time.perf_counter()
    out = (out_dir or default_out_dir(ctx, site)).resolve()
    model = await load_site(ctx, site)
    resolved = handles.resolved_of(await handle_answers.read(ctx))
    for entry in model.entries:
        entry.mentioned = resolved
    if keep is not None:
        model = replace(model, entries=[e for e in model.entries if keep(e)],
                        gated=[e for e in model.gated if keep(e)])
    setting = web_address(model.get("base_url")) or ""  # never a javascript: base for every link
    urls = Urls.for_base(base_url or setting or default_base_url(site))
    chosen = theme or str(model.get("theme") or "journal")
    folder = chosen if isinstance(chosen, Path) else find_theme(
        chosen, ctx.settings.data_dir / "themes")
    media_pages = _media_pages(ctx, model.get("keep_location"))
    members = await for_build(ctx) if live else None
    actor = await _actor(ctx, model, urls, links) if live else None
    planner = Planner(model, load_theme(folder), urls, media_pages, live, members, actor)
    manifest = manifest_path(ctx, site, out)
    # Members change the build without changing any page of the model: a new key plans it all.
    gated = hashlib.sha256(" ".join(e.full for e in model.gated).encode()).hexdigest()
    key = "\n".join([str(out), keep_key, *planner.common, members.digest if members else "",
                     gated, repr(links), _digest(resolved)])
    previous: _State | None = ctx.caches.get(f"{STATE}.{site}.{out}")
    edited = _only_edits(previous, key, manifest, model) if previous else None
    known = previous.manifest if previous is not None and edited is not None else None
    output = Output(out, manifest, known)
    pages = planner.pages() if edited is None else planner.affected(edited)
    seen: set[str] = set()
    todo: list[tuple[Page, str]] = []
    try:
        for page in pages:
            if page.path in seen:
                continue
            seen.add(page.path)
            fingerprint = _fingerprint(page)
            if not output.fresh(page.path, fingerprint):
                todo.append((page, fingerprint))
        count = worker_count(len(todo)) if workers is None else workers
        render_all(todo, output, count)
    except BaseException:
        output.abort()
        raise
    removed = output.finish(partial=edited is not None)
    for entry in model.entries:
        entry.forget_html()
    ctx.caches[f"{STATE}.{site}.{out}"] = _State(key, manifest, _stamp(manifest), output.new,
                                          {e.id: e for e in model.entries})
    return BuildResult(site, out, output.written, removed, output.skipped, output.new,
                       time.perf_counter() - started)


STATE = "render.state"


def _digest(resolved: dict[str, handles.Resolved]) -> str:
    """The resolved handles, in the build's key: a new one plans the site again (each entry's
    pages then re-render only if they name it)."""
    joined = "\n".join(f"{k} {v.actor} {v.url}" for k, v in sorted(resolved.items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


async def _actor(ctx: Context, model: SiteModel, urls: Urls,
                 links: ActorLinks | None = None) -> ap.Actor | None:
    """The site's actor at this address, its key made on first use: a provider's build writes
    the site's ActivityPub documents (``render/activitypub.py``). None when the address is not
    a site's root (the actor's URLs are fixed paths on the site's origin)."""
    if urlsplit(urls.base_url).path not in ("", "/"):
        return None
    key = await fediverse.site_key(ctx, model.name)
    username = ap.username_for(ap.Profile.of(model), urls.base_url)
    count = len(await followers.list_followers(ctx, model.name, followers.ACCEPTED))
    links = links or ActorLinks()
    return ap.Actor(urls, username, key.public_pem, count, links.also_known_as, links.moved_to)


@dataclass
class _State:
    """What a process remembers of its last build of a site, to find the pages one edit
    touches without planning the whole site again."""

    key: str
    """Output folder, theme, settings, base URL and navigation."""
    manifest_path: Path
    stamp: tuple[int, int]
    manifest: dict[str, list[str | int]]
    entries: dict[str, EntryView]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def _only_edits(
    state: _State, key: str, manifest: Path, model: SiteModel
) -> set[str] | None:
    """The ids of the entries that changed, when the only changes are edits that lists do not
    show (a body, say) and nothing else moved; None when the whole site must be planned."""
    if state.key != key or state.manifest_path != manifest or _stamp(manifest) != state.stamp:
        return None
    if len(model.entries) != len(state.entries):
        return None
    edited = set()
    for entry in model.entries:
        before = state.entries.get(entry.id)
        if before is None:
            return None
        if before is not entry and before.full != entry.full:
            if before.listing != entry.listing or before.published != entry.published:
                return None
            edited.add(entry.id)
    return edited


def output_files(ctx: Context, site: str, out_dir: Path | None = None) -> list[OutputFile]:
    """The files of the last build of ``site`` into ``out_dir``, from its manifest."""
    out = (out_dir or default_out_dir(ctx, site)).resolve()
    return load_files(manifest_path(ctx, site, out))


def _fingerprint(page: Page) -> str:
    joined = "\n".join([__version__, page.path, *page.deps])
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


def _media_pages(ctx: Context, keep_location: object) -> Callable[[EntryView], list[Page]]:
    keep = bool(keep_location)

    def pages(entry: EntryView) -> list[Page]:
        found = []
        for ref in [*entry.images, *entry.body_images]:
            digest = str(ref["hash"])
            widths = variant_widths(int(ref["width"])) if ref.get("width") else [
                v.width for v in _variants(ctx, digest, keep)]
            for width in sorted(set(widths)):
                for ext in ("webp", "jpg"):
                    found.append(Page(f"media/{digest}/{width}.{ext}",
                                      partial(_variant_bytes, ctx, digest, keep, width, ext),
                                      ["media", digest, str(keep)]))
        attachment = entry.attachment
        if attachment is not None:
            digest = str(attachment["hash"])
            name = safe_name(str(attachment["filename"]))
            found.append(Page(f"{entry.path.strip('/')}/{name}", _blob(ctx, digest),
                              ["file", digest]))
        return found

    return pages


def _variant_bytes(ctx: Context, digest: str, keep: bool, width: int, ext: str) -> bytes:
    path = variant_folder(ctx.settings.data_dir, digest, keep) / f"{width}.{ext}"
    if not path.exists():
        _variants(ctx, digest, keep)
    return path.read_bytes()


def _variants(ctx: Context, digest: str, keep: bool) -> list[Variant]:
    """Cached variants; made now (Pillow imported only then) when an upload skipped them."""
    found = cached_variants(ctx.settings.data_dir, digest, keep)
    if found is None:
        from homeport.content import media

        found = media.variants(ctx, digest, keep_location=keep)
    return found


def _blob(ctx: Context, digest: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with ctx.blobs.open(digest) as file:
            return file.read()

    return read
