"""What the site's ActivityPub documents cost a provider's build.

Builds one seeded site (``--notes`` notes and ``--articles`` articles with tags, SQLite store)
three ways, each into a fresh folder: the preview build (no AS2), a provider's build (every page
plus the actor, outbox pages, collections, WebFinger's JRD and one AS2 object per entry), and
after one note is edited, the provider's build again (incremental: the note's page, its object,
the outbox page that lists it, the feeds). Prints wall times, file counts and the ratio.

    .venv/bin/python bench/activitypub_build.py                 # 2,000 notes, 200 articles
    .venv/bin/python bench/activitypub_build.py --notes 200 --articles 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from homeport.content import sites
from homeport.render.build import build_site
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store

BASE = "https://bench.example/"
WORDS = " ".join([
    "engine loom card weave pattern number table river stone light garden paper letter",
    "music winter harbour signal bridge lantern orbit meadow copper window thread",
]).split()


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


async def run(work: Path, notes: int, articles: int, seed: int) -> None:
    rng = random.Random(seed)
    url = f"sqlite:///{work / 'home.db'}"
    store = open_record_store(url)
    await store.initialize()
    ctx = Context(Settings(data_dir=work / "data", storage_url=url), store,
                  FsBlobStore(work / "blobs"))
    await sites.create_site(ctx, "bench", "Bench", "journal")
    first = None
    for n in range(notes):
        made = await sites.add_entry(ctx, "bench", "note", {
            "text": text(rng, 40), "tags": [rng.choice(WORDS)],
            "published": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"})
        first = first or made
    for _ in range(articles):
        body = "\n\n".join(text(rng, 120) for _ in range(6))
        await sites.add_entry(ctx, "bench", "article", {"title": text(rng, 4), "body": body,
                                                        "tags": [rng.choice(WORDS)]})

    async def timed(label: str, out: str, live: bool) -> float:
        started = time.perf_counter()
        result = await build_site(ctx, "bench", work / out, BASE, live=live)
        seconds = time.perf_counter() - started
        as2 = sum(1 for w in result.written if w.endswith(".as2"))
        print(f"{label:<34} {seconds:7.2f} s  {len(result.written):6d} files written "
              f"({as2} AS2)", flush=True)
        return seconds

    preview = await timed("preview build (no AS2)", "preview", False)
    provider = await timed("provider build (pages + AS2)", "provider", True)
    assert first is not None
    await sites.update_entry(ctx, "bench", "note", first.id, {"text": "Edited."})
    edit = await timed("one note edited, provider build", "provider", True)
    print(f"provider/preview: {provider / preview:.2f}x; an edit: {edit * 1000:.0f} ms")
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=2000)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="homeport-bench-ap-") as work:
        asyncio.run(run(Path(work), args.notes, args.articles, args.seed))


if __name__ == "__main__":
    main()
