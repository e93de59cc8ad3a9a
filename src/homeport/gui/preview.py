"""``/preview/``: the built site served from its output directory as a provider serves it.

A directory answers with its ``index.html`` (``/a`` redirects to ``/a/`` first), a missing path
with the site's own ``404.html`` and status 404, and files with their content type, ``ETag``
and byte ranges (Starlette's ``FileResponse``), so video and large downloads seek. Only the
logged-in owner sees the preview; drafts never reach the built site anyway.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from homeport.content import sites
from homeport.gui import site
from homeport.gui.pages import PREFIX, local_client, remote_allowed
from homeport.gui.sessions import COOKIE, store_of
from homeport.services.context import Context

ROOT = "/preview/"
TYPES = {
    ".html": "text/html",
    ".xml": "application/xml",
    ".atom": "application/atom+xml",
    ".rss": "application/rss+xml",
    ".json": "application/json",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
    ".js": "text/javascript",
    ".css": "text/css",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".bib": "application/x-bibtex",
    ".webmanifest": "application/manifest+json",
}
NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>No preview yet</title>"
    "<p>There is no preview of your site yet. Publish an entry, or press "
    "<a href='/admin/'>Update the preview</a> on the dashboard.</p>"
)


PREVIEW_CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self' "
    "'unsafe-inline'; script-src 'none'; object-src 'none'; base-uri 'self'; form-action 'none'; "
    "frame-ancestors 'self'"
)
"""The built site is the owner's content on the GUI's own origin, and the themes carry no
script: none may run there (a sanitiser slip in a title or an uploaded SVG opened directly stays
inert). Inline styles stay for the ``text-align`` that Markdown tables keep."""


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def locate(root: Path, path: str, base: str) -> tuple[Path | None, str | None]:
    """The file to serve for ``path`` under ``root``, or a redirect target below ``base``;
    (None, None) when nothing is there. Never leaves ``root``."""
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") or "\x00" in p or "\\" in p for p in parts):
        return None, None
    target = root.joinpath(*parts)
    try:
        target = target.resolve()
    except (OSError, RuntimeError):
        return None, None
    if not target.is_relative_to(root.resolve()):
        return None, None
    if target.is_dir():
        if parts and not path.endswith("/"):
            return None, base + quote("/".join(parts)) + "/"
        target = target / "index.html"
    return (target, None) if target.is_file() else (None, None)


def _logged_in(request: Request, ctx: Context) -> bool:
    session, _ = store_of(ctx).get(request.cookies.get(COOKIE), ctx.clock())
    return session is not None and session.user is not None


async def to_root(request: Request) -> Response:
    return RedirectResponse(ROOT, status_code=307)


async def to_site(request: Request) -> Response:
    """``/preview/`` shows the GUI's site."""
    response = await _to_site(request)
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


async def _to_site(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    name = await site.current(ctx)
    if name is None:
        return HTMLResponse(NOT_BUILT, 404)
    return RedirectResponse(f"{ROOT}{name}/", status_code=307)


async def serve(request: Request) -> Response:
    response = await _serve(request)
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


async def _serve(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    if not remote_allowed(ctx) and not local_client(request):
        return HTMLResponse("The preview answers only on this computer.", 403)
    if not _logged_in(request, ctx):
        target = quote(ROOT + request.path_params["path"])
        return RedirectResponse(f"{PREFIX}/login?next={target}", status_code=303)
    name, _, rest = request.path_params["path"].partition("/")
    if name not in await sites.list_sites(ctx):
        return HTMLResponse("<!doctype html><title>No such site</title><h1>No such site</h1>", 404)
    if not rest and not request.url.path.endswith("/"):
        return RedirectResponse(f"{ROOT}{quote(name)}/", status_code=301)
    root = site.output_dir(ctx, name)
    if not (root / "index.html").is_file():
        return HTMLResponse(NOT_BUILT, 404)
    found, redirect = locate(root, rest, f"{ROOT}{quote(name)}/")
    if redirect:
        return RedirectResponse(redirect, status_code=301)
    if found is None:
        missing = root / "404.html"
        if missing.is_file():
            return HTMLResponse(missing.read_bytes(), 404)
        return HTMLResponse("<!doctype html><title>Not found</title><h1>Not found</h1>", 404)
    return FileResponse(found, media_type=content_type(found))
