"""ActivityPub at the provider: one post fanned out to many followers, and incoming activities
verified per second.

Fan-out: a provider's delivery machinery as it runs in ``provider serve --workers N`` (the
follower list and the queue in its SQLite database, shared by ``--workers`` processes that each
run ``interop/activitypub/delivery.py``'s ``Deliverer`` at the default per-worker rate, signing
each request with the site's RSA 2048 key opened from its ``activitypub-sign`` delegation,
sending through ``web/outbound.py``'s SSRF-checked ``Session``) with ``--followers`` followers on
``--inboxes`` servers (one shared inbox each, so one request per server). The servers are a
sink in another process that listens on ``--hosts`` loopback addresses (127.0.0.2, …) and
checks every request's signature (draft-cavage, the digest, the date) before it answers 202.
The clock runs from the publish's ``Create`` being queued to the sink's last verified request.

Verification: ``--verify`` signed activities checked the way the inbox does (parse the
signature, check it with the actor's key: draft-cavage ``rsa-sha256`` with ``Digest``, and
RFC 9421 through ``http-message-signatures``), in one process, no network.

    .venv/bin/python bench/fediverse.py [--followers 10000] [--inboxes 1000] [--hosts 20]
        [--workers 2] [--postgres]

Every process started here is stopped on exit; everything listens on loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport.crypto import httpsig
from homeport.interop import ports
from homeport.interop.activitypub import delivery
from homeport.provider.db import ProviderDB
from homeport.provider.deliveries import ProviderDeliveries
from homeport.provider.followers import ProviderFollowers
from homeport.provider.onetime import ProviderOnce
from homeport.settings import Settings
from homeport.testing.fake_ports import FakeInbox, FakeSites
from homeport.testing.live import free_port

ACTOR = "https://alice.example.test/activitypub/actor"
KEY_ID = ACTOR + "#main-key"


# --- the sink: many servers' shared inboxes, checking signatures ----------------------------
def sink(hosts: list[str], port: int, public_pem: str, expected: int, out: Any,
         ready: Any) -> None:
    """Answer POSTs on every ``host:port`` with 202 after checking the signature; report the
    time of the ``expected``-th verified one (or of the last, when told to stop)."""
    key = httpsig.load_public_key(public_pem)
    state = {"ok": 0, "bad": 0, "last": 0.0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = []
                length = 0
                for line in lines[1:]:
                    if not line:
                        continue
                    name, _, value = line.partition(":")
                    headers.append((name, value.strip()))
                    if name.lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                host = next(v for n, v in headers if n.lower() == "host")
                try:
                    parsed = httpsig.parse(headers)
                    httpsig.verify(parsed, key, method, f"http://{host}{target}", headers, body,
                                   time.time())
                    state["ok"] += 1
                    state["last"] = time.monotonic()
                    status = b"202 Accepted"
                except httpsig.SignatureError:
                    state["bad"] += 1
                    status = b"401 Unauthorized"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
                if state["ok"] + state["bad"] >= expected and stop is not None:
                    stop.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        # connections still open when the sink stops are cut: nothing to report about them
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
        servers = [await asyncio.start_server(handle, host, port) for host in hosts]
        ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 900)
        for server in servers:
            server.close()
        out.send((state["ok"], state["bad"], state["last"], time.process_time()))

    asyncio.run(main())


# --- the provider's side ---------------------------------------------------------------------
def provider_ports(data: Path, pem: str, database: str = "") -> ports.ProviderPorts:
    """What one worker process of ``provider serve`` hands its deliverer: the ports over the
    shared database, the site's key behind its ``activitypub-sign`` delegation."""
    db = ProviderDB(data, database)
    once = ProviderOnce(db, data, lambda: int(time.time() * 1000))
    box = delivery.box_public(once.secret(delivery.BOX_PURPOSE))
    params = delivery.sign_params(box, KEY_ID, pem)

    class Grants:
        def token(self, tenant: str, token: str) -> None:
            return None

        def delegation(self, tenant: str, power: str) -> ports.Delegation | None:
            return ports.Delegation("d1", tenant, power, params, 2**52)

    return ports.ProviderPorts(
        inbox=FakeInbox(), grants=Grants(), sites=FakeSites(),  # type: ignore[arg-type]
        clock=lambda: int(time.time() * 1000), fetch_allow_private=True, once=once,
        followers=ProviderFollowers(db), deliveries=ProviderDeliveries(db, 1_000_000),
    )


