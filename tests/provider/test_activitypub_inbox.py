"""ActivityPub at a real provider, on SQLite and PostgreSQL: the inbox takes only what is
signed by the key its actor lists (draft-cavage as Mastodon sends and RFC 9421), keeps
followers, answers a Follow with a signed Accept, tells the followers what a publish changed
(Create, Update, Delete with the full object, one request per shared inbox), and refuses bad
input with 4xx storing nothing. The other servers are a loopback web host with real RSA keys,
so ``fetch_allow_private`` is on except where the guard itself is tested."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport.crypto import httpsig
from homeport.crypto.delegations import sign_delegation
from homeport.interop.activitypub import delivery, inbox
from homeport.sync.auth import origin
from homeport.testing.webhost import Answer, Hit, WebHost
from tests.provider.conftest import BASE, SITE_V1, Home, World

HOST = f"alice.{BASE}"
ORIGIN = f"http://{HOST}"
ACTOR = f"{ORIGIN}/activitypub/actor"
INBOX = "/_homeport/activitypub/inbox"
DEADLINE = 20.0
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture(scope="module")
def site_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def bob_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Fediverse(WebHost):
    """Another server: bob's actor (and any added), a shared inbox, personal inboxes."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        super().__init__()
        self.key = key
        self.routes["/inbox"] = self.routes["/users/bob/inbox"] = lambda hit: Answer(202)
        self.routes["/users/bob"] = self._actor

    def _actor(self, hit: Hit) -> Answer:
        return Answer(200, json.dumps(self.actor_doc()).encode(), [], "application/activity+json")

    def actor_doc(self, name: str = "bob", key: rsa.RSAPrivateKey | None = None,
                  **more: Any) -> dict[str, Any]:
        me = f"{self.url}/users/{name}"
        pem = httpsig.public_key_pem((key or self.key).public_key())
        return {"@context": "https://www.w3.org/ns/activitystreams", "id": me,
                "type": "Person", "inbox": me + "/inbox",
                "endpoints": {"sharedInbox": self.url + "/inbox"},
                "publicKey": {"id": me + "#main-key", "owner": me, "publicKeyPem": pem}, **more}

    @property
    def bob(self) -> str:
        return f"{self.url}/users/bob"


def actor_file(site_key: rsa.RSAPrivateKey, manual: bool = False) -> str:
    return json.dumps({
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": ACTOR, "type": "Person", "preferredUsername": "alice", "inbox": ORIGIN + INBOX,
        "manuallyApprovesFollowers": manual,
        "publicKey": {"id": ACTOR + "#main-key", "owner": ACTOR,
                      "publicKeyPem": httpsig.public_key_pem(site_key.public_key())},
    })


def note(slug: str, text: str) -> str:
    return json.dumps({"@context": "https://www.w3.org/ns/activitystreams",
                       "id": f"{ORIGIN}/notes/{slug}/", "type": "Note", "content": text,
                       "attributedTo": ACTOR, "to": [PUBLIC], "cc": [ACTOR + "/followers"],
                       "published": "2026-12-04T15:00:00Z"})


@pytest.fixture
def fedi(bob_key: rsa.RSAPrivateKey) -> Iterator[Fediverse]:
    with Fediverse(bob_key) as host:
        yield host


@pytest.fixture
def ap_world(
    monkeypatch: pytest.MonkeyPatch, engine: str, request: pytest.FixtureRequest
) -> World:
    monkeypatch.setenv("HOMEPORT_FETCH_ALLOW_PRIVATE", "true")
    monkeypatch.setattr(inbox, "RATE", inbox.MemoryRates())
    monkeypatch.setattr(inbox, "KEYS", inbox.remote.Keys())
    found: World = request.getfixturevalue("world")
    return found


def publish(world: World, home: Home, site_key: rsa.RSAPrivateKey, manual: bool = False,
            **files: str) -> None:
    home.write_site({**SITE_V1, "activitypub/actor.as2": actor_file(site_key, manual), **files})
    assert home.publish(world.client, home.snapshot()).status_code == 200


