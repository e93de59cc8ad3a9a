"""Bad input and faults: damaged uploads, missing objects, quota, forks, forged commits, cuts."""

from __future__ import annotations

import errno
import json
import os
import socket

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core import commits
from homeport.core.objects import ObjectType
from homeport.crypto.keys import did_key
from homeport.crypto.signing import sign
from homeport.provider import sites
from homeport.repo import walk
from homeport.repo.bundle import frame
from homeport.repo.codec import encode
from tests.provider.conftest import API, BASE, PACK, SITE_V1, World


def test_a_flipped_byte_stops_the_pack_naming_the_object_and_keeps_the_earlier_ones(
    world: World,
) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    oids = list(walk.reachable(home.repo, commit.id))
    at = next(i for i, o in enumerate(oids) if i >= 3 and not home.sealed(o))
    good, bad = oids[:at], oids[at]
    damaged = bytearray(home.repo.raw(bad))
    damaged[-1] ^= 0x01
    data = home.pack(good) + frame(bad, bytes(damaged)) + home.pack(oids[at + 1 :])

    answer = home.upload(world.client, data)

    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "bad-object" and body["object"] == bad.hex()
    assert body["stored"] == at
    lacking = home.request(
        world.client, "POST", "/objects/missing", {"ids": [o.hex() for o in oids]}
    )
    assert set(lacking.json()["missing"]) == {o.hex() for o in oids[at:]}