def add_followers(found: ports.ProviderPorts, fan: int, inboxes: list[str]) -> None:
    per = max(1, fan // len(inboxes))
    followers = []
    for n in range(fan):
        inbox = inboxes[n // per % len(inboxes)]
        actor = inbox.rsplit("/", 1)[0] + f"/users/u{n}"
        followers.append(ports.Follower("alice", actor, actor + "/inbox", inbox,
                                        ports.ACCEPTED, actor + "#follow", n))
    assert found.followers is not None
    found.followers.add_missing("alice", followers)


def worker(data: Path, pem: str, rate: int, ready: Any, stop: Any, out: Any,
           database: str = "") -> None:
    """One worker process's deliverer (``provider serve --workers N`` runs one in each),
    polling the shared queue as it does when another worker queued the activity."""

    async def main() -> None:
        found = provider_ports(data, pem, database)
        deliverer = delivery.Deliverer(found, rate)
        deliverer.start()
        ready.set()
        cpu = time.process_time()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await deliverer.stop()
        out.send((deliverer.sent, time.process_time() - cpu))

    asyncio.run(main())


def run_fan_out(followers: int, inboxes: int, hosts: int, workers: int,
                database: str = "") -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    addresses = [f"127.0.0.{2 + n}" for n in range(hosts)]
    port = free_port()
    urls = [f"http://{addresses[n % hosts]}:{port}/s{n}/inbox" for n in range(inboxes)]
    rate = Settings.activitypub_delivery_rate  # the default: at most this a second per worker
    parent, child = multiprocessing.Pipe()
    ready = multiprocessing.Event()
    proc = multiprocessing.Process(
        target=sink,
        args=(addresses, port, httpsig.public_key_pem(key.public_key()), inboxes, child, ready),
        daemon=True,
    )
    procs = [proc]
    proc.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the sink did not start")
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            found = provider_ports(data, pem, database)
            add_followers(found, followers, urls)
            stop = multiprocessing.Event()
            pipes = []
            for _ in range(workers):
                started, (mine, theirs) = multiprocessing.Event(), multiprocessing.Pipe()
                procs.append(multiprocessing.Process(
                    target=worker, args=(data, pem, rate, started, stop, theirs, database),
                    daemon=True))
                procs[-1].start()
                if not started.wait(60):
                    raise RuntimeError("a worker did not start")
                pipes.append(mine)
            note = {"id": "https://alice.example.test/notes/n1/", "type": "Note",
                    "attributedTo": ACTOR, "content": "<p>" + "hello fediverse " * 20 + "</p>",
                    "to": [delivery.PUBLIC], "cc": [ACTOR + "/followers"],
                    "published": "2026-12-04T15:00:00Z"}
            started_at = time.monotonic()
            queued = delivery.to_followers(found, "alice", [delivery.create(ACTOR, note)])
            assert queued == inboxes, queued
            if not parent.poll(900):
                raise RuntimeError("the sink did not report")
            ok, bad, last, sink_cpu = parent.recv()
            stop.set()
            sent, cpu = 0, 0.0
            for mine in pipes:
                if not mine.poll(60):
                    raise RuntimeError("a worker did not report")
                done, used = mine.recv()
                sent, cpu = sent + done, cpu + used
        # the sink's monotonic clock is the same clock (one machine)
        took = last - started_at
    finally:
        for found_proc in procs:
            found_proc.join(5)
            if found_proc.is_alive():
                found_proc.terminate()
                found_proc.join(5)
    per = (cpu + sink_cpu) / max(ok, 1)
    return {"queue": "postgresql" if database else "sqlite",
            "followers": followers, "inboxes": inboxes, "hosts": hosts, "workers": workers,
            "rate_per_worker": rate, "verified": ok, "refused": bad, "seconds": round(took, 3),
            "deliveries_per_second": round(ok / took, 1),
            "provider_cpu_ms_per_delivery": round(cpu / max(ok, 1) * 1000, 2),
            "sink_cpu_ms_per_delivery": round(sink_cpu / max(ok, 1) * 1000, 2),
            "two_idle_cores_per_second": round(2 / per) if per else 0,
            "load_average": os.getloadavg()[0]}


# --- incoming activities verified per second -------------------------------------------------
def run_verify(count: int) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    url = "https://alice.example.test/_homeport/activitypub/inbox"
    body = json.dumps({"type": "Like", "actor": "https://social.example/users/bob",
                       "object": "https://alice.example.test/notes/n1/",
                       "id": "https://social.example/users/bob#likes/1"}).encode()
    found: dict[str, Any] = {}
    for name, sign in (("draft-cavage", httpsig.sign), ("rfc9421", httpsig.sign_rfc9421)):
        signed = [sign(key, "https://social.example/users/bob#main-key", "POST", url, body,
                       time.time()) for _ in range(min(count, 50))]
        started = time.perf_counter()
        for n in range(count):
            headers = signed[n % len(signed)]
            parsed = httpsig.parse(headers)
            httpsig.verify(parsed, key.public_key(), "POST", url, headers, body, time.time())
        found[name] = round(count / (time.perf_counter() - started))
    return {"verified_per_second": found, "count": count}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--inboxes", type=int, default=1_000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2,
                        help="deliverer processes over the shared queue (one per core)")
    parser.add_argument("--postgres", action="store_true",
                        help="the queue in a throwaway PostgreSQL cluster instead of SQLite")
    parser.add_argument("--verify", type=int, default=5_000)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if args.postgres:
        from homeport.testing.postgres import TempPostgres

        with TempPostgres() as pg:
            fan = run_fan_out(args.followers, args.inboxes, args.hosts, args.workers,
                              pg.create_database("fediverse"))
    else:
        fan = run_fan_out(args.followers, args.inboxes, args.hosts, args.workers)
    print(f"fan-out ({fan['queue']} queue): {fan['followers']} followers on "
          f"{fan['inboxes']} shared inboxes "
          f"({fan['hosts']} loopback hosts), {fan['workers']} worker processes at most "
          f"{fan['rate_per_worker']}/s each: {fan['verified']} verified deliveries "
          f"({fan['refused']} refused) in {fan['seconds']} s = "
          f"{fan['deliveries_per_second']} deliveries/s (target >= 500) at a load average of "
          f"{fan['load_average']:.1f}")
    print(f"  CPU per delivery: provider {fan['provider_cpu_ms_per_delivery']} ms, sink "
          f"{fan['sink_cpu_ms_per_delivery']} ms: two idle cores would do about "
          f"{fan['two_idle_cores_per_second']} deliveries/s")
    checked = run_verify(args.verify)
    for name, rate in checked["verified_per_second"].items():
        print(f"incoming {name}: {rate} signatures verified per second")
    print(json.dumps({"fan_out": fan, "verify": checked}))
    return 0 if fan["refused"] == 0 and fan["verified"] == fan["inboxes"] else 1


if __name__ == "__main__":
    sys.exit(main())