def delegate(world: World, home: Home, site_key: rsa.RSAPrivateKey) -> None:
    """What the home does for the provider that delivers: the key, sealed to its box key."""
    box = world.client.get("/_homeport/v1/").json()["box_key"]
    pem = site_key.private_bytes(
        httpsig.serialization.Encoding.PEM, httpsig.serialization.PrivateFormat.PKCS8,
        httpsig.serialization.NoEncryption()).decode()
    now = int(time.time() * 1000)
    doc = sign_delegation(home.key, home.did, origin(str(world.client.base_url)),
                          delivery.SIGN_POWER, delivery.sign_params(box, ACTOR + "#main-key", pem),
                          issued=now, expires=now + 86_400_000)
    body = {"issued": now, "delegations": [doc], "revoked": []}
    assert home.request(world.client, "POST", "/delegations", body).status_code == 200


def post(world: World, activity: dict[str, Any], key: rsa.RSAPrivateKey, key_id: str,
         *, rfc9421: bool = False, body: bytes | None = None, path: str = INBOX,
         later: float = 0, **extra: str) -> Any:
    raw = json.dumps(activity).encode() if body is None else body
    sign = httpsig.sign_rfc9421 if rfc9421 else httpsig.sign
    headers = sign(key, key_id, "POST", ORIGIN + path, raw, time.time() + later)
    return world.client.post(path, content=raw, headers={**headers, **extra})


def items(world: World) -> list[tuple[str, dict[str, Any]]]:
    with world.db.reading() as conn:
        rows = conn.execute("SELECT kind, meta FROM inbox WHERE tenant = 'alice' ORDER BY seq"
                            ).fetchall()
    return [(str(kind), json.loads(meta)) for kind, meta in rows]


def followers(world: World) -> Any:
    return world.app.server.config.app.state.ports.followers


def wait_for(host: WebHost, path: str, count: int) -> list[Hit]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = host.received(path)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{path} got {len(host.received(path))} deliveries, not {count}")


def signed_by_site(hit: Hit, fedi: Fediverse, site_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The delivery's signature checked as a receiving server would; its activity."""
    parsed = httpsig.parse(hit.headers)
    assert parsed.key_id == ACTOR + "#main-key"
    assert {"(request-target)", "host", "date", "digest"} <= set(parsed.covered)
    httpsig.verify(parsed, site_key.public_key(), "POST", fedi.url + hit.path, hit.headers,
                   hit.body, time.time())
    found: dict[str, Any] = json.loads(hit.body)
    return found


def test_follow_accept_and_what_a_publish_tells_followers(
    ap_world: World, fedi: Fediverse, site_key: rsa.RSAPrivateKey, bob_key: rsa.RSAPrivateKey
) -> None:
    world = ap_world
    home = world.enrolled("alice")
    publish(world, home, site_key)
    delegate(world, home, site_key)
    follow = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Follow",
              "id": fedi.bob + "#follows/1", "actor": fedi.bob, "object": ACTOR}
    answer = post(world, follow, bob_key, fedi.bob + "#main-key")
    assert answer.status_code == 202, answer.text
    kept = followers(world).get("alice", fedi.bob)
    assert kept is not None and kept.state == "accepted"
    assert kept.shared_inbox == fedi.url + "/inbox"
    assert items(world) == [("activitypub.follow", {
        "type": "Follow", "actor": fedi.bob, "id": follow["id"], "object": ACTOR,
        "state": "accepted", "inbox": fedi.bob + "/inbox", "shared_inbox": fedi.url + "/inbox"})]
    (hit,) = wait_for(fedi, "/users/bob/inbox", 1)
    accept = signed_by_site(hit, fedi, site_key)
    assert accept["type"] == "Accept" and accept["actor"] == ACTOR
    assert accept["object"]["id"] == follow["id"]
    # the same Follow again, signed a second later (not a replay): one item still
    assert post(world, follow, bob_key, fedi.bob + "#main-key", later=1).status_code == 202
    assert len(items(world)) == 1

    # a publish with a new note: a Create to the shared inbox, the object embedded
    publish(world, home, site_key, **{"notes/n1/index.as2": note("n1", "<p>first</p>")})
    (hit,) = wait_for(fedi, "/inbox", 1)
    created = signed_by_site(hit, fedi, site_key)
    assert created["type"] == "Create" and created["actor"] == ACTOR
    assert created["object"]["id"] == f"{ORIGIN}/notes/n1/"
    assert created["object"]["content"] == "<p>first</p>"
    assert created["to"] == [PUBLIC]
    # an edit: an Update; then the note gone: a Delete of its page's URL
    publish(world, home, site_key, **{"notes/n1/index.as2": note("n1", "<p>edited</p>")})
    updated = signed_by_site(wait_for(fedi, "/inbox", 2)[1], fedi, site_key)
    assert updated["type"] == "Update" and updated["object"]["content"] == "<p>edited</p>"
    publish(world, home, site_key)
    deleted = signed_by_site(wait_for(fedi, "/inbox", 3)[2], fedi, site_key)
    assert deleted["type"] == "Delete"
    assert deleted["object"] == {"id": f"{ORIGIN}/notes/n1/", "type": "Tombstone"}

    # the follow undone: no follower, and the next publish sends nothing
    undo = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Undo",
            "id": fedi.bob + "#undo/1", "actor": fedi.bob, "object": follow}
    assert post(world, undo, bob_key, fedi.bob + "#main-key",
                rfc9421=True).status_code == 202
    assert followers(world).get("alice", fedi.bob) is None
    assert items(world)[-1][0] == "activitypub.undo"
    publish(world, home, site_key, **{"notes/n2/index.as2": note("n2", "<p>second</p>")})
    assert world.app.server.config.app.state.ports.deliveries.waiting("alice") == 0
    assert len(fedi.received("/inbox")) == 3


