"""The default theme beside its peers: Homeport's *journal*, Ghost's Casper and micro.blog's
default theme, each given the same entries (two articles with a picture, one without, a short
note), rendered by its own software on loopback and opened in Chromium.

For each home page: a screenshot at 1280x900 and at 390x844 (a phone), and, over an emulated
slow 4G link (150 ms, 1.6 Mbit/s down), the first contentful paint, the resources Chromium says
blocked rendering (``renderBlockingStatus``), requests and bytes transferred. ``--runs`` each;
the median is printed, with the ratios to Homeport.

    .venv/bin/python bench/themes.py [--microblog DIR] [--ghost DIR] [--shots docs/screenshots]

``--microblog``: a checkout of github.com/microdotblog/theme-default, built with Hugo (Debian's
``hugo``). ``--ghost``: an unpacked ``ghost`` npm package (``npm pack ghost@5.99.1``) with
its dependencies installed (``yarn install --production`` inside it, Node 20); Ghost runs with
SQLite and its bundled Casper (switched to: Ghost 5's default is now Source), set up and filled
through its Admin API. ``--linked`` adds Homeport with its stylesheet linked (as before it was
inline). A peer left out is skipped. Every process started here is stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from homeport.testing.browser import chromium
from homeport.testing.live import free_port, stop_process

TITLE = "Field notes"
AUTHOR = "Ada Lovelace"
DESCRIPTION = "Walks, looms and small machines."
LOREM = ("The morning fog sat low over the canal, and the boats moved through it like slow "
         "thoughts. I walked the long way round, past the old mill, counting herons. ")


@dataclass(frozen=True)
class Post:
    slug: str
    title: str | None
    body: str
    date: str
    picture: tuple[str, str] | None  # (colour pair name, alt)


POSTS = [
    Post("slow-mornings", "A week of slow mornings", LOREM * 4, "2024-03-04T08:00:00Z",
         ("dawn", "Fog over a canal at dawn")),
    Post("notes-on-the-loom", "Notes on the loom", LOREM * 3, "2024-03-03T08:00:00Z",
         ("loom", "Punched cards stacked beside a loom")),
    Post("leaving-the-platform", "Why I moved my writing home", LOREM * 5,
         "2024-03-02T08:00:00Z", None),
    Post("tea", None, "Tea on the balcony, first sun in weeks.", "2024-03-01T08:00:00Z", None),
]
COLOURS = {"dawn": ((244, 196, 140), (60, 86, 120)), "loom": ((120, 60, 40), (230, 220, 200))}


def picture(name: str) -> bytes:
    """A 2400x1600 JPEG with a gradient and shapes: compresses like a photograph would not,
    but far closer than a flat colour."""
    top, bottom = COLOURS[name]
    image = Image.new("RGB", (2400, 1600))
    draw = ImageDraw.Draw(image)
    for y in range(1600):
        t = y / 1599
        draw.line([(0, y), (2400, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom,
                                                                                    strict=True)))
    for n in range(40):
        x, y = (n * 977) % 2400, (n * 613) % 1600
        draw.ellipse([x, y, x + 80 + n * 7, y + 60 + n * 5], outline=(255, 255, 255), width=6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


# --- serving a folder ----------------------------------------------------------------------
@contextlib.contextmanager
def served(folder: Path, port: int) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


# --- Homeport ------------------------------------------------------------------------------
async def _homeport_build(work: Path, base: str, inline: bool = True) -> Path:
    from homeport.content import sites
    from homeport.content.media import Upload
    from homeport.render.build import build_site
    from homeport.services.context import Context
    from homeport.settings import Settings
    from homeport.store.blobs_fs import FsBlobStore
    from homeport.store.memory import MemoryRecordStore

    ctx = Context(Settings(data_dir=work), MemoryRecordStore(), FsBlobStore(work / "blobs"))
    await sites.create_site(ctx, "field", TITLE, "journal",
                            settings={"author": AUTHOR, "description": DESCRIPTION})
    for post in POSTS:
        if post.title is None:
            await sites.add_entry(ctx, "field", "note", {"text": post.body,
                                                         "published": post.date})
            continue
        files = {}
        if post.picture:
            files = {"images": [Upload(f"{post.slug}.jpg", picture(post.picture[0]),
                                       alt=post.picture[1])]}
        await sites.add_entry(ctx, "field", "article", {
            "title": post.title, "body": post.body, "slug": post.slug,
            "published": post.date}, files)
    from homeport.render import themes

    themes._loaded.clear()  # a theme keeps its inline CSS: forget it between the two builds
    themes.INLINE_CSS_MAX = 24 * 1024 if inline else 0
    out = work / "out"
    await build_site(ctx, "field", out, base)
    return out


@contextlib.contextmanager
def homeport(work: Path, inline: bool = True) -> Iterator[str]:
    port = free_port()
    folder = work / ("homeport" if inline else "homeport-linked")
    build = _homeport_build(folder, f"http://127.0.0.1:{port}/", inline)
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's loop
        out = pool.submit(asyncio.run, build).result()
    with served(out, port) as url:
        yield url


# --- micro.blog's default theme, built by Hugo ---------------------------------------------
@contextlib.contextmanager
def microblog(work: Path, theme: Path) -> Iterator[str]:
    site = work / "microblog"
    shutil.copytree(theme, site / "themes" / "default", ignore=shutil.ignore_patterns(".git"))
    (site / "layouts" / "partials").mkdir(parents=True)
    for part in ("microblog_head.html", "custom_footer.html"):  # the platform supplies these
        (site / "layouts" / "partials" / part).write_text("")
    (site / "static" / "uploads").mkdir(parents=True)
    posts = site / "content" / "2024"  # micro.blog keeps posts by date, typed "post"
    posts.mkdir(parents=True)
    for post in POSTS:
        body = post.body
        if post.picture:
            name = f"{post.slug}.jpg"
            (site / "static" / "uploads" / name).write_bytes(picture(post.picture[0]))
            body = (f'<img src="/uploads/{name}" alt="{post.picture[1]}" width="600" '
                    f'height="400">\n\n{body}')
        head = {"date": post.date, "type": "post", **({"title": post.title} if post.title
                                                       else {})}
        (posts / f"{post.slug}.md").write_text(f"{json.dumps(head)}\n\n{body}\n")
    port = free_port()
    config = {"baseURL": f"http://127.0.0.1:{port}/", "title": TITLE, "theme": "default",
              "params": {"description": DESCRIPTION}, "author": {"name": AUTHOR},
              "disableKinds": ["taxonomy", "term"],
              "markup": {"goldmark": {"renderer": {"unsafe": True}}}}  # as micro.blog posts
    (site / "config.json").write_text(json.dumps(config))
    subprocess.run(["hugo", "--quiet", "-s", str(site), "-d", str(site / "public")], check=True,
                   timeout=120)
    with served(site / "public", port) as url:
        yield url


# --- Ghost with its bundled Casper ---------------------------------------------------------
@contextlib.contextmanager
def ghost(work: Path, package: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    content = work / "ghost-content"
    shutil.copytree(package / "content", content)
    env = {
        **os.environ, "NODE_ENV": "development", "url": url, "server__host": "127.0.0.1",
        "server__port": str(port), "database__client": "sqlite3",
        "database__connection__filename": str(content / "data" / "ghost.db"),
        "database__useNullAsDefault": "true", "paths__contentPath": str(content),
        "logging__level": "error", "logging__transports": '["stdout"]',
        "privacy__useUpdateCheck": "false", "mail__transport": "stub",
        # sharp's libvips is downloaded from GitHub at install, which this machine cannot
        # reach: without it Ghost keeps pictures as uploaded (and serves them for every size)
        "imageOptimization__resize": "false",
    }
    log = (work / "ghost.log").open("wb")
    proc = subprocess.Popen(["node", "index.js"], cwd=package, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        _wait(url + "ghost/api/admin/site/", proc, work / "ghost.log", 300)
        _fill_ghost(url)
        yield url
    finally:
        stop_process(proc)
        log.close()


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the peer stopped:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the peer did not answer within {seconds:.0f} s")


def _fill_ghost(url: str) -> None:
    """The owner set up, then the same posts through the Admin API (a session, as its own
    admin app does), each picture uploaded first and used as the feature image."""
    api = url + "ghost/api/admin/"
    headers = {"Origin": url.rstrip("/"), "Accept-Version": "v5.0"}
    email, password = "ada@example.org", "correct horse battery staple 1"
    with httpx.Client(headers=headers, timeout=60) as client:
        client.post(api + "authentication/setup/", json={"setup": [{
            "name": AUTHOR, "email": email, "password": password, "blogTitle": TITLE}]})
        client.post(api + "session/", json={"username": email, "password": password})
        client.put(api + "settings/", json={"settings": [
            {"key": "description", "value": DESCRIPTION},
            # the defaults point at static.ghost.org, which a loopback run cannot reach
            {"key": "logo", "value": ""}, {"key": "cover_image", "value": ""}]})
        active = client.put(api + "themes/casper/activate/")  # Ghost 5.x's default is Source
        if active.status_code != 200:
            raise RuntimeError(f"Ghost did not switch to Casper: {active.text[:500]}")
        existing = client.get(api + "posts/?limit=all&fields=id,updated_at").json()["posts"]
        for old in existing:  # the welcome posts a new Ghost makes
            client.delete(api + f"posts/{old['id']}/")
        for post in reversed(POSTS):
            feature = None
            if post.picture:
                files = {"file": (f"{post.slug}.jpg", picture(post.picture[0]), "image/jpeg")}
                done = client.post(api + "images/upload/", files=files,
                                   data={"purpose": "image"})
                if done.status_code != 201:
                    raise RuntimeError(f"Ghost refused the picture: {done.text[:500]}")
                feature = done.json()["images"][0]["url"]
            html = "".join(f"<p>{line}</p>" for line in post.body.split(". ") if line)
            body = {"title": post.title or post.body[:40], "slug": post.slug, "html": html,
                    "status": "published", "published_at": post.date,
                    "feature_image": feature,
                    "feature_image_alt": post.picture[1] if post.picture else None}
            made = client.post(api + "posts/?source=html", json={"posts": [body]})
            if made.status_code != 201:
                raise RuntimeError(f"Ghost refused the post: {made.text[:500]}")


# --- measuring -----------------------------------------------------------------------------
MEASURE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  return {
    fcp: paint ? paint.startTime : null,
    blocking: resources.filter(r => r.renderBlockingStatus === "blocking").map(r => r.name),
    requests: resources.length + 1,
    bytes: resources.reduce((n, r) => n + r.transferSize, nav.transferSize),
  };
}"""
SLOW_4G = {"offline": False, "latency": 150, "downloadThroughput": 1.6e6 / 8,
           "uploadThroughput": 750e3 / 8}


