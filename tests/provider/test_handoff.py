"""Handoffs at the provider (``POST /handoff``, ``core/handoff.py``), on SQLite and PostgreSQL:
a root-signed record moves the primary role to another device key; from then on only that key
writes (publish, identity, delegations, inbox) and the old one is told where the home lives;
of two devices racing for the same epoch exactly one wins; bad records change nothing."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core.identity import next_operation, signing_bytes
from homeport.crypto.keys import did_key, keys_from_phrase
from homeport.crypto.signing import sign
from homeport.interop.relay import AppliedLog, ProviderRelay, Session
from homeport.services import handoff
from homeport.services.context import Context
from homeport.services.handoff import signed
from homeport.settings import load_settings
from homeport.store.memory import MemoryRecordStore
from homeport.sync.auth import authorization
from homeport.sync.client import Credentials

from .conftest import API, Home, World


class Device:
    """Another device of ``home``'s identity: a key of its own, authorised by the root."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.root = keys_from_phrase(home.phrase).root
        self.key = Ed25519PrivateKey.generate()
        self.did = did_key(self.key.public_key())
        op = next_operation(home.operations, self.did, 1_795_400_000_000)
        self.operations = [*home.operations, {**op, "sig": sign(self.root, signing_bytes(op))}]

    def handoff(self, epoch: int, where: str = "a laptop") -> dict[str, Any]:
        return signed(self.root, epoch, self.did, where)

    def request(
        self, client: httpx.Client, method: str, path: str, doc: Any = None, key: Any = None
    ) -> httpx.Response:
        body = b"" if doc is None else json.dumps(doc).encode()
        auth = authorization(
            key or self.key,
            self.home.did,
            method,
            API + path,
            body,
            audience=str(client.base_url),
        )
        return client.request(method, API + path, content=body, headers={"Authorization": auth})

    def take(self, client: httpx.Client, epoch: int, **kw: Any) -> httpx.Response:
        """A handoff is the root's act: the request is signed by the root key too."""
        doc = {"handoff": self.handoff(epoch, **kw), "operations": self.operations}
        return self.request(client, "POST", "/handoff", doc, key=self.root)


def test_a_handoff_moves_the_writer_and_the_old_key_learns_where(world: World, alice: Home) -> None:
    laptop = Device(alice)
    taken = laptop.take(world.client, 1, where="Alice's laptop")
    assert taken.status_code == 200, taken.text
    assert taken.json() == {"epoch": 1, "primary": laptop.did}
    # the same record again (a retry after a cut) is done, not a conflict
    doc = {"handoff": json.loads(taken.request.content)["handoff"], "operations": laptop.operations}
    assert laptop.request(world.client, "POST", "/handoff", doc).status_code == 200

    held = laptop.request(world.client, "GET", "/tenant").json()["handoff"]
    assert (held["epoch"], held["primary"]) == (1, laptop.did)

    # the hosted copy's key was rotated out: every write, and even a read, says where to go
    alice.write_site({"index.html": "<p>written on the standby</p>"})
    refused = alice.request(world.client, "POST", "/publish", alice.publish_doc(alice.snapshot()))
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "not-primary" and "Alice's laptop" in body["message"]
    assert body["handoff"] == held and body["epoch"] == 1
    assert alice.request(world.client, "GET", "/tenant").status_code == 409
    revoked = {"issued": 1, "delegations": [], "revoked": []}
    assert alice.request(world.client, "POST", "/delegations", revoked).status_code == 409
    assert alice.request(world.client, "POST", "/inbox", {"wait": 0}).status_code == 409
    assert world.get(f"alice.{world.settings.base_domain}", "/").text.count("v1") >= 1

    # the root itself writes nothing here while another key is the primary: a phrase typed on
    # a standby moves the home (POST /handoff) or nothing
    for method, path, doc in (
        ("POST", "/delegations", revoked),
        ("PUT", "/activitypub/followers", {"followers": []}),
        ("POST", "/newsletter", {}),
        ("POST", "/activitypub", {"blocks": []}),
        ("POST", "/mirror", {"mirror": True}),
    ):
        answer = laptop.request(world.client, method, path, doc, key=laptop.root)
        assert answer.status_code == 409, (path, answer.text)

    # the new primary writes
    grants = laptop.request(world.client, "POST", "/delegations", revoked)
    assert grants.status_code == 200, grants.text

    # a stranger's key (never in the log) is still plainly unauthorised
    stranger = Ed25519PrivateKey.generate()
    assert laptop.request(world.client, "GET", "/tenant", key=stranger).status_code == 401


