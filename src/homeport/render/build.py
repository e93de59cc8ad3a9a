"""``build_site``: a site's public entries → a folder of static files, incrementally.

Nothing is rendered into place directly: changed files are staged under temporary names and
renamed into place only once every page has rendered, so a failed build (a broken theme, a
full disk) leaves the folder exactly as the previous build left it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from homeport import __version__
from homeport.content.variants import Variant, cached_variants
from homeport.render.model import EntryView, load_site, safe_name
from homeport.render.output import Output, OutputFile, load_files
from homeport.render.pages import Page, Planner
from homeport.render.themes import find_theme, load_theme
from homeport.render.urls import Urls
from homeport.services.context import Context


@dataclass
class BuildResult:
    site: str
    out_dir: Path
    written: list[str]
    """Paths (relative to ``out_dir``) whose bytes were written by this build."""
    removed: list[str]
    unchanged: int
    files: list[OutputFile] = field(default_factory=list)
    """Every file of the site as built, with its SHA-256 and size (for snapshots)."""
    seconds: float = 0.0


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
) -> BuildResult:
    """Build ``site`` into ``out_dir`` (default ``<data>/sites/<site>``) for ``base_url``
    (default: the site's ``base_url`` setting, else the home's ``/preview/<site>/``).
    ``theme`` overrides the site's theme by name or folder. Only pages whose inputs changed
    since the last build into the same folder are rendered, and only changed files written."""
    started = time.perf_counter()
    out = (out_dir or default_out_dir(ctx, site)).resolve()
    model = await load_site(ctx, site)
    urls = Urls.for_base(base_url or str(model.get("base_url") or "") or default_base_url(site))
    chosen = theme or str(model.get("theme") or "journal")
    folder = chosen if isinstance(chosen, Path) else find_theme(
        chosen, ctx.settings.data_dir / "themes")
    media_pages = _media_pages(ctx, model.get("keep_location"))
    planner = Planner(model, load_theme(folder), urls, media_pages)
    output = Output(out, manifest_path(ctx, site, out))
    seen: set[str] = set()
    try:
        for page in planner.pages():
            if page.path in seen:
                continue
            seen.add(page.path)
            fingerprint = _fingerprint(page)
            if not output.fresh(page.path, fingerprint):
                output.put(page.path, fingerprint, page.render())
    except BaseException:
        output.abort()
        raise
    removed = output.finish()
    return BuildResult(site, out, output.written, removed, output.skipped, output.files(),
                       time.perf_counter() - started)


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
            for variant in _variants(ctx, digest, keep):
                found.append(Page(f"media/{digest}/{variant.width}.{variant.ext}",
                                  variant.path.read_bytes, ["media", digest, str(keep)]))
        attachment = entry.attachment
        if attachment is not None:
            digest = str(attachment["hash"])
            name = safe_name(str(attachment["filename"]))
            found.append(Page(f"{entry.path.strip('/')}/{name}", _blob(ctx, digest),
                              ["file", digest]))
        return found

    return pages


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
