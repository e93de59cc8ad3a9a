"""Issue F's "Done when", between real processes on loopback: a home (``homeport serve`` only
while needed), two ``homeport provider serve`` on the base domain ``example.test`` and an
independent ActivityPub server (Fedify, ``fedify_support.FedifyPeer``) whose every check
(HTTP Signatures, Digest, key ownership) is Fedify's own.

The site is ``https://name.example.test`` and its actor ``name@name.example.test``. The peer
reaches that host through a route (as DNS and a TLS proxy would: ``Host`` kept,
``X-Forwarded-Proto: https``) to the first provider, later to the second.

1. The peer finds the actor through WebFinger and follows it; the provider accepts (signed with
   the site's key) and the home learns of the follower.
2. With ``serve`` stopped, a note written and published from the command line reaches the
   peer as a ``Create`` embedding the note: the provider delivers, not the home. The note
   names ``@carol@…`` of a second Fedify server that follows nobody: the home resolves the
   handle by WebFinger before the snapshot, the object carries her ``Mention`` and has her in
   ``cc``, and her server receives the ``Create`` too.
3. The peer replies to the note and likes it; once the home is up again they wait as pending
   responses; approved, both show under the note at the provider.
4. The site moves to a second provider on the same address: added, published to (the home
   hands it the follower list), DNS pointed at it, the first one left; the next note reaches
   the same peer, signed by the second with the same key, without it following again.
5. The peer unfollows; the provider and the home forget it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import mf2py
import pytest

from homeport.content import followers as records
from homeport.services.context import Context, run_blocking
from homeport.settings import Settings, load_settings
from homeport.sync.client import ProviderClient
from homeport.sync.providers import credentials
from homeport.testing.live import LiveHome, free_port, start_home

from .fedify_support import FedifyPeer
from .provider_support import BASE, Provider
from .repo_support import cli_env, init, ok

NAME = "name"
HOST = f"{NAME}.{BASE}"
ACCOUNT = f"{NAME}@{HOST}"
ACTOR = f"https://{HOST}/activitypub/actor"
WITHIN = 60.0
"""A delivery, a relay: the provider retries a failed delivery after a minute at the soonest,
so anything longer than that would be a retry."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "sqlite":
        return []
    server = request.getfixturevalue("_postgres_server")
    tag = uuid.uuid4().hex[:10]
    return [server.create_database(f"fedi_{who}_{tag}") for who in ("p1", "p2", "home")]


@pytest.fixture
def providers(tmp_path: Path, databases: list[str]) -> Iterator[list[Provider]]:
    started: list[Provider] = []
    try:
        for n in (1, 2):
            database = ("--database", databases[n - 1]) if databases else ()
            started.append(Provider(
                tmp_path / f"provider{n}", tmp_path / f"provider{n}.log",
                env={"HOMEPORT_FETCH_ALLOW_PRIVATE": "true"},
                args=("--workers", "1", *database),
            ).start())
        yield started
    finally:
        for provider in started:
            provider.stop()


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[FedifyPeer]:
    started = FedifyPeer(tmp_path / "peer.log", name="bob").start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def carol(tmp_path: Path) -> Iterator[FedifyPeer]:
    """Someone on another server the site mentions; she follows nobody here."""
    started = FedifyPeer(tmp_path / "carol.log", name="carol").start()
    try:
        yield started
    finally:
        started.stop()