def test_two_devices_racing_for_the_primary_role_exactly_one_wins(
    world: World, alice: Home
) -> None:
    devices = [Device(alice), Device(alice)]
    answers: list[httpx.Response | None] = [None, None]
    start = threading.Barrier(2, timeout=10)

    def race(n: int) -> None:
        with httpx.Client(base_url=str(world.client.base_url), timeout=30) as client:
            start.wait()
            answers[n] = devices[n].take(client, 1, where=f"device {n}")

    threads = [threading.Thread(target=race, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(a.status_code for a in answers if a is not None)
    assert codes == [200, 409], [a.text for a in answers if a is not None]
    winner = next(n for n in (0, 1) if answers[n] and answers[n].status_code == 200)
    loser = 1 - winner
    told = answers[loser]
    assert told is not None and told.json()["error"] == "stale-handoff"
    assert told.json()["primary"] == devices[winner].did
    assert f"device {winner}" in told.json()["message"]
    # the identity log is the winner's: its key signs, the loser's is not even authorised
    tenant = devices[winner].request(world.client, "GET", "/tenant")
    assert tenant.status_code == 200 and tenant.json()["handoff"]["primary"] == devices[winner].did
    assert devices[loser].request(world.client, "GET", "/tenant").status_code == 401


def test_bad_handoffs_change_nothing(world: World, alice: Home) -> None:
    laptop = Device(alice)

    def attempt(handoff: Any, operations: Any = None) -> httpx.Response:
        doc = {"handoff": handoff, "operations": operations or laptop.operations}
        return laptop.request(world.client, "POST", "/handoff", doc, key=laptop.root)

    good = laptop.handoff(1)
    device_signed = {**good, "sig": sign(laptop.key, signing_bytes(good))}
    assert attempt(device_signed).json()["error"] == "bad-handoff"  # not the root's signature
    assert attempt({**good, "epoch": 2}).json()["error"] == "bad-handoff"  # altered after signing
    assert attempt({**good, "extra": 1}).json()["error"] == "bad-handoff"
    assert attempt("handoff").json()["error"] == "bad-handoff"
    other = Device(alice)  # a record naming a key the log it came with does not put in force
    assert attempt(other.handoff(1)).json()["error"] == "bad-handoff"
    assert attempt(good, [{"seq": 9}]).json()["error"] == "bad-identity"
    # nothing changed: the hosted key still publishes, and no handoff is held
    tenant = alice.request(world.client, "GET", "/tenant")
    assert tenant.status_code == 200 and tenant.json()["handoff"] is None

    assert attempt(laptop.handoff(2)).status_code == 200
    # an epoch not above the one held loses, even from the root
    again = laptop.take(world.client, 2, where="elsewhere")
    assert again.status_code == 409 and again.json()["error"] == "stale-handoff"
    older = laptop.take(world.client, 1)
    assert older.status_code == 409
    assert laptop.request(world.client, "GET", "/tenant").json()["handoff"]["epoch"] == 2


def test_a_standby_learns_it_from_its_relay_and_refuses_writes(
    world: World, alice: Home, tmp_path: Path
) -> None:
    laptop = Device(alice)
    assert laptop.take(world.client, 1, where="Alice's laptop").status_code == 200
    ctx = Context(settings=load_settings(alice.data), store=MemoryRecordStore(), blobs=alice.blobs)
    handoff.require_primary(ctx)  # it does not know yet: nothing said so

    async def poll_once() -> float:
        async with httpx.AsyncClient() as http:
            relay = ProviderRelay(
                str(world.client.base_url),
                Credentials(alice.did, alice.key),
                {},
                AppliedLog(tmp_path),
                ctx,
                http,
                Session(wait=0, rng=lambda: 0.0),
            )
            return await relay.step()

    assert asyncio.run(poll_once()) > 0  # refused, and retried later
    held = handoff.standby_of(alice.data)
    assert held is not None and held.epoch == 1 and held.primary == laptop.did
    with pytest.raises(handoff.Standby, match="Alice's laptop") as refused:
        handoff.require_primary(ctx)
    assert refused.value.code == 409