def test_a_rollback_tells_followers_what_it_changed(
    ap_world: World, fedi: Fediverse, site_key: rsa.RSAPrivateKey, bob_key: rsa.RSAPrivateKey
) -> None:
    """Rolling the live site back to an earlier publish is a change followers see like any
    other: the entry the rollback removed is deleted, the one it took back to an older text is
    updated (with that text), one it leaves as it was is not sent again."""
    world = ap_world
    home = world.enrolled("alice")
    home.write_site({**SITE_V1, "activitypub/actor.as2": actor_file(site_key),
                     "notes/n1/index.as2": note("n1", "<p>first</p>")})
    first = home.publish(world.client, home.snapshot())
    assert first.status_code == 200, first.text
    seq = first.json()["seq"]
    delegate(world, home, site_key)
    follow = {"type": "Follow", "id": fedi.bob + "#follows/1", "actor": fedi.bob,
              "object": ACTOR}
    assert post(world, follow, bob_key, fedi.bob + "#main-key").status_code == 202
    publish(world, home, site_key, **{"notes/n1/index.as2": note("n1", "<p>edited</p>"),
                                      "notes/n2/index.as2": note("n2", "<p>second</p>")})
    assert len(wait_for(fedi, "/inbox", 2)) == 2  # Update n1, Create n2
    answer = home.request(world.client, "POST", "/rollback", {"seq": seq})
    assert answer.status_code == 200, answer.text
    told = [signed_by_site(hit, fedi, site_key) for hit in wait_for(fedi, "/inbox", 4)[2:]]
    by_type = {activity["type"]: activity for activity in told}
    assert set(by_type) == {"Update", "Delete"}
    assert by_type["Update"]["object"]["id"] == f"{ORIGIN}/notes/n1/"
    assert by_type["Update"]["object"]["content"] == "<p>first</p>"
    assert by_type["Delete"]["object"] == {"id": f"{ORIGIN}/notes/n2/", "type": "Tombstone"}
    deliveries = world.app.server.config.app.state.ports.deliveries
    deadline = time.monotonic() + DEADLINE  # the sender marks them done after the answer
    while deliveries.waiting("alice") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deliveries.waiting("alice") == 0
    assert len(fedi.received("/inbox")) == 4


