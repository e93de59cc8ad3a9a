"""A provider's webmention endpoint on loopback: the interop routes over the provider's real
queue (SQLite or PostgreSQL) with in-memory inbox and sites ports (the fixtures that use it
are in conftest.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from homeport.interop.ports import ProviderPorts, TenantRef
from homeport.interop.webmention import Limits, provider_routes
from homeport.provider.db import ProviderDB
from homeport.provider.mentions import ProviderMentions
from homeport.provider.receive import now_ms
from homeport.testing.webmention import MemoryInbox, StaticSites, ThreadedApp

ALICE = "alice.test"
BOB = "bob.test"
LIMITS = Limits(size=64 * 1024, timeout=1.0, total=2.0, redirects=3, sweep=0.2)
ENDPOINT = "/_homeport/webmention"


def sites() -> StaticSites:
    return StaticSites(
        hosts={ALICE: TenantRef("alice", "did:key:alice", f"http://{ALICE}"),
               BOB: TenantRef("bob", "did:key:bob", f"http://{BOB}")},
        live={"alice": {"/", "/notes/hello/", "/articles/long-read/"}, "bob": {"/", "/x/"}},
    )


@dataclass
class Receiver:
    """One provider process's webmention endpoint."""

    app: ThreadedApp
    inbox: MemoryInbox
    mentions: ProviderMentions
    db: ProviderDB
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, host: str = ALICE) -> httpx.Client:
        if host not in self.clients:
            self.clients[host] = httpx.Client(base_url=self.app.url, headers={"Host": host},
                                              timeout=10)
        return self.clients[host]

    def send(self, source: str, target: str, host: str = ALICE) -> httpx.Response:
        return self.client(host).post(ENDPOINT, data={"source": source, "target": target})

    def status(self, job_id: str, host: str = ALICE) -> httpx.Response:
        return self.client(host).get(f"{ENDPOINT}/status/{job_id}")

    def settle(self, job_id: str, host: str = ALICE, seconds: float = 15) -> dict[str, Any]:
        """The job's status once verification is over (bounded wait)."""
        deadline = time.monotonic() + seconds
        while True:
            body: dict[str, Any] = self.status(job_id, host).json()
            if body["status"] not in ("queued", "verifying"):
                return body
            assert time.monotonic() < deadline, f"still {body['status']} after {seconds} s"
            time.sleep(0.05)

    def rows(self) -> int:
        with self.db.transaction() as conn:
            return int(conn.execute("SELECT count(*) FROM webmentions").fetchone()[0])

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def make_receiver(db: ProviderDB, inbox: MemoryInbox, *, allow_private: bool = True,
                  per_minute: int = 1000, limits: Limits = LIMITS) -> tuple[Receiver, ThreadedApp]:
    mentions = ProviderMentions(db, per_minute)
    app = Starlette(routes=[Mount("/_homeport", routes=provider_routes(limits))])
    app.state.ports = ProviderPorts(inbox=inbox, grants=None,  # type: ignore[arg-type]
                                    sites=sites(), clock=now_ms,
                                    fetch_allow_private=allow_private, mentions=mentions)
    live = ThreadedApp(app)
    return Receiver(live, inbox, mentions, db), live
