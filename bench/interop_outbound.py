"""Outbound: webmentions sent after a publish, and WebSub content distribution.

**Sending.** A home (memory store, one site) with ``--mentions`` public notes, each linking one
page of a loopback site (``testing.webhost.WebHost``); half the pages name their endpoint in a
``Link`` header, half in a ``<link>`` (with a decoy comment before it); the endpoint answers
202. The clock runs from the after-publish call (``interop.sending.after_publish``) until the
last webmention is recorded as sent by the running sender (``run_sender``, 4 at a time):
reported are webmentions sent per second and the time from the publish to each one's arrival
at the receiver (p50, p99).

**WebSub.** A provider database (SQLite) holding ``--subscribers`` verified subscriptions to
one feed, each with its own secret, callbacks on one loopback host; ``websub.notify`` hands a
20 KiB Atom feed to all of them (one POST each, signed with HMAC-SHA256). Reported: deliveries
per second and the time until the last subscriber had its copy.

    .venv/bin/python bench/interop_outbound.py [--mentions 200] [--subscribers 200]

``run()`` is what ``bench/interop.py`` calls. Everything runs on 127.0.0.1 and is stopped and
removed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from homeport.content import sites
from homeport.interop import sending, websub
from homeport.interop.ports import ProviderPorts, Subscription
from homeport.provider.db import ProviderDB
from homeport.provider.websub import ProviderSubscriptions
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore
from homeport.sync import providers
from homeport.testing.webhost import Answer, Hit, WebHost

TIMEOUT = 300.0


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _sending(data: Path, host: WebHost, count: int) -> dict[str, Any]:
    arrived: dict[str, float] = {}

    def endpoint(hit: Hit) -> Answer:
        arrived[hit.form["target"]] = time.monotonic()
        return Answer(202)

    host.routes["/wm"] = endpoint
    for n in range(count):
        path = f"/page/{n}"
        if n % 2:
            host.page(path, "<p>a page</p>", headers=[("Link", '</wm>; rel="webmention"')])
        else:
            host.page(path, '<!-- <link rel="webmention" href="/nope"> -->'
                            '<link rel="webmention" href="/wm"><p>a page</p>')
    settings = Settings(data_dir=data, fetch_allow_private=True)
    data.mkdir(parents=True, exist_ok=True)
    providers.save(data, [{"url": "https://prov.example", "site": "https://alice.example.net/"}])
    ctx = Context(settings, MemoryRecordStore(), FsBlobStore(data / "blobs"))
    await sites.create_site(ctx, "blog", "Alice", "journal")
    for n in range(count):
        await sites.add_entry(ctx, "blog", "note", {"text": f"See [this]({host.url}/page/{n})."})
    task = asyncio.create_task(sending.run_sender(ctx))
    try:
        await asyncio.sleep(0.5)  # the sender is up, as in a running home
        started = time.monotonic()
        await asyncio.to_thread(
            sending.after_publish, SimpleNamespace(settings=settings, head="bench"))
        while len(arrived) < count:
            if time.monotonic() - started > TIMEOUT:
                raise TimeoutError(f"only {len(arrived)} of {count} webmentions arrived")
            await asyncio.sleep(0.02)
        took = max(arrived.values()) - started
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    latencies = [t - started for t in arrived.values()]
    return {
        "webmentions": count,
        "sent per second": round(count / took, 1),
        "publish → received p50 (s)": round(_quantile(latencies, 0.5), 2),
        "publish → received p99 (s)": round(_quantile(latencies, 0.99), 2),
    }


async def _websub(data: Path, host: WebHost, count: int) -> dict[str, Any]:
    got: dict[str, float] = {}

    def callback(hit: Hit) -> Answer:
        got[hit.path] = time.monotonic()
        return Answer(204)

    for n in range(count):
        host.routes[f"/cb/{n}"] = callback
    db = ProviderDB(data / "provider", "")
    try:
        store = ProviderSubscriptions(db)
        now = int(time.time() * 1000)
        for n in range(count):
            sub = Subscription("alice", "https://alice.example.net/feed.atom", "/feed.atom",
                               f"{host.url}/cb/{n}", f"secret-{n}", now + 3_600_000)
            store.save(sub, count + 1, now)
        ports = ProviderPorts(inbox=None, grants=None, sites=None,  # type: ignore[arg-type]
                              clock=lambda: int(time.time() * 1000),
                              fetch_allow_private=True, subscriptions=store)
        body = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">' + (
            b"<entry><title>x</title><content>" + b"y" * 1000 + b"</content></entry>") * 20
        body += b"</feed>"
        started = time.monotonic()
        await websub.notify(ports, "alice", {"/feed.atom": (body, "application/atom+xml")})
        while len(got) < count:
            if time.monotonic() - started > TIMEOUT:
                raise TimeoutError(f"only {len(got)} of {count} subscribers were notified")
            await asyncio.sleep(0.02)
        took = max(got.values()) - started
    finally:
        db.close()
    return {
        "subscribers": count,
        "feed bytes": len(body),
        "deliveries per second": round(count / took, 1),
        "publish → last subscriber (s)": round(took, 2),
    }


def run(mentions: int = 200, subscribers: int = 200) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-outbound-") as tmp, WebHost() as host:
        figures = asyncio.run(_sending(Path(tmp) / "home", host, mentions))
        figures.update(asyncio.run(_websub(Path(tmp), host, subscribers)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(args.mentions, args.subscribers), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
