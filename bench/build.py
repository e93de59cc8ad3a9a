"""Site build benchmark: Homeport against Pelican, the same Markdown, in one run.

Generates a seeded corpus (``--articles`` Markdown articles with tags, ``--images`` JPEG photos
that every tenth article shows), imports it into a Homeport data dir (SQLite, the default) and
writes it as a Pelican content folder, then measures, each in its own process:

1. Homeport full build (``homeport build``) and Pelican full build (``pelican --ignore-cache``):
   wall time and peak RSS (``wait4``), and the ratio;
2. one article edited, then ``homeport build`` again: the one-entry rebuild, wall time of the
   whole command (start-up included) and the builder's own time;
3. ``homeport build`` with nothing changed.

Image variants are made when photos are added (as the GUI and ``homeport add photo`` do), so
the import time is reported on its own and not counted in the build. Pelican is pip-installed
into a cached venv (``bench/.cache/pelican-venv``, or ``--pelican-venv``).

    .venv/bin/python bench/build.py                # 10,000 articles, 1,000 images
    .venv/bin/python bench/build.py --articles 500 --images 50   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from homeport.content import media, sites
from homeport.content.media import Upload
from homeport.services.context import Context
from homeport.settings import Settings, load_settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore
from homeport.store.open import open_record_store

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PELICAN = "pelican[markdown]==4.12.0"
BASE_URL = "https://bench.example/"
WORDS = " ".join([
    "engine loom card weave pattern number table river stone light garden paper letter music",
    "winter harbour signal bridge lantern orbit meadow copper window thread figure salt cloud",
    "atlas quiet morning field compass ember glass harvest island journey kettle ladder maple",
    "needle ocean pepper quarry ribbon saddle timber umbrella valley willow yarrow zephyr",
]).split()
TAGS = [f"topic-{n:02d}" for n in range(50)]


@dataclass
class Article:
    slug: str
    title: str
    date: str
    tags: list[str]
    summary: str
    body: str
    image: int | None


def sentence(rng: random.Random, lo: int = 6, hi: int = 16) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    if rng.random() < 0.3:
        i = rng.randrange(len(words))
        words[i] = f"*{words[i]}*"
    if rng.random() < 0.2:
        i = rng.randrange(len(words))
        words[i] = f"[{words[i]}](https://example.org/{words[i].strip('*')})"
    return " ".join(words).capitalize() + "."


def body(rng: random.Random) -> str:
    parts = []
    for n in range(rng.randint(4, 8)):
        if n and rng.random() < 0.25:
            parts.append(f"## {sentence(rng, 2, 4)[:-1]}")
        if rng.random() < 0.15:
            parts.append("\n".join(f"- {sentence(rng, 3, 7)}" for _ in range(rng.randint(2, 5))))
        elif rng.random() < 0.08:
            parts.append("```\n" + "\n".join(sentence(rng, 3, 6) for _ in range(3)) + "\n```")
        else:
            parts.append(" ".join(sentence(rng) for _ in range(rng.randint(2, 6))))
    return "\n\n".join(parts)


def corpus(seed: int, articles: int, images: int) -> list[Article]:
    rng = random.Random(seed)
    found = []
    for i in range(articles):
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))).title()
        day = time.gmtime(1_500_000_000 + i * 7919 * 10)
        image = (i // 10) % images if images and i % 10 == 0 else None
        found.append(Article(
            slug=f"article-{i:05d}", title=title, date=time.strftime("%Y-%m-%dT%H:%M:%SZ", day),
            tags=sorted(rng.sample(TAGS, rng.randint(1, 4))), summary=sentence(rng),
            body=body(rng), image=image))
    return found


def make_image(seed: int, index: int) -> bytes:
    rng = random.Random(seed * 100_003 + index)
    image = Image.new("RGB", (1600, 1067), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        box = sorted(rng.randrange(1600) for _ in range(2)), sorted(rng.randrange(1067)
                                                                    for _ in range(2))
        draw.rectangle((box[0][0], box[1][0], box[0][1], box[1][1]),
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


# --- Homeport ----------------------------------------------------------------------------
def _store_photo(job: tuple[str, int, int]) -> dict[str, Any]:
    """Worker: keep one photo and make its variants (what an upload does)."""
    data_dir, seed, index = job
    data = Path(data_dir)
    ctx = Context(Settings(data_dir=data), MemoryRecordStore(), FsBlobStore(data / "blobs"))
    return media.store_image(ctx, Upload(f"photo-{index:04d}.jpg", make_image(seed, index),
                                         alt=f"Photo {index}"))


async def import_homeport(data: Path, articles: list[Article], images: int, seed: int,
                          workers: int) -> None:
    settings = load_settings(data)
    data.mkdir(parents=True, exist_ok=True)
    store = open_record_store(settings.record_store_url)
    await store.initialize()
    ctx = Context(settings, store, FsBlobStore(settings.blobs_dir))
    try:
        await sites.create_site(ctx, "bench", "Bench", "journal", settings={"author": "Bench"})
        with ProcessPoolExecutor(workers) as pool:
            refs = list(pool.map(_store_photo, [(str(data), seed, i) for i in range(images)],
                                 chunksize=8))
        for index, ref in enumerate(refs):
            await sites.add_entry(ctx, "bench", "photo", {
                "image": ref, "alt": f"Photo {index}", "slug": f"photo-{index:04d}",
                "published": "2017-01-01T00:00:00Z"})
        for article in articles:
            text = article.body
            if article.image is not None:
                ref = refs[article.image]
                text = f"![Photo {article.image}](/media/{ref['hash']}/960.jpg)\n\n{text}"
            await sites.add_entry(ctx, "bench", "article", {
                "title": article.title, "body": text, "tags": article.tags,
                "summary": article.summary, "slug": article.slug, "published": article.date})
    finally:
        await store.close()


async def _edit(ctx: Context, slug: str, note: str) -> None:
    parent = "/buckets/bench/collections/articles"
    for entry in await ctx.store.list_all("record", parent):
        if entry["slug"] == slug:
            await sites.update_entry(ctx, "bench", "article", entry["id"],
                                     {"body": entry["body"] + f"\n\n{note}"})
            return
    raise SystemExit(f"no article {slug}")


async def edit_one(data: Path, slug: str, note: str) -> None:
    settings = load_settings(data)
    store = open_record_store(settings.record_store_url)
    await store.initialize()
    try:
        await _edit(Context(settings, store, FsBlobStore(settings.blobs_dir)), slug, note)
    finally:
        await store.close()


async def warm_rebuild(data: Path, out: Path, slug: str) -> None:
    """What the home does: a process that has built the site before (its records and plan
    cached) is told of one edit and rebuilds. Prints the figures as JSON."""
    from homeport.render.build import build_site

    settings = load_settings(data)
    store = open_record_store(settings.record_store_url)
    await store.initialize()
    ctx = Context(settings, store, FsBlobStore(settings.blobs_dir))
    try:
        first = await build_site(ctx, "bench", out, BASE_URL)
        await _edit(ctx, slug, "A second edit, rebuilt by a warm process.")
        started = time.perf_counter()
        result = await build_site(ctx, "bench", out, BASE_URL)
        seconds = time.perf_counter() - started
    finally:
        await store.close()
    print(json.dumps({"warm_up_seconds": round(first.seconds, 3), "seconds": round(seconds, 3),
                      "written": result.written}))


# --- Pelican -----------------------------------------------------------------------------
PELICAN_CONF = """\
AUTHOR = "Bench"
SITENAME = "Bench"
SITEURL = "https://bench.example"
PATH = "content"
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
DEFAULT_PAGINATION = 20
STATIC_PATHS = ["images"]
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
TAG_FEED_ATOM = "feeds/{slug}.atom.xml"
TAG_FEED_RSS = "feeds/{slug}.rss.xml"
CATEGORY_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
LOAD_CONTENT_CACHE = False
"""


def write_pelican(root: Path, articles: list[Article], images: int, seed: int) -> None:
    content = root / "content"
    (content / "images").mkdir(parents=True)
    for index in range(images):
        (content / "images" / f"photo-{index:04d}.jpg").write_bytes(make_image(seed, index))
    for article in articles:
        text = article.body
        if article.image is not None:
            image = f"{{static}}/images/photo-{article.image:04d}.jpg"
            text = f"![Photo {article.image}]({image})\n\n{text}"
        date = article.date.replace("T", " ").removesuffix("Z")
        (content / f"{article.slug}.md").write_text(
            f"Title: {article.title}\nDate: {date}\nTags: {', '.join(article.tags)}\n"
            f"Slug: {article.slug}\nSummary: {article.summary}\n\n{text}\n")
    (root / "pelicanconf.py").write_text(PELICAN_CONF)


def ensure_pelican(venv: Path) -> str:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pelican = venv / "bin" / "pelican"
    wanted = PELICAN.split("==")[1]

    def version() -> str | None:
        """None on a fresh machine (the venv has no pelican yet), not a crash."""
        if not pelican.exists():
            return None
        probe = subprocess.run([str(pelican), "--version"], capture_output=True, text=True)
        return probe.stdout.strip() if probe.returncode == 0 else None

    if version() != wanted:
        subprocess.run([str(python), "-m", "pip", "install", "-q", PELICAN], check=True)
    found = version()
    if found is None:
        raise SystemExit(f"bench/build.py: {PELICAN} did not install into {venv}")
    return found


# --- measuring ---------------------------------------------------------------------------
@dataclass
class Run:
    seconds: float
    peak_mib: float
    output: str


def measure(command: list[str], cwd: Path) -> Run:
    """Wall time and peak RSS of one child process (``wait4`` reports the child's own)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    output = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({child.returncode}):\n{output[-3000:]}")
    return Run(seconds, usage.ru_maxrss / 1024, output.strip())


def files_in(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes making image variants during the import")
    parser.add_argument("--pelican-venv", type=Path, default=BENCH / ".cache" / "pelican-venv")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: reuse a corpus imported by an earlier run")
    parser.add_argument("--warm-rebuild", nargs=3, metavar=("DATA", "OUT", "SLUG"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_rebuild:
        data, out, slug = args.warm_rebuild
        asyncio.run(warm_rebuild(Path(data), Path(out), slug))
        return

    pelican_version = ensure_pelican(args.pelican_venv.resolve())
    work = args.keep or Path(tempfile.mkdtemp(prefix="homeport-bench-build-"))
    work.mkdir(parents=True, exist_ok=True)
    homeport = [str(ROOT / ".venv" / "bin" / "homeport"), "--data", str(work / "home")]
    try:
        articles = corpus(args.seed, args.articles, args.images)
        imported = 0.0
        if args.reuse and (work / "home").is_dir() and (work / "pelican").is_dir():
            print(f"corpus: reusing {work} (same seed and sizes assumed)", flush=True)
        else:
            started = time.perf_counter()
            asyncio.run(import_homeport(work / "home", articles, args.images, args.seed,
                                        args.workers))
            imported = time.perf_counter() - started
            write_pelican(work / "pelican", articles, args.images, args.seed)
            print(f"corpus: {args.articles} articles, {args.images} images; Homeport import "
                  f"(records + image variants, {args.workers} workers) {imported:.1f} s",
                  flush=True)
        for old in ("site", "pelican-out"):
            shutil.rmtree(work / old, ignore_errors=True)
        shutil.rmtree(work / "home" / "cache" / "build", ignore_errors=True)

        build = [*homeport, "build", "--site", "bench", "--out", str(work / "site"),
                 "--base-url", BASE_URL]
        ours = measure(build, work)
        print(f"homeport full build: {ours.seconds:.2f} s, {ours.peak_mib:.0f} MiB "
              f"({files_in(work / 'site')} files) — {ours.output}", flush=True)
        pelican_cmd = [str(args.pelican_venv.resolve() / "bin" / "pelican"), "content", "-o",
                       str(work / "pelican-out"), "-s", "pelicanconf.py", "--ignore-cache",
                       "-q"]
        theirs = measure(pelican_cmd, work / "pelican")
        print(f"pelican {pelican_version} full build: {theirs.seconds:.2f} s, "
              f"{theirs.peak_mib:.0f} MiB ({files_in(work / 'pelican-out')} files)", flush=True)

        slug = articles[len(articles) // 2].slug
        asyncio.run(edit_one(work / "home", slug, "An edit, benchmarked."))
        rebuild = measure(build, work)
        print(f"homeport build (new process) after editing {slug}: {rebuild.seconds:.2f} s "
              f"wall, start-up included, {rebuild.peak_mib:.0f} MiB — {rebuild.output}")
        noop = measure(build, work)
        print(f"homeport build (new process) with nothing changed: {noop.seconds:.2f} s — "
              f"{noop.output}")
        warm_run = measure([sys.executable, __file__, "--warm-rebuild", str(work / "home"),
                            str(work / "site"), slug], work)
        warm = json.loads(warm_run.output.splitlines()[-1])
        print(f"homeport rebuild in a warm process (as the home's GUI does) after editing "
              f"{slug}: {warm['seconds']:.3f} s, {len(warm['written'])} files written "
              f"({', '.join(warm['written'])}); process peak {warm_run.peak_mib:.0f} MiB")

        figures = {
            "articles": args.articles, "images": args.images, "seed": args.seed,
            "import_seconds": round(imported, 2),
            "homeport": {"seconds": round(ours.seconds, 2), "peak_mib": round(ours.peak_mib)},
            "pelican": {"version": pelican_version, "seconds": round(theirs.seconds, 2),
                        "peak_mib": round(theirs.peak_mib)},
            "speedup": round(theirs.seconds / ours.seconds, 2),
            "memory_ratio": round(ours.peak_mib / theirs.peak_mib, 2),
            "rebuild_one_entry_new_process": {"seconds": round(rebuild.seconds, 3),
                                              "report": rebuild.output},
            "rebuild_nothing_changed_new_process": {"seconds": round(noop.seconds, 3)},
            "rebuild_one_entry_warm_process": {**warm, "peak_mib": round(warm_run.peak_mib)},
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "platform": platform.platform()},
        }
        print()
        print("| | Homeport | Pelican " + pelican_version + " | ratio |")
        print("| --- | --- | --- | --- |")
        print(f"| full build | {ours.seconds:.1f} s | {theirs.seconds:.1f} s | "
              f"{figures['speedup']}x faster |")
        print(f"| peak memory | {ours.peak_mib:.0f} MiB | {theirs.peak_mib:.0f} MiB | "
              f"{figures['memory_ratio']}x |")
        print(f"| one-entry rebuild, warm process (the home) | {warm['seconds']:.2f} s | | |")
        print(f"| one-entry rebuild, `homeport build` (new process) | {rebuild.seconds:.2f} s "
              "| | |")
        print(f"| `homeport build`, nothing changed | {noop.seconds:.2f} s | | |")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