def test_an_entry_goes_to_the_actors_it_mentions(
    ap_world: World, fedi: Fediverse, site_key: rsa.RSAPrivateKey, bob_key: rsa.RSAPrivateKey
) -> None:
    """A published entry that mentions carol, on a server that follows nobody here, reaches
    carol's server's shared inbox (her actor fetched for it); one that mentions bob, whose
    server follows the site, is not sent twice; a mention of an actor that cannot be had
    delays nothing else."""
    world = ap_world
    home = world.enrolled("alice")
    publish(world, home, site_key)
    delegate(world, home, site_key)
    follow = {"type": "Follow", "id": fedi.bob + "#follows/1", "actor": fedi.bob,
              "object": ACTOR}
    assert post(world, follow, bob_key, fedi.bob + "#main-key").status_code == 202
    with Fediverse(bob_key) as other:
        carol = other.actor_doc("carol")
        fetched: list[Hit] = []

        def carol_actor(hit: Hit) -> Answer:
            fetched.append(hit)
            return Answer(200, json.dumps(carol).encode(), [], "application/activity+json")

        other.routes["/users/carol"] = carol_actor
        obj = json.loads(note("n1", "<p>hi @carol and @bob</p>"))
        obj["tag"] = [{"type": "Mention", "href": carol["id"], "name": "@carol@other"},
                      {"type": "Mention", "href": fedi.bob, "name": "@bob@fedi"},
                      {"type": "Mention", "href": other.url + "/users/nobody", "name": "@x"}]
        obj["cc"] = [ACTOR + "/followers", carol["id"], fedi.bob]
        publish(world, home, site_key, **{"notes/n1/index.as2": json.dumps(obj)})
        (hit,) = wait_for(other, "/inbox", 1)
        created = signed_by_site(hit, other, site_key)
        assert created["type"] == "Create" and created["object"]["id"] == f"{ORIGIN}/notes/n1/"
        assert carol["id"] in created["cc"]
        (to_bob,) = wait_for(fedi, "/inbox", 1)
        assert json.loads(to_bob.body)["id"] == created["id"]
        assert len(fetched) == 1 and "signature" in {k.lower() for k in fetched[0].headers}
    assert len(fedi.received("/inbox")) == 1


def test_manual_approval_and_the_homes_requests(
    ap_world: World, fedi: Fediverse, site_key: rsa.RSAPrivateKey, bob_key: rsa.RSAPrivateKey
) -> None:
    """A pending follow waits for the owner; the home approves it (an Accept goes), sets its
    blocks, queues a like to one inbox, and removes the follower (a Reject goes)."""
    world = ap_world
    home = world.enrolled("alice")
    publish(world, home, site_key, manual=True)
    delegate(world, home, site_key)
    follow = {"type": "Follow", "id": fedi.bob + "#f", "actor": fedi.bob, "object": ACTOR}
    assert post(world, follow, bob_key, fedi.bob + "#main-key").status_code == 202
    kept = followers(world).get("alice", fedi.bob)
    assert kept is not None and kept.state == "pending"
    assert items(world)[0][1]["state"] == "pending"
    assert world.app.server.config.app.state.ports.deliveries.waiting("alice") == 0

    def ask(doc: Any) -> Any:
        return home.request(world.client, "POST", "/activitypub", doc)

    assert ask({"decide": {"actor": fedi.bob, "state": "accepted"}}).json() == {
        "decided": "accepted"}
    (hit,) = wait_for(fedi, "/users/bob/inbox", 1)
    accept = signed_by_site(hit, fedi, site_key)
    assert accept["type"] == "Accept" and accept["object"]["id"] == fedi.bob + "#f"
    assert [(f.actor, f.state) for f in followers(world).of("alice")] == [
        (fedi.bob, "accepted")]
    assert ask({"blocks": ["spam.example"]}).json() == {"blocks": 1}
    assert followers(world).blocks("alice") == {"spam.example"}

    like = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Like",
            "id": ACTOR + "#likes/1", "actor": ACTOR, "object": fedi.bob + "/statuses/1"}
    assert ask({"activity": like, "to": [fedi.url + "/inbox"]}).json() == {"queued": 1}
    (hit,) = wait_for(fedi, "/inbox", 1)
    assert signed_by_site(hit, fedi, site_key)["type"] == "Like"

    for bad in ({}, {"what": 1}, {"followers": []}, {"blocks": [3]},
                {"blocks": ["x"], "decide": {"actor": fedi.bob}},
                {"decide": {"actor": fedi.bob, "state": "maybe"}},
                {"activity": {**like, "actor": fedi.bob}, "to": "followers"},
                {"activity": like, "to": "everyone"}, {"activity": like, "to": ["file:///x"]}):
        answer = ask(bad)
        assert answer.status_code == 400, (bad, answer.text)
    assert ask({"decide": {"actor": "https://nobody.example/u", "state": "removed"}}
               ).status_code == 404
    unsigned = world.client.post("/_homeport/v1/activitypub", json={"blocks": []})
    assert unsigned.status_code == 401
    assert followers(world).count("alice") == 1  # nothing of that changed anything
    assert followers(world).blocks("alice") == {"spam.example"}

    assert ask({"decide": {"actor": fedi.bob, "state": "removed"}}).json() == {
        "decided": "removed"}
    reject = signed_by_site(wait_for(fedi, "/users/bob/inbox", 2)[1], fedi, site_key)
    assert reject["type"] == "Reject" and followers(world).get("alice", fedi.bob) is None


