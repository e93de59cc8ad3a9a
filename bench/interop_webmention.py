"""Webmention: how many webmentions a provider verifies per second against a local source site.

One ``homeport provider serve`` (``--workers 1`` and ``2``; SQLite; ``fetch_allow_private`` on,
the rate limit off) serving a tenant whose home published one note; a source site on loopback
(``testing.webmention.SourceServer``, threads) with ``--mentions`` distinct reply pages, each
an h-entry with an author h-card and an ``in-reply-to`` link to the note (about 2 KiB of
HTML). All webmentions are posted at once from 8 client threads; the clock runs from the first
post until the provider's database holds the last outcome. Reported: verified per second
(every one must end ``accepted``: fetched, link checked, parsed with mf2py, queued in the
tenant's inbox), the time each took from its row's creation to its outcome (p50, p99), and the
POST's answer time.

    .venv/bin/python bench/interop_webmention.py [--mentions 300] [--workers 1 2]

``run()`` is what ``bench/interop.py`` calls. Every process started here is stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from homeport.provider.db import ProviderDB
from homeport.testing.live import free_port, stop_process
from homeport.testing.webmention import SourceServer

BASE = "example.test"
HOST = f"alice.{BASE}"
NOTE = f"http://{HOST}/notes/hello-world/"
FAST = {"HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_ARGON2_MEMORY_KIB": "1024"}
TIMEOUT = 300.0
FILLER = "<p>" + "A reply with a few sentences of text, as people write them. " * 20 + "</p>"


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    return {**env, **FAST, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw", **extra}


def _cli(data: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "homeport", *args, "--data", str(data)],
                          capture_output=True, timeout=120, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"homeport {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode()


def _provider(data: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env({"HOMEPORT_FETCH_ALLOW_PRIVATE": "true", "HOMEPORT_WEBMENTION_RATE_LIMIT": "0",
                "HOMEPORT_LOG_LEVEL": "warning"})
    data.mkdir(parents=True, exist_ok=True)
    with open(data.parent / f"{data.name}-{workers}.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data),
             "--port", str(port), "--base-domain", BASE, "--workers", str(workers)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/_homeport/v1/", timeout=2)
            return proc, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_process(proc)
                log = (data.parent / f"{data.name}-{workers}.log").read_text()[-2000:]
                raise RuntimeError(f"the provider did not start:\n{log}") from None
            time.sleep(0.05)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_s": round(statistics.median(values), 3),
            "p99_s": round(_percentile(values, 99), 3), "max_s": round(max(values), 3)}


def _outcomes(db: ProviderDB, tag: str) -> list[tuple[str, int, int]]:
    with db.transaction() as conn:
        rows = conn.execute("SELECT state, created, updated FROM webmentions WHERE source LIKE ?",
                            (f"%/{tag}/%",)).fetchall()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def _round(provider: str, source: SourceServer, db: ProviderDB, tag: str,
           mentions: int) -> dict[str, Any]:
    urls = [source.page(f"/{tag}/{n}", (
        '<!doctype html><html><head><title>A reply</title></head><body>'
        '<article class="h-entry"><span class="p-author h-card">'
        f'<img class="u-photo" src="/me.jpg" alt=""><a class="u-url p-name" href="/">Poster {n}'
        f'</a></span><a class="u-in-reply-to" href="{NOTE}">in reply to Alice</a>'
        f'<div class="e-content">Reply number {n}. {FILLER}</div>'
        '<time class="dt-published" datetime="2026-12-04T12:00:00Z">today</time>'
        '</article></body></html>')) for n in range(mentions)]
    answered: list[float] = []
    client = httpx.Client(base_url=provider, headers={"Host": HOST}, timeout=30)

    def post(url: str) -> int:
        began = time.perf_counter()
        answer = client.post("/_homeport/webmention", data={"source": url, "target": NOTE})
        answered.append(time.perf_counter() - began)
        return answer.status_code

    started = time.time()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, urls))
    client.close()
    deadline = time.monotonic() + TIMEOUT
    while True:
        rows = _outcomes(db, tag)
        done = [r for r in rows if r[0] not in ("queued", "verifying")]
        if len(done) >= mentions:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(done)} of {mentions} verified after {TIMEOUT} s")
        time.sleep(0.05)
    last = max(r[2] for r in done) / 1000
    states: dict[str, int] = {}
    for r in done:
        states[r[0]] = states.get(r[0], 0) + 1
    return {
        "mentions": mentions,
        "posted_202": codes.count(202),
        "states": states,
        "verified_per_s": round(mentions / (last - started), 1),
        "seconds": round(last - started, 2),
        "queued_to_outcome": _summary([(r[2] - r[1]) / 1000 for r in done]),
        "post_answer": _summary(answered),
    }


def run(mentions: int = 300, workers: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """The figures as a dict, one entry per ``provider serve --workers`` count."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="homeport-bench-webmention-") as scratch:
        root = Path(scratch)
        env = _env({})
        data, home = root / "provider", root / "home"
        proc, url = _provider(data, workers[0])
        try:
            _cli(home, env, "init", "--json")
            _cli(home, env, "add", "note", "Hello world")
            invite = json.loads(_cli(data, env, "provider", "invite", "--json"))["code"]
            _cli(home, env, "providers", "add", url, invite, "--name", "alice")
            _cli(home, env, "publish", "--json")
        finally:
            stop_process(proc)
        db = ProviderDB(data)
        try:
            with SourceServer() as source:
                for count in workers:
                    proc, url = _provider(data, count)
                    try:
                        results[f"workers_{count}"] = _round(url, source, db, f"w{count}",
                                                             mentions)
                    finally:
                        stop_process(proc)
        finally:
            db.close()
    return {"cpus": os.cpu_count(), **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=300)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(json.dumps(run(args.mentions, tuple(args.workers)), indent=2))


if __name__ == "__main__":
    main()