def measure(browser: object, url: str, runs: int) -> dict[str, object]:
    found = []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Network.emulateNetworkConditions", SLOW_4G)
        page.goto(url, wait_until="networkidle", timeout=120_000)  # lazy pictures too
        found.append(page.evaluate(MEASURE))
        context.close()
    return {
        "fcp": statistics.median(r["fcp"] for r in found if r["fcp"] is not None),
        "blocking": found[-1]["blocking"],
        "requests": statistics.median(r["requests"] for r in found),
        "bytes": statistics.median(r["bytes"] for r in found),
    }


def screenshots(browser: object, url: str, name: str, shots: Path) -> None:
    for label, size in (("", {"width": 1280, "height": 900}),
                        ("-phone", {"width": 390, "height": 844})):
        context = browser.new_context(viewport=size, color_scheme="light")  # type: ignore[attr-defined]
        page = context.new_page()
        page.goto(url, wait_until="networkidle", timeout=120_000)
        page.screenshot(path=str(shots / f"theme-{name}{label}.png"))
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--microblog", type=Path, help="micro.blog's theme-default checkout")
    parser.add_argument("--ghost", type=Path, help="an unpacked ghost package, installed")
    parser.add_argument("--shots", type=Path, help="where to write the screenshots")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--linked", action="store_true",
                        help="also Homeport with its stylesheet linked, as before it was inline")
    args = parser.parse_args()
    peers: list[tuple[str, object]] = [("homeport", homeport)]
    if args.linked:
        peers.append(("linked", functools.partial(homeport, inline=False)))
    if args.ghost:
        peers.append(("casper", functools.partial(ghost, package=args.ghost)))
    if args.microblog:
        peers.append(("microblog", functools.partial(microblog, theme=args.microblog)))
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="homeport-themes-") as tmp, chromium() as browser:
        for name, start in peers:
            with start(Path(tmp)) as url:  # type: ignore[operator]
                results[name] = measure(browser, url, args.runs)
                if args.shots and name != "linked":
                    args.shots.mkdir(parents=True, exist_ok=True)
                    screenshots(browser, url, name, args.shots)
    ours = results["homeport"]
    print(f"{'theme':<10} {'FCP ms':>8} {'x':>6} {'blocking':>9} {'requests':>9} {'KiB':>8}")
    for name, r in results.items():
        ratio = float(r["fcp"]) / float(ours["fcp"])  # type: ignore[arg-type]
        print(f"{name:<10} {r['fcp']:>8.0f} {ratio:>6.2f} {len(r['blocking']):>9} "  # type: ignore[arg-type]
              f"{r['requests']:>9.0f} {float(r['bytes']) / 1024:>8.0f}")  # type: ignore[arg-type]
        for item in r["blocking"]:  # type: ignore[attr-defined]
            print(f"    blocking: {item}")
    print(f"(load average {os.getloadavg()[0]:.1f}; Chromium {sys.platform}; slow 4G emulated)")


if __name__ == "__main__":
    main()