def test_bad_input_is_refused_and_nothing_is_stored(
    ap_world: World, fedi: Fediverse, site_key: rsa.RSAPrivateKey, bob_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = ap_world
    home = world.enrolled("alice")
    publish(world, home, site_key)
    like = {"type": "Like", "id": fedi.bob + "#likes/1", "actor": fedi.bob,
            "object": f"{ORIGIN}/notes/n1/"}
    raw = json.dumps(like).encode()
    key_id = fedi.bob + "#main-key"
    headers = {"Host": HOST, "Content-Type": "application/activity+json"}
    assert world.client.post(INBOX, content=raw, headers=headers).status_code == 401  # unsigned
    assert world.client.get(INBOX, headers=headers).status_code == 405
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert post(world, like, other, key_id).status_code == 401  # not bob's key
    signed = httpsig.sign(bob_key, key_id, "POST", ORIGIN + INBOX, raw, time.time())
    tampered = world.client.post(INBOX, content=raw.replace(b"n1", b"n2"), headers=signed)
    assert tampered.status_code == 400  # the body is not what the Digest says
    stale = httpsig.sign(bob_key, key_id, "POST", ORIGIN + INBOX, raw, time.time() - 7200)
    assert world.client.post(INBOX, content=raw, headers=stale).status_code == 401
    big = json.dumps({**like, "content": "x" * inbox.MAX_BODY}).encode()
    assert post(world, like, bob_key, key_id, body=big).status_code == 413
    assert post(world, like, bob_key, key_id, **{"Content-Type": "text/plain"}).status_code == 415
    assert post(world, like, bob_key, key_id, body=b"{nope").status_code == 400
    forged = {**like, "actor": fedi.url + "/users/carol"}  # bob signs as carol
    assert post(world, forged, bob_key, key_id).status_code == 401
    elsewhere = world.client.post(INBOX, content=raw, headers={**signed, "Host": f"zed.{BASE}"})
    assert elsewhere.status_code == 404
    assert items(world) == []  # nothing of all that was kept

    good = httpsig.sign(bob_key, key_id, "POST", ORIGIN + INBOX, raw, time.time())
    assert world.client.post(INBOX, content=raw, headers=good).status_code == 202
    replay = world.client.post(INBOX, content=raw, headers=good)
    assert replay.status_code == 401 and "replay" in replay.json()["message"]
    assert [kind for kind, _ in items(world)] == ["activitypub.like"]

    followers(world).set_blocks("alice", ["127.0.0.1"])  # the host bob is on
    assert post(world, like, bob_key, key_id).status_code == 403
    followers(world).set_blocks("alice", [fedi.bob])
    assert post(world, like, bob_key, key_id).status_code == 403
    followers(world).set_blocks("alice", [])

    state = world.app.server.config.app.state
    guarded = dataclasses.replace(state.ports, fetch_allow_private=False)
    state.ports = guarded  # this world's own app: gone after the test
    monkeypatch.setattr(inbox, "KEYS", inbox.remote.Keys())
    refused = post(world, {**like, "id": like["id"] + "x"}, bob_key, key_id)
    assert refused.status_code == 401 and "not a public address" in refused.json()["message"]
    assert len(fedi.received("/users/bob", "GET")) == 1  # the guard let nothing through
    state.activitypub_inbox_rate = 1
    state.ports = dataclasses.replace(guarded, fetch_allow_private=True)
    limited = post(world, {**like, "id": like["id"] + "y"}, bob_key, key_id)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert len(items(world)) == 1


def test_a_followers_move_by_mastodons_rules(
    ap_world: World, fedi: Fediverse, site_key: rsa.RSAPrivateKey, bob_key: rsa.RSAPrivateKey
) -> None:
    """A follower's Move (``activitypub/moves.py``): a suspended target, or one that does not
    name the mover, leaves the follower where it is; a valid one takes its place."""
    world = ap_world
    home = world.enrolled("alice")
    publish(world, home, site_key)
    delegate(world, home, site_key)
    follow = {"type": "Follow", "id": fedi.bob + "#follows/1", "actor": fedi.bob,
              "object": ACTOR}
    assert post(world, follow, bob_key, fedi.bob + "#main-key").status_code == 202
    targets = {"gone": {"alsoKnownAs": [fedi.bob], "suspended": True}, "stranger": {},
               "bob2": {"alsoKnownAs": [fedi.bob]}}
    for name, more in targets.items():
        doc = fedi.actor_doc(name, **more)
        fedi.routes[f"/users/{name}"] = lambda hit, doc=doc: Answer(
            200, json.dumps(doc).encode(), [], "application/activity+json")
    for n, name in enumerate(targets):
        move = {"type": "Move", "id": f"{fedi.bob}#moves/{n}", "actor": fedi.bob,
                "object": fedi.bob, "target": f"{fedi.url}/users/{name}"}
        assert post(world, move, bob_key, fedi.bob + "#main-key").status_code == 202
        moved = followers(world).get("alice", f"{fedi.url}/users/{name}")
        kept = followers(world).get("alice", fedi.bob)
        if name == "bob2":
            assert moved is not None and moved.state == "accepted" and kept is None
        else:
            assert moved is None and kept is not None, name
    sent = [meta for kind, meta in items(world) if kind == "activitypub.move"]
    assert [(m["moved"], m["target"]) for m in sent] == [
        (False, ""), (False, ""), (True, f"{fedi.url}/users/bob2")]


def test_a_movers_second_move_within_7_days_is_ignored(
    ap_world: World, fedi: Fediverse, site_key: rsa.RSAPrivateKey, bob_key: rsa.RSAPrivateKey
) -> None:
    """Mastodon's receiver cooldown: bob moves to bob2, follows again from the old account and
    moves to bob3 two days later: ignored (bob stays); eight days after the first move, the same
    Move is acted on. The memory is the provider's database (both engines), not a process."""
    world = ap_world
    home = world.enrolled("alice")
    publish(world, home, site_key)
    delegate(world, home, site_key)
    key_id = fedi.bob + "#main-key"
    for name in ("bob2", "bob3"):
        doc = fedi.actor_doc(name, alsoKnownAs=[fedi.bob])
        fedi.routes[f"/users/{name}"] = lambda hit, doc=doc: Answer(
            200, json.dumps(doc).encode(), [], "application/activity+json")

    def follow(n: int, later: float = 0) -> None:
        activity = {"type": "Follow", "id": f"{fedi.bob}#follows/{n}", "actor": fedi.bob,
                    "object": ACTOR}
        assert post(world, activity, bob_key, key_id, later=later).status_code == 202

    def move(n: int, target: str, later: float = 0) -> None:
        activity = {"type": "Move", "id": f"{fedi.bob}#moves/{n}", "actor": fedi.bob,
                    "object": fedi.bob, "target": f"{fedi.url}/users/{target}"}
        assert post(world, activity, bob_key, key_id, later=later).status_code == 202

    follow(1)
    move(1, "bob2")
    assert followers(world).get("alice", f"{fedi.url}/users/bob2") is not None
    assert followers(world).get("alice", fedi.bob) is None
    state = world.app.server.config.app.state
    real = state.ports.clock

    def shift(days: float) -> None:
        def clock() -> int:
            return int(real() + days * 86_400_000)
        state.ports.once.clock = clock  # it forgets what expired by this clock
        state.ports = dataclasses.replace(state.ports, clock=clock)

    shift(2)
    follow(2, later=2 * 86_400)
    move(2, "bob3", later=2 * 86_400)
    assert followers(world).get("alice", f"{fedi.url}/users/bob3") is None
    assert followers(world).get("alice", fedi.bob) is not None
    shift(8)
    move(3, "bob3", later=8 * 86_400)
    assert followers(world).get("alice", f"{fedi.url}/users/bob3") is not None
    assert followers(world).get("alice", fedi.bob) is None
    sent = [meta["moved"] for kind, meta in items(world) if kind == "activitypub.move"]
    assert sent == [True, False, True]


def test_a_server_that_answers_only_signed_fetches(
    ap_world: World, fedi: Fediverse, site_key: rsa.RSAPrivateKey, bob_key: rsa.RSAPrivateKey
) -> None:
    """Authorized fetch (Mastodon's ``AUTHORIZED_FETCH``): bob's server answers 401 to an
    unsigned GET of his actor and checks a signed one as Mastodon does, fetching the signer's
    actor from the provider. Before the home delegates the site's key, bob's Follow cannot be
    checked (401, nothing kept); once it has, the provider's fetch is signed as the site and the
    Follow is taken; the Move target is fetched signed too."""
    world = ap_world
    home = world.enrolled("alice")
    publish(world, home, site_key)
    base = str(world.client.base_url)
    fetches: list[str] = []

    def guarded(doc: dict[str, Any]) -> Any:
        def answer(hit: Hit) -> Answer:
            if "signature" not in {k.lower() for k in hit.headers}:
                fetches.append("unsigned")
                return Answer(401, b'{"error":"Request not signed"}', [], "application/json")
            parsed = httpsig.parse(hit.headers.items())
            with httpx.Client(base_url=base, timeout=10) as client:
                signer = client.get("/activitypub/actor", headers={
                    "Host": HOST, "Accept": "application/activity+json"}).json()
            assert parsed.key_id == signer["publicKey"]["id"] == ACTOR + "#main-key"
            pem = signer["publicKey"]["publicKeyPem"]
            httpsig.verify(parsed, httpsig.load_public_key(pem), "GET", fedi.url + hit.path,
                           hit.headers, b"", time.time())
            fetches.append("signed")
            return Answer(200, json.dumps(doc).encode(), [], "application/activity+json")
        return answer

    fedi.routes["/users/bob"] = guarded(fedi.actor_doc())
    fedi.routes["/users/bob2"] = guarded(fedi.actor_doc("bob2", alsoKnownAs=[fedi.bob]))
    key_id = fedi.bob + "#main-key"
    follow = {"type": "Follow", "id": fedi.bob + "#follows/1", "actor": fedi.bob,
              "object": ACTOR}
    refused = post(world, follow, bob_key, key_id)
    assert refused.status_code == 401 and "401" in refused.json()["message"]
    assert fetches == ["unsigned"] and items(world) == []
    assert followers(world).get("alice", fedi.bob) is None

    delegate(world, home, site_key)
    assert post(world, follow, bob_key, key_id, later=1).status_code == 202
    assert followers(world).get("alice", fedi.bob) is not None
    move = {"type": "Move", "id": fedi.bob + "#moves/1", "actor": fedi.bob,
            "object": fedi.bob, "target": f"{fedi.url}/users/bob2"}
    assert post(world, move, bob_key, key_id).status_code == 202
    assert followers(world).get("alice", f"{fedi.url}/users/bob2") is not None
    assert fetches == ["unsigned", "signed", "signed"]
