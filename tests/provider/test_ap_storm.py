"""One tenant's storm leaves another tenant alone, at a real provider on SQLite and
PostgreSQL: while alice's inbox is flooded past its rate (429) and alice has thousands of
deliveries waiting, carol's inbox takes bob's Follow, and carol's Accept and her next post
reach bob within seconds, ahead of alice's queue, which is still long when they arrive."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport.crypto import httpsig
from homeport.crypto.delegations import sign_delegation
from homeport.interop.activitypub import delivery, inbox
from homeport.sync.auth import origin
from homeport.testing.webhost import Answer, WebHost
from tests.provider.conftest import BASE, SITE_V1, Home, World
from tests.provider.test_activitypub_inbox import Fediverse

INBOX = "/_homeport/activitypub/inbox"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
QUEUED = 3000
"""Deliveries waiting for alice (one activity to as many servers)."""
DEADLINE = 20.0


@pytest.fixture
def storm_world(
    monkeypatch: pytest.MonkeyPatch, engine: str, request: pytest.FixtureRequest
) -> World:
    monkeypatch.setenv("HOMEPORT_FETCH_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("HOMEPORT_ACTIVITYPUB_INBOX_RATE", "20")
    # alice's queue drains at 40 a second: it is still long when carol's deliveries go
    monkeypatch.setenv("HOMEPORT_ACTIVITYPUB_DELIVERY_RATE", "40")
    monkeypatch.setattr(inbox, "KEYS", inbox.remote.Keys())
    found: World = request.getfixturevalue("world")
    return found


def actor_of(name: str) -> str:
    return f"http://{name}.{BASE}/activitypub/actor"


def on_the_fediverse(world: World, name: str, key: rsa.RSAPrivateKey, **files: str) -> Home:
    """``name`` enrolled and published with an actor, its key delegated to the provider."""
    me = actor_of(name)
    actor = {"@context": "https://www.w3.org/ns/activitystreams", "id": me, "type": "Person",
             "preferredUsername": name, "inbox": f"http://{name}.{BASE}{INBOX}",
             "publicKey": {"id": me + "#main-key", "owner": me,
                           "publicKeyPem": httpsig.public_key_pem(key.public_key())}}
    home = world.homes[-1] if files else world.enrolled(name)
    home.write_site({**SITE_V1, "activitypub/actor.as2": json.dumps(actor), **files})
    assert home.publish(world.client, home.snapshot()).status_code == 200
    if files:
        return home
    box = world.client.get("/_homeport/v1/").json()["box_key"]
    pem = key.private_bytes(
        httpsig.serialization.Encoding.PEM, httpsig.serialization.PrivateFormat.PKCS8,
        httpsig.serialization.NoEncryption()).decode()
    now = int(time.time() * 1000)
    doc = sign_delegation(home.key, home.did, origin(str(world.client.base_url)),
                          delivery.SIGN_POWER, delivery.sign_params(box, me + "#main-key", pem),
                          issued=now, expires=now + 86_400_000)
    body = {"issued": now, "delegations": [doc], "revoked": []}
    assert home.request(world.client, "POST", "/delegations", body).status_code == 200
    return home


def waiting(world: World, tenant: str) -> int:
    ports: Any = world.app.server.config.app.state.ports
    return int(ports.deliveries.waiting(tenant))


def test_one_tenants_storm_leaves_another_tenants_inbox_and_deliveries_alone(
    storm_world: World, bob_key: rsa.RSAPrivateKey
) -> None:
    world = storm_world
    alice_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    carol_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    on_the_fediverse(world, "alice", alice_key)
    on_the_fediverse(world, "carol", carol_key)
    ports: Any = world.app.server.config.app.state.ports
    with Fediverse(bob_key) as bob, WebHost() as crowd:
        # alice's followers: QUEUED servers' inboxes, all answering
        paths = [f"/s{n}/inbox" for n in range(QUEUED)]
        for path in paths:
            crowd.routes[path] = lambda hit: Answer(202)
        note = {"id": f"http://alice.{BASE}/notes/n1/", "type": "Note", "content": "hi",
                "to": [PUBLIC]}
        assert delivery.queue(ports, "alice", [crowd.url + p for p in paths],
                              delivery.create(actor_of("alice"), note)) == QUEUED
        # alice's inbox flooded: its minute is taken, the rest is refused
        flood = {"Host": f"alice.{BASE}", "Content-Type": "application/activity+json"}
        answers = [world.client.post(INBOX, content=b'{"type": "Like"}', headers=flood
                                     ).status_code for _ in range(30)]
        assert answers.count(429) >= 10 and set(answers) == {401, 429}

        # meanwhile carol: bob follows her, through her inbox
        started = time.monotonic()
        follow = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Follow",
                  "id": bob.bob + "#follows/carol", "actor": bob.bob, "object": actor_of("carol")}
        raw = json.dumps(follow).encode()
        signed = httpsig.sign(bob_key, bob.bob + "#main-key", "POST",
                              f"http://carol.{BASE}{INBOX}", raw, time.time())
        answer = world.client.post(INBOX, content=raw, headers=signed)
        assert answer.status_code == 202, answer.text
        # her Accept reaches bob, then her next post (published now) does too
        accepted = wait_for(bob, "/users/bob/inbox")
        assert json.loads(accepted.body)["type"] == "Accept"
        post = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Note",
                "id": f"http://carol.{BASE}/notes/c1/", "content": "<p>carol's</p>",
                "attributedTo": actor_of("carol"), "to": [PUBLIC], "published":
                "2026-12-04T15:00:00Z"}
        on_the_fediverse(world, "carol", carol_key,
                         **{"notes/c1/index.as2": json.dumps(post)})
        created = wait_for(bob, "/inbox")
        took = time.monotonic() - started
        parsed = httpsig.parse(created.headers)
        httpsig.verify(parsed, carol_key.public_key(), "POST", bob.url + "/inbox",
                       created.headers, created.body, time.time())
        assert json.loads(created.body)["object"]["id"] == post["id"]
        # alice's queue went at its own pace meanwhile: it moved, and most of it still waits
        left = waiting(world, "alice")
        assert crowd.hits and left > QUEUED // 2, (len(crowd.hits), left, took)


def wait_for(host: WebHost, path: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = host.received(path)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"nothing reached {path} in {DEADLINE} s")


@pytest.fixture(scope="module")
def bob_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