def test_a_bad_checksum_is_refused_too(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    data = bytearray(home.pack([commit.id]))
    data[-1] ^= 0xFF

    answer = home.upload(world.client, bytes(data))

    assert answer.status_code == 400 and answer.json()["object"] == commit.id.hex()


def test_publishing_with_objects_missing_is_409_listing_them(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    oids = list(walk.reachable(home.repo, commit.id))
    held = oids[: len(oids) // 2]
    assert home.upload(world.client, home.pack(held)).status_code == 200

    answer = home.request(world.client, "POST", "/publish", home.publish_doc(commit))

    assert answer.status_code == 409
    body = answer.json()
    assert body["error"] == "missing-objects"
    assert body["missing"] and set(body["missing"]) <= {o.hex() for o in oids[len(held) :]}
    assert world.get(f"alice.{BASE}", "/").status_code == 404  # nothing went live


def test_a_cut_push_resumes_without_resending_what_arrived(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    oids = list(walk.reachable(home.repo, commit.id))
    first = oids[: len(oids) // 2]
    assert home.upload(world.client, home.pack(first)).status_code == 200
    truncated = home.pack(oids[len(first) :])[:-50]  # the connection dropped mid-pack
    assert home.upload(world.client, truncated).status_code == 400
    refused = home.request(world.client, "POST", "/publish", home.publish_doc(commit))
    assert refused.status_code == 409

    lacking = home.push(world.client, commit)
    answer = home.request(world.client, "POST", "/publish", home.publish_doc(commit))

    assert not set(lacking) & set(first)
    assert answer.status_code == 200, answer.text
    assert world.get(f"alice.{BASE}", "/").status_code == 200


def test_quota_exceeded_is_507_before_anything_is_stored(world: World) -> None:
    home = world.enrolled("alice", quota=20_000)
    home.write_site({**SITE_V1, "video.bin": os.urandom(50_000)})
    commit = home.snapshot()
    oids = list(walk.reachable(home.repo, commit.id))

    answer = home.upload(world.client, home.pack(oids))

    assert answer.status_code == 507 and answer.json()["error"] == "quota-exceeded"
    doc = home.request(world.client, "GET", "/tenant").json()
    assert doc["usage"] == 0
    ids = [o.hex() for o in oids]
    lacking = home.request(world.client, "POST", "/objects/missing", {"ids": ids})
    assert len(lacking.json()["missing"]) == len(oids)


def test_a_huge_pack_is_413(world: World) -> None:
    home = world.enrolled("alice")
    data = b"O" * (16 * 1024 * 1024 + 1)

    answer = home.upload(world.client, data)

    assert answer.status_code == 413


def test_a_pack_needs_its_content_type(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    data = home.pack([home.snapshot().id])
    headers = {**home.sign("POST", f"{API}/objects", data), "Content-Type": "text/plain"}

    answer = world.client.post(f"{API}/objects", content=data, headers=headers)

    assert answer.status_code == 415


def test_too_many_ids_are_refused(world: World) -> None:
    home = world.enrolled("alice")
    ids = ["00" * 32] * 10_001

    answer = home.request(world.client, "POST", "/objects/missing", {"ids": ids})

    assert answer.status_code == 400


def _forge(world: World, signer_key: Ed25519PrivateKey, prev: commits.Commit) -> commits.Commit:
    """A commit after ``prev`` with the same identity, signed by a key it never authorised."""
    home = world.homes[0]
    body = commits.unsigned_body(
        seq=prev.seq + 1,
        prev=prev.id,
        root=prev.root,
        created=prev.created + 1,
        identity=home.did,
        key=did_key(signer_key.public_key()),
        identity_seq=1,
        objects=0,
        size=0,
    )
    body["sig"] = sign(signer_key, commits.signing_bytes(body))
    raw = commits.body(body)
    oid, stored = encode(ObjectType.COMMIT, (prev.root, prev.id), raw, False, None)
    home.repo.put(oid, ObjectType.COMMIT, (prev.root, prev.id), stored, 0)
    return commits.parse(oid, raw, (prev.root, prev.id))


def test_a_forged_commit_is_refused_and_the_site_stays(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    first = home.snapshot()
    assert home.publish(world.client, first).status_code == 200
    forged = _forge(world, Ed25519PrivateKey.generate(), first)
    assert home.upload(world.client, home.pack([forged.id])).status_code == 200

    answer = home.request(world.client, "POST", "/publish", home.publish_doc(forged))

    assert answer.status_code == 400 and answer.json()["error"] == "bad-commit"
    assert "v1" in world.get(f"alice.{BASE}", "/").text
    assert home.request(world.client, "GET", "/tenant").json()["seq"] == 1


def test_a_fork_or_an_older_commit_is_not_a_fast_forward(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site({"index.html": "one"})
    first = home.snapshot()
    home.write_site({"index.html": "two"})
    second = home.snapshot()
    assert home.publish(world.client, second).status_code == 200

    older = home.request(world.client, "POST", "/publish", home.publish_doc(first))

    assert older.status_code == 409 and older.json()["error"] == "not-fast-forward"
    assert world.get(f"alice.{BASE}", "/").text == "two"


def test_a_site_file_not_in_the_commit_is_refused(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    home.push(world.client, commit)
    private_entry = next(
        oid.hex()
        for oid in walk.reachable(home.repo, commit.root)
        if home.repo.links(oid) == () and oid.hex() not in home.files().values()
    )
    doc = home.publish_doc(commit)
    doc["files"]["secret.html"] = private_entry
    doc["files"]["../escape.html"] = doc["files"]["index.html"]

    answer = home.request(world.client, "POST", "/publish", doc)

    assert answer.status_code == 400 and answer.json()["error"] == "bad-site"
    assert world.get(f"alice.{BASE}", "/").status_code == 404


def test_a_malformed_publish_is_400(world: World) -> None:
    home = world.enrolled("alice")

    answer = home.request(world.client, "POST", "/publish", {"commit": "zz"})

    assert answer.status_code == 400
    raw = home.sign("POST", f"{API}/publish", b"not json")
    assert world.client.post(f"{API}/publish", content=b"not json", headers=raw).status_code == 400


def test_an_upload_of_json_garbage_as_a_pack_is_400(world: World) -> None:
    home = world.enrolled("alice")
    answer = home.upload(world.client, json.dumps({"x": 1}).encode())
    assert answer.status_code == 400
    headers = {"Content-Type": PACK}
    assert world.client.post(f"{API}/objects", content=b"O", headers=headers).status_code == 401


def test_a_full_disk_during_publish_is_507_and_changes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = world.enrolled("alice")
    home.write_site({"index.html": "one"})
    assert home.publish(world.client, home.snapshot()).status_code == 200
    home.write_site({"index.html": "two", "more.html": "more"})
    second = home.snapshot()

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(sites, "_write_file", full)
        answer = home.publish(world.client, second)

    assert answer.status_code == 507 and answer.json()["error"] == "provider-full"
    assert world.get(f"alice.{BASE}", "/").text == "one"
    assert home.request(world.client, "GET", "/tenant").json()["seq"] == 1
    leftovers = [p.name for p in (world.settings.data_dir / "tenants/alice/sites").iterdir()]
    assert len(leftovers) == 2  # the live tree and its manifest, nothing half-written
    again = home.request(world.client, "POST", "/publish", home.publish_doc(second))
    assert again.status_code == 200
    assert world.get(f"alice.{BASE}", "/").text == "two"


def test_a_damaged_copy_is_replaced_only_when_asked(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    assert home.publish(world.client, commit).status_code == 200
    chunk = max(
        (o for o in walk.reachable(home.repo, commit.root) if not home.sealed(o)),
        key=lambda o: len(home.repo.raw(o)),
    )
    damaged = bytearray(home.repo.raw(chunk))
    damaged[-1] ^= 0xFF
    with world.tenant_dir("alice").opened() as repo:
        repo.replace(chunk, bytes(damaged))
    pack = home.pack([chunk])

    plain = home.upload(world.client, pack)
    still = home.request(world.client, "POST", "/objects/fetch", {"ids": [chunk.hex()]})
    headers = {**home.sign("POST", f"{API}/objects?replace=1", pack), "Content-Type": PACK}
    fixed = world.client.post(f"{API}/objects?replace=1", content=pack, headers=headers)
    after = home.request(world.client, "POST", "/objects/fetch", {"ids": [chunk.hex()]})

    assert plain.status_code == 200 and plain.json()["stored"] == 0
    assert still.content != pack
    assert fixed.status_code == 200 and fixed.json()["stored"] == 1
    assert after.content == pack


def _raw_post(world: World, host: str, path: str, kind: str, declared: int) -> bytes:
    """A request that declares a ``declared``-byte body and sends 8 bytes of it: the answer
    (first bytes) as soon as the server gives one, or b"" when it waits for the rest."""
    url = world.client.base_url
    with socket.create_connection((url.host, url.port or 80), timeout=5) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {declared}\r\n\r\ncode=abc".encode()
        )
        try:
            return conn.recv(200)
        except TimeoutError:
            return b""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/_homeport/indieauth/token", "application/x-www-form-urlencoded"),
        ("/_homeport/indieauth/auth/approve", "application/json"),
    ],
)
def test_a_body_declared_too_big_is_refused_before_it_is_read(
    world: World, path: str, kind: str
) -> None:
    """Every endpoint reads bodies through ``web.bodies``: the IndieAuth endpoints read whole
    bodies of any size into memory before checking them (a client could make a provider
    process hold gigabytes), and here waited for the rest of a 1 GB body."""
    world.enrolled("alice")
    answer = _raw_post(world, f"alice.{BASE}", path, kind, 10**9)
    assert answer.startswith(b"HTTP/1.1 413"), answer


def test_a_body_nested_too_deep_or_with_an_inexact_integer_is_a_clear_400(world: World) -> None:
    """The protocol parses bodies as every client body is parsed (``jsonio.loads_untrusted``);
    it took both before, leaving each handler to stumble on them."""
    home = world.enrolled("alice")
    deep: dict[str, object] = {}
    for _ in range(100):
        deep = {"a": deep}

    nested = home.request(world.client, "POST", "/rollback", {"seq": deep})
    huge = home.request(world.client, "POST", "/rollback", {"seq": 2**70})

    assert nested.status_code == 400 and "nested deeper" in nested.json()["message"]
    assert huge.status_code == 400 and "outside 64 bits" in huge.json()["message"]
    assert home.request(world.client, "POST", "/rollback", {"seq": 7}).status_code == 404