def wait_for(what: str, check: Callable[[], Any], seconds: float = WITHIN,
             step: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(step)


def site(provider: Provider, path: str, accept: str = "text/html") -> httpx.Response:
    return httpx.get(provider.url + path, timeout=10, follow_redirects=False,
                     headers={"Host": HOST, "X-Forwarded-Proto": "https", "Accept": accept})


def home_followers(settings: Settings) -> list[str]:
    """The actors the home keeps as the site's followers."""

    async def read(ctx: Context) -> list[str]:
        return [str(r["actor"]) for site in await records.sites(ctx)
                for r in await records.list_followers(ctx, site)]

    return run_blocking(settings, read) or []


def provider_followers(provider: Provider, home: Path) -> dict[str, Any]:
    with httpx.Client(timeout=30) as http:
        return ProviderClient(provider.url, credentials(home), http).followers()


def creates(peer: FedifyPeer, text: str) -> Callable[[list[dict[str, Any]]], Any]:
    """The peer's check for a ``Create`` from the site embedding a note with ``text``."""

    def check(got: list[dict[str, Any]]) -> Any:
        return [a for a in got if a["type"] == "Create" and a["actor"] == ACTOR
                and text in json.dumps(a["json"].get("object"))]

    return check


@pytest.mark.timeout(600)
def test_followed_from_the_fediverse_across_a_move(
    tmp_path: Path, providers: list[Provider], databases: list[str], peer: FedifyPeer,
    carol: FedifyPeer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = providers
    home = tmp_path / "home"
    env = cli_env()
    env["HOMEPORT_FETCH_ALLOW_PRIVATE"] = "true"  # carol's WebFinger is on loopback
    if databases:
        env["HOMEPORT_STORAGE_URL"] = databases[2]
        monkeypatch.setenv("HOMEPORT_STORAGE_URL", databases[2])
    init(home, env)
    settings = load_settings(home)
    ok("add", "note", "Hello, fediverse", data=home, env=env)
    code = first.invite(*(("--database", databases[0]) if databases else ()))
    ok("providers", "add", first.url, code, "--name", NAME, data=home, env=env)
    ok("publish", data=home, env=env)
    peer.route(HOST, f"127.0.0.1:{first.port}")
    carol.route(HOST, f"127.0.0.1:{first.port}")  # she checks the site's signature too
    port = free_port()
    running: LiveHome | None = start_home(home, env, port, tmp_path / "home.log")
    try:
        # 1. WebFinger, Follow, Accept signed with the site's key, the home learns of it
        followed = peer.follow(ACCOUNT)
        assert followed["actor"] == ACTOR
        peer.wait_for("the Accept", lambda got: [a for a in got if a["type"] == "Accept"
                                                 and a["actor"] == ACTOR], WITHIN)
        assert provider_followers(first, home) == {"followers": 1, "pending": 0}
        wait_for("the follower at home", lambda: peer.actor in home_followers(settings))

        # 2. the home off: a note published from the command line is delivered by the provider
        assert running is not None
        running.stop()
        running = None
        handle = f"@carol@127.0.0.1:{carol.port}"
        ok("add", "note", f"Posted while the home sleeps, hello {handle}", data=home, env=env)
        ok("publish", data=home, env=env)
        (create,) = peer.wait_for("the Create", creates(peer, "Posted while the home sleeps"),
                                  WITHIN)
        note = create["json"]["object"]
        entry = note["id"] if isinstance(note, dict) else note
        assert entry.startswith(f"https://{HOST}/")
        # the typed handle is a mention: delivered to carol, who follows nobody here
        (mentioned,) = carol.wait_for("the mention", creates(carol, "Posted while the home"),
                                      WITHIN)
        obj = mentioned["json"]["object"]
        tags = obj["tag"] if isinstance(obj["tag"], list) else [obj["tag"]]
        assert {"type": "Mention", "href": carol.actor, "name": handle} in tags
        assert carol.actor in json.dumps(obj["cc"])
        assert f'href="{carol.actor}" class="u-url mention"' in str(obj["content"])

        # 3. a reply and a like, pending at home until approved, then under the note
        peer.reply(entry, "<p>Welcome to the <b>fediverse</b>!<script>alert(1)</script></p>")
        peer.like(entry)
        running = start_home(home, env, port, tmp_path / "home.log")
        pending = wait_for("the reply and the like at home", lambda: [
            m for m in json.loads(ok("mentions", "list", "--status", "pending", "--json",
                                     data=home, env=env))
            if (m["author"] or {}).get("url") == peer.actor or peer.actor in json.dumps(m)
        ] if len(json.loads(ok("mentions", "list", "--status", "pending", "--json",
                               data=home, env=env))) >= 2 else None)
        for mention in pending:
            ok("mentions", "approve", mention["id"], data=home, env=env)
        path = "/" + entry.split("/", 3)[3]
        page = wait_for("the reply and the like under the note", lambda: (
            answer := site(first, path)).status_code == 200
            and "Welcome to the" in answer.text and "u-like" in answer.text and answer.text)
        assert "<script>" not in page and "alert(1)" not in page  # cleaned before it shows
        (shown,) = [i for i in mf2py.parse(doc=page, url=entry)["items"]
                    if "h-entry" in i["type"]]
        comments = json.dumps(shown["properties"].get("comment"))
        assert "Welcome to the" in comments and "fediverse" in comments
        assert peer.actor in json.dumps(shown["properties"].get("like"))

        # 4. the site moves to the second provider on the same address
        code = second.invite(*(("--database", databases[1]) if databases else ()))
        ok("providers", "add", second.url, code, "--name", NAME, data=home, env=env)
        ok("publish", data=home, env=env)
        assert provider_followers(second, home) == {"followers": 1, "pending": 0}
        peer.route(HOST, f"127.0.0.1:{second.port}")  # DNS now points at the second
        ok("providers", "remove", first.url, data=home, env=env)  # leaving the first
        first.stop()
        # the next publish makes the second the one that signs (a private edit: nothing to
        # deliver yet); a post published before that would wait for the key at the provider
        ok("add", "note", "Moved", "--private", data=home, env=env)
        ok("publish", data=home, env=env)
        ok("add", "note", "Posted from the new provider", data=home, env=env)
        ok("publish", data=home, env=env)
        peer.wait_for("the Create from the second provider",
                      creates(peer, "Posted from the new provider"), WITHIN)
        assert [a for a in peer.received("Follow")] == []  # nobody followed again
        assert list(peer.state()["following"]) == [ACTOR]

        # 5. the peer unfollows: the provider and the home forget it
        assert peer.unfollow(ACTOR) is True
        wait_for("the follower gone at the provider",
                 lambda: provider_followers(second, home)["followers"] == 0)
        wait_for("the follower gone at home", lambda: peer.actor not in home_followers(settings))
    finally:
        if running is not None:
            running.stop()
